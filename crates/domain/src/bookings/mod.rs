//! Booking and cancelling: the one implementation the API and the bot both call.
//!
//! A booking is accepted only for a real slot of the doctor's schedule (not in time off, not in
//! the past). Whether the slot is still free is decided by PostgreSQL: the insert either wins
//! or hits the `bookings_no_overlap` exclusion constraint, so two concurrent requests can never
//! both succeed (one doctor's inserts take turns, so a loser learns it from the constraint, not
//! from a deadlock: see [`book`]). The booking's jobs (confirmation now, reminders before the
//! visit) are enqueued in the same transaction.

use std::sync::LazyLock;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use sqlx::{FromRow as _, PgConnection, postgres::PgRow};
use uuid::Uuid;

use super::audit::{self, Channel, Event};
use super::jobs::{self, BookingPayload, Job};
use super::slots;
use super::users::Role;
use jiff_sqlx::ToSqlx as _;

mod read;

pub use read::*;

/// Where a booking stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[sqlx(type_name = "booking_status", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum BookingStatus {
    /// Booked.
    Confirmed,
    /// Cancelled by the patient or the clinic.
    Cancelled,
    /// The visit took place.
    Completed,
    /// The patient did not come.
    NoShow,
}

/// Where a booking was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[sqlx(type_name = "booking_source", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum BookingSource {
    /// Through the HTTP API.
    Api,
    /// Through the Telegram bot.
    Telegram,
    /// By clinic staff.
    Admin,
    /// Through the web app or the Telegram Mini App.
    Web,
}

/// A booking with its doctor's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Booking {
    /// Its id.
    pub id: Uuid,
    /// The doctor.
    pub doctor_id: Uuid,
    /// The doctor's name.
    pub doctor_name: String,
    /// The patient.
    pub patient_id: Uuid,
    /// The patient's name.
    pub patient_name: String,
    /// Start.
    pub starts_at: Timestamp,
    /// End (exclusive).
    pub ends_at: Timestamp,
    /// State.
    pub status: BookingStatus,
    /// Where it was made.
    pub source: BookingSource,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it was cancelled.
    pub cancelled_at: Option<Timestamp>,
}

#[derive(sqlx::FromRow)]
struct BookingRow {
    id: Uuid,
    doctor_id: Uuid,
    doctor_name: String,
    patient_id: Uuid,
    patient_name: String,
    starts_at: jiff_sqlx::Timestamp,
    ends_at: jiff_sqlx::Timestamp,
    status: BookingStatus,
    source: BookingSource,
    created_at: jiff_sqlx::Timestamp,
    cancelled_at: Option<jiff_sqlx::Timestamp>,
}

impl From<BookingRow> for Booking {
    fn from(r: BookingRow) -> Self {
        Self {
            id: r.id,
            doctor_id: r.doctor_id,
            doctor_name: r.doctor_name,
            patient_id: r.patient_id,
            patient_name: r.patient_name,
            starts_at: r.starts_at.to_jiff(),
            ends_at: r.ends_at.to_jiff(),
            status: r.status,
            source: r.source,
            created_at: r.created_at.to_jiff(),
            cancelled_at: r.cancelled_at.map(jiff_sqlx::Timestamp::to_jiff),
        }
    }
}

const SELECT: &str = "SELECT b.id, b.doctor_id, d.name AS doctor_name, b.patient_id,
        u.name AS patient_name, b.starts_at, b.ends_at, b.status, b.source, b.created_at,
        b.cancelled_at
    FROM bookings b JOIN doctors d ON d.id = b.doctor_id JOIN users u ON u.id = b.patient_id";

/// A booking's reference for people: the first eight hex digits of its id, upper-case.
pub fn reference(id: Uuid) -> String {
    id.simple().to_string()[..8].to_uppercase()
}

/// The clinic's booking rules.
#[derive(Debug, Clone)]
pub struct BookingRules {
    /// The clinic's time zone: weekly hours are local times in it.
    pub timezone: TimeZone,
    /// Reminders are sent this long before a visit (those already past when booking are not).
    pub reminder_offsets: Vec<SignedDuration>,
    /// Patients may cancel up to this long before the visit; admins always.
    pub cancellation_notice: SignedDuration,
    /// How far ahead a visit may be booked, in days (`BOOKING_HORIZON_DAYS`).
    pub horizon_days: u32,
    /// How many upcoming visits one patient may hold at once
    /// (`MAX_FUTURE_BOOKINGS_PER_PATIENT`).
    pub max_future_bookings: u32,
}

/// Why a booking or cancellation was refused.
#[derive(Debug, thiserror::Error)]
pub enum BookingError {
    /// No active doctor with this id.
    #[error("no such doctor")]
    DoctorNotFound,
    /// The start is not a slot of the doctor's schedule (or is in time off, or past).
    #[error("not a slot of this doctor's schedule")]
    NotASlot,
    /// Someone else holds an overlapping booking.
    #[error("this slot is already taken")]
    Taken,
    /// The visit is further ahead than the clinic books.
    #[error("visits can be booked at most {days} days ahead")]
    BeyondHorizon {
        /// The horizon.
        days: u32,
    },
    /// The patient already holds as many upcoming visits as one patient may.
    #[error("a patient may hold at most {max} upcoming visits at once; cancel one to book another")]
    TooManyBookings {
        /// The cap.
        max: u32,
    },
    /// No booking with this id visible to the caller.
    #[error("no such booking")]
    NotFound,
    /// The booking is cancelled already, or is in the past.
    #[error("the booking cannot be cancelled any more")]
    NotCancellable,
    /// Patients may not cancel this close to the visit.
    #[error("bookings can be cancelled up to {hours} hours before the visit")]
    TooLateToCancel {
        /// The notice required.
        hours: i64,
    },
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Who is acting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    /// The user.
    pub user_id: Uuid,
    /// Their role.
    pub role: Role,
    /// Through which channel they act (for the audit trail).
    pub channel: Channel,
}

/// Books `starts_at` with `doctor_id` for `patient_id` and enqueues its jobs, all in the
/// caller's transaction (`conn` must be inside one). Returns the booking.
///
/// The horizon and the per-patient cap are enforced here, so every channel (the API, the
/// bot's buttons, however forged) gets the same answer. The patient's row is locked for the
/// rest of the transaction, so two concurrent requests of one patient cannot both pass the
/// cap. The cap is counted after the insert: a retried request for a slot the patient already
/// holds is answered `Taken` (which the callers resolve to the patient's own booking), not
/// `TooManyBookings`. On an error the caller must roll back.
pub async fn book(
    conn: &mut PgConnection,
    rules: &BookingRules,
    patient_id: Uuid,
    doctor_id: Uuid,
    starts_at: Timestamp,
    source: BookingSource,
    now: Timestamp,
) -> Result<Booking, BookingError> {
    let horizon = now
        .checked_add(SignedDuration::from_hours(
            24 * i64::from(rules.horizon_days),
        ))
        .unwrap_or(Timestamp::MAX);
    if starts_at > horizon {
        return Err(BookingError::BeyondHorizon {
            days: rules.horizon_days,
        });
    }
    let window_end = starts_at
        .checked_add(SignedDuration::from_secs(1))
        .map_err(|_| BookingError::NotASlot)?;
    // Serialises this doctor's bookings (a transaction-scoped advisory lock) and this patient's
    // (their row; `NO KEY` so the bookings' foreign key still passes), in that order in every
    // booking, in the calendar's round trip. The doctor's: PostgreSQL checks an exclusion
    // constraint only after inserting the index entry, so two inserts of one slot that run
    // together (or wake together when the booking they waited for rolls back) each find the
    // other's entry, wait for each other, and one fails with "deadlock detected", not with the
    // constraint. Inserts of one doctor one at a time, every loser is `Taken`; the lock is held
    // only from here to the commit, and bookings of different doctors do not wait for each
    // other. The calendar is read in the statement's snapshot, taken before the locks are
    // granted, as when it was a statement of its own before them: it decides only whether the
    // start is a slot of the schedule; whether it is free is the exclusion constraint's call.
    static CALENDAR_AND_LOCKS: LazyLock<String> = LazyLock::new(|| {
        slots::calendar_after(
            "SELECT pg_advisory_xact_lock(hashtext('medsync.book'), hashtext($1::uuid::text))
             FROM users WHERE id = $4 FOR NO KEY UPDATE",
        )
    });
    let calendar = slots::load_calendar_after(
        conn,
        CALENDAR_AND_LOCKS.as_str(),
        patient_id,
        doctor_id,
        starts_at,
        window_end,
    )
    .await?
    .ok_or(BookingError::DoctorNotFound)?;
    let slot = slots::schedule_slots(&calendar, &rules.timezone, starts_at, window_end, now, true)
        .into_iter()
        .find(|s| s.starts_at == starts_at)
        .ok_or(BookingError::NotASlot)?;

    let id = Uuid::now_v7();
    let channel = match source {
        BookingSource::Telegram => Channel::Bot,
        BookingSource::Api | BookingSource::Admin => Channel::Api,
        BookingSource::Web => Channel::Web,
    };
    let event = Event::new("booking.created", channel)
        .by(patient_id)
        .booking(id)
        .details(serde_json::json!({
            "doctor_id": doctor_id,
            "starts_at": slot.starts_at.to_string(),
        }));
    let due = Job::for_new_booking(id, slot.starts_at, &rules.reminder_offsets, now);
    let jobs = jobs::Batch::new(due.iter().map(|(job, run_at)| (job, *run_at)));
    // The insert, its audit event, its jobs, the booking as it is read back, and the cap's
    // count, in one round trip. The count reads the statement's snapshot, which does not hold
    // the row the same statement inserts: `inserted` adds it.
    static INSERT: LazyLock<String> = LazyLock::new(|| {
        format!(
            "WITH inserted AS (
                 INSERT INTO bookings (id, doctor_id, patient_id, starts_at, ends_at, source)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 RETURNING *),
             audited AS ({}),
             enqueued AS ({})
             SELECT b.id, b.doctor_id, d.name AS doctor_name, b.patient_id,
                    u.name AS patient_name, b.starts_at, b.ends_at, b.status, b.source,
                    b.created_at, b.cancelled_at,
                    (SELECT count(*) FROM bookings
                     WHERE patient_id = $3 AND status = 'confirmed' AND starts_at > $7)
                    + (b.status = 'confirmed' AND b.starts_at > $7)::int AS upcoming,
                    ARRAY(SELECT kind FROM enqueued) AS enqueued
             FROM inserted b JOIN doctors d ON d.id = b.doctor_id
                  JOIN users u ON u.id = b.patient_id",
            audit::insert_sql(8),
            jobs::insert_sql(16)
        )
    });
    let query = sqlx::query(INSERT.as_str())
        .bind(id)
        .bind(doctor_id)
        .bind(patient_id)
        .bind(slot.starts_at.to_sqlx())
        .bind(slot.ends_at.to_sqlx())
        .bind(source)
        .bind(now.to_sqlx());
    let created = jobs
        .bind(event.bind(query))
        .try_map(|row: PgRow| Created::from_row(&row))
        .fetch_one(&mut *conn)
        .await;
    let Created {
        booking,
        upcoming,
        enqueued,
    } = match created {
        Ok(created) => created,
        Err(error) => {
            let overlap = error
                .as_database_error()
                .and_then(|e| e.constraint())
                .is_some_and(|c| c == "bookings_no_overlap");
            return Err(if overlap {
                BookingError::Taken
            } else {
                BookingError::Database(error)
            });
        }
    };
    if upcoming > i64::from(rules.max_future_bookings) {
        return Err(BookingError::TooManyBookings {
            max: rules.max_future_bookings,
        });
    }
    // Counted here, not when the caller commits: as `jobs::enqueue_all` counts its own.
    jobs::counted(enqueued);
    Ok(booking.into())
}

/// Cancels a booking the actor may see: its patient up to the notice period before the visit,
/// admins at any time. Drops its queued reminders and enqueues the cancellation notice, in the
/// caller's transaction.
pub async fn cancel(
    conn: &mut PgConnection,
    rules: &BookingRules,
    booking_id: Uuid,
    actor: Actor,
    now: Timestamp,
) -> Result<Booking, BookingError> {
    let row: Option<(Uuid, jiff_sqlx::Timestamp, BookingStatus)> = sqlx::query_as(
        "SELECT patient_id, starts_at, status FROM bookings WHERE id = $1 FOR UPDATE",
    )
    .bind(booking_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((patient_id, starts_at, status)) = row else {
        return Err(BookingError::NotFound);
    };
    let is_admin = actor.role == Role::Admin;
    if !is_admin && patient_id != actor.user_id {
        return Err(BookingError::NotFound);
    }
    let starts_at = starts_at.to_jiff();
    if status != BookingStatus::Confirmed || starts_at <= now {
        return Err(BookingError::NotCancellable);
    }
    if !is_admin {
        let deadline = starts_at
            .checked_sub(rules.cancellation_notice)
            .unwrap_or(Timestamp::MIN);
        if now > deadline {
            return Err(BookingError::TooLateToCancel {
                hours: rules.cancellation_notice.as_hours(),
            });
        }
    }
    sqlx::query(
        "UPDATE bookings SET status = 'cancelled', cancelled_at = $2, cancelled_by = $3
         WHERE id = $1",
    )
    .bind(booking_id)
    .bind(now.to_sqlx())
    .bind(actor.user_id)
    .execute(&mut *conn)
    .await?;
    jobs::drop_queued_reminders(conn, booking_id).await?;
    let payload = BookingPayload { v: 1, booking_id };
    jobs::enqueue(conn, &Job::BookingCancellation(payload), now).await?;
    let event = Event::new("booking.cancelled", actor.channel)
        .by(actor.user_id)
        .on(patient_id)
        .booking(booking_id)
        .details(serde_json::json!({ "role": actor.role }));
    audit::record(conn, event).await?;
    get(conn, booking_id).await?.ok_or(BookingError::NotFound)
}
