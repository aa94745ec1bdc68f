//! The webhook service over real HTTP, PostgreSQL and Redis.

use medsync_core::testing::{self, TestApp};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

#[sqlx::test(migrator = "medsync_core::db::MIGRATOR")]
async fn the_webhook_is_ready_and_stops_on_shutdown(_: PgPoolOptions, options: PgConnectOptions) {
    let config = medsync_webhook::Config {
        base: testing::base_config(&options),
        telegram: medsync_core::config::TelegramConfig::from_env(&medsync_core::config::Env::new(
            std::collections::HashMap::<&str, &str>::new(),
        ))
        .unwrap(),
    };
    let infra = testing::infra(&config.base);
    let app = TestApp::spawn(medsync_webhook::build_with(config, infra).await.unwrap());

    assert_eq!(app.get("/healthz").await.status(), 200);
    assert_eq!(app.get("/readyz").await.status(), 200);
    assert_eq!(app.get("/metrics").await.status(), 200);

    app.stop().await.unwrap();
}

#[test]
fn the_binary_refuses_a_missing_or_garbage_database_url() {
    testing::assert_refuses_bad_database_url(env!("CARGO_BIN_EXE_webhook"), &[]);
}

#[tokio::test]
async fn the_binary_answers_its_healthcheck_and_exits_0_on_sigterm() {
    testing::assert_binary_lifecycle(env!("CARGO_BIN_EXE_webhook"), "WEBHOOK_LISTEN_ADDR", &[])
        .await;
}
