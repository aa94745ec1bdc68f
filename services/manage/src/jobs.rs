//! `manage jobs`: the job queue from a shell — list by status, make a dead job run again.

use anyhow::Context as _;
use medsync_domain::jobs::{self, JobInfo, JobStatus};
use medsync_platform::config::DatabaseConfig;
use uuid::Uuid;

/// A job status as typed on the command line.
pub fn parse_status(raw: &str) -> Result<JobStatus, String> {
    JobStatus::ALL
        .into_iter()
        .find(|s| s.as_str() == raw)
        .ok_or_else(|| "must be queued, running, succeeded or dead".to_owned())
}

fn line(job: &JobInfo) -> String {
    let mut text = format!(
        "{}  {:<9}  {:<21}  attempts {}/{}  run_at {}",
        job.id,
        job.status.as_str(),
        job.kind,
        job.attempts,
        job.max_attempts,
        job.run_at
    );
    if let Some(error) = &job.last_error {
        text.push_str(&format!("\n    last error: {error}"));
    }
    if let Some(note) = &job.note {
        text.push_str(&format!("\n    note: {note}"));
    }
    text
}

/// Prints up to `limit` jobs, newest first, optionally of one status, and the total.
pub async fn list(
    database: &DatabaseConfig,
    status: Option<JobStatus>,
    limit: i64,
) -> anyhow::Result<()> {
    let pool = medsync_platform::db::pool(database);
    let mut conn = pool.acquire().await.context("connecting to PostgreSQL")?;
    let (items, total) = jobs::list(&mut conn, status, limit, 0).await?;
    for job in &items {
        println!("{}", line(job));
    }
    println!(
        "{} of {total} {}job(s)",
        items.len(),
        status
            .map(|s| format!("{} ", s.as_str()))
            .unwrap_or_default()
    );
    Ok(())
}

/// Queues the job `id` to run now (dead or waiting jobs only).
pub async fn retry(database: &DatabaseConfig, id: Uuid) -> anyhow::Result<()> {
    let pool = medsync_platform::db::pool(database);
    let mut conn = pool.acquire().await.context("connecting to PostgreSQL")?;
    let job = jobs::retry(&mut conn, id)
        .await
        .with_context(|| format!("retrying job {id}"))?;
    println!("{}", line(&job));
    Ok(())
}
