//! The domain's integration tests: the schema's constraints on a fresh database.
//!
//! One test binary for the crate (each file under `tests/` would be linked as a binary of its
//! own, with every dependency): the modules below are its parts.

mod schema;
