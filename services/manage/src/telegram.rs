//! `manage set-webhook`: tell the Bot API where to post updates.

use anyhow::Context as _;
use medsync_platform::config::{
    ConfigError, Env, HttpUrl, Secret, Source, TelegramApiConfig, WEBHOOK_SECRET_VARIABLES,
    required_webhook_secret,
};
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
    /// The variables it is read from.
    pub fn variables() -> Vec<&'static str> {
        [
            TelegramApiConfig::VARIABLES,
            WEBHOOK_SECRET_VARIABLES,
            &["TELEGRAM_WEBHOOK_URL"],
        ]
        .concat()
    }

    /// Reads the variables; all are required.
    pub fn from_env<S: Source>(env: &Env<S>) -> Result<Self, ConfigError> {
        let telegram = TelegramApiConfig::from_env(env)?;
        let token = telegram.bot_token.ok_or_else(|| ConfigError {
            var: "TELEGRAM_BOT_TOKEN",
            value: None,
            problem: "is not set".to_owned(),
            expected: "the bot token from @BotFather",
        })?;
        Ok(Self {
            token,
            api_url: telegram.api_url,
            secret: required_webhook_secret(env, "set-webhook")?,
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
