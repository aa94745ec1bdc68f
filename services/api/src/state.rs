//! What every handler can reach; cheap to clone.

use std::sync::Arc;

use medsync_platform::infra::Infra;

use crate::config::Config;
use crate::tokens::Tokens;

/// The api's shared state.
#[derive(Debug, Clone)]
pub struct AppState {
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
    /// Sessions known to be signed in.
    pub sessions: crate::live_sessions::LiveSessions,
}
