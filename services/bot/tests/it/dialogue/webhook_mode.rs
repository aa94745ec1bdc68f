//! The same conversation in webhook mode, through the webhook and the Redis stream.

use crate::common;

use std::time::Duration;

use common::{ADA, Sim, TOKEN, bot_config, clinic, count, up_to_confirm};
use medsync_testkit::{self as testing, TestApp};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::*;

const SECRET: &str = "webhook-secret-of-at-least-32-characters";

/// The webhook service in process, handing updates to the Redis at `redis_url` under the
/// bot's key prefix.
async fn webhook(options: &PgConnectOptions, redis_url: &str, prefix: &str) -> TestApp {
    let config: medsync_webhook::Config = testing::config(
        &medsync_webhook::SPEC,
        options,
        &[
            ("TELEGRAM_WEBHOOK_SECRET", SECRET),
            ("TELEGRAM_MODE", "webhook"),
            ("TELEGRAM_UPDATES_STREAM_MAXLEN", "10000"),
            ("REDIS_URL", redis_url),
            ("REDIS_KEY_PREFIX", prefix),
        ],
    );
    let redis = medsync_platform::redis::Redis::connect(&config.redis).unwrap();
    TestApp::spawn(medsync_webhook::build_with(config, redis).await.unwrap())
}

async fn set_webhook(sim: &Sim, url: &str) {
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/bot{TOKEN}/setWebhook", sim.url()))
        .json(&serde_json::json!({"url": url, "secret_token": SECRET}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["ok"], true, "{answer}");
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn the_same_conversation_in_webhook_mode_through_the_redis_stream(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = pool(&options).await;
    clinic(&db).await;
    let sim = Sim::start().await;
    let config = bot_config(&options, &sim.url(), "webhook");
    let redis_url = std::env::var("REDIS_URL").unwrap();
    let webhook = webhook(&options, &redis_url, &config.base.redis.key_prefix).await;
    set_webhook(&sim, &format!("{}/telegram/webhook", webhook.url)).await;
    let infra = testing::infra(&config.base);
    let redis = infra.redis.clone();
    let bot = TestApp::spawn(medsync_bot::build_with(config, infra).await.unwrap());

    sim.says(ADA, "/start");
    sim.wait_for(ADA, "Welcome to MedSync, Ada!").await;
    let (confirm, _) = up_to_confirm(&sim, ADA).await;
    sim.press_labelled(ADA, &confirm, "Confirm");
    sim.wait_for(ADA, "✅ Booked: Dr. Ada Heart").await;
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM bookings WHERE source = 'telegram'"
        )
        .await,
        1
    );
    // The webhook request that brought the "Confirm" press gave it its id (generated: tgsim
    // sends none), the stream carried it, and the booking's jobs are stored under it.
    let ids: Vec<Option<String>> = sqlx::query_scalar(
        "SELECT j.request_id FROM jobs j JOIN bookings b ON b.id = j.booking_id
         WHERE b.source = 'telegram'",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert!(!ids.is_empty());
    let first = ids[0].clone().unwrap_or_default();
    assert!(uuid::Uuid::parse_str(&first).is_ok(), "{ids:?}");
    assert!(
        ids.iter().all(|id| id.as_deref() == Some(first.as_str())),
        "{ids:?}"
    );

    // Every entry was acknowledged after handling: nothing pending in the group.
    let mut conn = redis.conn.clone();
    let pending: redis::Value = redis::cmd("XPENDING")
        .arg(redis.keys().telegram_updates())
        .arg("bots")
        .query_async(&mut conn)
        .await
        .unwrap();
    let redis::Value::Array(summary) = pending else {
        panic!("{pending:?}")
    };
    assert_eq!(summary[0], redis::Value::Int(0));

    // The same update in the stream twice (a redelivery after a crash): handled once.
    let before = sim.bot_messages(ADA).len();
    let update = serde_json::json!({"update_id": 900_001, "message": {
        "message_id": 9001, "date": 0, "text": "/help",
        "chat": {"id": ADA, "type": "private", "first_name": "Ada"},
        "from": {"id": ADA, "is_bot": false, "first_name": "Ada"}}})
    .to_string();
    for _ in 0..2 {
        redis::cmd("XADD")
            .arg(redis.keys().telegram_updates())
            .arg("*")
            .arg("update")
            .arg(&update)
            .query_async::<String>(&mut conn)
            .await
            .unwrap();
    }
    sim.wait_for_start(ADA, "What I can do").await;
    sim.says(ADA, "hello");
    sim.wait_for(ADA, "Send /book to book a visit").await;
    assert_eq!(sim.bot_messages(ADA).len(), before + 2);

    bot.stop().await.unwrap();
    webhook.stop().await.unwrap();
}

/// A TCP relay in front of Redis that can be cut: "Redis stopped" without stopping the
/// Redis every other test uses.
struct Relay {
    addr: std::net::SocketAddr,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    cut: tokio::sync::watch::Sender<u64>,
}

impl Relay {
    async fn start(target: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (cut, _) = tokio::sync::watch::channel(0u64);
        let (flag, cuts) = (up.clone(), cut.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !flag.load(std::sync::atomic::Ordering::SeqCst) {
                    continue; // dropped: connection refused, in effect
                }
                let target = target.clone();
                let mut cut = cuts.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Self { addr, up, cut }
    }

    fn set(&self, up: bool) {
        self.up.store(up, std::sync::atomic::Ordering::SeqCst);
        if !up {
            self.cut.send_modify(|n| *n += 1);
        }
    }
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn with_redis_down_the_webhook_answers_503_and_the_redelivered_update_is_handled(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = pool(&options).await;
    clinic(&db).await;
    let sim = Sim::start().await;
    let config = bot_config(&options, &sim.url(), "webhook");

    // The webhook reaches Redis through the relay; the bot directly.
    let real = reqwest::Url::parse(&std::env::var("REDIS_URL").unwrap()).unwrap();
    let relay = Relay::start(format!(
        "{}:{}",
        real.host_str().unwrap(),
        real.port().unwrap_or(6379)
    ))
    .await;
    let mut via_relay = real.clone();
    via_relay.set_port(Some(relay.addr.port())).unwrap();
    via_relay.set_host(Some("127.0.0.1")).unwrap();
    let webhook = webhook(&options, via_relay.as_str(), &config.base.redis.key_prefix).await;
    set_webhook(&sim, &format!("{}/telegram/webhook", webhook.url)).await;
    let infra = testing::infra(&config.base);
    let bot = TestApp::spawn(medsync_bot::build_with(config, infra).await.unwrap());

    sim.says(ADA, "/start");
    sim.wait_for(ADA, "Welcome").await;

    relay.set(false);
    sim.says(ADA, "/help");
    // tgsim records the webhook's answer: 503 while Redis is away.
    let info = wait_for_webhook_error(&sim).await;
    assert!(info.contains("503"), "{info}");
    assert_eq!(sim.count_starting(ADA, "What I can do"), 0);

    relay.set(true);
    // Redelivered (after tgsim's growing delay, at most 30 s) and handled, once.
    sim.wait_for_start_within(ADA, "What I can do", 45).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(sim.count_starting(ADA, "What I can do"), 1);

    bot.stop().await.unwrap();
    webhook.stop().await.unwrap();
}

async fn wait_for_webhook_error(sim: &Sim) -> String {
    for _ in 0..200 {
        let info: serde_json::Value =
            reqwest::get(format!("{}/bot{TOKEN}/getWebhookInfo", sim.url()))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
        if let Some(message) = info["result"]["last_error_message"].as_str() {
            return message.to_owned();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("tgsim recorded no failed delivery");
}
