//! Typed configuration, read from the environment once at start.
//!
//! Every service describes what it needs as a struct made of the pieces below
//! ([`HttpConfig`], [`DatabaseConfig`], [`RedisConfig`], [`TelemetryConfig`],
//! [`TelegramConfig`]) and builds it with [`Env`]. A missing or malformed variable stops the
//! service with a [`ConfigError`] that names the variable and says what is expected; the value
//! of a secret variable is never repeated in that message, nor in `Debug` output.
//!
//! Why not a configuration crate: `envy`/`figment` report serde errors ("invalid type: string,
//! expected u16") that name neither the variable nor what a valid value looks like, and print
//! the offending value, secrets included. The few lines here do what crates.io does in its own
//! `config` module: one helper per shape of variable, each failure worded for an operator.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

/// What `.env.template` puts where a secret must go: a secret still holding it is refused, so a
/// deployment cannot run on the template's values by mistake.
pub const PLACEHOLDER: &str = "change-me";

/// A variable that is missing or does not parse.
#[derive(Debug, thiserror::Error)]
#[error("{var}{} {problem}: expected {expected}", value.as_ref().map(|v| format!("={v:?}")).unwrap_or_default())]
pub struct ConfigError {
    /// The environment variable's name, e.g. `DATABASE_URL`.
    pub var: &'static str,
    /// The offending value, when it may be shown (never for secrets).
    pub value: Option<String>,
    /// What is wrong with it, worded to follow the name ("is not set").
    pub problem: String,
    /// What a valid value looks like.
    pub expected: &'static str,
}

/// Where variables come from: the process environment in services, a map in tests (so tests
/// never mutate the process environment, which is `unsafe` and racy across threads).
pub trait Source {
    /// The raw value of `var`, if set.
    fn get(&self, var: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Source for ProcessEnv {
    fn get(&self, var: &str) -> Option<String> {
        std::env::var(var).ok()
    }
}

impl Source for HashMap<String, String> {
    fn get(&self, var: &str) -> Option<String> {
        HashMap::get(self, var).cloned()
    }
}

impl Source for HashMap<&str, &str> {
    fn get(&self, var: &str) -> Option<String> {
        HashMap::get(self, var).map(|v| (*v).to_owned())
    }
}

/// A value that can be read from one environment variable.
pub trait FromEnv: Sized {
    /// What a valid value looks like, for the error message.
    const EXPECTED: &'static str;
    /// Whether the raw value must never be echoed back.
    const SECRET: bool = false;
    /// Parses the raw (non-empty, trimmed) value; the error says what is wrong with it.
    fn parse_env(raw: &str) -> Result<Self, String>;
}

/// Reads typed variables from a [`Source`]. Empty values count as unset, since compose's
/// `${VAR:-}` produces them.
#[derive(Debug, Clone, Copy)]
pub struct Env<S> {
    source: S,
}

impl Env<ProcessEnv> {
    /// The process environment.
    pub fn process() -> Self {
        Self { source: ProcessEnv }
    }
}

impl<S: Source> Env<S> {
    /// Variables from any source (tests use a `HashMap`).
    pub fn new(source: S) -> Self {
        Self { source }
    }

    fn raw(&self, var: &str) -> Option<String> {
        self.source
            .get(var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// The variable parsed, or `None` when unset or empty.
    pub fn optional<T: FromEnv>(&self, var: &'static str) -> Result<Option<T>, ConfigError> {
        let Some(raw) = self.raw(var) else {
            return Ok(None);
        };
        if T::SECRET && raw.contains(PLACEHOLDER) {
            return Err(ConfigError {
                var,
                value: None,
                problem: "still holds the \"change-me\" placeholder of .env.template".to_owned(),
                expected: T::EXPECTED,
            });
        }
        T::parse_env(&raw).map(Some).map_err(|why| ConfigError {
            var,
            value: (!T::SECRET).then_some(raw),
            problem: format!("is invalid ({why})"),
            expected: T::EXPECTED,
        })
    }

    /// The variable parsed; a missing one is an error.
    pub fn required<T: FromEnv>(&self, var: &'static str) -> Result<T, ConfigError> {
        self.optional(var)?.ok_or(ConfigError {
            var,
            value: None,
            problem: "is not set".to_owned(),
            expected: T::EXPECTED,
        })
    }

    /// The variable parsed, or `default` when unset.
    pub fn or<T: FromEnv>(&self, var: &'static str, default: T) -> Result<T, ConfigError> {
        Ok(self.optional(var)?.unwrap_or(default))
    }
}

macro_rules! from_env_via_from_str {
    ($($ty:ty => $expected:literal),* $(,)?) => {$(
        impl FromEnv for $ty {
            const EXPECTED: &'static str = $expected;
            fn parse_env(raw: &str) -> Result<Self, String> {
                <$ty>::from_str(raw).map_err(|e| e.to_string())
            }
        }
    )*};
}

from_env_via_from_str! {
    u16 => "a whole number from 0 to 65535",
    u32 => "a whole number",
    u64 => "a whole number",
    std::num::NonZeroU32 => "a whole number of at least 1",
    bool => "true or false",
    SocketAddr => "a listen address such as 0.0.0.0:8080",
    String => "a text value",
}

/// A number of seconds, e.g. `SHUTDOWN_GRACE_SECONDS=8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seconds(pub Duration);

impl FromEnv for Seconds {
    const EXPECTED: &'static str = "a whole number of seconds";
    fn parse_env(raw: &str) -> Result<Self, String> {
        u64::from_str(raw)
            .map(|s| Self(Duration::from_secs(s)))
            .map_err(|e| e.to_string())
    }
}

/// A secret value: prints as `[REDACTED]` and is never echoed in errors.
#[derive(Clone)]
pub struct Secret(pub SecretString);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl Secret {
    /// The secret's value, for the one place that needs it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(SecretString::from(value))
    }
}

impl FromEnv for Secret {
    const EXPECTED: &'static str = "a secret value";
    const SECRET: bool = true;
    fn parse_env(raw: &str) -> Result<Self, String> {
        Ok(Self::from(raw))
    }
}

/// An `http://` or `https://` URL (without a trailing slash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl(pub String);

impl FromEnv for HttpUrl {
    const EXPECTED: &'static str = "an http:// or https:// URL";
    fn parse_env(raw: &str) -> Result<Self, String> {
        let url = reqwest::Url::parse(raw).map_err(|e| e.to_string())?;
        match url.scheme() {
            "http" | "https" if url.host_str().is_some() => {
                Ok(Self(raw.trim_end_matches('/').to_owned()))
            }
            other => Err(format!("scheme {other:?} or no host")),
        }
    }
}

/// Where a service listens, and how long it lets requests finish on shutdown.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// `<SERVICE>_LISTEN_ADDR`, e.g. `API_LISTEN_ADDR=0.0.0.0:8080`.
    pub listen: SocketAddr,
    /// `SHUTDOWN_GRACE_SECONDS`: after SIGTERM, in-flight work gets this long (default 8 s,
    /// inside the 10 s `docker stop` gives before SIGKILL).
    pub shutdown_grace: Duration,
    /// `REQUEST_TIMEOUT_SECONDS`: a request running longer is answered 503 (default 30 s).
    pub request_timeout: Duration,
}

impl HttpConfig {
    /// Reads `listen_var` (with `default_port` on all interfaces when unset) and the shared
    /// shutdown and timeout variables.
    pub fn from_env<S: Source>(
        env: &Env<S>,
        listen_var: &'static str,
        default_port: u16,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            listen: env.or(listen_var, SocketAddr::from(([0, 0, 0, 0], default_port)))?,
            shutdown_grace: env
                .or("SHUTDOWN_GRACE_SECONDS", Seconds(Duration::from_secs(8)))?
                .0,
            request_timeout: env
                .or("REQUEST_TIMEOUT_SECONDS", Seconds(Duration::from_secs(30)))?
                .0,
        })
    }
}

/// A PostgreSQL connection URL. Secret: it usually carries a password.
#[derive(Clone)]
pub struct DatabaseUrl(pub Secret);

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DatabaseUrl([REDACTED])")
    }
}

impl FromEnv for DatabaseUrl {
    const EXPECTED: &'static str =
        "a PostgreSQL URL such as postgres://medsync:password@db:5432/medsync";
    const SECRET: bool = true;
    fn parse_env(raw: &str) -> Result<Self, String> {
        let url = reqwest::Url::parse(raw).map_err(|e| format!("not a URL: {e}"))?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(format!("scheme {:?} instead of postgres://", url.scheme()));
        }
        sqlx::postgres::PgConnectOptions::from_str(raw)
            .map_err(|_| "not a valid PostgreSQL connection URL".to_owned())?;
        Ok(Self(Secret::from(raw)))
    }
}

/// The PostgreSQL pool.
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// `DATABASE_URL`.
    pub url: DatabaseUrl,
    /// `DATABASE_MAX_CONNECTIONS` (default 10): per process; mind PostgreSQL's own
    /// `max_connections` times the number of replicas.
    pub max_connections: u32,
    /// `DATABASE_ACQUIRE_TIMEOUT_SECONDS` (default 5): how long a request waits for a pooled
    /// connection before failing.
    pub acquire_timeout: Duration,
}

impl DatabaseConfig {
    /// Reads `DATABASE_URL` (required) and the pool settings.
    pub fn from_env<S: Source>(env: &Env<S>) -> Result<Self, ConfigError> {
        Ok(Self {
            url: env.required("DATABASE_URL")?,
            max_connections: env.or("DATABASE_MAX_CONNECTIONS", 10)?,
            acquire_timeout: env
                .or(
                    "DATABASE_ACQUIRE_TIMEOUT_SECONDS",
                    Seconds(Duration::from_secs(5)),
                )?
                .0,
        })
    }
}

/// A Redis connection URL. Secret: it may carry a password.
#[derive(Clone)]
pub struct RedisUrl(pub Secret);

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RedisUrl([REDACTED])")
    }
}

impl FromEnv for RedisUrl {
    const EXPECTED: &'static str = "a Redis URL such as redis://redis:6379/0";
    const SECRET: bool = true;
    fn parse_env(raw: &str) -> Result<Self, String> {
        redis::Client::open(raw).map_err(|_| "not a valid redis:// or rediss:// URL".to_owned())?;
        Ok(Self(Secret::from(raw)))
    }
}

/// Redis: one multiplexed connection per process, keys under one prefix.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// `REDIS_URL`.
    pub url: RedisUrl,
    /// `REDIS_KEY_PREFIX` (default `medsync`): every key this deployment writes starts with
    /// `<prefix>:`, so several deployments (or tests) can share one Redis.
    pub key_prefix: String,
}

impl RedisConfig {
    /// Reads `REDIS_URL` (required) and `REDIS_KEY_PREFIX`.
    pub fn from_env<S: Source>(env: &Env<S>) -> Result<Self, ConfigError> {
        Ok(Self {
            url: env.required("REDIS_URL")?,
            key_prefix: env.or("REDIS_KEY_PREFIX", "medsync".to_owned())?,
        })
    }
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line: for production, where logs are collected.
    Json,
    /// Human-readable, coloured when a terminal is attached: for development.
    Pretty,
}

impl FromEnv for LogFormat {
    const EXPECTED: &'static str = "json or pretty";
    fn parse_env(raw: &str) -> Result<Self, String> {
        match raw.to_ascii_lowercase().as_str() {
            "json" => Ok(Self::Json),
            "pretty" | "text" => Ok(Self::Pretty),
            _ => Err("unknown format".to_owned()),
        }
    }
}

/// Logs.
#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    /// `LOG_FORMAT` (default `pretty`).
    pub format: LogFormat,
    /// `RUST_LOG` (default `info`): a tracing filter such as `info,medsync_api=debug`.
    pub filter: String,
}

impl TelemetryConfig {
    /// Reads `LOG_FORMAT` and `RUST_LOG`.
    pub fn from_env<S: Source>(env: &Env<S>) -> Result<Self, ConfigError> {
        let filter: String = env.or("RUST_LOG", "info".to_owned())?;
        tracing_subscriber::EnvFilter::try_new(&filter).map_err(|e| ConfigError {
            var: "RUST_LOG",
            value: Some(filter.clone()),
            problem: format!("is invalid ({e})"),
            expected: "a tracing filter such as info or info,medsync_api=debug",
        })?;
        Ok(Self {
            format: env.or("LOG_FORMAT", LogFormat::Pretty)?,
            filter,
        })
    }
}

/// Where Telegram updates come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TelegramMode {
    /// The bot long-polls `getUpdates` (development; no public URL needed).
    Polling,
    /// Telegram posts to the webhook service, which hands updates to the bot through Redis.
    Webhook,
}

impl FromEnv for TelegramMode {
    const EXPECTED: &'static str = "polling or webhook";
    fn parse_env(raw: &str) -> Result<Self, String> {
        match raw.to_ascii_lowercase().as_str() {
            "polling" => Ok(Self::Polling),
            "webhook" => Ok(Self::Webhook),
            _ => Err("unknown mode".to_owned()),
        }
    }
}

/// The real Bot API; tgsim replaces it in development and tests.
pub const TELEGRAM_DEFAULT_API_URL: &str = "https://api.telegram.org";

/// Telegram.
#[derive(Debug, Clone)]
pub struct TelegramConfig {
    /// `TELEGRAM_BOT_TOKEN`: from @BotFather. Unset: the services that talk to Telegram stay
    /// idle and say so in their log.
    pub bot_token: Option<Secret>,
    /// `TELEGRAM_API_URL` (default the real Bot API): `https://`, or `http://` to a loopback
    /// address, or anywhere with `TELEGRAM_API_ALLOW_HTTP=true` (development with tgsim).
    pub api_url: HttpUrl,
    /// `TELEGRAM_MODE` (default `polling`).
    pub mode: TelegramMode,
    /// `TELEGRAM_WEBHOOK_SECRET`: the `secret_token` Telegram echoes in
    /// `X-Telegram-Bot-Api-Secret-Token`; required in webhook mode.
    pub webhook_secret: Option<Secret>,
}

/// A Telegram webhook secret token: `A-Z a-z 0-9 _ -` (the Bot API's alphabet), at least 32
/// characters (ours: it is the only thing between the internet and the bot's input; the Bot
/// API allows 1) and at most 256 (the Bot API's limit).
struct WebhookSecret(Secret);

impl FromEnv for WebhookSecret {
    const EXPECTED: &'static str =
        "32 to 256 characters of A-Z, a-z, 0-9, _ and - (scripts/make-env.sh makes one)";
    const SECRET: bool = true;
    fn parse_env(raw: &str) -> Result<Self, String> {
        let ok = (32..=256).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok {
            Ok(Self(Secret::from(raw)))
        } else {
            Err("length or characters".to_owned())
        }
    }
}

/// A bot token as @BotFather issues it: `<bot id>:<secret>`.
struct BotToken(Secret);

impl FromEnv for BotToken {
    const EXPECTED: &'static str = "a bot token such as 123456789:AAE... (from @BotFather)";
    const SECRET: bool = true;
    fn parse_env(raw: &str) -> Result<Self, String> {
        match raw.split_once(':') {
            Some((id, rest))
                if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) && !rest.is_empty() =>
            {
                Ok(Self(Secret::from(raw)))
            }
            _ => Err("not of the form <digits>:<secret>".to_owned()),
        }
    }
}

impl TelegramConfig {
    /// For the service that receives Telegram's webhook calls: in webhook mode the secret
    /// must be set (the bot and the worker never see it).
    pub fn require_webhook_secret(&self) -> Result<(), ConfigError> {
        if self.mode == TelegramMode::Webhook && self.webhook_secret.is_none() {
            return Err(ConfigError {
                var: "TELEGRAM_WEBHOOK_SECRET",
                value: None,
                problem: "is not set but TELEGRAM_MODE=webhook".to_owned(),
                expected: WebhookSecret::EXPECTED,
            });
        }
        Ok(())
    }
}

/// Whether `url` is `https://`, or `http://` to a loopback address (a simulator on this host).
fn is_https_or_loopback(url: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(url) else {
        return false;
    };
    let loopback = url.host_str().is_some_and(|host| {
        host == "localhost"
            || host
                .trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    });
    url.scheme() == "https" || (url.scheme() == "http" && loopback)
}

impl TelegramConfig {
    /// Reads the `TELEGRAM_*` variables.
    pub fn from_env<S: Source>(env: &Env<S>) -> Result<Self, ConfigError> {
        let mode = env.or("TELEGRAM_MODE", TelegramMode::Polling)?;
        let webhook_secret = env
            .optional::<WebhookSecret>("TELEGRAM_WEBHOOK_SECRET")?
            .map(|s| s.0);
        let api_url = env.or(
            "TELEGRAM_API_URL",
            HttpUrl(TELEGRAM_DEFAULT_API_URL.to_owned()),
        )?;
        let allow_http = env.or("TELEGRAM_API_ALLOW_HTTP", false)?;
        if !allow_http && !is_https_or_loopback(&api_url.0) {
            return Err(ConfigError {
                var: "TELEGRAM_API_URL",
                value: Some(api_url.0),
                problem: "is plain http: the bot token would cross the network in clear".to_owned(),
                expected: "an https:// URL (or set TELEGRAM_API_ALLOW_HTTP=true for a local \
                           simulator)",
            });
        }
        Ok(Self {
            bot_token: env.optional::<BotToken>("TELEGRAM_BOT_TOKEN")?.map(|t| t.0),
            api_url,
            mode,
            webhook_secret,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&'static str, &'static str)]) -> Env<HashMap<&'static str, &'static str>> {
        Env::new(pairs.iter().copied().collect())
    }

    #[test]
    fn a_missing_database_url_is_named_with_what_is_expected() {
        let err = DatabaseConfig::from_env(&env(&[])).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("DATABASE_URL is not set"), "{msg}");
        assert!(msg.contains("postgres://"), "{msg}");
    }

    #[test]
    fn a_garbage_database_url_is_rejected_without_echoing_it() {
        let err =
            DatabaseConfig::from_env(&env(&[("DATABASE_URL", "garbage-s3cret")])).unwrap_err();
        let msg = err.to_string();
        assert_eq!(err.var, "DATABASE_URL");
        assert!(!msg.contains("s3cret"), "{msg}");
    }

    #[test]
    fn a_database_url_of_another_scheme_is_rejected() {
        let err =
            DatabaseConfig::from_env(&env(&[("DATABASE_URL", "mysql://u:p@h/db")])).unwrap_err();
        assert!(err.to_string().contains("instead of postgres://"), "{err}");
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let cfg = DatabaseConfig::from_env(&env(&[(
            "DATABASE_URL",
            "postgres://medsync:hunter2@db:5432/medsync",
        )]))
        .unwrap();
        assert!(!format!("{cfg:?}").contains("hunter2"));
        assert_eq!(cfg.max_connections, 10);
    }

    #[test]
    fn secrets_left_at_the_template_placeholder_are_refused() {
        let err = DatabaseConfig::from_env(&env(&[(
            "DATABASE_URL",
            "postgres://medsync:change-me-postgres-password@db:5432/medsync",
        )]))
        .unwrap_err();
        assert_eq!(err.var, "DATABASE_URL");
        assert!(err.to_string().contains("placeholder"), "{err}");
        let err = TelegramConfig::from_env(&env(&[(
            "TELEGRAM_BOT_TOKEN",
            "123456789:change-me-telegram-bot-token",
        )]))
        .unwrap_err();
        assert_eq!(err.var, "TELEGRAM_BOT_TOKEN");
    }

    #[test]
    fn a_malformed_number_names_the_variable_and_shows_the_value() {
        let err = HttpConfig::from_env(
            &env(&[("SHUTDOWN_GRACE_SECONDS", "soon")]),
            "API_LISTEN_ADDR",
            8080,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "SHUTDOWN_GRACE_SECONDS=\"soon\" is invalid (invalid digit found in string): \
             expected a whole number of seconds"
        );
    }

    #[test]
    fn empty_values_count_as_unset() {
        let cfg = HttpConfig::from_env(&env(&[("API_LISTEN_ADDR", "  ")]), "API_LISTEN_ADDR", 8080)
            .unwrap();
        assert_eq!(cfg.listen, SocketAddr::from(([0, 0, 0, 0], 8080)));
    }

    #[test]
    fn a_short_webhook_secret_is_refused() {
        let short = TelegramConfig::from_env(&env(&[(
            "TELEGRAM_WEBHOOK_SECRET",
            "only-31-characters-long-secret!",
        )]));
        assert_eq!(short.unwrap_err().var, "TELEGRAM_WEBHOOK_SECRET");
        let short = TelegramConfig::from_env(&env(&[(
            "TELEGRAM_WEBHOOK_SECRET",
            "a-secret-of-31-characters-long_",
        )]));
        assert_eq!(short.unwrap_err().var, "TELEGRAM_WEBHOOK_SECRET");
        let long = TelegramConfig::from_env(&env(&[(
            "TELEGRAM_WEBHOOK_SECRET",
            "a-secret-of-32-characters-long__",
        )]));
        assert!(long.unwrap().webhook_secret.is_some());
    }

    #[test]
    fn the_bot_api_is_reached_over_https_unless_local_or_allowed() {
        for url in [
            "https://api.telegram.org",
            "http://127.0.0.1:8090",
            "http://localhost:1",
            "http://[::1]:2",
        ] {
            let cfg = TelegramConfig::from_env(&env(&[("TELEGRAM_API_URL", url)]));
            assert!(cfg.is_ok(), "{url}: {cfg:?}");
        }
        let plain = TelegramConfig::from_env(&env(&[("TELEGRAM_API_URL", "http://tgsim:8090")]))
            .unwrap_err();
        assert_eq!(plain.var, "TELEGRAM_API_URL");
        assert!(
            plain.to_string().contains("TELEGRAM_API_ALLOW_HTTP"),
            "{plain}"
        );
        let allowed = TelegramConfig::from_env(&env(&[
            ("TELEGRAM_API_URL", "http://tgsim:8090"),
            ("TELEGRAM_API_ALLOW_HTTP", "true"),
        ]));
        assert!(allowed.is_ok(), "{allowed:?}");
    }

    #[test]
    fn webhook_mode_requires_a_webhook_secret() {
        let cfg = TelegramConfig::from_env(&env(&[("TELEGRAM_MODE", "webhook")])).unwrap();
        let err = cfg.require_webhook_secret().unwrap_err();
        assert_eq!(err.var, "TELEGRAM_WEBHOOK_SECRET");
    }

    #[test]
    fn telegram_defaults_to_polling_the_real_bot_api() {
        let cfg = TelegramConfig::from_env(&env(&[])).unwrap();
        assert_eq!(cfg.mode, TelegramMode::Polling);
        assert_eq!(cfg.api_url.0, TELEGRAM_DEFAULT_API_URL);
        assert!(cfg.bot_token.is_none());
    }

    #[test]
    fn a_malformed_bot_token_is_rejected_without_echoing_it() {
        let err =
            TelegramConfig::from_env(&env(&[("TELEGRAM_BOT_TOKEN", "not-a-token")])).unwrap_err();
        assert_eq!(err.var, "TELEGRAM_BOT_TOKEN");
        assert!(!err.to_string().contains("not-a-token"));
    }

    #[test]
    fn an_unknown_log_format_is_rejected() {
        let err = TelemetryConfig::from_env(&env(&[("LOG_FORMAT", "xml")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "LOG_FORMAT=\"xml\" is invalid (unknown format): expected json or pretty"
        );
    }
}
