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
    /// A hash verified against when an email is unknown, so that unknown emails and wrong
    /// passwords take the same time.
    pub dummy_hash: Arc<String>,
    /// Hashes and verifies passwords, a bounded number at a time.
    pub hasher: medsync_domain::password::Hasher,
}
