//! Free-slots answers, kept: the same week of the same doctor is asked for by every patient
//! who opens the doctor's page, and computing it (the calendar statement, then 2,000 slots
//! written as 160 KB of JSON) costs far more than sending it again.
//!
//! An answer is exactly what computing it now would give, because an answer is served only
//! while none of what decided it can have changed:
//!
//! - **the data**: every change to a doctor's slot length, weekly hours, time off or bookings
//!   is announced by PostgreSQL on `calendar_changed` when it commits (triggers, migration
//!   `20261208000000_calendar_changes.sql`), whoever made it; an answer is served only while
//!   its doctor's calendar has not been announced since its statement ran
//!   ([`crate::changes`]: the numbering, the listening connection, what happens while it is
//!   down);
//! - **the clock**: an answer leaves out slots that have begun, so it holds until its first
//!   slot begins, and [`MAX_AGE`] at most.
//!
//! Answers are weighed by their bytes (`SLOTS_CACHE_MB`, 0 turns the cache off) and evicted
//! by [quick_cache]'s S3-FIFO policy. The gzip form, which browsers ask for, is made once per
//! answer, not once per request.

use std::io::Write as _;
use std::sync::{Arc, OnceLock};

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use jiff::{SignedDuration, Timestamp};
use uuid::Uuid;

use crate::changes::{Changes, Ticket};

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
    /// Taken before the statement ran.
    ticket: Option<Ticket>,
    /// When it stops being the answer: its first slot's start.
    until: Timestamp,
}

impl Answer {
    /// An answer made now from a statement run after [`SlotsCache::ticket`] gave `ticket`
    /// (`None`: not to be kept).
    pub fn new(json: Vec<u8>, first_slot: Option<Timestamp>, ticket: Option<Ticket>) -> Self {
        Self {
            json: Bytes::from(json),
            gzip: OnceLock::new(),
            ticket,
            until: first_slot.unwrap_or(Timestamp::MAX),
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
    changes: Arc<Changes>,
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
    /// A cache of at most `bytes` (0: off). It keeps nothing until its [`changes`](Self::changes)
    /// are being listened to.
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
                changes: Changes::new(CHANNEL, MAX_AGE.unsigned_abs()),
            })),
        }
    }

    /// The calendar's announcements, to be listened to ([`crate::changes::listen`]); `None`
    /// when the cache is off.
    pub fn changes(&self) -> Option<Arc<Changes>> {
        self.inner.as_ref().map(|i| i.changes.clone())
    }

    /// Whether answers are being kept (on, and announcements received).
    pub fn is_listening(&self) -> bool {
        self.inner
            .as_ref()
            .is_some_and(|i| i.changes.is_listening())
    }

    /// The kept answer to `key`, if it is still the answer.
    pub fn get(&self, key: &Key) -> Option<Arc<Answer>> {
        let inner = self.inner.as_ref()?;
        if !inner.changes.is_listening() {
            metrics::counter!("medsync_slots_cache_requests_total", "outcome" => "off")
                .increment(1);
            return None;
        }
        let found = inner.answers.get(key).filter(|answer| {
            answer
                .ticket
                .is_some_and(|ticket| inner.changes.holds(key.doctor, ticket))
                && Timestamp::now() < answer.until
        });
        let outcome = if found.is_some() { "hit" } else { "miss" };
        metrics::counter!("medsync_slots_cache_requests_total", "outcome" => outcome).increment(1);
        found
    }

    /// What a new answer must carry, read before its statement runs; `None` when answers are
    /// not being kept.
    pub fn ticket(&self) -> Option<Ticket> {
        self.inner.as_ref()?.changes.ticket()
    }

    /// Keeps `answer` (made with a [`ticket`](Self::ticket)).
    pub fn keep(&self, key: Key, answer: Arc<Answer>) {
        if let Some(inner) = &self.inner
            && answer.ticket.is_some()
        {
            inner.answers.insert(key, answer);
        }
    }

    /// This process changed `doctor`'s calendar (committed): its answers are retired now,
    /// before the response, so the client's next read sees its change even if PostgreSQL's
    /// announcement has not arrived yet.
    pub fn changed(&self, doctor: Uuid) {
        if let Some(inner) = &self.inner {
            inner.changes.changed(doctor);
        }
    }
}

#[cfg(test)]
mod tests;
