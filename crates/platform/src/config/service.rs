//! What every long-running service reads: where it listens, PostgreSQL, Redis and its logs.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;

use super::{ConfigError, Env, FromEnv, Seconds, Source};

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
    /// The variables it is read from, `listen_var` first.
    pub fn variables(listen_var: &'static str) -> Vec<&'static str> {
        vec![
            listen_var,
            "SHUTDOWN_GRACE_SECONDS",
            "REQUEST_TIMEOUT_SECONDS",
        ]
    }

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

/// A PostgreSQL connection URL, kept parsed. Secret: it usually carries a password, so its
/// `Debug` shows nothing of it (sqlx's options would print the password).
#[derive(Clone)]
pub struct DatabaseUrl(PgConnectOptions);

impl DatabaseUrl {
    /// Parses a `postgres://` URL.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let url = reqwest::Url::parse(raw).map_err(|e| format!("not a URL: {e}"))?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(format!("scheme {:?} instead of postgres://", url.scheme()));
        }
        PgConnectOptions::from_str(raw)
            .map(Self)
            .map_err(|_| "not a valid PostgreSQL connection URL".to_owned())
    }

    /// The connection options.
    pub fn options(&self) -> &PgConnectOptions {
        &self.0
    }
}

impl From<PgConnectOptions> for DatabaseUrl {
    fn from(options: PgConnectOptions) -> Self {
        Self(options)
    }
}

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
        Self::parse(raw)
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
    /// The variables it is read from.
    pub const VARIABLES: &[&str] = &[
        "DATABASE_URL",
        "DATABASE_MAX_CONNECTIONS",
        "DATABASE_ACQUIRE_TIMEOUT_SECONDS",
    ];

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

/// A Redis connection URL, kept parsed. Secret: it may carry a password.
#[derive(Clone)]
pub struct RedisUrl(redis::ConnectionInfo);

impl RedisUrl {
    /// Parses a `redis://` or `rediss://` URL.
    pub fn parse(raw: &str) -> Result<Self, String> {
        redis::IntoConnectionInfo::into_connection_info(raw)
            .map(Self)
            .map_err(|_| "not a valid redis:// or rediss:// URL".to_owned())
    }

    /// Where to connect, and as whom.
    pub fn info(&self) -> &redis::ConnectionInfo {
        &self.0
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RedisUrl([REDACTED])")
    }
}

impl FromEnv for RedisUrl {
    const EXPECTED: &'static str = "a Redis URL such as redis://redis:6379/0";
    const SECRET: bool = true;
    fn parse_env(raw: &str) -> Result<Self, String> {
        Self::parse(raw)
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
    /// The variables it is read from.
    pub const VARIABLES: &[&str] = &["REDIS_URL", "REDIS_KEY_PREFIX"];

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

/// Logs, and traces when they are exported.
#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    /// `LOG_FORMAT` (default `pretty`).
    pub format: LogFormat,
    /// `RUST_LOG` (default `info`): a tracing filter such as `info,medsync_api=debug`. It
    /// filters the spans exported as traces too.
    pub filter: String,
    /// OpenTelemetry traces (`OTEL_EXPORTER_OTLP_ENDPOINT` …), `None` when off.
    pub traces: Option<super::TracesConfig>,
}

impl TelemetryConfig {
    /// The variables it is read from (by the service runner, for every service).
    pub const VARIABLES: &[&str] = &[
        "LOG_FORMAT",
        "RUST_LOG",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_TRACES_SAMPLER_ARG",
    ];

    /// Reads `LOG_FORMAT`, `RUST_LOG` and the `OTEL_*` variables of [`super::TracesConfig`].
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
            traces: super::TracesConfig::from_env(env)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

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
    fn an_unknown_log_format_is_rejected() {
        let err = TelemetryConfig::from_env(&env(&[("LOG_FORMAT", "xml")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "LOG_FORMAT=\"xml\" is invalid (unknown format): expected json or pretty"
        );
    }
}
