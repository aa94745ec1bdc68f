//! Everything the api reads from the environment.

use axum::http::HeaderValue;
use jiff::SignedDuration;
use medsync_domain::bookings::BookingRules;
use medsync_platform::accounts::AccountsConfig;
use medsync_platform::config::{
    BOOKING_RULES_VARIABLES, ConfigError, Configuration, Env, FromEnv, Source, bot_username,
};
use medsync_platform::infra::BaseConfig;

use crate::tokens::{JwtAlgorithm, SigningSecret};

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
    /// Sign-in and registration limits and the password-hashing budget (`LOGIN_RATE_LIMIT_*`,
    /// `REGISTER_RATE_LIMIT_*`, `PASSWORD_HASH_*`), shared with the web app.
    pub accounts: AccountsConfig,
    /// `TRUST_PROXY_HEADERS` (default false): take the client address from `X-Real-IP`.
    pub trust_proxy_headers: bool,
    /// `MAX_BODY_BYTES` (default 65536): larger request bodies get 413.
    pub max_body_bytes: usize,
    /// `API_DOCS_UI` (default false): serve Swagger UI at `/api/docs`. The OpenAPI document
    /// at `/api/openapi.json` is always served.
    pub docs_ui: bool,
    /// `SLOTS_CACHE_MB` (default 64; 0: off): memory for kept free-slots answers.
    pub slots_cache_bytes: u64,
    /// `LISTS_CACHE_MB` (default 16; 0: off): memory for kept pages of
    /// lists of bookings and of the doctors search (half each).
    pub lists_cache_bytes: u64,
    /// `SESSION_CACHE_ENTRIES` (default 100000; 0: off): sessions remembered as signed in.
    pub session_cache_entries: usize,
}

impl Configuration for Config {
    fn variables() -> Vec<&'static str> {
        [
            BaseConfig::variables(&crate::SPEC).as_slice(),
            BOOKING_RULES_VARIABLES,
            AccountsConfig::VARIABLES,
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
                "TRUST_PROXY_HEADERS",
                "MAX_BODY_BYTES",
                "API_DOCS_UI",
                "SLOTS_CACHE_MB",
                "LISTS_CACHE_MB",
                "SESSION_CACHE_ENTRIES",
            ],
        ]
        .concat()
    }

    fn from_env<S: Source>(env: &Env<S>) -> Result<Self, ConfigError> {
        let mut base = BaseConfig::from_env(env, &crate::SPEC)?;
        // One connection is held listening for PostgreSQL's announcements (the kept slots
        // answers and lists, the remembered sessions: `changes::listen`); with a pool of one, no request
        // would ever get a connection.
        base.database.max_connections = base.database.max_connections.max(2);
        let access_minutes: u32 = env.or("ACCESS_TOKEN_EXPIRE_MINUTES", 15)?;
        let refresh_days: u32 = env.or("REFRESH_TOKEN_EXPIRE_DAYS", 30)?;
        let link_minutes: u32 = env.or("TELEGRAM_LINK_CODE_TTL_MINUTES", 15)?;
        let max_body: u32 = env.or("MAX_BODY_BYTES", 65_536)?;
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
            bot_username: bot_username(env)?,
            link_ttl: SignedDuration::from_mins(i64::from(link_minutes.max(1))),
            accounts: AccountsConfig::from_env(env)?,
            trust_proxy_headers: env.or("TRUST_PROXY_HEADERS", false)?,
            max_body_bytes: usize::try_from(max_body.max(1024)).unwrap_or(65_536),
            docs_ui: env.or("API_DOCS_UI", false)?,
            slots_cache_bytes: u64::from(env.or("SLOTS_CACHE_MB", 64_u32)?) << 20,
            lists_cache_bytes: u64::from(env.or("LISTS_CACHE_MB", 16_u32)?) << 20,
            session_cache_entries: usize::try_from(env.or("SESSION_CACHE_ENTRIES", 100_000_u32)?)
                .unwrap_or(100_000),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn with_pool(size: &str) -> u32 {
        let vars = HashMap::from([
            (
                "SECRET_KEY",
                "a-secret-key-of-more-than-thirty-two-characters",
            ),
            ("DATABASE_URL", "postgres://medsync@db:5432/medsync"),
            ("REDIS_URL", "redis://redis:6379/0"),
            ("DATABASE_MAX_CONNECTIONS", size),
        ]);
        Config::from_env(&Env::new(vars))
            .unwrap()
            .base
            .database
            .max_connections
    }

    #[test]
    fn the_pool_keeps_a_connection_for_requests_beside_the_listening_one() {
        assert_eq!(with_pool("1"), 2);
        assert_eq!(with_pool("2"), 2);
        assert_eq!(with_pool("16"), 16);
    }
}
