//! The Telegram bot: conversations for finding a doctor, booking, listing and cancelling.
//! Updates come by long polling (development) or from the webhook's Redis stream (production).
//!
//! [`build`] returns an [`App`] bound to its health port, so tests start the very same
//! application the binary runs.

pub mod stream;

use axum::Router;
use medsync_core::app::App;
use medsync_core::config::{ConfigError, Env, Source, TelegramConfig};
use medsync_core::infra::{BaseConfig, Infra};
use medsync_core::service::Spec;
use teloxide::Bot;
use tokio_util::sync::CancellationToken;

/// The bot service.
pub const SPEC: Spec = Spec {
    name: "bot",
    about: "MedSync Telegram bot",
    listen_var: "BOT_LISTEN_ADDR",
    default_port: 8082,
};

/// Everything the bot reads from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// Health listen address, PostgreSQL, Redis.
    pub base: BaseConfig,
    /// Token, Bot API URL, mode.
    pub telegram: TelegramConfig,
}

impl Config {
    /// Reads the bot's variables.
    pub fn from_env<S: Source>(env: &Env<S>) -> Result<Self, ConfigError> {
        Ok(Self {
            base: BaseConfig::from_env(env, &SPEC)?,
            telegram: TelegramConfig::from_env(env)?,
        })
    }
}

/// Connects (lazily) and binds the health listen address.
pub async fn build(config: Config) -> anyhow::Result<App> {
    let infra = Infra::connect(&config.base)?;
    build_with(config, infra).await
}

/// [`build`] with connections made by the caller (tests pass a fresh database).
pub async fn build_with(config: Config, infra: Infra) -> anyhow::Result<App> {
    let bot = match &config.telegram.bot_token {
        Some(token) => {
            let url = reqwest::Url::parse(&config.telegram.api_url.0)?;
            Some(Bot::new(token.expose()).set_api_url(url))
        }
        None => None,
    };
    let telegram = config.telegram.clone();
    Ok(
        App::bind(&config.base.http, infra.readiness(), Router::new())
            .await?
            .with_task("updates", move |shutdown| {
                take_updates(bot, telegram, shutdown)
            }),
    )
}

/// Takes updates until shutdown. Without a token there is nothing to take: the bot stays up
/// (healthy, so the rest of the stack runs) and says so once.
async fn take_updates(
    bot: Option<Bot>,
    telegram: TelegramConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    match bot {
        None => tracing::warn!("TELEGRAM_BOT_TOKEN is not set: the bot takes no updates"),
        Some(_bot) => tracing::info!(
            mode = ?telegram.mode,
            api = %telegram.api_url.0,
            "bot ready; no conversations are served yet"
        ),
    }
    shutdown.cancelled().await;
    Ok(())
}
