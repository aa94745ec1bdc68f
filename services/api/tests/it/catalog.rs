//! The catalog and free slots, over real HTTP, PostgreSQL and Redis.

use medsync_api::harness as common;

use common::{enc, spawn, token};
use reqwest::Method;
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn admins_edit_the_catalog_and_everyone_reads_it(p: PgPoolOptions, o: PgConnectOptions) {
    let api = spawn(p, o).await;
    let admin = api.admin().await;
    let t = Some(token(&admin));

    let cardio = api
        .post(
            "/api/v1/specialties",
            t,
            json!({"slug": "cardiology", "name": "Cardiology"}),
        )
        .await;
    let derma = api
        .post(
            "/api/v1/specialties",
            t,
            json!({"slug": "dermatology", "name": "Dermatology"}),
        )
        .await;
    let duplicate = api
        .post(
            "/api/v1/specialties",
            t,
            json!({"slug": "cardiology", "name": "Other"}),
        )
        .await;
    let bad_slug = api
        .post(
            "/api/v1/specialties",
            t,
            json!({"slug": "Not A Slug", "name": "X"}),
        )
        .await;
    assert_eq!((cardio.status.as_u16(), derma.status.as_u16()), (201, 201));
    assert_eq!(duplicate.status, 409);
    assert_eq!(bad_slug.status, 422);
    let (cardio_id, derma_id) = (cardio.body["id"].clone(), derma.body["id"].clone());

    for (name, specialties) in [
        ("Dr. Anna Heart", vec![cardio_id.clone()]),
        ("Dr. Bert Heart", vec![cardio_id.clone()]),
        ("Dr. Carla Skin", vec![derma_id.clone()]),
        ("Dr. Dora Both", vec![cardio_id.clone(), derma_id.clone()]),
    ] {
        let created = api
            .post(
                "/api/v1/doctors",
                t,
                json!({"name": name, "specialty_ids": specialties}),
            )
            .await;
        assert_eq!(created.status, 201, "{created:?}");
    }

    let all = api.get("/api/v1/doctors", None).await;
    let hearts = api
        .get(
            &format!(
                "/api/v1/doctors?specialty_id={}",
                cardio_id.as_str().unwrap()
            ),
            None,
        )
        .await;
    let search = api.get("/api/v1/doctors?q=HEART", None).await;
    let page2 = api.get("/api/v1/doctors?per_page=3&page=2", None).await;
    assert_eq!(all.body["total"], 4);
    assert_eq!(hearts.body["total"], 3);
    assert_eq!(search.body["total"], 2);
    assert_eq!(page2.body["total"], 4);
    assert_eq!(page2.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(page2.body["items"][0]["name"], "Dr. Dora Both");
    // Both filters at once, and a search's wildcards taken as text.
    let derma_and_both = api
        .get(
            &format!(
                "/api/v1/doctors?specialty_id={}&q=o",
                derma_id.as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(derma_and_both.body["total"], 1, "{derma_and_both:?}");
    assert_eq!(derma_and_both.body["items"][0]["name"], "Dr. Dora Both");
    for wildcard in ["%25", "_", "Dr.%25Heart"] {
        let none = api
            .get(&format!("/api/v1/doctors?q={wildcard}"), None)
            .await;
        assert_eq!(none.body["total"], 0, "q={wildcard}: {none:?}");
    }
    assert_eq!(api.get("/api/v1/doctors?page=0", None).await.status, 422);
    assert_eq!(
        api.get("/api/v1/doctors?specialty_id=nope", None)
            .await
            .status,
        400
    );

    let id = all.body["items"][0]["id"].as_str().unwrap().to_owned();
    let renamed = api
        .method(
            Method::PATCH,
            &format!("/api/v1/doctors/{id}"),
            t,
            Some(json!({"bio": "Kind."})),
        )
        .await;
    assert_eq!(renamed.status, 200);
    assert_eq!(renamed.body["bio"], "Kind.");
    let detail = api.get(&format!("/api/v1/doctors/{id}"), None).await;
    assert_eq!(detail.body["timezone"], "Europe/Berlin");
    assert_eq!(
        api.method(Method::DELETE, &format!("/api/v1/doctors/{id}"), t, None)
            .await
            .status,
        204
    );
    assert_eq!(
        api.get(&format!("/api/v1/doctors/{id}"), None).await.status,
        404
    );
    assert_eq!(api.get("/api/v1/doctors", None).await.body["total"], 3);

    let specialties = api.get("/api/v1/specialties", None).await;
    assert_eq!(specialties.body.as_array().unwrap().len(), 2);
    let sid = cardio_id.as_str().unwrap();
    let changed = api
        .method(
            Method::PATCH,
            &format!("/api/v1/specialties/{sid}"),
            t,
            Some(json!({"description": "Hearts"})),
        )
        .await;
    assert_eq!(changed.body["description"], "Hearts");
    assert_eq!(
        api.method(
            Method::DELETE,
            &format!("/api/v1/specialties/{sid}"),
            t,
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(
        api.method(
            Method::DELETE,
            &format!("/api/v1/specialties/{sid}"),
            t,
            None
        )
        .await
        .status,
        404
    );
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn the_rbac_matrix_holds(p: PgPoolOptions, o: PgConnectOptions) {
    let api = spawn(p, o).await;
    let admin = api.admin().await;
    let (doctor, doctor_tokens) = api.doctor(token(&admin), "Dr. Matrix").await;
    let patient = api.patient("pat@clinic.example").await;
    let admin_only: Vec<(Method, String, serde_json::Value)> = vec![
        (
            Method::POST,
            "/api/v1/specialties".into(),
            json!({"slug": "x", "name": "X"}),
        ),
        (
            Method::POST,
            "/api/v1/doctors".into(),
            json!({"name": "Dr. New"}),
        ),
        (
            Method::PATCH,
            format!("/api/v1/doctors/{doctor}"),
            json!({"bio": "b"}),
        ),
        (
            Method::PUT,
            format!("/api/v1/doctors/{doctor}/schedule"),
            json!({"hours": []}),
        ),
        (
            Method::GET,
            format!("/api/v1/doctors/{doctor}/time-off"),
            json!(null),
        ),
        (
            Method::POST,
            format!("/api/v1/doctors/{doctor}/time-off"),
            json!({"starts_at": "2031-01-01T00:00:00Z", "ends_at": "2031-01-02T00:00:00Z"}),
        ),
    ];

    for (method, path, body) in &admin_only {
        let body = (!body.is_null()).then(|| body.clone());
        let anonymous = api.method(method.clone(), path, None, body.clone()).await;
        let as_patient = api
            .method(method.clone(), path, Some(token(&patient)), body.clone())
            .await;
        let as_doctor = api
            .method(
                method.clone(),
                path,
                Some(token(&doctor_tokens)),
                body.clone(),
            )
            .await;
        let as_admin = api
            .method(method.clone(), path, Some(token(&admin)), body)
            .await;
        assert_eq!(anonymous.status, 401, "{method} {path} anonymous");
        assert_eq!(as_patient.status, 403, "{method} {path} patient");
        assert_eq!(as_doctor.status, 403, "{method} {path} doctor");
        assert!(
            as_admin.status.is_success(),
            "{method} {path} admin: {as_admin:?}"
        );
    }
    // Reading the catalog needs no account.
    assert_eq!(api.get("/api/v1/specialties", None).await.status, 200);
    assert_eq!(
        api.get(&format!("/api/v1/doctors/{doctor}"), None)
            .await
            .status,
        200
    );
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn overlapping_weekly_hours_are_refused(p: PgPoolOptions, o: PgConnectOptions) {
    let api = spawn(p, o).await;
    let admin = api.admin().await;
    let (doctor, _) = api.doctor(token(&admin), "Dr. Hours").await;
    let path = format!("/api/v1/doctors/{doctor}/schedule");

    let overlap = json!({"hours": [
        {"weekday": 1, "starts_at": "09:00", "ends_at": "12:00"},
        {"weekday": 1, "starts_at": "11:00", "ends_at": "13:00"}]});
    let invalid = json!({"hours": [{"weekday": 8, "starts_at": "25:00", "ends_at": "09:00"}]});
    let answer = api
        .method(Method::PUT, &path, Some(token(&admin)), Some(overlap))
        .await;
    let invalid = api
        .method(Method::PUT, &path, Some(token(&admin)), Some(invalid))
        .await;

    assert_eq!(answer.status, 422, "{answer:?}");
    assert_eq!(invalid.status, 422);
    assert_eq!(invalid.body["errors"].as_array().unwrap().len(), 2);
    // The old schedule is intact.
    assert_eq!(
        api.get(&format!("/api/v1/doctors/{doctor}"), None)
            .await
            .body["schedule"]
            .as_array()
            .unwrap()
            .len(),
        7
    );
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn time_off_removes_slots(p: PgPoolOptions, o: PgConnectOptions) {
    let api = spawn(p, o).await;
    let admin = api.admin().await;
    let (doctor, _) = api.doctor(token(&admin), "Dr. Away").await;
    let before = api.slots(doctor, 3, 4).await;
    let from = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 2);
    let to = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 5);

    let off = api
        .post(&format!("/api/v1/doctors/{doctor}/time-off"), Some(token(&admin)), json!({"starts_at": from.to_string(), "ends_at": to.to_string(), "reason": "Conference"}))
        .await;
    let reversed = api
        .post(
            &format!("/api/v1/doctors/{doctor}/time-off"),
            Some(token(&admin)),
            json!({"starts_at": to.to_string(), "ends_at": from.to_string()}),
        )
        .await;

    assert!(!before.is_empty());
    assert_eq!(off.status, 201, "{off:?}");
    assert_eq!(reversed.status, 422);
    assert!(api.slots(doctor, 3, 4).await.is_empty());
    let id = off.body["id"].as_str().unwrap();
    let deleted = api
        .method(
            Method::DELETE,
            &format!("/api/v1/doctors/{doctor}/time-off/{id}"),
            Some(token(&admin)),
            None,
        )
        .await;
    assert_eq!(deleted.status, 204);
    assert_eq!(api.slots(doctor, 3, 4).await, before);
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn slot_ranges_are_checked(p: PgPoolOptions, o: PgConnectOptions) {
    let api = spawn(p, o).await;
    let admin = api.admin().await;
    let (doctor, _) = api.doctor(token(&admin), "Dr. Range").await;
    let path = |from: &str, to: &str| {
        format!(
            "/api/v1/doctors/{doctor}/slots?from={}&to={}",
            enc(from),
            enc(to)
        )
    };

    let reversed = api
        .get(&path("2031-01-10T00:00:00Z", "2031-01-01T00:00:00Z"), None)
        .await;
    let too_long = api
        .get(&path("2031-01-01T00:00:00Z", "2031-02-02T00:00:00Z"), None)
        .await;
    let longest = api
        .get(&path("2031-01-01T00:00:00Z", "2031-02-01T00:00:00Z"), None)
        .await;
    let malformed = api
        .get(&path("yesterday", "2031-01-01T00:00:00Z"), None)
        .await;
    let missing = api
        .get(&format!("/api/v1/doctors/{doctor}/slots"), None)
        .await;
    let unknown = api
        .get(
            &format!(
                "/api/v1/doctors/{}/slots?from=2031-01-01T00:00:00Z&to=2031-01-02T00:00:00Z",
                uuid::Uuid::now_v7()
            ),
            None,
        )
        .await;

    assert_eq!(reversed.status, 400);
    assert_eq!(too_long.status, 400);
    assert_eq!(longest.status, 200);
    assert_eq!(longest.body.as_array().unwrap().len(), 31 * 20);
    assert_eq!(malformed.status, 400);
    assert_eq!(missing.status, 400);
    assert_eq!(unknown.status, 404);
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn slots_follow_the_clinic_clock_across_daylight_saving(
    p: PgPoolOptions,
    o: PgConnectOptions,
) {
    let api = spawn(p, o).await;
    let admin = api.admin().await;
    let (doctor, _) = api.doctor(token(&admin), "Dr. Summer").await;
    // Europe/Berlin moves from +01:00 to +02:00 on 2031-03-30.
    let slots = api
        .get(
            &format!(
                "/api/v1/doctors/{doctor}/slots?from={}&to={}",
                enc("2031-03-29T00:00:00+01:00"),
                enc("2031-03-31T00:00:00+02:00")
            ),
            None,
        )
        .await;

    let starts: Vec<&str> = slots
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["starts_at"].as_str().unwrap())
        .collect();
    assert_eq!(starts.len(), 40);
    assert_eq!(starts[0], "2031-03-29T08:00:00+01:00");
    assert_eq!(starts[20], "2031-03-30T08:00:00+02:00");
    assert_eq!(slots.body[20]["ends_at"], "2031-03-30T08:30:00+02:00");
}
