//! Booking and cancelling with forms alone (no script): one booking per form whatever the
//! number of submits, a time taken meanwhile, cancelling.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::common::{Browser, signed_in_as, spawn};

async fn count(db: &sqlx::PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(db)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn a_person_registers_books_sees_the_visit_and_cancels_it(
    p: PgPoolOptions,
    o: PgConnectOptions,
) {
    let web = spawn(p, o).await;
    let mut browser = Browser::new(&web);
    let anonymous_confirm = {
        let day = browser.get(&format!("/app/doctors/{}", web.doctor)).await;
        browser.get(&day.link("/app/book?")).await
    };
    // From the confirmation page to registration, and back to the same time.
    let register_link = anonymous_confirm.link("/app/register?next=");
    assert!(
        register_link.contains("next=/app/book%3Fdoctor%3D"),
        "{register_link}"
    );
    browser.register("pat@example.com").await;

    let (confirm, booked) = browser.book_days_ahead(web.doctor, 3).await;
    assert!(
        confirm
            .body
            .contains("data-main-button=\"Book this visit\"")
    );
    assert_eq!(booked.status, 303, "{booked:?}");
    assert!(
        booked.location().starts_with("/app/visits?booked="),
        "{booked:?}"
    );
    let visits = browser.get(booked.location()).await;
    assert!(
        visits.body.contains("Booked: Dr. Ada Heart on"),
        "{}",
        visits.body
    );
    assert_eq!(
        count(
            &web.db,
            "SELECT count(*) FROM bookings WHERE source = 'web'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &web.db,
            "SELECT count(*) FROM jobs WHERE kind = 'booking.confirmation'"
        )
        .await,
        1,
        "the worker's confirmation is queued with the booking"
    );

    let cancel_page = browser.get(&visits.link("/app/visits/")).await;
    assert_eq!(cancel_page.status, 200);
    assert!(cancel_page.body.contains("Cancel this visit"));
    let path = visits.link("/app/visits/");
    let cancelled = browser.post(&path, &[]).await;
    assert_eq!(cancelled.status, 303, "{cancelled:?}");
    let after = browser.get(cancelled.location()).await;
    assert!(
        after.body.contains("The visit is cancelled."),
        "{}",
        after.body
    );
    assert_eq!(
        count(
            &web.db,
            "SELECT count(*) FROM bookings WHERE status = 'cancelled'"
        )
        .await,
        1
    );
    // Twice: a page that says why, not a 500.
    let again = browser.post(&path, &[]).await;
    assert_eq!(again.status, 409, "{again:?}");
    assert!(
        again.body.contains("cannot be cancelled any more"),
        "{}",
        again.body
    );
    // Someone else's visit is not found.
    let mut other = signed_in_as(&web, "bo@example.com", "patient").await;
    assert_eq!(other.get(&path).await.status, 404);
    assert_eq!(other.post(&path, &[]).await.status, 404);
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn a_form_submitted_twice_or_at_once_books_once(p: PgPoolOptions, o: PgConnectOptions) {
    let web = spawn(p, o).await;
    let mut browser = signed_in_as(&web, "pat@example.com", "patient").await;
    let day = browser.get(&format!("/app/doctors/{}", web.doctor)).await;
    let confirm = browser.get(&day.link("/app/book?")).await;
    let form = [
        ("doctor", confirm.field("doctor")),
        ("at", confirm.field("at")),
        ("key", confirm.field("key")),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();

    let first = browser.post("/app/bookings", &form).await;
    let second = browser.post("/app/bookings", &form).await;
    assert_eq!(first.status, 303);
    assert_eq!(second.status, 303);
    assert_eq!(first.location(), second.location(), "the same booking");

    // A double tap: two submits of another form at the same moment.
    let day = browser.get(&format!("/app/doctors/{}", web.doctor)).await;
    let confirm = browser.get(&day.link("/app/book?")).await;
    let key = confirm.field("key");
    let (doctor, at) = (confirm.field("doctor"), confirm.field("at"));
    let tap = [
        ("doctor", doctor.as_str()),
        ("at", at.as_str()),
        ("key", key.as_str()),
    ];
    let mut twin = signed_in_twin(&browser, &web);
    let (a, b) = tokio::join!(
        browser.post("/app/bookings", &tap),
        twin.post("/app/bookings", &tap)
    );
    assert_eq!(
        (a.status.as_u16(), b.status.as_u16()),
        (303, 303),
        "{a:?} {b:?}"
    );
    assert_eq!(a.location(), b.location());
    assert_eq!(count(&web.db, "SELECT count(*) FROM bookings").await, 2);

    // The same key for another time: refused, nothing booked.
    let other_at = (at.parse::<i64>().unwrap() + 3600).to_string();
    let reused = browser
        .post(
            "/app/bookings",
            &[
                ("doctor", doctor.as_str()),
                ("at", other_at.as_str()),
                ("key", key.as_str()),
            ],
        )
        .await;
    assert_eq!(reused.status, 400, "{reused:?}");
    assert_eq!(count(&web.db, "SELECT count(*) FROM bookings").await, 2);
}

/// A second client with the same session cookie (the same browser, another connection).
fn signed_in_twin(browser: &Browser, web: &crate::common::Web) -> Browser {
    let mut twin = Browser::new(web);
    twin.copy_cookies(browser);
    twin
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn a_time_taken_meanwhile_gets_a_friendly_page_with_the_times_left(
    p: PgPoolOptions,
    o: PgConnectOptions,
) {
    let web = spawn(p, o).await;
    let mut slow = signed_in_as(&web, "slow@example.com", "patient").await;
    let mut quick = signed_in_as(&web, "quick@example.com", "patient").await;
    // Tomorrow, which has all its times: today's may be down to one late in the day, and
    // then none would be left to offer.
    let berlin = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
    let tomorrow = jiff::Timestamp::now().to_zoned(berlin).date() + jiff::Span::new().days(1);
    let day = slow
        .get(&format!("/app/doctors/{}?day={tomorrow}", web.doctor))
        .await;
    let time = day.link("/app/book?");
    let slow_confirm = slow.get(&time).await;
    let (_, quick_booked) = quick.book_days_ahead(web.doctor, 1).await;
    assert_eq!(quick_booked.status, 303);

    let form = [
        ("doctor", slow_confirm.field("doctor")),
        ("at", slow_confirm.field("at")),
        ("key", slow_confirm.field("key")),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let taken = slow.post("/app/bookings", &form).await;
    assert_eq!(taken.status, 409, "{taken:?}");
    assert!(
        taken
            .body
            .contains("that time was just taken by someone else"),
        "{}",
        taken.body
    );
    let at = slow_confirm.field("at");
    assert!(
        !taken.body.contains(&format!("at={at}\"")),
        "the taken time is no longer offered"
    );
    assert!(taken.body.contains("/app/book?doctor="), "other times are");
    assert_eq!(count(&web.db, "SELECT count(*) FROM bookings").await, 1);
}
