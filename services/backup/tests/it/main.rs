//! The backup service's integration tests, against the test PostgreSQL server with the
//! PostgreSQL client programs on `PATH` (as new as the server): a backup and its restore give
//! back the same rows; a damaged file or a non-empty database is refused and nothing changes;
//! the service reports a stale backup and a database that fails every time.

// Test code panics on a broken expectation: that is the failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod backup;
