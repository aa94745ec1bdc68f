//! The worker: runs the durable jobs bookings enqueue (confirmations, reminders, notices) and
//! the periodic clean-ups.
//!
//! [`build`] returns an [`App`] bound to its health port, so tests start the very same
//! application the binary runs.

pub mod handlers;
pub mod runner;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use medsync_domain::bookings::BookingRules;
use medsync_domain::jobs;
use medsync_platform::app::App;
use medsync_platform::config::{ConfigError, Env, Seconds, Source, TelegramConfig};
use medsync_platform::infra::{BaseConfig, Infra};
use medsync_platform::service::Spec;
use sqlx::PgPool;
use teloxide::adaptors::Throttle;
use teloxide::adaptors::throttle::{Limits, Settings};
use tokio_util::sync::CancellationToken;

use crate::handlers::Handlers;

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
    /// Token and Bot API URL the notifications go through.
    pub telegram: TelegramConfig,
    /// The clinic's time zone (`CLINIC_TIMEZONE`) for the times in messages.
    pub rules: BookingRules,
    /// `WORKER_ID` (default `worker-` and a random suffix): this worker's name on its jobs.
    pub worker_id: String,
    /// `WORKER_CONCURRENCY` (default 8): jobs run at once by this process.
    pub concurrency: usize,
    /// `WORKER_LEASE_SECONDS` (default 60): a job's lease, renewed while it runs; a dead
    /// worker's jobs are claimed again this long after its last renewal.
    pub lease: Duration,
    /// `WORKER_BACKOFF_BASE_MS` (default 10000): the delay before the first retry.
    pub backoff_base: Duration,
    /// `WORKER_BACKOFF_MAX_SECONDS` (default 3600): the longest delay between retries.
    pub backoff_max: Duration,
    /// `WORKER_POLL_SECONDS` (default 30): longest sleep without a notification.
    pub poll: Duration,
    /// `WORKER_CLEANUP_INTERVAL_SECONDS` (default 3600): how often clean-ups run.
    pub cleanup_interval: Duration,
    /// `JOB_RETENTION_DAYS` (default 7): succeeded jobs are deleted this long after;
    /// `AUDIT_RETENTION_DAYS` (default 365): audit events are deleted this long after.
    pub retention: medsync_domain::retention::Retention,
}

impl Config {
    /// Reads the worker's variables.
    pub fn from_env<S: Source>(env: &Env<S>) -> Result<Self, ConfigError> {
        let seconds = |var: &'static str, default: u64, min: u64| {
            env.or(var, Seconds(Duration::from_secs(default)))
                .map(|s| s.0.max(Duration::from_secs(min)))
        };
        let concurrency: u32 = env.or("WORKER_CONCURRENCY", 8)?;
        if !(1..=1024).contains(&concurrency) {
            return Err(ConfigError {
                var: "WORKER_CONCURRENCY",
                value: Some(concurrency.to_string()),
                problem: "is out of range".to_owned(),
                expected: "a number of jobs from 1 to 1024",
            });
        }
        let retention_days: u32 = env.or("JOB_RETENTION_DAYS", 7)?;
        let audit_days: u32 = env.or("AUDIT_RETENTION_DAYS", 365)?;
        let mut base = BaseConfig::from_env(env, &SPEC)?;
        // Every lane holds a connection while it claims or records, the listener one more,
        // the depth and clean-up loops one between them.
        base.database.max_connections = base.database.max_connections.max(concurrency + 3);
        Ok(Self {
            base,
            stats_interval: seconds("WORKER_STATS_INTERVAL_SECONDS", 15, 1)?,
            telegram: TelegramConfig::from_env(env)?,
            rules: medsync_platform::config::booking_rules(env)?,
            worker_id: env.or(
                "WORKER_ID",
                format!(
                    "worker-{}",
                    &uuid::Uuid::new_v4().simple().to_string()[..12]
                ),
            )?,
            concurrency: usize::try_from(concurrency).unwrap_or(8),
            lease: seconds("WORKER_LEASE_SECONDS", 60, 1)?,
            backoff_base: Duration::from_millis(env.or("WORKER_BACKOFF_BASE_MS", 10_000_u64)?),
            backoff_max: seconds("WORKER_BACKOFF_MAX_SECONDS", 3600, 1)?,
            poll: seconds("WORKER_POLL_SECONDS", 30, 1)?,
            cleanup_interval: seconds("WORKER_CLEANUP_INTERVAL_SECONDS", 3600, 1)?,
            retention: medsync_domain::retention::Retention {
                jobs: Duration::from_secs(u64::from(retention_days) * 86_400),
                audit: Duration::from_secs(u64::from(audit_days.max(1)) * 86_400),
            },
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
    let bot = match &config.telegram.bot_token {
        Some(token) => {
            // Throttle keeps within Telegram's limits (per chat and overall) before it
            // answers 429. Its own retry on 429 is off: a 429 that comes anyway puts the job
            // back in the queue until its retry_after, freeing the slot and surviving a
            // restart, instead of holding a running job while it waits.
            let bot = medsync_telegram::client(token, &config.telegram.api_url)?;
            Some(Throttle::spawn_with_settings(
                bot,
                Settings::default().limits(Limits::default()).no_retry(),
            ))
        }
        None => {
            tracing::warn!("TELEGRAM_BOT_TOKEN is not set: notifications are not sent");
            None
        }
    };
    let handlers = Arc::new(Handlers::new(
        infra.db.clone(),
        bot,
        config.rules.timezone.clone(),
    ));
    let settings = runner::Settings {
        worker_id: config.worker_id.clone(),
        concurrency: config.concurrency,
        lease: config.lease,
        backoff_base: config.backoff_base,
        backoff_max: config.backoff_max,
        poll: config.poll,
        // Inside the service's grace period, so the jobs still running can be put back.
        drain: config
            .base
            .http
            .shutdown_grace
            .saturating_sub(Duration::from_secs(1))
            .max(Duration::from_millis(500)),
    };
    let (jobs_db, cleanup_db) = (infra.db.clone(), infra.db.clone());
    let (cleanup_every, retention) = (config.cleanup_interval, config.retention);
    let token = handlers.token_health();
    let lanes = runner::Lanes::new(config.concurrency);
    let lanes_check = lanes.clone();
    let readiness = infra
        .readiness()
        .with_check("telegram", move || token.check())
        .with_check("lanes", move || lanes_check.check());
    Ok(App::bind(&config.base.http, readiness, Router::new())
        .await?
        .with_task("queue-stats", move |shutdown| {
            queue_stats(db, interval, shutdown)
        })
        .with_task("jobs", move |shutdown| {
            runner::run(jobs_db, handlers, settings, lanes, shutdown)
        })
        .with_task("clean-up", move |shutdown| {
            clean_up(cleanup_db, cleanup_every, retention, shutdown)
        }))
}

/// Runs the clean-ups every `every`; with several workers, one at a time does the work.
async fn clean_up(
    db: PgPool,
    every: Duration,
    retention: medsync_domain::retention::Retention,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            _ = ticks.tick() => {}
        }
        match medsync_domain::retention::clean_up(&db, retention).await {
            Ok(done) if done.ran => tracing::info!(
                link_codes = done.link_codes,
                jobs = done.jobs,
                refresh_tokens = done.refresh_tokens,
                idempotency_keys = done.idempotency_keys,
                audit_events = done.audit_events,
                "clean-up done"
            ),
            Ok(_) => tracing::debug!("another worker is cleaning up"),
            Err(error) => tracing::warn!(%error, "clean-up failed; next time"),
        }
    }
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
