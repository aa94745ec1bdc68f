//! Booking under contention, through `bookings::book` as every channel calls it.

use std::time::Duration;

use jiff::civil::time;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use medsync_domain::bookings::{self, BookingError, BookingRules, BookingSource};
use medsync_domain::catalog::{self, WeeklyHours};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use uuid::Uuid;

fn rules() -> BookingRules {
    BookingRules {
        timezone: TimeZone::UTC,
        reminder_offsets: Vec::new(),
        cancellation_notice: SignedDuration::from_hours(2),
        horizon_days: 36_500,
        max_future_bookings: 10,
    }
}

async fn patient(pool: &PgPool, telegram_user_id: i64) -> Uuid {
    sqlx::query_scalar(
        "INSERT INTO users (id, telegram_user_id, name) VALUES ($1, $2, 'Pat') RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(telegram_user_id)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Sessions of this test's database waiting for a lock.
async fn waiting(pool: &PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity
         WHERE datname = current_database() AND wait_event_type = 'Lock'",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

/// PostgreSQL checks an exclusion constraint after inserting the index entry, so inserters of
/// one slot that wake together (the holder they waited for rolled back) each find the other's
/// entry and wait for each other: a deadlock, reported as an error that is no constraint's.
/// `book` serialises a doctor's bookings so that every loser is told `Taken`.
#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn waiters_for_a_booking_rolled_back_get_one_winner_and_no_error(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    const WAITERS: usize = 8;
    let pool = PgPoolOptions::new()
        .max_connections(WAITERS as u32 + 2)
        .connect_with(options)
        .await
        .unwrap();
    let starts_at: Timestamp = "2030-01-08T10:00:00Z".parse().unwrap(); // a Tuesday
    let doctor = {
        let mut conn = pool.acquire().await.unwrap();
        let week = [WeeklyHours {
            weekday: 2,
            starts_at: time(9, 0, 0, 0),
            ends_at: time(12, 0, 0, 0),
        }];
        catalog::upsert_doctor(&mut conn, "Dr. Contended", "", 30, &[], &week)
            .await
            .unwrap()
    };
    let now = starts_at - SignedDuration::from_hours(24 * 30);

    // The first booking is made and held open, as a request that will fail after its insert.
    let mut holder = pool.begin().await.unwrap();
    let first = patient(&pool, 1).await;
    bookings::book(
        &mut holder,
        &rules(),
        first,
        doctor,
        starts_at,
        BookingSource::Api,
        now,
    )
    .await
    .unwrap();
    let mut attempts = tokio::task::JoinSet::new();
    for i in 0..WAITERS {
        let someone = patient(&pool, 2 + i as i64).await;
        let pool = pool.clone();
        attempts.spawn(async move {
            let mut tx = pool.begin().await.unwrap();
            let booked = bookings::book(
                &mut tx,
                &rules(),
                someone,
                doctor,
                starts_at,
                BookingSource::Api,
                now,
            )
            .await;
            if booked.is_ok() {
                tx.commit().await.unwrap();
            }
            booked
        });
    }
    for _ in 0..500 {
        if waiting(&pool).await == WAITERS as i64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(waiting(&pool).await, WAITERS as i64);
    holder.rollback().await.unwrap();
    let results = attempts.join_all().await;

    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    for refused in results.iter().filter_map(|r| r.as_ref().err()) {
        assert!(matches!(refused, BookingError::Taken), "{refused:?}");
    }
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM bookings WHERE status = 'confirmed'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(kept, 1);
}
