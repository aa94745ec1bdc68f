//! Jobs that fail: back-off and death, blocked bots and flood control, Telegram's error classes, panics.

use crate::common;

use std::time::{Duration, Instant};

use common::{
    Sim, TOKEN, config, counter, job, noop_jobs, pool, telegram_patient, wait_until, worker,
};
use medsync_testkit::{self as testing};
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use uuid::Uuid;

use super::*;

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn a_failing_job_backs_off_dies_and_runs_again_when_retried(
    pool_options: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = pool(&options).await;
    let (_, doctor) = testing::clinic_open_every_day(&db).await;
    let patient = telegram_patient(&db, PATIENT_CHAT, "Pat").await;
    // Telegram unreachable: every attempt fails.
    let down = [
        ("TELEGRAM_BOT_TOKEN", TOKEN),
        ("TELEGRAM_API_URL", "http://127.0.0.1:1"),
        ("WORKER_BACKOFF_BASE_MS", "400"),
    ];
    sqlx::query("ALTER TABLE jobs ALTER COLUMN max_attempts SET DEFAULT 4")
        .execute(&db)
        .await
        .unwrap();
    let broken = worker(config(&options, &down)).await;
    let booking = book(&db, patient, doctor).await;
    let id: Uuid = sqlx::query_scalar(
        "SELECT id FROM jobs WHERE booking_id = $1 AND kind = 'booking.confirmation'",
    )
    .bind(booking.id)
    .fetch_one(&db)
    .await
    .unwrap();

    // Watch the delays the worker chooses after each failure.
    let mut delays: Vec<(i32, f64)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, attempts, delay): (String, i32, f64) = sqlx::query_as(
            "SELECT status::text, attempts,
                    extract(epoch FROM run_at - updated_at)::float8 FROM jobs WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&db)
        .await
        .unwrap();
        if status == "queued" && attempts > 0 && delays.last().is_none_or(|(a, _)| *a != attempts) {
            delays.push((attempts, delay));
        }
        if status == "dead" {
            break;
        }
        assert!(Instant::now() < deadline, "not dead in time: {delays:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        delays.iter().map(|(a, _)| *a).collect::<Vec<_>>(),
        vec![1, 2, 3],
        "{delays:?}"
    );
    assert!(
        delays.windows(2).all(|w| w[1].1 >= w[0].1),
        "growing delays: {delays:?}"
    );
    assert!(delays[0].1 >= 0.19 && delays[0].1 <= 0.41, "{delays:?}");
    let (status, attempts, _, last_error, _) = job(&db, id).await;
    assert_eq!((status.as_str(), attempts), ("dead", 4));
    assert!(
        last_error
            .unwrap_or_default()
            .contains("sending to Telegram failed"),
        "the last error is kept"
    );
    broken.stop().await.unwrap();

    // An operator finds it in the admin API and retries it there; with Telegram back it runs
    // and the patient gets the confirmation.
    let sim = Sim::start().await;
    let url = sim.url();
    let up = [
        ("TELEGRAM_BOT_TOKEN", TOKEN),
        ("TELEGRAM_API_URL", url.as_str()),
    ];
    let fixed = worker(config(&options, &up)).await;
    let api = medsync_api::harness::spawn(pool_options, options.clone()).await;
    let admin = api.admin().await;
    let admin = Some(medsync_api::harness::token(&admin));
    let dead = api.get("/api/v1/admin/jobs?status=dead", admin).await.body;
    assert_eq!(dead["total"], 1, "{dead}");
    assert_eq!(dead["items"][0]["id"], json!(id));
    assert_eq!(dead["items"][0]["attempts"], 4);
    let retried = api
        .post(&format!("/api/v1/admin/jobs/{id}/retry"), admin, json!({}))
        .await;
    assert_eq!(retried.status, 200, "{retried:?}");
    let retried = retried.body;
    assert_eq!(
        (retried["status"].as_str(), retried["attempts"].as_i64()),
        (Some("queued"), Some(0))
    );
    sim.wait_for_text_within(PATIENT_CHAT, "✅ Your visit is booked", 15)
        .await;
    wait_until(
        &db,
        &format!("SELECT status = 'succeeded' FROM jobs WHERE id = '{id}'"),
        10,
    )
    .await;
    fixed.stop().await.unwrap();
    api.app.stop().await.unwrap();
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn a_blocked_bot_ends_the_job_with_a_note_and_429_puts_it_off(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = pool(&options).await;
    let (_, doctor) = testing::clinic_open_every_day(&db).await;
    let blocker = telegram_patient(&db, 5001, "Blocker").await;
    let flooded = telegram_patient(&db, 5002, "Flooded").await;
    let sim = Sim::start().await;
    sim.sim.user_blocks(TOKEN, 5001, true);
    sim.sim.flood(TOKEN, 5002, 1, 2);
    let url = sim.url();
    let vars = [
        ("TELEGRAM_BOT_TOKEN", TOKEN),
        ("TELEGRAM_API_URL", url.as_str()),
    ];
    let worker = worker(config(&options, &vars)).await;

    // 403: done with a note, one attempt, no retry storm.
    let blocked = book(&db, blocker, doctor).await;
    let confirmation = |booking: Uuid| {
        format!(
            "SELECT status = 'succeeded' FROM jobs WHERE booking_id = '{booking}' AND kind = 'booking.confirmation'"
        )
    };
    wait_until(&db, &confirmation(blocked.id), 15).await;
    let (attempts, note): (i32, Option<String>) = sqlx::query_as(
        "SELECT attempts, note FROM jobs WHERE booking_id = $1 AND kind = 'booking.confirmation'",
    )
    .bind(blocked.id)
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(attempts, 1, "no retry storm");
    let note = note.unwrap_or_default();
    assert!(
        note.contains("patient: Telegram refused") && note.contains("blocked"),
        "{note}"
    );

    // 429 with retry_after 2: put off by two seconds, the attempt not counted, then sent.
    let started = Instant::now();
    let booking = book(&db, flooded, doctor).await;
    sim.wait_for_text_within(5002, "✅ Your visit is booked", 15)
        .await;
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "retry_after honoured"
    );
    wait_until(&db, &confirmation(booking.id), 5).await;
    let (attempts, last_error): (i32, Option<String>) = sqlx::query_as(
        "SELECT attempts, last_error FROM jobs WHERE booking_id = $1 AND kind = 'booking.confirmation'",
    )
    .bind(booking.id)
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(attempts, 1, "the 429 did not count as an attempt");
    assert!(
        last_error.as_deref().unwrap_or_default().contains("429"),
        "{last_error:?}"
    );
    worker.stop().await.unwrap();
}

/// A job whose handler panics every time fails each attempt like any error, ends `dead`
/// after `max_attempts` with the panic's message, and the lane that ran it goes on to the
/// next job; the worker stays ready throughout.
#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn a_job_that_panics_every_time_ends_dead_and_its_lane_goes_on(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = pool(&options).await;
    let vars = [
        ("WORKER_CONCURRENCY", "1"),
        ("WORKER_BACKOFF_BASE_MS", "50"),
        ("WORKER_BACKOFF_MAX_SECONDS", "1"),
    ];
    // Its own process: its metrics are its own.
    let worker = start_worker(&options, "lone", &vars).await;
    let get = |path: &str| reqwest::get(format!("http://{}{path}", worker.addr));
    let poison: Uuid = sqlx::query_scalar(
        "INSERT INTO jobs (id, kind, payload, max_attempts)
         VALUES (gen_random_uuid(), 'system.noop', '{\"v\":1,\"panic\":true}', 3) RETURNING id",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    let poison_status = format!("SELECT status = 'dead' FROM jobs WHERE id = '{poison}'");
    wait_until(&db, &poison_status, 20).await;
    let (_, attempts, _, last_error, _) = job(&db, poison).await;
    assert_eq!(attempts, 3, "one run per allowed attempt");
    let last_error = last_error.unwrap_or_default();
    assert!(
        last_error.contains("panicked: system.noop was asked to panic"),
        "{last_error}"
    );

    // The only lane is still there: it runs the next job.
    let after = noop_jobs(&db, 1, 0).await;
    wait_until(
        &db,
        &format!(
            "SELECT status = 'succeeded' FROM jobs WHERE id = '{}'",
            after[0]
        ),
        10,
    )
    .await;
    let ready = get("/readyz").await.unwrap();
    assert_eq!(ready.status(), 200);
    let report: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(report["lanes"]["ok"], true, "{report}");
    let metrics = get("/metrics").await.unwrap().text().await.unwrap();
    assert_eq!(counter(&metrics, "medsync_jobs_dead_total"), 1.0);
    assert_eq!(counter(&metrics, "medsync_jobs_failed_total"), 2.0);
    assert_eq!(counter(&metrics, "medsync_jobs_succeeded_total"), 1.0);
    assert_eq!(counter(&metrics, "medsync_worker_lane_restarts_total"), 0.0);
    drop(worker);
}
