//! Reading bookings back: one by id, a patient's, a doctor's agenda, everyone's, one page at a time.

use jiff::Timestamp;
use serde::Deserialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::users::Role;
use jiff_sqlx::ToSqlx as _;

use super::*;

/// A new booking read back, with the patient's upcoming visits counted beside it ([`book`]).
#[derive(sqlx::FromRow)]
pub(super) struct Created {
    #[sqlx(flatten)]
    pub(super) booking: BookingRow,
    pub(super) upcoming: i64,
    /// The kinds of the jobs enqueued with it.
    pub(super) enqueued: Vec<String>,
}

/// A booking by id, whoever may see it.
pub async fn get(conn: &mut PgConnection, id: Uuid) -> Result<Option<Booking>, sqlx::Error> {
    let row: Option<BookingRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE b.id = $1")))
            .bind(id)
            .fetch_optional(conn)
            .await?;
    Ok(row.map(Booking::from))
}

/// A booking if `actor` may see it: its patient, its doctor, or an admin. Anyone else gets
/// `None`, as if it did not exist, so that ids do not leak.
pub async fn get_visible(
    conn: &mut PgConnection,
    id: Uuid,
    actor: Actor,
) -> Result<Option<Booking>, sqlx::Error> {
    let row: Option<BookingRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE b.id = $1 AND ($3 OR b.patient_id = $2 OR d.user_id = $2)"
    )))
    .bind(id)
    .bind(actor.user_id)
    .bind(actor.role == Role::Admin)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(Booking::from))
}

/// Which bookings of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum When {
    /// Not yet ended, soonest first.
    #[default]
    Upcoming,
    /// Ended, latest first.
    Past,
}

/// One page of a list, with the total number of items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Items in all pages, counted up to [`crate::COUNT_LIMIT`] (a list that long reports
    /// the limit: counting a million rows exactly, on every page, is not worth its time).
    pub total: i64,
    /// Upcoming lists: the earliest end among the bookings counted, when the first of them
    /// leaves the list (`None`: none counted, or a past list).
    pub first_end: Option<Timestamp>,
}

/// The longest a booking lasts: the longest slot a doctor may have (`doctors.slot_minutes`),
/// and a constraint of `bookings` (`bookings_length`).
pub const MAX_SLOT_MINUTES: i32 = 480;

/// A patient's bookings (or, for `doctor_of`, the agenda of the doctor linked to that user),
/// upcoming or past as of the database's clock (`now()`: the start of the statement's
/// transaction).
///
/// The time is `now()` in the SQL rather than a parameter, and the constants are literals, on
/// purpose: PostgreSQL then plans each statement once per connection (a generic plan), as its
/// estimate of `ends_at > now()` is as good as for a literal. With the instant as a parameter
/// it judged its generic plan worse and planned both statements anew at every execution, which
/// cost more than running them on a doctor with a million bookings around
/// (docs/benchmarks.md, "the agenda").
pub async fn list(
    conn: &mut PgConnection,
    filter: ListFilter,
    when: When,
    limit: i64,
    offset: i64,
) -> Result<Page<Booking>, sqlx::Error> {
    let (column, value) = match filter {
        ListFilter::Patient(id) => (Some("b.patient_id"), Some(id)),
        ListFilter::DoctorUser(id) => (Some("d.user_id"), Some(id)),
        ListFilter::All => (None, None),
    };
    // The start bounds are implied by the end's (a booking lasts at most MAX_SLOT_MINUTES):
    // said, they let the start indexes bound the scan, for everyone's list too.
    let (time_cond, order) = match when {
        When::Upcoming => (
            format!(
                "b.ends_at > now() AND b.starts_at > now() - interval '{MAX_SLOT_MINUTES} minutes'"
            ),
            "b.starts_at ASC, b.id",
        ),
        When::Past => (
            "b.ends_at <= now() AND b.starts_at < now()".to_owned(),
            "b.starts_at DESC, b.id",
        ),
    };
    let condition = match column {
        Some(column) => format!("{column} = $1 AND {time_cond}"),
        None => format!("$1::uuid IS NULL AND {time_cond}"),
    };
    let count_limit = crate::COUNT_LIMIT;
    let (total, first_end): (i64, Option<jiff_sqlx::Timestamp>) =
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT count(*), min(ends_at) FROM (SELECT b.ends_at FROM bookings b
             JOIN doctors d ON d.id = b.doctor_id
             WHERE {condition} ORDER BY {order} LIMIT {count_limit}) counted"
        )))
        .bind(value)
        .fetch_one(&mut *conn)
        .await?;
    let rows: Vec<BookingRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE {condition} ORDER BY {order} LIMIT $2 OFFSET $3"
    )))
    .bind(value)
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *conn)
    .await?;
    Ok(Page {
        items: rows.into_iter().map(Booking::from).collect(),
        total,
        first_end: first_end
            .map(|at| at.to_jiff())
            .filter(|_| when == When::Upcoming),
    })
}

/// Every doctor's bookings starting in `[from, to)` (a day of the clinic, for admins), by start,
/// at most `limit`.
pub async fn starting_between(
    conn: &mut PgConnection,
    from: Timestamp,
    to: Timestamp,
    limit: i64,
) -> Result<Vec<Booking>, sqlx::Error> {
    let rows: Vec<BookingRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE b.starts_at >= $1 AND b.starts_at < $2
         ORDER BY b.starts_at, d.name, b.id LIMIT $3"
    )))
    .bind(from.to_sqlx())
    .bind(to.to_sqlx())
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(Booking::from).collect())
}

/// Whose bookings [`list`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListFilter {
    /// The patient's own.
    Patient(Uuid),
    /// The agenda of the doctor whose account this is.
    DoctorUser(Uuid),
    /// Everyone's (admins).
    All,
}

/// The patient's confirmed booking of `doctor` at `starts_at`, if any: what the bot shows when
/// a "Book" button is pressed again after it succeeded.
pub async fn find_confirmed(
    conn: &mut PgConnection,
    patient: Uuid,
    doctor: Uuid,
    starts_at: Timestamp,
) -> Result<Option<Booking>, sqlx::Error> {
    let row: Option<BookingRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE b.patient_id = $1 AND b.doctor_id = $2 AND b.starts_at = $3
         AND b.status = 'confirmed'"
    )))
    .bind(patient)
    .bind(doctor)
    .bind(starts_at.to_sqlx())
    .fetch_optional(conn)
    .await?;
    Ok(row.map(Booking::from))
}

/// Who hears about a booking: its patient and its doctor, by their Telegram chats if linked.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Audience {
    /// The patient's Telegram chat, when linked.
    pub patient_chat: Option<i64>,
    /// The patient's name.
    pub patient_name: String,
    /// The doctor's Telegram chat, when the doctor has a linked account.
    pub doctor_chat: Option<i64>,
}

/// Who hears about booking `id`; `None` when it no longer exists.
pub async fn audience(
    db: impl sqlx::PgExecutor<'_>,
    id: Uuid,
) -> Result<Option<Audience>, sqlx::Error> {
    sqlx::query_as(
        "SELECT p.telegram_user_id AS patient_chat, p.name AS patient_name,
                du.telegram_user_id AS doctor_chat
         FROM bookings b
         JOIN users p ON p.id = b.patient_id
         JOIN doctors d ON d.id = b.doctor_id
         LEFT JOIN users du ON du.id = d.user_id
         WHERE b.id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}
