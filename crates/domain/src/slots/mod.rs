//! Free appointment slots: a doctor's weekly hours (local time in the clinic's zone), cut into
//! slots of the doctor's length, minus time off, minus non-cancelled bookings, minus the past.
//!
//! The computation is a pure function ([`free_slots`]) over a [`Calendar`] loaded in one round
//! of queries ([`load_calendar`]); the booking function uses the same code to decide whether a
//! requested start is a real slot.

use jiff::civil::{Date, DateTime};
use jiff::tz::{AmbiguousOffset, Offset, TimeZone};
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

/// Busy time (time off, and bookings unless they are to be kept) as sorted, disjoint spans:
/// entries that overlap or touch are merged, so the spans' ends increase as their starts do,
/// and one binary search answers whether a slot meets any entry. A slot `[s, e)` meets an
/// entry `[a, b)` when `s < b && a < e`; it meets a merged span exactly when it meets one of
/// the span's entries, since their union covers the span without holes.
struct Busy(Vec<(Timestamp, Timestamp)>);

impl Busy {
    fn new<'a>(entries: impl Iterator<Item = &'a (Timestamp, Timestamp)>) -> Self {
        let mut sorted: Vec<(Timestamp, Timestamp)> = entries.copied().collect();
        sorted.sort_unstable();
        let mut spans: Vec<(Timestamp, Timestamp)> = Vec::with_capacity(sorted.len());
        for (start, end) in sorted {
            match spans.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => spans.push((start, end)),
            }
        }
        Self(spans)
    }

    /// Whether `[start, end)` meets any entry.
    fn meets(&self, start: Timestamp, end: Timestamp) -> bool {
        let first_ending_after = self.0.partition_point(|span| span.1 <= start);
        self.0
            .get(first_ending_after)
            .is_some_and(|span| span.0 < end)
    }
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

/// The one offset of every local time in `[open, close]`, when there is one: both ends exist
/// once, at the same offset, and the zone changes its offset nowhere between them. Then no
/// local time in between is skipped or repeated either (that needs a transition in between),
/// and each slot's instant is its local time minus this offset.
fn fixed_offset(tz: &TimeZone, open: DateTime, close: DateTime) -> Option<Offset> {
    let unambiguous = |dt: DateTime| match tz.to_ambiguous_timestamp(dt).offset() {
        AmbiguousOffset::Unambiguous { offset } => Some(offset),
        AmbiguousOffset::Gap { .. } | AmbiguousOffset::Fold { .. } => None,
    };
    let offset = unambiguous(open)?;
    if unambiguous(close)? != offset {
        return None;
    }
    let (first, last) = (
        offset.to_timestamp(open).ok()?,
        offset.to_timestamp(close).ok()?,
    );
    match tz.following(first).next() {
        Some(transition) if transition.timestamp() <= last => None,
        _ => Some(offset),
    }
}

/// Every slot of the schedule starting in `[from, to)` and after `now`, that overlaps neither
/// time off nor (when `include_booked` is false) a booking. Ordered by start.
///
/// A working-hours span without a change of offset in it (all of them, but the two nights a
/// year the clocks change) is walked in instants; only the others convert each slot's local
/// time through the zone's rules. Busy time is merged and binary-searched (see `Busy`), so a
/// week with many bookings costs about what an empty one does.
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
    let booked: &[(Timestamp, Timestamp)] = if include_booked {
        &[]
    } else {
        &calendar.booked
    };
    let busy = Busy::new(calendar.time_off.iter().chain(booked));
    let mut slots = Vec::new();
    let mut consider = |starts_at: Timestamp| {
        let ends_at = starts_at.checked_add(length).unwrap_or(Timestamp::MAX);
        if starts_at >= from && starts_at < to && starts_at > now && !busy.meets(starts_at, ends_at)
        {
            slots.push(Slot { starts_at, ends_at });
        }
    };
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
            let open = day.to_datetime(hours.starts_at);
            let close = day.to_datetime(hours.ends_at);
            if let Some(offset) = fixed_offset(tz, open, close)
                && let (Ok(mut starts_at), Ok(close)) =
                    (offset.to_timestamp(open), offset.to_timestamp(close))
            {
                while let Ok(ends_at) = starts_at.checked_add(length) {
                    if ends_at > close {
                        break;
                    }
                    consider(starts_at);
                    starts_at = ends_at;
                }
                continue;
            }
            let mut start = open;
            while let Ok(end_local) = start.checked_add(length) {
                if end_local > close {
                    break;
                }
                if let Some(starts_at) = instant(tz, start) {
                    consider(starts_at);
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
///
/// One statement, one round trip: the doctor's slot length with their weekly hours, time off
/// and bookings near the range as parallel arrays (each pair of arrays aggregated in the same
/// order, by a key unique within it: a weekday's hours do not overlap, nor do a doctor's
/// bookings that are not cancelled). It was four statements one after another; on a 7-day
/// answer the three extra round trips cost more than computing the slots.
pub async fn load_calendar(
    conn: &mut PgConnection,
    doctor_id: Uuid,
    from: Timestamp,
    to: Timestamp,
) -> Result<Option<Calendar>, sqlx::Error> {
    read_calendar(conn, CALENDAR_SQL, None, doctor_id, from, to).await
}

/// [`load_calendar`] in the round trip of another statement that must run first in the same
/// transaction, and whose rows are not wanted: the booking's locks. `sql` is
/// [`calendar_after`]'s, `arg` that statement's `$4`.
pub async fn load_calendar_after(
    conn: &mut PgConnection,
    sql: &'static str,
    arg: Uuid,
    doctor_id: Uuid,
    from: Timestamp,
    to: Timestamp,
) -> Result<Option<Calendar>, sqlx::Error> {
    read_calendar(conn, sql, Some(arg), doctor_id, from, to).await
}

/// The statement of [`load_calendar_after`]: `first` (which may use the doctor `$1` and its own
/// `$4`) in a materialized `WITH`, read by [`CALENDAR_SQL`]'s condition so it runs whether or
/// not the doctor exists (PostgreSQL evaluates a `WITH` query only as far as it is read).
pub fn calendar_after(first: &str) -> String {
    format!(
        "WITH first AS MATERIALIZED ({first}) {CALENDAR_SQL} AND (SELECT count(*) FROM first) >= 0"
    )
}

async fn read_calendar(
    conn: &mut PgConnection,
    sql: &'static str,
    arg: Option<Uuid>,
    doctor_id: Uuid,
    from: Timestamp,
    to: Timestamp,
) -> Result<Option<Calendar>, sqlx::Error> {
    type Times = Option<Vec<jiff_sqlx::Timestamp>>;
    type Row = (
        i32,
        Option<Vec<i16>>,
        Option<Vec<jiff_sqlx::Time>>,
        Option<Vec<jiff_sqlx::Time>>,
        Times,
        Times,
        Times,
        Times,
    );
    // Widen by a day each side: slots near the edges may overlap entries just outside.
    let lo = from
        .checked_sub(SignedDuration::from_hours(24))
        .unwrap_or(from);
    let hi = to.checked_add(SignedDuration::from_hours(24)).unwrap_or(to);
    let query = sqlx::query_as(sql)
        .bind(doctor_id)
        .bind(lo.to_sqlx())
        .bind(hi.to_sqlx());
    let query = match arg {
        Some(arg) => query.bind(arg),
        None => query,
    };
    let row: Option<Row> = query.fetch_optional(&mut *conn).await?;
    let Some((slot_minutes, weekdays, opens, closes, off_from, off_to, booked_from, booked_to)) =
        row
    else {
        return Ok(None);
    };
    let week = weekdays
        .unwrap_or_default()
        .into_iter()
        .zip(opens.unwrap_or_default())
        .zip(closes.unwrap_or_default())
        .map(|((weekday, open), close)| WeeklyHours {
            weekday,
            starts_at: open.to_jiff(),
            ends_at: close.to_jiff(),
        })
        .collect();
    let pairs = |starts: Times, ends: Times| {
        starts
            .unwrap_or_default()
            .into_iter()
            .zip(ends.unwrap_or_default())
            .map(|(a, b)| (a.to_jiff(), b.to_jiff()))
            .collect()
    };
    Ok(Some(Calendar {
        slot_minutes,
        week,
        time_off: pairs(off_from, off_to),
        booked: pairs(booked_from, booked_to),
    }))
}

/// [`load_calendar`]'s statement: `$1` the doctor, `[$2, $3)` the widened range. It ends in its
/// `WHERE` clause, which [`calendar_after`] extends.
///
/// A booking lasts at most 480 minutes (`bookings::MAX_SLOT_MINUTES`, the `bookings_length`
/// constraint), so one that ends after `$2` starts after `$2` less that:
/// said, it bounds the doctor's bookings on `bookings_by_doctor` from both sides. Without it
/// PostgreSQL read every booking the doctor ever had (their whole history, on the exclusion
/// constraint's index) to find the few of the range: 3.4 ms against 0.1 ms for one of 714.
pub const CALENDAR_SQL: &str = "SELECT d.slot_minutes,
        w.weekdays, w.opens, w.closes, o.starts, o.ends, b.starts, b.ends
    FROM doctors d
    CROSS JOIN LATERAL (
        SELECT array_agg(weekday ORDER BY weekday, starts_at) AS weekdays,
               array_agg(starts_at ORDER BY weekday, starts_at) AS opens,
               array_agg(ends_at ORDER BY weekday, starts_at) AS closes
        FROM doctor_schedules WHERE doctor_id = d.id) w
    CROSS JOIN LATERAL (
        SELECT array_agg(lower(period) ORDER BY lower(period), upper(period)) AS starts,
               array_agg(upper(period) ORDER BY lower(period), upper(period)) AS ends
        FROM doctor_time_off WHERE doctor_id = d.id AND period && tstzrange($2, $3)) o
    CROSS JOIN LATERAL (
        SELECT array_agg(starts_at ORDER BY starts_at) AS starts,
               array_agg(ends_at ORDER BY starts_at) AS ends
        FROM bookings
        WHERE doctor_id = d.id AND status <> 'cancelled' AND starts_at < $3 AND ends_at > $2
          AND starts_at > $2 - interval '480 minutes') b
    WHERE d.id = $1 AND d.active";

#[cfg(test)]
mod tests;
