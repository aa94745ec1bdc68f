//! Accounts and tokens, over real HTTP, PostgreSQL and Redis.

mod common;

use common::{Api, spawn, spawn_with, token};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn registering_validates_every_field_at_once(p: PgPoolOptions, o: PgConnectOptions) {
    let api = spawn(p, o).await;

    let answer = api
        .post(
            "/api/v1/auth/register",
            None,
            json!({"email": "nope", "password": "short", "name": " ", "phone": "call me"}),
        )
        .await;

    assert_eq!(answer.status, 422);
    assert_eq!(answer.headers["content-type"], "application/problem+json");
    let fields: Vec<&str> = answer.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["email", "password", "name", "phone"]);
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&api.db)
        .await
        .unwrap();
    assert_eq!(users, 0);
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn a_too_long_password_is_refused(p: PgPoolOptions, o: PgConnectOptions) {
    let api = spawn(p, o).await;
    let long = "a1".repeat(100);

    let answer = api
        .post(
            "/api/v1/auth/register",
            None,
            json!({"email": "a@b.example", "password": long, "name": "A"}),
        )
        .await;

    assert_eq!(answer.status, 422);
    assert_eq!(answer.body["errors"][0]["field"], "password");
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn an_email_registers_once(p: PgPoolOptions, o: PgConnectOptions) {
    let api = spawn(p, o).await;
    api.patient("pat@clinic.example").await;

    let again = api
        .post(
            "/api/v1/auth/register",
            None,
            json!({"email": "PAT@clinic.example", "password": "another pass 9", "name": "B"}),
        )
        .await;

    assert_eq!(again.status, 409);
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn unknown_email_and_wrong_password_get_the_same_answer(
    p: PgPoolOptions,
    o: PgConnectOptions,
) {
    let api = spawn(p, o).await;
    api.patient("pat@clinic.example").await;

    let wrong = api
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "pat@clinic.example", "password": "wrong password 1"}),
        )
        .await;
    let unknown = api
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "who@clinic.example", "password": "wrong password 1"}),
        )
        .await;

    assert_eq!(wrong.status, 401);
    assert_eq!(unknown.status, 401);
    assert_eq!(wrong.body, unknown.body);
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn login_gives_a_jwt_with_the_expected_claims_and_me_works(
    p: PgPoolOptions,
    o: PgConnectOptions,
) {
    let api = spawn(p, o).await;
    let pair = api.patient("pat@clinic.example").await;

    let claims = jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(token(&pair))
        .unwrap()
        .claims;
    let me = api.get("/api/v1/users/me", Some(token(&pair))).await;

    for claim in ["sub", "role", "exp", "iat", "jti"] {
        assert!(claims.get(claim).is_some(), "{claim} missing from {claims}");
    }
    assert_eq!(claims["role"], "patient");
    assert_eq!(me.status, 200);
    assert_eq!(me.body["email"], "pat@clinic.example");
    assert_eq!(me.body["id"], claims["sub"]);
    assert_eq!(pair["token_type"], "Bearer");
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn patch_me_changes_the_profile_and_the_password(p: PgPoolOptions, o: PgConnectOptions) {
    let api = spawn(p, o).await;
    let pair = api.patient("pat@clinic.example").await;

    let bad = api
        .method(
            Method::PATCH,
            "/api/v1/users/me",
            Some(token(&pair)),
            Some(json!({"password": "new password 2"})),
        )
        .await;
    let ok = api
        .method(
            Method::PATCH,
            "/api/v1/users/me",
            Some(token(&pair)),
            Some(json!({"name": "New Name", "phone": "", "password": "new password 2", "current_password": "correct horse 42"})),
        )
        .await;

    assert_eq!(bad.status, 422);
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(ok.body["name"], "New Name");
    assert!(ok.body["phone"].is_null());
    api.login("pat@clinic.example", "new password 2").await;
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn refresh_rotates_and_reuse_revokes_the_whole_family(p: PgPoolOptions, o: PgConnectOptions) {
    let api = spawn(p, o).await;
    let first = api.patient("pat@clinic.example").await;
    let refresh = |t: &serde_json::Value| json!({"refresh_token": t["refresh_token"]});

    let second = api
        .post("/api/v1/auth/refresh", None, refresh(&first))
        .await;
    assert_eq!(second.status, 200);
    assert_ne!(second.body["refresh_token"], first["refresh_token"]);
    let third = api
        .post("/api/v1/auth/refresh", None, refresh(&second.body))
        .await;
    assert_eq!(third.status, 200);

    // The first token is presented again: someone copied it.
    let reused = api
        .post("/api/v1/auth/refresh", None, refresh(&first))
        .await;
    // Now even the latest token of that family is dead.
    let latest = api
        .post("/api/v1/auth/refresh", None, refresh(&third.body))
        .await;

    assert_eq!(reused.status, 401);
    assert_eq!(latest.status, 401);
    // Another sign-in is a separate family and still works.
    let other = api.login("pat@clinic.example", "correct horse 42").await;
    assert_eq!(
        api.post("/api/v1/auth/refresh", None, refresh(&other))
            .await
            .status,
        200
    );
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn logout_revokes_the_access_token_and_the_refresh_token(
    p: PgPoolOptions,
    o: PgConnectOptions,
) {
    let api = spawn(p, o).await;
    let pair = api.patient("pat@clinic.example").await;

    let out = api
        .post(
            "/api/v1/auth/logout",
            Some(token(&pair)),
            json!({"refresh_token": pair["refresh_token"]}),
        )
        .await;

    assert_eq!(out.status, 204);
    let me = api.get("/api/v1/users/me", Some(token(&pair))).await;
    assert_eq!(me.status, 401);
    assert_eq!(me.headers["www-authenticate"], "Bearer");
    let refreshed = api
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": pair["refresh_token"]}),
        )
        .await;
    assert_eq!(refreshed.status, 401);
}

fn forge(claims: &serde_json::Value, algorithm: Algorithm, key: &[u8]) -> String {
    jsonwebtoken::encode(
        &Header::new(algorithm),
        claims,
        &EncodingKey::from_secret(key),
    )
    .unwrap()
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn bad_tokens_are_refused_with_401(p: PgPoolOptions, o: PgConnectOptions) {
    let api = spawn(p, o).await;
    let pair = api.patient("pat@clinic.example").await;
    let mut claims = jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(token(&pair))
        .unwrap()
        .claims;
    claims["role"] = json!("admin");
    let key = common::SECRET_KEY.as_bytes();

    let b64 = |v: &serde_json::Value| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let alg_none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&claims)
    );
    let other_algorithm = forge(&claims, Algorithm::HS512, key);
    let bad_signature = forge(
        &claims,
        Algorithm::HS256,
        b"another-secret-of-more-than-32-chars!",
    );
    let mut expired_claims = claims.clone();
    expired_claims["exp"] = json!(jiff::Timestamp::now().as_second() - 10);
    expired_claims["role"] = json!("patient");
    let expired = forge(&expired_claims, Algorithm::HS256, key);
    api.post("/api/v1/auth/logout", Some(token(&pair)), json!({}))
        .await;
    let revoked = token(&pair).to_owned();

    for (case, bad) in [
        ("alg none", alg_none),
        ("another algorithm", other_algorithm),
        ("bad signature", bad_signature),
        ("past exp", expired),
        ("revoked jti", revoked),
        ("garbage", "not.a.jwt".to_owned()),
    ] {
        let answer = api.get("/api/v1/users/me", Some(&bad)).await;
        assert_eq!(answer.status, 401, "{case}: {answer:?}");
    }
    assert_eq!(api.get("/api/v1/users/me", None).await.status, 401);
}

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

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn a_telegram_link_code_is_issued_for_the_signed_in_user(
    p: PgPoolOptions,
    o: PgConnectOptions,
) {
    let api = spawn(p, o).await;
    let pair = api.patient("pat@clinic.example").await;

    let link = api
        .post("/api/v1/telegram/link", Some(token(&pair)), json!({}))
        .await;

    assert_eq!(link.status, 201);
    let code = link.body["code"].as_str().unwrap();
    assert_eq!(
        link.body["url"],
        format!("https://t.me/medsync_bot?start={code}")
    );
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM telegram_link_codes
         WHERE code_hash = sha256(convert_to($1, 'UTF8')) AND expires_at > now()",
    )
    .bind(code)
    .fetch_one(&api.db)
    .await
    .unwrap();
    assert_eq!(stored, 1);
    assert_eq!(
        api.post("/api/v1/telegram/link", None, json!({}))
            .await
            .status,
        401
    );
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

fn refresh_token(pair: &Value) -> &str {
    pair["refresh_token"].as_str().unwrap()
}

/// Whoever registered the admin's email first keeps nothing when the operator promotes it:
/// promotion must be asked for, and it ends every session issued before it.
#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn a_pre_claimed_admin_email_is_promoted_only_explicitly_and_loses_its_sessions(
    p: PgPoolOptions,
    o: PgConnectOptions,
) {
    use medsync_domain::users::{AdminError, AdminMode, AdminOutcome, Email, ensure_admin};
    let api = spawn(p, o).await;
    let attacker = api.patient("admin@clinic.example").await;
    let email = Email::parse("admin@clinic.example").unwrap();
    let hash = medsync_domain::password::hash("the operator's password 1".to_owned())
        .await
        .unwrap();
    let mut conn = api.db.acquire().await.unwrap();
    for mode in [AdminMode::CreateOnly, AdminMode::ResetPassword] {
        let refused = ensure_admin(&mut conn, &email, "Admin", &hash, mode).await;
        assert!(
            matches!(refused, Err(AdminError::NotAnAdmin(_))),
            "{refused:?}"
        );
    }
    let promoted = ensure_admin(&mut conn, &email, "Admin", &hash, AdminMode::Promote)
        .await
        .unwrap();
    assert!(matches!(promoted, AdminOutcome::Promoted(_)));
    drop(conn);

    // The attacker's refresh token and access token, issued before, are refused.
    let refreshed = api
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": refresh_token(&attacker)}),
        )
        .await;
    assert_eq!(refreshed.status, 401, "{refreshed:?}");
    let me = api.get("/api/v1/users/me", Some(token(&attacker))).await;
    assert_eq!(me.status, 401, "{me:?}");
    // The operator signs in with the new password, as admin.
    let admin = api
        .login("admin@clinic.example", "the operator's password 1")
        .await;
    let me = api.get("/api/v1/users/me", Some(token(&admin))).await;
    assert_eq!(me.body["role"], "admin", "{me:?}");
}

/// A password change ends every other session (refresh and access tokens) and keeps this
/// one; signing out everywhere ends them all.
#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn a_password_change_ends_the_other_sessions_and_logout_all_ends_every_one(
    p: PgPoolOptions,
    o: PgConnectOptions,
) {
    let api = spawn(p, o).await;
    let laptop = api.patient("pat@clinic.example").await;
    let phone = api.login("pat@clinic.example", "correct horse 42").await;
    let changed = api
        .method(
            Method::PATCH,
            "/api/v1/users/me",
            Some(token(&laptop)),
            Some(json!({"password": "a new password 1", "current_password": "correct horse 42"})),
        )
        .await;
    assert_eq!(changed.status, 200, "{changed:?}");
    assert_eq!(
        api.get("/api/v1/users/me", Some(token(&phone)))
            .await
            .status,
        401
    );
    let phone_refresh = api
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": refresh_token(&phone)}),
        )
        .await;
    assert_eq!(phone_refresh.status, 401);
    assert_eq!(
        api.get("/api/v1/users/me", Some(token(&laptop)))
            .await
            .status,
        200
    );

    // Sign out everywhere: the laptop and a new sign-in both end.
    let tablet = api.login("pat@clinic.example", "a new password 1").await;
    let out = api
        .post("/api/v1/auth/logout-all", Some(token(&laptop)), json!({}))
        .await;
    assert_eq!(out.status, 200, "{out:?}");
    assert_eq!(out.body["sessions"], 2, "{out:?}");
    for pair in [&laptop, &tablet] {
        assert_eq!(
            api.get("/api/v1/users/me", Some(token(pair))).await.status,
            401
        );
        let refreshed = api
            .post(
                "/api/v1/auth/refresh",
                None,
                json!({"refresh_token": refresh_token(pair)}),
            )
            .await;
        assert_eq!(refreshed.status, 401);
    }
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn tokens_of_another_issuer_audience_or_key_id_are_refused(
    p: PgPoolOptions,
    o: PgConnectOptions,
) {
    let api = spawn(p, o).await;
    let pair = api.patient("pat@clinic.example").await;
    let decoded =
        jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(token(&pair)).unwrap();
    let kid = decoded.header.kid.clone().expect("tokens name their key");
    assert_eq!(decoded.claims["iss"], "medsync");
    assert_eq!(decoded.claims["aud"], "medsync-api");
    let key = common::SECRET_KEY.as_bytes();
    let sign = |claims: &serde_json::Value, kid: Option<&str>| {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(key)).unwrap()
    };
    // The same claims re-signed with the right key pass: the cases below fail for their
    // one difference only.
    let same = sign(&decoded.claims, Some(&kid));
    assert_eq!(api.get("/api/v1/users/me", Some(&same)).await.status, 200);

    let mut other_issuer = decoded.claims.clone();
    other_issuer["iss"] = json!("someone-else");
    let mut other_audience = decoded.claims.clone();
    other_audience["aud"] = json!("another-service");
    let mut no_audience = decoded.claims.clone();
    no_audience.as_object_mut().unwrap().remove("aud");
    for (case, bad) in [
        ("another issuer", sign(&other_issuer, Some(&kid))),
        ("another audience", sign(&other_audience, Some(&kid))),
        ("no audience", sign(&no_audience, Some(&kid))),
        ("no key id", sign(&decoded.claims, None)),
        (
            "an unknown key id",
            sign(&decoded.claims, Some("0011223344556677")),
        ),
    ] {
        let answer = api.get("/api/v1/users/me", Some(&bad)).await;
        assert_eq!(answer.status, 401, "{case}: {answer:?}");
    }
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn during_a_key_rotation_the_previous_key_still_verifies(
    p: PgPoolOptions,
    o: PgConnectOptions,
) {
    const NEW: &str = "the-next-secret-key-of-more-than-32-characters";
    let before = spawn(p.clone(), o.clone()).await;
    let pair = before.patient("pat@clinic.example").await;
    // The api restarted with a new key, the old one kept as the previous...
    let rotating = common::spawn_with(
        p.clone(),
        o.clone(),
        &[
            ("SECRET_KEY", NEW),
            ("SECRET_KEY_PREVIOUS", common::SECRET_KEY),
        ],
    )
    .await;
    // ...and later without it.
    let rotated = common::spawn_with(p, o, &[("SECRET_KEY", NEW)]).await;

    let during = rotating.get("/api/v1/users/me", Some(token(&pair))).await;
    let after = rotated.get("/api/v1/users/me", Some(token(&pair))).await;
    let fresh = rotating
        .login("pat@clinic.example", "correct horse 42")
        .await;
    let fresh_after = rotated.get("/api/v1/users/me", Some(token(&fresh))).await;

    assert_eq!(during.status, 200, "{during:?}");
    assert_eq!(after.status, 401, "{after:?}");
    assert_eq!(
        fresh_after.status, 200,
        "new tokens are signed with the new key"
    );
}
