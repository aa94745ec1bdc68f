//! What PostgreSQL announces as changed, numbered, so that something this process keeps (a
//! free-slots answer, a session known to be signed in) is used only while nothing that decided
//! it can have changed.
//!
//! Triggers announce each committed change on a channel (`NOTIFY`, payload: the id of what
//! changed, several separated by spaces, or `*` for everything), whoever made it: this api, another replica, `manage`, the
//! web app, an operator's psql. One connection per process listens on every channel; each
//! announcement takes a number from its channel's counter. Whatever is kept carries a
//! [`Ticket`]: the counter's value read *before* the statement that decided it ran. It holds
//! while no announcement for its id (or for everything) has a larger number: a change committed
//! before the statement began was announced before too (NOTIFY is delivered after commit), so
//! the statement saw it; one committed later has a larger number.
//!
//! While the listening connection is down nothing holds and no ticket is given, and each
//! (re)connection counts as a change of everything (announcements may have been missed). A
//! connection that fails silently is found by a ping every 10 s; and a ticket holds for at most
//! its channel's `keep_for` in any case.
//!
//! `sqlx`'s `PgListener` does the listening; the numbering is ours (no crate keeps such a
//! log of invalidations): an id's last number is remembered for `keep_for`, after which every
//! ticket older than it has expired anyway.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// When something kept was decided: the channel's counter and the instant, both read before
/// the deciding statement ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    seen: u64,
    at: Instant,
}

/// One channel's announcements, numbered.
#[derive(Debug)]
pub struct Changes {
    channel: &'static str,
    keep_for: Duration,
    /// Counts announcements (and reconnections).
    counter: AtomicU64,
    /// Per id: the counter at its last announcement, and when (forgotten after `keep_for`).
    changed: Mutex<Remembered>,
    /// The counter at the last change of everything.
    everyone: AtomicU64,
    /// Whether announcements are being received.
    listening: AtomicBool,
}

#[derive(Debug, Default)]
struct Remembered {
    ids: HashMap<Uuid, (u64, Instant)>,
    /// Above this many ids, an announcement forgets the old ones (then twice what is left).
    forget_above: usize,
}

/// The fewest remembered ids that make an announcement look for ones old enough to forget.
const FORGET_ABOVE: usize = 4096;

impl Changes {
    /// The announcements on `channel`; a ticket holds for at most `keep_for`.
    pub fn new(channel: &'static str, keep_for: Duration) -> Arc<Self> {
        Arc::new(Self {
            channel,
            keep_for,
            counter: AtomicU64::new(0),
            changed: Mutex::new(Remembered {
                ids: HashMap::new(),
                forget_above: FORGET_ABOVE,
            }),
            everyone: AtomicU64::new(0),
            listening: AtomicBool::new(false),
        })
    }

    /// The channel.
    pub fn channel(&self) -> &'static str {
        self.channel
    }

    /// Whether announcements are being received.
    pub fn is_listening(&self) -> bool {
        self.listening.load(Ordering::SeqCst)
    }

    /// The ticket of something about to be decided, read before its statement runs; `None`
    /// while not listening (then nothing may be kept).
    pub fn ticket(&self) -> Option<Ticket> {
        let at = Instant::now();
        self.is_listening().then(|| Ticket {
            seen: self.counter.load(Ordering::SeqCst),
            at,
        })
    }

    /// Whether what `ticket` decided about `id` still holds: listening, not older than
    /// `keep_for`, and neither `id` nor everything announced since.
    pub fn holds(&self, id: Uuid, ticket: Ticket) -> bool {
        if !self.is_listening() || ticket.at.elapsed() >= self.keep_for {
            return false;
        }
        let last = self
            .changed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .ids
            .get(&id)
            .map_or(0, |&(at, _)| at);
        ticket.seen >= last.max(self.everyone.load(Ordering::SeqCst))
    }

    /// This process changed `id` (committed): what was kept about it ends now, before the
    /// response, so the client's next request sees the change even if PostgreSQL's
    /// announcement has not arrived yet.
    pub fn changed(&self, id: Uuid) {
        self.announced(&id.to_string());
    }

    /// Records an announcement: ids separated by spaces, or anything else (`*`) for
    /// everything.
    pub fn announced(&self, payload: &str) {
        let at = self.counter.fetch_add(1, Ordering::SeqCst) + 1;
        let ids: Option<Vec<Uuid>> = payload
            .split(' ')
            .map(|id| id.parse::<Uuid>().ok())
            .collect();
        let Some(ids) = ids.filter(|ids| !ids.is_empty()) else {
            self.everyone.store(at, Ordering::SeqCst);
            return;
        };
        let now = Instant::now();
        let mut changed = self.changed.lock().unwrap_or_else(PoisonError::into_inner);
        for id in ids {
            changed.ids.insert(id, (at, now));
        }
        if changed.ids.len() > changed.forget_above {
            // A ticket older than an announcement was read before it, so it expires at most
            // `keep_for` after it: by then the announcement has nothing left to retire.
            let keep_for = self.keep_for;
            changed
                .ids
                .retain(|_, &mut (_, when)| now.duration_since(when) < keep_for);
            changed.forget_above = (changed.ids.len() * 2).max(FORGET_ABOVE);
        }
    }

    /// Connected (everything kept before may have missed announcements) or disconnected.
    pub fn set_listening(&self, on: bool) {
        if on {
            self.announced("*");
            self.changed
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .ids
                .clear();
            self.listening.store(true, Ordering::SeqCst);
        } else {
            self.listening.store(false, Ordering::SeqCst);
            self.announced("*");
        }
    }
}

/// Receives the announcements of every channel in `feeds` on one connection until
/// `shutdown`, reconnecting (every 2 s) when it breaks. Returns at once with no feeds.
pub async fn listen(
    db: PgPool,
    feeds: Vec<Arc<Changes>>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    if feeds.is_empty() {
        return Ok(());
    }
    let channels: Vec<&str> = feeds.iter().map(|f| f.channel()).collect();
    let set_listening = |on: bool| {
        for feed in &feeds {
            feed.set_listening(on);
        }
        metrics::gauge!("medsync_changes_listening").set(if on { 1.0 } else { 0.0 });
    };
    while !shutdown.is_cancelled() {
        let connected = async {
            let mut listener = PgListener::connect_with(&db).await?;
            listener.listen_all(channels.iter().copied()).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = match connected.await {
            Ok(listener) => listener,
            Err(error) => {
                tracing::warn!(%error, ?channels, "cannot listen for changes; keeping nothing meanwhile");
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(Duration::from_secs(2)) => continue,
                }
            }
        };
        set_listening(true);
        let mut ping = tokio::time::interval(Duration::from_secs(10));
        ping.tick().await;
        let error = loop {
            tokio::select! {
                () = shutdown.cancelled() => break None,
                received = listener.try_recv() => match received {
                    Ok(Some(notification)) => {
                        if let Some(feed) = feeds.iter().find(|f| f.channel() == notification.channel()) {
                            feed.announced(notification.payload());
                        }
                    }
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
        set_listening(false);
        if let Some(error) = error {
            tracing::warn!(%error, ?channels, "listening for changes interrupted; keeping nothing until reconnected");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_announcement_after_the_ticket_ends_it_and_only_for_its_id() {
        let changes = Changes::new("test", Duration::from_secs(60));
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        assert!(changes.ticket().is_none(), "not listening: no ticket");
        changes.set_listening(true);
        let ticket = changes.ticket().unwrap();
        assert!(changes.holds(a, ticket) && changes.holds(b, ticket));
        changes.announced(&a.to_string());
        assert!(!changes.holds(a, ticket), "a changed after the ticket");
        assert!(changes.holds(b, ticket), "b did not");
        let after = changes.ticket().unwrap();
        assert!(changes.holds(a, after), "a ticket after the change holds");
        changes.changed(b);
        assert!(
            !changes.holds(b, after),
            "a change made here counts at once"
        );
        let (c, d) = (Uuid::now_v7(), Uuid::now_v7());
        let before = changes.ticket().unwrap();
        changes.announced(&format!("{c} {d}"));
        assert!(
            !changes.holds(c, before) && !changes.holds(d, before) && changes.holds(a, before),
            "several ids in one announcement"
        );
        changes.announced(&format!("{a} not-an-id"));
        assert!(
            !changes.holds(b, before),
            "a payload that is not all ids counts as everything"
        );
        changes.announced("*");
        assert!(!changes.holds(a, after));
        let ticket = changes.ticket().unwrap();
        changes.set_listening(false);
        assert!(!changes.holds(a, ticket), "not listening: nothing holds");
        assert!(changes.ticket().is_none());
        changes.set_listening(true);
        assert!(
            !changes.holds(a, ticket),
            "from before a reconnection: announcements may have been missed"
        );
    }

    #[test]
    fn a_ticket_ends_after_keep_for_and_old_announcements_are_forgotten_only_then() {
        let changes = Changes::new("test", Duration::from_millis(200));
        changes.set_listening(true);
        let ticket = changes.ticket().unwrap();
        let id = Uuid::now_v7();
        assert!(changes.holds(id, ticket));
        std::thread::sleep(Duration::from_millis(250));
        assert!(!changes.holds(id, ticket), "older than keep_for");

        // A changed id stays remembered while a ticket from before its change can still hold.
        let old = changes.ticket().unwrap();
        changes.changed(id);
        for _ in 0..FORGET_ABOVE {
            changes.changed(Uuid::now_v7());
        }
        assert!(!changes.holds(id, old), "remembered within keep_for");
        std::thread::sleep(Duration::from_millis(250));
        for _ in 0..2 * FORGET_ABOVE {
            changes.changed(Uuid::now_v7());
        }
        let remembered = changes.changed.lock().unwrap().ids.len();
        assert!(
            remembered <= 2 * FORGET_ABOVE
                && !changes.changed.lock().unwrap().ids.contains_key(&id),
            "forgotten after keep_for ({remembered} remembered)"
        );
        assert!(!changes.holds(id, old), "and the old ticket has expired");
        assert!(changes.holds(id, changes.ticket().unwrap()));
    }
}
