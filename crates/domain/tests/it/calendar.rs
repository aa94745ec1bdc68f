//! A doctor's calendar as read from the database (`slots::load_calendar`).

use jiff::{SignedDuration, Timestamp};
use medsync_domain::bookings::MAX_SLOT_MINUTES;
use medsync_domain::slots;
use sqlx::PgPool;
use uuid::Uuid;

use crate::schema::{book, doctor, patient};

/// A booking made and cancelled.
async fn cancelled(pool: &PgPool, doctor: Uuid, patient: Uuid, starts_at: Timestamp) {
    let id = book(pool, doctor, patient, starts_at, 30).await.unwrap();
    sqlx::query("UPDATE bookings SET status = 'cancelled', cancelled_at = now() WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await
        .unwrap();
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
    let patient = patient(&pool).await;
    let from: Timestamp = "2030-01-08T09:00:00Z".parse().unwrap();
    // load_calendar reads a day more on each side.
    let edge = from - SignedDuration::from_hours(24);
    let longest = i64::from(MAX_SLOT_MINUTES);
    let reaching = edge - SignedDuration::from_mins(longest - 1);
    book(&pool, reached, patient, reaching, longest)
        .await
        .unwrap();
    book(
        &pool,
        missed,
        patient,
        edge - SignedDuration::from_mins(longest),
        longest,
    )
    .await
    .unwrap();
    for doctor in [reached, missed] {
        cancelled(&pool, doctor, patient, from).await;
        book(
            &pool,
            doctor,
            patient,
            from + SignedDuration::from_mins(30),
            30,
        )
        .await
        .unwrap();
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
