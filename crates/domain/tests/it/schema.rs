//! The schema's invariants, enforced by PostgreSQL itself.

use jiff::civil::time;
use jiff::{SignedDuration, Timestamp};
use jiff_sqlx::ToSqlx as _;
use medsync_domain::catalog::{self, WeeklyHours};
use sqlx::PgPool;
use uuid::Uuid;

pub(crate) async fn doctor(pool: &PgPool, name: &str) -> Uuid {
    let mut conn = pool.acquire().await.unwrap();
    catalog::upsert_doctor(&mut conn, name, "", 30, &[], &[])
        .await
        .unwrap()
}

pub(crate) async fn patient(pool: &PgPool) -> Uuid {
    sqlx::query_scalar(
        "INSERT INTO users (id, telegram_user_id, name) VALUES ($1, $2, 'Pat') RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(rand_telegram_id())
    .fetch_one(pool)
    .await
    .unwrap()
}

fn rand_telegram_id() -> i64 {
    i64::from(Uuid::new_v4().as_fields().0)
}

pub(crate) async fn book(
    pool: &PgPool,
    doctor: Uuid,
    patient: Uuid,
    starts_at: Timestamp,
    minutes: i64,
) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO bookings (id, doctor_id, patient_id, starts_at, ends_at, source)
         VALUES ($1, $2, $3, $4, $5, 'api') RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(doctor)
    .bind(patient)
    .bind(starts_at.to_sqlx())
    .bind((starts_at + SignedDuration::from_mins(minutes)).to_sqlx())
    .fetch_one(pool)
    .await
}

fn utc(rfc3339: &str) -> Timestamp {
    rfc3339.parse().unwrap()
}

fn constraint(error: &sqlx::Error) -> Option<String> {
    error
        .as_database_error()
        .and_then(|e| e.constraint())
        .map(str::to_owned)
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn overlapping_bookings_of_one_doctor_are_refused_by_the_database(pool: PgPool) {
    let dr = doctor(&pool, "Dr. One").await;
    let (a, b) = (patient(&pool).await, patient(&pool).await);
    book(&pool, dr, a, utc("2030-01-07T09:00:00Z"), 30)
        .await
        .unwrap();

    let same = book(&pool, dr, b, utc("2030-01-07T09:00:00Z"), 30)
        .await
        .unwrap_err();
    let overlapping = book(&pool, dr, b, utc("2030-01-07T09:15:00Z"), 30)
        .await
        .unwrap_err();
    let adjacent = book(&pool, dr, b, utc("2030-01-07T09:30:00Z"), 30).await;

    assert_eq!(constraint(&same).as_deref(), Some("bookings_no_overlap"));
    assert_eq!(
        constraint(&overlapping).as_deref(),
        Some("bookings_no_overlap")
    );
    assert!(adjacent.is_ok(), "{adjacent:?}");
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn a_cancelled_booking_frees_its_slot_and_other_doctors_are_independent(pool: PgPool) {
    let (one, two) = (
        doctor(&pool, "Dr. One").await,
        doctor(&pool, "Dr. Two").await,
    );
    let (a, b) = (patient(&pool).await, patient(&pool).await);
    let at = utc("2030-01-07T10:00:00Z");
    let first = book(&pool, one, a, at, 30).await.unwrap();

    book(&pool, two, b, at, 30).await.unwrap();
    sqlx::query("UPDATE bookings SET status = 'cancelled', cancelled_at = now() WHERE id = $1")
        .bind(first)
        .execute(&pool)
        .await
        .unwrap();
    let rebooked = book(&pool, one, b, at, 30).await;

    assert!(rebooked.is_ok(), "{rebooked:?}");
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn concurrent_bookings_of_one_slot_leave_exactly_one(pool: PgPool) {
    let dr = doctor(&pool, "Dr. Busy").await;
    let mut patients = Vec::new();
    for _ in 0..20 {
        patients.push(patient(&pool).await);
    }

    let mut attempts = tokio::task::JoinSet::new();
    for p in patients {
        let pool = pool.clone();
        attempts.spawn(async move { book(&pool, dr, p, utc("2030-01-08T11:00:00Z"), 30).await });
    }
    let results = attempts.join_all().await;

    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    // Bare inserts that run at the same instant may also be refused as a deadlock: PostgreSQL
    // checks the constraint after inserting the index entry, so each can find the other's and
    // wait for it. `bookings::book` takes turns per doctor so that its callers never see one
    // (`booking.rs`); the schema's promise is only that one booking stands.
    for error in results.iter().filter_map(|r| r.as_ref().err()) {
        let code = error.as_database_error().and_then(|e| e.code());
        assert!(
            constraint(error).as_deref() == Some("bookings_no_overlap")
                || code.as_deref() == Some("40P01"),
            "{error:?}"
        );
    }
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM bookings")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 1);
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn overlapping_hours_on_one_weekday_are_refused(pool: PgPool) {
    let dr = doctor(&pool, "Dr. Hours").await;
    let mut conn = pool.acquire().await.unwrap();
    let week = [
        WeeklyHours {
            weekday: 1,
            starts_at: time(9, 0, 0, 0),
            ends_at: time(12, 0, 0, 0),
        },
        WeeklyHours {
            weekday: 1,
            starts_at: time(11, 0, 0, 0),
            ends_at: time(14, 0, 0, 0),
        },
    ];

    let error = catalog::set_weekly_schedule(&mut conn, dr, &week)
        .await
        .unwrap_err();

    assert!(error.as_database_error().is_some(), "{error}");
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn an_account_must_have_a_way_to_sign_in(pool: PgPool) {
    let error = sqlx::query(
        "INSERT INTO users (id, email, name) VALUES ($1, 'a@b.example', 'No password')",
    )
    .bind(Uuid::now_v7())
    .execute(&pool)
    .await
    .unwrap_err();

    assert_eq!(constraint(&error).as_deref(), Some("users_can_sign_in"));
}
