//! The webhook receiver over real HTTP and Redis.

use std::collections::HashMap;

use medsync_platform::redis::Redis;
use medsync_testkit::{self as testing, TestApp};

const SECRET: &str = "test-webhook-secret-of-32-characters-or-more";

fn config() -> medsync_webhook::Config {
    testing::config_without_database(
        &medsync_webhook::SPEC,
        &[
            ("TELEGRAM_WEBHOOK_SECRET", SECRET),
            ("TELEGRAM_UPDATES_STREAM_MAXLEN", "1000"),
        ],
    )
}

async fn spawn() -> (TestApp, Redis) {
    let config = config();
    let redis = Redis::connect(&config.redis).unwrap();
    (
        TestApp::spawn(
            medsync_webhook::build_with(config, redis.clone())
                .await
                .unwrap(),
        ),
        redis,
    )
}

async fn deliver(app: &TestApp, secret: Option<&str>, body: &str) -> u16 {
    let mut request = reqwest::Client::new()
        .post(format!("{}{}", app.url, medsync_webhook::PATH))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(secret) = secret {
        request = request.header("X-Telegram-Bot-Api-Secret-Token", secret);
    }
    request.send().await.unwrap().status().as_u16()
}

async fn stream_len(redis: &Redis) -> i64 {
    let mut conn = redis.conn.clone();
    redis::cmd("XLEN")
        .arg(medsync_webhook::stream_key(redis))
        .query_async(&mut conn)
        .await
        .unwrap()
}

const UPDATE: &str = r#"{"update_id": 1001, "message": {"message_id": 1, "date": 0, "chat": {"id": 5, "type": "private"}, "text": "/start"}}"#;

#[tokio::test]
async fn an_update_is_handed_to_the_stream_once_however_often_it_comes() {
    let (app, redis) = spawn().await;

    let first = deliver(&app, Some(SECRET), UPDATE).await;
    let again = deliver(&app, Some(SECRET), UPDATE).await;

    assert_eq!((first, again), (200, 200));
    assert_eq!(stream_len(&redis).await, 1);
    let mut conn = redis.conn.clone();
    let entries: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(medsync_webhook::stream_key(&redis))
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .unwrap();
    let stored: String = entries.ids[0].get("update").unwrap();
    assert_eq!(stored, UPDATE);
}

#[tokio::test]
async fn a_wrong_or_missing_secret_is_401_and_stores_nothing() {
    let (app, redis) = spawn().await;

    let wrong = deliver(&app, Some("not-the-secret"), UPDATE).await;
    let prefix = deliver(&app, Some(&SECRET[..5]), UPDATE).await;
    let missing = deliver(&app, None, UPDATE).await;

    assert_eq!((wrong, prefix, missing), (401, 401, 401));
    assert_eq!(stream_len(&redis).await, 0);
    // The update was not marked as seen either: the real delivery goes through.
    assert_eq!(deliver(&app, Some(SECRET), UPDATE).await, 200);
    assert_eq!(stream_len(&redis).await, 1);
}

#[tokio::test]
async fn what_is_not_an_update_is_400_and_oversized_bodies_413() {
    let (app, redis) = spawn().await;

    let not_json = deliver(&app, Some(SECRET), "hello").await;
    let no_id = deliver(&app, Some(SECRET), r#"{"message": {}}"#).await;
    let huge = deliver(
        &app,
        Some(SECRET),
        &format!(r#"{{"update_id": 1, "pad": "{}"}}"#, "x".repeat(300_000)),
    )
    .await;

    assert_eq!((not_json, no_id, huge), (400, 400, 413));
    assert_eq!(stream_len(&redis).await, 0);
}

#[tokio::test]
async fn with_redis_unreachable_the_answer_is_503_so_telegram_redelivers() {
    let config = config();
    let app = TestApp::spawn(
        medsync_webhook::build_with(config, testing::redis_unreachable())
            .await
            .unwrap(),
    );

    assert_eq!(deliver(&app, Some(SECRET), UPDATE).await, 503);
}

#[tokio::test]
async fn the_webhook_is_ready_and_stops_on_shutdown() {
    let (app, _) = spawn().await;

    assert_eq!(app.get("/healthz").await.status(), 200);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    let report: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(report["redis"]["ok"], true, "{report}");
    assert!(
        report.get("postgres").is_none(),
        "no PostgreSQL check: {report}"
    );
    assert_eq!(app.get("/metrics").await.status(), 200);

    app.stop().await.unwrap();
}

#[test]
fn the_binary_needs_redis_but_no_database() {
    let bin = env!("CARGO_BIN_EXE_webhook");
    let out = testing::run_binary(bin, &[], &HashMap::new());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("REDIS_URL"), "{stderr}");
    assert!(!stderr.contains("DATABASE_URL"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test]
async fn the_binary_ignores_a_database_url_it_never_uses() {
    let running = testing::RunningBinary::start(
        env!("CARGO_BIN_EXE_webhook"),
        "WEBHOOK_LISTEN_ADDR",
        &[("DATABASE_URL", "garbage")],
    )
    .await;
    assert!(running.healthcheck(), "ready without PostgreSQL");
}

#[tokio::test]
async fn the_binary_answers_its_healthcheck_and_exits_0_on_sigterm() {
    testing::assert_binary_lifecycle(env!("CARGO_BIN_EXE_webhook"), "WEBHOOK_LISTEN_ADDR", &[])
        .await;
}

#[test]
fn every_variable_the_webhook_reads_is_declared_and_documented_in_the_env_template() {
    use medsync_platform::config::Configuration;
    testing::config::assert_matches_env_template(
        &medsync_webhook::Config::variables(),
        medsync_webhook::Config::from_env,
    );
}
