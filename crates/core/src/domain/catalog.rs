//! Specialties, doctors and their weekly schedules.

use serde::Serialize;
use sqlx::PgConnection;
use time::Time;
use uuid::Uuid;

/// A medical specialty, e.g. Cardiology.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq, Eq)]
pub struct Specialty {
    /// Its id.
    pub id: Uuid,
    /// URL-safe name, e.g. `cardiology`.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// One or two sentences for patients.
    pub description: String,
}

/// One interval of a doctor's working week, in the clinic's local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeeklyHours {
    /// ISO weekday, 1 = Monday … 7 = Sunday.
    pub weekday: i16,
    /// Start, local time.
    pub starts_at: Time,
    /// End, local time (exclusive).
    pub ends_at: Time,
}

/// Creates the specialty with this slug, or updates its name and description.
pub async fn upsert_specialty(
    conn: &mut PgConnection,
    slug: &str,
    name: &str,
    description: &str,
) -> Result<Specialty, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO specialties (id, slug, name, description) VALUES ($1, $2, $3, $4)
         ON CONFLICT (slug) DO UPDATE SET name = EXCLUDED.name, description = EXCLUDED.description
         RETURNING id, slug, name, description",
    )
    .bind(Uuid::now_v7())
    .bind(slug)
    .bind(name)
    .bind(description)
    .fetch_one(conn)
    .await
}

/// All specialties, by name.
pub async fn list_specialties(conn: &mut PgConnection) -> Result<Vec<Specialty>, sqlx::Error> {
    sqlx::query_as("SELECT id, slug, name, description FROM specialties ORDER BY name")
        .fetch_all(conn)
        .await
}

/// Finds the doctor with this exact name, or creates one; then sets their specialties and
/// replaces their weekly schedule. Meant for seeding and imports: one call describes a doctor.
pub async fn upsert_doctor(
    conn: &mut PgConnection,
    name: &str,
    bio: &str,
    slot_minutes: i32,
    specialty_ids: &[Uuid],
    week: &[WeeklyHours],
) -> Result<Uuid, sqlx::Error> {
    let existing: Option<Uuid> =
        sqlx::query_scalar("SELECT id FROM doctors WHERE name = $1 ORDER BY created_at LIMIT 1")
            .bind(name)
            .fetch_optional(&mut *conn)
            .await?;
    let id = match existing {
        Some(id) => {
            sqlx::query(
                "UPDATE doctors SET bio = $2, slot_minutes = $3, updated_at = now() WHERE id = $1",
            )
            .bind(id)
            .bind(bio)
            .bind(slot_minutes)
            .execute(&mut *conn)
            .await?;
            id
        }
        None => {
            sqlx::query_scalar(
                "INSERT INTO doctors (id, name, bio, slot_minutes) VALUES ($1, $2, $3, $4)
                 RETURNING id",
            )
            .bind(Uuid::now_v7())
            .bind(name)
            .bind(bio)
            .bind(slot_minutes)
            .fetch_one(&mut *conn)
            .await?
        }
    };
    sqlx::query("DELETE FROM doctor_specialties WHERE doctor_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO doctor_specialties (doctor_id, specialty_id) SELECT $1, unnest($2::uuid[])",
    )
    .bind(id)
    .bind(specialty_ids)
    .execute(&mut *conn)
    .await?;
    set_weekly_schedule(conn, id, week).await?;
    Ok(id)
}

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
        .bind(hours.starts_at)
        .bind(hours.ends_at)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
