//! Instants and the clinic's time zone.
//!
//! One time library, end to end: instants are `jiff::Timestamp`, weekly hours
//! `jiff::civil::Time`, the clinic's zone a `jiff::tz::TimeZone` (IANA rules). PostgreSQL
//! columns are read and written through `jiff-sqlx`'s wrappers (`ts.to_sqlx()` to bind,
//! `#[sqlx(try_from = "jiff_sqlx::Timestamp")]` or `.to_jiff()` to read).
//!
//! Every instant shown to people or clients is rendered in the clinic's zone: RFC 3339 with the
//! clinic's UTC offset at that instant ([`rfc3339_in`]) for the API and `manage`, words for
//! chats ([`human`]).

use jiff::Timestamp;
use jiff::tz::TimeZone;

/// RFC 3339 with the clinic's offset at that instant, e.g. `2030-03-31T09:00:00+02:00`.
pub fn rfc3339_in(ts: Timestamp, tz: &TimeZone) -> String {
    ts.to_zoned(tz.clone())
        .strftime("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

/// An instant for people, in the clinic's zone: `Thursday 26 November 2026 at 14:00
/// (Europe/Berlin)`. The bot's answers and the worker's messages use it alike.
pub fn human(ts: Timestamp, tz: &TimeZone) -> String {
    let local = ts.to_zoned(tz.clone());
    let zone = tz.iana_name().unwrap_or("UTC");
    format!("{} ({zone})", local.strftime("%A %-d %B %Y at %H:%M"))
}

/// Parses an RFC 3339 instant with an offset or `Z` (`2030-01-07T09:00:00+01:00`).
pub fn parse_rfc3339(raw: &str) -> Result<Timestamp, String> {
    raw.parse::<Timestamp>().map_err(|_| {
        "an RFC 3339 date-time with an offset, e.g. 2030-01-07T09:00:00+01:00".to_owned()
    })
}
