//! The bot's integration tests: the real bot against tgsim, PostgreSQL and Redis.
//!
//! One test binary for the crate (each file under `tests/` would be linked as a binary of its
//! own, with every dependency): the modules below are its parts.

// Test code panics on a broken expectation: that is the failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bot;
mod common;
mod dialogue;
mod stream;
