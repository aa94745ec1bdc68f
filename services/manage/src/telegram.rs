//! `manage set-webhook`: tell the Bot API where to post updates.

use anyhow::Context as _;
use medsync_platform::config::{ConfigError, Env, HttpUrl, Secret, Source, TelegramConfig};
use teloxide::prelude::*;
use teloxide::types::AllowedUpdate;

/// What `set-webhook` needs.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// `TELEGRAM_BOT_TOKEN`, `TELEGRAM_API_URL`.
    pub token: Secret,
    /// The Bot API.
    pub api_url: HttpUrl,
    /// `TELEGRAM_WEBHOOK_SECRET`.
    pub secret: Secret,
    /// `TELEGRAM_WEBHOOK_URL`: the public HTTPS URL of `/telegram/webhook`.
    pub url: HttpUrl,
}

impl WebhookConfig {
    /// Reads the variables; all are required.
    pub fn from_env<S: Source>(env: &Env<S>) -> Result<Self, ConfigError> {
        let telegram = TelegramConfig::from_env(env)?;
        let missing = |var: &'static str, expected: &'static str| ConfigError {
            var,
            value: None,
            problem: "is not set".to_owned(),
            expected,
        };
        Ok(Self {
            token: telegram
                .bot_token
                .ok_or_else(|| missing("TELEGRAM_BOT_TOKEN", "the bot token from @BotFather"))?,
            api_url: telegram.api_url,
            secret: telegram.webhook_secret.ok_or_else(|| {
                missing(
                    "TELEGRAM_WEBHOOK_SECRET",
                    "1 to 256 characters of A-Z, a-z, 0-9, _ and -",
                )
            })?,
            url: env.required("TELEGRAM_WEBHOOK_URL")?,
        })
    }
}

/// The updates the bot handles; Telegram sends no others.
pub const ALLOWED_UPDATES: [AllowedUpdate; 2] =
    [AllowedUpdate::Message, AllowedUpdate::CallbackQuery];

/// Registers the webhook (URL, secret token, allowed update types) and reads it back.
pub async fn set_webhook(config: &WebhookConfig) -> anyhow::Result<()> {
    let bot = medsync_telegram::client(&config.token, &config.api_url)?;
    let url = config.url.0.clone();
    bot.set_webhook(url)
        .secret_token(config.secret.expose().to_owned())
        .allowed_updates(ALLOWED_UPDATES)
        .await
        .context("setWebhook")?;
    let info = bot.get_webhook_info().await.context("getWebhookInfo")?;
    tracing::info!(
        url = info.url.as_ref().map(reqwest::Url::as_str),
        pending_updates = info.pending_update_count,
        "webhook registered"
    );
    Ok(())
}
