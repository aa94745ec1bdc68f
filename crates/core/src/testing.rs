//! Helpers for the workspace's tests (feature `test-support`): real PostgreSQL and Redis from
//! `DATABASE_URL` and `REDIS_URL` (scripts/test.sh provides them), a Redis key prefix per test,
//! a running app on port 0, and running a built binary.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Output;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::config::{DatabaseConfig, DatabaseUrl, HttpConfig, RedisConfig, RedisUrl, Secret};
use crate::infra::{BaseConfig, Infra};
use crate::redis::Redis;

fn env_url(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} must point at a test server; scripts/test.sh starts one and sets it")
    })
}

/// The URL of the database `options` names (e.g. the fresh one `#[sqlx::test]` made), with
/// the server and credentials of `DATABASE_URL`.
pub fn database_url(options: &PgConnectOptions) -> String {
    let mut url = reqwest::Url::parse(&env_url("DATABASE_URL")).expect("DATABASE_URL is a URL");
    url.set_path(&format!(
        "/{}",
        options.get_database().expect("a database name")
    ));
    url.to_string()
}

/// A Redis configuration with a key prefix of its own, so tests never see each other's keys.
pub fn redis_config() -> RedisConfig {
    RedisConfig {
        url: RedisUrl(Secret::from(env_url("REDIS_URL").as_str())),
        key_prefix: format!("test:{}", uuid::Uuid::new_v4()),
    }
}

/// HTTP settings for a test: port 0 on loopback, a short grace period.
pub fn http_config() -> HttpConfig {
    HttpConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        shutdown_grace: Duration::from_secs(2),
        request_timeout: Duration::from_secs(10),
    }
}

/// A service configuration on the database `options` names, with its own Redis prefix.
pub fn base_config(options: &PgConnectOptions) -> BaseConfig {
    BaseConfig {
        http: http_config(),
        database: DatabaseConfig {
            url: DatabaseUrl(Secret::from(database_url(options).as_str())),
            max_connections: 5,
            acquire_timeout: Duration::from_secs(5),
        },
        redis: redis_config(),
    }
}

/// Connections for `base`.
pub fn infra(base: &BaseConfig) -> Infra {
    Infra::connect(base).expect("test connections")
}

/// Connections whose PostgreSQL is unreachable (a closed port), Redis real.
pub fn infra_without_postgres() -> Infra {
    let mut base = base_config(&PgConnectOptions::new().database("none"));
    base.database.url = DatabaseUrl(Secret::from("postgres://medsync:x@127.0.0.1:1/none"));
    base.database.acquire_timeout = Duration::from_millis(500);
    infra(&base)
}

/// Connections whose Redis is unreachable (a closed port).
pub fn redis_unreachable() -> Redis {
    Redis::connect(&RedisConfig {
        url: RedisUrl(Secret::from("redis://127.0.0.1:1/0")),
        key_prefix: "test:unreachable".to_owned(),
    })
    .expect("a lazy client")
}

/// An app running in the background; stopped (gracefully) when dropped or by [`stop`].
///
/// [`stop`]: TestApp::stop
#[derive(Debug)]
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// Cancelling it shuts the app down.
    pub shutdown: CancellationToken,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    /// Runs `app` on its own task.
    pub fn spawn(app: App) -> Self {
        let addr = app.local_addr().expect("a bound app");
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(app.run(shutdown.clone()));
        Self {
            url: format!("http://{addr}"),
            shutdown,
            handle: Some(handle),
        }
    }

    /// A GET of `path`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        reqwest::Client::new()
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .expect("the app answers")
    }

    /// Cancels the app and waits for it to return.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        let handle = self.handle.take().expect("running");
        tokio::time::timeout(Duration::from_secs(10), handle)
            .await
            .expect("the app stops within 10 s")?
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Runs a built binary with exactly `env` (plus `PATH`) and returns what it did.
pub fn run_binary(path: &str, args: &[&str], env: &HashMap<&str, &str>) -> Output {
    std::process::Command::new(path)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env)
        .output()
        .expect("the binary runs")
}

/// Asserts that starting the service binary at `path` with `DATABASE_URL` unset, then set to
/// garbage, fails with exit code 2 and a message naming `DATABASE_URL`, without a panic.
pub fn assert_refuses_bad_database_url(path: &str, args: &[&str]) {
    let base = HashMap::from([("REDIS_URL", "redis://127.0.0.1:1/0")]);
    let mut garbage = base.clone();
    garbage.insert("DATABASE_URL", "garbage");
    for (case, env) in [("unset", base), ("garbage", garbage)] {
        let out = run_binary(path, args, &env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "DATABASE_URL {case}: {stderr}");
        assert!(
            stderr.contains("DATABASE_URL"),
            "DATABASE_URL {case}: {stderr}"
        );
        assert!(
            !stderr.contains("panicked"),
            "DATABASE_URL {case}: {stderr}"
        );
    }
}
