//! `manage wait-ready`: a bounded wait for PostgreSQL and Redis, and optionally for the schema.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use medsync_platform::config::{DatabaseConfig, RedisConfig};
use medsync_platform::health::Readiness;
use medsync_platform::redis::Redis;
use sqlx::PgPool;

/// Checks both dependencies every second until both answer (and, with `schema`, until every
/// migration compiled into this binary is applied), or fails after `timeout` naming what never
/// was ready and its last error.
///
/// The schema wait is what a development service uses instead of depending on the one-shot
/// `migrate` container: restarting one service then never re-runs the one-shot, and a first
/// start simply waits until the one-shot has applied the migrations.
pub async fn until_ready(
    database: &DatabaseConfig,
    redis: &RedisConfig,
    timeout: Duration,
    schema: bool,
) -> anyhow::Result<()> {
    let pool = medsync_platform::db::pool(database);
    let redis = Redis::connect(redis).context("REDIS_URL")?;
    let readiness = Readiness::new(pool.clone(), redis);
    let started = Instant::now();
    loop {
        let report = readiness.check().await;
        let mut why = Vec::new();
        for (name, check) in [
            ("PostgreSQL", report.postgres.as_ref()),
            ("Redis", report.redis.as_ref()),
        ] {
            if let Some(error) = check.and_then(|c| c.error.as_ref()) {
                why.push(format!("{name} ({error})"));
            }
        }
        if why.is_empty() && schema {
            match missing_migrations(&pool).await {
                Ok(missing) if missing.is_empty() => {}
                Ok(missing) => why.push(format!(
                    "the schema ({} of {} migrations not applied, the first {})",
                    missing.len(),
                    medsync_domain::MIGRATOR.iter().count(),
                    missing[0]
                )),
                Err(error) => why.push(format!("the schema ({error})")),
            }
        }
        if why.is_empty() {
            tracing::info!(
                waited_ms = started.elapsed().as_millis(),
                schema,
                "PostgreSQL and Redis answer"
            );
            return Ok(());
        }
        if started.elapsed() >= timeout {
            anyhow::bail!(
                "not ready after {} s: {} never ready",
                timeout.as_secs(),
                why.join(" and ")
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The versions of the embedded migrations that the database has not applied successfully.
async fn missing_migrations(pool: &PgPool) -> Result<Vec<i64>, sqlx::Error> {
    let applied: Vec<i64> = match sqlx::query_scalar(
        "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version",
    )
    .fetch_all(pool)
    .await
    {
        Ok(applied) => applied,
        // No migration ever ran: the bookkeeping table does not exist yet.
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P01") => Vec::new(),
        Err(e) => return Err(e),
    };
    Ok(medsync_domain::MIGRATOR
        .iter()
        .map(|m| m.version)
        .filter(|version| applied.binary_search(version).is_err())
        .collect())
}
