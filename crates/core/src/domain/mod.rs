//! The clinic's domain: the rules and the SQL that keeps them, next to the types it returns.
//! Services translate HTTP requests or chat messages into calls of these functions; nothing
//! here knows about axum or teloxide.

pub mod audit;
pub mod bookings;
pub mod catalog;
pub mod clock;
pub mod idempotency;
pub mod jobs;
pub mod sessions;
pub mod slots;
pub mod telegram_links;
pub mod users;
