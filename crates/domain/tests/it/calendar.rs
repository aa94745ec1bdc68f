//! A doctor's calendar as read from the database (`slots::load_calendar`).

use jiff::{SignedDuration, Timestamp};
use medsync_domain::bookings::MAX_SLOT_MINUTES;
use medsync_domain::slots;
use sqlx::PgPool;
use uuid::Uuid;

async fn book(
    pool: &PgPool,
    doctor: Uuid,
    patient: Uuid,
    starts_at: Timestamp,
    minutes: i64,
    status: &str,
) {
    sqlx::query(
        "INSERT INTO bookings
             (id, doctor_id, patient_id, starts_at, ends_at, status, source, cancelled_at)
         VALUES ($1, $2, $3, $4, $5, $6::booking_status, 'admin',
                 CASE WHEN $6 = 'cancelled' THEN now() END)",
    )
    .bind(Uuid::now_v7())
    .bind(doctor)
    .bind(patient)
    .bind(jiff_sqlx::Timestamp::from(starts_at))
    .bind(jiff_sqlx::Timestamp::from(
        starts_at + SignedDuration::from_mins(minutes),
    ))
    .bind(status)
    .execute(pool)
    .await
    .unwrap();
}

async fn doctor(pool: &PgPool, name: &str) -> Uuid {
    sqlx::query_scalar(
        "INSERT INTO doctors (id, name, slot_minutes) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(name)
    .bind(MAX_SLOT_MINUTES)
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn booked(pool: &PgPool, doctor: Uuid, from: Timestamp) -> Vec<(Timestamp, Timestamp)> {
    let mut conn = pool.acquire().await.unwrap();
    let to = from + SignedDuration::from_hours(1);
    slots::load_calendar(&mut conn, doctor, from, to)
        .await
        .unwrap()
        .unwrap()
        .booked
}

/// The bound on the bookings' starts in the calendar's statement is the longest a booking lasts.
#[test]
fn the_calendars_lower_bound_on_starts_is_the_longest_booking() {
    let bound = format!("starts_at > $2 - interval '{MAX_SLOT_MINUTES} minutes'");
    assert!(
        slots::CALENDAR_SQL.contains(&bound),
        "{}",
        slots::CALENDAR_SQL
    );
}

/// The statement bounds the bookings' starts by the longest a booking lasts, for the index:
/// the longest booking that still reaches into the range is in the calendar, one that ends
/// as the range begins is not, nor is a cancelled one.
#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn the_longest_booking_reaching_into_the_range_is_in_the_calendar(pool: PgPool) {
    let (reached, missed) = (
        doctor(&pool, "Dr. Reached").await,
        doctor(&pool, "Dr. Missed").await,
    );
    let patient: Uuid = sqlx::query_scalar(
        "INSERT INTO users (id, telegram_user_id, name) VALUES ($1, 1, 'Pat') RETURNING id",
    )
    .bind(Uuid::now_v7())
    .fetch_one(&pool)
    .await
    .unwrap();
    let from: Timestamp = "2030-01-08T09:00:00Z".parse().unwrap();
    // load_calendar reads a day more on each side.
    let edge = from - SignedDuration::from_hours(24);
    let longest = i64::from(MAX_SLOT_MINUTES);
    let reaching = edge - SignedDuration::from_mins(longest - 1);
    book(&pool, reached, patient, reaching, longest, "confirmed").await;
    book(
        &pool,
        missed,
        patient,
        edge - SignedDuration::from_mins(longest),
        longest,
        "confirmed",
    )
    .await;
    for doctor in [reached, missed] {
        book(&pool, doctor, patient, from, 30, "cancelled").await;
        book(
            &pool,
            doctor,
            patient,
            from + SignedDuration::from_mins(30),
            30,
            "confirmed",
        )
        .await;
    }
    let in_range = (
        from + SignedDuration::from_mins(30),
        from + SignedDuration::from_mins(60),
    );
    assert_eq!(
        booked(&pool, reached, from).await,
        vec![
            (reaching, reaching + SignedDuration::from_mins(longest)),
            in_range
        ]
    );
    assert_eq!(booked(&pool, missed, from).await, vec![in_range]);
}
