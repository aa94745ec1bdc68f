//! The job loop: claim due jobs up to the concurrency, run each under a lease that a
//! heartbeat keeps alive, record the outcome; sleep until a notification (`LISTEN
//! medsync_jobs`), the next due time, or a slot frees up.
//!
//! Shutdown: claiming stops at once; running jobs get `drain` to finish; those still running
//! then are put back in the queue (their attempt not counted), so nothing is left half-done
//! and forgotten. A worker killed outright (SIGKILL, power loss) leaves its jobs leased: the
//! lease runs out and another worker claims them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use medsync_core::domain::jobs::{self, Claimed, JobStatus};
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::handlers::{Handlers, Outcome};

/// How the loop behaves.
#[derive(Debug, Clone)]
pub struct Settings {
    /// This worker's name on the jobs it holds.
    pub worker_id: String,
    /// Jobs run at once.
    pub concurrency: usize,
    /// A claimed job is this worker's for this long, renewed every third of it while it runs.
    pub lease: Duration,
    /// The first retry's delay (doubling from there, with jitter).
    pub backoff_base: Duration,
    /// The longest delay between retries.
    pub backoff_max: Duration,
    /// Longest sleep without a notification (a missed one costs at most this).
    pub poll: Duration,
    /// How long running jobs may take to finish after shutdown begins.
    pub drain: Duration,
}

/// Runs jobs until `shutdown`.
pub async fn run(
    db: PgPool,
    handlers: Arc<Handlers>,
    settings: Settings,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let settings = Arc::new(settings);
    let permits = Arc::new(Semaphore::new(settings.concurrency));
    let mut running: JoinSet<()> = JoinSet::new();
    let mut listener: Option<PgListener> = None;
    tracing::info!(
        worker = settings.worker_id,
        concurrency = settings.concurrency,
        lease_s = settings.lease.as_secs_f64(),
        "taking jobs"
    );

    while !shutdown.is_cancelled() {
        while running.try_join_next().is_some() {}
        if listener.is_none() {
            listener = listen(&db).await;
        }

        let free = permits.available_permits();
        let mut wait = settings.poll;
        if free > 0 {
            match jobs::claim(
                &db,
                &settings.worker_id,
                i64::try_from(free)?,
                settings.lease,
            )
            .await
            {
                Ok(claimed) => {
                    let full = claimed.len() == free;
                    for job in claimed {
                        let permit = permits.clone().acquire_owned().await?;
                        let (db, handlers, settings) =
                            (db.clone(), handlers.clone(), settings.clone());
                        running.spawn(async move {
                            run_one(&db, &handlers, &settings, job).await;
                            drop(permit);
                        });
                    }
                    if full {
                        continue; // there may be more due
                    }
                    wait = until_next_due(&db, settings.poll).await;
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot claim jobs; retrying");
                    wait = Duration::from_secs(1);
                }
            }
        }

        let busy = permits.available_permits() == 0;
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(wait) => {}
            notified = recv(&mut listener) => {
                if let Err(error) = notified {
                    tracing::warn!(%error, "job notifications interrupted; polling meanwhile");
                    listener = None;
                }
            }
            Some(_) = running.join_next(), if busy => {}
        }
    }

    drain(&db, &settings, running).await;
    Ok(())
}

async fn listen(db: &PgPool) -> Option<PgListener> {
    let mut listener = match PgListener::connect_with(db).await {
        Ok(l) => l,
        Err(error) => {
            tracing::warn!(%error, "cannot listen for job notifications; polling meanwhile");
            return None;
        }
    };
    match listener.listen(jobs::NOTIFY_CHANNEL).await {
        Ok(()) => Some(listener),
        Err(error) => {
            tracing::warn!(%error, "cannot listen for job notifications; polling meanwhile");
            None
        }
    }
}

async fn recv(listener: &mut Option<PgListener>) -> Result<(), sqlx::Error> {
    match listener {
        Some(l) => l.recv().await.map(|_| ()),
        None => std::future::pending().await,
    }
}

/// How long to sleep when nothing is due: until the next due job, at most `poll`.
async fn until_next_due(db: &PgPool, poll: Duration) -> Duration {
    match jobs::next_due(db).await {
        Ok(Some(at)) => {
            let now = time::OffsetDateTime::now_utc();
            let ahead = (at - now).max(time::Duration::ZERO);
            Duration::try_from(ahead)
                .unwrap_or(poll)
                .min(poll)
                // Past its due time by a hair: a few milliseconds, not a hot loop.
                .max(Duration::from_millis(5))
        }
        Ok(None) => poll,
        Err(error) => {
            tracing::warn!(%error, "cannot read the next due time");
            Duration::from_secs(1)
        }
    }
}

async fn run_one(db: &PgPool, handlers: &Handlers, settings: &Settings, job: Claimed) {
    let kind = job.kind.clone();
    let lag = (time::OffsetDateTime::now_utc() - job.run_at)
        .as_seconds_f64()
        .max(0.0);
    metrics::histogram!("medsync_job_lag_seconds", "kind" => kind.clone()).record(lag);
    metrics::counter!("medsync_jobs_started_total", "kind" => kind.clone()).increment(1);
    let span = tracing::info_span!("job", id = %job.id, kind = %kind, attempt = job.attempts);
    let started = Instant::now();

    // Renew the lease while the job runs, so a slow job is not taken by another worker.
    let outcome = {
        let work = handlers.run(&job);
        tokio::pin!(work);
        let mut heartbeat = tokio::time::interval(settings.lease / 3);
        heartbeat.tick().await;
        loop {
            tokio::select! {
                outcome = &mut work => break outcome,
                _ = heartbeat.tick() => {
                    match jobs::extend(db, job.id, &settings.worker_id, settings.lease).await {
                        Ok(true) => {}
                        Ok(false) => tracing::warn!(parent: &span, "lost the job's lease"),
                        Err(error) => tracing::warn!(parent: &span, %error, "cannot renew the lease"),
                    }
                }
            }
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    metrics::histogram!("medsync_job_duration_seconds", "kind" => kind.clone()).record(seconds);

    let recorded = match &outcome {
        Outcome::Done(note) => {
            let r = jobs::complete(db, job.id, &settings.worker_id, note.as_deref()).await;
            metrics::counter!("medsync_jobs_succeeded_total", "kind" => kind.clone()).increment(1);
            tracing::info!(parent: &span, seconds, note = note.as_deref(), "job done");
            r.map(|_| ())
        }
        Outcome::Later { after, reason } => {
            tracing::info!(parent: &span, after_s = after.as_secs_f64(), reason, "job put off");
            jobs::postpone(db, job.id, &settings.worker_id, *after, reason)
                .await
                .map(|_| ())
        }
        Outcome::Failed(error) => {
            let delay = jobs::backoff(job.attempts, settings.backoff_base, settings.backoff_max);
            let status = jobs::fail(db, job.id, &settings.worker_id, error, delay).await;
            if let Ok(Some(JobStatus::Dead)) = status {
                metrics::counter!("medsync_jobs_dead_total", "kind" => kind.clone()).increment(1);
                tracing::error!(parent: &span, error, attempts = job.attempts, "job dead: no attempts left");
            } else {
                metrics::counter!("medsync_jobs_failed_total", "kind" => kind.clone()).increment(1);
                tracing::warn!(parent: &span, error, retry_in_s = delay.as_secs_f64(), "job failed; will retry");
            }
            status.map(|_| ())
        }
    };
    if let Err(error) = recorded {
        // The lease runs out and another worker runs the job again: late, not lost.
        tracing::error!(parent: &span, %error, "cannot record the job's outcome");
    }
}

async fn drain(db: &PgPool, settings: &Settings, mut running: JoinSet<()>) {
    if running.is_empty() {
        return;
    }
    tracing::info!(jobs = running.len(), "waiting for running jobs to finish");
    let finished = tokio::time::timeout(settings.drain, async {
        while running.join_next().await.is_some() {}
    })
    .await;
    if finished.is_err() {
        running.abort_all();
        while running.join_next().await.is_some() {}
        match jobs::release_all(db, &settings.worker_id).await {
            Ok(n) => tracing::warn!(
                jobs = n,
                "stopped before finishing; jobs put back in the queue"
            ),
            Err(error) => {
                tracing::error!(%error, "cannot put unfinished jobs back; their leases will expire")
            }
        }
    }
}
