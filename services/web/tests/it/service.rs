//! The web service as its binary: health, readiness and metrics, the `healthcheck` subcommand,
//! SIGTERM, bad configuration, and its variables in `.env.template`.

use medsync_testkit::{self as testing, TestApp};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::common::spawn;

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn the_web_app_reports_health_readiness_and_metrics(p: PgPoolOptions, o: PgConnectOptions) {
    let web = spawn(p, o).await;
    let app: &TestApp = &web.app;
    assert_eq!(app.get("/healthz").await.status(), 200);
    assert_eq!(app.ready_within(10).await, 200);
    let _ = app.get("/app/").await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("http_requests_total"), "{metrics}");
}

#[test]
fn the_binary_refuses_a_missing_or_garbage_database_url() {
    testing::assert_refuses_bad_database_url(env!("CARGO_BIN_EXE_web"), &[]);
}

#[test]
fn the_binary_refuses_bad_web_settings_naming_the_variable() {
    for (var, value) in [
        ("WEB_INIT_DATA_MAX_AGE_SECONDS", "5"),
        ("WEB_FRAME_ANCESTORS", "javascript:alert(1)"),
        ("TELEGRAM_WEBAPP_JS_URL", "ftp://telegram.org/x.js"),
        ("TELEGRAM_BOT_TOKEN", "not-a-token"),
    ] {
        let out = testing::run_binary(
            env!("CARGO_BIN_EXE_web"),
            &[],
            &std::collections::HashMap::from([
                ("DATABASE_URL", "postgres://u:p@127.0.0.1:1/db"),
                ("REDIS_URL", "redis://127.0.0.1:1/0"),
                (var, value),
            ]),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{var}: {stderr}");
        assert!(stderr.contains(var), "{var}: {stderr}");
        assert!(
            !stderr.contains("not-a-token"),
            "a secret is never echoed: {stderr}"
        );
    }
}

#[tokio::test]
async fn the_binary_answers_its_healthcheck_and_exits_0_on_sigterm() {
    testing::assert_binary_lifecycle(env!("CARGO_BIN_EXE_web"), "WEB_LISTEN_ADDR", &[]).await;
}

#[test]
fn every_variable_the_web_app_reads_is_declared_and_documented_in_the_env_template() {
    use medsync_platform::config::Configuration;
    testing::config::assert_matches_env_template(
        &medsync_web::Config::variables(),
        medsync_web::Config::from_env,
    );
}
