//! The clinic's booking rules through the API: who may book, how far ahead, how many, how late to cancel.

use medsync_api::harness as common;

use common::{spawn, spawn_with, token};
use reqwest::Method;
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn patients_cannot_cancel_late_but_admins_can(p: PgPoolOptions, o: PgConnectOptions) {
    let api = spawn_with(p, o, &[("CANCELLATION_NOTICE_HOURS", "240")]).await;
    let admin = api.admin().await;
    let (doctor, _) = api.doctor(token(&admin), "Dr. Late").await;
    let owner = api.patient("a@clinic.example").await;
    let slot = api.slots(doctor, 3, 4).await.remove(0);
    let booked = api
        .post(
            "/api/v1/bookings",
            Some(token(&owner)),
            json!({"doctor_id": doctor, "starts_at": slot}),
        )
        .await;
    let path = format!(
        "/api/v1/bookings/{}/cancel",
        booked.body["id"].as_str().unwrap()
    );

    let by_owner = api.post(&path, Some(token(&owner)), json!({})).await;
    let by_admin = api.post(&path, Some(token(&admin)), json!({})).await;

    assert_eq!(by_owner.status, 409);
    assert!(
        by_owner.body["detail"]
            .as_str()
            .unwrap()
            .contains("240 hours")
    );
    assert_eq!(by_admin.status, 200);
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn only_patients_book(p: PgPoolOptions, o: PgConnectOptions) {
    let api = spawn(p, o).await;
    let admin = api.admin().await;
    let (doctor, doctor_tokens) = api.doctor(token(&admin), "Dr. Role").await;
    let slot = api.slots(doctor, 3, 4).await.remove(0);
    let body = json!({"doctor_id": doctor, "starts_at": slot});

    assert_eq!(
        api.post("/api/v1/bookings", None, body.clone())
            .await
            .status,
        401
    );
    assert_eq!(
        api.post("/api/v1/bookings", Some(token(&admin)), body.clone())
            .await
            .status,
        403
    );
    assert_eq!(
        api.post("/api/v1/bookings", Some(token(&doctor_tokens)), body)
            .await
            .status,
        403
    );
    let agenda_as_patient = api.patient("p@clinic.example").await;
    assert_eq!(
        api.method(
            Method::GET,
            "/api/v1/agenda",
            Some(token(&agenda_as_patient)),
            None
        )
        .await
        .status,
        403
    );
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn visits_beyond_the_horizon_are_a_422(p: PgPoolOptions, o: PgConnectOptions) {
    let api = spawn_with(p, o, &[("BOOKING_HORIZON_DAYS", "5")]).await;
    let admin = api.admin().await;
    let (doctor, _) = api.doctor(token(&admin), "Dr. Far").await;
    let patient = api.patient("far@clinic.example").await;
    let near = api.slots(doctor, 3, 4).await.remove(0);
    let far = api.slots(doctor, 7, 9).await.remove(0);

    let refused = api
        .post(
            "/api/v1/bookings",
            Some(token(&patient)),
            json!({"doctor_id": doctor, "starts_at": far}),
        )
        .await;
    let accepted = api
        .post(
            "/api/v1/bookings",
            Some(token(&patient)),
            json!({"doctor_id": doctor, "starts_at": near}),
        )
        .await;

    assert_eq!(refused.status, 422, "{refused:?}");
    assert_eq!(
        refused.body["detail"],
        "visits can be booked at most 5 days ahead"
    );
    assert_eq!(accepted.status, 201, "{accepted:?}");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM bookings")
        .fetch_one(&api.db)
        .await
        .unwrap();
    assert_eq!(count, 1);
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn a_patient_holds_at_most_the_cap_of_upcoming_visits(p: PgPoolOptions, o: PgConnectOptions) {
    let api = spawn_with(p, o, &[("MAX_FUTURE_BOOKINGS_PER_PATIENT", "2")]).await;
    let admin = api.admin().await;
    let (doctor, _) = api.doctor(token(&admin), "Dr. Cap").await;
    let patient = api.patient("hoarder@clinic.example").await;
    let other = api.patient("other@clinic.example").await;
    let slots = api.slots(doctor, 3, 6).await;
    assert!(slots.len() >= 12, "{slots:?}");
    // Ten at once, each for another slot: the cap holds under concurrency too.
    let mut requests = tokio::task::JoinSet::new();
    for slot in &slots[..10] {
        let request = api
            .client
            .post(format!("{}/api/v1/bookings", api.app.url))
            .bearer_auth(token(&patient))
            .json(&json!({"doctor_id": doctor, "starts_at": slot}));
        requests.spawn(async move {
            let answer = request.send().await.unwrap();
            let status = answer.status().as_u16();
            (status, answer.json::<serde_json::Value>().await.unwrap())
        });
    }
    let answers = requests.join_all().await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        2,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 422).count(),
        8,
        "{statuses:?}"
    );
    let refusal = &answers.iter().find(|a| a.0 == 422).unwrap().1;
    assert!(
        refusal["detail"]
            .as_str()
            .unwrap()
            .contains("a patient may hold at most 2 upcoming visits"),
        "{refusal:?}"
    );
    let book = |who: &serde_json::Value, slot: &str| {
        let body = json!({"doctor_id": doctor, "starts_at": slot});
        let who = token(who).to_owned();
        let api = &api;
        async move { api.post("/api/v1/bookings", Some(&who), body).await }
    };
    // Asking again for a slot one already holds is "taken" (a retry), not "too many".
    let held = &answers.iter().find(|a| a.0 == 201).unwrap().1;
    let held_slot = held["starts_at"].as_str().unwrap().to_owned();
    assert_eq!(book(&patient, &held_slot).await.status, 409);
    // The cap is per patient: someone else still books.
    assert_eq!(book(&other, &slots[10]).await.status, 201);
    // Cancelling one frees a place.
    let cancel = format!("/api/v1/bookings/{}/cancel", held["id"].as_str().unwrap());
    assert_eq!(
        api.post(&cancel, Some(token(&patient)), json!({}))
            .await
            .status,
        200
    );
    assert_eq!(book(&patient, &slots[11]).await.status, 201);
    let upcoming: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM bookings b JOIN users u ON u.id = b.patient_id
         WHERE u.email = 'hoarder@clinic.example' AND b.status = 'confirmed'",
    )
    .fetch_one(&api.db)
    .await
    .unwrap();
    assert_eq!(upcoming, 2);
}
