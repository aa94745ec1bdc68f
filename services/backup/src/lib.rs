//! The backup service: logical backups of PostgreSQL (`pg_dump`, custom format) into a
//! directory, one when it starts and then on `BACKUP_SCHEDULE`, each checksummed and written
//! atomically, old ones pruned by the retention rules; `/readyz` fails (and the alert fires)
//! when the newest backup is older than the schedule allows; each backup is copied to an
//! S3-compatible bucket when one is configured ([`offsite`]). The one-shot commands (`now`,
//! `list`, `verify`, `restore`) live in the same binary, so a restore runs with exactly the
//! PostgreSQL client the backups were taken with.

pub mod archive;
mod config;
pub mod offsite;
mod pg;
pub mod restore;
pub mod retention;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use jiff::Timestamp;
use medsync_platform::app::App;
use medsync_platform::health::Readiness;
use medsync_platform::service::Spec;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use config::{Config, Schedule};
pub use pg::PgTarget;

/// The backup service.
pub const SPEC: Spec = Spec {
    name: "backup",
    about: "MedSync database backups: scheduled, checksummed, pruned; and their restore",
    listen_var: "BACKUP_LISTEN_ADDR",
    default_port: 8085,
};

/// After a failed backup, the next try comes this soon (or at the schedule, if sooner).
const RETRY: Duration = Duration::from_secs(300);

/// The newest good backup's time, shared between the schedule and the readiness check.
#[derive(Debug, Clone, Default)]
struct Newest(Arc<Mutex<Option<Timestamp>>>);

impl Newest {
    fn get(&self) -> Option<Timestamp> {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn set(&self, at: Timestamp) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(at);
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!("medsync_backup_last_success_timestamp_seconds").set(at.as_second() as f64);
    }

    /// `Ok` while the newest backup is younger than `stale_after`.
    fn check(&self, stale_after: Duration) -> Result<(), String> {
        let Some(at) = self.get() else {
            return Err("no backup yet".to_owned());
        };
        let age = Timestamp::now().duration_since(at).unsigned_abs();
        if age <= stale_after {
            Ok(())
        } else {
            Err(format!(
                "the newest backup is {} s old (at most {} s allowed)",
                age.as_secs(),
                stale_after.as_secs()
            ))
        }
    }
}

/// Binds the health address; the schedule starts when the app runs.
pub async fn build(config: Config) -> anyhow::Result<App> {
    std::fs::create_dir_all(&config.dir)
        .map_err(|e| anyhow::anyhow!("BACKUP_DIR {}: {e}", config.dir.display()))?;
    let pool = medsync_platform::db::pool(&config.database());
    let newest = Newest::default();
    let stale_after = config.schedule.stale_after();
    let check = newest.clone();
    let readiness =
        Readiness::postgres_only(pool).with_check("backup", move || check.check(stale_after));
    // Bound first: that installs the metrics recorder the gauges below are recorded in.
    let app = App::bind(&config.http, readiness, Router::new()).await?;
    metrics::gauge!("medsync_backup_stale_after_seconds").set(stale_after.as_secs_f64());
    for outcome in ["ok", "failed"] {
        metrics::counter!("medsync_backup_runs_total", "outcome" => outcome).increment(0);
    }
    let backups = archive::list(&config.dir)?;
    #[allow(clippy::cast_precision_loss)]
    metrics::gauge!("medsync_backup_files").set(backups.len() as f64);
    if let Some(last) = backups.last() {
        newest.set(last.taken_at);
    }
    metrics::gauge!("medsync_backup_offsite_configured").set(if config.offsite.is_some() {
        1.0
    } else {
        0.0
    });
    for outcome in ["ok", "failed"] {
        metrics::counter!("medsync_backup_uploads_total", "outcome" => outcome).increment(0);
    }
    // No copy yet: the alert on the copies' age (when they are configured) counts from the
    // epoch until the first.
    metrics::gauge!("medsync_backup_last_upload_timestamp_seconds").set(0.0);
    let taken = Arc::new(Notify::new());
    let app = match config.offsite.clone() {
        Some(offsite) => {
            let (dir, wake) = (config.dir.clone(), taken.clone());
            app.with_task("offsite", move |shutdown| {
                copy_off_host(offsite, dir, wake, shutdown)
            })
        }
        None => app,
    };
    Ok(app.with_task("schedule", move |shutdown| {
        schedule(config, newest, taken, shutdown)
    }))
}

/// Uploads the backups not yet off the host: at start, after each backup, and every
/// [`RETRY`] while an upload fails (the store is down, the credentials are wrong). An upload
/// under way when the service is asked to stop is abandoned; the next start uploads it.
async fn copy_off_host(
    offsite: offsite::Offsite,
    dir: PathBuf,
    taken: Arc<Notify>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(120))
        .build()?;
    loop {
        let failed = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            outcome = offsite.upload_pending(&client, &dir) => outcome.err(),
        };
        if let Some(error) = &failed {
            tracing::error!(
                error = format!("{error:#}"),
                "copying a backup off the host failed; trying again later"
            );
        }
        let retry = async {
            match failed {
                Some(_) => tokio::time::sleep(RETRY).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            () = taken.notified() => {}
            () = retry => {}
        }
    }
}

/// A backup now, then one every interval after the newest good one; a failed one is tried
/// again after [`RETRY`]. A backup under way when the service is asked to stop is abandoned
/// (its partial file removed): the next start takes one.
async fn schedule(
    config: Config,
    newest: Newest,
    taken: Arc<Notify>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut wait = Duration::ZERO;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            () = tokio::time::sleep(wait) => {}
        }
        let outcome = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            outcome = take_and_prune(&config) => outcome,
        };
        wait = match outcome {
            Ok(backup) => {
                newest.set(backup.backup.taken_at);
                taken.notify_one();
                config.schedule.0
            }
            Err(error) => {
                tracing::error!(error = format!("{error:#}"), "backup failed");
                config.schedule.0.min(RETRY)
            }
        };
    }
}

/// Takes a backup, records it in the metrics, and prunes the directory.
pub async fn take_and_prune(config: &Config) -> anyhow::Result<archive::Taken> {
    let taken = match archive::take(&config.target, &config.dir).await {
        Ok(taken) => taken,
        Err(error) => {
            metrics::counter!("medsync_backup_runs_total", "outcome" => "failed").increment(1);
            return Err(error);
        }
    };
    metrics::counter!("medsync_backup_runs_total", "outcome" => "ok").increment(1);
    #[allow(clippy::cast_precision_loss)]
    metrics::gauge!("medsync_backup_last_size_bytes").set(taken.backup.size as f64);
    metrics::gauge!("medsync_backup_last_duration_seconds").set(taken.seconds);
    tracing::info!(
        file = %taken.backup.path.display(),
        bytes = taken.backup.size,
        seconds = taken.seconds,
        sha256 = taken.sha256,
        "backup taken"
    );
    match prune(&config.dir, config.keep) {
        Ok(left) => {
            #[allow(clippy::cast_precision_loss)]
            metrics::gauge!("medsync_backup_files").set(left as f64);
        }
        Err(error) => tracing::warn!(error = format!("{error:#}"), "pruning old backups failed"),
    }
    Ok(taken)
}

/// Deletes the backups the retention rules do not keep; returns how many are left.
pub fn prune(dir: &Path, keep: retention::Keep) -> anyhow::Result<usize> {
    let backups = archive::list(dir)?;
    let times: Vec<Timestamp> = backups.iter().map(|b| b.taken_at).collect();
    let expired = retention::expired(&times, keep);
    for &i in &expired {
        let backup = &backups[i];
        std::fs::remove_file(&backup.path)?;
        drop(std::fs::remove_file(backup.checksum_path()));
        drop(std::fs::remove_file(offsite::marker_path(backup)));
        tracing::info!(file = %backup.path.display(), "old backup deleted");
    }
    Ok(backups.len() - expired.len())
}
