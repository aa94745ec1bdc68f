//! Helpers for the workspace's tests (feature `test-support`): real PostgreSQL and Redis from
//! `DATABASE_URL` and `REDIS_URL` (scripts/test.sh provides them), a Redis key prefix per test,
//! a running app on port 0, and running a built binary.

// Test support panics when the test environment is broken: that is the failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Output;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use medsync_platform::app::App;
use medsync_platform::config::{DatabaseUrl, Env, RedisConfig, RedisUrl};
use medsync_platform::infra::{BaseConfig, Infra};
use medsync_platform::redis::Redis;

pub mod config;

pub use config::{base_config, config, config_without_database};

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
    RedisConfig::from_env(&Env::new(HashMap::from([
        ("REDIS_URL", env_url("REDIS_URL")),
        ("REDIS_KEY_PREFIX", format!("test:{}", uuid::Uuid::new_v4())),
    ])))
    .expect("REDIS_URL is a Redis URL")
}

/// Connections for `base`.
pub fn infra(base: &BaseConfig) -> Infra {
    Infra::connect(base).expect("test connections")
}

/// Connections whose PostgreSQL is unreachable (a closed port), Redis real.
pub fn infra_without_postgres() -> Infra {
    let mut base = base_config(&PgConnectOptions::new().database("none"));
    base.database.url =
        DatabaseUrl::parse("postgres://medsync:x@127.0.0.1:1/none").expect("a PostgreSQL URL");
    base.database.acquire_timeout = Duration::from_millis(500);
    infra(&base)
}

/// Connections whose Redis is unreachable (a closed port).
pub fn redis_unreachable() -> Redis {
    Redis::connect(&RedisConfig {
        url: RedisUrl::parse("redis://127.0.0.1:1/0").expect("a Redis URL"),
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

    /// `/readyz`'s status once it is 200, or the last one after `seconds`: readiness comes
    /// when the lazy connections are made, which a loaded machine may take a while to do.
    pub async fn ready_within(&self, seconds: u64) -> u16 {
        let deadline = std::time::Instant::now() + Duration::from_secs(seconds);
        loop {
            let status = self.get("/readyz").await.status().as_u16();
            if status == 200 || std::time::Instant::now() >= deadline {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
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

/// A loopback address with a port that was free a moment ago (for binaries, which cannot be
/// told to use port 0 and report back).
pub fn free_local_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address")
}

/// A service binary started with `DATABASE_URL`/`REDIS_URL` of the test environment and
/// `listen_var` set to a free port; it is killed when dropped.
#[derive(Debug)]
pub struct RunningBinary {
    /// The child process.
    pub child: std::process::Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The path of the binary.
    pub path: String,
    /// The variable naming its listen address.
    pub listen_var: &'static str,
}

impl RunningBinary {
    /// Starts `path` (with `extra` variables, which override the defaults) and waits (up to 10 s) until its `/healthz`
    /// answers.
    pub async fn start(path: &str, listen_var: &'static str, extra: &[(&str, &str)]) -> Self {
        let addr = free_local_addr();
        let child = std::process::Command::new(path)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", env_url("DATABASE_URL"))
            .env("REDIS_URL", env_url("REDIS_URL"))
            .env(listen_var, addr.to_string())
            .env("LOG_FORMAT", "json")
            .envs(extra.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the binary starts");
        let running = Self {
            child,
            addr,
            path: path.to_owned(),
            listen_var,
        };
        for _ in 0..100 {
            if medsync_platform::service::probe(&format!("http://{addr}/healthz"))
                .await
                .is_ok()
            {
                return running;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{path} did not answer /healthz on {addr} within 10 s");
    }

    /// Runs `<binary> healthcheck` against this process's address; true when it exits 0.
    pub fn healthcheck(&self) -> bool {
        healthcheck_exit_code(&self.path, self.listen_var, self.addr) == Some(0)
    }

    /// Sends SIGTERM and waits for the exit; returns the exit code and how long it took.
    pub fn terminate(mut self) -> (Option<i32>, Duration) {
        let started = std::time::Instant::now();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM failed");
        let deadline = started + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().expect("the child can be waited for") {
                return (status.code(), started.elapsed());
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no exit 15 s after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RunningBinary {
    fn drop(&mut self) {
        drop(self.child.kill());
        drop(self.child.wait());
    }
}

/// The exit code of `<binary> healthcheck` aimed (through `listen_var`) at `addr`.
pub fn healthcheck_exit_code(path: &str, listen_var: &str, addr: SocketAddr) -> Option<i32> {
    let addr = addr.to_string();
    run_binary(
        path,
        &["healthcheck"],
        &HashMap::from([(listen_var, addr.as_str())]),
    )
    .status
    .code()
}

/// Starts the service binary (with `extra` variables), checks its `healthcheck` subcommand
/// against it (0) and against a port where nothing listens (1), then sends SIGTERM: it must
/// exit 0 within 10 s.
pub async fn assert_binary_lifecycle(path: &str, listen_var: &'static str, extra: &[(&str, &str)]) {
    let running = RunningBinary::start(path, listen_var, extra).await;
    assert!(
        running.healthcheck(),
        "{path} healthcheck against a ready service"
    );
    assert_eq!(
        healthcheck_exit_code(path, listen_var, free_local_addr()),
        Some(1),
        "{path} healthcheck against nothing"
    );
    let (code, took) = running.terminate();
    assert_eq!(code, Some(0), "{path} exit code after SIGTERM");
    assert!(
        took < Duration::from_secs(10),
        "{path} took {took:?} to stop"
    );
}

/// A clinic open every day, 08:00–20:00 UTC, so that tomorrow always has free slots: the
/// specialty "Cardiology" and its doctor "Dr. Ada Heart" (30-minute slots). Returns their ids.
pub async fn clinic_open_every_day(db: &sqlx::PgPool) -> (uuid::Uuid, uuid::Uuid) {
    use medsync_domain::catalog::{self, WeeklyHours};
    let mut conn = db.acquire().await.expect("a connection");
    let specialty = catalog::upsert_specialty(&mut conn, "cardiology", "Cardiology", "Hearts")
        .await
        .expect("the specialty");
    let week: Vec<WeeklyHours> = (1..=7)
        .map(|weekday| WeeklyHours {
            weekday,
            starts_at: jiff::civil::time(8, 0, 0, 0),
            ends_at: jiff::civil::time(20, 0, 0, 0),
        })
        .collect();
    let doctor = catalog::upsert_doctor(
        &mut conn,
        "Dr. Ada Heart",
        "Cardiologist",
        30,
        &[specialty.id],
        &week,
    )
    .await
    .expect("the doctor");
    (specialty.id, doctor)
}
