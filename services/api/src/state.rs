//! What every handler can reach; cheap to clone.

use std::sync::Arc;

use medsync_platform::infra::Infra;

use crate::config::Config;
use crate::tokens::Tokens;

/// The api's shared state: one allocation shared by every request. Handlers take it by value
/// (axum's `State` clones it for each request), so a clone is one reference count, not a copy
/// of the signing keys and every handle (which showed in the profile of an authenticated read:
/// 2 % of the api's time in cloning and dropping it, with the allocations that came with it).
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    /// Shares `shared`.
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] shares.
#[derive(Debug)]
pub struct Shared {
    /// PostgreSQL and Redis.
    pub infra: Infra,
    /// Configuration.
    pub config: Arc<Config>,
    /// Access-token keys.
    pub tokens: Tokens,
    /// Sign-in, registration and password hashing, as the web app does them.
    pub accounts: medsync_platform::accounts::Accounts,
    /// Free-slots answers kept while they hold.
    pub slots_cache: crate::slots_cache::SlotsCache,
    /// Pages of lists of bookings kept while they hold.
    pub lists_cache: crate::kept_pages::KeptPages<crate::kept_pages::ListKey>,
    /// Pages of the doctors search kept while they hold.
    pub doctors_cache: crate::kept_pages::KeptPages<crate::kept_pages::SearchKey>,
    /// Sessions known to be signed in.
    pub sessions: crate::live_sessions::LiveSessions,
}
