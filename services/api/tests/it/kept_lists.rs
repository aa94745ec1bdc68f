//! Kept lists of bookings are the computed ones: an api keeping them beside one that does not,
//! on one database, asked for a patient's upcoming bookings and a doctor's agenda after every
//! kind of change, made through the api and by another writer (as the bot, the web app,
//! `manage` or an operator's psql would), and after a listed booking ends.

use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp, ToSpan as _};
use medsync_api::harness::{Api, spawn_with, token};

use crate::slots_cache::unannounced_booking;
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use uuid::Uuid;

/// The clinic's midnight two days from now: every slot of that day is bookable.
fn day() -> Timestamp {
    let tz = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
    let date = Timestamp::now()
        .to_zoned(tz.clone())
        .date()
        .checked_add(2.days())
        .unwrap();
    date.to_zoned(tz).unwrap().timestamp()
}

/// The lists one api gives: the patient's, a second page of it, and the doctor's agenda.
async fn lists(api: &Api, patient: &str, doctor: &str) -> Vec<Value> {
    let mut found = Vec::new();
    for (path, who) in [
        ("/api/v1/bookings", patient),
        ("/api/v1/bookings?per_page=1&page=2", patient),
        ("/api/v1/agenda", doctor),
    ] {
        let answer = api.get(path, Some(who)).await;
        assert_eq!(answer.status, 200, "{path}: {answer:?}");
        found.push(answer.body);
    }
    found
}

/// The keeping api's lists equal the computing one's, now (`wait` zero) or within `wait`.
async fn agree(
    kept: &Api,
    computing: &Api,
    (patient, doctor): (&str, &str),
    wait: Duration,
    what: &str,
) {
    let deadline = Instant::now() + wait;
    loop {
        let want = lists(computing, patient, doctor).await;
        let got = lists(kept, patient, doctor).await;
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "after {what}: the kept lists\n{got:#?}\nare not the computed ones\n{want:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn user_id(api: &Api, tokens: &Value) -> Uuid {
    api.get("/api/v1/users/me", Some(token(tokens))).await.body["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn kept_lists_equal_computed_ones_after_every_change(p: PgPoolOptions, o: PgConnectOptions) {
    let kept = spawn_with(p.clone(), o.clone(), &[]).await;
    let computing = spawn_with(p, o, &[("LISTS_CACHE_MB", "0")]).await;
    let db = &kept.db;
    let admin = kept.admin().await;
    let (doctor, doctor_tokens) = kept.doctor(token(&admin), "Dr. Listed").await;
    let doctor_account = user_id(&kept, &doctor_tokens).await;
    let patient_tokens = kept.patient("listed@clinic.example").await;
    let patient = user_id(&kept, &patient_tokens).await;
    let other_tokens = kept.patient("other@clinic.example").await;
    let other = user_id(&kept, &other_tokens).await;
    let who = (token(&patient_tokens), token(&doctor_tokens));
    let at = |minutes: i64| day() + SignedDuration::from_mins(9 * 60 + minutes);
    let book = |minutes: i64| {
        kept.post(
            "/api/v1/bookings",
            Some(token(&patient_tokens)),
            json!({"doctor_id": doctor, "starts_at": at(minutes).to_string()}),
        )
    };
    for minutes in [0, 30] {
        assert_eq!(book(minutes).await.status, 201);
    }

    // Lists are kept once the api listens for changes (it connects in the background): a
    // change it is not told of shows whether the answer came from memory.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let before = lists(&kept, who.0, who.1).await;
        let hidden =
            unannounced_booking(db, "bookings_listed_changed", doctor, patient, at(60)).await;
        let after = lists(&kept, who.0, who.1).await;
        sqlx::query("DELETE FROM bookings WHERE id = $1")
            .bind(hidden)
            .execute(db)
            .await
            .unwrap();
        if after == before {
            break;
        }
        assert!(Instant::now() < deadline, "the api never kept a list");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let wait = Duration::from_secs(5);
    agree(&kept, &computing, who, wait, "a deletion by another writer").await;
    assert_eq!(lists(&kept, who.0, who.1).await[0]["total"], 2);

    // Through the api: the patient's own list shows its change in the very next answer; the
    // doctor's agenda when PostgreSQL's announcement arrives.
    let booked = book(90).await;
    assert_eq!(booked.status, 201, "{booked:?}");
    let mine = kept.get("/api/v1/bookings", Some(who.0)).await;
    assert_eq!(mine.body["total"], 3, "the booking is in the next answer");
    agree(&kept, &computing, who, wait, "a booking").await;
    let id = booked.body["id"].as_str().unwrap();
    let cancelled = kept
        .post(
            &format!("/api/v1/bookings/{id}/cancel"),
            Some(who.0),
            json!({}),
        )
        .await;
    assert_eq!(cancelled.status, 200, "{cancelled:?}");
    let mine = kept.get("/api/v1/bookings", Some(who.0)).await;
    assert_eq!(
        mine.body["items"][2]["status"], "cancelled",
        "the cancellation is in the next answer"
    );
    agree(&kept, &computing, who, wait, "a cancellation").await;
    let renamed = kept
        .method(
            Method::PATCH,
            &format!("/api/v1/doctors/{doctor}"),
            Some(token(&admin)),
            Some(json!({"name": "Dr. Renamed"})),
        )
        .await;
    assert!(renamed.status.is_success(), "{renamed:?}");
    agree(&kept, &computing, who, Duration::ZERO, "a renaming").await;

    // By another writer: PostgreSQL's announcement reaches the api.
    let by_sql = Uuid::now_v7();
    sqlx::query("INSERT INTO bookings (id, doctor_id, patient_id, starts_at, ends_at, source) VALUES ($1, $2, $3, $4::timestamptz, $4::timestamptz + interval '30 minutes', 'telegram')")
        .bind(by_sql)
        .bind(doctor)
        .bind(patient)
        .bind(at(150).to_string())
        .execute(db)
        .await
        .unwrap();
    agree(&kept, &computing, who, wait, "a booking by another writer").await;
    for (sql, what) in [
        (
            "UPDATE bookings SET status = 'cancelled', cancelled_at = now() WHERE id = $1",
            "a cancellation by another writer",
        ),
        (
            "UPDATE bookings SET starts_at = starts_at + interval '1 hour', ends_at = ends_at + interval '1 hour', status = 'confirmed', cancelled_at = NULL WHERE id = $1",
            "a booking moved by another writer",
        ),
        (
            "UPDATE bookings SET status = 'no_show' WHERE id = $1",
            "a status set by another writer",
        ),
    ] {
        sqlx::query(sql).bind(by_sql).execute(db).await.unwrap();
        agree(&kept, &computing, who, wait, what).await;
    }
    // The booking given to another patient (as linking a Telegram account does): both lists.
    let other_who = (token(&other_tokens), who.1);
    lists(&kept, other_who.0, other_who.1).await;
    sqlx::query("UPDATE bookings SET patient_id = $2 WHERE id = $1")
        .bind(by_sql)
        .bind(other)
        .execute(db)
        .await
        .unwrap();
    agree(&kept, &computing, who, wait, "a booking given away").await;
    agree(
        &kept,
        &computing,
        other_who,
        wait,
        "a booking given to the other patient",
    )
    .await;
    assert_eq!(lists(&kept, other_who.0, other_who.1).await[0]["total"], 1);
    for (sql, what) in [
        (
            "UPDATE doctors SET name = 'Dr. Renamed by SQL' WHERE id = $1",
            "a renaming by another writer",
        ),
        (
            "UPDATE doctors SET user_id = NULL WHERE id = $1",
            "the doctor's account unlinked",
        ),
    ] {
        sqlx::query(sql).bind(doctor).execute(db).await.unwrap();
        agree(&kept, &computing, who, wait, what).await;
    }
    sqlx::query("UPDATE doctors SET user_id = $2 WHERE id = $1")
        .bind(doctor)
        .bind(doctor_account)
        .execute(db)
        .await
        .unwrap();
    agree(
        &kept,
        &computing,
        who,
        wait,
        "the doctor's account linked again",
    )
    .await;

    // The clock: a listed booking leaves the upcoming list when it ends, with no announcement.
    let ending = Timestamp::from_second(Timestamp::now().as_second() + 3).unwrap();
    sqlx::query("INSERT INTO bookings (id, doctor_id, patient_id, starts_at, ends_at, source) VALUES ($1, $2, $3, $4::timestamptz - interval '30 minutes', $4::timestamptz, 'admin')")
        .bind(Uuid::now_v7())
        .bind(doctor)
        .bind(patient)
        .bind(ending.to_string())
        .execute(db)
        .await
        .unwrap();
    agree(&kept, &computing, who, wait, "a booking under way").await;
    let listed = lists(&kept, who.0, who.1).await;
    let first_end: Timestamp = listed[0]["items"][0]["ends_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(first_end, ending, "the booking under way is listed first");
    let total = listed[0]["total"].as_i64().unwrap();
    let left = Timestamp::now()
        .duration_until(ending)
        .max(SignedDuration::ZERO);
    tokio::time::sleep(left.unsigned_abs() + Duration::from_millis(100)).await;
    agree(&kept, &computing, who, Duration::ZERO, "a booking ended").await;
    assert_eq!(lists(&kept, who.0, who.1).await[0]["total"], total - 1);
}
