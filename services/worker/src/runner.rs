//! The job loop: `concurrency` lanes, each running one job at a time under a lease that a
//! heartbeat keeps alive and recording the outcome. A lane with nothing to do takes a job
//! another lane claimed, or else claims in one statement up to one job per lane, hands the
//! others over (a wake-up each, for lanes that wait) and runs its own; when nothing is due it
//! sleeps until a notification (`LISTEN medsync_jobs`: one lane woken, which claims for the
//! others), the next due time, or at most the poll interval. So a deep queue is drained with
//! one claim per `concurrency` jobs, not one per job, and a job queued into an idle worker
//! wakes one lane, not all of them (`scripts/bench-worker.sh` measured both).
//!
//! A job handed over waits for the next lane to free up, a job's time at most when every lane
//! is busy; should it wait longer than a third of its lease, its lease is renewed before it
//! runs, and it is dropped if it is no longer this worker's (another worker took it when the
//! lease ran out), so it never runs twice.
//!
//! A job's handler runs in a task of its own: one that panics fails its job (retried, then
//! dead, like any failure) and the lane goes on. A lane that ends for any other reason while
//! the worker is not stopping is logged and replaced; [`Lanes`] counts the live ones for
//! `/readyz`. A job whose worker dies while running it is given up as `dead` once its last
//! allowed attempt's lease expires (see `CLAIM_SQL`), so a job that kills its worker every
//! time is not run forever.
//!
//! Shutdown: claiming stops at once; running jobs get `drain` to finish; those still running
//! then, and those claimed but not yet started, are put back in the queue (their attempt not
//! counted), so nothing is left half-done and forgotten. A worker killed outright (SIGKILL, power loss) leaves its jobs leased: the
//! lease runs out and another worker claims them.

use std::any::Any;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument as _;

use medsync_domain::jobs::{self, Claimed, JobStatus};
use sqlx::PgPool;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use crate::claiming::{Shared, listen, until_next_due};
use crate::handlers::{Handlers, Outcome};
pub use crate::lanes::Lanes;

/// How the loop behaves.
#[derive(Debug, Clone)]
pub struct Settings {
    /// This worker's name on the jobs it holds.
    pub worker_id: String,
    /// Jobs run at once (lanes).
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
    lanes_live: Lanes,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let settings = Arc::new(settings);
    let shared = Arc::new(Shared::default());
    // Every counter of every kind exported from the start, at 0: a dashboard or an alert rule
    // that names one finds it before the first failure, and `increase()` sees that failure.
    for kind in medsync_domain::jobs::KINDS {
        for counter in [
            "medsync_jobs_started_total",
            "medsync_jobs_succeeded_total",
            "medsync_jobs_failed_total",
            "medsync_jobs_dead_total",
        ] {
            metrics::counter!(counter, "kind" => kind).increment(0);
        }
    }
    tracing::info!(
        worker = settings.worker_id,
        concurrency = settings.concurrency,
        lease_s = settings.lease.as_secs_f64(),
        "taking jobs"
    );
    let listening = tokio::spawn(listen(db.clone(), shared.clone(), shutdown.clone()));
    let mut lanes = JoinSet::new();
    let spawn_lane = |lanes: &mut JoinSet<()>| {
        let (db, handlers, settings, shared, shutdown) = (
            db.clone(),
            handlers.clone(),
            settings.clone(),
            shared.clone(),
            shutdown.clone(),
        );
        let guard = lanes_live.enter();
        lanes.spawn(async move {
            let _live = guard;
            lane(&db, &handlers, &settings, &shared, &shutdown).await;
        });
    };
    for _ in 0..settings.concurrency {
        spawn_lane(&mut lanes);
    }
    // Supervise: a lane that ends before shutdown (a bug outside any job) is replaced.
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            Some(ended) = lanes.join_next() => {
                if shutdown.is_cancelled() {
                    break;
                }
                let why = match ended {
                    Ok(()) => "returned".to_owned(),
                    Err(e) if e.is_panic() => format!("panicked: {}", panic_message(&*e.into_panic())),
                    Err(e) => e.to_string(),
                };
                metrics::counter!("medsync_worker_lane_restarts_total").increment(1);
                tracing::error!(why, "a job lane ended; starting another");
                // Not in a hot loop should a lane die at once every time.
                tokio::time::sleep(Duration::from_millis(100)).await;
                spawn_lane(&mut lanes);
            }
        }
    }
    listening.abort();
    drain(&db, &settings, lanes, &shared).await;
    Ok(())
}

/// What a panic said, when it said it with a string (as `panic!` and `expect` do).
fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// One lane: take a job handed over, or claim up to one per lane and run the first, again;
/// when none is due, sleep until woken.
async fn lane(
    db: &PgPool,
    handlers: &Arc<Handlers>,
    settings: &Settings,
    shared: &Shared,
    shutdown: &CancellationToken,
) {
    while !shutdown.is_cancelled() {
        // Registered before claiming, so a hand-over or a notification that comes while the
        // claim runs still wakes this lane afterwards.
        let woken = shared.wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        if let Some((job, claimed)) = shared.take() {
            if claimed.elapsed() < settings.lease / 3 || still_ours(db, settings, &job).await {
                start(db, handlers, settings, job).await;
            }
            continue;
        }
        let limit = i64::try_from(settings.concurrency).unwrap_or(1).max(1);
        let wait = match jobs::claim(db, &settings.worker_id, limit, settings.lease).await {
            Ok(claimed) => {
                let mut claimed = claimed.into_iter();
                if let Some(job) = claimed.next() {
                    shared.hand_over(claimed);
                    start(db, handlers, settings, job).await;
                    continue;
                }
                until_next_due(db, settings.poll).await
            }
            Err(error) => {
                tracing::warn!(%error, "cannot claim jobs; retrying");
                Duration::from_secs(1)
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = &mut woken => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// Renews the lease of a job that waited after it was claimed; false when it is no longer
/// this worker's (its lease ran out and another took it), so it must not run here.
async fn still_ours(db: &PgPool, settings: &Settings, job: &Claimed) -> bool {
    match jobs::extend(db, job.id, &settings.worker_id, settings.lease).await {
        Ok(true) => true,
        Ok(false) => {
            tracing::warn!(id = %job.id, kind = job.kind, "a job handed over lost its lease before it ran");
            false
        }
        Err(error) => {
            // Run it all the same: completing it checks the lease again.
            tracing::warn!(id = %job.id, %error, "cannot renew a handed-over job's lease");
            true
        }
    }
}

/// A claimed job: run it, or record it dead when the claim gave it up.
async fn start(db: &PgPool, handlers: &Arc<Handlers>, settings: &Settings, job: Claimed) {
    if job.status == JobStatus::Dead {
        metrics::counter!("medsync_jobs_dead_total", "kind" => job.kind.clone()).increment(1);
        tracing::error!(
            id = %job.id,
            kind = job.kind,
            attempts = job.attempts,
            "job dead: its worker stopped or hung on its last allowed attempt"
        );
    } else {
        run_one(db, handlers, settings, job).await;
    }
}

async fn run_one(db: &PgPool, handlers: &Arc<Handlers>, settings: &Settings, job: Claimed) {
    let kind = job.kind.clone();
    let lag = jiff::Timestamp::now()
        .duration_since(job.run_at)
        .as_secs_f64()
        .max(0.0);
    metrics::histogram!("medsync_job_lag_seconds", "kind" => kind.clone()).record(lag);
    metrics::counter!("medsync_jobs_started_total", "kind" => kind.clone()).increment(1);
    // The request that enqueued the job names its span, so its lines (and its handler's: the
    // messages sent) are found by the same id as the request's.
    // As a trace span (when traces are exported) it continues the enqueuing request's trace.
    let span = tracing::info_span!(
        "job",
        id = %job.id,
        kind = %kind,
        attempt = job.attempts,
        request_id = job.request_id.as_deref().unwrap_or("-"),
        otel.name = format!("job {kind}"),
        otel.kind = "consumer",
    );
    medsync_platform::traces::continue_trace(&span, job.traceparent.as_deref(), None);
    let started = Instant::now();

    // Renew the lease while the job runs, so a slow job is not taken by another worker. The
    // handler runs as a task of its own, so a panic in it fails this job, not the lane; the
    // task is aborted with the lane (shutdown).
    let outcome = {
        let (handlers, claimed) = (handlers.clone(), job.clone());
        let work = AbortOnDropHandle::new(tokio::spawn(
            async move { handlers.run(&claimed).await }.instrument(span.clone()),
        ));
        let work = async {
            match work.await {
                Ok(outcome) => outcome,
                Err(e) if e.is_panic() => Outcome::Failed(format!(
                    "the job's handler panicked: {}",
                    panic_message(&*e.into_panic())
                )),
                Err(e) => Outcome::Failed(format!("the job's handler did not finish: {e}")),
            }
        };
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

async fn drain(db: &PgPool, settings: &Settings, mut running: JoinSet<()>, shared: &Shared) {
    tracing::info!("waiting for running jobs to finish");
    let finished = tokio::time::timeout(settings.drain, async {
        while running.join_next().await.is_some() {}
    })
    .await;
    // Claimed for a lane but not started: back to the queue with the unfinished ones.
    if finished.is_err() || shared.left_over() > 0 {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_counts_the_live_lanes() {
        let lanes = Lanes::new(2);
        assert_eq!(lanes.check(), Err("0 of 2 job lanes running".to_owned()));
        let one = lanes.enter();
        let two = lanes.enter();
        assert_eq!(lanes.check(), Ok(()));
        drop(one);
        assert_eq!(lanes.check(), Err("1 of 2 job lanes running".to_owned()));
        drop(two);
    }

    #[test]
    fn a_panic_message_is_read_from_either_string_type() {
        let text: Box<dyn Any + Send> = Box::new("static");
        assert_eq!(panic_message(&*text), "static");
        let owned: Box<dyn Any + Send> = Box::new(String::from("formatted 1"));
        assert_eq!(panic_message(&*owned), "formatted 1");
        let other: Box<dyn Any + Send> = Box::new(7_u8);
        assert_eq!(panic_message(&*other), "(no message)");
    }
}
