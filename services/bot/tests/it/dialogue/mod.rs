//! The bot's conversations end to end: tgsim plays Telegram over real HTTP, with real
//! PostgreSQL and Redis, in polling mode and through the webhook and its Redis stream.

use crate::common;

use common::{ADA, Sim, bot_config, buttons, clinic, count, up_to_confirm};
use medsync_domain::bookings::{self, BookingSource};
use medsync_domain::users;
use medsync_testkit::{self as testing, TestApp};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

mod linking;
mod webhook_mode;

async fn pool(options: &PgConnectOptions) -> PgPool {
    PgPoolOptions::new()
        .max_connections(3)
        .connect_with(options.clone())
        .await
        .unwrap()
}

async fn polling_bot(options: &PgConnectOptions, sim: &Sim) -> TestApp {
    let config = bot_config(options, &sim.url(), "polling");
    let infra = testing::infra(&config.base);
    TestApp::spawn(medsync_bot::build_with(config, infra).await.unwrap())
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn a_patient_books_in_the_dialogue_and_cancels_from_my(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = pool(&options).await;
    let clinic = clinic(&db).await;
    let sim = Sim::start().await;
    let bot = polling_bot(&options, &sim).await;

    sim.says(ADA, "/start");
    sim.wait_for(ADA, "Welcome to MedSync, Ada!").await;
    let patient = users::by_telegram(&db, ADA).await.unwrap().unwrap();
    assert_eq!(patient.role, users::Role::Patient);

    // Back goes one step back, in the same message.
    sim.says(ADA, "/book");
    let m = sim.wait_for(ADA, "Which specialty?").await;
    sim.press_labelled(ADA, &m, "Cardiology");
    let m = sim.wait_for(ADA, "Which doctor?").await;
    sim.press_labelled(ADA, &m, "« Back");
    let again = sim.wait_for(ADA, "Which specialty?").await;
    assert_eq!(again["message_id"], m["message_id"]);
    sim.press_labelled(ADA, &again, "Cancel");
    sim.wait_for(ADA, "Booking cancelled").await;

    let (confirm, _) = up_to_confirm(&sim, ADA).await;
    sim.press_labelled(ADA, &confirm, "Confirm");
    let booked = sim.wait_for(ADA, "✅ Booked: Dr. Ada Heart on").await;
    assert!(buttons(&booked).is_empty(), "{booked:#}");

    // The booking, made by the domain function with its jobs, in the same transaction.
    let (booking_id, source, doctor): (uuid::Uuid, BookingSource, uuid::Uuid) =
        sqlx::query_as("SELECT id, source, doctor_id FROM bookings WHERE patient_id = $1")
            .bind(patient.id)
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!((source, doctor), (BookingSource::Telegram, clinic.doctor));
    let confirmations = count(
        &db,
        &format!("SELECT count(*) FROM jobs WHERE booking_id = '{booking_id}' AND kind = 'booking.confirmation'"),
    )
    .await;
    assert_eq!(confirmations, 1);

    // /my lists it with a cancel button; cancelling asks first, then cancels.
    sim.says(ADA, "/my");
    let list = sim.wait_for_start(ADA, "Your upcoming visits").await;
    assert!(
        list["text"].as_str().unwrap().contains("Dr. Ada Heart"),
        "{list:#}"
    );
    sim.press_first(ADA, &list, "cb:");
    let ask = sim
        .wait_for(ADA, "Cancel your visit with Dr. Ada Heart")
        .await;
    sim.press_first(ADA, &ask, "cy:");
    sim.wait_for(ADA, "Cancelled your visit with Dr. Ada Heart")
        .await;
    let status: String = sqlx::query_scalar("SELECT status::text FROM bookings WHERE id = $1")
        .bind(booking_id)
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(status, "cancelled");
    let notices = count(
        &db,
        &format!("SELECT count(*) FROM jobs WHERE booking_id = '{booking_id}' AND kind = 'booking.cancellation'"),
    )
    .await;
    assert_eq!(notices, 1);

    bot.stop().await.unwrap();
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn a_slot_taken_meanwhile_gets_a_friendly_answer_and_fresh_choices(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = pool(&options).await;
    let clinic = clinic(&db).await;
    let sim = Sim::start().await;
    let bot = polling_bot(&options, &sim).await;

    sim.says(ADA, "/start");
    sim.wait_for(ADA, "Welcome").await;
    let (confirm, chosen) = up_to_confirm(&sim, ADA).await;

    // Someone else books the very slot through the API's path while Ada hesitates.
    let slots_message = sim.wait_for(ADA, "Book Dr. Ada Heart").await;
    {
        let mut conn = db.acquire().await.unwrap();
        let other = users::telegram_patient(&mut conn, 2002, "Bo")
            .await
            .unwrap();
        let starts = chosen;
        let mut tx = db.begin().await.unwrap();
        bookings::book(
            &mut tx,
            &medsync_platform::config::booking_rules(&medsync_platform::config::Env::new(
                std::collections::HashMap::<&str, &str>::new(),
            ))
            .unwrap(),
            other.id,
            clinic.doctor,
            jiff::Timestamp::from_second(starts).unwrap(),
            BookingSource::Api,
            jiff::Timestamp::now(),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    assert_eq!(slots_message["message_id"], confirm["message_id"]);

    sim.press_labelled(ADA, &confirm, "Confirm");
    let fresh = sim.wait_for(ADA, "Sorry, that time was just taken").await;
    let offered: Vec<String> = buttons(&fresh).into_iter().map(|(_, d)| d).collect();
    assert!(offered.iter().any(|d| d.starts_with("at:")), "{fresh:#}");
    assert!(!offered.contains(&format!("at:{chosen}")), "{fresh:#}");
    assert_eq!(count(&db, "SELECT count(*) FROM bookings").await, 1);

    // And the fresh choice books.
    sim.press_first(ADA, &fresh, "at:");
    let confirm = sim
        .wait_for(ADA, "Book Dr. Ada Heart (Cardiology) on")
        .await;
    sim.press_labelled(ADA, &confirm, "Confirm");
    sim.wait_for(ADA, "✅ Booked").await;
    assert_eq!(count(&db, "SELECT count(*) FROM bookings").await, 2);

    bot.stop().await.unwrap();
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn forged_buttons_cannot_book_past_the_horizon_or_the_cap(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = pool(&options).await;
    let clinic = clinic(&db).await;
    let sim = Sim::start().await;
    let config = common::bot_config_with(
        &options,
        &sim.url(),
        "polling",
        &[
            ("BOOKING_HORIZON_DAYS", "30"),
            ("MAX_FUTURE_BOOKINGS_PER_PATIENT", "1"),
        ],
    );
    let infra = testing::infra(&config.base);
    let bot = TestApp::spawn(medsync_bot::build_with(config, infra).await.unwrap());

    sim.says(ADA, "/start");
    sim.wait_for(ADA, "Welcome").await;
    // A day the bot never offered, 200 days ahead, typed into a forged button.
    sim.says(ADA, "/book");
    let m = sim.wait_for(ADA, "Which specialty?").await;
    sim.press_labelled(ADA, &m, "Cardiology");
    let m = sim.wait_for(ADA, "Which doctor?").await;
    sim.press_labelled(ADA, &m, "Dr. Ada Heart");
    let days = sim.wait_for(ADA, "which day?").await;
    let offered: Vec<String> = buttons(&days).into_iter().map(|(_, d)| d).collect();
    let far = jiff::Zoned::now()
        .date()
        .checked_add(jiff::Span::new().days(200))
        .unwrap();
    assert!(!offered.contains(&format!("day:{far}")), "{offered:?}");
    sim.presses(
        ADA,
        days["message_id"].as_i64().unwrap(),
        &format!("day:{far}"),
    );
    let times = sim.wait_for(ADA, "which time?").await;
    sim.press_first(ADA, &times, "at:");
    let confirm = sim
        .wait_for(ADA, "Book Dr. Ada Heart (Cardiology) on")
        .await;
    sim.press_labelled(ADA, &confirm, "Confirm");
    sim.wait_for_button_answer("visits can be booked at most 30 days ahead")
        .await;
    assert_eq!(count(&db, "SELECT count(*) FROM bookings").await, 0);

    // One visit is the cap here: the first books, the second is refused with the reason.
    sim.says(ADA, "/cancel");
    sim.wait_for(ADA, "Booking cancelled").await;
    let (confirm, _) = up_to_confirm(&sim, ADA).await;
    sim.press_labelled(ADA, &confirm, "Confirm");
    sim.wait_for(ADA, "✅ Booked").await;
    let before = sim.count_starting(ADA, "✅ Booked");
    let (confirm, _) = up_to_confirm(&sim, ADA).await;
    sim.press_labelled(ADA, &confirm, "Confirm");
    sim.wait_for_button_answer("a patient may hold at most 1 upcoming visits")
        .await;
    assert_eq!(sim.count_starting(ADA, "✅ Booked"), before);
    assert_eq!(
        count(
            &db,
            &format!(
                "SELECT count(*) FROM bookings WHERE doctor_id = '{}'",
                clinic.doctor
            )
        )
        .await,
        1
    );

    bot.stop().await.unwrap();
}
