//! The worker over real HTTP, PostgreSQL and Redis.

use crate::common;

use std::time::Duration;

use medsync_testkit::{self as testing, TestApp};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn the_worker_is_ready_and_publishes_the_queue_depth(
    pool_options: PgPoolOptions,
    options: PgConnectOptions,
) {
    let pool = pool_options.connect_with(options.clone()).await.unwrap();
    // Due in an hour: they stay queued while the depth is measured.
    sqlx::query(
        "INSERT INTO jobs (id, kind, payload, run_at) VALUES
         ($1, 'system.noop', '{\"v\": 1}', now() + interval '1 hour'),
         ($2, 'system.noop', '{\"v\": 1}', now() + interval '1 hour')",
    )
    .bind(uuid::Uuid::now_v7())
    .bind(uuid::Uuid::now_v7())
    .execute(&pool)
    .await
    .unwrap();
    let config = common::config(&options, &[("WORKER_STATS_INTERVAL_SECONDS", "1")]);
    let infra = testing::infra(&config.base);
    let app = TestApp::spawn(medsync_worker::build_with(config, infra).await.unwrap());

    assert_eq!(app.ready_within(10).await, 200);
    let mut metrics = String::new();
    for _ in 0..50 {
        metrics = app.get("/metrics").await.text().await.unwrap();
        if metrics.contains("medsync_jobs{status=\"queued\"} 2") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    assert!(
        metrics.contains("medsync_jobs{status=\"queued\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("medsync_jobs{status=\"dead\"} 0"),
        "{metrics}"
    );
    // What the alert rules watch (values aside: the recorder is shared by the tests of this
    // process, which run side by side): readiness and its checks, the pool, the lanes, the
    // queue's lag, and every job counter from the start.
    for name in [
        "medsync_ready ",
        "medsync_check_up{check=\"postgres\"}",
        "medsync_check_up{check=\"lanes\"}",
        "medsync_db_pool_connections{state=\"in_use\"}",
        "medsync_db_pool_max_connections ",
        "medsync_worker_lanes{state=\"live\"}",
        "medsync_worker_lanes{state=\"wanted\"}",
        "medsync_jobs_oldest_due_seconds ",
        "medsync_jobs_dead_total{kind=\"booking.reminder\"}",
        "medsync_jobs_failed_total{kind=\"booking.confirmation\"}",
    ] {
        assert!(metrics.contains(name), "{name} missing from:\n{metrics}");
    }
    app.stop().await.unwrap();
}

#[test]
fn the_binary_refuses_a_missing_or_garbage_database_url() {
    testing::assert_refuses_bad_database_url(env!("CARGO_BIN_EXE_worker"), &[]);
}

#[tokio::test]
async fn the_binary_answers_its_healthcheck_and_exits_0_on_sigterm() {
    testing::assert_binary_lifecycle(env!("CARGO_BIN_EXE_worker"), "WORKER_LISTEN_ADDR", &[]).await;
}

#[test]
fn every_variable_the_worker_reads_is_declared_and_documented_in_the_env_template() {
    use medsync_platform::config::Configuration;
    testing::config::assert_matches_env_template(
        &medsync_worker::Config::variables(),
        medsync_worker::Config::from_env,
    );
}
