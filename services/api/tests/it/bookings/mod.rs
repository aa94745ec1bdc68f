//! Booking, listing, seeing and cancelling, over real HTTP, PostgreSQL and Redis.

use medsync_api::harness as common;

use common::{spawn, token};
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use uuid::Uuid;

mod rules;

async fn job_kinds(db: &sqlx::PgPool, booking: &str) -> Vec<String> {
    let id: Uuid = booking.parse().unwrap();
    medsync_domain::jobs::for_booking(db, id)
        .await
        .unwrap()
        .into_iter()
        .map(|j| format!("{}:{}", j.kind, j.status.as_str()))
        .collect()
}

/// `medsync_jobs_enqueued_total` of `kind` as `/metrics` shows it (0 before the first).
async fn enqueued_total(api: &common::Api, kind: &str) -> f64 {
    let metrics = api.get("/metrics", None).await;
    let text = metrics.body.as_str().unwrap_or_default().to_owned();
    let series = format!("medsync_jobs_enqueued_total{{kind=\"{kind}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&series))
        .map_or(0.0, |value| value.parse().unwrap())
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn booking_a_free_slot_creates_it_with_its_jobs(p: PgPoolOptions, o: PgConnectOptions) {
    let api = spawn(p, o).await;
    let admin = api.admin().await;
    let (doctor, _) = api.doctor(token(&admin), "Dr. Slot").await;
    let patient = api.patient("pat@clinic.example").await;
    let slot = api.slots(doctor, 3, 4).await.remove(0);
    let reminders_before = enqueued_total(&api, "booking.reminder").await;

    let booked = api
        .post(
            "/api/v1/bookings",
            Some(token(&patient)),
            json!({"doctor_id": doctor, "starts_at": slot}),
        )
        .await;

    assert_eq!(booked.status, 201, "{booked:?}");
    assert_eq!(booked.body["starts_at"], slot);
    assert_eq!(booked.body["status"], "confirmed");
    let id = booked.body["id"].as_str().unwrap();
    // Confirmation now; reminders 24 h and 2 h before (both in the future).
    let mut kinds = job_kinds(&api.db, id).await;
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "booking.confirmation:queued",
            "booking.reminder:queued",
            "booking.reminder:queued"
        ]
    );
    // Counted as enqueued (other tests of this process may count more, never fewer).
    let reminders = enqueued_total(&api, "booking.reminder").await;
    assert!(
        reminders >= reminders_before + 2.0,
        "{reminders_before} → {reminders}"
    );
    // The slot is no longer offered.
    assert!(!api.slots(doctor, 3, 4).await.contains(&slot));
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn only_real_slots_can_be_booked(p: PgPoolOptions, o: PgConnectOptions) {
    let api = spawn(p, o).await;
    let admin = api.admin().await;
    let (doctor, _) = api.doctor(token(&admin), "Dr. Real").await;
    let patient = api.patient("pat@clinic.example").await;
    let slot = api.slots(doctor, 3, 4).await.remove(0);
    let off_grid = slot.replace(":00:00", ":10:00").replace(":30:00", ":40:00");

    let cases = [
        (json!({"doctor_id": doctor, "starts_at": off_grid}), 422),
        (
            json!({"doctor_id": doctor, "starts_at": "2000-01-03T09:00:00+01:00"}),
            422,
        ),
        (json!({"doctor_id": doctor, "starts_at": "tomorrow"}), 422),
        (json!({"doctor_id": Uuid::now_v7(), "starts_at": slot}), 404),
        (json!({"doctor_id": "not-a-uuid", "starts_at": slot}), 422),
    ];
    for (body, status) in cases {
        let answer = api
            .post("/api/v1/bookings", Some(token(&patient)), body.clone())
            .await;
        assert_eq!(answer.status, status, "{body}: {answer:?}");
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM bookings")
        .fetch_one(&api.db)
        .await
        .unwrap();
    assert_eq!(count, 0);
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn a_taken_slot_is_a_409(p: PgPoolOptions, o: PgConnectOptions) {
    let api = spawn(p, o).await;
    let admin = api.admin().await;
    let (doctor, _) = api.doctor(token(&admin), "Dr. Busy").await;
    let (a, b) = (
        api.patient("a@clinic.example").await,
        api.patient("b@clinic.example").await,
    );
    let slot = api.slots(doctor, 3, 4).await.remove(0);
    let body = json!({"doctor_id": doctor, "starts_at": slot});

    let first = api
        .post("/api/v1/bookings", Some(token(&a)), body.clone())
        .await;
    let second = api.post("/api/v1/bookings", Some(token(&b)), body).await;

    assert_eq!(first.status, 201);
    assert_eq!(second.status, 409);
    assert_eq!(second.headers["content-type"], "application/problem+json");
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn two_hundred_concurrent_bookings_of_one_slot_give_one_201(
    p: PgPoolOptions,
    o: PgConnectOptions,
) {
    let api = spawn(p, o).await;
    let admin = api.admin().await;
    let (doctor, _) = api.doctor(token(&admin), "Dr. Race").await;
    let slot = api.slots(doctor, 3, 4).await.remove(0);
    // 200 patients, each with a token (issued directly: 200 sign-ins would only test argon2).
    let mut tokens = Vec::new();
    for i in 0..200 {
        let id = Uuid::now_v7();
        sqlx::query("INSERT INTO users (id, name, telegram_user_id) VALUES ($1, 'P', $2)")
            .bind(id)
            .bind(1_000_000 + i64::from(i))
            .execute(&api.db)
            .await
            .unwrap();
        tokens.push(common::access_token(&api.db, id, "patient").await);
    }

    let mut requests = tokio::task::JoinSet::new();
    for t in tokens {
        let client = api.client.clone();
        let url = format!("{}/api/v1/bookings", api.app.url);
        let body = json!({"doctor_id": doctor, "starts_at": slot});
        requests.spawn(async move {
            client
                .post(url)
                .bearer_auth(t)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        });
    }
    let statuses = requests.join_all().await;

    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        199,
        "{statuses:?}"
    );
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM bookings")
        .fetch_one(&api.db)
        .await
        .unwrap();
    assert_eq!(rows, 1);
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn an_idempotency_key_replays_the_first_answer(p: PgPoolOptions, o: PgConnectOptions) {
    let api = spawn(p, o).await;
    let admin = api.admin().await;
    let (doctor, _) = api.doctor(token(&admin), "Dr. Again").await;
    let patient = api.patient("pat@clinic.example").await;
    let slots = api.slots(doctor, 3, 4).await;
    let post = |body: serde_json::Value, key: &'static str| {
        let request = api
            .client
            .post(format!("{}/api/v1/bookings", api.app.url))
            .bearer_auth(token(&patient))
            .header("Idempotency-Key", key)
            .json(&body);
        api.send(request)
    };

    let first = post(json!({"doctor_id": doctor, "starts_at": slots[0]}), "key-1").await;
    let retry = post(json!({"doctor_id": doctor, "starts_at": slots[0]}), "key-1").await;
    let other_body = post(json!({"doctor_id": doctor, "starts_at": slots[1]}), "key-1").await;

    assert_eq!(first.status, 201);
    assert_eq!(retry.status, 201);
    assert_eq!(retry.body, first.body);
    assert_eq!(other_body.status, 422);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM bookings")
        .fetch_one(&api.db)
        .await
        .unwrap();
    assert_eq!(rows, 1);
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn bookings_are_visible_to_their_patient_their_doctor_and_admins_only(
    p: PgPoolOptions,
    o: PgConnectOptions,
) {
    let api = spawn(p, o).await;
    let admin = api.admin().await;
    let (doctor, doctor_tokens) = api.doctor(token(&admin), "Dr. Seen").await;
    let (owner, stranger) = (
        api.patient("a@clinic.example").await,
        api.patient("b@clinic.example").await,
    );
    let slot = api.slots(doctor, 3, 4).await.remove(0);
    let booked = api
        .post(
            "/api/v1/bookings",
            Some(token(&owner)),
            json!({"doctor_id": doctor, "starts_at": slot}),
        )
        .await;
    let path = format!("/api/v1/bookings/{}", booked.body["id"].as_str().unwrap());

    assert_eq!(api.get(&path, Some(token(&owner))).await.status, 200);
    assert_eq!(
        api.get(&path, Some(token(&doctor_tokens))).await.status,
        200
    );
    assert_eq!(api.get(&path, Some(token(&admin))).await.status, 200);
    assert_eq!(api.get(&path, Some(token(&stranger))).await.status, 404);
    assert_eq!(api.get(&path, None).await.status, 401);
    assert_eq!(
        api.get("/api/v1/bookings/not-an-id", Some(token(&owner)))
            .await
            .status,
        404
    );

    let mine = api.get("/api/v1/bookings", Some(token(&owner))).await;
    let theirs = api.get("/api/v1/bookings", Some(token(&stranger))).await;
    let agenda = api.get("/api/v1/agenda", Some(token(&doctor_tokens))).await;
    let all = api
        .get("/api/v1/bookings?scope=all", Some(token(&admin)))
        .await;
    let past = api
        .get("/api/v1/bookings?when=past", Some(token(&owner)))
        .await;
    assert_eq!(mine.body["total"], 1);
    assert_eq!(mine.body["items"][0]["starts_at"], slot);
    assert_eq!(theirs.body["total"], 0);
    assert_eq!(agenda.body["total"], 1);
    assert_eq!(all.body["total"], 1);
    assert_eq!(past.body["total"], 0);
    assert_eq!(
        api.get("/api/v1/bookings?scope=all", Some(token(&owner)))
            .await
            .status,
        403
    );
    assert_eq!(
        api.get("/api/v1/bookings?per_page=101", Some(token(&owner)))
            .await
            .status,
        422
    );
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn cancelling_drops_the_reminders_and_sends_a_notice(p: PgPoolOptions, o: PgConnectOptions) {
    let api = spawn(p, o).await;
    let admin = api.admin().await;
    let (doctor, _) = api.doctor(token(&admin), "Dr. Cancel").await;
    let (owner, stranger) = (
        api.patient("a@clinic.example").await,
        api.patient("b@clinic.example").await,
    );
    let slot = api.slots(doctor, 3, 4).await.remove(0);
    let booked = api
        .post(
            "/api/v1/bookings",
            Some(token(&owner)),
            json!({"doctor_id": doctor, "starts_at": slot}),
        )
        .await;
    let id = booked.body["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/bookings/{id}/cancel");

    let by_stranger = api.post(&path, Some(token(&stranger)), json!({})).await;
    let by_owner = api.post(&path, Some(token(&owner)), json!({})).await;
    let again = api.post(&path, Some(token(&owner)), json!({})).await;

    assert_eq!(by_stranger.status, 404);
    assert_eq!(by_owner.status, 200, "{by_owner:?}");
    assert_eq!(by_owner.body["status"], "cancelled");
    assert_eq!(again.status, 409);
    let mut kinds = job_kinds(&api.db, &id).await;
    kinds.sort();
    assert_eq!(
        kinds,
        ["booking.cancellation:queued", "booking.confirmation:queued"]
    );
    // The slot is free again.
    assert!(api.slots(doctor, 3, 4).await.contains(&slot));
}

/// The request's id is stored with every job the booking enqueued, so the worker's log lines
/// for them are found by the same id (`grep <id>` over the stack's logs).
#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn the_jobs_of_a_booking_carry_its_request_id(p: PgPoolOptions, o: PgConnectOptions) {
    let api = spawn(p, o).await;
    let admin = api.admin().await;
    let (doctor, _) = api.doctor(token(&admin), "Dr. Trace").await;
    let patient = api.patient("traced@clinic.example").await;
    let slot = api.slots(doctor, 3, 4).await.remove(0);

    let booked = api
        .send(
            api.client
                .post(format!("{}/api/v1/bookings", api.app.url))
                .bearer_auth(token(&patient))
                .header("x-request-id", "trace-me-42")
                .json(&json!({"doctor_id": doctor, "starts_at": slot})),
        )
        .await;

    assert_eq!(booked.status, 201, "{booked:?}");
    let ids: Vec<Option<String>> =
        sqlx::query_scalar("SELECT request_id FROM jobs WHERE booking_id = $1")
            .bind(booked.body["id"].as_str().unwrap().parse::<Uuid>().unwrap())
            .fetch_all(&api.db)
            .await
            .unwrap();
    assert_eq!(ids.len(), 3);
    assert!(
        ids.iter().all(|id| id.as_deref() == Some("trace-me-42")),
        "{ids:?}"
    );
}
