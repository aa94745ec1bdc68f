//! Everything the worker reads from the environment.

use std::time::Duration;

use medsync_domain::bookings::BookingRules;
use medsync_platform::config::{
    BOOKING_RULES_VARIABLES, ConfigError, Configuration, Env, Seconds, Source, TelegramApiConfig,
};
use medsync_platform::infra::BaseConfig;

use crate::SPEC;
use crate::runner::Settings;

/// The worker's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Health listen address, PostgreSQL, Redis.
    pub base: BaseConfig,
    /// `WORKER_STATS_INTERVAL_SECONDS` (default 15): how often the queue's depth is measured
    /// for `/metrics`.
    pub stats_interval: Duration,
    /// Token and Bot API URL the notifications go through.
    pub telegram: TelegramApiConfig,
    /// The clinic's time zone (`CLINIC_TIMEZONE`) for the times in messages.
    pub rules: BookingRules,
    /// How the job loop runs: `WORKER_ID`, `WORKER_CONCURRENCY`, `WORKER_LEASE_SECONDS`,
    /// `WORKER_BACKOFF_BASE_MS`, `WORKER_BACKOFF_MAX_SECONDS`, `WORKER_POLL_SECONDS` (each
    /// with its default on [`Settings`]), and the drain from `SHUTDOWN_GRACE_SECONDS`.
    pub runner: Settings,
    /// `WORKER_CLEANUP_INTERVAL_SECONDS` (default 3600): how often clean-ups run.
    pub cleanup_interval: Duration,
    /// `JOB_RETENTION_DAYS` (default 7): succeeded jobs are deleted this long after;
    /// `AUDIT_RETENTION_DAYS` (default 365): audit events are deleted this long after.
    pub retention: medsync_domain::retention::Retention,
}

impl Configuration for Config {
    fn variables() -> Vec<&'static str> {
        [
            BaseConfig::variables(&SPEC).as_slice(),
            TelegramApiConfig::VARIABLES,
            BOOKING_RULES_VARIABLES,
            &[
                "WORKER_STATS_INTERVAL_SECONDS",
                "WORKER_ID",
                "WORKER_CONCURRENCY",
                "WORKER_LEASE_SECONDS",
                "WORKER_BACKOFF_BASE_MS",
                "WORKER_BACKOFF_MAX_SECONDS",
                "WORKER_POLL_SECONDS",
                "WORKER_CLEANUP_INTERVAL_SECONDS",
                "JOB_RETENTION_DAYS",
                "AUDIT_RETENTION_DAYS",
            ],
        ]
        .concat()
    }

    fn from_env<S: Source>(env: &Env<S>) -> Result<Self, ConfigError> {
        let seconds = |var: &'static str, default: u64, min: u64| {
            env.or(var, Seconds(Duration::from_secs(default)))
                .map(|s| s.0.max(Duration::from_secs(min)))
        };
        let concurrency: u32 = env.or_within(
            "WORKER_CONCURRENCY",
            8,
            1..=1024,
            "a number of jobs from 1 to 1024",
        )?;
        let retention_days: u32 = env.or("JOB_RETENTION_DAYS", 7)?;
        let audit_days: u32 = env.or("AUDIT_RETENTION_DAYS", 365)?;
        let mut base = BaseConfig::from_env(env, &SPEC)?;
        // Every lane holds a connection while it claims or records, the listener one more,
        // the depth and clean-up loops one between them.
        base.database.max_connections = base.database.max_connections.max(concurrency + 3);
        let runner = Settings {
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
            // Inside the service's grace period, so the jobs still running can be put back.
            drain: base
                .http
                .shutdown_grace
                .saturating_sub(Duration::from_secs(1))
                .max(Duration::from_millis(500)),
        };
        Ok(Self {
            base,
            stats_interval: seconds("WORKER_STATS_INTERVAL_SECONDS", 15, 1)?,
            telegram: TelegramApiConfig::from_env(env)?,
            rules: medsync_platform::config::booking_rules(env)?,
            runner,
            cleanup_interval: seconds("WORKER_CLEANUP_INTERVAL_SECONDS", 3600, 1)?,
            retention: medsync_domain::retention::Retention {
                jobs: Duration::from_secs(u64::from(retention_days) * 86_400),
                audit: Duration::from_secs(u64::from(audit_days.max(1)) * 86_400),
            },
        })
    }
}
