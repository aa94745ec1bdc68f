//! The Telegram webhook receiver: Telegram POSTs updates here (production); they are verified,
//! de-duplicated and handed to the bot through a Redis stream.
//!
//! [`build`] returns an [`App`] bound to its port, so tests start the very same application the
//! binary runs.

use axum::Router;
use medsync_core::app::App;
use medsync_core::config::{ConfigError, Env, Source, TelegramConfig};
use medsync_core::infra::{BaseConfig, Infra};
use medsync_core::service::Spec;

/// The webhook service.
pub const SPEC: Spec = Spec {
    name: "webhook",
    about: "MedSync Telegram webhook receiver",
    listen_var: "WEBHOOK_LISTEN_ADDR",
    default_port: 8081,
};

/// Everything the webhook reads from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen address, PostgreSQL, Redis.
    pub base: BaseConfig,
    /// The Telegram settings (the webhook secret among them).
    pub telegram: TelegramConfig,
}

impl Config {
    /// Reads the webhook's variables.
    pub fn from_env<S: Source>(env: &Env<S>) -> Result<Self, ConfigError> {
        Ok(Self {
            base: BaseConfig::from_env(env, &SPEC)?,
            telegram: TelegramConfig::from_env(env)?,
        })
    }
}

/// Connects (lazily) and binds the listen address.
pub async fn build(config: Config) -> anyhow::Result<App> {
    let infra = Infra::connect(&config.base)?;
    build_with(config, infra).await
}

/// [`build`] with connections made by the caller (tests pass a fresh database).
pub async fn build_with(config: Config, infra: Infra) -> anyhow::Result<App> {
    if config.telegram.webhook_secret.is_none() {
        tracing::warn!("TELEGRAM_WEBHOOK_SECRET is not set: Telegram updates cannot be accepted");
    }
    App::bind(&config.base.http, infra.readiness(), Router::new()).await
}
