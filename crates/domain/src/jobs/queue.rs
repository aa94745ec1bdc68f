//! The queue as workers drain it: claim, complete, fail, postpone, extend a lease, release.
//!
//! A small queue of our own on `FOR UPDATE SKIP LOCKED` rather than a crate: see "The job
//! queue" in docs/ARCHITECTURE.md for why.

use jiff::Timestamp;
use sqlx::PgExecutor;
use uuid::Uuid;

use super::JobStatus;

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
    #[sqlx(try_from = "jiff_sqlx::Timestamp")]
    pub run_at: Timestamp,
    /// Chats already reached by an earlier attempt.
    pub sent_to: Vec<i64>,
    /// The request that enqueued it ([`crate::correlation`]), if any.
    pub request_id: Option<String>,
    /// The trace context of the span that enqueued it (W3C `traceparent`), when traces are
    /// exported.
    pub traceparent: Option<String>,
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
    RETURNING j.id, j.kind, j.payload, j.status, j.attempts, j.max_attempts, j.run_at, j.sent_to,
        j.request_id, j.traceparent";

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
pub async fn next_due(db: impl PgExecutor<'_>) -> Result<Option<Timestamp>, sqlx::Error> {
    let next: Option<jiff_sqlx::Timestamp> = sqlx::query_scalar(
        "SELECT least((SELECT min(run_at) FROM jobs WHERE status = 'queued'),
                      (SELECT min(locked_until) FROM jobs WHERE status = 'running'))",
    )
    .fetch_one(db)
    .await?;
    Ok(next.map(jiff_sqlx::Timestamp::to_jiff))
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

pub(super) fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
