//! The clinic's domain: the rules and the SQL that keeps them, next to the types it returns.
//! Services translate HTTP requests or chat messages into calls of these functions; nothing
//! here knows about HTTP, Telegram, the command line or the environment (its `Cargo.toml`
//! names no such crate), and no other crate of the workspace holds SQL of the clinic's tables.

pub mod audit;
pub mod bookings;
pub mod catalog;
pub mod clock;
pub mod correlation;
pub mod idempotency;
pub mod jobs;
pub mod password;
pub mod retention;
pub mod sessions;
pub mod slots;
pub mod telegram_links;
pub mod users;

/// Lists count their items up to this many: a list that long reports this number as its
/// total (counting a million rows exactly, on every page, costs more than the number is
/// worth; a reader pages by date long before).
pub const COUNT_LIMIT: i64 = 10_000;

/// A statement with its arguments, before it runs: what the `bind` helpers of statements that
/// ride in another one's `WITH` ([`audit`]'s event, [`jobs`]' batch) take and return.
pub(crate) type PgQuery<'q> =
    sqlx::query::Query<'q, sqlx::Postgres, <sqlx::Postgres as sqlx::Database>::Arguments>;

/// The migrations in `migrations/`: the schema these functions' SQL is written against,
/// compiled into every binary that needs it.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");
