//! The clinic's domain: the rules and the SQL that keeps them, next to the types it returns.
//! Services translate HTTP requests or chat messages into calls of these functions; nothing
//! here knows about axum or teloxide.

pub mod catalog;
pub mod jobs;
pub mod users;
