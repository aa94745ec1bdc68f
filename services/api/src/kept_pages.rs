//! Pages of JSON the api keeps and sends again while they are still the answer: the lists of
//! bookings ([`ListKey`]) and the doctors search ([`SearchKey`]).
//!
//! **Lists of bookings.** A patient's upcoming visits (`GET /api/v1/bookings`) and a doctor's
//! agenda (`GET /api/v1/agenda`) are read again and again by the same person (every screen of
//! an app, a doctor's page polling through the day) and change a few times a day. Computing a
//! page costs two statements on a pooled connection; a kept page is bytes sent again.
//!
//! **The doctors search** (`GET /api/v1/doctors`) is the same few questions from every patient
//! (a specialty, the first page, a name) over a catalog that changes a few times a month.
//!
//! A page is exactly what computing it now would give, because it is served only while none
//! of what decided it can have changed:
//!
//! - **the data**: every change to what a page shows is announced by PostgreSQL when it
//!   commits, whoever made it (triggers; [`crate::changes`]: the numbering, the listening
//!   connection, what happens while it is down). Lists: on `bookings_changed`, with the
//!   accounts whose lists the change alters, the booking's patient and its doctor's account
//!   (migration `20261211000000_list_changes.sql`: a booking made, cancelled, moved, given
//!   another status or patient; `*` for a doctor renamed or linked to another account). The
//!   search: on `catalog_changed`, `*` for any change to doctors, specialties or a doctor's
//!   specialties (migration `20261211100000_catalog_changes.sql`). A page is served only while
//!   nothing of its id has been announced since its statements ran;
//! - **the clock**: an upcoming list loses a booking when it ends, so a list's page holds
//!   until the earliest end among the account's upcoming bookings (the count's statement
//!   reads it); a list long enough to be counted only up to [`medsync_domain::COUNT_LIMIT`] is
//!   not kept (its earliest end is not known). The end is compared with this process's clock
//!   while the list was made by PostgreSQL's (`now()`): the two are expected to agree, as
//!   servers kept by NTP do. The search does not depend on the time. Every page ends after
//!   [`MAX_AGE`] in any case.
//!
//! Only upcoming lists of one account are kept: past lists change with every visit that ends,
//! and everyone's (admins) with every booking. Pages are weighed by their bytes
//! (`LISTS_CACHE_MB`, shared by both kinds; 0 turns keeping off) and evicted by
//! [quick_cache]'s S3-FIFO policy.

use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use uuid::Uuid;

use crate::changes::{Changes, Ticket};

/// The channel the lists' triggers announce changes on.
pub const LISTS_CHANNEL: &str = "bookings_changed";

/// The channel the catalog's triggers announce changes on.
pub const CATALOG_CHANNEL: &str = "catalog_changed";

/// The longest a page is kept, whatever else holds.
pub const MAX_AGE: Duration = Duration::from_secs(60);

/// What a kept page answers, and the id whose announcements retire it.
pub trait PageKey: Clone + Eq + Hash + Send + Sync + 'static {
    /// The id announced when the page changes; [`Uuid::nil`]: only changes of everything.
    fn id(&self) -> Uuid;
    /// Bytes the key itself takes.
    fn weight(&self) -> usize {
        0
    }
}

/// A page of a list of bookings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListKey {
    /// The account whose list it is: the patient, or the doctor's own account.
    pub account: Uuid,
    /// The agenda (the account is a doctor's) rather than the account's own bookings.
    pub agenda: bool,
    /// The page, from 1.
    pub page: u32,
    /// Items per page.
    pub per_page: u32,
}

impl PageKey for ListKey {
    fn id(&self) -> Uuid {
        self.account
    }
}

/// A page of the doctors search.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SearchKey {
    /// The specialty asked for.
    pub specialty: Option<Uuid>,
    /// The text searched for, trimmed.
    pub search: Option<String>,
    /// The page, from 1.
    pub page: u32,
    /// Items per page.
    pub per_page: u32,
}

impl PageKey for SearchKey {
    fn id(&self) -> Uuid {
        Uuid::nil()
    }
    fn weight(&self) -> usize {
        self.search.as_ref().map_or(0, String::len)
    }
}

/// A computed page.
#[derive(Debug)]
struct Page {
    json: Bytes,
    /// Taken before the statements ran.
    ticket: Ticket,
    /// When it stops being the answer.
    until: Timestamp,
}

/// The response for a page's JSON, kept or just computed.
pub fn respond(json: Bytes) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        json,
    )
        .into_response()
}

#[derive(Clone)]
struct ByBytes;

impl<K: PageKey> quick_cache::Weighter<K, Arc<Page>> for ByBytes {
    fn weight(&self, key: &K, page: &Arc<Page>) -> u64 {
        u64::try_from(page.json.len() + key.weight() + 128).unwrap_or(u64::MAX)
    }
}

struct Inner<K: PageKey> {
    pages: quick_cache::sync::Cache<K, Arc<Page>, ByBytes>,
    changes: Arc<Changes>,
    /// The counter of requests by outcome.
    metric: &'static str,
}

/// The kept pages of one kind; cheap to clone. Off (never keeps anything) when made with 0
/// bytes.
#[derive(Clone)]
pub struct KeptPages<K: PageKey> {
    inner: Option<Arc<Inner<K>>>,
}

impl<K: PageKey> std::fmt::Debug for KeptPages<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeptPages")
            .field("channel", &self.inner.as_ref().map(|i| i.changes.channel()))
            .field("bytes", &self.inner.as_ref().map(|i| i.pages.weight()))
            .field(
                "listening",
                &self
                    .inner
                    .as_ref()
                    .is_some_and(|i| i.changes.is_listening()),
            )
            .finish()
    }
}

impl<K: PageKey> KeptPages<K> {
    /// At most `bytes` of pages (0: off), retired by announcements on `channel`; requests are
    /// counted by outcome in `metric`. It keeps nothing until its [`changes`](Self::changes)
    /// are being listened to.
    pub fn new(bytes: u64, channel: &'static str, metric: &'static str) -> Self {
        if bytes == 0 {
            return Self { inner: None };
        }
        // A page of twenty bookings is about 7 KB: the item estimate only sizes the tables.
        let items = usize::try_from(bytes / 8192).unwrap_or(usize::MAX).max(16);
        Self {
            inner: Some(Arc::new(Inner {
                pages: quick_cache::sync::Cache::with_weighter(items, bytes, ByBytes),
                changes: Changes::new(channel, MAX_AGE),
                metric,
            })),
        }
    }

    /// The announcements, to be listened to ([`crate::changes::listen`]); `None` when off.
    pub fn changes(&self) -> Option<Arc<Changes>> {
        self.inner.as_ref().map(|i| i.changes.clone())
    }

    /// The kept page for `key`, if it is still the answer.
    pub fn get(&self, key: &K) -> Option<Bytes> {
        let inner = self.inner.as_ref()?;
        if !inner.changes.is_listening() {
            metrics::counter!(inner.metric, "outcome" => "off").increment(1);
            return None;
        }
        let found = inner.pages.get(key).filter(|page| {
            inner.changes.holds(key.id(), page.ticket) && Timestamp::now() < page.until
        });
        let outcome = if found.is_some() { "hit" } else { "miss" };
        metrics::counter!(inner.metric, "outcome" => outcome).increment(1);
        found.map(|page| page.json.clone())
    }

    /// What a new page must carry, read before its statements run; `None` when pages are not
    /// being kept.
    pub fn ticket(&self) -> Option<Ticket> {
        self.inner.as_ref()?.changes.ticket()
    }

    /// Keeps `json`, computed by statements run after [`ticket`](Self::ticket) gave `ticket`,
    /// until `until` (`None`: until a change or [`MAX_AGE`]).
    pub fn keep(&self, key: K, json: Bytes, ticket: Ticket, until: Option<Timestamp>) {
        if let Some(inner) = &self.inner {
            let until = until.unwrap_or(Timestamp::MAX);
            inner.pages.insert(
                key,
                Arc::new(Page {
                    json,
                    ticket,
                    until,
                }),
            );
        }
    }

    /// This process changed what `id`'s pages show (committed): they are retired now, before
    /// the response, so the client's next read sees the change even if PostgreSQL's
    /// announcement has not arrived yet.
    pub fn changed(&self, id: Uuid) {
        if let Some(inner) = &self.inner {
            inner.changes.changed(id);
        }
    }

    /// This process changed what every page may show.
    pub fn changed_everyone(&self) {
        if let Some(inner) = &self.inner {
            inner.changes.announced("*");
        }
    }
}
