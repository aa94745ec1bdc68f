//! Every page for every kind of person, sign-in and sign-out, and forms from other sites.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::common::{Browser, PASSWORD, signed_in_as, spawn};

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn anonymous_people_browse_the_catalog_and_are_sent_to_sign_in_for_the_rest(
    p: PgPoolOptions,
    o: PgConnectOptions,
) {
    let web = spawn(p, o).await;
    let mut anonymous = Browser::new(&web);

    let home = anonymous.get("/app/").await;
    assert_eq!(home.status, 200, "{home:?}");
    assert!(home.body.contains("Cardiology"), "{}", home.body);
    assert!(home.body.contains("href=\"/app/signin\""));
    let found = anonymous.get("/app/doctors?q=ada").await;
    assert!(found.body.contains("Dr. Ada Heart"), "{}", found.body);
    let none = anonymous.get("/app/doctors?q=nobody").await;
    assert!(none.body.contains("No doctor found"), "{}", none.body);
    let day = anonymous.get(&format!("/app/doctors/{}", web.doctor)).await;
    assert!(day.body.contains("Free times"), "{}", day.body);
    let confirm = anonymous.get(&day.link("/app/book?")).await;
    assert!(confirm.body.contains("Sign in to book"), "{}", confirm.body);
    assert!(!confirm.body.contains("name=\"key\""));
    assert_eq!(
        anonymous.get("/app").await.location(),
        "/app/",
        "the bare prefix leads home"
    );

    for path in ["/app/visits", "/app/agenda", "/app/today", "/app/telegram"] {
        let page = anonymous.get(path).await;
        assert_eq!(page.status, 303, "{path}");
        assert!(
            page.location().starts_with("/app/signin?next="),
            "{path}: {page:?}"
        );
    }
    let refused = anonymous
        .post(
            "/app/bookings",
            &[
                ("doctor", &web.doctor.to_string()),
                ("at", "1"),
                ("key", "k"),
            ],
        )
        .await;
    assert_eq!(refused.status, 303, "booking needs an account");

    // Bad input: a page that says so, never a 500.
    for (path, status) in [
        ("/app/doctors/not-a-uuid", 404),
        ("/app/doctors/00000000-0000-0000-0000-000000000000", 404),
        ("/app/doctors?specialty=nope", 400),
        ("/app/book?doctor=x&at=1", 400),
        (&format!("/app/doctors/{}?day=tomorrow", web.doctor), 400),
        ("/app/nothing-here", 404),
        ("/app/static/app.0000000000.css", 404),
    ] {
        let page = anonymous.get(path).await;
        assert_eq!(page.status, status, "{path}: {page:?}");
        assert!(page.body.contains("<html"), "{path}: an HTML page");
    }
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn each_role_sees_its_own_pages_and_not_the_others(p: PgPoolOptions, o: PgConnectOptions) {
    let web = spawn(p, o).await;
    let mut patient = signed_in_as(&web, "pat@example.com", "patient").await;
    let mut doctor = signed_in_as(&web, "ada@clinic.example", "doctor").await;
    let mut admin = signed_in_as(&web, "admin@clinic.example", "admin").await;

    // A patient books; the doctor sees it in the agenda, the admin in today's list (when today).
    let (_, booked) = patient.book_first(web.doctor).await;
    assert_eq!(booked.status, 303, "{booked:?}");
    let visits = patient.get("/app/visits").await;
    assert_eq!(visits.status, 200);
    assert!(visits.body.contains("Dr. Ada Heart"), "{}", visits.body);
    assert!(
        visits.body.contains("href=\"/app/visits\""),
        "the nav links My visits"
    );

    let agenda = doctor.get("/app/agenda").await;
    assert_eq!(agenda.status, 200, "{agenda:?}");
    assert!(agenda.body.contains("Pat Patient"), "{}", agenda.body);
    let telegram = patient.get("/app/telegram").await;
    assert!(
        telegram.body.contains("Get a link for Telegram"),
        "{}",
        telegram.body
    );
    let link = patient.post("/app/telegram", &[]).await;
    assert_eq!(link.status, 200, "{link:?}");
    assert!(
        link.body.contains("https://t.me/medsync_bot?start="),
        "{}",
        link.body
    );
    let today = admin.get("/app/today").await;
    assert_eq!(today.status, 200, "{today:?}");
    assert!(today.body.contains("<h1>Today</h1>"));

    for (browser, forbidden) in [
        (&mut patient, ["/app/agenda", "/app/today"]),
        (&mut doctor, ["/app/today", "/app/today"]),
        (&mut admin, ["/app/agenda", "/app/agenda"]),
    ] {
        for path in forbidden {
            assert_eq!(browser.get(path).await.status, 403, "{path}");
        }
    }
    // Only patients book.
    let (_, refused) = admin.book_first(web.doctor).await;
    assert_eq!(refused.status, 403, "{refused:?}");
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn sign_in_rotates_the_session_and_sign_out_ends_it(p: PgPoolOptions, o: PgConnectOptions) {
    let web = spawn(p, o).await;
    let mut browser = Browser::new(&web);
    let registered = browser.register("pat@example.com").await;
    assert_eq!(registered.location(), "/app/visits");
    let cookie = registered
        .headers
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/app", "Max-Age=43200"] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "Secure is off in this test's configuration"
    );
    let first = cookie.split(';').next().unwrap().to_owned();

    // A wrong password: the form again, with the answer, and no session change.
    let mut stranger = Browser::new(&web);
    let wrong = stranger
        .post(
            "/app/signin",
            &[("email", "pat@example.com"), ("password", "nope")],
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert!(
        wrong.body.contains("Wrong email or password."),
        "{}",
        wrong.body
    );
    assert!(!stranger.has_session());

    // Signing in again gives a new session and ends the old one.
    let signed_in = browser
        .post(
            "/app/signin",
            &[
                ("email", "pat@example.com"),
                ("password", PASSWORD),
                ("next", "https://evil.example/"),
            ],
        )
        .await;
    assert_eq!(signed_in.status, 303);
    assert_eq!(signed_in.location(), "/app/", "never off-site");
    let second = signed_in
        .headers
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap();
    assert_ne!(
        second.split(';').next().unwrap(),
        first,
        "rotated on sign-in"
    );
    let mut old = Browser::new(&web);
    old.set_cookie(&first);
    assert_eq!(
        old.get("/app/visits").await.status,
        303,
        "the old session no longer signs in"
    );

    let out = browser.post("/app/signout", &[]).await;
    assert_eq!(out.status, 303);
    assert!(!browser.has_session(), "the cookie is removed");
    assert_eq!(browser.get("/app/visits").await.status, 303);
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn a_form_posted_from_another_site_is_refused_and_changes_nothing(
    p: PgPoolOptions,
    o: PgConnectOptions,
) {
    let web = spawn(p, o).await;
    let mut patient = signed_in_as(&web, "pat@example.com", "patient").await;
    let day = patient.get(&format!("/app/doctors/{}", web.doctor)).await;
    let confirm = patient.get(&day.link("/app/book?")).await;
    let form = [
        ("doctor", confirm.field("doctor")),
        ("at", confirm.field("at")),
        ("key", confirm.field("key")),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();

    let forged = patient
        .post_from("/app/bookings", &form, "https://evil.example")
        .await;
    assert_eq!(forged.status, 403, "{forged:?}");
    assert!(
        forged.body.contains("sent from another site"),
        "{}",
        forged.body
    );
    let signout = patient
        .post_from("/app/signout", &[], "https://evil.example")
        .await;
    assert_eq!(signout.status, 403);
    let bookings: i64 = sqlx::query_scalar("SELECT count(*) FROM bookings")
        .fetch_one(&web.db)
        .await
        .unwrap();
    assert_eq!(bookings, 0);
    assert_eq!(
        patient.get("/app/visits").await.status,
        200,
        "still signed in"
    );

    let ours = patient.post("/app/bookings", &form).await;
    assert_eq!(ours.status, 303, "the same form from our own page books");
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn pages_carry_a_content_security_policy_and_assets_are_cached_for_good(
    p: PgPoolOptions,
    o: PgConnectOptions,
) {
    let web = spawn(p, o).await;
    let mut anonymous = Browser::new(&web);
    let home = anonymous.get("/app/").await;
    let csp = home.headers["content-security-policy"].to_str().unwrap();
    for directive in [
        "default-src 'none'",
        "script-src 'self' https://telegram.org",
        "form-action 'self'",
        "frame-ancestors 'self' https://web.telegram.org",
    ] {
        assert!(csp.contains(directive), "{directive} missing: {csp}");
    }
    assert_eq!(home.headers["cache-control"], "no-store");
    assert_eq!(home.headers["x-content-type-options"], "nosniff");
    let css = home.link("/app/static/app.");
    assert!(css.ends_with(".css"), "{css}");
    let asset = anonymous.get(&css).await;
    assert_eq!(asset.status, 200);
    assert_eq!(
        asset.headers["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(asset.body.contains("prefers-color-scheme: dark"));
}
