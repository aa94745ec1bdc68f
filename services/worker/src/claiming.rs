//! How lanes get their jobs without asking PostgreSQL once per job: the jobs one lane claimed
//! for the others ([`Shared`]), the notifications that wake a lane ([`listen`]) and how long a
//! lane sleeps when nothing is due ([`until_next_due`]). The lanes themselves are in
//! [`crate::runner`].

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use medsync_domain::jobs::{self, Claimed};
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Jobs claimed by one lane for the others.
#[derive(Default)]
pub(crate) struct Shared {
    /// Claimed for another lane, with when.
    handed_over: Mutex<VecDeque<(Claimed, Instant)>>,
    /// Wakes one waiting lane per job handed over, or per notification.
    pub(crate) wake: Notify,
}

impl Shared {
    pub(crate) fn take(&self) -> Option<(Claimed, Instant)> {
        self.handed_over
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop_front()
    }

    pub(crate) fn hand_over(&self, jobs: impl Iterator<Item = Claimed>) {
        let now = Instant::now();
        let mut queue = self
            .handed_over
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let before = queue.len();
        queue.extend(jobs.map(|job| (job, now)));
        let added = queue.len() - before;
        drop(queue);
        for _ in 0..added {
            self.wake.notify_one();
        }
    }

    pub(crate) fn left_over(&self) -> usize {
        self.handed_over
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }
}

/// Wakes a lane whenever a job becomes queued (it claims for the other waiting lanes too);
/// reconnects when the listening connection breaks (meanwhile lanes poll).
pub(crate) async fn listen(db: PgPool, shared: Arc<Shared>, shutdown: CancellationToken) {
    while !shutdown.is_cancelled() {
        let mut listener = match PgListener::connect_with(&db).await {
            Ok(l) => l,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for job notifications; polling meanwhile");
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
        };
        if let Err(error) = listener.listen(jobs::NOTIFY_CHANNEL).await {
            tracing::warn!(%error, "cannot listen for job notifications; polling meanwhile");
            tokio::time::sleep(Duration::from_secs(2)).await;
            continue;
        }
        // Jobs queued while nobody listened: let a lane look.
        shared.wake.notify_one();
        loop {
            match listener.recv().await {
                Ok(_) => shared.wake.notify_one(),
                Err(error) => {
                    tracing::warn!(%error, "job notifications interrupted; reconnecting");
                    break;
                }
            }
        }
    }
}

/// How long to sleep when nothing is due: until the next due job, at most `poll`.
pub(crate) async fn until_next_due(db: &PgPool, poll: Duration) -> Duration {
    match jobs::next_due(db).await {
        Ok(Some(at)) => {
            let ahead = at.duration_since(jiff::Timestamp::now());
            Duration::try_from(ahead)
                .unwrap_or(Duration::ZERO)
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
