//! What the worker tests share: a worker in process, tgsim, jobs by SQL.

use std::time::Duration;

use medsync_testkit::{self as testing, TestApp};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use uuid::Uuid;

pub const TOKEN: &str = medsync_tgsim::harness::TEST_TOKEN;

pub async fn pool(options: &PgConnectOptions) -> PgPool {
    PgPoolOptions::new()
        .max_connections(4)
        .connect_with(options.clone())
        .await
        .unwrap()
}

/// The worker's configuration with `vars` on top of test defaults (fast retries).
pub fn config(options: &PgConnectOptions, vars: &[(&str, &str)]) -> medsync_worker::Config {
    let mut all = vec![
        ("WORKER_BACKOFF_BASE_MS", "200"),
        ("WORKER_LEASE_SECONDS", "10"),
        ("WORKER_POLL_SECONDS", "5"),
    ];
    all.extend_from_slice(vars);
    testing::config(&medsync_worker::SPEC, options, &all)
}

pub async fn worker(config: medsync_worker::Config) -> TestApp {
    let infra = testing::infra(&config.base);
    TestApp::spawn(medsync_worker::build_with(config, infra).await.unwrap())
}

pub use medsync_tgsim::harness::TestSim as Sim;

/// A Telegram-only patient (chat id = Telegram user id).
pub async fn telegram_patient(db: &PgPool, telegram_id: i64, name: &str) -> Uuid {
    let mut conn = db.acquire().await.unwrap();
    medsync_domain::users::telegram_patient(&mut conn, telegram_id, name)
        .await
        .unwrap()
        .id
}

/// A job's status, attempts, worker, last error and note.
pub async fn job(
    db: &PgPool,
    id: Uuid,
) -> (String, i32, Option<String>, Option<String>, Option<String>) {
    sqlx::query_as(
        "SELECT status::text, attempts, locked_by, last_error, note FROM jobs WHERE id = $1",
    )
    .bind(id)
    .fetch_one(db)
    .await
    .unwrap()
}

/// Waits (up to `seconds`) until `sql` (a boolean query) is true.
pub async fn wait_until(db: &PgPool, sql: &str, seconds: u64) {
    for _ in 0..seconds * 20 {
        let done: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(db)
            .await
            .unwrap();
        if done {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("still false after {seconds} s: {sql}");
}

/// Enqueues `n` no-op jobs taking `sleep_ms` each; returns their ids.
pub async fn noop_jobs(db: &PgPool, n: i64, sleep_ms: u64) -> Vec<Uuid> {
    sqlx::query_scalar(
        "INSERT INTO jobs (id, kind, payload)
         SELECT gen_random_uuid(), 'system.noop', jsonb_build_object('v', 1, 'sleep_ms', $2::bigint)
         FROM generate_series(1, $1) RETURNING id",
    )
    .bind(n)
    .bind(i64::try_from(sleep_ms).unwrap())
    .fetch_all(db)
    .await
    .unwrap()
}

/// The sum of a counter over its labels in a Prometheus text exposition.
pub fn counter(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter(|l| l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
