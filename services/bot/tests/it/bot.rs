//! The bot service over real HTTP, PostgreSQL and Redis, in process and as its binary.

use crate::common;

use std::time::Duration;

use common::{ADA, Sim, TOKEN, clinic, count};
use medsync_testkit::{self as testing, RunningBinary, TestApp};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn the_bot_is_ready_and_stops_on_shutdown(_: PgPoolOptions, options: PgConnectOptions) {
    let config = common::bot_config(&options, "http://127.0.0.1:1", "polling");
    let infra = testing::infra(&config.base);
    let app = TestApp::spawn(medsync_bot::build_with(config, infra).await.unwrap());

    assert_eq!(app.get("/healthz").await.status(), 200);
    assert_eq!(app.ready_within(10).await, 200);
    assert_eq!(app.get("/metrics").await.status(), 200);

    app.stop().await.unwrap();
}

#[test]
fn the_binary_refuses_a_missing_or_garbage_database_url() {
    testing::assert_refuses_bad_database_url(env!("CARGO_BIN_EXE_bot"), &[]);
}

#[tokio::test]
async fn the_binary_answers_its_healthcheck_and_exits_0_on_sigterm() {
    testing::assert_binary_lifecycle(env!("CARGO_BIN_EXE_bot"), "BOT_LISTEN_ADDR", &[]).await;
}

const BIN: &str = env!("CARGO_BIN_EXE_bot");

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn a_bot_killed_mid_dialogue_carries_on_and_its_unacknowledged_update_is_not_lost(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(options.clone())
        .await
        .unwrap();
    clinic(&db).await;
    let sim = Sim::start().await;
    let database_url = testing::database_url(&options);
    let prefix = format!("test:{}", uuid::Uuid::new_v4());
    let api_url = sim.url();
    let env = |mode: &'static str, consumer: &'static str| {
        vec![
            ("DATABASE_URL", database_url.clone()),
            ("REDIS_KEY_PREFIX", prefix.clone()),
            ("TELEGRAM_BOT_TOKEN", TOKEN.to_owned()),
            ("TELEGRAM_API_URL", api_url.clone()),
            ("TELEGRAM_MODE", mode.to_owned()),
            (
                "TELEGRAM_WEBHOOK_SECRET",
                "webhook-secret-of-at-least-32-characters".to_owned(),
            ),
            ("BOT_CONSUMER_NAME", consumer.to_owned()),
            ("BOT_STREAM_CLAIM_IDLE_SECONDS", "1".to_owned()),
        ]
    };
    let start = |vars: Vec<(&'static str, String)>| async move {
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        RunningBinary::start(BIN, "BOT_LISTEN_ADDR", &vars).await
    };

    // 1. Polling: SIGKILL between two steps of a dialogue; the next bot goes on from there.
    let mut first = start(env("polling", "one")).await;
    sim.says(ADA, "/start");
    sim.wait_for(ADA, "Welcome").await;
    sim.says(ADA, "/book");
    let menu = sim.wait_for(ADA, "Which specialty?").await;
    sim.press_labelled(ADA, &menu, "Cardiology");
    let doctors = sim.wait_for(ADA, "Which doctor?").await;
    first.child.kill().unwrap(); // SIGKILL
    first.child.wait().unwrap();

    let second = start(env("polling", "two")).await;
    sim.press_labelled(ADA, &doctors, "Dr. Ada Heart");
    let days = sim.wait_for(ADA, "which day?").await;
    assert_eq!(
        days["message_id"], menu["message_id"],
        "the same dialogue message"
    );
    drop(second); // SIGKILL

    // 2. Webhook mode: a bot takes an update from the stream, cannot finish it (Telegram is
    // unreachable), and is killed; the next bot takes it over and handles it.
    let redis = {
        let mut config = testing::redis_config();
        config.key_prefix = prefix.clone();
        medsync_platform::redis::Redis::connect(&config).unwrap()
    };
    sim.shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut third = start(env("webhook", "three")).await;
    let update = serde_json::json!({"update_id": 700_001, "message": {
        "message_id": 7001, "date": 0, "text": "/help",
        "chat": {"id": ADA, "type": "private", "first_name": "Ada"},
        "from": {"id": ADA, "is_bot": false, "first_name": "Ada"}}})
    .to_string();
    let mut conn = redis.conn.clone();
    redis::cmd("XADD")
        .arg(redis.keys().telegram_updates())
        .arg("*")
        .arg("update")
        .arg(&update)
        .query_async::<String>(&mut conn)
        .await
        .unwrap();
    // Wait until the third bot holds it, unacknowledged.
    let mut held = false;
    for _ in 0..100 {
        let pending: Vec<(String, String, u64, u64)> = redis::cmd("XPENDING")
            .arg(redis.keys().telegram_updates())
            .arg("bots")
            .arg("-")
            .arg("+")
            .arg(10)
            .query_async(&mut conn)
            .await
            .unwrap();
        if pending
            .iter()
            .any(|(_, consumer, _, _)| consumer == "three")
        {
            held = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(held, "the third bot took the update");
    third.child.kill().unwrap(); // SIGKILL, with the update unacknowledged
    third.child.wait().unwrap();

    // Telegram is back; a fourth bot reclaims the update and answers it (once the chat lock
    // the killed bot may have held has expired).
    let _ = sim
        .sim
        .clone()
        .spawn(sim.addr, tokio_util::sync::CancellationToken::new())
        .await
        .unwrap();
    let fourth = start(env("webhook", "four")).await;
    sim.wait_for_start_within(ADA, "What I can do", 60).await;
    for _ in 0..50 {
        let pending: Vec<(String, String, u64, u64)> = redis::cmd("XPENDING")
            .arg(redis.keys().telegram_updates())
            .arg("bots")
            .arg("-")
            .arg("+")
            .arg(10)
            .query_async(&mut conn)
            .await
            .unwrap();
        if pending.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(sim.count_starting(ADA, "What I can do"), 1);
    drop(fourth);

    // Nothing was booked along the way; the dialogue is still at the day step.
    assert_eq!(count(&db, "SELECT count(*) FROM bookings").await, 0);
}

/// tgsim holds every long poll for the full time the bot asks, as Telegram does. After a
/// minute of quiet (two polls that ended empty, none cut by the client), a message is answered
/// at once: no poll counted as a failure, no backoff in the way.
#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn after_a_quiet_minute_of_long_polls_a_message_is_answered_within_2_s(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let sim = Sim::start().await;
    let config = common::bot_config(&options, &sim.url(), "polling");
    let infra = testing::infra(&config.base);
    let app = TestApp::spawn(medsync_bot::build_with(config, infra).await.unwrap());

    sim.says(ADA, "/help");
    sim.wait_for_start(ADA, "What I can do").await;

    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(
        app.get("/readyz").await.status(),
        200,
        "quiet polls are not failures"
    );
    let asked = std::time::Instant::now();
    sim.says(ADA, "/help");
    for _ in 0..200 {
        if sim.count_starting(ADA, "What I can do") == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let waited = asked.elapsed();
    assert_eq!(
        sim.count_starting(ADA, "What I can do"),
        2,
        "no answer within 2 s after the quiet minute"
    );
    assert!(waited < Duration::from_secs(2), "answered after {waited:?}");
    eprintln!("answered {waited:?} after a quiet minute");
    app.stop().await.unwrap();
}

/// Polling mode's dead letters: Telegram answers every sendMessage with a 500, so the update
/// fails each of its tries (2, 4, 8, 16 and 32 s apart, and teloxide waits 10 s after every
/// 5xx answer before returning it: about two minutes in all), is kept as a dead
/// letter with its try count and error, and polling goes on past it. Once Telegram is fixed,
/// the next message is answered at once, and the operator's replay (`manage updates replay`)
/// is handled by the same polling bot.
#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn in_polling_mode_an_update_failing_every_try_becomes_a_dead_letter_and_polling_goes_on(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    use medsync_telegram::updates::{DeadLetters, MAX_ATTEMPTS};

    let sim = Sim::start().await;
    let config = common::bot_config(&options, &sim.url(), "polling");
    let infra = testing::infra(&config.base);
    let dead = DeadLetters::new(&infra.redis);
    let app = TestApp::spawn(medsync_bot::build_with(config, infra).await.unwrap());
    let broken = |count| medsync_tgsim::Fault {
        method: Some("sendMessage".to_owned()),
        count,
        status: 500,
        description: Some("Internal Server Error: restart".to_owned()),
        retry_after: None,
        raw_body: None,
    };
    sim.sim.inject(TOKEN, broken(10_000));

    sim.says(ADA, "/help");
    let started = std::time::Instant::now();
    while dead.count().await.unwrap() == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "no dead letter after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("kept as a dead letter after {:?}", started.elapsed());
    let letters = dead.list(10).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].attempts, MAX_ATTEMPTS);
    assert_eq!(letters[0].origin, "polling");
    assert_eq!(letters[0].kind, "message");
    assert_eq!(letters[0].chat_id, Some(ADA));
    assert!(letters[0].error.contains("restart"), "{}", letters[0].error);
    assert_eq!(sim.count_starting(ADA, "What I can do"), 0);
    assert_eq!(
        app.get("/readyz").await.status(),
        200,
        "one bad update is not an outage"
    );

    // Telegram works again: the next message is handled, the poisoned one is not retried.
    sim.sim.inject(TOKEN, broken(0));
    sim.says(ADA, "/help");
    sim.wait_for_start(ADA, "What I can do").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(sim.count_starting(ADA, "What I can do"), 1);

    // The operator replays it: the polling bot takes it from the stream and answers it.
    assert!(dead.replay(&letters[0].id).await.unwrap().is_some());
    sim.wait_until_count(ADA, "What I can do", 2).await;
    assert_eq!(dead.count().await.unwrap(), 0);
    app.stop().await.unwrap();
}

#[test]
fn every_variable_the_bot_reads_is_declared_and_documented_in_the_env_template() {
    use medsync_platform::config::Configuration;
    testing::config::assert_matches_env_template(
        &medsync_bot::Config::variables(),
        medsync_bot::Config::from_env,
    );
}
