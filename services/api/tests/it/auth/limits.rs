//! Rate limits on sign-in, registration and password guesses, and the hashing slots.

use medsync_api::harness as common;

use common::{Api, spawn_with, token};
use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// Signs in as `email` from `ip` (nginx's X-Real-IP, trusted in these tests).
async fn login_from(api: &Api, ip: &str, email: &str, password: &str) -> common::Answer {
    api.send(
        api.client
            .post(format!("{}/api/v1/auth/login", api.app.url))
            .header("x-real-ip", ip)
            .json(&json!({"email": email, "password": password})),
    )
    .await
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn failed_sign_ins_are_limited_per_account_and_address_with_retry_after(
    p: PgPoolOptions,
    o: PgConnectOptions,
) {
    let api: Api = spawn_with(
        p,
        o,
        &[
            ("LOGIN_RATE_LIMIT_PER_ACCOUNT", "3"),
            ("TRUST_PROXY_HEADERS", "true"),
        ],
    )
    .await;
    api.patient("pat@clinic.example").await;
    let (owner, guesser) = ("203.0.113.9", "198.51.100.7");

    // Successful sign-ins are not failures: the owner signs in as often as they like.
    for _ in 0..5 {
        let ok = login_from(&api, owner, "pat@clinic.example", "correct horse 42").await;
        assert_eq!(ok.status, 200, "{ok:?}");
    }
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let answer = login_from(&api, guesser, "pat@clinic.example", "wrong password 1").await;
        statuses.push(answer.status.as_u16());
        if answer.status == 429 {
            let retry: u64 = answer.headers["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=60).contains(&retry), "{retry}");
        }
    }
    // The guesser's address is refused even the right password; the owner's is not, and
    // another account is not limited.
    let guesser_right = login_from(&api, guesser, "pat@clinic.example", "correct horse 42").await;
    let owner_right = login_from(&api, owner, "pat@clinic.example", "correct horse 42").await;
    let other = login_from(&api, guesser, "other@clinic.example", "x").await;

    assert_eq!(statuses, [401, 401, 401, 429]);
    assert_eq!(guesser_right.status, 429);
    assert_eq!(owner_right.status, 200, "{owner_right:?}");
    assert_eq!(other.status, 401);
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn a_crowd_of_addresses_guessing_one_account_is_limited_too(
    p: PgPoolOptions,
    o: PgConnectOptions,
) {
    // Per address 1 failure a minute; per account, all addresses together, ten.
    let api: Api = spawn_with(
        p,
        o,
        &[
            ("LOGIN_RATE_LIMIT_PER_ACCOUNT", "1"),
            ("TRUST_PROXY_HEADERS", "true"),
        ],
    )
    .await;
    api.patient("pat@clinic.example").await;

    // Each from a new address, so only the account-wide limit can refuse. The bucket refills
    // (one every 6 s) while slow debug-build hashes run, so the refusal may come a few tries
    // after the tenth, never before it.
    let mut statuses = Vec::new();
    for n in 1..=30 {
        let answer = login_from(&api, &format!("192.0.2.{n}"), "pat@clinic.example", "guess").await;
        statuses.push(answer.status.as_u16());
        if answer.status == 429 {
            break;
        }
    }

    assert_eq!(&statuses[..10], [401; 10], "{statuses:?}");
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn x_real_ip_is_ignored_unless_proxy_headers_are_trusted(
    p: PgPoolOptions,
    o: PgConnectOptions,
) {
    // Not trusted (the default): a client cannot dodge the per-address limit by changing
    // the header, since its socket address is what counts.
    let api = spawn_with(p, o, &[("LOGIN_RATE_LIMIT_PER_IP", "2")]).await;

    let mut statuses = Vec::new();
    for n in 1..=3 {
        let answer = login_from(
            &api,
            &format!("192.0.2.{n}"),
            &format!("u{n}@clinic.example"),
            "x",
        )
        .await;
        statuses.push(answer.status.as_u16());
    }

    assert_eq!(statuses, [401, 401, 429]);
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn login_attempts_are_limited_per_client_address(p: PgPoolOptions, o: PgConnectOptions) {
    let api = spawn_with(p, o, &[("LOGIN_RATE_LIMIT_PER_IP", "2")]).await;

    let mut statuses = Vec::new();
    for i in 0..3 {
        let answer = api
            .post(
                "/api/v1/auth/login",
                None,
                json!({"email": format!("u{i}@clinic.example"), "password": "x"}),
            )
            .await;
        statuses.push(answer.status.as_u16());
    }

    assert_eq!(statuses, [401, 401, 429]);
}

fn registration(email: &str) -> Value {
    json!({"email": email, "password": "correct horse 42", "name": "Pat Patient"})
}

async fn register_from(api: &Api, ip: &str, email: &str) -> u16 {
    let request = api
        .client
        .post(format!("{}/api/v1/auth/register", api.app.url))
        .header("x-real-ip", ip)
        .json(&registration(email));
    api.send(request).await.status.as_u16()
}

/// Registration costs a password hash and answers whether an email has an account, so it is
/// limited per client address, per email and overall.
#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn registrations_are_limited_per_address_per_email_and_overall(
    p: PgPoolOptions,
    o: PgConnectOptions,
) {
    let api = spawn_with(
        p,
        o,
        &[
            ("TRUST_PROXY_HEADERS", "true"),
            ("REGISTER_RATE_LIMIT_PER_IP", "2"),
            ("REGISTER_RATE_LIMIT_PER_EMAIL", "2"),
            ("REGISTER_RATE_LIMIT_GLOBAL", "5"),
        ],
    )
    .await;
    // Per address: the third from one address is refused; another address goes on.
    let mut statuses = Vec::new();
    for i in 0..3 {
        statuses.push(register_from(&api, "203.0.113.1", &format!("a{i}@clinic.example")).await);
    }
    assert_eq!(statuses, [201, 201, 429]);
    // Per email: probing one address for an account, from ever new addresses, is slowed too
    // (its registration above was the first of its two).
    let mut statuses = Vec::new();
    for i in 0..3 {
        statuses.push(register_from(&api, &format!("198.51.100.{i}"), "a0@clinic.example").await);
    }
    assert_eq!(statuses, [409, 429, 429]);
    // Overall: 5 per minute in all, whatever the addresses (the two created and the three
    // probes counted; the refusal per address came before the overall count).
    let last = register_from(&api, "192.0.2.1", "b0@clinic.example").await;
    assert_eq!(last, 429, "the sixth registration of the minute");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&api.db)
        .await
        .unwrap();
    assert_eq!(count, 2, "only the two that were let through were created");
}

/// With every hashing slot busy past the wait, sign-ins are answered 503 with Retry-After,
/// quickly, and never 500; the ones that got a slot are answered as usual.
#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn sign_ins_beyond_the_hashing_slots_get_503_with_retry_after(
    p: PgPoolOptions,
    o: PgConnectOptions,
) {
    let api = spawn_with(
        p,
        o,
        &[
            ("PASSWORD_HASH_CONCURRENCY", "1"),
            ("PASSWORD_HASH_WAIT_MS", "1"),
        ],
    )
    .await;
    let mut attempts = tokio::task::JoinSet::new();
    for i in 0..12 {
        let request = api
            .client
            .post(format!("{}/api/v1/auth/login", api.app.url))
            .json(&json!({"email": format!("nobody{i}@clinic.example"), "password": "x"}));
        attempts.spawn(async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let retry = response.headers().get("retry-after").cloned();
            let body: Value = response.json().await.unwrap();
            (status, retry, body)
        });
    }
    let mut busy = 0;
    while let Some(answer) = attempts.join_next().await {
        let (status, retry, body) = answer.unwrap();
        match status {
            401 => {}
            503 => {
                busy += 1;
                assert_eq!(retry.unwrap(), "1");
                assert_eq!(body["status"], 503, "{body}");
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(busy >= 1, "12 hashes at once on one slot: some refused");
    let metrics = api.get("/metrics", None).await;
    assert!(
        metrics
            .body
            .as_str()
            .unwrap_or_default()
            .contains("medsync_password_hash_busy_total"),
        "{metrics:?}"
    );
}

/// Guesses at the current password (with a stolen access token) are limited like sign-ins.
#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn current_password_guesses_are_limited(p: PgPoolOptions, o: PgConnectOptions) {
    let api = spawn_with(p, o, &[("LOGIN_RATE_LIMIT_PER_ACCOUNT", "3")]).await;
    let pair = api.patient("pat@clinic.example").await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let answer = api
            .method(
                reqwest::Method::PATCH,
                "/api/v1/users/me",
                Some(token(&pair)),
                Some(json!({"password": "a new password 1", "current_password": "a guess 1"})),
            )
            .await;
        statuses.push(answer.status.as_u16());
    }
    assert_eq!(statuses, [422, 422, 422, 429]);
}
