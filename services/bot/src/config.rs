//! Everything the bot reads from the environment.

use std::time::Duration;

use medsync_domain::bookings::BookingRules;
use medsync_platform::config::{
    BOOKING_RULES_VARIABLES, ConfigError, Configuration, Env, HttpUrl, Seconds, Source,
    TelegramApiConfig, TelegramMode,
};
use medsync_platform::infra::BaseConfig;

use crate::SPEC;

/// The bot's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Health listen address, PostgreSQL, Redis.
    pub base: BaseConfig,
    /// `TELEGRAM_BOT_TOKEN`, `TELEGRAM_API_URL`.
    pub telegram: TelegramApiConfig,
    /// `TELEGRAM_MODE`: long polling, or the webhook's Redis stream.
    pub mode: TelegramMode,
    /// The clinic's booking rules (`CLINIC_TIMEZONE`, `REMINDER_OFFSETS`,
    /// `CANCELLATION_NOTICE_HOURS`), the same as the API's.
    pub rules: BookingRules,
    /// `BOT_DIALOGUE_TTL_SECONDS` (default 3600): an abandoned booking dialogue is forgotten
    /// this long after its last step.
    pub dialogue_ttl: Duration,
    /// `BOT_BOOKING_DAYS` (default 14): how many days ahead the bot offers.
    pub booking_days: u16,
    /// `BOT_STREAM_CLAIM_IDLE_SECONDS` (default 60, webhook mode): an update another bot took
    /// and has not acknowledged for this long is taken over (that bot is presumed dead).
    pub claim_idle: Duration,
    /// `BOT_CONSUMER_NAME` (webhook mode; default `bot-` and a random suffix): this replica's
    /// name in the stream's consumer group. A stable name (e.g. the pod's) lets a restarted
    /// replica find its own unacknowledged updates at once.
    pub consumer_name: String,
    /// `WEBAPP_URL` (default none): the web app's public address (`https://<host>/app/`).
    /// Set, `/start` and `/book` offer an "Open the app" button and the chat's menu button
    /// opens it as a Mini App. Telegram requires https (tgsim takes http in development).
    pub web_app: Option<HttpUrl>,
}

impl Configuration for Config {
    fn variables() -> Vec<&'static str> {
        [
            BaseConfig::variables(&SPEC).as_slice(),
            TelegramApiConfig::VARIABLES,
            TelegramMode::VARIABLES,
            BOOKING_RULES_VARIABLES,
            &[
                "BOT_BOOKING_DAYS",
                "BOT_DIALOGUE_TTL_SECONDS",
                "BOT_STREAM_CLAIM_IDLE_SECONDS",
                "BOT_CONSUMER_NAME",
                "WEBAPP_URL",
            ],
        ]
        .concat()
    }

    fn from_env<S: Source>(env: &Env<S>) -> Result<Self, ConfigError> {
        let booking_days: u16 = env.or_within(
            "BOT_BOOKING_DAYS",
            14,
            1..=90,
            "a number of days from 1 to 90",
        )?;
        Ok(Self {
            base: BaseConfig::from_env(env, &SPEC)?,
            telegram: TelegramApiConfig::from_env(env)?,
            mode: TelegramMode::from_env(env)?,
            rules: medsync_platform::config::booking_rules(env)?,
            dialogue_ttl: env
                .or(
                    "BOT_DIALOGUE_TTL_SECONDS",
                    Seconds(Duration::from_secs(3600)),
                )?
                .0
                .max(Duration::from_secs(60)),
            booking_days,
            claim_idle: env
                .or(
                    "BOT_STREAM_CLAIM_IDLE_SECONDS",
                    Seconds(Duration::from_secs(60)),
                )?
                .0
                .max(Duration::from_secs(1)),
            web_app: env.optional("WEBAPP_URL")?,
            consumer_name: env.or(
                "BOT_CONSUMER_NAME",
                format!("bot-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]),
            )?,
        })
    }
}
