//! Instants and the clinic's time zone.
//!
//! Scheduling arithmetic (weekly hours in local time, daylight-saving changes) is done with
//! `jiff`, whose `TimeZone` follows the IANA database; PostgreSQL columns are read and written
//! as `time::OffsetDateTime` (sqlx's type). The two meet only through these helpers.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use time::OffsetDateTime;

/// An instant as sqlx stores it.
pub fn to_db(ts: Timestamp) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(ts.as_nanosecond())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// An instant read from the database.
pub fn from_db(odt: OffsetDateTime) -> Timestamp {
    Timestamp::from_nanosecond(odt.unix_timestamp_nanos()).unwrap_or(Timestamp::UNIX_EPOCH)
}

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
