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

impl Job {
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

    fn booking_id(&self) -> Option<Uuid> {
        match self {
            Self::BookingConfirmation(p) | Self::BookingCancellation(p) => Some(p.booking_id),
            Self::BookingReminder(p) => Some(p.booking_id),
            Self::Noop(_) => None,
        }
    }

    /// At most one queued or running job per key: a retried enqueue is harmless.
    fn dedupe_key(&self) -> Option<String> {
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
    .inspect(|id| {
        if id.is_some() {
            metrics::counter!("medsync_jobs_enqueued_total", "kind" => job.kind()).increment(1);
        }
    })
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

// ----- the queue, as workers and operators use it ----------------------------------------------
//
// A small queue of our own on `FOR UPDATE SKIP LOCKED` rather than a crate: see "The job queue"
// in docs/ARCHITECTURE.md for why.

/// The channel `jobs_notify` (a trigger) notifies when a job becomes queued.
pub const NOTIFY_CHANNEL: &str = "medsync_jobs";

/// A job a worker has claimed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claimed {
    /// Its id.
    pub id: Uuid,
    /// What it does.
    pub kind: String,
    /// Its payload.
    pub payload: serde_json::Value,
    /// `Running`: this worker's to run now. `Dead`: its lease expired on its last allowed
    /// attempt, so it was given up instead of run (see [`CLAIM_SQL`]).
    pub status: JobStatus,
    /// This attempt's number (1 for the first).
    pub attempts: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// When it was due.
    pub run_at: OffsetDateTime,
    /// Chats already reached by an earlier attempt.
    pub sent_to: Vec<i64>,
}

/// The claim statement: up to `$3` jobs — first running ones whose lease expired (their worker
/// died), then queued ones that are due, oldest first — skipping rows other workers are
/// claiming, leased to `$1` for `$2` seconds. Each half is its own `ORDER BY … LIMIT` over its
/// partial index (`jobs_leased`, `jobs_due`), so a claim reads a few index entries however long
/// the backlog (one `WHERE … OR …` would scan and sort every due row). `scripts/bench-worker.sh`
/// runs this same text through pgbench.
///
/// An expired lease is an attempt that ended badly (the worker was killed, crashed or hung), so
/// it counts: a job whose lease expired on its last allowed attempt is not run again but marked
/// `dead` here, with the reason, and returned with that status for the worker to report. A job
/// that kills every worker running it therefore stops after `max_attempts`.
pub const CLAIM_SQL: &str = "WITH expired AS (
        SELECT id, attempts >= max_attempts AS exhausted FROM jobs
        WHERE status = 'running' AND locked_until < now()
        ORDER BY locked_until
        LIMIT $3
        FOR UPDATE SKIP LOCKED
    ), due AS (
        SELECT id FROM jobs
        WHERE status = 'queued' AND run_at <= now()
        ORDER BY run_at
        LIMIT $3
        FOR UPDATE SKIP LOCKED
    ), next AS (
        (SELECT id, true AS expired, exhausted FROM expired)
        UNION ALL (SELECT id, false, false FROM due) LIMIT $3
    )
    UPDATE jobs j
    SET status = CASE WHEN next.exhausted THEN 'dead' ELSE 'running' END::job_status,
        attempts = CASE WHEN next.exhausted THEN j.attempts ELSE j.attempts + 1 END,
        last_error = CASE WHEN next.expired
            THEN 'lease expired: worker ' || coalesce(j.locked_by, 'unknown') || ' stopped or hung while running it'
            ELSE j.last_error END,
        finished_at = CASE WHEN next.exhausted THEN now() END,
        locked_by = CASE WHEN next.exhausted THEN j.locked_by ELSE $1 END,
        locked_until = CASE WHEN next.exhausted THEN NULL
            ELSE now() + make_interval(secs => $2) END,
        started_at = CASE WHEN next.exhausted THEN j.started_at ELSE now() END,
        updated_at = now()
    FROM next WHERE j.id = next.id
    RETURNING j.id, j.kind, j.payload, j.status, j.attempts, j.max_attempts, j.run_at, j.sent_to";

/// The completion statement (`$1` job, `$2` worker, `$3` note).
pub const COMPLETE_SQL: &str = "UPDATE jobs
    SET status = 'succeeded', locked_until = NULL, finished_at = now(), updated_at = now(),
        note = $3
    WHERE id = $1 AND locked_by = $2 AND status = 'running'";

/// Claims up to `limit` due jobs for `worker`, leased for `lease`. Jobs given up on instead
/// (their last attempt's lease expired) come back with status `Dead`, not to be run.
pub async fn claim(
    db: impl PgExecutor<'_>,
    worker: &str,
    limit: i64,
    lease: std::time::Duration,
) -> Result<Vec<Claimed>, sqlx::Error> {
    sqlx::query_as(CLAIM_SQL)
        .bind(worker)
        .bind(lease.as_secs_f64())
        .bind(limit)
        .fetch_all(db)
        .await
}

/// Marks a job `worker` holds as done (`note`: why it did nothing, if so). False when the
/// job is no longer this worker's (its lease expired and another took it).
pub async fn complete(
    db: impl PgExecutor<'_>,
    id: Uuid,
    worker: &str,
    note: Option<&str>,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(COMPLETE_SQL)
        .bind(id)
        .bind(worker)
        .bind(note)
        .execute(db)
        .await?
        .rows_affected()
        == 1)
}

/// Records a failed attempt: queued again after `retry_in`, or dead (kept, with the error)
/// when it was the last allowed attempt. Returns the new status, `None` when the job is no
/// longer this worker's.
pub async fn fail(
    db: impl PgExecutor<'_>,
    id: Uuid,
    worker: &str,
    error: &str,
    retry_in: std::time::Duration,
) -> Result<Option<JobStatus>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE jobs
         SET status = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'queued' END::job_status,
             run_at = CASE WHEN attempts >= max_attempts THEN run_at
                           ELSE now() + make_interval(secs => $4) END,
             finished_at = CASE WHEN attempts >= max_attempts THEN now() END,
             locked_until = NULL, last_error = $3, updated_at = now()
         WHERE id = $1 AND locked_by = $2 AND status = 'running'
         RETURNING status",
    )
    .bind(id)
    .bind(worker)
    .bind(truncate(error, 2000))
    .bind(retry_in.as_secs_f64())
    .fetch_optional(db)
    .await
}

/// Puts a job back without counting the attempt: to run after `after` (Telegram's
/// `retry_after`), or at once when a worker shuts down before finishing it.
pub async fn postpone(
    db: impl PgExecutor<'_>,
    id: Uuid,
    worker: &str,
    after: std::time::Duration,
    reason: &str,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE jobs
         SET status = 'queued', attempts = greatest(attempts - 1, 0), locked_until = NULL,
             run_at = now() + make_interval(secs => $3), last_error = $4, updated_at = now()
         WHERE id = $1 AND locked_by = $2 AND status = 'running'",
    )
    .bind(id)
    .bind(worker)
    .bind(after.as_secs_f64())
    .bind(truncate(reason, 2000))
    .execute(db)
    .await?
    .rows_affected()
        == 1)
}

/// Puts back every job `worker` still holds (it is stopping before finishing them): they run
/// again at once, on any worker, without counting the interrupted attempt.
pub async fn release_all(db: impl PgExecutor<'_>, worker: &str) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE jobs
         SET status = 'queued', attempts = greatest(attempts - 1, 0), locked_until = NULL,
             run_at = now(), last_error = 'interrupted: the worker stopped', updated_at = now()
         WHERE locked_by = $1 AND status = 'running'",
    )
    .bind(worker)
    .execute(db)
    .await?
    .rows_affected())
}

/// Extends the lease of a job `worker` is still running. False when it is no longer its.
pub async fn extend(
    db: impl PgExecutor<'_>,
    id: Uuid,
    worker: &str,
    lease: std::time::Duration,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE jobs SET locked_until = now() + make_interval(secs => $3), updated_at = now()
         WHERE id = $1 AND locked_by = $2 AND status = 'running'",
    )
    .bind(id)
    .bind(worker)
    .bind(lease.as_secs_f64())
    .execute(db)
    .await?
    .rows_affected()
        == 1)
}

/// Records that a notification job reached `chat`, so a retry skips it.
pub async fn record_sent(db: impl PgExecutor<'_>, id: Uuid, chat: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE jobs SET sent_to = array_append(sent_to, $2) WHERE id = $1")
        .bind(id)
        .bind(chat)
        .execute(db)
        .await?;
    Ok(())
}

/// The earliest moment a job may become claimable: the next queued job's `run_at` or the
/// next lease to expire. `None` when the queue is empty.
pub async fn next_due(db: impl PgExecutor<'_>) -> Result<Option<OffsetDateTime>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT least((SELECT min(run_at) FROM jobs WHERE status = 'queued'),
                      (SELECT min(locked_until) FROM jobs WHERE status = 'running'))",
    )
    .fetch_one(db)
    .await
}

/// The delay before attempt `attempt + 1` after `attempt` failed: exponential from `base`,
/// capped at `max`, with "equal jitter" (half fixed, half random), so that delays never shrink
/// from one attempt to the next while replicas retrying together spread out.
pub fn backoff(
    attempt: i32,
    base: std::time::Duration,
    max: std::time::Duration,
) -> std::time::Duration {
    let exponent = u32::try_from(attempt.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    let full = base.saturating_mul(1u32 << exponent).min(max);
    let half = full / 2;
    half + half.mul_f64(rand::random::<f64>())
}

/// A job as operators see it (`GET /api/v1/admin/jobs`, `manage jobs`).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct JobInfo {
    /// Its id.
    pub id: Uuid,
    /// What it does.
    pub kind: String,
    /// Its payload.
    pub payload: serde_json::Value,
    /// Its state.
    pub status: JobStatus,
    /// Not before (for a dead job: when its last attempt was due).
    #[serde(with = "time::serde::rfc3339")]
    pub run_at: OffsetDateTime,
    /// Attempts made.
    pub attempts: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// The last failure's message.
    pub last_error: Option<String>,
    /// Why it ended without doing its work, if so.
    pub note: Option<String>,
    /// The worker holding it (running) or that last ran it.
    pub locked_by: Option<String>,
    /// The booking it belongs to.
    pub booking_id: Option<Uuid>,
    /// When it was enqueued.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it succeeded or died.
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
}

const INFO_COLUMNS: &str = "id, kind, payload, status, run_at, attempts, max_attempts,
    last_error, note, locked_by, booking_id, created_at, finished_at";

/// Jobs, newest first, optionally of one status; one page and the total.
pub async fn list(
    conn: &mut PgConnection,
    status: Option<JobStatus>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<JobInfo>, i64), sqlx::Error> {
    let total: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM jobs WHERE ($1::job_status IS NULL OR status = $1)",
    )
    .bind(status)
    .fetch_one(&mut *conn)
    .await?;
    let items = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {INFO_COLUMNS} FROM jobs WHERE ($1::job_status IS NULL OR status = $1)
         ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
    )))
    .bind(status)
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *conn)
    .await?;
    Ok((items, total))
}

/// One job.
pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<JobInfo>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {INFO_COLUMNS} FROM jobs WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Why a job was not retried.
#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    /// No such job.
    #[error("no such job")]
    NotFound,
    /// Running or succeeded: nothing to retry.
    #[error("only dead or queued jobs can be retried; this one is {0}")]
    NotRetryable(&'static str),
    /// An identical job is queued or running already.
    #[error("an identical job is already queued or running")]
    Duplicate,
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Makes a dead (or waiting) job run again now, with a fresh count of attempts.
pub async fn retry(conn: &mut PgConnection, id: Uuid) -> Result<JobInfo, RetryError> {
    // The job as this statement left it: a worker may claim it the moment it commits.
    let updated: Result<Option<JobInfo>, sqlx::Error> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE jobs SET status = 'queued', attempts = 0, run_at = now(), finished_at = NULL,
             locked_until = NULL, updated_at = now()
         WHERE id = $1 AND status IN ('dead', 'queued') RETURNING {INFO_COLUMNS}"
        )))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await;
    match updated {
        Ok(Some(job)) => Ok(job),
        Ok(None) => match get(&mut *conn, id).await? {
            Some(job) => Err(RetryError::NotRetryable(job.status.as_str())),
            None => Err(RetryError::NotFound),
        },
        Err(e) if e.as_database_error().and_then(|d| d.constraint()) == Some("jobs_dedupe") => {
            Err(RetryError::Duplicate)
        }
        Err(e) => Err(e.into()),
    }
}

/// What one clean-up removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CleanUp {
    /// False when another worker held the clean-up lock: this one did nothing.
    pub ran: bool,
    /// Link codes past their expiry or used.
    pub link_codes: u64,
    /// Succeeded jobs finished before the retention.
    pub jobs: u64,
    /// Refresh tokens past their expiry (a day's grace).
    pub refresh_tokens: u64,
    /// Idempotency keys older than a day (a client retries within minutes).
    pub idempotency_keys: u64,
    /// Audit events older than the audit retention.
    pub audit_events: u64,
}

/// How long the clean-up keeps what it deletes.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Succeeded jobs (`JOB_RETENTION_DAYS`).
    pub jobs: std::time::Duration,
    /// The audit trail (`AUDIT_RETENTION_DAYS`).
    pub audit: std::time::Duration,
}

/// Removes expired link codes and succeeded jobs finished more than `retention` ago — by one
/// worker at a time: a transaction-scoped advisory lock, not waited for (another worker
/// holding it is doing this very work). Dead jobs are kept until someone retries or deletes
/// them: they need a person's attention.
pub async fn clean_up(pool: &sqlx::PgPool, retention: Retention) -> Result<CleanUp, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let locked: bool =
        sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(hashtext('medsync.clean_up'))")
            .fetch_one(&mut *tx)
            .await?;
    if !locked {
        return Ok(CleanUp::default());
    }
    let link_codes = sqlx::query(
        "DELETE FROM telegram_link_codes WHERE expires_at < now() OR used_at IS NOT NULL",
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let jobs = sqlx::query(
        "DELETE FROM jobs WHERE status = 'succeeded'
         AND finished_at < now() - make_interval(secs => $1)",
    )
    .bind(retention.jobs.as_secs_f64())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    // An expired refresh token can only ever be refused: reuse detection needs it no more.
    let refresh_tokens =
        sqlx::query("DELETE FROM refresh_tokens WHERE expires_at < now() - interval '1 day'")
            .execute(&mut *tx)
            .await?
            .rows_affected();
    let idempotency_keys =
        sqlx::query("DELETE FROM idempotency_keys WHERE created_at < now() - interval '1 day'")
            .execute(&mut *tx)
            .await?
            .rows_affected();
    let audit_events = super::audit::purge(
        &mut tx,
        jiff::SignedDuration::try_from(retention.audit).unwrap_or(jiff::SignedDuration::MAX),
        jiff::Timestamp::now(),
    )
    .await?;
    tx.commit().await?;
    Ok(CleanUp {
        ran: true,
        link_codes,
        jobs,
        refresh_tokens,
        idempotency_keys,
        audit_events,
    })
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((at, _)) => &text[..at],
        None => text,
    }
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
        assert_eq!(Job::decode(job.kind(), &job.payload()), Some(job));
        assert_eq!(
            Job::decode("booking.reminder", &serde_json::json!({"v": 1})),
            None
        );
        assert_eq!(Job::decode("no.such.kind", &serde_json::json!({})), None);
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        use std::time::Duration;
        let (base, max) = (Duration::from_secs(10), Duration::from_secs(3600));
        for attempt in 1..8 {
            let this = backoff(attempt, base, max);
            let next = backoff(attempt + 1, base, max);
            assert!(next >= this, "attempt {attempt}: {this:?} then {next:?}");
            assert!(this <= max);
        }
        assert!(backoff(1, base, max) >= Duration::from_secs(5));
        assert!(backoff(1, base, max) <= Duration::from_secs(10));
        assert!(backoff(40, base, max) >= Duration::from_secs(1800));
        let spread: std::collections::HashSet<Duration> =
            (0..20).map(|_| backoff(3, base, max)).collect();
        assert!(spread.len() > 1, "jitter");
    }
}
