//! The job queue and the notifications, over real PostgreSQL, with tgsim playing Telegram.

use crate::common;

use std::collections::HashMap;
use std::time::Duration;

use common::{Sim, TOKEN, config, job, pool, telegram_patient, wait_until, worker};
use jiff::Timestamp;
use medsync_api::harness;
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

mod failures;
mod telegram;
mod workers;

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
    pool_options: PgPoolOptions,
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
    let api = harness::spawn(pool_options, options.clone()).await;
    let tokens = api.patient("pat@example.com").await;
    sqlx::query("UPDATE users SET telegram_user_id = $1 WHERE email = 'pat@example.com'")
        .bind(PATIENT_CHAT)
        .execute(&db)
        .await
        .unwrap();
    // Two days ahead and more: every reminder is still to come.
    let starts_at = api.slots(doctor, 2, 5).await.swap_remove(0);
    let booked = api
        .post(
            "/api/v1/bookings",
            Some(harness::token(&tokens)),
            json!({"doctor_id": doctor, "starts_at": starts_at}),
        )
        .await;
    assert_eq!(booked.status, 201, "{booked:?}");
    let booked = booked.body;
    let when = clock::human(clock::parse_rfc3339(&starts_at).unwrap(), &rules().timezone);
    let text = sim
        .wait_for_text_within(PATIENT_CHAT, "✅ Your visit is booked", 15)
        .await;
    assert!(text.contains(&format!("Dr. Ada Heart on {when}")), "{text}");
    let id = Uuid::parse_str(booked["id"].as_str().unwrap()).unwrap();
    assert!(text.contains(&bookings::reference(id)), "{text}");
    let to_doctor = sim
        .wait_for_text_within(doctor_chat, "New booking: Pat Patient on", 15)
        .await;
    assert!(to_doctor.contains(&when), "{to_doctor}");

    // 2. In the bot's dialogue (polling tgsim): the same confirmation, from the worker.
    let bot = {
        let config: medsync_bot::Config = testing::config(
            &medsync_bot::SPEC,
            &options,
            &[
                ("TELEGRAM_BOT_TOKEN", TOKEN),
                ("TELEGRAM_API_URL", url.as_str()),
                ("TELEGRAM_MODE", "polling"),
                ("CLINIC_TIMEZONE", BERLIN),
                ("BOT_CONSUMER_NAME", "bot"),
            ],
        );
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
    sim.wait_for_text_within(ada, "✅ Booked", 15).await;
    let text = sim
        .wait_for_text_within(ada, "✅ Your visit is booked", 15)
        .await;
    let starts: jiff_sqlx::Timestamp = sqlx::query_scalar(
        "SELECT b.starts_at FROM bookings b JOIN users u ON u.id = b.patient_id
         WHERE u.telegram_user_id = $1",
    )
    .bind(ada)
    .fetch_one(&db)
    .await
    .unwrap();
    let when = clock::human(starts.to_jiff(), &rules().timezone);
    assert!(text.contains(&format!("Dr. Ada Heart on {when}")), "{text}");

    bot.stop().await.unwrap();
    api.app.stop().await.unwrap();
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
    sim.wait_for_text_within(PATIENT_CHAT, "✅ Your visit is booked", 15)
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
        jobs::enqueue(&mut conn, &reminder, due)
            .await
            .unwrap()
            .unwrap();
    }
    let mut arrived = None;
    for _ in 0..200 {
        if sim
            .bot_texts(PATIENT_CHAT)
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
    let reminder = sim
        .wait_for_text_within(PATIENT_CHAT, "⏰ Reminder", 1)
        .await;
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
        jobs::enqueue(&mut conn, &reminder, soon)
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
    sim.wait_for_text_within(PATIENT_CHAT, "❎ Your visit with Dr. Ada Heart", 15)
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
        .bot_texts(PATIENT_CHAT)
        .iter()
        .filter(|t| t.starts_with("⏰ Reminder"))
        .count();
    assert_eq!(reminders, 1);

    worker.stop().await.unwrap();
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
