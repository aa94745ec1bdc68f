//! When doctors work: weekly hours and time off.

use jiff_sqlx::ToSqlx as _;
use sqlx::PgConnection;
use uuid::Uuid;

use super::*;

/// Replaces a doctor's weekly schedule. Overlapping intervals on one weekday are refused by the
/// database (an exclusion constraint).
pub async fn set_weekly_schedule(
    conn: &mut PgConnection,
    doctor_id: Uuid,
    week: &[WeeklyHours],
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM doctor_schedules WHERE doctor_id = $1")
        .bind(doctor_id)
        .execute(&mut *conn)
        .await?;
    for hours in week {
        sqlx::query(
            "INSERT INTO doctor_schedules (id, doctor_id, weekday, starts_at, ends_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(Uuid::now_v7())
        .bind(doctor_id)
        .bind(hours.weekday)
        .bind(hours.starts_at.to_sqlx())
        .bind(hours.ends_at.to_sqlx())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// A doctor's weekly hours, by weekday and start.
pub async fn weekly_schedule(
    conn: &mut PgConnection,
    doctor_id: Uuid,
) -> Result<Vec<WeeklyHours>, sqlx::Error> {
    let rows: Vec<(i16, jiff_sqlx::Time, jiff_sqlx::Time)> = sqlx::query_as(
        "SELECT weekday, starts_at, ends_at FROM doctor_schedules
         WHERE doctor_id = $1 ORDER BY weekday, starts_at",
    )
    .bind(doctor_id)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(weekday, starts_at, ends_at)| WeeklyHours {
            weekday,
            starts_at: starts_at.to_jiff(),
            ends_at: ends_at.to_jiff(),
        })
        .collect())
}

/// Replaces an active doctor's weekly schedule, refusing overlaps.
pub async fn replace_schedule(
    conn: &mut PgConnection,
    doctor_id: Uuid,
    week: &[WeeklyHours],
) -> Result<(), CatalogError> {
    let active: Option<bool> =
        sqlx::query_scalar("SELECT active FROM doctors WHERE id = $1 FOR UPDATE")
            .bind(doctor_id)
            .fetch_optional(&mut *conn)
            .await?;
    if active != Some(true) {
        return Err(CatalogError::NotFound);
    }
    set_weekly_schedule(conn, doctor_id, week)
        .await
        .map_err(classify)
}

/// A period a doctor is away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeOff {
    /// Its id.
    pub id: Uuid,
    /// Start.
    pub starts_at: jiff::Timestamp,
    /// End (exclusive).
    pub ends_at: jiff::Timestamp,
    /// Why.
    pub reason: String,
}

/// Records time off for an active doctor.
pub async fn add_time_off(
    conn: &mut PgConnection,
    doctor_id: Uuid,
    starts_at: jiff::Timestamp,
    ends_at: jiff::Timestamp,
    reason: &str,
) -> Result<TimeOff, CatalogError> {
    let active: Option<bool> = sqlx::query_scalar("SELECT active FROM doctors WHERE id = $1")
        .bind(doctor_id)
        .fetch_optional(&mut *conn)
        .await?;
    if active != Some(true) {
        return Err(CatalogError::NotFound);
    }
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO doctor_time_off (id, doctor_id, period, reason)
         VALUES ($1, $2, tstzrange($3, $4, '[)'), $5)",
    )
    .bind(id)
    .bind(doctor_id)
    .bind(starts_at.to_sqlx())
    .bind(ends_at.to_sqlx())
    .bind(reason)
    .execute(conn)
    .await?;
    Ok(TimeOff {
        id,
        starts_at,
        ends_at,
        reason: reason.to_owned(),
    })
}

/// A doctor's time off ending after `after`, by start.
pub async fn list_time_off(
    conn: &mut PgConnection,
    doctor_id: Uuid,
    after: jiff::Timestamp,
) -> Result<Vec<TimeOff>, sqlx::Error> {
    let rows: Vec<(Uuid, jiff_sqlx::Timestamp, jiff_sqlx::Timestamp, String)> = sqlx::query_as(
        "SELECT id, lower(period), upper(period), reason FROM doctor_time_off
         WHERE doctor_id = $1 AND upper(period) > $2 ORDER BY lower(period)",
    )
    .bind(doctor_id)
    .bind(after.to_sqlx())
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, a, b, reason)| TimeOff {
            id,
            starts_at: a.to_jiff(),
            ends_at: b.to_jiff(),
            reason,
        })
        .collect())
}

/// Deletes one time-off entry of a doctor. Returns whether it existed.
pub async fn delete_time_off(
    conn: &mut PgConnection,
    doctor_id: Uuid,
    id: Uuid,
) -> Result<bool, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM doctor_time_off WHERE id = $1 AND doctor_id = $2")
            .bind(id)
            .bind(doctor_id)
            .execute(conn)
            .await?
            .rows_affected()
            == 1,
    )
}
