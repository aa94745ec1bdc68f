//! The api over real HTTP, PostgreSQL and Redis.

use medsync_testkit::{self as testing, TestApp};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use medsync_api::harness as common;

async fn spawn(options: &PgConnectOptions) -> TestApp {
    let config = common::config(options, &[]);
    let infra = testing::infra(&config.base);
    TestApp::spawn(medsync_api::build_with(config, infra).await.unwrap())
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn the_api_answers_its_version_under_api_v1(_: PgPoolOptions, options: PgConnectOptions) {
    let app = spawn(&options).await;

    let response = app.get("/api/v1/version").await;

    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["service"], "api");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    app.stop().await.unwrap();
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn healthz_and_readyz_answer_when_postgres_and_redis_do(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let app = spawn(&options).await;

    assert_eq!(app.get("/healthz").await.status(), 200);
    let ready = app.get("/readyz").await;

    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["postgres"]["ok"], true);
    assert_eq!(body["redis"]["ok"], true);
}

#[tokio::test]
async fn readyz_is_503_naming_postgres_when_it_is_unreachable() {
    let infra = testing::infra_without_postgres();
    let config = common::config(&PgConnectOptions::new().database("unused"), &[]);
    let app = TestApp::spawn(medsync_api::build_with(config, infra).await.unwrap());

    let ready = app.get("/readyz").await;

    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["postgres"]["ok"], false);
    assert!(body["postgres"]["error"].is_string());
    assert_eq!(body["redis"]["ok"], true);
    // Liveness does not depend on dependencies.
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn unknown_routes_are_a_404_problem(_: PgPoolOptions, options: PgConnectOptions) {
    let app = spawn(&options).await;

    let response = app.get("/api/v1/nothing-here").await;

    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], 404);
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn a_request_id_is_echoed_or_generated(_: PgPoolOptions, options: PgConnectOptions) {
    let app = spawn(&options).await;
    let client = reqwest::Client::new();

    let given = client
        .get(format!("{}/api/v1/version", app.url))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    let generated = app.get("/api/v1/version").await;

    assert_eq!(given.headers()["x-request-id"], "abc-123");
    let id = generated.headers()["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn metrics_count_requests_by_route(_: PgPoolOptions, options: PgConnectOptions) {
    let app = spawn(&options).await;
    app.get("/api/v1/version").await;

    let metrics = app.get("/metrics").await.text().await.unwrap();

    assert!(
        metrics
            .contains(r#"http_requests_total{method="GET",route="/api/v1/version",status="200"}"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("http_request_duration_seconds_bucket"),
        "{metrics}"
    );
}

#[test]
fn the_binary_refuses_a_missing_or_garbage_database_url() {
    testing::assert_refuses_bad_database_url(env!("CARGO_BIN_EXE_api"), &[]);
}

#[tokio::test]
async fn the_binary_answers_its_healthcheck_and_exits_0_on_sigterm() {
    testing::assert_binary_lifecycle(
        env!("CARGO_BIN_EXE_api"),
        "API_LISTEN_ADDR",
        &[("SECRET_KEY", common::SECRET_KEY)],
    )
    .await;
}

#[test]
fn every_variable_the_api_reads_is_declared_and_documented_in_the_env_template() {
    use medsync_platform::config::Configuration;
    testing::config::assert_matches_env_template(
        &medsync_api::Config::variables(),
        medsync_api::Config::from_env,
    );
}
