//! The domain's integration tests, each on a fresh database: the schema's constraints,
//! booking under contention, and a doctor's calendar as read back.
//!
//! One test binary for the crate (each file under `tests/` would be linked as a binary of its
//! own, with every dependency): the modules below are its parts.

// Test code panics on a broken expectation: that is the failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod booking;
mod calendar;
mod schema;
