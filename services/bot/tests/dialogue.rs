//! The bot's conversations end to end: tgsim plays Telegram over real HTTP, with real
//! PostgreSQL and Redis, in polling mode and through the webhook and its Redis stream.

mod common;

use std::time::Duration;

use common::{ADA, Sim, TOKEN, bot_config, buttons, clinic, count, up_to_confirm};
use medsync_domain::bookings::{self, BookingSource};
use medsync_domain::{telegram_links, users};
use medsync_testkit::{self as testing, TestApp};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

async fn pool(options: &PgConnectOptions) -> PgPool {
    PgPoolOptions::new()
        .max_connections(3)
        .connect_with(options.clone())
        .await
        .unwrap()
}

async fn polling_bot(options: &PgConnectOptions, sim: &Sim) -> TestApp {
    let config = bot_config(common::base(options), &sim.url(), "polling");
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
async fn start_with_a_link_code_links_the_account_and_stale_buttons_change_nothing(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = pool(&options).await;
    clinic(&db).await;
    let sim = Sim::start().await;
    let bot = polling_bot(&options, &sim).await;

    // An API account issues a code; /start <code> links this Telegram user to it.
    let email = users::Email::parse("ada@example.com").unwrap();
    let account = users::register(&db, &email, "hash", "Ada Lovelace", None)
        .await
        .unwrap();
    let code = {
        let mut conn = db.acquire().await.unwrap();
        telegram_links::issue(
            &mut conn,
            account.id,
            jiff::SignedDuration::from_mins(10),
            jiff::Timestamp::now(),
        )
        .await
        .unwrap()
        .code
    };
    sim.says(ADA, &format!("/start {code}"));
    // Asked first, naming the account by its masked email; nothing linked yet.
    let ask = sim
        .wait_for(
            ADA,
            "Link this Telegram account to the MedSync account a***@example.com (Ada Lovelace)?",
        )
        .await;
    assert!(users::by_telegram(&db, ADA).await.unwrap().is_none());
    sim.press_labelled(ADA, &ask, "Link");
    sim.wait_for(ADA, "Linked, Ada Lovelace!").await;
    let linked = users::by_telegram(&db, ADA).await.unwrap().unwrap();
    assert_eq!(linked.id, account.id);
    let audited = count(
        &db,
        &format!(
            "SELECT count(*) FROM audit_events WHERE action = 'telegram.linked'
             AND channel = 'bot' AND subject_id = '{}'",
            account.id
        ),
    )
    .await;
    assert_eq!(audited, 1);

    // Used once: a second try changes nothing.
    sim.says(ADA, &format!("/start {code}"));
    sim.wait_for(ADA, "This link has expired or was already used")
        .await;
    assert_eq!(count(&db, "SELECT count(*) FROM users").await, 1);

    // A button of a dialogue that was cancelled does nothing.
    sim.says(ADA, "/book");
    let menu = sim.wait_for(ADA, "Which specialty?").await;
    sim.says(ADA, "/cancel");
    sim.wait_for(ADA, "Booking cancelled").await;
    sim.press_labelled(ADA, &menu, "Cardiology");
    sim.says(ADA, "hello");
    sim.wait_for(ADA, "Send /book to book a visit").await;
    assert!(sim.bot_messages(ADA).iter().all(|m| {
        !m["text"]
            .as_str()
            .unwrap_or_default()
            .contains("Which doctor?")
    }));

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
    let mut config = bot_config(common::base(&options), &sim.url(), "polling");
    config.rules.horizon_days = 30;
    config.rules.max_future_bookings = 1;
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

/// An API account with a link code for it, valid for `ttl`.
async fn account_with_code(
    db: &PgPool,
    email: &str,
    name: &str,
    ttl: jiff::SignedDuration,
) -> (users::User, String) {
    let email = users::Email::parse(email).unwrap();
    let account = users::register(db, &email, "hash", name, None)
        .await
        .unwrap();
    let mut conn = db.acquire().await.unwrap();
    let code = telegram_links::issue(&mut conn, account.id, ttl, jiff::Timestamp::now())
        .await
        .unwrap()
        .code;
    (account, code)
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn a_link_is_declined_expired_or_refused_when_telegram_is_linked_elsewhere(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = pool(&options).await;
    clinic(&db).await;
    let sim = Sim::start().await;
    let bot = polling_bot(&options, &sim).await;
    let ten = jiff::SignedDuration::from_mins(10);

    // Declined: nothing linked, and the code is void (a second /start says so).
    let (_, code) = account_with_code(&db, "bob@example.com", "Bob Victim", ten).await;
    sim.says(ADA, &format!("/start {code}"));
    let ask = sim.wait_for(ADA, "b***@example.com (Bob Victim)?").await;
    sim.press_labelled(ADA, &ask, "Don't link");
    sim.wait_for(ADA, "Not linked.").await;
    assert!(users::by_telegram(&db, ADA).await.unwrap().is_none());
    sim.says(ADA, &format!("/start {code}"));
    sim.wait_until_count(ADA, "This link has expired or was already used", 1)
        .await;
    // A "Link" press on the old question after declining links nothing either.
    sim.press_labelled(ADA, &ask, "Link");
    sim.wait_until_count(ADA, "This link has expired or was already used", 2)
        .await;
    assert!(users::by_telegram(&db, ADA).await.unwrap().is_none());

    // Expired: refused at once.
    let (_, old) = account_with_code(
        &db,
        "cy@example.com",
        "Cy Late",
        jiff::SignedDuration::from_secs(1),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    sim.says(ADA, &format!("/start {old}"));
    sim.wait_until_count(ADA, "This link has expired or was already used", 3)
        .await;

    // This Telegram user already belongs to an account with a password: refused, unchanged.
    let (owner, first) = account_with_code(&db, "dee@example.com", "Dee Owner", ten).await;
    sim.says(ADA, &format!("/start {first}"));
    let ask = sim.wait_for(ADA, "d***@example.com (Dee Owner)?").await;
    sim.press_labelled(ADA, &ask, "Link");
    sim.wait_for(ADA, "Linked, Dee Owner!").await;
    let (_, other) = account_with_code(&db, "eve@example.com", "Eve Other", ten).await;
    sim.says(ADA, &format!("/start {other}"));
    sim.wait_for(ADA, "already linked to another MedSync account")
        .await;
    assert_eq!(
        users::by_telegram(&db, ADA).await.unwrap().unwrap().id,
        owner.id
    );

    bot.stop().await.unwrap();
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn linking_a_telegram_profile_with_bookings_says_they_move_and_moves_them(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = pool(&options).await;
    clinic(&db).await;
    let sim = Sim::start().await;
    let bot = polling_bot(&options, &sim).await;
    // Ada books as a Telegram-only patient first.
    sim.says(ADA, "/start");
    sim.wait_for(ADA, "Welcome").await;
    let (confirm, _) = up_to_confirm(&sim, ADA).await;
    sim.press_labelled(ADA, &confirm, "Confirm");
    sim.wait_for(ADA, "✅ Booked").await;
    let telegram_only = users::by_telegram(&db, ADA).await.unwrap().unwrap();
    let (account, code) = account_with_code(
        &db,
        "ada@example.com",
        "Ada Lovelace",
        jiff::SignedDuration::from_mins(10),
    )
    .await;

    sim.says(ADA, &format!("/start {code}"));
    let ask = sim.wait_for(ADA, "its 1 visit(s) will move there").await;
    assert_eq!(
        count(
            &db,
            &format!(
                "SELECT count(*) FROM bookings WHERE patient_id = '{}'",
                account.id
            )
        )
        .await,
        0,
        "nothing moves before the answer"
    );
    sim.press_labelled(ADA, &ask, "Link");
    sim.wait_for(ADA, "Linked, Ada Lovelace!").await;

    assert_eq!(
        count(
            &db,
            &format!(
                "SELECT count(*) FROM bookings WHERE patient_id = '{}'",
                account.id
            )
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &db,
            &format!(
                "SELECT count(*) FROM users WHERE id = '{}'",
                telegram_only.id
            )
        )
        .await,
        0
    );
    let merged = count(
        &db,
        &format!(
            "SELECT count(*) FROM audit_events WHERE action = 'telegram.merged'
             AND subject_id = '{}' AND details->>'bookings_moved' = '1'",
            account.id
        ),
    )
    .await;
    assert_eq!(merged, 1);
    // The code is not stored in clear.
    let clear = count(
        &db,
        &format!(
            "SELECT count(*) FROM telegram_link_codes WHERE encode(code_hash, 'escape') LIKE '%{code}%'"
        ),
    )
    .await;
    assert_eq!(clear, 0);

    bot.stop().await.unwrap();
}

/// The webhook service in process, with the bot's Redis prefix.
async fn webhook(
    options: &PgConnectOptions,
    redis: &medsync_platform::config::RedisConfig,
) -> TestApp {
    let mut base = common::base(options);
    base.redis = redis.clone();
    let env = medsync_platform::config::Env::new(std::collections::HashMap::from([
        (
            "TELEGRAM_WEBHOOK_SECRET",
            "webhook-secret-of-at-least-32-characters",
        ),
        ("TELEGRAM_MODE", "webhook"),
    ]));
    let config = medsync_webhook::Config {
        base,
        telegram: medsync_platform::config::TelegramConfig::from_env(&env).unwrap(),
        stream_maxlen: 10_000,
    };
    let infra = testing::infra(&config.base);
    TestApp::spawn(medsync_webhook::build_with(config, infra).await.unwrap())
}

async fn set_webhook(sim: &Sim, url: &str) {
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/bot{TOKEN}/setWebhook", sim.url()))
        .json(&serde_json::json!({"url": url, "secret_token": "webhook-secret-of-at-least-32-characters"}))
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
    let config = bot_config(common::base(&options), &sim.url(), "webhook");
    let webhook = webhook(&options, &config.base.redis).await;
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
    let config = bot_config(common::base(&options), &sim.url(), "webhook");

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
    let mut webhook_redis = config.base.redis.clone();
    webhook_redis.url = medsync_platform::config::RedisUrl(medsync_platform::config::Secret::from(
        via_relay.as_str(),
    ));
    let webhook = webhook(&options, &webhook_redis).await;
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
