//! The updates stream consumer against a real Redis.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use medsync_bot::stream::StreamConsumer;
use medsync_platform::redis::Redis;
use medsync_telegram::updates::DeadLetters;
use medsync_testkit as testing;
use tokio_util::sync::CancellationToken;

fn redis() -> Redis {
    Redis::connect(&testing::redis_config()).unwrap()
}

async fn xadd(redis: &Redis, stream: &str, update: &str) {
    let mut conn = redis.conn.clone();
    redis::cmd("XADD")
        .arg(stream)
        .arg("*")
        .arg("update")
        .arg(update)
        .query_async::<String>(&mut conn)
        .await
        .unwrap();
}

async fn pending(redis: &Redis, stream: &str) -> i64 {
    let mut conn = redis.conn.clone();
    let summary: redis::Value = redis::cmd("XPENDING")
        .arg(stream)
        .arg("bots")
        .query_async(&mut conn)
        .await
        .unwrap();
    match summary {
        redis::Value::Array(items) => match &items[0] {
            redis::Value::Int(n) => *n,
            _ => 0,
        },
        _ => 0,
    }
}

async fn xlen(redis: &Redis, stream: &str) -> i64 {
    let mut conn = redis.conn.clone();
    redis::cmd("XLEN")
        .arg(stream)
        .query_async(&mut conn)
        .await
        .unwrap()
}

/// Runs `consumer` until it has handled `want` updates (or 10 s), then stops it.
async fn drain(
    consumer: StreamConsumer,
    want: usize,
    fail_on: Option<&'static str>,
) -> Vec<String> {
    let handled: Arc<Mutex<Vec<String>>> = Arc::default();
    let shutdown = CancellationToken::new();
    let task = {
        let handled = handled.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            consumer
                .run(shutdown, |update| {
                    let handled = handled.clone();
                    async move {
                        if Some(update.as_str()) == fail_on {
                            anyhow::bail!("the database is away");
                        }
                        handled.lock().unwrap().push(update);
                        Ok(())
                    }
                })
                .await
        })
    };
    for _ in 0..100 {
        if handled.lock().unwrap().len() >= want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    shutdown.cancel();
    task.await.unwrap().unwrap();
    handled.lock().unwrap().clone()
}

#[tokio::test]
async fn updates_are_handled_in_order_and_acknowledged() {
    let redis = redis();
    let stream = redis.keys().key(&["tg", "updates"]);
    for n in 1..=5 {
        xadd(&redis, &stream, &format!("u{n}")).await;
    }

    let handled = drain(
        StreamConsumer::new(redis.clone(), stream.clone(), "bots", "bot-a"),
        5,
        None,
    )
    .await;

    assert_eq!(handled, ["u1", "u2", "u3", "u4", "u5"]);
    assert_eq!(pending(&redis, &stream).await, 0);
    // Handled entries are deleted, not only acknowledged: no message stays in Redis.
    assert_eq!(xlen(&redis, &stream).await, 0);
}

#[tokio::test]
async fn an_update_taken_by_a_consumer_that_died_is_handled_by_another() {
    let redis = redis();
    let stream = redis.keys().key(&["tg", "updates"]);
    let dead = StreamConsumer::new(redis.clone(), stream.clone(), "bots", "bot-dead");
    dead.ensure_group().await.unwrap();
    xadd(&redis, &stream, "taken-then-crashed").await;
    // bot-dead reads it and dies before acknowledging (as a SIGKILL would leave it).
    let mut conn = redis.conn.clone();
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("bots")
        .arg("bot-dead")
        .arg("COUNT")
        .arg(1)
        .arg("STREAMS")
        .arg(&stream)
        .arg(">")
        .query_async(&mut conn)
        .await
        .unwrap();
    xadd(&redis, &stream, "later").await;
    let mut alive = StreamConsumer::new(redis.clone(), stream.clone(), "bots", "bot-alive");
    alive.claim_idle = Duration::from_millis(200);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let handled = drain(alive, 2, None).await;

    assert_eq!(handled, ["taken-then-crashed", "later"]);
    assert_eq!(pending(&redis, &stream).await, 0);
}

#[tokio::test]
async fn a_failed_update_stays_pending_and_is_retried() {
    let redis = redis();
    let stream = redis.keys().key(&["tg", "updates"]);
    xadd(&redis, &stream, "fails-once").await;
    xadd(&redis, &stream, "fine").await;
    let mut first = StreamConsumer::new(redis.clone(), stream.clone(), "bots", "bot-a");
    first.claim_idle = Duration::from_millis(100);

    let handled = drain(first.clone(), 1, Some("fails-once")).await;
    assert_eq!(handled, ["fine"]);
    assert_eq!(pending(&redis, &stream).await, 1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let retried = drain(first, 1, None).await;

    assert_eq!(retried, ["fails-once"]);
    assert_eq!(pending(&redis, &stream).await, 0);
}

/// Runs `consumer` with a handler that fails on `poison` (counting its tries) until a dead
/// letter appears (or 15 s); returns the tries and what was handled.
async fn until_dead_letter(consumer: StreamConsumer, redis: &Redis) -> (usize, Vec<String>) {
    let tries = Arc::new(Mutex::new(0_usize));
    let handled: Arc<Mutex<Vec<String>>> = Arc::default();
    let shutdown = CancellationToken::new();
    let task = {
        let (tries, handled, shutdown) = (tries.clone(), handled.clone(), shutdown.clone());
        tokio::spawn(async move {
            consumer
                .run(shutdown, |update| {
                    let (tries, handled) = (tries.clone(), handled.clone());
                    async move {
                        if update == "poison" {
                            *tries.lock().unwrap() += 1;
                            anyhow::bail!("the handler breaks on this update");
                        }
                        handled.lock().unwrap().push(update);
                        Ok(())
                    }
                })
                .await
        })
    };
    let dead = DeadLetters::new(redis);
    for _ in 0..150 {
        if dead.count().await.unwrap() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    shutdown.cancel();
    task.await.unwrap().unwrap();
    let tries = *tries.lock().unwrap();
    let handled = handled.lock().unwrap().clone();
    (tries, handled)
}

#[tokio::test]
async fn a_poison_update_is_tried_max_attempts_times_then_kept_as_a_dead_letter() {
    let redis = redis();
    let stream = redis.keys().telegram_updates();
    xadd(&redis, &stream, "poison").await;
    xadd(&redis, &stream, "fine").await;
    let mut consumer = StreamConsumer::new(redis.clone(), stream.clone(), "bots", "bot-a");
    consumer.claim_idle = Duration::from_millis(50);
    consumer.max_attempts = 3;

    let (tries, handled) = until_dead_letter(consumer.clone(), &redis).await;

    assert_eq!(tries, 3);
    assert_eq!(handled, ["fine"]);
    assert_eq!(pending(&redis, &stream).await, 0);
    assert_eq!(xlen(&redis, &stream).await, 0);
    let dead = DeadLetters::new(&redis);
    let letters = dead.list(10).await.unwrap();
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0].attempts, 3);
    assert_eq!(letters[0].origin, "stream");
    assert_eq!(letters[0].error, "the handler breaks on this update");

    // Replayed once the cause is fixed, it is handled like any update.
    let replayed = dead.replay(&letters[0].id).await.unwrap();
    assert!(replayed.is_some());
    assert_eq!(dead.replay(&letters[0].id).await.unwrap(), None);
    assert_eq!(dead.count().await.unwrap(), 0);
    let handled = drain(consumer, 1, None).await;
    assert_eq!(handled, ["poison"]);
    assert_eq!(xlen(&redis, &stream).await, 0);
}

#[tokio::test]
async fn an_update_whose_consumer_dies_every_time_is_kept_as_a_dead_letter_unhandled() {
    let redis = redis();
    let stream = redis.keys().telegram_updates();
    let mut consumer = StreamConsumer::new(redis.clone(), stream.clone(), "bots", "bot-alive");
    consumer.ensure_group().await.unwrap();
    xadd(&redis, &stream, "kills-the-bot").await;
    // Two consumers took it and died (SIGKILL, OOM) before finishing: delivered twice.
    let mut conn = redis.conn.clone();
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("bots")
        .arg("bot-1")
        .arg("COUNT")
        .arg(1)
        .arg("STREAMS")
        .arg(&stream)
        .arg(">")
        .query_async(&mut conn)
        .await
        .unwrap();
    let claimed: redis::Value = redis::cmd("XAUTOCLAIM")
        .arg(&stream)
        .arg("bots")
        .arg("bot-2")
        .arg(0)
        .arg("0-0")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        format!("{claimed:?}").contains("kills-the-bot"),
        "{claimed:?}"
    );
    consumer.claim_idle = Duration::from_millis(50);
    consumer.max_attempts = 2;
    tokio::time::sleep(Duration::from_millis(100)).await;

    // The third delivery is past the cap: it is not handed to the handler again.
    let (tries, handled) = until_dead_letter(consumer, &redis).await;

    assert_eq!((tries, handled.len()), (0, 0), "{handled:?}");
    let letters = DeadLetters::new(&redis).list(10).await.unwrap();
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0].attempts, 3);
    assert!(letters[0].error.contains("never finished"), "{letters:?}");
    assert_eq!(pending(&redis, &stream).await, 0);
    assert_eq!(xlen(&redis, &stream).await, 0);
}
