//! The job kinds and their payloads: what the worker can be asked to do, as stored in the
//! `kind` and `payload` columns.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a job does, with its payload. Stored as `kind` + JSON `payload`; the payload carries a
/// version (`v`) so that a worker can read jobs enqueued by an older release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "payload")]
pub enum Job {
    /// Tell the patient (and the doctor, if linked) that a booking is confirmed.
    #[serde(rename = "booking.confirmation")]
    BookingConfirmation(BookingPayload),
    /// Remind the patient of a booking `minutes_before` its start.
    #[serde(rename = "booking.reminder")]
    BookingReminder(ReminderPayload),
    /// Tell the patient (and the doctor, if linked) that a booking was cancelled.
    #[serde(rename = "booking.cancellation")]
    BookingCancellation(BookingPayload),
    /// Does nothing (after an optional pause): measures the queue itself (benchmarks, tests).
    #[serde(rename = "system.noop")]
    Noop(NoopPayload),
}

/// Payload of a no-op job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoopPayload {
    /// Payload version.
    pub v: u32,
    /// How long the job takes, in milliseconds.
    #[serde(default)]
    pub sleep_ms: u64,
    /// Panics instead of finishing: shows that a crashing handler fails its job, not its
    /// worker (tests, and an operator checking a deployment).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub panic: bool,
}

/// Payload of jobs about one booking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingPayload {
    /// Payload version.
    pub v: u32,
    /// The booking.
    pub booking_id: Uuid,
}

/// Payload of a reminder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReminderPayload {
    /// Payload version.
    pub v: u32,
    /// The booking.
    pub booking_id: Uuid,
    /// How long before the start this reminder is sent.
    pub minutes_before: i64,
}

/// Every kind's `kind` column value.
pub const KINDS: [&str; 4] = [
    "booking.confirmation",
    "booking.reminder",
    "booking.cancellation",
    "system.noop",
];

impl Job {
    /// The jobs a new booking of `starts_at` enqueues, each with when it is due: its
    /// confirmation now, and a reminder `offset` before the visit for each offset still ahead.
    pub fn for_new_booking(
        booking_id: Uuid,
        starts_at: Timestamp,
        reminder_offsets: &[SignedDuration],
        now: Timestamp,
    ) -> Vec<(Self, Timestamp)> {
        let confirmation = Self::BookingConfirmation(BookingPayload { v: 1, booking_id });
        let mut due = vec![(confirmation, now)];
        due.extend(reminder_offsets.iter().filter_map(|offset| {
            let run_at = starts_at.checked_sub(*offset).ok()?;
            let reminder = ReminderPayload {
                v: 1,
                booking_id,
                minutes_before: offset.as_mins(),
            };
            (run_at > now).then_some((Self::BookingReminder(reminder), run_at))
        }));
        due
    }

    /// The `kind` column's value.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::BookingConfirmation(_) => "booking.confirmation",
            Self::BookingReminder(_) => "booking.reminder",
            Self::BookingCancellation(_) => "booking.cancellation",
            Self::Noop(_) => "system.noop",
        }
    }

    /// Reads a stored job back: `None` when the kind is unknown or the payload does not fit
    /// it (a job written by a newer release, or damaged by hand).
    pub fn decode(kind: &str, payload: &serde_json::Value) -> Option<Self> {
        serde_json::from_value(serde_json::json!({"kind": kind, "payload": payload})).ok()
    }

    pub(super) fn booking_id(&self) -> Option<Uuid> {
        match self {
            Self::BookingConfirmation(p) | Self::BookingCancellation(p) => Some(p.booking_id),
            Self::BookingReminder(p) => Some(p.booking_id),
            Self::Noop(_) => None,
        }
    }

    /// At most one queued or running job per key: a retried enqueue is harmless.
    pub(super) fn dedupe_key(&self) -> Option<String> {
        match self {
            Self::BookingConfirmation(p) => Some(format!("booking.confirmation:{}", p.booking_id)),
            Self::BookingCancellation(p) => Some(format!("booking.cancellation:{}", p.booking_id)),
            Self::BookingReminder(p) => Some(format!(
                "booking.reminder:{}:{}",
                p.booking_id, p.minutes_before
            )),
            Self::Noop(_) => None,
        }
    }

    /// The `payload` column's value: the payload without the kind.
    pub fn payload(&self) -> serde_json::Value {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(mut map)) => {
                map.remove("payload").unwrap_or(serde_json::Value::Null)
            }
            _ => serde_json::Value::Null,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_lists_every_kind() {
        let payload = BookingPayload {
            v: 1,
            booking_id: Uuid::nil(),
        };
        let jobs = [
            Job::BookingConfirmation(payload),
            Job::BookingReminder(ReminderPayload {
                v: 1,
                booking_id: Uuid::nil(),
                minutes_before: 60,
            }),
            Job::BookingCancellation(payload),
            Job::Noop(NoopPayload {
                v: 1,
                sleep_ms: 0,
                panic: false,
            }),
        ];
        let kinds: Vec<&str> = jobs.iter().map(Job::kind).collect();
        assert_eq!(kinds, KINDS);
    }

    #[test]
    fn payloads_are_stored_without_the_kind_and_carry_their_version() {
        let id = Uuid::nil();
        let job = Job::BookingReminder(ReminderPayload {
            v: 1,
            booking_id: id,
            minutes_before: 120,
        });
        assert_eq!(job.kind(), "booking.reminder");
        assert_eq!(
            job.payload(),
            serde_json::json!({"v": 1, "booking_id": id, "minutes_before": 120})
        );
        assert_eq!(Job::decode(job.kind(), &job.payload()), Some(job));
        assert_eq!(
            Job::decode("booking.reminder", &serde_json::json!({"v": 1})),
            None
        );
        assert_eq!(Job::decode("no.such.kind", &serde_json::json!({})), None);
    }
}
