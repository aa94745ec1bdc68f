//! The bot's integration tests: the real bot against tgsim, PostgreSQL and Redis.
//!
//! One test binary for the crate (each file under `tests/` would be linked as a binary of its
//! own, with every dependency): the modules below are its parts.

mod bot;
mod common;
mod dialogue;
mod stream;
