//! Sessions remembered as signed in end as soon as anything ends them: the api's own sign-outs
//! and password changes on the very next request, another writer's (the web app, `manage`, an
//! operator's psql) as soon as PostgreSQL announces it. Beside it, an api that remembers
//! nothing (`SESSION_CACHE_ENTRIES=0`) on the same database.

use std::time::{Duration, Instant};

use medsync_api::harness::{Api, spawn_with, token};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use uuid::Uuid;

const EMAIL: &str = "remembered@clinic.example";
const PASSWORD: &str = "correct horse 42";

fn family(pair: &Value) -> Uuid {
    let claims = jsonwebtoken::dangerous::insecure_decode::<Value>(token(pair))
        .unwrap()
        .claims;
    claims["sid"].as_str().unwrap().parse().unwrap()
}

async fn me(api: &Api, pair: &Value) -> u16 {
    api.get("/api/v1/users/me", Some(token(pair)))
        .await
        .status
        .as_u16()
}

/// Ends a session with the announcing trigger off: what only a remembered session would miss.
async fn unannounced_revocation(db: &PgPool, family: Uuid) {
    let mut tx = db.begin().await.unwrap();
    for sql in [
        "ALTER TABLE refresh_tokens DISABLE TRIGGER sessions_changed_update",
        "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1",
        "ALTER TABLE refresh_tokens ENABLE TRIGGER sessions_changed_update",
    ] {
        sqlx::query(sql)
            .bind(family)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
}

/// `pair`'s session is refused by `api` within `wait`.
async fn refused_within(api: &Api, pair: &Value, wait: Duration, what: &str) {
    let deadline = Instant::now() + wait;
    loop {
        let status = me(api, pair).await;
        if status == 401 {
            return;
        }
        assert_eq!(status, 200);
        assert!(
            Instant::now() < deadline,
            "{what}: still accepted after {wait:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn a_remembered_session_ends_whoever_ends_it(p: PgPoolOptions, o: PgConnectOptions) {
    let api = spawn_with(p.clone(), o.clone(), &[]).await;
    let checking = spawn_with(p, o, &[("SESSION_CACHE_ENTRIES", "0")]).await;
    let db = &api.db;
    api.patient(EMAIL).await;

    // Sessions are remembered once the api listens (it connects in the background): a
    // revocation it is not told of shows whether the answer came from memory.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let pair = api.login(EMAIL, PASSWORD).await;
        assert_eq!(me(&api, &pair).await, 200);
        unannounced_revocation(db, family(&pair)).await;
        assert_eq!(
            me(&checking, &pair).await,
            401,
            "without memory: ended at once"
        );
        if me(&api, &pair).await == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the api never remembered a session"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Another writer ends a session: announced, refused in milliseconds (5 s allowed).
    for (what, sql) in [
        (
            "revoked by SQL",
            "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1",
        ),
        (
            "deleted by SQL",
            "DELETE FROM refresh_tokens WHERE family_id = $1",
        ),
    ] {
        let pair = api.login(EMAIL, PASSWORD).await;
        assert_eq!(me(&api, &pair).await, 200);
        assert_eq!(me(&api, &pair).await, 200);
        let started = Instant::now();
        sqlx::query(sql)
            .bind(family(&pair))
            .execute(db)
            .await
            .unwrap();
        refused_within(&api, &pair, Duration::from_secs(5), what).await;
        eprintln!("{what}: refused after {:?}", started.elapsed());
    }
    let pair = api.login(EMAIL, PASSWORD).await;
    assert_eq!(me(&api, &pair).await, 200);
    sqlx::query("TRUNCATE refresh_tokens")
        .execute(db)
        .await
        .unwrap();
    refused_within(&api, &pair, Duration::from_secs(5), "truncated").await;

    // The api's own changes: refused on the very next request, remembered or not.
    let (laptop, phone) = (
        api.login(EMAIL, PASSWORD).await,
        api.login(EMAIL, PASSWORD).await,
    );
    for pair in [&laptop, &phone] {
        assert_eq!(me(&api, pair).await, 200);
    }
    let changed = api
        .method(
            Method::PATCH,
            "/api/v1/users/me",
            Some(token(&laptop)),
            Some(json!({"password": "a new password 1", "current_password": PASSWORD})),
        )
        .await;
    assert_eq!(changed.status, 200, "{changed:?}");
    assert_eq!(
        me(&api, &phone).await,
        401,
        "another session, password changed"
    );
    assert_eq!(me(&api, &laptop).await, 200, "the session that changed it");

    let tablet = api.login(EMAIL, "a new password 1").await;
    assert_eq!(me(&api, &tablet).await, 200);
    let out = api
        .post("/api/v1/auth/logout-all", Some(token(&laptop)), json!({}))
        .await;
    assert_eq!(out.status, 200, "{out:?}");
    assert_eq!(me(&api, &laptop).await, 401, "signed out everywhere");
    assert_eq!(me(&api, &tablet).await, 401, "signed out everywhere");

    let desk = api.login(EMAIL, "a new password 1").await;
    assert_eq!(me(&api, &desk).await, 200);
    let out = api
        .post("/api/v1/auth/logout", Some(token(&desk)), json!({}))
        .await;
    assert_eq!(out.status, 204, "{out:?}");
    assert_eq!(me(&api, &desk).await, 401, "signed out");

    // A reused refresh token ends its family, and so its access tokens.
    let bed = api.login(EMAIL, "a new password 1").await;
    assert_eq!(me(&api, &bed).await, 200);
    let refresh = json!({"refresh_token": bed["refresh_token"]});
    let rotated = api
        .post("/api/v1/auth/refresh", None, refresh.clone())
        .await;
    assert_eq!(rotated.status, 200, "{rotated:?}");
    let reused = api.post("/api/v1/auth/refresh", None, refresh).await;
    assert_eq!(reused.status, 401, "{reused:?}");
    assert_eq!(me(&api, &bed).await, 401, "the family of a reused token");

    let metrics = api.get("/metrics", None).await;
    let text = metrics.body.as_str().unwrap_or_default();
    assert!(
        text.contains("medsync_session_cache_requests_total{outcome=\"hit\"}"),
        "{text}"
    );
}

/// Changes `user`'s name with the announcing trigger off: what only a remembered row would miss.
async fn unannounced_rename(db: &PgPool, user: Uuid, name: &str) {
    let mut tx = db.begin().await.unwrap();
    sqlx::query("ALTER TABLE users DISABLE TRIGGER account_changed_update")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("UPDATE users SET name = $2 WHERE id = $1")
        .bind(user)
        .bind(name)
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("ALTER TABLE users ENABLE TRIGGER account_changed_update")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

async fn shown(api: &Api, pair: &Value) -> Value {
    let answer = api.get("/api/v1/users/me", Some(token(pair))).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.body
}

/// "Who am I" on `api` shows `field` = `value` within `wait`.
async fn shown_within(api: &Api, pair: &Value, field: &str, value: Value, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if shown(api, pair).await[field] == value {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {field} still not {value} after 5 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn who_am_i_shows_the_account_as_stored_whoever_changes_it(
    p: PgPoolOptions,
    o: PgConnectOptions,
) {
    let api = spawn_with(p.clone(), o.clone(), &[]).await;
    let checking = spawn_with(p, o, &[("SESSION_CACHE_ENTRIES", "0")]).await;
    let db = &api.db;
    api.patient(EMAIL).await;
    let pair = api.login(EMAIL, PASSWORD).await;
    let user: Uuid = shown(&api, &pair).await["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    // The row is remembered once the api listens: a change it is not told of shows whether
    // the answer came from memory.
    let deadline = Instant::now() + Duration::from_secs(10);
    for attempt in 0.. {
        let before = shown(&api, &pair).await["name"].clone();
        let name = format!("Unannounced {attempt}");
        unannounced_rename(db, user, &name).await;
        assert_eq!(shown(&checking, &pair).await["name"], json!(name));
        if shown(&api, &pair).await["name"] == before {
            break;
        }
        assert!(Instant::now() < deadline, "the api never remembered a row");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Another writer changes the account: announced, shown in milliseconds (5 s allowed).
    for (what, sql, field, value) in [
        (
            "renamed by SQL",
            "UPDATE users SET name = 'Renamed' WHERE id = $1",
            "name",
            json!("Renamed"),
        ),
        (
            "a phone by SQL",
            "UPDATE users SET phone = '+49 30 1234567' WHERE id = $1",
            "phone",
            json!("+49 30 1234567"),
        ),
        (
            "linked to Telegram",
            "UPDATE users SET telegram_user_id = 4242 WHERE id = $1",
            "telegram_linked",
            json!(true),
        ),
        (
            "made an admin",
            "UPDATE users SET role = 'admin' WHERE id = $1",
            "role",
            json!("admin"),
        ),
    ] {
        shown(&api, &pair).await;
        let started = Instant::now();
        sqlx::query(sql).bind(user).execute(db).await.unwrap();
        shown_within(&api, &pair, field, value, what).await;
        eprintln!("{what}: shown after {:?}", started.elapsed());
    }

    // The api's own change: shown on the very next request.
    let changed = api
        .method(
            Method::PATCH,
            "/api/v1/users/me",
            Some(token(&pair)),
            Some(json!({"name": "Changed here"})),
        )
        .await;
    assert_eq!(changed.status, 200, "{changed:?}");
    assert_eq!(shown(&api, &pair).await["name"], json!("Changed here"));

    // The account deleted: refused.
    sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(user)
        .execute(db)
        .await
        .unwrap();
    refused_within(&api, &pair, Duration::from_secs(5), "account deleted").await;

    let metrics = api.get("/metrics", None).await;
    let text = metrics.body.as_str().unwrap_or_default();
    assert!(
        text.contains("medsync_account_cache_requests_total{outcome=\"hit\"}"),
        "{text}"
    );
}
