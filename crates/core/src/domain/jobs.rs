//! Durable jobs: the queue the worker drains. Jobs are enqueued inside the caller's own
//! transaction, so a booking and its notifications commit together or not at all.

use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgExecutor};
use time::OffsetDateTime;
use uuid::Uuid;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[sqlx(type_name = "job_status", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Waiting for its `run_at`, or for a free worker.
    Queued,
    /// Held by a worker until its lease ends.
    Running,
    /// Done.
    Succeeded,
    /// Failed its last allowed attempt; kept with its last error.
    Dead,
}

impl JobStatus {
    /// Every status, for reports that must show zeros too.
    pub const ALL: [Self; 4] = [Self::Queued, Self::Running, Self::Succeeded, Self::Dead];

    /// The lower-case name used in the database, the API and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Dead => "dead",
        }
    }
}

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

impl Job {
    /// The `kind` column's value.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::BookingConfirmation(_) => "booking.confirmation",
            Self::BookingReminder(_) => "booking.reminder",
            Self::BookingCancellation(_) => "booking.cancellation",
        }
    }

    fn booking_id(&self) -> Option<Uuid> {
        match self {
            Self::BookingConfirmation(p) | Self::BookingCancellation(p) => Some(p.booking_id),
            Self::BookingReminder(p) => Some(p.booking_id),
        }
    }

    /// At most one queued or running job per key: a retried enqueue is harmless.
    fn dedupe_key(&self) -> String {
        match self {
            Self::BookingConfirmation(p) => format!("booking.confirmation:{}", p.booking_id),
            Self::BookingCancellation(p) => format!("booking.cancellation:{}", p.booking_id),
            Self::BookingReminder(p) => {
                format!("booking.reminder:{}:{}", p.booking_id, p.minutes_before)
            }
        }
    }

    fn payload(&self) -> serde_json::Value {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(mut map)) => {
                map.remove("payload").unwrap_or(serde_json::Value::Null)
            }
            _ => serde_json::Value::Null,
        }
    }
}

/// Enqueues `job` to run at `run_at`, in the caller's transaction. Returns its id, or `None`
/// when an identical job is already queued or running.
pub async fn enqueue(
    conn: &mut PgConnection,
    job: &Job,
    run_at: OffsetDateTime,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO jobs (id, kind, payload, run_at, dedupe_key, booking_id)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL AND status IN ('queued', 'running')
         DO NOTHING
         RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(job.kind())
    .bind(job.payload())
    .bind(run_at)
    .bind(job.dedupe_key())
    .bind(job.booking_id())
    .fetch_optional(conn)
    .await
}

/// Drops the queued reminders of a booking (it was cancelled), in the caller's transaction.
pub async fn drop_queued_reminders(
    conn: &mut PgConnection,
    booking_id: Uuid,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "DELETE FROM jobs WHERE booking_id = $1 AND kind = 'booking.reminder' AND status = 'queued'",
    )
    .bind(booking_id)
    .execute(conn)
    .await?
    .rows_affected())
}

/// A job as stored.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct JobRow {
    /// Its id.
    pub id: Uuid,
    /// What it does.
    pub kind: String,
    /// Its payload.
    pub payload: serde_json::Value,
    /// Its state.
    pub status: JobStatus,
    /// Not before.
    #[serde(with = "time::serde::rfc3339")]
    pub run_at: OffsetDateTime,
    /// Attempts made.
    pub attempts: i32,
}

/// The jobs of one booking, oldest first.
pub async fn for_booking(
    db: impl PgExecutor<'_>,
    booking_id: Uuid,
) -> Result<Vec<JobRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, kind, payload, status, run_at, attempts FROM jobs
         WHERE booking_id = $1 ORDER BY run_at, kind",
    )
    .bind(booking_id)
    .fetch_all(db)
    .await
}

/// How many jobs are in each status (every status listed, zeros included).
pub async fn count_by_status(
    db: impl PgExecutor<'_>,
) -> Result<Vec<(JobStatus, i64)>, sqlx::Error> {
    let rows: Vec<(JobStatus, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM jobs GROUP BY status")
            .fetch_all(db)
            .await?;
    Ok(JobStatus::ALL
        .iter()
        .map(|s| (*s, rows.iter().find(|(r, _)| r == s).map_or(0, |(_, n)| *n)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
