//! `manage wait-ready`: giving up by name, returning once ready, waiting for the schema.

use std::time::{Duration, Instant};

use medsync_platform::config::{DatabaseConfig, DatabaseUrl};
use medsync_testkit as testing;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::*;

#[tokio::test]
async fn wait_ready_gives_up_naming_what_never_answered() {
    let database = DatabaseConfig {
        url: DatabaseUrl::parse("postgres://medsync:x@127.0.0.1:1/medsync").unwrap(),
        max_connections: 1,
        acquire_timeout: Duration::from_millis(300),
    };
    let started = Instant::now();

    let error = medsync_manage::wait::until_ready(
        &database,
        &testing::redis_config(),
        Duration::from_secs(2),
        false,
    )
    .await
    .unwrap_err();

    let message = error.to_string();
    assert!(message.contains("PostgreSQL"), "{message}");
    assert!(!message.contains("Redis"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn wait_ready_returns_once_both_answer() {
    let database = DatabaseConfig {
        url: DatabaseUrl::parse(std::env::var("DATABASE_URL").unwrap().as_str()).unwrap(),
        max_connections: 1,
        acquire_timeout: Duration::from_secs(2),
    };

    medsync_manage::wait::until_ready(
        &database,
        &testing::redis_config(),
        Duration::from_secs(10),
        false,
    )
    .await
    .unwrap();
}

#[sqlx::test(migrations = false)]
async fn wait_ready_for_the_schema_waits_until_someone_else_migrates(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let config = database(&options);
    let started = Instant::now();

    // Nobody migrates: it gives up naming the schema.
    let error = medsync_manage::wait::until_ready(
        &config,
        &testing::redis_config(),
        Duration::from_secs(2),
        true,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(error.contains("the schema"), "{error}");
    assert!(error.contains("migrations not applied"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(10));

    // The one-shot migrates while a service waits: the wait ends once the schema is current.
    let waiter = tokio::spawn({
        let config = config.clone();
        async move {
            medsync_manage::wait::until_ready(
                &config,
                &testing::redis_config(),
                Duration::from_secs(30),
                true,
            )
            .await
        }
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !waiter.is_finished(),
        "the wait ended before any migration ran"
    );
    medsync_manage::migrate(&config, None).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("the wait did not notice the migrations")
        .unwrap()
        .unwrap();
}
