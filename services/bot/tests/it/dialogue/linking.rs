//! Linking a Telegram account with a code from the app: asked, declined, expired, merged.

use crate::common;

use common::{ADA, Sim, clinic, count, up_to_confirm};
use medsync_domain::{telegram_links, users};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::*;

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
