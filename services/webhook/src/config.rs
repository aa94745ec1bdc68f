//! Everything the webhook reads from the environment.

use medsync_platform::config::{
    ConfigError, Configuration, Env, HttpConfig, RedisConfig, Secret, Source, TelegramMode,
    WEBHOOK_SECRET_VARIABLES, required_webhook_secret, webhook_secret,
};

use crate::SPEC;

/// The webhook's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where it listens.
    pub http: HttpConfig,
    /// Redis, where updates are handed to the bot. The webhook never touches PostgreSQL, so
    /// it reads no `DATABASE_URL` and holds no database password; nor does it read the bot
    /// token.
    pub redis: RedisConfig,
    /// `TELEGRAM_WEBHOOK_SECRET`: required when `TELEGRAM_MODE=webhook`; unset (development,
    /// polling), every update is refused.
    pub secret: Option<Secret>,
    /// `TELEGRAM_UPDATES_STREAM_MAXLEN` (default 100000): the stream is trimmed to about this
    /// many entries, oldest first.
    pub stream_maxlen: u64,
}

impl Configuration for Config {
    fn variables() -> Vec<&'static str> {
        [
            HttpConfig::variables(SPEC.listen_var).as_slice(),
            RedisConfig::VARIABLES,
            TelegramMode::VARIABLES,
            WEBHOOK_SECRET_VARIABLES,
            &["TELEGRAM_UPDATES_STREAM_MAXLEN"],
        ]
        .concat()
    }

    fn from_env<S: Source>(env: &Env<S>) -> Result<Self, ConfigError> {
        let secret = match TelegramMode::from_env(env)? {
            TelegramMode::Webhook => Some(required_webhook_secret(env, "TELEGRAM_MODE=webhook")?),
            TelegramMode::Polling => webhook_secret(env)?,
        };
        Ok(Self {
            http: SPEC.http_config(env)?,
            redis: RedisConfig::from_env(env)?,
            secret,
            stream_maxlen: env
                .or("TELEGRAM_UPDATES_STREAM_MAXLEN", 100_000_u64)?
                .max(1000),
        })
    }
}
