//! The slot computation against hand-checked cases and against its first, slot-by-slot form.

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

/// The computation as it was first written, slot by slot through the zone's rules and a
/// scan of every busy entry: the oracle of the faster one.
fn reference_slots(
    calendar: &Calendar,
    tz: &TimeZone,
    from: Timestamp,
    to: Timestamp,
    now: Timestamp,
    include_booked: bool,
) -> Vec<Slot> {
    let overlaps = |a: (Timestamp, Timestamp), b: (Timestamp, Timestamp)| a.0 < b.1 && b.0 < a.1;
    let step = SignedDuration::from_mins(i64::from(calendar.slot_minutes.max(1)));
    let mut slots = Vec::new();
    let mut day = from.to_zoned(tz.clone()).date().yesterday().unwrap();
    let last = to.to_zoned(tz.clone()).date();
    while day <= last {
        let weekday = i16::from(day.weekday().to_monday_one_offset());
        for hours in calendar.week.iter().filter(|h| h.weekday == weekday) {
            let mut start = day.to_datetime(hours.starts_at);
            let close = day.to_datetime(hours.ends_at);
            while let Ok(end_local) = start.checked_add(step) {
                if end_local > close {
                    break;
                }
                if let Some(starts_at) = instant(tz, start) {
                    let slot = (starts_at, starts_at + step);
                    if starts_at >= from
                        && starts_at < to
                        && starts_at > now
                        && !calendar.time_off.iter().any(|off| overlaps(slot, *off))
                        && (include_booked || !calendar.booked.iter().any(|b| overlaps(slot, *b)))
                    {
                        slots.push(Slot {
                            starts_at,
                            ends_at: slot.1,
                        });
                    }
                }
                start = end_local;
            }
        }
        day = day.tomorrow().unwrap();
    }
    slots.sort_by_key(|s| s.starts_at);
    slots.dedup();
    slots
}

/// xorshift64*: reproducible cases without a dependency.
struct Cases(u64);

impl Cases {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

#[test]
fn the_fast_computation_equals_the_slot_by_slot_one() {
    let zones: Vec<TimeZone> = [
        "UTC",
        "Europe/Berlin",
        "America/New_York",
        "Australia/Lord_Howe",
        "America/St_Johns",
    ]
    .iter()
    .map(|name| TimeZone::get(name).unwrap())
    .collect();
    // Weeks around both of the year's clock changes in the north and the south.
    let anchors = [
        ts("2030-03-28T00:00:00Z"),
        ts("2030-10-24T00:00:00Z"),
        ts("2030-04-04T00:00:00Z"),
        ts("2030-06-10T00:00:00Z"),
        ts("2030-11-01T00:00:00Z"),
    ];
    let mut cases = Cases(0x9E37_79B9_7F4A_7C15);
    let mut slots_seen = 0;
    for round in 0..400 {
        let tz = &zones[round % zones.len()];
        let slot_minutes = [5, 10, 15, 20, 30, 45, 60, 90][cases.below(8) as usize];
        let mut week = Vec::new();
        for weekday in 1..=7 {
            // Up to two disjoint spans a day, some through the night's changed hours.
            let mut hour = cases.below(4) as i8;
            for _ in 0..cases.below(3) {
                let open = time(hour, [0, 15, 30][cases.below(3) as usize], 0, 0);
                let close_hour = (hour + 1 + cases.below(9) as i8).min(23);
                let close = time(close_hour, [0, 30, 59][cases.below(3) as usize], 0, 0);
                if close > open {
                    week.push(WeeklyHours {
                        weekday,
                        starts_at: open,
                        ends_at: close,
                    });
                }
                hour = close_hour + 1;
                if hour > 22 {
                    break;
                }
            }
        }
        let base = anchors[cases.below(anchors.len() as u64) as usize];
        let at = |minutes: u64| base + SignedDuration::from_mins(minutes as i64);
        let mut calendar = Calendar {
            slot_minutes,
            week,
            ..Calendar::default()
        };
        for _ in 0..cases.below(40) {
            let start = at(cases.below(9 * 24 * 60));
            let length = SignedDuration::from_mins(1 + cases.below(180) as i64);
            calendar.booked.push((start, start + length));
        }
        for _ in 0..cases.below(4) {
            let start = at(cases.below(9 * 24 * 60));
            let length = SignedDuration::from_mins(1 + cases.below(3 * 24 * 60) as i64);
            calendar.time_off.push((start, start + length));
        }
        let from = at(cases.below(2 * 24 * 60));
        let to = from + SignedDuration::from_mins(1 + cases.below(8 * 24 * 60) as i64);
        let now = at(cases.below(3 * 24 * 60));
        for include_booked in [false, true] {
            let fast = schedule_slots(&calendar, tz, from, to, now, include_booked);
            let reference = reference_slots(&calendar, tz, from, to, now, include_booked);
            assert_eq!(fast, reference, "round {round} in {tz:?}: {calendar:?}");
            slots_seen += fast.len();
        }
    }
    assert!(
        slots_seen > 10_000,
        "the cases are too thin: {slots_seen} slots"
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
