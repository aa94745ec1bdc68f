//! Telegram's answers to the worker's messages: each error class retried or not as it should be, and a refused token failing readiness.

use crate::common;

use std::time::{Duration, Instant};

use common::{Sim, TOKEN, config, pool, telegram_patient, wait_until, worker};
use medsync_testkit::{self as testing};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use uuid::Uuid;

use super::*;

fn fault(status: u16, description: Option<&str>, count: u32) -> medsync_tgsim::Fault {
    medsync_tgsim::Fault {
        method: Some("sendMessage".to_owned()),
        count,
        status,
        description: description.map(str::to_owned),
        retry_after: None,
        raw_body: None,
    }
}

async fn confirmation_of(
    db: &PgPool,
    booking: Uuid,
) -> (String, i32, Option<String>, Option<String>) {
    sqlx::query_as(
        "SELECT status::text, attempts, last_error, note FROM jobs
         WHERE booking_id = $1 AND kind = 'booking.confirmation'",
    )
    .bind(booking)
    .fetch_one(db)
    .await
    .unwrap()
}

/// Each class of Telegram failure, injected by tgsim, gets its own treatment: a refused
/// token is retried with readiness failing until it is accepted again; a 5xx with the Bot
/// API's JSON and a proxy's HTML page are retried; "Too Many Requests" without a
/// `retry_after` is retried with backoff, with one in its text is waited out. None of them
/// ends a notification as "succeeded" without sending it.
#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn telegram_failures_are_retried_by_their_class_and_a_refused_token_fails_readiness(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = pool(&options).await;
    let (_, doctor) = testing::clinic_open_every_day(&db).await;
    let sim = Sim::start().await;
    let url = sim.url();
    let vars = [
        ("TELEGRAM_BOT_TOKEN", TOKEN),
        ("TELEGRAM_API_URL", url.as_str()),
        ("WORKER_BACKOFF_BASE_MS", "100"),
        ("WORKER_BACKOFF_MAX_SECONDS", "1"),
    ];
    let worker = worker(config(&options, &vars)).await;
    assert_eq!(worker.ready_within(10).await, 200);

    // 401 Unauthorized: the token is refused. Retried, readiness fails, nothing is lost.
    sim.sim
        .inject(TOKEN, fault(401, Some("Unauthorized"), 1000));
    let patient = telegram_patient(&db, 6001, "Token").await;
    let booking = book(&db, patient, doctor).await;
    wait_until(
        &db,
        &format!("SELECT attempts >= 2 AND status = 'queued' FROM jobs WHERE booking_id = '{}' AND kind = 'booking.confirmation'", booking.id),
        15,
    )
    .await;
    let (status, _, last_error, _) = confirmation_of(&db, booking.id).await;
    assert_eq!(status, "queued", "retried, not finished");
    assert!(last_error.unwrap_or_default().contains("bot token"));
    let ready = worker.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    let report: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(report["telegram"]["ok"], false, "{report}");
    sim.sim.inject(TOKEN, fault(401, None, 0)); // the operator fixes the token
    sim.wait_for_text_within(6001, "✅ Your visit is booked", 15)
        .await;
    wait_until(
        &db,
        &format!("SELECT status = 'succeeded' FROM jobs WHERE booking_id = '{}' AND kind = 'booking.confirmation'", booking.id),
        5,
    )
    .await;
    assert_eq!(worker.get("/readyz").await.status(), 200, "ready again");

    // A 5xx with the Bot API's JSON body, then a proxy's HTML page: retried, then sent.
    sim.sim
        .inject(TOKEN, fault(500, Some("Internal Server Error"), 1));
    sim.sim.inject(
        TOKEN,
        medsync_tgsim::Fault {
            raw_body: Some("<html><body>502 Bad Gateway</body></html>".to_owned()),
            ..fault(502, None, 1)
        },
    );
    let patient = telegram_patient(&db, 6002, "Server").await;
    let booking = book(&db, patient, doctor).await;
    sim.wait_for_text_within(6002, "✅ Your visit is booked", 40)
        .await;
    wait_until(
        &db,
        &format!("SELECT status = 'succeeded' FROM jobs WHERE booking_id = '{}' AND kind = 'booking.confirmation'", booking.id),
        5,
    )
    .await;
    let (_, attempts, _, note) = confirmation_of(&db, booking.id).await;
    assert_eq!(attempts, 3, "two failures, then sent");
    assert_eq!(note, None, "sent, not given up with a note");

    // 400 "Too Many Requests" without retry_after: backoff; with a wait in the text: waited
    // out, the attempt not counted.
    sim.sim
        .inject(TOKEN, fault(400, Some("Too Many Requests"), 1));
    let patient = telegram_patient(&db, 6003, "Flood").await;
    let booking = book(&db, patient, doctor).await;
    sim.wait_for_text_within(6003, "✅ Your visit is booked", 15)
        .await;
    let (_, attempts, last_error, _) = confirmation_of(&db, booking.id).await;
    assert_eq!(attempts, 2, "{last_error:?}");

    sim.sim.inject(
        TOKEN,
        fault(400, Some("Too Many Requests: retry after 1"), 1),
    );
    let patient = telegram_patient(&db, 6004, "Wait").await;
    let started = Instant::now();
    let booking = book(&db, patient, doctor).await;
    sim.wait_for_text_within(6004, "✅ Your visit is booked", 15)
        .await;
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the wait honoured"
    );
    wait_until(
        &db,
        &format!("SELECT status = 'succeeded' FROM jobs WHERE booking_id = '{}' AND kind = 'booking.confirmation'", booking.id),
        5,
    )
    .await;
    let (_, attempts, _, _) = confirmation_of(&db, booking.id).await;
    assert_eq!(attempts, 1, "flood control does not count as an attempt");

    // Blocked, deactivated, no such chat: final, with a note (one attempt).
    for (chat, description) in [
        (6005, "Forbidden: user is deactivated"),
        (6006, "Bad Request: chat not found"),
    ] {
        sim.sim.inject(TOKEN, fault(400, Some(description), 1));
        let patient = telegram_patient(&db, chat, "Gone").await;
        let booking = book(&db, patient, doctor).await;
        wait_until(
            &db,
            &format!("SELECT status = 'succeeded' FROM jobs WHERE booking_id = '{}' AND kind = 'booking.confirmation'", booking.id),
            15,
        )
        .await;
        let (_, attempts, _, note) = confirmation_of(&db, booking.id).await;
        assert_eq!(attempts, 1);
        assert!(note.unwrap_or_default().contains("Telegram refused"));
    }
    worker.stop().await.unwrap();
}
