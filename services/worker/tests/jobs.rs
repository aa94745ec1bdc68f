//! The job queue and the notifications, over real PostgreSQL, with tgsim playing Telegram.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{
    Sim, TOKEN, config, counter, job, noop_jobs, pool, telegram_patient, wait_until, worker,
};
use jiff::Timestamp;
use medsync_domain::bookings::{self, Actor, BookingRules, BookingSource};
use medsync_domain::clock;
use medsync_domain::jobs::{self, Job, ReminderPayload};
use medsync_domain::users::Role;
use medsync_platform::config::Env;
use medsync_testkit::{self as testing, RunningBinary, TestApp};
use serde_json::json;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use uuid::Uuid;

const PATIENT_CHAT: i64 = 4242;
const BERLIN: &str = "Europe/Berlin";

fn rules() -> BookingRules {
    medsync_platform::config::booking_rules(&Env::new(HashMap::from([("CLINIC_TIMEZONE", BERLIN)])))
        .unwrap()
}

/// Books the first free slot at least two days ahead for `patient`, as the API does.
async fn book(db: &PgPool, patient: Uuid, doctor: Uuid) -> bookings::Booking {
    let now = Timestamp::now();
    let from = now
        .checked_add(jiff::SignedDuration::from_hours(48))
        .unwrap();
    let to = from
        .checked_add(jiff::SignedDuration::from_hours(48))
        .unwrap();
    let mut tx = db.begin().await.unwrap();
    let calendar = medsync_domain::slots::load_calendar(&mut tx, doctor, from, to)
        .await
        .unwrap()
        .unwrap();
    let slot = medsync_domain::slots::free_slots(&calendar, &rules().timezone, from, to, now)[0];
    let booking = bookings::book(
        &mut tx,
        &rules(),
        patient,
        doctor,
        slot.starts_at,
        BookingSource::Api,
        now,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    booking
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn confirmations_of_api_and_bot_bookings_reach_the_patients_chat(
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
        ("CLINIC_TIMEZONE", BERLIN),
    ];
    let worker = worker(config(&options, &vars)).await;

    // The doctor has an account linked to Telegram too: told of new bookings.
    let doctor_chat = 6001_i64;
    sqlx::query(
        "WITH u AS (INSERT INTO users (id, name, role, telegram_user_id)
                    VALUES (gen_random_uuid(), 'Dr. Ada Heart', 'doctor', $1) RETURNING id)
         UPDATE doctors SET user_id = (SELECT id FROM u) WHERE id = $2",
    )
    .bind(doctor_chat)
    .bind(doctor)
    .execute(&db)
    .await
    .unwrap();

    // 1. Through the API: a patient whose account is linked to Telegram books.
    let api = common::api(&options).await;
    let http = reqwest::Client::new();
    let registered = http
        .post(format!("{}/api/v1/auth/register", api.url))
        .json(&json!({"email": "pat@example.com", "password": "correct horse 42", "name": "Pat"}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    sqlx::query("UPDATE users SET telegram_user_id = $1 WHERE email = 'pat@example.com'")
        .bind(PATIENT_CHAT)
        .execute(&db)
        .await
        .unwrap();
    let tokens: serde_json::Value = http
        .post(format!("{}/api/v1/auth/login", api.url))
        .json(&json!({"email": "pat@example.com", "password": "correct horse 42"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let from = Timestamp::now()
        .checked_add(jiff::SignedDuration::from_hours(48))
        .unwrap();
    let to = from
        .checked_add(jiff::SignedDuration::from_hours(72))
        .unwrap();
    let slots: serde_json::Value = http
        .get(format!("{}/api/v1/doctors/{doctor}/slots", api.url))
        .query(&[("from", from.to_string()), ("to", to.to_string())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // Two days ahead and more: every reminder is still to come.
    let starts_at = slots[0]["starts_at"].as_str().expect("slots").to_owned();
    let booked: serde_json::Value = http
        .post(format!("{}/api/v1/bookings", api.url))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .json(&json!({"doctor_id": doctor, "starts_at": starts_at}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let when = clock::human(clock::parse_rfc3339(&starts_at).unwrap(), &rules().timezone);
    let text = sim
        .wait_for(PATIENT_CHAT, "✅ Your visit is booked", 15)
        .await;
    assert!(text.contains(&format!("Dr. Ada Heart on {when}")), "{text}");
    let id = Uuid::parse_str(booked["id"].as_str().unwrap()).unwrap();
    assert!(text.contains(&bookings::reference(id)), "{text}");
    let to_doctor = sim.wait_for(doctor_chat, "New booking: Pat on", 15).await;
    assert!(to_doctor.contains(&when), "{to_doctor}");

    // 2. In the bot's dialogue (polling tgsim): the same confirmation, from the worker.
    let bot = {
        let env = Env::new(HashMap::from([
            ("TELEGRAM_BOT_TOKEN", TOKEN),
            ("TELEGRAM_API_URL", url.as_str()),
            ("TELEGRAM_MODE", "polling"),
            ("CLINIC_TIMEZONE", BERLIN),
        ]));
        let config = medsync_bot::Config {
            base: testing::base_config(&options),
            telegram: medsync_platform::config::TelegramConfig::from_env(&env).unwrap(),
            rules: medsync_platform::config::booking_rules(&env).unwrap(),
            dialogue_ttl: Duration::from_secs(600),
            booking_days: 14,
            claim_idle: Duration::from_secs(60),
            consumer_name: "bot".to_owned(),
        };
        let infra = testing::infra(&config.base);
        TestApp::spawn(medsync_bot::build_with(config, infra).await.unwrap())
    };
    let ada = 1001;
    let press = |message_id: i64, data: &str| {
        sim.sim.user_presses(TOKEN, ada, message_id, data).unwrap();
    };
    let last_keyboard = |prefix: &str| {
        let chat = sim.sim.chat(TOKEN, ada);
        let message = chat
            .iter()
            .rev()
            .find(|m| m["reply_markup"].is_object())
            .cloned();
        message.and_then(|m| {
            let data = m["reply_markup"]["inline_keyboard"]
                .as_array()?
                .iter()
                .flat_map(|row| row.as_array().cloned().unwrap_or_default())
                .filter_map(|b| b["callback_data"].as_str().map(str::to_owned))
                .find(|d| d.starts_with(prefix))?;
            Some((m["message_id"].as_i64()?, data))
        })
    };
    sim.sim.user_sends(TOKEN, ada, "Ada", "/book");
    for prefix in ["sp:", "dr:", "day:", "at:", "ok"] {
        let mut found = None;
        for _ in 0..200 {
            found = last_keyboard(prefix);
            if found.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (message, data) = found.unwrap_or_else(|| panic!("no {prefix} button"));
        press(message, &data);
    }
    sim.wait_for(ada, "✅ Booked", 15).await;
    let text = sim.wait_for(ada, "✅ Your visit is booked", 15).await;
    let starts: time::OffsetDateTime = sqlx::query_scalar(
        "SELECT b.starts_at FROM bookings b JOIN users u ON u.id = b.patient_id
         WHERE u.telegram_user_id = $1",
    )
    .bind(ada)
    .fetch_one(&db)
    .await
    .unwrap();
    let when = clock::human(clock::from_db(starts), &rules().timezone);
    assert!(text.contains(&format!("Dr. Ada Heart on {when}")), "{text}");

    bot.stop().await.unwrap();
    api.stop().await.unwrap();
    worker.stop().await.unwrap();
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn a_reminder_arrives_when_due_and_not_before_and_cancelling_stops_reminders(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = pool(&options).await;
    let (_, doctor) = testing::clinic_open_every_day(&db).await;
    let patient = telegram_patient(&db, PATIENT_CHAT, "Pat").await;
    let sim = Sim::start().await;
    let url = sim.url();
    let vars = [
        ("TELEGRAM_BOT_TOKEN", TOKEN),
        ("TELEGRAM_API_URL", url.as_str()),
        ("CLINIC_TIMEZONE", BERLIN),
    ];
    let worker = worker(config(&options, &vars)).await;

    let booking = book(&db, patient, doctor).await;
    sim.wait_for(PATIENT_CHAT, "✅ Your visit is booked", 15)
        .await;

    // A reminder due three seconds from now (the booking's own are a day and more ahead).
    let due = Timestamp::now()
        .checked_add(jiff::SignedDuration::from_secs(3))
        .unwrap();
    {
        let mut conn = db.acquire().await.unwrap();
        let reminder = Job::BookingReminder(ReminderPayload {
            v: 1,
            booking_id: booking.id,
            minutes_before: 90,
        });
        jobs::enqueue(&mut conn, &reminder, clock::to_db(due))
            .await
            .unwrap()
            .unwrap();
    }
    let mut arrived = None;
    for _ in 0..200 {
        if sim
            .bot_messages(PATIENT_CHAT)
            .iter()
            .any(|t| t.starts_with("⏰ Reminder"))
        {
            arrived = Some(Timestamp::now());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let arrived = arrived.expect("the reminder arrived");
    assert!(arrived >= due, "arrived at {arrived}, due {due}");
    assert!(
        arrived.duration_since(due) < jiff::SignedDuration::from_secs(5),
        "arrived at {arrived}, due {due}"
    );
    let reminder = sim.wait_for(PATIENT_CHAT, "⏰ Reminder", 1).await;
    assert!(
        reminder.contains("your visit with Dr. Ada Heart is in 90 minutes"),
        "{reminder}"
    );

    // Cancelled: its queued reminders go, and one already due is not sent.
    let late = {
        let mut conn = db.acquire().await.unwrap();
        // A reminder becoming due just as the booking is cancelled.
        let reminder = Job::BookingReminder(ReminderPayload {
            v: 1,
            booking_id: booking.id,
            minutes_before: 30,
        });
        let soon = Timestamp::now()
            .checked_add(jiff::SignedDuration::from_secs(2))
            .unwrap();
        jobs::enqueue(&mut conn, &reminder, clock::to_db(soon))
            .await
            .unwrap()
            .unwrap()
    };
    let queued_before: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM jobs WHERE booking_id = $1 AND kind = 'booking.reminder' AND status = 'queued'",
    )
    .bind(booking.id)
    .fetch_one(&db)
    .await
    .unwrap();
    assert!(queued_before >= 2, "{queued_before}");
    // The due reminder is held (as if a worker had claimed it) while the booking is cancelled.
    sqlx::query("UPDATE jobs SET status = 'running', locked_by = 'elsewhere', locked_until = now() + interval '2 seconds' WHERE id = $1")
        .bind(late)
        .execute(&db)
        .await
        .unwrap();
    {
        let mut tx = db.begin().await.unwrap();
        let actor = Actor {
            user_id: patient,
            role: Role::Patient,
            channel: medsync_domain::audit::Channel::Api,
        };
        bookings::cancel(&mut tx, &rules(), booking.id, actor, Timestamp::now())
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    let queued_after: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM jobs WHERE booking_id = $1 AND kind = 'booking.reminder' AND status = 'queued'",
    )
    .bind(booking.id)
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(queued_after, 0);
    sim.wait_for(PATIENT_CHAT, "❎ Your visit with Dr. Ada Heart", 15)
        .await;
    // The held reminder's lease runs out; a worker takes it, sees the cancellation, sends nothing.
    wait_until(
        &db,
        &format!("SELECT status = 'succeeded' FROM jobs WHERE id = '{late}'"),
        15,
    )
    .await;
    let (_, _, _, _, note) = job(&db, late).await;
    assert_eq!(
        note.as_deref(),
        Some("the booking was cancelled: no reminder")
    );
    let reminders = sim
        .bot_messages(PATIENT_CHAT)
        .iter()
        .filter(|t| t.starts_with("⏰ Reminder"))
        .count();
    assert_eq!(reminders, 1);

    worker.stop().await.unwrap();
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn a_failing_job_backs_off_dies_and_runs_again_when_retried(
    _: PgPoolOptions,
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
    let api = common::api(&options).await;
    let admin = common::admin_token(&db, &api).await;
    let http = reqwest::Client::new();
    let dead: serde_json::Value = http
        .get(format!("{}/api/v1/admin/jobs?status=dead", api.url))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(dead["total"], 1, "{dead}");
    assert_eq!(dead["items"][0]["id"], json!(id));
    assert_eq!(dead["items"][0]["attempts"], 4);
    let retried = http
        .post(format!("{}/api/v1/admin/jobs/{id}/retry", api.url))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(retried.status(), 200);
    let retried: serde_json::Value = retried.json().await.unwrap();
    assert_eq!(
        (retried["status"].as_str(), retried["attempts"].as_i64()),
        (Some("queued"), Some(0))
    );
    sim.wait_for(PATIENT_CHAT, "✅ Your visit is booked", 15)
        .await;
    wait_until(
        &db,
        &format!("SELECT status = 'succeeded' FROM jobs WHERE id = '{id}'"),
        10,
    )
    .await;
    fixed.stop().await.unwrap();
    api.stop().await.unwrap();
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
    sim.wait_for(5002, "✅ Your visit is booked", 15).await;
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

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn shutdown_puts_unfinished_jobs_back_and_clean_up_runs_once_at_a_time(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = pool(&options).await;
    let mut config = config(&options, &[]);
    config.base.http.shutdown_grace = Duration::from_secs(2);
    let app = worker(config).await;
    let ids = noop_jobs(&db, 1, 30_000).await;
    wait_until(
        &db,
        &format!(
            "SELECT status = 'running' FROM jobs WHERE id = '{}'",
            ids[0]
        ),
        10,
    )
    .await;
    let stopping = Instant::now();
    app.stop().await.unwrap();
    assert!(stopping.elapsed() < Duration::from_secs(5));
    let (status, attempts, _, last_error, _) = job(&db, ids[0]).await;
    assert_eq!((status.as_str(), attempts), ("queued", 0));
    assert!(last_error.unwrap_or_default().contains("interrupted"));

    // Clean-ups: only one worker at a time (another holds the lock: this one does nothing).
    sqlx::query(
        "INSERT INTO jobs (id, kind, payload, status, finished_at)
         VALUES (gen_random_uuid(), 'system.noop', '{\"v\":1}', 'succeeded', now() - interval '30 days'),
                (gen_random_uuid(), 'system.noop', '{\"v\":1}', 'succeeded', now())",
    )
    .execute(&db)
    .await
    .unwrap();
    let mut holder = db.begin().await.unwrap();
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('medsync.clean_up'))")
        .execute(&mut *holder)
        .await
        .unwrap();
    let week = medsync_domain::retention::Retention {
        jobs: Duration::from_secs(7 * 86_400),
        audit: Duration::from_secs(365 * 86_400),
    };
    let skipped = medsync_domain::retention::clean_up(&db, week)
        .await
        .unwrap();
    assert!(!skipped.ran);
    holder.rollback().await.unwrap();
    // Old audit events, expired refresh tokens and old idempotency keys go too; recent ones
    // stay.
    let user = Uuid::now_v7();
    sqlx::query("INSERT INTO users (id, name, telegram_user_id) VALUES ($1, 'Old', 777)")
        .bind(user)
        .execute(&db)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO audit_events (id, at, action, channel)
         VALUES (gen_random_uuid(), now() - interval '400 days', 'auth.login.succeeded', 'api'),
                (gen_random_uuid(), now(), 'auth.login.succeeded', 'api')",
    )
    .execute(&db)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, expires_at)
         VALUES (gen_random_uuid(), $1, gen_random_uuid(), sha256('a'), now() - interval '3 days'),
                (gen_random_uuid(), $1, gen_random_uuid(), sha256('b'), now() + interval '3 days')",
    )
    .bind(user)
    .execute(&db)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO idempotency_keys
             (user_id, key, request_hash, response_code, response_body, created_at)
         VALUES ($1, 'old', sha256('x'), 201, '{}', now() - interval '2 days'),
                ($1, 'new', sha256('y'), 201, '{}', now())",
    )
    .bind(user)
    .execute(&db)
    .await
    .unwrap();
    let done = medsync_domain::retention::clean_up(&db, week)
        .await
        .unwrap();
    assert!(done.ran);
    assert_eq!(done.jobs, 1);
    assert_eq!(
        (
            done.audit_events,
            done.refresh_tokens,
            done.idempotency_keys
        ),
        (1, 1, 1)
    );
}

const BIN: &str = env!("CARGO_BIN_EXE_worker");

async fn start_worker(
    options: &PgConnectOptions,
    id: &str,
    extra: &[(&str, &str)],
) -> RunningBinary {
    let database_url = testing::database_url(options);
    let mut vars = vec![
        ("DATABASE_URL", database_url.as_str()),
        ("WORKER_ID", id),
        ("WORKER_POLL_SECONDS", "2"),
    ];
    vars.extend_from_slice(extra);
    RunningBinary::start(BIN, "WORKER_LISTEN_ADDR", &vars).await
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn a_job_of_a_worker_killed_mid_job_runs_again_elsewhere_after_the_lease(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = pool(&options).await;
    let mut first = start_worker(&options, "first", &[("WORKER_LEASE_SECONDS", "3")]).await;
    let ids = noop_jobs(&db, 1, 2_000).await;
    wait_until(
        &db,
        &format!(
            "SELECT status = 'running' AND locked_by = 'first' FROM jobs WHERE id = '{}'",
            ids[0]
        ),
        10,
    )
    .await;
    first.child.kill().unwrap(); // SIGKILL in the middle of the job
    first.child.wait().unwrap();

    let killed_at = Instant::now();
    let second = start_worker(&options, "second", &[("WORKER_LEASE_SECONDS", "3")]).await;
    wait_until(
        &db,
        &format!(
            "SELECT status = 'succeeded' AND locked_by = 'second' FROM jobs WHERE id = '{}'",
            ids[0]
        ),
        20,
    )
    .await;
    // Not before the lease ran out (3 s after the last renewal) plus the job's 2 s.
    assert!(killed_at.elapsed() >= Duration::from_secs(2));
    let (_, attempts, _, _, _) = job(&db, ids[0]).await;
    assert_eq!(attempts, 2, "run once by each worker");
    drop(second);
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn two_workers_drain_ten_thousand_jobs_each_exactly_once(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = pool(&options).await;
    let ids = noop_jobs(&db, 10_000, 0).await;
    assert_eq!(ids.len(), 10_000);
    let one = start_worker(&options, "one", &[("WORKER_CONCURRENCY", "16")]).await;
    let two = start_worker(&options, "two", &[("WORKER_CONCURRENCY", "16")]).await;
    wait_until(
        &db,
        "SELECT count(*) = 10000 FROM jobs WHERE status = 'succeeded'",
        180,
    )
    .await;

    // Every job ran, none twice: one attempt each, and the workers' own counts add up.
    let (runs, max_attempts): (i64, i32) =
        sqlx::query_as("SELECT sum(attempts)::int8, max(attempts) FROM jobs")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!((runs, max_attempts), (10_000, 1));
    let by_worker: Vec<(String, i64)> = sqlx::query_as(
        "SELECT locked_by, count(*) FROM jobs GROUP BY locked_by ORDER BY locked_by",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(by_worker.len(), 2, "both workers took jobs: {by_worker:?}");
    let mut reported = 0.0;
    for w in [&one, &two] {
        let metrics = reqwest::get(format!("http://{}/metrics", w.addr))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        reported += counter(&metrics, "medsync_jobs_succeeded_total");
    }
    assert!(
        (reported - 10_000.0).abs() < 0.5,
        "the workers report {reported} runs"
    );
    println!("ran by worker: {by_worker:?}");
}

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
    assert_eq!(worker.get("/readyz").await.status(), 200);

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
    sim.wait_for(6001, "✅ Your visit is booked", 15).await;
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
    sim.wait_for(6002, "✅ Your visit is booked", 40).await;
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
    sim.wait_for(6003, "✅ Your visit is booked", 15).await;
    let (_, attempts, last_error, _) = confirmation_of(&db, booking.id).await;
    assert_eq!(attempts, 2, "{last_error:?}");

    sim.sim.inject(
        TOKEN,
        fault(400, Some("Too Many Requests: retry after 1"), 1),
    );
    let patient = telegram_patient(&db, 6004, "Wait").await;
    let started = Instant::now();
    let booking = book(&db, patient, doctor).await;
    sim.wait_for(6004, "✅ Your visit is booked", 15).await;
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

/// A job that takes its worker down every time (SIGKILL while it runs): each expired lease
/// counts as an attempt, and once the last allowed one expires the next worker marks it
/// `dead` instead of running it again.
#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn a_job_whose_worker_is_killed_every_time_ends_dead(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = pool(&options).await;
    let id: Uuid = sqlx::query_scalar(
        "INSERT INTO jobs (id, kind, payload, max_attempts)
         VALUES (gen_random_uuid(), 'system.noop', '{\"v\":1,\"sleep_ms\":600000}', 2) RETURNING id",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    let lease = [("WORKER_LEASE_SECONDS", "1")];
    for attempt in 1..=2 {
        let name = format!("doomed-{attempt}");
        let mut doomed = start_worker(&options, &name, &lease).await;
        wait_until(
            &db,
            &format!(
                "SELECT status = 'running' AND locked_by = '{name}' AND attempts = {attempt}
                 FROM jobs WHERE id = '{id}'"
            ),
            20,
        )
        .await;
        doomed.child.kill().unwrap();
        doomed.child.wait().unwrap();
    }

    let survivor = start_worker(&options, "survivor", &lease).await;
    wait_until(
        &db,
        &format!("SELECT status = 'dead' FROM jobs WHERE id = '{id}'"),
        20,
    )
    .await;
    let (_, attempts, locked_by, last_error, _) = job(&db, id).await;
    assert_eq!(attempts, 2, "not run a third time");
    assert_eq!(
        locked_by.as_deref(),
        Some("doomed-2"),
        "the worker it died with"
    );
    let last_error = last_error.unwrap_or_default();
    assert!(
        last_error.contains("lease expired: worker doomed-2"),
        "{last_error}"
    );
    let metrics = reqwest::get(format!("http://{}/metrics", survivor.addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(counter(&metrics, "medsync_jobs_dead_total"), 1.0);
    // An expired lease that is not the last is run again, its reason kept until then.
    let retried: Uuid = sqlx::query_scalar(
        "INSERT INTO jobs (id, kind, payload, status, attempts, max_attempts, locked_by,
                           locked_until, started_at)
         VALUES (gen_random_uuid(), 'system.noop', '{\"v\":1}', 'running', 1, 3, 'gone',
                 now() - interval '1 second', now() - interval '1 minute')
         RETURNING id",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    wait_until(
        &db,
        &format!("SELECT status = 'succeeded' AND attempts = 2 AND locked_by = 'survivor' FROM jobs WHERE id = '{retried}'"),
        20,
    )
    .await;
    drop(survivor);
}
