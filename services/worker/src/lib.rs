//! The worker: runs the durable jobs bookings enqueue (confirmations, reminders, notices) and
//! the periodic clean-ups.
//!
//! [`build`] returns an [`App`] bound to its health port, so tests start the very same
//! application the binary runs.

mod claiming;
mod config;
pub mod handlers;
mod lanes;
pub mod runner;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use medsync_domain::jobs;
use medsync_platform::app::App;
use medsync_platform::infra::Infra;
use medsync_platform::service::Spec;
use sqlx::PgPool;
use teloxide::adaptors::Throttle;
use teloxide::adaptors::throttle::{Limits, Settings};
use tokio_util::sync::CancellationToken;

use crate::handlers::Handlers;

pub use config::Config;

/// The worker service.
pub const SPEC: Spec = Spec {
    name: "worker",
    about: "MedSync job worker",
    listen_var: "WORKER_LISTEN_ADDR",
    default_port: 8083,
};

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
    let settings = config.runner;
    let (jobs_db, cleanup_db) = (infra.db.clone(), infra.db.clone());
    let (cleanup_every, retention) = (config.cleanup_interval, config.retention);
    let token = handlers.token_health();
    let lanes = runner::Lanes::new(settings.concurrency);
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

/// Publishes `medsync_jobs{status}` and `medsync_jobs_oldest_due_seconds` every `interval`
/// until shutdown. A failed measurement is
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
        match jobs::oldest_due_seconds(&db).await {
            Ok(seconds) => metrics::gauge!("medsync_jobs_oldest_due_seconds").set(seconds),
            Err(error) => tracing::warn!(%error, "cannot measure the job queue's lag"),
        }
    }
}
