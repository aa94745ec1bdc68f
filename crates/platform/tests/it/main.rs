//! The platform's integration tests: the HTTP stack, shutdown and the database pool.
//!
//! One test binary for the crate (each file under `tests/` would be linked as a binary of its
//! own, with every dependency): the modules below are its parts.

// Test code panics on a broken expectation: that is the failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod db;
mod http;
mod shutdown;
