//! The api's integration tests: the real app on port 0, a fresh database per test.
//!
//! One test binary for the crate (each file under `tests/` would be linked as a binary of its
//! own, with every dependency): the modules below are its parts.

// Test code panics on a broken expectation: that is the failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin_jobs;
mod audit;
mod auth;
mod bookings;
mod catalog;
mod http;
mod http_behaviour;
mod kept_lists;
mod kept_searches;
mod live_sessions;
mod plans;
mod slots_cache;
