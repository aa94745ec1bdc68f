//! The worker: runs the durable jobs bookings enqueue (confirmations, reminders, notices) and
//! the periodic clean-ups.
//!
//! [`build`] returns an [`App`] bound to its health port, so tests start the very same
//! application the binary runs.

use std::time::Duration;

use axum::Router;
use medsync_core::app::App;
use medsync_core::config::{ConfigError, Env, Seconds, Source};
use medsync_core::domain::jobs;
use medsync_core::infra::{BaseConfig, Infra};
use medsync_core::service::Spec;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

/// The worker service.
pub const SPEC: Spec = Spec {
    name: "worker",
    about: "MedSync job worker",
    listen_var: "WORKER_LISTEN_ADDR",
    default_port: 8083,
};

/// Everything the worker reads from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// Health listen address, PostgreSQL, Redis.
    pub base: BaseConfig,
    /// `WORKER_STATS_INTERVAL_SECONDS` (default 15): how often the queue's depth is measured
    /// for `/metrics`.
    pub stats_interval: Duration,
}

impl Config {
    /// Reads the worker's variables.
    pub fn from_env<S: Source>(env: &Env<S>) -> Result<Self, ConfigError> {
        Ok(Self {
            base: BaseConfig::from_env(env, &SPEC)?,
            stats_interval: env
                .or(
                    "WORKER_STATS_INTERVAL_SECONDS",
                    Seconds(Duration::from_secs(15)),
                )?
                .0
                .max(Duration::from_secs(1)),
        })
    }
}

/// Connects (lazily) and binds the health listen address.
pub async fn build(config: Config) -> anyhow::Result<App> {
    let infra = Infra::connect(&config.base)?;
    build_with(config, infra).await
}

/// [`build`] with connections made by the caller (tests pass a fresh database).
pub async fn build_with(config: Config, infra: Infra) -> anyhow::Result<App> {
    let db = infra.db.clone();
    let interval = config.stats_interval;
    Ok(
        App::bind(&config.base.http, infra.readiness(), Router::new())
            .await?
            .with_task("queue-stats", move |shutdown| {
                queue_stats(db, interval, shutdown)
            }),
    )
}

/// Publishes `medsync_jobs{status}` every `interval` until shutdown. A failed measurement is
/// logged and retried at the next tick: the database may be restarting.
async fn queue_stats(
    db: PgPool,
    interval: Duration,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            _ = ticks.tick() => {}
        }
        match jobs::count_by_status(&db).await {
            Ok(counts) => {
                for (status, n) in counts {
                    #[allow(clippy::cast_precision_loss)]
                    metrics::gauge!("medsync_jobs", "status" => status.as_str()).set(n as f64);
                }
            }
            Err(error) => tracing::warn!(%error, "cannot measure the job queue"),
        }
    }
}
