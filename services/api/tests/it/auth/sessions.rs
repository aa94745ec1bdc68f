//! Sessions and tokens: rotation, sign-out, key rotation, forged and foreign tokens.

use medsync_api::harness as common;

use common::{spawn, token};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

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
