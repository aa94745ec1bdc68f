//! Durable jobs: the queue the worker drains. Jobs are enqueued inside the caller's own
//! transaction, so a booking and its notifications commit together or not at all.

mod admin;
mod kinds;
mod queue;

pub use admin::*;
pub use kinds::*;
pub use queue::*;

use jiff::Timestamp;
use jiff_sqlx::ToSqlx as _;
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgExecutor};
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

/// Enqueues `job` to run at `run_at`, in the caller's transaction, with the current request id
/// and trace context ([`crate::correlation`]). Returns its id, or `None` when an identical job is already queued
/// or running.
pub async fn enqueue(
    conn: &mut PgConnection,
    job: &Job,
    run_at: Timestamp,
) -> Result<Option<Uuid>, sqlx::Error> {
    Ok(enqueue_all(conn, [(job, run_at)]).await?.pop())
}

/// Enqueues each job to run at its instant in one statement (one round trip however many),
/// as [`enqueue`] does one. Returns the ids of those enqueued, leaving out any whose identical
/// job is already queued or running.
pub async fn enqueue_all<'a>(
    conn: &mut PgConnection,
    jobs: impl IntoIterator<Item = (&'a Job, Timestamp)>,
) -> Result<Vec<Uuid>, sqlx::Error> {
    let (mut ids, mut kinds, mut payloads) = (Vec::new(), Vec::new(), Vec::new());
    let (mut run_ats, mut dedupe_keys, mut booking_ids) = (Vec::new(), Vec::new(), Vec::new());
    for (job, run_at) in jobs {
        ids.push(Uuid::now_v7());
        kinds.push(job.kind());
        payloads.push(job.payload());
        run_ats.push(run_at.to_sqlx());
        dedupe_keys.push(job.dedupe_key());
        booking_ids.push(job.booking_id());
    }
    let enqueued: Vec<(Uuid, String)> = sqlx::query_as(
        "INSERT INTO jobs (id, kind, payload, run_at, dedupe_key, booking_id, request_id,
             traceparent)
         SELECT id, kind, payload, run_at, dedupe_key, booking_id, $7, $8
         FROM unnest($1::uuid[], $2::text[], $3::jsonb[], $4::timestamptz[], $5::text[],
                     $6::uuid[]) AS j (id, kind, payload, run_at, dedupe_key, booking_id)
         ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL AND status IN ('queued', 'running')
         DO NOTHING
         RETURNING id, kind",
    )
    .bind(ids)
    .bind(kinds)
    .bind(payloads)
    .bind(run_ats)
    .bind(dedupe_keys)
    .bind(booking_ids)
    .bind(crate::correlation::current())
    .bind(crate::correlation::traceparent())
    .fetch_all(conn)
    .await?;
    Ok(enqueued
        .into_iter()
        .map(|(id, kind)| {
            metrics::counter!("medsync_jobs_enqueued_total", "kind" => kind).increment(1);
            id
        })
        .collect())
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
    #[sqlx(try_from = "jiff_sqlx::Timestamp")]
    pub run_at: Timestamp,
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

/// How long the oldest due job has waited to be claimed, in seconds (0 when none is due): the
/// queue's lag, which grows when the workers are down or cannot keep up.
pub async fn oldest_due_seconds(db: impl PgExecutor<'_>) -> Result<f64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT coalesce(extract(epoch FROM now() - min(run_at))::float8, 0)
         FROM jobs WHERE status = 'queued' AND run_at <= now()",
    )
    .fetch_one(db)
    .await
}

/// Deletes succeeded jobs finished more than `retention` ago (the daily clean-up). Dead jobs
/// are kept: they need a person's attention.
pub async fn purge_succeeded(
    conn: &mut PgConnection,
    retention: std::time::Duration,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "DELETE FROM jobs WHERE status = 'succeeded'
         AND finished_at < now() - make_interval(secs => $1)",
    )
    .bind(retention.as_secs_f64())
    .execute(conn)
    .await?
    .rows_affected())
}
