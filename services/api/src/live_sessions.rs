//! Sessions known to be signed in: every authenticated request checks that its token's session
//! has not been ended, and asking PostgreSQL (and the deny list in Redis) each time was two of
//! an authenticated read's three round trips (docs/benchmarks.md).
//!
//! A session found live is remembered for at most [`MAX_AGE`], and only while nothing can have
//! ended it since: PostgreSQL announces each ended session on `sessions_changed` with its
//! account's id when the change commits (migration `20261209000000_session_changes.sql`),
//! whoever made it, and [`crate::changes`] numbers the announcements; every session of that
//! account is then asked again. The api's own sign-outs, password and role changes end the
//! account's remembered sessions before answering ([`LiveSessions::ended`]), so the very next
//! request with an ended session's token is refused here as everywhere. While the listening
//! connection is down nothing is remembered. A session not remembered is checked as before:
//! the deny list in Redis, then PostgreSQL.
//!
//! Another replica learns of a sign-out when PostgreSQL's announcement arrives (milliseconds);
//! the deny-list entry that sign-out writes comes later than that, so it closed no gap the
//! announcement leaves.
//!
//! The account's own row ("who am I": email, name, phone, role, Telegram link) is remembered
//! the same way ([`LiveSessions::account`]): a change to it, or the account deleted, is
//! announced on the same channel with its id (migration `20261210000000_account_changes.sql`),
//! and the api's own profile changes forget it before answering ([`LiveSessions::changed`]).

use std::sync::Arc;
use std::time::Duration;

use medsync_domain::users::User;
use uuid::Uuid;

use crate::changes::{Changes, Ticket};

/// The channel the triggers announce ended sessions on.
pub const CHANNEL: &str = "sessions_changed";

/// The longest a session is remembered as live, whatever else holds.
pub const MAX_AGE: Duration = Duration::from_secs(15);

struct Inner {
    /// (account, session family) → when it was found live.
    known: quick_cache::sync::Cache<(Uuid, Uuid), Ticket>,
    /// account → its row, and when it was read.
    accounts: quick_cache::sync::Cache<Uuid, (User, Ticket)>,
    changes: Arc<Changes>,
}

/// The remembered sessions; cheap to clone. Off (remembers nothing) when made with 0 entries.
#[derive(Clone, Default)]
pub struct LiveSessions {
    inner: Option<Arc<Inner>>,
}

impl std::fmt::Debug for LiveSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveSessions")
            .field("remembered", &self.inner.as_ref().map(|i| i.known.len()))
            .finish_non_exhaustive()
    }
}

impl LiveSessions {
    /// Remembers at most `entries` sessions (0: off).
    pub fn new(entries: usize) -> Self {
        if entries == 0 {
            return Self::default();
        }
        Self {
            inner: Some(Arc::new(Inner {
                known: quick_cache::sync::Cache::new(entries),
                accounts: quick_cache::sync::Cache::new(entries),
                changes: Changes::new(CHANNEL, MAX_AGE),
            })),
        }
    }

    /// The ended sessions' announcements, to be listened to ([`crate::changes::listen`]);
    /// `None` when off.
    pub fn changes(&self) -> Option<Arc<Changes>> {
        self.inner.as_ref().map(|i| i.changes.clone())
    }

    /// Whether the session is remembered as live and nothing can have ended it since. `false`
    /// means "ask PostgreSQL", not "ended".
    pub fn is_live(&self, user: Uuid, family: Uuid) -> bool {
        let Some(inner) = &self.inner else {
            return false;
        };
        let outcome = if !inner.changes.is_listening() {
            "off"
        } else if inner
            .known
            .get(&(user, family))
            .is_some_and(|ticket| inner.changes.holds(user, ticket))
        {
            "hit"
        } else {
            "miss"
        };
        metrics::counter!("medsync_session_cache_requests_total", "outcome" => outcome)
            .increment(1);
        outcome == "hit"
    }

    /// Taken before asking PostgreSQL whether a session is live; `None` when nothing may be
    /// remembered.
    pub fn ticket(&self) -> Option<Ticket> {
        self.inner.as_ref()?.changes.ticket()
    }

    /// PostgreSQL found the session live, asked after `ticket` was taken.
    pub fn keep(&self, user: Uuid, family: Uuid, ticket: Option<Ticket>) {
        if let (Some(inner), Some(ticket)) = (&self.inner, ticket) {
            inner.known.insert((user, family), ticket);
        }
    }

    /// This process ended sessions of `user` (committed): none of theirs is remembered any
    /// more, before the response.
    pub fn ended(&self, user: Uuid) {
        self.changed(user);
    }

    /// This process changed `user`'s account row (committed): it is read again from
    /// PostgreSQL from now on, as are the account's sessions.
    pub fn changed(&self, user: Uuid) {
        if let Some(inner) = &self.inner {
            inner.changes.changed(user);
        }
    }

    /// The account's row as PostgreSQL last gave it, if nothing can have changed it since;
    /// `None` means "ask PostgreSQL".
    pub fn account(&self, user: Uuid) -> Option<User> {
        let inner = self.inner.as_ref()?;
        let listening = inner.changes.is_listening();
        let found = inner
            .accounts
            .get(&user)
            .filter(|(_, ticket)| listening && inner.changes.holds(user, *ticket))
            .map(|(row, _)| row);
        let outcome = match (&found, listening) {
            (Some(_), _) => "hit",
            (None, true) => "miss",
            (None, false) => "off",
        };
        metrics::counter!("medsync_account_cache_requests_total", "outcome" => outcome)
            .increment(1);
        found
    }

    /// PostgreSQL gave the account's row, read after `ticket` was taken.
    pub fn keep_account(&self, row: &User, ticket: Option<Ticket>) {
        if let (Some(inner), Some(ticket)) = (&self.inner, ticket) {
            inner.accounts.insert(row.id, (row.clone(), ticket));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_remembered_until_its_account_has_a_session_ended() {
        let sessions = LiveSessions::new(16);
        let changes = sessions.changes().unwrap();
        let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
        let (a1, a2, b1) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        sessions.keep(alice, a1, sessions.ticket());
        assert!(!sessions.is_live(alice, a1), "not listening: nothing kept");
        changes.set_listening(true);
        for (user, family) in [(alice, a1), (alice, a2), (bob, b1)] {
            sessions.keep(user, family, sessions.ticket());
            assert!(sessions.is_live(user, family));
        }
        assert!(!sessions.is_live(bob, a1), "another account's family");
        changes.announced(&alice.to_string());
        assert!(!sessions.is_live(alice, a1) && !sessions.is_live(alice, a2));
        assert!(sessions.is_live(bob, b1), "bob ended nothing");
        sessions.ended(bob);
        assert!(!sessions.is_live(bob, b1), "ended here");
    }

    #[test]
    fn an_account_row_is_remembered_until_it_is_announced_changed() {
        let sessions = LiveSessions::new(16);
        let changes = sessions.changes().unwrap();
        changes.set_listening(true);
        let row = |id, name: &str| User {
            id,
            email: None,
            name: name.to_owned(),
            phone: None,
            role: medsync_domain::users::Role::Patient,
            telegram_user_id: None,
        };
        let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
        let stale = sessions.ticket();
        sessions.keep_account(&row(alice, "Alice"), sessions.ticket());
        sessions.keep_account(&row(bob, "Bob"), sessions.ticket());
        assert_eq!(sessions.account(alice).unwrap().name, "Alice");
        changes.announced(&alice.to_string());
        assert!(sessions.account(alice).is_none(), "announced changed");
        assert_eq!(sessions.account(bob).unwrap().name, "Bob");
        // Read before the announcement, kept after it: not trusted.
        sessions.keep_account(&row(alice, "Alice"), stale);
        assert!(sessions.account(alice).is_none(), "read before the change");
        sessions.keep_account(&row(alice, "Alicia"), sessions.ticket());
        assert_eq!(sessions.account(alice).unwrap().name, "Alicia");
        sessions.changed(alice);
        assert!(sessions.account(alice).is_none(), "changed here");
        changes.set_listening(false);
        assert!(sessions.account(bob).is_none(), "not listening");
    }

    #[test]
    fn off_remembers_nothing() {
        let sessions = LiveSessions::new(0);
        assert!(sessions.changes().is_none() && sessions.ticket().is_none());
        sessions.keep(Uuid::nil(), Uuid::nil(), None);
        assert!(!sessions.is_live(Uuid::nil(), Uuid::nil()));
        assert!(sessions.account(Uuid::nil()).is_none());
    }
}
