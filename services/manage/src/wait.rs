//! `manage wait-ready`: a bounded wait for PostgreSQL and Redis.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use medsync_core::config::{DatabaseConfig, RedisConfig};
use medsync_core::health::Readiness;
use medsync_core::redis::Redis;

/// Checks both dependencies every second until both answer, or fails after `timeout` naming
/// the ones that never did and their last error.
pub async fn until_ready(
    database: &DatabaseConfig,
    redis: &RedisConfig,
    timeout: Duration,
) -> anyhow::Result<()> {
    let pool = medsync_core::db::pool(database).context("DATABASE_URL")?;
    let redis = Redis::connect(redis).context("REDIS_URL")?;
    let readiness = Readiness::new(pool, redis);
    let started = Instant::now();
    loop {
        let report = readiness.check().await;
        if report.is_ready() {
            tracing::info!(
                waited_ms = started.elapsed().as_millis(),
                "PostgreSQL and Redis answer"
            );
            return Ok(());
        }
        if started.elapsed() >= timeout {
            let mut why = Vec::new();
            for (name, check) in [("PostgreSQL", &report.postgres), ("Redis", &report.redis)] {
                if let Some(error) = &check.error {
                    why.push(format!("{name} ({error})"));
                }
            }
            anyhow::bail!(
                "not ready after {} s: {} never answered",
                timeout.as_secs(),
                why.join(" and ")
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
