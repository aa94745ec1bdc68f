//! The worker's integration tests: jobs run against tgsim and a fresh database per test.
//!
//! One test binary for the crate (each file under `tests/` would be linked as a binary of its
//! own, with every dependency): the modules below are its parts.

mod common;
mod jobs;
mod worker;
