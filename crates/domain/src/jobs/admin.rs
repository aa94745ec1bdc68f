//! The queue as operators see it: listing, reading and retrying jobs.

use jiff::Timestamp;
use serde::Serialize;
use sqlx::Row as _;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::JobStatus;

/// A job as operators see it (`GET /api/v1/admin/jobs`, `manage jobs`).
#[derive(Debug, Clone, Serialize)]
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
    pub run_at: Timestamp,
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
    pub created_at: Timestamp,
    /// When it succeeded or died.
    pub finished_at: Option<Timestamp>,
}

// By hand rather than derived: the derive's `try_from` cannot reach inside the `Option` of
// `finished_at`.
impl sqlx::FromRow<'_, sqlx::postgres::PgRow> for JobInfo {
    fn from_row(row: &sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
        let at = |column: &str| {
            row.try_get::<jiff_sqlx::Timestamp, _>(column)
                .map(Into::into)
        };
        Ok(Self {
            id: row.try_get("id")?,
            kind: row.try_get("kind")?,
            payload: row.try_get("payload")?,
            status: row.try_get("status")?,
            run_at: at("run_at")?,
            attempts: row.try_get("attempts")?,
            max_attempts: row.try_get("max_attempts")?,
            last_error: row.try_get("last_error")?,
            note: row.try_get("note")?,
            locked_by: row.try_get("locked_by")?,
            booking_id: row.try_get("booking_id")?,
            created_at: at("created_at")?,
            finished_at: row
                .try_get::<Option<jiff_sqlx::Timestamp>, _>("finished_at")?
                .map(Into::into),
        })
    }
}

const INFO_COLUMNS: &str = "id, kind, payload, status, run_at, attempts, max_attempts,
    last_error, note, locked_by, booking_id, created_at, finished_at";

/// Jobs, newest first, optionally of one status; one page and the total (counted up to
/// [`crate::COUNT_LIMIT`]).
pub async fn list(
    conn: &mut PgConnection,
    status: Option<JobStatus>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<JobInfo>, i64), sqlx::Error> {
    // Two texts, not `($1 IS NULL OR status = $1)`: a prepared statement's generic plan for
    // that reads every job.
    let condition = match status {
        Some(_) => "status = $1",
        None => "$1::job_status IS NULL",
    };
    let order = "ORDER BY created_at DESC, id DESC";
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM (SELECT 1 FROM jobs WHERE {condition} {order} LIMIT $2) counted"
    )))
    .bind(status)
    .bind(crate::COUNT_LIMIT)
    .fetch_one(&mut *conn)
    .await?;
    let items = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {INFO_COLUMNS} FROM jobs WHERE {condition} {order} LIMIT $2 OFFSET $3"
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
