//! Durable jobs: the queue the worker drains. Jobs are enqueued inside the caller's own
//! transaction, so a booking and its notifications commit together or not at all.

mod admin;
mod kinds;
mod queue;

pub use admin::*;
pub use kinds::*;
pub use queue::*;

use std::sync::LazyLock;

use jiff::Timestamp;
use jiff_sqlx::ToSqlx as _;
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgRow;
use sqlx::{FromRow as _, PgConnection, PgExecutor};
use uuid::Uuid;

use crate::PgQuery;

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
    static INSERT: LazyLock<String> = LazyLock::new(|| insert_sql(1));
    let enqueued: Vec<(Uuid, String)> = Batch::new(jobs)
        .bind(sqlx::query(INSERT.as_str()))
        .try_map(|row: PgRow| <(Uuid, String)>::from_row(&row))
        .fetch_all(conn)
        .await?;
    counted(enqueued.iter().map(|(_, kind)| kind.clone()));
    Ok(enqueued.into_iter().map(|(id, _)| id).collect())
}

/// The insert of a [`Batch`], its eight parameters numbered from `$first` and bound by
/// [`Batch::bind`], returning `id, kind` of each job enqueued. [`enqueue_all`] runs it alone;
/// a statement that makes the change the jobs follow from may carry it as a data-modifying
/// `WITH` instead (a booking does: one round trip fewer, and the jobs still commit or roll
/// back with it). Whoever runs it passes the kinds it returns to [`counted`].
pub(crate) fn insert_sql(first: usize) -> String {
    let [
        ids,
        kinds,
        payloads,
        run_ats,
        dedupe_keys,
        booking_ids,
        request_id,
        traceparent,
    ]: [String; 8] = std::array::from_fn(|i| format!("${}", first + i));
    format!(
        "INSERT INTO jobs (id, kind, payload, run_at, dedupe_key, booking_id, request_id,
             traceparent)
         SELECT id, kind, payload, run_at, dedupe_key, booking_id, {request_id}, {traceparent}
         FROM unnest({ids}::uuid[], {kinds}::text[], {payloads}::jsonb[],
                     {run_ats}::timestamptz[], {dedupe_keys}::text[], {booking_ids}::uuid[])
              AS j (id, kind, payload, run_at, dedupe_key, booking_id)
         ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL AND status IN ('queued', 'running')
         DO NOTHING
         RETURNING id, kind"
    )
}

/// Jobs to enqueue in one statement, as the columns [`insert_sql`] unnests, with the current
/// request id and trace context ([`crate::correlation`]).
#[derive(Debug, Default)]
pub(crate) struct Batch {
    ids: Vec<Uuid>,
    kinds: Vec<&'static str>,
    payloads: Vec<serde_json::Value>,
    run_ats: Vec<jiff_sqlx::Timestamp>,
    dedupe_keys: Vec<Option<String>>,
    booking_ids: Vec<Option<Uuid>>,
}

impl Batch {
    /// Each job to run at its instant.
    pub(crate) fn new<'a>(jobs: impl IntoIterator<Item = (&'a Job, Timestamp)>) -> Self {
        let mut batch = Self::default();
        for (job, run_at) in jobs {
            batch.ids.push(Uuid::now_v7());
            batch.kinds.push(job.kind());
            batch.payloads.push(job.payload());
            batch.run_ats.push(run_at.to_sqlx());
            batch.dedupe_keys.push(job.dedupe_key());
            batch.booking_ids.push(job.booking_id());
        }
        batch
    }

    /// Binds this batch as [`insert_sql`]'s eight parameters, after `query`'s own.
    pub(crate) fn bind(self, query: PgQuery<'_>) -> PgQuery<'_> {
        query
            .bind(self.ids)
            .bind(self.kinds)
            .bind(self.payloads)
            .bind(self.run_ats)
            .bind(self.dedupe_keys)
            .bind(self.booking_ids)
            .bind(crate::correlation::current())
            .bind(crate::correlation::traceparent())
    }
}

/// Counts jobs enqueued, by kind (`medsync_jobs_enqueued_total`).
pub(crate) fn counted(kinds: impl IntoIterator<Item = String>) {
    for kind in kinds {
        metrics::counter!("medsync_jobs_enqueued_total", "kind" => kind).increment(1);
    }
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
