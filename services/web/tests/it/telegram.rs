//! The Mini App: every request signed in by Telegram's `initData` (signed here by tgsim's
//! signer, written apart from the web app's check), and every way `initData` is refused.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::common::{Browser, TOKEN, init_data, spawn, spawn_with};

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn a_telegram_user_is_signed_in_by_init_data_and_books_as_the_bots_patient(
    p: PgPoolOptions,
    o: PgConnectOptions,
) {
    let web = spawn(p, o).await;
    let mut ada = Browser::telegram(&web, &init_data(TOKEN, 4242, 10));

    let visits = ada.get("/app/visits").await;
    assert_eq!(visits.status, 200, "{visits:?}");
    assert!(visits.body.contains("No upcoming visit"), "{}", visits.body);
    assert!(
        !visits.body.contains("Sign out"),
        "no browser session to end"
    );
    let (confirm, booked) = ada.book_first(web.doctor).await;
    assert!(
        confirm.body.contains("data-main-button"),
        "the Main button books"
    );
    assert_eq!(
        booked.status, 303,
        "a signed request needs no cookie and no Origin"
    );
    assert!(!ada.has_session(), "the Mini App keeps no cookie");
    let (patient, telegram): (String, i64) = sqlx::query_as(
        "SELECT u.name, u.telegram_user_id FROM bookings b JOIN users u ON u.id = b.patient_id",
    )
    .fetch_one(&web.db)
    .await
    .unwrap();
    assert_eq!(
        (patient.as_str(), telegram),
        ("Ada", 4242),
        "the bot's patient"
    );
    let again = ada.get("/app/visits").await;
    assert!(again.body.contains("Dr. Ada Heart"), "{}", again.body);
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn init_data_that_is_tampered_foreign_old_future_unsigned_or_repeated_is_refused(
    p: PgPoolOptions,
    o: PgConnectOptions,
) {
    let web = spawn(p, o).await;
    let good = init_data(TOKEN, 4242, 0);
    let tampered = good.replace("%22id%22%3A4242", "%22id%22%3A4243");
    assert_ne!(tampered, good, "the user id was changed");
    let without_hash = good
        .split('&')
        .filter(|p| !p.starts_with("hash="))
        .collect::<Vec<_>>()
        .join("&");
    let duplicated = format!("{good}&auth_date=1");
    let cases = [
        ("a tampered user", tampered, "not signed by this bot"),
        (
            "another bot's token",
            init_data("987654321:other-token", 4242, 0),
            "not signed by this bot",
        ),
        ("no hash", without_hash, "has no hash"),
        (
            "an auth_date two hours old",
            init_data(TOKEN, 4242, 7200),
            "has expired",
        ),
        (
            "an auth_date an hour ahead",
            init_data(TOKEN, 4242, -3600),
            "dated in the future",
        ),
        ("a repeated key", duplicated, "repeats a key"),
        ("garbage", "%%%".to_owned(), "has no hash"),
        ("nothing", String::new(), "malformed"),
    ];
    for (case, raw, says) in cases {
        let mut browser = Browser::telegram(&web, &raw);
        let page = browser.get("/app/visits").await;
        assert_eq!(page.status, 401, "{case}: {page:?}");
        assert!(page.body.contains(says), "{case}: {}", page.body);
    }
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&web.db)
        .await
        .unwrap();
    assert_eq!(users, 0, "no account made for a refused request");
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn the_init_data_window_is_configurable_and_without_a_token_nobody_signs_in(
    p: PgPoolOptions,
    o: PgConnectOptions,
) {
    let strict = spawn_with(
        p.clone(),
        o.clone(),
        &[("WEB_INIT_DATA_MAX_AGE_SECONDS", "60")],
    )
    .await;
    let mut late = Browser::telegram(&strict, &init_data(TOKEN, 4242, 120));
    assert_eq!(late.get("/app/visits").await.status, 401);
    let mut fresh = Browser::telegram(&strict, &init_data(TOKEN, 4242, 30));
    assert_eq!(fresh.get("/app/visits").await.status, 200);

    let tokenless = spawn_with(p, o, &[("TELEGRAM_BOT_TOKEN", "")]).await;
    let mut ada = Browser::telegram(&tokenless, &init_data(TOKEN, 4242, 0));
    assert_eq!(ada.get("/app/visits").await.status, 401);
    let mut browser = Browser::new(&tokenless);
    assert_eq!(
        browser.get("/app/").await.status,
        200,
        "the browser pages work"
    );
}
