//! How many job lanes run, of how many should: the worker's `lanes` readiness check and its
//! `medsync_worker_lanes` gauges.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How many lanes are running, of how many there should be: the worker's `/readyz` check.
#[derive(Debug, Clone)]
pub struct Lanes {
    live: Arc<AtomicUsize>,
    wanted: usize,
}

impl Lanes {
    /// Lanes for a worker running `wanted` at once (none live yet).
    pub fn new(wanted: usize) -> Self {
        Self {
            live: Arc::new(AtomicUsize::new(0)),
            wanted,
        }
    }

    /// Ready when every lane is running. Also publishes `medsync_worker_lanes{state}` (live
    /// and wanted), as it is asked at every scrape of `/metrics`.
    pub fn check(&self) -> Result<(), String> {
        let live = self.live.load(Ordering::Relaxed);
        #[allow(clippy::cast_precision_loss)]
        {
            metrics::gauge!("medsync_worker_lanes", "state" => "live").set(live as f64);
            metrics::gauge!("medsync_worker_lanes", "state" => "wanted").set(self.wanted as f64);
        }
        if live >= self.wanted {
            Ok(())
        } else {
            Err(format!("{live} of {} job lanes running", self.wanted))
        }
    }

    /// Counts a lane as live until the guard is dropped (the lane ended, however).
    pub(crate) fn enter(&self) -> LaneGuard {
        self.live.fetch_add(1, Ordering::Relaxed);
        LaneGuard(self.live.clone())
    }
}

pub(crate) struct LaneGuard(Arc<AtomicUsize>);

impl Drop for LaneGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
