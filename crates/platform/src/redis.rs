//! Redis: one multiplexed, self-reconnecting connection per process, and key naming.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::config::RedisConfig;

/// A cheap-to-clone handle on Redis plus the deployment's key prefix.
#[derive(Clone)]
pub struct Redis {
    /// The multiplexed connection; clones share it.
    pub conn: ConnectionManager,
    client: redis::Client,
    keys: Keys,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis").field("keys", &self.keys).finish()
    }
}

impl Redis {
    /// A connection that is established on first use and re-established after failures, so a
    /// service starts (not ready) while Redis is away.
    pub fn connect(config: &RedisConfig) -> redis::RedisResult<Self> {
        let client = redis::Client::open(config.url.info().clone())?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(1));
        Ok(Self {
            conn: ConnectionManager::new_lazy_with_config(client.clone(), manager_config)?,
            client,
            keys: Keys::new(&config.key_prefix),
        })
    }

    /// A connection of its own, for blocking commands (`XREADGROUP … BLOCK`): on the shared
    /// multiplexed connection they would hold up every other command behind them.
    /// Its response timeout (10 s) is far above the blocking commands' own (about 1 s): the
    /// client's default of 0.5 s would fail every `BLOCK 1000` that finds nothing.
    pub async fn dedicated(&self) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(10)));
        self.client
            .get_multiplexed_async_connection_with_config(&config)
            .await
    }

    /// Key naming for this deployment.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }
}

/// Builds namespaced keys: `<prefix>:<part>:<part>…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// Keys under `prefix` (a trailing `:` is ignored).
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.trim_end_matches(':').to_owned(),
        }
    }

    /// The stream through which the webhook service hands Telegram updates to the bot.
    pub fn telegram_updates(&self) -> String {
        self.key(&["tg", "updates"])
    }

    /// Updates the bot gave up on (see `medsync_telegram::updates`).
    pub fn telegram_dead_updates(&self) -> String {
        self.key(&["tg", "updates", "dead"])
    }

    /// `<prefix>:<a>:<b>…`.
    pub fn key(&self, parts: &[&str]) -> String {
        let mut key = self.prefix.clone();
        for part in parts {
            key.push(':');
            key.push_str(part);
        }
        key
    }
}

#[cfg(test)]
mod tests {
    use super::Keys;

    #[test]
    fn keys_are_joined_under_the_prefix() {
        assert_eq!(
            Keys::new("medsync:").key(&["tg", "update", "42"]),
            "medsync:tg:update:42"
        );
    }
}
