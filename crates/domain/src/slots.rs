//! Free appointment slots: a doctor's weekly hours (local time in the clinic's zone), cut into
//! slots of the doctor's length, minus time off, minus non-cancelled bookings, minus the past.
//!
//! The computation is a pure function ([`free_slots`]) over a [`Calendar`] loaded in one round
//! of queries ([`load_calendar`]); the booking function uses the same code to decide whether a
//! requested start is a real slot.

use jiff::civil::{Date, DateTime};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp};
use sqlx::PgConnection;
use uuid::Uuid;

use super::catalog::WeeklyHours;
use jiff_sqlx::ToSqlx as _;

/// One slot: `[starts_at, ends_at)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// Start.
    pub starts_at: Timestamp,
    /// End (exclusive).
    pub ends_at: Timestamp,
}

/// What decides a doctor's free slots over some range.
#[derive(Debug, Clone, Default)]
pub struct Calendar {
    /// Length of one appointment, in minutes.
    pub slot_minutes: i32,
    /// Working hours per ISO weekday, local time.
    pub week: Vec<WeeklyHours>,
    /// Absences, `[start, end)`.
    pub time_off: Vec<(Timestamp, Timestamp)>,
    /// Non-cancelled bookings, `[start, end)`.
    pub booked: Vec<(Timestamp, Timestamp)>,
}

fn overlaps(a: (Timestamp, Timestamp), b: (Timestamp, Timestamp)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

/// The instant of a local date-time, or `None` when the clocks skip it (spring forward). In
/// the repeated hour of autumn, the earlier instant is taken: one slot, not two.
fn instant(tz: &TimeZone, dt: DateTime) -> Option<Timestamp> {
    let ambiguous = tz.to_ambiguous_timestamp(dt);
    match ambiguous.offset() {
        AmbiguousOffset::Gap { .. } => None,
        AmbiguousOffset::Unambiguous { .. } | AmbiguousOffset::Fold { .. } => {
            ambiguous.earlier().ok()
        }
    }
}

/// Every slot of the schedule starting in `[from, to)` and after `now`, that overlaps neither
/// time off nor (when `include_booked` is false) a booking. Ordered by start.
pub fn schedule_slots(
    calendar: &Calendar,
    tz: &TimeZone,
    from: Timestamp,
    to: Timestamp,
    now: Timestamp,
    include_booked: bool,
) -> Vec<Slot> {
    let step = i64::from(calendar.slot_minutes.max(1));
    let length = SignedDuration::from_mins(step);
    let mut slots = Vec::new();
    // A local day can start before `from` in UTC terms: begin one day early.
    let first: Date = from
        .to_zoned(tz.clone())
        .date()
        .yesterday()
        .unwrap_or(Date::MIN);
    let last: Date = to.to_zoned(tz.clone()).date();
    let mut day = first;
    while day <= last {
        let weekday = i16::from(day.weekday().to_monday_one_offset());
        for hours in calendar.week.iter().filter(|h| h.weekday == weekday) {
            let mut start = day.to_datetime(hours.starts_at);
            let close = day.to_datetime(hours.ends_at);
            while let Ok(end_local) = start.checked_add(SignedDuration::from_mins(step)) {
                if end_local > close {
                    break;
                }
                if let Some(starts_at) = instant(tz, start) {
                    let ends_at = starts_at.checked_add(length).unwrap_or(Timestamp::MAX);
                    let slot = (starts_at, ends_at);
                    let free = starts_at >= from
                        && starts_at < to
                        && starts_at > now
                        && !calendar.time_off.iter().any(|off| overlaps(slot, *off))
                        && (include_booked || !calendar.booked.iter().any(|b| overlaps(slot, *b)));
                    if free {
                        slots.push(Slot { starts_at, ends_at });
                    }
                }
                start = end_local;
            }
        }
        match day.tomorrow() {
            Ok(next) => day = next,
            Err(_) => break,
        }
    }
    slots.sort_by_key(|s| s.starts_at);
    slots.dedup();
    slots
}

/// The free slots starting in `[from, to)`: [`schedule_slots`] without booked ones.
pub fn free_slots(
    calendar: &Calendar,
    tz: &TimeZone,
    from: Timestamp,
    to: Timestamp,
    now: Timestamp,
) -> Vec<Slot> {
    schedule_slots(calendar, tz, from, to, now, false)
}

/// Loads what decides an active doctor's slots between `from` and `to`; `None` when there is
/// no active doctor with this id.
pub async fn load_calendar(
    conn: &mut PgConnection,
    doctor_id: Uuid,
    from: Timestamp,
    to: Timestamp,
) -> Result<Option<Calendar>, sqlx::Error> {
    let slot_minutes: Option<i32> =
        sqlx::query_scalar("SELECT slot_minutes FROM doctors WHERE id = $1 AND active")
            .bind(doctor_id)
            .fetch_optional(&mut *conn)
            .await?;
    let Some(slot_minutes) = slot_minutes else {
        return Ok(None);
    };
    let week = super::catalog::weekly_schedule(&mut *conn, doctor_id).await?;
    // Widen by a day each side: slots near the edges may overlap entries just outside.
    let lo = from
        .checked_sub(SignedDuration::from_hours(24))
        .unwrap_or(from);
    let hi = to.checked_add(SignedDuration::from_hours(24)).unwrap_or(to);
    let (lo, hi) = (lo.to_sqlx(), hi.to_sqlx());
    let time_off: Vec<(jiff_sqlx::Timestamp, jiff_sqlx::Timestamp)> = sqlx::query_as(
        "SELECT lower(period), upper(period) FROM doctor_time_off
         WHERE doctor_id = $1 AND period && tstzrange($2, $3)",
    )
    .bind(doctor_id)
    .bind(lo)
    .bind(hi)
    .fetch_all(&mut *conn)
    .await?;
    let booked: Vec<(jiff_sqlx::Timestamp, jiff_sqlx::Timestamp)> = sqlx::query_as(
        "SELECT starts_at, ends_at FROM bookings
         WHERE doctor_id = $1 AND status <> 'cancelled' AND starts_at < $3 AND ends_at > $2",
    )
    .bind(doctor_id)
    .bind(lo)
    .bind(hi)
    .fetch_all(&mut *conn)
    .await?;
    let pairs = |rows: Vec<(jiff_sqlx::Timestamp, jiff_sqlx::Timestamp)>| {
        rows.into_iter()
            .map(|(a, b)| (a.to_jiff(), b.to_jiff()))
            .collect()
    };
    Ok(Some(Calendar {
        slot_minutes,
        week,
        time_off: pairs(time_off),
        booked: pairs(booked),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::time;

    fn berlin() -> TimeZone {
        TimeZone::get("Europe/Berlin").unwrap()
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn weekdays_nine_to_eleven() -> Calendar {
        Calendar {
            slot_minutes: 30,
            week: (1..=7)
                .map(|weekday| WeeklyHours {
                    weekday,
                    starts_at: time(9, 0, 0, 0),
                    ends_at: time(11, 0, 0, 0),
                })
                .collect(),
            ..Calendar::default()
        }
    }

    #[test]
    fn local_nine_oclock_moves_in_utc_across_the_spring_change() {
        // Europe/Berlin switches from +01:00 to +02:00 on 2030-03-31 at 02:00.
        let slots = free_slots(
            &weekdays_nine_to_eleven(),
            &berlin(),
            ts("2030-03-30T00:00:00Z"),
            ts("2030-04-01T00:00:00Z"),
            ts("2030-01-01T00:00:00Z"),
        );
        let starts: Vec<_> = slots.iter().map(|s| s.starts_at.to_string()).collect();
        assert_eq!(
            starts,
            [
                "2030-03-30T08:00:00Z",
                "2030-03-30T08:30:00Z",
                "2030-03-30T09:00:00Z",
                "2030-03-30T09:30:00Z",
                "2030-03-31T07:00:00Z",
                "2030-03-31T07:30:00Z",
                "2030-03-31T08:00:00Z",
                "2030-03-31T08:30:00Z",
            ]
        );
    }

    #[test]
    fn skipped_and_repeated_local_hours_give_no_phantom_or_double_slots() {
        let night = Calendar {
            slot_minutes: 60,
            week: (1..=7)
                .map(|weekday| WeeklyHours {
                    weekday,
                    starts_at: time(1, 0, 0, 0),
                    ends_at: time(4, 0, 0, 0),
                })
                .collect(),
            ..Calendar::default()
        };
        let now = ts("2030-01-01T00:00:00Z");
        // Spring: 02:00–03:00 does not exist on 2030-03-31.
        let spring = free_slots(
            &night,
            &berlin(),
            ts("2030-03-30T22:00:00Z"),
            ts("2030-03-31T06:00:00Z"),
            now,
        );
        let spring: Vec<_> = spring.iter().map(|s| s.starts_at.to_string()).collect();
        assert_eq!(spring, ["2030-03-31T00:00:00Z", "2030-03-31T01:00:00Z"]);
        // Autumn: 02:00–03:00 happens twice on 2030-10-27; one slot at the first 02:00.
        let autumn = free_slots(
            &night,
            &berlin(),
            ts("2030-10-26T22:00:00Z"),
            ts("2030-10-27T06:00:00Z"),
            now,
        );
        let autumn: Vec<_> = autumn.iter().map(|s| s.starts_at.to_string()).collect();
        assert_eq!(
            autumn,
            [
                "2030-10-26T23:00:00Z",
                "2030-10-27T00:00:00Z",
                "2030-10-27T02:00:00Z"
            ]
        );
    }

    #[test]
    fn bookings_time_off_and_the_past_remove_slots() {
        let mut calendar = weekdays_nine_to_eleven();
        calendar
            .booked
            .push((ts("2030-01-07T08:30:00Z"), ts("2030-01-07T09:00:00Z")));
        calendar
            .time_off
            .push((ts("2030-01-07T09:15:00Z"), ts("2030-01-07T12:00:00Z")));
        let slots = free_slots(
            &calendar,
            &berlin(),
            ts("2030-01-07T00:00:00Z"),
            ts("2030-01-08T00:00:00Z"),
            ts("2030-01-07T08:10:00Z"),
        );
        let starts: Vec<_> = slots.iter().map(|s| s.starts_at.to_string()).collect();
        // 08:00Z is past, 08:30Z booked, 09:00Z and 09:30Z overlap the time off.
        assert!(starts.is_empty(), "{starts:?}");
    }
}
