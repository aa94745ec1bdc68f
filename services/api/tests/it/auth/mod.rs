//! Accounts and tokens, over real HTTP, PostgreSQL and Redis.

use medsync_api::harness as common;

use common::{spawn, token};
use reqwest::Method;
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

mod limits;
mod sessions;

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
