//! What the `tgsim` binary reads from the environment.

use medsync_platform::config::{ConfigError, Configuration, Env, HttpConfig, Secret, Source};
use medsync_platform::service::Spec;

use crate::Options;

/// The simulator as a service.
pub const SPEC: Spec = Spec {
    name: "tgsim",
    about: "A local Telegram Bot API simulator: point TELEGRAM_API_URL at it",
    listen_var: "TGSIM_LISTEN_ADDR",
    default_port: 8090,
};

/// The `tgsim` binary's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `TGSIM_LISTEN_ADDR` (default `0.0.0.0:8090`).
    pub http: HttpConfig,
    /// `TELEGRAM_BOT_USERNAME` (default `medsync_bot`), `TGSIM_RATE_LIMIT_PER_CHAT` (default
    /// none), `TELEGRAM_BOT_TOKEN` (the token the chat page starts with).
    pub options: Options,
}

impl Configuration for Config {
    fn variables() -> Vec<&'static str> {
        [
            HttpConfig::variables(SPEC.listen_var).as_slice(),
            &[
                "TELEGRAM_BOT_USERNAME",
                "TGSIM_RATE_LIMIT_PER_CHAT",
                "TELEGRAM_BOT_TOKEN",
            ],
        ]
        .concat()
    }

    fn from_env<S: Source>(env: &Env<S>) -> Result<Self, ConfigError> {
        Ok(Self {
            http: SPEC.http_config(env)?,
            options: Options {
                bot_username: env.or("TELEGRAM_BOT_USERNAME", "medsync_bot".to_owned())?,
                per_chat_per_second: env.optional("TGSIM_RATE_LIMIT_PER_CHAT")?,
                default_token: env
                    .optional::<Secret>("TELEGRAM_BOT_TOKEN")?
                    .map(|token| token.expose().to_owned()),
            },
        })
    }
}
