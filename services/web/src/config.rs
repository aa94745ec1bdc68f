//! Everything the web app reads from the environment.

use jiff::SignedDuration;
use medsync_domain::bookings::BookingRules;
use medsync_platform::accounts::AccountsConfig;
use medsync_platform::config::{
    BOOKING_RULES_VARIABLES, BOT_TOKEN_VARIABLES, BOT_USERNAME_VARIABLES, ConfigError,
    Configuration, Env, FromEnv, HttpUrl, Secret, Source, bot_token, bot_username,
};
use medsync_platform::infra::BaseConfig;

use crate::SPEC;

/// Where Telegram's Mini App script is served: the platform requires this very file.
pub const TELEGRAM_WEBAPP_JS: &str = "https://telegram.org/js/telegram-web-app.js";

/// The web app's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen address (`WEB_LISTEN_ADDR`), PostgreSQL, Redis.
    pub base: BaseConfig,
    /// The clinic's booking rules, the same as the api's and the bot's.
    pub rules: BookingRules,
    /// Sign-in and registration limits and the hashing budget, the same as the api's.
    pub accounts: AccountsConfig,
    /// `TELEGRAM_BOT_TOKEN`: the key Mini App `initData` is verified with. Unset: the Mini App
    /// cannot sign anyone in (the browser pages work).
    pub bot_token: Option<Secret>,
    /// `TELEGRAM_BOT_USERNAME` (default `medsync_bot`): for `t.me` links.
    pub bot_username: String,
    /// `TELEGRAM_LINK_CODE_TTL_MINUTES` (default 15): how long a link to Telegram works.
    pub link_ttl: SignedDuration,
    /// `WEB_INIT_DATA_MAX_AGE_SECONDS` (default 3600): the oldest `initData` accepted; older,
    /// the person is asked to open the app again from Telegram.
    pub init_data_max_age: SignedDuration,
    /// `WEB_SESSION_HOURS` (default 12): a browser session ends this long after sign-in.
    pub session_ttl: SignedDuration,
    /// `WEB_COOKIE_SECURE` (default true): the session cookie is sent over HTTPS only. False
    /// only for development over plain HTTP.
    pub cookie_secure: bool,
    /// `TELEGRAM_WEBAPP_JS_URL` (default Telegram's own): the Mini App script, loaded only
    /// inside Telegram. Development points it at tgsim's compatible one.
    pub telegram_js_url: HttpUrl,
    /// `WEB_FRAME_ANCESTORS` (default `https://web.telegram.org`): who may show the pages in a
    /// frame (Telegram Web shows a Mini App in an iframe); space-separated origins.
    pub frame_ancestors: FrameAncestors,
    /// `WEB_BOOKING_DAYS` (default 14, at most the clinic's horizon): the days a doctor's page
    /// offers.
    pub booking_days: u16,
    /// `TRUST_PROXY_HEADERS` (default false): take the client address from `X-Real-IP`.
    pub trust_proxy_headers: bool,
}

/// Origins allowed to frame the pages (`frame-ancestors`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameAncestors(pub Vec<String>);

impl FromEnv for FrameAncestors {
    const EXPECTED: &'static str =
        "space-separated origins such as https://web.telegram.org http://localhost:8090";
    fn parse_env(raw: &str) -> Result<Self, String> {
        raw.split_whitespace()
            .map(|origin| {
                let ok = (origin.starts_with("https://") || origin.starts_with("http://"))
                    && !origin.ends_with('/')
                    && origin
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b":/.-*".contains(&b));
                if ok {
                    Ok(origin.to_owned())
                } else {
                    Err(format!("{origin:?} is not scheme://host[:port]"))
                }
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }
}

impl Configuration for Config {
    fn variables() -> Vec<&'static str> {
        [
            BaseConfig::variables(&SPEC).as_slice(),
            BOOKING_RULES_VARIABLES,
            AccountsConfig::VARIABLES,
            BOT_TOKEN_VARIABLES,
            BOT_USERNAME_VARIABLES,
            &[
                "TELEGRAM_LINK_CODE_TTL_MINUTES",
                "WEB_INIT_DATA_MAX_AGE_SECONDS",
                "WEB_SESSION_HOURS",
                "WEB_COOKIE_SECURE",
                "TELEGRAM_WEBAPP_JS_URL",
                "WEB_FRAME_ANCESTORS",
                "WEB_BOOKING_DAYS",
                "TRUST_PROXY_HEADERS",
            ],
        ]
        .concat()
    }

    fn from_env<S: Source>(env: &Env<S>) -> Result<Self, ConfigError> {
        let rules = medsync_platform::config::booking_rules(env)?;
        let booking_days: u16 = env.or_within(
            "WEB_BOOKING_DAYS",
            14,
            1..=90,
            "a number of days from 1 to 90",
        )?;
        let link_minutes: u32 = env.or("TELEGRAM_LINK_CODE_TTL_MINUTES", 15)?;
        let max_age: u32 = env.or_within(
            "WEB_INIT_DATA_MAX_AGE_SECONDS",
            3600,
            60..=86_400,
            "a number of seconds from 60 to 86400",
        )?;
        let session_hours: u32 = env.or_within(
            "WEB_SESSION_HOURS",
            12,
            1..=24 * 90,
            "a number of hours from 1 to 2160",
        )?;
        let default_js = HttpUrl::parse_env(TELEGRAM_WEBAPP_JS).map_err(|why| ConfigError {
            var: "TELEGRAM_WEBAPP_JS_URL",
            value: None,
            problem: format!("has no valid default ({why})"),
            expected: "an https:// URL",
        })?;
        Ok(Self {
            base: BaseConfig::from_env(env, &SPEC)?,
            booking_days: booking_days.min(u16::try_from(rules.horizon_days).unwrap_or(90)),
            rules,
            accounts: AccountsConfig::from_env(env)?,
            bot_token: bot_token(env)?,
            bot_username: bot_username(env)?,
            link_ttl: SignedDuration::from_mins(i64::from(link_minutes.max(1))),
            init_data_max_age: SignedDuration::from_secs(i64::from(max_age)),
            session_ttl: SignedDuration::from_hours(i64::from(session_hours)),
            cookie_secure: env.or("WEB_COOKIE_SECURE", true)?,
            telegram_js_url: env.or("TELEGRAM_WEBAPP_JS_URL", default_js)?,
            frame_ancestors: env.or(
                "WEB_FRAME_ANCESTORS",
                FrameAncestors(vec!["https://web.telegram.org".to_owned()]),
            )?,
            trust_proxy_headers: env.or("TRUST_PROXY_HEADERS", false)?,
        })
    }
}
