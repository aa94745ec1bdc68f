//! Which backups to keep: the newest `last`, the newest of each of the last `daily` days that
//! have one, and the newest of each of the last `weekly` ISO weeks that have one (days and
//! weeks in UTC). Everything else is deleted after a successful backup. The same rule as
//! restic's and borg's `--keep-last/--keep-daily/--keep-weekly`: a day without a backup (the
//! service was down) does not use up a slot, so an outage never deletes the last good copies.

use std::collections::BTreeSet;

use jiff::Timestamp;
use jiff::tz::TimeZone;

/// How many backups of each kind to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keep {
    /// The newest N, whatever their age (at least 1).
    pub last: u32,
    /// The newest of each of the last N days with a backup.
    pub daily: u32,
    /// The newest of each of the last N ISO weeks with a backup.
    pub weekly: u32,
}

/// The indexes into `taken` (the backups' times, in any order) of those to delete.
pub fn expired(taken: &[Timestamp], keep: Keep) -> Vec<usize> {
    let mut newest_first: Vec<usize> = (0..taken.len()).collect();
    newest_first.sort_by(|a, b| taken[*b].cmp(&taken[*a]));

    let mut kept = BTreeSet::new();
    kept.extend(newest_first.iter().take(keep.last.max(1) as usize));
    let day = |i: usize| {
        let date = taken[i].to_zoned(TimeZone::UTC).date();
        (date.year(), date.day_of_year())
    };
    let week = |i: usize| {
        let iso = taken[i].to_zoned(TimeZone::UTC).date().iso_week_date();
        (iso.year(), iso.week())
    };
    keep_newest_per(&newest_first, keep.daily, day, &mut kept);
    keep_newest_per(&newest_first, keep.weekly, week, &mut kept);

    let mut expired: Vec<usize> = (0..taken.len()).filter(|i| !kept.contains(i)).collect();
    expired.sort_unstable();
    expired
}

/// Walks the backups newest first and keeps the first of each new `period`, up to `n` periods.
fn keep_newest_per<P: PartialEq>(
    newest_first: &[usize],
    n: u32,
    period: impl Fn(usize) -> P,
    kept: &mut BTreeSet<usize>,
) {
    let mut seen: Vec<P> = Vec::new();
    for &i in newest_first {
        if seen.len() >= n as usize {
            break;
        }
        let p = period(i);
        if !seen.contains(&p) {
            seen.push(p);
            kept.insert(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn kept(taken: &[Timestamp], keep: Keep) -> Vec<Timestamp> {
        let gone = expired(taken, keep);
        let mut kept: Vec<Timestamp> = (0..taken.len())
            .filter(|i| !gone.contains(i))
            .map(|i| taken[i])
            .collect();
        kept.sort();
        kept
    }

    #[test]
    fn the_newest_of_each_day_and_week_survive() {
        // Four backups a day (every 6 h) for 40 days.
        let start = at("2026-10-01T00:00:00Z");
        let taken: Vec<Timestamp> = (0..160)
            .map(|i| start + jiff::SignedDuration::from_hours(6 * i))
            .collect();
        let keep = Keep {
            last: 3,
            daily: 7,
            weekly: 4,
        };
        let kept = kept(&taken, keep);
        // The last 3, one more per day for the 7 newest days (the newest day's is among the
        // last 3), and the newest of 4 weeks (this week's and last week's are already kept).
        assert!(kept.contains(&at("2026-11-09T18:00:00Z")));
        assert!(kept.contains(&at("2026-11-09T12:00:00Z")));
        assert!(kept.contains(&at("2026-11-09T06:00:00Z")));
        for day in 3..=8 {
            assert!(
                kept.contains(&at(&format!("2026-11-0{day}T18:00:00Z"))),
                "day {day}"
            );
        }
        // ISO weeks end on Sundays: 2026-11-01 and 2026-10-25 are the newest of their weeks.
        assert!(kept.contains(&at("2026-11-01T18:00:00Z")));
        assert!(kept.contains(&at("2026-10-25T18:00:00Z")));
        assert_eq!(kept.len(), 3 + 6 + 2, "{kept:?}");
        assert_eq!(expired(&taken, keep).len(), 160 - 11);
    }

    #[test]
    fn days_without_a_backup_do_not_use_up_a_slot() {
        // Daily backups, then a month-long outage, then one more.
        let mut taken: Vec<Timestamp> = (1..=9)
            .map(|d| at(&format!("2026-09-0{d}T02:00:00Z")))
            .collect();
        taken.push(at("2026-10-15T02:00:00Z"));
        let kept = kept(
            &taken,
            Keep {
                last: 1,
                daily: 7,
                weekly: 0,
            },
        );
        assert_eq!(kept.len(), 7);
        assert_eq!(kept[0], at("2026-09-04T02:00:00Z"));
        assert_eq!(kept[6], at("2026-10-15T02:00:00Z"));
    }

    #[test]
    fn the_newest_is_always_kept_and_order_does_not_matter() {
        let taken = [
            at("2026-01-03T00:00:00Z"),
            at("2026-01-05T00:00:00Z"),
            at("2026-01-04T00:00:00Z"),
        ];
        assert_eq!(
            expired(
                &taken,
                Keep {
                    last: 0,
                    daily: 0,
                    weekly: 0
                }
            ),
            vec![0, 2]
        );
        assert!(
            expired(
                &[],
                Keep {
                    last: 1,
                    daily: 1,
                    weekly: 1
                }
            )
            .is_empty()
        );
    }
}
