//! Free-slots answers, kept: the same week of the same doctor is asked for by every patient
//! who opens the doctor's page, and computing it (the calendar statement, then 2,000 slots
//! written as 160 KB of JSON) costs far more than sending it again.
//!
//! An answer is exactly what computing it now would give, because an answer is served only
//! while none of what decided it can have changed:
//!
//! - **the data**: every change to a doctor's slot length, weekly hours, time off or bookings
//!   is announced by PostgreSQL on `calendar_changed` when it commits (triggers, migration
//!   `20261208000000_calendar_changes.sql`), whoever made it: this api, another replica, the
//!   bot, `manage`, an operator's psql. Each announcement takes a number from a counter; an
//!   answer carries the counter's value read *before* its statement ran, and is served only
//!   while no announcement for its doctor (or for everyone) has a larger number. A change
//!   committed before the answer's statement began was announced before too (NOTIFY is
//!   delivered after commit), so the answer saw it; one committed later has a larger number.
//! - **the connection that listens**: while it is down nothing is kept or served, and each
//!   (re)connection counts as a change for everyone (announcements may have been missed).
//!   A connection that fails silently is bounded by [`MAX_AGE`], and by a ping every 10 s.
//! - **the clock**: an answer leaves out slots that have begun, so it holds until its first
//!   slot begins (or [`MAX_AGE`]), never past.
//!
//! Answers are weighed by their bytes (`SLOTS_CACHE_MB`, 0 turns the cache off) and evicted
//! by [quick_cache]'s S3-FIFO policy. The gzip form, which browsers ask for, is made once per
//! answer, not once per request.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use jiff::{SignedDuration, Timestamp};
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The channel the triggers announce changes on.
pub const CHANNEL: &str = "calendar_changed";

/// The longest an answer is kept, whatever else holds.
pub const MAX_AGE: SignedDuration = SignedDuration::from_secs(60);

/// One answer's question: the doctor and the range (the clinic's zone is the process's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    /// The doctor.
    pub doctor: Uuid,
    /// From.
    pub from: Timestamp,
    /// To, exclusive.
    pub to: Timestamp,
}

/// A computed answer.
#[derive(Debug)]
pub struct Answer {
    json: Bytes,
    gzip: OnceLock<Bytes>,
    /// The change counter before the statement ran.
    seen: u64,
    /// When it stops being the answer: its first slot's start, or [`MAX_AGE`] after it was made.
    until: Timestamp,
}

impl Answer {
    /// An answer made now from a statement run after [`SlotsCache::ticket`] gave `seen`.
    pub fn new(json: Vec<u8>, first_slot: Option<Timestamp>, seen: u64) -> Self {
        let aged = Timestamp::now()
            .checked_add(MAX_AGE)
            .unwrap_or(Timestamp::MAX);
        Self {
            json: Bytes::from(json),
            gzip: OnceLock::new(),
            seen,
            until: first_slot.map_or(aged, |first| first.min(aged)),
        }
    }

    /// The response: gzip when the request accepts it, JSON otherwise.
    pub fn respond(&self, request: &HeaderMap) -> Response {
        let vary = (header::VARY, HeaderValue::from_static("accept-encoding"));
        let json = (
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if accepts_gzip(request) {
            let body = self.gzip.get_or_init(|| gzip(&self.json)).clone();
            let encoding = (header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            ([json, vary, encoding], body).into_response()
        } else {
            ([json, vary], self.json.clone()).into_response()
        }
    }

    /// The JSON, room for its gzip form (made later, when first asked for: a week's answer
    /// compresses about 15-fold) and the bookkeeping.
    fn weight(&self) -> u64 {
        u64::try_from(self.json.len() + self.json.len() / 8 + 256).unwrap_or(u64::MAX)
    }
}

fn gzip(json: &[u8]) -> Bytes {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(json.len() / 8),
        flate2::Compression::default(),
    );
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(json);
    Bytes::from(encoder.finish().unwrap_or_default())
}

/// Whether `Accept-Encoding` lists gzip with a non-zero weight (RFC 9110 §12.5.3).
pub fn accepts_gzip(request: &HeaderMap) -> bool {
    request
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let weight = parts
                .find_map(|p| p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")))
                .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok());
            name.eq_ignore_ascii_case("gzip") && weight.is_some_and(|q| q > 0.0)
        })
}

#[derive(Clone)]
struct ByBytes;

impl quick_cache::Weighter<Key, Arc<Answer>> for ByBytes {
    fn weight(&self, _key: &Key, answer: &Arc<Answer>) -> u64 {
        answer.weight()
    }
}

struct Inner {
    answers: quick_cache::sync::Cache<Key, Arc<Answer>, ByBytes>,
    /// Counts announcements (and reconnections).
    counter: AtomicU64,
    /// Per doctor: the counter at its last announcement.
    changed: Mutex<HashMap<Uuid, u64>>,
    /// The counter at the last change for everyone.
    everyone: AtomicU64,
    /// Whether announcements are being received.
    listening: AtomicBool,
}

/// The kept answers; cheap to clone. Off (never keeps anything) when made with 0 bytes.
#[derive(Clone, Default)]
pub struct SlotsCache {
    inner: Option<Arc<Inner>>,
}

impl std::fmt::Debug for SlotsCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlotsCache")
            .field("bytes", &self.inner.as_ref().map(|i| i.answers.weight()))
            .field("listening", &self.is_listening())
            .finish()
    }
}

impl SlotsCache {
    /// A cache of at most `bytes` (0: off). It keeps nothing until [`listen`](Self::listen)
    /// has connected.
    pub fn new(bytes: u64) -> Self {
        if bytes == 0 {
            return Self::default();
        }
        // A week's answer is about 160 KB: the item estimate only sizes the tables.
        let items = usize::try_from(bytes / 65_536)
            .unwrap_or(usize::MAX)
            .max(16);
        Self {
            inner: Some(Arc::new(Inner {
                answers: quick_cache::sync::Cache::with_weighter(items, bytes, ByBytes),
                counter: AtomicU64::new(0),
                changed: Mutex::new(HashMap::new()),
                everyone: AtomicU64::new(0),
                listening: AtomicBool::new(false),
            })),
        }
    }

    /// Whether answers are being kept (on, and announcements received).
    pub fn is_listening(&self) -> bool {
        self.inner
            .as_ref()
            .is_some_and(|i| i.listening.load(Ordering::SeqCst))
    }

    /// The kept answer to `key`, if it is still the answer.
    pub fn get(&self, key: &Key) -> Option<Arc<Answer>> {
        let inner = self.inner.as_ref()?;
        if !inner.listening.load(Ordering::SeqCst) {
            metrics::counter!("medsync_slots_cache_requests_total", "outcome" => "off")
                .increment(1);
            return None;
        }
        let found = inner.answers.get(key).filter(|answer| {
            let doctor = inner
                .changed
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(&key.doctor)
                .copied()
                .unwrap_or(0);
            answer.seen >= doctor.max(inner.everyone.load(Ordering::SeqCst))
                && Timestamp::now() < answer.until
        });
        let outcome = if found.is_some() { "hit" } else { "miss" };
        metrics::counter!("medsync_slots_cache_requests_total", "outcome" => outcome).increment(1);
        found
    }

    /// What a new answer must carry, read before its statement runs; `None` when answers are
    /// not being kept.
    pub fn ticket(&self) -> Option<u64> {
        let inner = self.inner.as_ref()?;
        inner
            .listening
            .load(Ordering::SeqCst)
            .then(|| inner.counter.load(Ordering::SeqCst))
    }

    /// Keeps `answer` (made with a [`ticket`](Self::ticket)).
    pub fn keep(&self, key: Key, answer: Arc<Answer>) {
        if let Some(inner) = &self.inner {
            inner.answers.insert(key, answer);
        }
    }

    /// This process changed `doctor`'s calendar (committed): its answers are retired now,
    /// before the response, so the client's next read sees its change even if PostgreSQL's
    /// announcement has not arrived yet.
    pub fn changed(&self, doctor: Uuid) {
        if self.inner.is_some() {
            self.announced(&doctor.to_string());
        }
    }

    /// Records an announcement: a doctor's id, or `*` for everyone.
    fn announced(&self, payload: &str) {
        let Some(inner) = &self.inner else { return };
        let at = inner.counter.fetch_add(1, Ordering::SeqCst) + 1;
        match payload.parse::<Uuid>() {
            Ok(doctor) => {
                inner
                    .changed
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(doctor, at);
            }
            Err(_) => inner.everyone.store(at, Ordering::SeqCst),
        }
    }

    fn set_listening(&self, on: bool) {
        let Some(inner) = &self.inner else { return };
        if on {
            // Whatever was announced while nobody listened is unknown: a change for everyone.
            self.announced("*");
            inner
                .changed
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clear();
            inner.listening.store(true, Ordering::SeqCst);
        } else {
            inner.listening.store(false, Ordering::SeqCst);
            self.announced("*");
            inner.answers.clear();
        }
        metrics::gauge!("medsync_slots_cache_listening").set(if on { 1.0 } else { 0.0 });
    }

    /// Receives the announcements until `shutdown`, reconnecting (every 2 s) when the
    /// connection breaks; meanwhile nothing is kept. Returns at once when the cache is off.
    pub async fn listen(self, db: PgPool, shutdown: CancellationToken) -> anyhow::Result<()> {
        if self.inner.is_none() {
            return Ok(());
        }
        while !shutdown.is_cancelled() {
            let connected = async {
                let mut listener = PgListener::connect_with(&db).await?;
                listener.listen(CHANNEL).await?;
                Ok::<_, sqlx::Error>(listener)
            };
            let mut listener = match connected.await {
                Ok(listener) => listener,
                Err(error) => {
                    tracing::warn!(%error, "slots cache: cannot listen for calendar changes; not caching meanwhile");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(Duration::from_secs(2)) => continue,
                    }
                }
            };
            self.set_listening(true);
            let mut ping = tokio::time::interval(Duration::from_secs(10));
            ping.tick().await;
            let error = loop {
                tokio::select! {
                    () = shutdown.cancelled() => break None,
                    received = listener.try_recv() => match received {
                        Ok(Some(notification)) => self.announced(notification.payload()),
                        Ok(None) => break Some("the connection was closed".to_owned()),
                        Err(error) => break Some(error.to_string()),
                    },
                    _ = ping.tick() => {
                        let alive = tokio::time::timeout(
                            Duration::from_secs(5),
                            sqlx::query("SELECT 1").execute(&mut listener),
                        )
                        .await;
                        match alive {
                            Ok(Ok(_)) => {}
                            Ok(Err(error)) => break Some(error.to_string()),
                            Err(_) => break Some("no answer to a ping in 5 s".to_owned()),
                        }
                    }
                }
            };
            self.set_listening(false);
            if let Some(error) = error {
                tracing::warn!(%error, "slots cache: calendar changes interrupted; not caching until reconnected");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
