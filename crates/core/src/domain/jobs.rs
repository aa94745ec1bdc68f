//! Durable jobs: the queue the worker drains.

use serde::Serialize;
use sqlx::PgExecutor;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type)]
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
