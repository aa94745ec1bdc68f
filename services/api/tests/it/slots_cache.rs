//! Kept free-slots answers are the computed ones: an api with the cache beside one without it,
//! on one database, asked the same week after every kind of change, made through the api and
//! made by another writer (as the bot, `manage` or an operator's psql would).

use std::io::Read as _;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp, ToSpan as _};
use medsync_api::harness::{self as common, Api};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use uuid::Uuid;

use common::{enc, spawn_with, token};

/// A week, starting at the clinic's midnight two days from now.
fn week() -> (Timestamp, Timestamp) {
    let tz = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
    let day = Timestamp::now()
        .to_zoned(tz)
        .date()
        .checked_add(2.days())
        .unwrap();
    let from = day
        .to_zoned(jiff::tz::TimeZone::get("Europe/Berlin").unwrap())
        .unwrap();
    let to = from.checked_add(7.days()).unwrap();
    (from.timestamp(), to.timestamp())
}

async fn slots(api: &Api, doctor: Uuid, (from, to): (Timestamp, Timestamp)) -> Value {
    let path = format!(
        "/api/v1/doctors/{doctor}/slots?from={}&to={}",
        enc(&from.to_string()),
        enc(&to.to_string())
    );
    let answer = api.get(&path, None).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.body
}

/// The cached api's answer equals the computing one's, now (`wait` zero) or within `wait`.
async fn agree(cached: &Api, computing: &Api, doctor: Uuid, wait: Duration, what: &str) {
    let deadline = Instant::now() + wait;
    loop {
        let want = slots(computing, doctor, week()).await;
        let got = slots(cached, doctor, week()).await;
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "after {what}: the kept answer ({} slots) is not the computed one ({})",
            got.as_array().map_or(0, Vec::len),
            want.as_array().map_or(0, Vec::len),
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A booking written with `trigger` (one of `bookings`' announcing triggers) off: what only a
/// kept answer would miss. The lists' test uses it too.
pub(crate) async fn unannounced_booking(
    db: &PgPool,
    trigger: &str,
    doctor: Uuid,
    patient: Uuid,
    at: Timestamp,
) -> Uuid {
    let id = Uuid::now_v7();
    let mut tx = db.begin().await.unwrap();
    for (toggle, insert) in [("DISABLE", true), ("ENABLE", false)] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "ALTER TABLE bookings {toggle} TRIGGER {trigger}"
        )))
        .execute(&mut *tx)
        .await
        .unwrap();
        if insert {
            sqlx::query("INSERT INTO bookings (id, doctor_id, patient_id, starts_at, ends_at, source) VALUES ($1, $2, $3, $4::timestamptz, $4::timestamptz + interval '30 minutes', 'admin')")
                .bind(id).bind(doctor).bind(patient).bind(at.to_string())
                .execute(&mut *tx).await.unwrap();
        }
    }
    tx.commit().await.unwrap();
    id
}

async fn exec(db: &PgPool, sql: &'static str, doctor: Uuid) {
    sqlx::query(sql).bind(doctor).execute(db).await.unwrap();
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn kept_answers_equal_computed_ones_after_every_change(
    p: PgPoolOptions,
    o: PgConnectOptions,
) {
    let cached = spawn_with(p.clone(), o.clone(), &[]).await;
    let computing = spawn_with(p, o, &[("SLOTS_CACHE_MB", "0")]).await;
    let db = &cached.db;
    let admin = cached.admin().await;
    let (doctor, _) = cached.doctor(token(&admin), "Dr. Kept").await;
    let patient = cached.patient("kept@clinic.example").await;
    let patient_id: Uuid = cached
        .get("/api/v1/users/me", Some(token(&patient)))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let (from, _) = week();
    let at = |hours: i64| from + SignedDuration::from_hours(hours);

    // Answers are kept once the api listens for changes (it connects in the background): a
    // change it is not told of shows whether the answer came from memory.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let before = slots(&cached, doctor, week()).await;
        let hidden = unannounced_booking(db, "calendar_changed", doctor, patient_id, at(9)).await;
        let after = slots(&cached, doctor, week()).await;
        sqlx::query("DELETE FROM bookings WHERE id = $1")
            .bind(hidden)
            .execute(db)
            .await
            .unwrap();
        if after == before {
            break;
        }
        assert!(Instant::now() < deadline, "the api never kept an answer");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    agree(
        &cached,
        &computing,
        doctor,
        Duration::from_secs(5),
        "a deletion by another writer",
    )
    .await;
    assert_eq!(
        slots(&cached, doctor, week())
            .await
            .as_array()
            .unwrap()
            .len(),
        140
    );

    // Through the api: its own changes show in its very next answer.
    let booked = cached
        .post(
            "/api/v1/bookings",
            Some(token(&patient)),
            json!({"doctor_id": doctor, "starts_at": at(10).to_string()}),
        )
        .await;
    assert_eq!(booked.status, 201, "{booked:?}");
    agree(&cached, &computing, doctor, Duration::ZERO, "a booking").await;
    let id = booked.body["id"].as_str().unwrap();
    let cancelled = cached
        .post(
            &format!("/api/v1/bookings/{id}/cancel"),
            Some(token(&patient)),
            json!({}),
        )
        .await;
    assert_eq!(cancelled.status, 200, "{cancelled:?}");
    agree(
        &cached,
        &computing,
        doctor,
        Duration::ZERO,
        "a cancellation",
    )
    .await;
    let off = cached
        .post(
            &format!("/api/v1/doctors/{doctor}/time-off"),
            Some(token(&admin)),
            json!({"starts_at": at(8).to_string(), "ends_at": at(30).to_string(), "reason": "Course"}),
        )
        .await;
    assert_eq!(off.status, 201, "{off:?}");
    agree(
        &cached,
        &computing,
        doctor,
        Duration::ZERO,
        "time off added",
    )
    .await;
    let off_id = off.body["id"].as_str().unwrap();
    let deleted = cached
        .method(
            Method::DELETE,
            &format!("/api/v1/doctors/{doctor}/time-off/{off_id}"),
            Some(token(&admin)),
            None,
        )
        .await;
    assert_eq!(deleted.status, 204);
    agree(
        &cached,
        &computing,
        doctor,
        Duration::ZERO,
        "time off deleted",
    )
    .await;
    let hours = json!({"hours": [{"weekday": 1, "starts_at": "09:00", "ends_at": "12:00"}, {"weekday": 3, "starts_at": "13:00", "ends_at": "17:00"}]});
    let schedule = cached
        .method(
            Method::PUT,
            &format!("/api/v1/doctors/{doctor}/schedule"),
            Some(token(&admin)),
            Some(hours),
        )
        .await;
    assert_eq!(schedule.status, 200, "{schedule:?}");
    agree(
        &cached,
        &computing,
        doctor,
        Duration::ZERO,
        "new weekly hours",
    )
    .await;
    let slot_length = cached
        .method(
            Method::PATCH,
            &format!("/api/v1/doctors/{doctor}"),
            Some(token(&admin)),
            Some(json!({"slot_minutes": 20})),
        )
        .await;
    assert!(slot_length.status.is_success(), "{slot_length:?}");
    agree(
        &cached,
        &computing,
        doctor,
        Duration::ZERO,
        "a new slot length",
    )
    .await;

    // By another writer: PostgreSQL's announcement reaches the api.
    let first = slots(&cached, doctor, week()).await[0]["starts_at"]
        .as_str()
        .unwrap()
        .to_owned();
    let id = Uuid::now_v7();
    sqlx::query("INSERT INTO bookings (id, doctor_id, patient_id, starts_at, ends_at, source) VALUES ($1, $2, $3, $4::timestamptz, $4::timestamptz + interval '20 minutes', 'telegram')")
        .bind(id).bind(doctor).bind(patient_id).bind(&first)
        .execute(db).await.unwrap();
    agree(
        &cached,
        &computing,
        doctor,
        Duration::from_secs(5),
        "a booking by another writer",
    )
    .await;
    sqlx::query("UPDATE bookings SET status = 'cancelled', cancelled_at = now() WHERE id = $1")
        .bind(id)
        .execute(db)
        .await
        .unwrap();
    agree(
        &cached,
        &computing,
        doctor,
        Duration::from_secs(5),
        "a cancellation by another writer",
    )
    .await;
    // Time off, weekly hours and the slot length, each changed by SQL.
    for (sql, what) in [
        (
            "INSERT INTO doctor_time_off (id, doctor_id, period) SELECT gen_random_uuid(), $1, tstzrange(min(starts_at), max(ends_at)) FROM bookings WHERE doctor_id = $1",
            "time off by another writer",
        ),
        (
            "DELETE FROM doctor_time_off WHERE doctor_id = $1",
            "time off deleted by another writer",
        ),
        (
            "INSERT INTO doctor_schedules (id, doctor_id, weekday, starts_at, ends_at) SELECT gen_random_uuid(), $1, d, '18:00', '20:00' FROM generate_series(1, 7) d",
            "hours added by another writer",
        ),
        (
            "UPDATE doctors SET slot_minutes = 15 WHERE id = $1",
            "a slot length set by another writer",
        ),
    ] {
        exec(db, sql, doctor).await;
        agree(&cached, &computing, doctor, Duration::from_secs(5), what).await;
    }
    exec(
        db,
        "UPDATE doctors SET active = false WHERE id = $1",
        doctor,
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(5);
    let path = format!(
        "/api/v1/doctors/{doctor}/slots?from={}&to={}",
        enc(&week().0.to_string()),
        enc(&week().1.to_string())
    );
    while cached.get(&path, None).await.status != 404 {
        assert!(
            Instant::now() < deadline,
            "a retired doctor's slots are still served"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn browsers_get_the_kept_answer_compressed(p: PgPoolOptions, o: PgConnectOptions) {
    let api = spawn_with(p, o, &[]).await;
    let admin = api.admin().await;
    let (doctor, _) = api.doctor(token(&admin), "Dr. Zip").await;
    let (from, to) = week();
    let url = format!(
        "{}/api/v1/doctors/{doctor}/slots?from={}&to={}",
        api.app.url,
        enc(&from.to_string()),
        enc(&to.to_string())
    );
    let plain = api.client.get(&url).send().await.unwrap();
    assert_eq!(plain.headers()["vary"], "accept-encoding");
    assert!(plain.headers().get("content-encoding").is_none());
    let plain = plain.bytes().await.unwrap();
    for _ in 0..2 {
        let zipped = api
            .client
            .get(&url)
            .header("accept-encoding", "br;q=0.9, gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(zipped.headers()["content-encoding"], "gzip");
        let zipped = zipped.bytes().await.unwrap();
        assert!(
            zipped.len() * 5 < plain.len(),
            "{} of {}",
            zipped.len(),
            plain.len()
        );
        let mut unzipped = Vec::new();
        flate2::read::GzDecoder::new(&zipped[..])
            .read_to_end(&mut unzipped)
            .unwrap();
        assert_eq!(unzipped, plain);
    }
    let refused = api
        .client
        .get(&url)
        .header("accept-encoding", "gzip;q=0")
        .send()
        .await
        .unwrap();
    assert!(refused.headers().get("content-encoding").is_none());
}
