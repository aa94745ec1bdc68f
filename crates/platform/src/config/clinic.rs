//! The clinic's rules as the environment gives them: the domain defines [`BookingRules`] and
//! [`Email`]; reading them from variables is configuration's job, so the domain crate never
//! touches the environment.

use std::num::NonZeroU32;

use jiff::SignedDuration;
use jiff::tz::TimeZone;
use medsync_domain::bookings::BookingRules;
use medsync_domain::users::Email;

use super::{ConfigError, Env, FromEnv, Source};

/// The clinic's IANA time zone (`CLINIC_TIMEZONE`, e.g. `Europe/Berlin`).
#[derive(Debug, Clone)]
pub struct ClinicTimeZone(pub TimeZone);

impl FromEnv for ClinicTimeZone {
    const EXPECTED: &'static str = "an IANA time zone name such as Europe/Berlin or UTC";
    fn parse_env(raw: &str) -> Result<Self, String> {
        TimeZone::get(raw)
            .map(Self)
            .map_err(|_| "unknown time zone".to_owned())
    }
}

/// A list of durations such as `24h,2h` or `90m` (`REMINDER_OFFSETS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Durations(pub Vec<SignedDuration>);

impl FromEnv for Durations {
    const EXPECTED: &'static str = "comma-separated durations such as 24h,2h or 90m (may be empty)";
    fn parse_env(raw: &str) -> Result<Self, String> {
        raw.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| match s.parse::<SignedDuration>() {
                Ok(d) if d.is_positive() => Ok(d),
                _ => Err(format!("{s:?} is not a positive duration")),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }
}

impl FromEnv for Email {
    const EXPECTED: &'static str = "an email address such as admin@clinic.example";
    fn parse_env(raw: &str) -> Result<Self, String> {
        Self::parse(raw).map_err(str::to_owned)
    }
}

/// The variables [`booking_rules`] reads.
pub const BOOKING_RULES_VARIABLES: &[&str] = &[
    "CLINIC_TIMEZONE",
    "REMINDER_OFFSETS",
    "CANCELLATION_NOTICE_HOURS",
    "BOOKING_HORIZON_DAYS",
    "MAX_FUTURE_BOOKINGS_PER_PATIENT",
];

/// `CLINIC_TIMEZONE` (default UTC), `REMINDER_OFFSETS` (default `24h,2h`),
/// `CANCELLATION_NOTICE_HOURS` (default 24), `BOOKING_HORIZON_DAYS` (default 90, at least 1),
/// `MAX_FUTURE_BOOKINGS_PER_PATIENT` (default 5, at least 1).
pub fn booking_rules<S: Source>(env: &Env<S>) -> Result<BookingRules, ConfigError> {
    let timezone = env
        .optional::<ClinicTimeZone>("CLINIC_TIMEZONE")?
        .map_or(TimeZone::UTC, |tz| tz.0);
    let reminders = env.or(
        "REMINDER_OFFSETS",
        Durations(vec![
            SignedDuration::from_hours(24),
            SignedDuration::from_hours(2),
        ]),
    )?;
    let notice: u32 = env.or("CANCELLATION_NOTICE_HOURS", 24)?;
    let horizon = env.or("BOOKING_HORIZON_DAYS", NonZeroU32::MIN.saturating_add(89))?;
    let cap = env.or(
        "MAX_FUTURE_BOOKINGS_PER_PATIENT",
        NonZeroU32::MIN.saturating_add(4),
    )?;
    Ok(BookingRules {
        timezone,
        reminder_offsets: reminders.0,
        cancellation_notice: SignedDuration::from_hours(i64::from(notice)),
        horizon_days: horizon.get(),
        max_future_bookings: cap.get(),
    })
}
