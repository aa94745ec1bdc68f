//! The platform's integration tests: the HTTP stack, shutdown, and .env.template.
//!
//! One test binary for the crate (each file under `tests/` would be linked as a binary of its
//! own, with every dependency): the modules below are its parts.

mod env_template;
mod http;
mod shutdown;
