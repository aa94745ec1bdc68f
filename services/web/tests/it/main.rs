//! The web app's integration tests: the real app on port 0, a fresh database per test, pages
//! read as HTML.
//!
//! One test binary for the crate (each file under `tests/` would be linked as a binary of its
//! own, with every dependency): the modules below are its parts.

// Test code panics on a broken expectation: that is the failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod booking;
mod common;
mod pages;
mod service;
mod telegram;
