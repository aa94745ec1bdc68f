//! The audit trail: what is recorded, who may read it, and that it cannot be changed.

use medsync_api::harness as common;

use common::{Api, spawn, spawn_with, token};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use uuid::Uuid;

async fn audit(api: &Api, admin: &Value, query: &str) -> Vec<Value> {
    let answer = api
        .get(
            &format!("/api/v1/admin/audit?per_page=100&{query}"),
            Some(token(admin)),
        )
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.body["items"].as_array().unwrap().clone()
}

fn actions(events: &[Value]) -> Vec<&str> {
    let mut actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    actions.sort_unstable();
    actions
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn security_and_booking_events_are_recorded_with_who_what_and_where(
    p: PgPoolOptions,
    o: PgConnectOptions,
) {
    let api = spawn_with(p, o, &[("TRUST_PROXY_HEADERS", "true")]).await;
    let admin = api.admin().await;
    let admin_id: Uuid = api.get("/api/v1/users/me", Some(token(&admin))).await.body["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let (doctor, _) = api.doctor(token(&admin), "Dr. Audit").await;
    let patient = api.patient("audited@clinic.example").await;
    let me = api.get("/api/v1/users/me", Some(token(&patient))).await;
    let patient_id = me.body["id"].as_str().unwrap().to_owned();

    // A wrong password from a known address.
    let wrong = api
        .send(
            api.client
                .post(format!("{}/api/v1/auth/login", api.app.url))
                .header("x-real-ip", "198.51.100.23")
                .json(&json!({"email": "audited@clinic.example", "password": "not it at all"})),
        )
        .await;
    assert_eq!(wrong.status, 401);
    // A booking, cancelled.
    let slot = api.slots(doctor, 3, 4).await.remove(0);
    let booked = api
        .post(
            "/api/v1/bookings",
            Some(token(&patient)),
            json!({"doctor_id": doctor, "starts_at": slot}),
        )
        .await;
    let booking = booked.body["id"].as_str().unwrap().to_owned();
    let cancelled = api
        .post(
            &format!("/api/v1/bookings/{booking}/cancel"),
            Some(token(&admin)),
            json!({}),
        )
        .await;
    assert_eq!(cancelled.status, 200, "{cancelled:?}");
    // A refresh token presented twice.
    let fresh = api
        .login("audited@clinic.example", "correct horse 42")
        .await;
    let again = json!({"refresh_token": fresh["refresh_token"]});
    assert_eq!(
        api.post("/api/v1/auth/refresh", None, again.clone())
            .await
            .status,
        200
    );
    assert_eq!(
        api.post("/api/v1/auth/refresh", None, again).await.status,
        401
    );
    // A password change, then sign-out everywhere.
    let changed = api
        .method(
            Method::PATCH,
            "/api/v1/users/me",
            Some(token(&patient)),
            Some(json!({"password": "a new horse 43", "current_password": "correct horse 42"})),
        )
        .await;
    assert_eq!(changed.status, 200, "{changed:?}");
    let out = api
        .post("/api/v1/auth/logout-all", Some(token(&patient)), json!({}))
        .await;
    assert_eq!(out.status, 200, "{out:?}");

    let mine = audit(&api, &admin, &format!("subject_id={patient_id}")).await;
    assert_eq!(
        actions(&mine),
        [
            "auth.login.failed",
            "auth.login.succeeded",
            "auth.login.succeeded",
            "auth.logout_all",
            "auth.refresh.reused",
            "booking.cancelled",
            "booking.created",
            "user.password.changed",
        ]
    );
    let failed = mine
        .iter()
        .find(|e| e["action"] == "auth.login.failed")
        .unwrap();
    assert_eq!(failed["ip"], "198.51.100.23");
    assert_eq!(failed["channel"], "api");
    assert_eq!(failed["details"]["email"], "audited@clinic.example");
    // The booking's two events, each with who did it.
    let of_booking = audit(&api, &admin, &format!("booking_id={booking}")).await;
    assert_eq!(
        actions(&of_booking),
        ["booking.cancelled", "booking.created"]
    );
    let created = of_booking
        .iter()
        .find(|e| e["action"] == "booking.created")
        .unwrap();
    assert_eq!(created["actor_id"], patient_id.as_str());
    let cancel = of_booking
        .iter()
        .find(|e| e["action"] == "booking.cancelled")
        .unwrap();
    assert_eq!(cancel["actor_id"], admin_id.to_string());
    assert_eq!(cancel["details"]["role"], "admin");
    // The admin's catalog changes (the doctor, its schedule), by the admin.
    let by_admin = audit(&api, &admin, &format!("actor_id={admin_id}&action=admin")).await;
    assert!(by_admin.len() >= 2, "{by_admin:#?}");
    assert!(
        by_admin
            .iter()
            .all(|e| e["action"] == "admin.catalog.changed")
    );
    assert!(
        by_admin
            .iter()
            .any(|e| e["details"]["method"] == "POST" && e["details"]["path"] == "/api/v1/doctors"),
        "{by_admin:#?}"
    );
    // Filters: a prefix, a time window.
    let auth_only = audit(&api, &admin, "action=auth.login").await;
    assert!(!auth_only.is_empty());
    assert!(
        auth_only
            .iter()
            .all(|e| e["action"].as_str().unwrap().starts_with("auth.login."))
    );
    assert!(
        audit(&api, &admin, "since=2999-01-01T00:00:00Z")
            .await
            .is_empty()
    );
    // Nothing secret is kept.
    let everything = serde_json::to_string(&audit(&api, &admin, "").await).unwrap();
    for secret in ["correct horse 42", "not it at all", "a new horse 43"] {
        assert!(!everything.contains(secret), "{secret} in the audit trail");
    }
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn only_admins_read_the_audit_trail_and_bad_filters_are_422(
    p: PgPoolOptions,
    o: PgConnectOptions,
) {
    let api = spawn(p, o).await;
    let admin = api.admin().await;
    let patient = api.patient("curious@clinic.example").await;

    assert_eq!(api.get("/api/v1/admin/audit", None).await.status, 401);
    assert_eq!(
        api.get("/api/v1/admin/audit", Some(token(&patient)))
            .await
            .status,
        403
    );
    for query in [
        "since=yesterday",
        "action=DROP%20TABLE",
        "actor_id=nope",
        "per_page=1000",
    ] {
        let answer = api
            .get(&format!("/api/v1/admin/audit?{query}"), Some(token(&admin)))
            .await;
        assert!(
            [400, 422].contains(&answer.status.as_u16()),
            "{query}: {answer:?}"
        );
    }
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn the_audit_trail_is_append_only(p: PgPoolOptions, o: PgConnectOptions) {
    let api = spawn(p, o).await;
    api.patient("someone@clinic.example").await;

    let update = sqlx::query("UPDATE audit_events SET action = 'auth.nothing'")
        .execute(&api.db)
        .await;
    let delete = sqlx::query("DELETE FROM audit_events")
        .execute(&api.db)
        .await;
    let truncate = sqlx::query("TRUNCATE audit_events").execute(&api.db).await;

    for (what, result) in [
        ("update", update),
        ("delete", delete),
        ("truncate", truncate),
    ] {
        let error = result.expect_err(what).to_string();
        assert!(error.contains("append-only"), "{what}: {error}");
    }
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events")
        .fetch_one(&api.db)
        .await
        .unwrap();
    assert_eq!(kept, 1);
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn a_session_ends_after_its_absolute_lifetime_however_often_refreshed(
    p: PgPoolOptions,
    o: PgConnectOptions,
) {
    let api = spawn_with(p, o, &[("REFRESH_SESSION_MAX_DAYS", "1")]).await;
    let pair = api.patient("long@clinic.example").await;
    // Signed in 23 hours ago: a refresh is still allowed and carries that time on.
    sqlx::query("UPDATE refresh_tokens SET session_started_at = now() - interval '23 hours'")
        .execute(&api.db)
        .await
        .unwrap();
    let refreshed = api
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": pair["refresh_token"]}),
        )
        .await;
    assert_eq!(refreshed.status, 200);
    let starts: Vec<bool> = sqlx::query_scalar(
        "SELECT session_started_at < now() - interval '22 hours' FROM refresh_tokens",
    )
    .fetch_all(&api.db)
    .await
    .unwrap();
    assert_eq!(starts, [true, true], "the rotated token and its successor");
    // The session's tokens carry its sign-in time; move it two days back.
    sqlx::query("UPDATE refresh_tokens SET session_started_at = now() - interval '2 days'")
        .execute(&api.db)
        .await
        .unwrap();

    let late = api
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": refreshed.body["refresh_token"]}),
        )
        .await;

    assert_eq!(late.status, 401, "{late:?}");
    let live: i64 =
        sqlx::query_scalar("SELECT count(*) FROM refresh_tokens WHERE revoked_at IS NULL")
            .fetch_one(&api.db)
            .await
            .unwrap();
    assert_eq!(live, 0);
}
