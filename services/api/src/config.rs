//! Everything the api reads from the environment.

use std::time::Duration;

use axum::http::HeaderValue;
use jiff::SignedDuration;
use medsync_domain::bookings::BookingRules;
use medsync_platform::config::{
    BOOKING_RULES_VARIABLES, ConfigError, Configuration, Env, FromEnv, Source,
};
use medsync_platform::infra::BaseConfig;

use crate::tokens::{JwtAlgorithm, SigningSecret};

/// `limit` events per `period`, with bursts of up to `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Events allowed per period.
    pub limit: u32,
    /// The period.
    pub period: Duration,
}

/// `CORS_ALLOWED_ORIGINS`: comma-separated origins such as `https://app.clinic.example`.
#[derive(Debug, Clone, Default)]
pub struct Origins(pub Vec<HeaderValue>);

impl FromEnv for Origins {
    const EXPECTED: &'static str =
        "comma-separated origins such as https://app.clinic.example,http://localhost:5173";
    fn parse_env(raw: &str) -> Result<Self, String> {
        raw.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|origin| {
                let ok = (origin.starts_with("http://") || origin.starts_with("https://"))
                    && !origin.ends_with('/');
                if !ok {
                    return Err(format!("{origin:?} is not scheme://host[:port]"));
                }
                HeaderValue::from_str(origin).map_err(|e| e.to_string())
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }
}

/// A Telegram bot username (5–32 characters of `A-Z a-z 0-9 _`, without `@`).
#[derive(Debug, Clone)]
pub struct BotUsername(pub String);

impl FromEnv for BotUsername {
    const EXPECTED: &'static str = "the bot's username without @, e.g. medsync_bot";
    fn parse_env(raw: &str) -> Result<Self, String> {
        let name = raw.trim_start_matches('@');
        let ok = (5..=32).contains(&name.len())
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if ok {
            Ok(Self(name.to_owned()))
        } else {
            Err("not a bot username".to_owned())
        }
    }
}

/// The api's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen address, PostgreSQL, Redis.
    pub base: BaseConfig,
    /// `SECRET_KEY`: signs access tokens.
    pub secret_key: SigningSecret,
    /// `SECRET_KEY_PREVIOUS`: during a key rotation, still verifies the tokens it signed.
    pub secret_key_previous: Option<SigningSecret>,
    /// `ALGORITHM` (default HS256).
    pub algorithm: JwtAlgorithm,
    /// `ACCESS_TOKEN_EXPIRE_MINUTES` (default 15).
    pub access_ttl: SignedDuration,
    /// `REFRESH_TOKEN_EXPIRE_DAYS` (default 30).
    pub refresh_ttl: SignedDuration,
    /// `REFRESH_SESSION_MAX_DAYS` (default 90): a session ends this long after its sign-in,
    /// however often it was refreshed.
    pub session_max: SignedDuration,
    /// `CLINIC_TIMEZONE`, `REMINDER_OFFSETS`, `CANCELLATION_NOTICE_HOURS`.
    pub booking: BookingRules,
    /// `CORS_ALLOWED_ORIGINS` (default none: browsers on other origins are refused).
    pub cors_origins: Origins,
    /// `TELEGRAM_BOT_USERNAME` (default `medsync_bot`): for `t.me` links.
    pub bot_username: String,
    /// `TELEGRAM_LINK_CODE_TTL_MINUTES` (default 15).
    pub link_ttl: SignedDuration,
    /// `LOGIN_RATE_LIMIT_PER_IP` attempts per minute from one address (default 20).
    pub login_per_ip: Quota,
    /// `LOGIN_RATE_LIMIT_PER_ACCOUNT` failed sign-ins per minute on one email from one address
    /// (default 5); ten times that from all addresses together.
    pub login_per_account: Quota,
    /// `REGISTER_RATE_LIMIT_PER_IP` registrations per minute from one address (default 5).
    pub register_per_ip: Quota,
    /// `REGISTER_RATE_LIMIT_PER_EMAIL` registration attempts per minute for one email
    /// (default 3).
    pub register_per_email: Quota,
    /// `REGISTER_RATE_LIMIT_GLOBAL` registrations per minute in all (default 60).
    pub register_global: Quota,
    /// `PASSWORD_HASH_CONCURRENCY` (default: the cores this process may use): password
    /// hashes computed at once, each with 19 MiB.
    pub hash_concurrency: usize,
    /// `PASSWORD_HASH_WAIT_MS` (default 1000): how long a sign-in waits for a free hashing
    /// slot before it is answered 503 with `Retry-After`.
    pub hash_wait: Duration,
    /// `TRUST_PROXY_HEADERS` (default false): take the client address from `X-Real-IP`.
    pub trust_proxy_headers: bool,
    /// `MAX_BODY_BYTES` (default 65536): larger request bodies get 413.
    pub max_body_bytes: usize,
    /// `API_DOCS_UI` (default false): serve Swagger UI at `/api/docs`. The OpenAPI document
    /// at `/api/openapi.json` is always served.
    pub docs_ui: bool,
}

fn per_minute(limit: u32) -> Quota {
    Quota {
        limit: limit.max(1),
        period: Duration::from_secs(60),
    }
}

impl Configuration for Config {
    fn variables() -> Vec<&'static str> {
        [
            BaseConfig::variables(&crate::SPEC).as_slice(),
            BOOKING_RULES_VARIABLES,
            &[
                "SECRET_KEY",
                "SECRET_KEY_PREVIOUS",
                "ALGORITHM",
                "ACCESS_TOKEN_EXPIRE_MINUTES",
                "REFRESH_TOKEN_EXPIRE_DAYS",
                "REFRESH_SESSION_MAX_DAYS",
                "CORS_ALLOWED_ORIGINS",
                "TELEGRAM_BOT_USERNAME",
                "TELEGRAM_LINK_CODE_TTL_MINUTES",
                "LOGIN_RATE_LIMIT_PER_IP",
                "LOGIN_RATE_LIMIT_PER_ACCOUNT",
                "REGISTER_RATE_LIMIT_PER_IP",
                "REGISTER_RATE_LIMIT_PER_EMAIL",
                "REGISTER_RATE_LIMIT_GLOBAL",
                "PASSWORD_HASH_CONCURRENCY",
                "PASSWORD_HASH_WAIT_MS",
                "TRUST_PROXY_HEADERS",
                "MAX_BODY_BYTES",
                "API_DOCS_UI",
            ],
        ]
        .concat()
    }

    fn from_env<S: Source>(env: &Env<S>) -> Result<Self, ConfigError> {
        let base = BaseConfig::from_env(env, &crate::SPEC)?;
        let access_minutes: u32 = env.or("ACCESS_TOKEN_EXPIRE_MINUTES", 15)?;
        let refresh_days: u32 = env.or("REFRESH_TOKEN_EXPIRE_DAYS", 30)?;
        let link_minutes: u32 = env.or("TELEGRAM_LINK_CODE_TTL_MINUTES", 15)?;
        let max_body: u32 = env.or("MAX_BODY_BYTES", 65_536)?;
        let hash_concurrency: u32 = env.or_within(
            "PASSWORD_HASH_CONCURRENCY",
            u32::try_from(medsync_domain::password::Hasher::cores()).unwrap_or(1),
            1..=256,
            "a number of hashes from 1 to 256 (each takes 19 MiB)",
        )?;
        let hash_wait_ms: u64 = env.or("PASSWORD_HASH_WAIT_MS", 1000)?;
        Ok(Self {
            base,
            secret_key: env.required("SECRET_KEY")?,
            secret_key_previous: env.optional("SECRET_KEY_PREVIOUS")?,
            algorithm: env.or("ALGORITHM", JwtAlgorithm(jsonwebtoken::Algorithm::HS256))?,
            access_ttl: SignedDuration::from_mins(i64::from(access_minutes.max(1))),
            refresh_ttl: SignedDuration::from_hours(24 * i64::from(refresh_days.max(1))),
            session_max: SignedDuration::from_hours(
                24 * i64::from(env.or("REFRESH_SESSION_MAX_DAYS", 90_u32)?.max(1)),
            ),
            booking: medsync_platform::config::booking_rules(env)?,
            cors_origins: env.or("CORS_ALLOWED_ORIGINS", Origins::default())?,
            bot_username: env
                .or(
                    "TELEGRAM_BOT_USERNAME",
                    BotUsername("medsync_bot".to_owned()),
                )?
                .0,
            link_ttl: SignedDuration::from_mins(i64::from(link_minutes.max(1))),
            login_per_ip: per_minute(env.or("LOGIN_RATE_LIMIT_PER_IP", 20)?),
            login_per_account: per_minute(env.or("LOGIN_RATE_LIMIT_PER_ACCOUNT", 5)?),
            register_per_ip: per_minute(env.or("REGISTER_RATE_LIMIT_PER_IP", 5)?),
            register_per_email: per_minute(env.or("REGISTER_RATE_LIMIT_PER_EMAIL", 3)?),
            register_global: per_minute(env.or("REGISTER_RATE_LIMIT_GLOBAL", 60)?),
            hash_concurrency: usize::try_from(hash_concurrency).unwrap_or(1),
            hash_wait: Duration::from_millis(hash_wait_ms.min(60_000)),
            trust_proxy_headers: env.or("TRUST_PROXY_HEADERS", false)?,
            max_body_bytes: usize::try_from(max_body.max(1024)).unwrap_or(65_536),
            docs_ui: env.or("API_DOCS_UI", false)?,
        })
    }
}
