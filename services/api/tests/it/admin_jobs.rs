//! The job queue for admins: `GET /api/v1/admin/jobs`, `POST /api/v1/admin/jobs/{id}/retry`.

use medsync_api::harness as common;

use common::{spawn, token};
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use uuid::Uuid;

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn admins_list_jobs_by_status_and_retry_a_dead_one(p: PgPoolOptions, o: PgConnectOptions) {
    let api = spawn(p, o).await;
    let (dead, done) = (Uuid::now_v7(), Uuid::now_v7());
    sqlx::query(
        "INSERT INTO jobs (id, kind, payload, status, attempts, max_attempts, last_error, finished_at)
         VALUES ($1, 'system.noop', '{\"v\": 1}', 'dead', 3, 3, 'sending to Telegram failed', now()),
                ($2, 'system.noop', '{\"v\": 1}', 'succeeded', 1, 10, NULL, now())",
    )
    .bind(dead)
    .bind(done)
    .execute(&api.db)
    .await
    .unwrap();

    // Who may: admins only.
    assert_eq!(api.get("/api/v1/admin/jobs", None).await.status, 401);
    let patient = api.patient("pat@example.com").await;
    let answer = api.get("/api/v1/admin/jobs", Some(token(&patient))).await;
    assert_eq!(answer.status, 403);
    let retry_path = format!("/api/v1/admin/jobs/{dead}/retry");
    let answer = api
        .post(&retry_path, Some(token(&patient)), json!({}))
        .await;
    assert_eq!(answer.status, 403);
    let admin = api.admin().await;
    let t = Some(token(&admin));

    let all = api.get("/api/v1/admin/jobs", t).await;
    assert_eq!((all.status.as_u16(), &all.body["total"]), (200, &json!(2)));
    let listed = api.get("/api/v1/admin/jobs?status=dead", t).await;
    assert_eq!(listed.body["total"], 1, "{listed:?}");
    let job = &listed.body["items"][0];
    assert_eq!(job["id"], json!(dead));
    assert_eq!(job["status"], "dead");
    assert_eq!(job["attempts"], 3);
    assert_eq!(job["last_error"], "sending to Telegram failed");
    // Job times are rendered as booking times are: RFC 3339 in the clinic's offset.
    let berlin = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
    for field in ["run_at", "created_at", "finished_at"] {
        let raw = job[field].as_str().unwrap();
        let at: jiff::Timestamp = raw.parse().unwrap();
        let offset = at.to_zoned(berlin.clone()).strftime("%:z").to_string();
        assert!(raw.ends_with(&offset), "{field} {raw} is not in {offset}");
    }
    let bad = api.get("/api/v1/admin/jobs?status=lost", t).await;
    assert_eq!(bad.status, 422, "{bad:?}");

    // Retry: queued to run now, attempts counted afresh, the last error kept for reference.
    let retried = api.post(&retry_path, t, json!({})).await;
    assert_eq!(retried.status, 200, "{retried:?}");
    assert_eq!(retried.body["status"], "queued");
    assert_eq!(retried.body["attempts"], 0);
    assert_eq!(retried.body["last_error"], "sending to Telegram failed");
    let queued = api.get("/api/v1/admin/jobs?status=queued", t).await;
    assert_eq!(queued.body["total"], 1);

    // Nothing to retry in a succeeded job; an unknown id is 404, as is a malformed one (as on
    // every route with an id).
    let answer = api
        .post(&format!("/api/v1/admin/jobs/{done}/retry"), t, json!({}))
        .await;
    assert_eq!(answer.status, 409, "{answer:?}");
    let answer = api
        .post(
            &format!("/api/v1/admin/jobs/{}/retry", Uuid::now_v7()),
            t,
            json!({}),
        )
        .await;
    assert_eq!(answer.status, 404);
    let answer = api
        .post("/api/v1/admin/jobs/not-a-uuid/retry", t, json!({}))
        .await;
    assert_eq!(answer.status, 404);
}
