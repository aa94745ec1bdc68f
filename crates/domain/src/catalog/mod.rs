//! Specialties, doctors and their weekly schedules.

use jiff::civil::Time;
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

mod doctors;
mod schedule;

pub use doctors::*;
pub use schedule::*;

/// A medical specialty, e.g. Cardiology.
#[derive(Debug, Clone, Serialize, serde::Deserialize, sqlx::FromRow, PartialEq, Eq)]
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

/// The specialties at least one active doctor practises, by name: what a patient can book.
pub async fn bookable_specialties(conn: &mut PgConnection) -> Result<Vec<Specialty>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.id, s.slug, s.name, s.description FROM specialties s
         WHERE EXISTS (SELECT 1 FROM doctor_specialties ds JOIN doctors d ON d.id = ds.doctor_id
                       WHERE ds.specialty_id = s.id AND d.active)
         ORDER BY s.name",
    )
    .fetch_all(conn)
    .await
}

/// Why a catalog write was refused.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// A referenced specialty or user does not exist.
    #[error("{0} does not exist")]
    Missing(&'static str),
    /// A unique value is taken (specialty slug or name, a user already linked to a doctor).
    #[error("{0} is already taken")]
    Taken(&'static str),
    /// Weekly hours overlap on one weekday.
    #[error("weekly hours overlap on one weekday")]
    Overlap,
    /// Nothing with this id.
    #[error("not found")]
    NotFound,
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

fn classify(error: sqlx::Error) -> CatalogError {
    let constraint = error
        .as_database_error()
        .and_then(|e| e.constraint())
        .map(str::to_owned);
    match constraint.as_deref() {
        Some("doctor_specialties_specialty_id_fkey") => CatalogError::Missing("a specialty"),
        Some("doctors_user_id_fkey") => CatalogError::Missing("the user"),
        Some("doctors_user_id_key") => CatalogError::Taken("this user"),
        Some("specialties_slug_key") => CatalogError::Taken("the slug"),
        Some("specialties_name_key") => CatalogError::Taken("the name"),
        Some("doctor_schedules_doctor_id_weekday_tsrange_excl") => CatalogError::Overlap,
        Some(c) if c.starts_with("doctor_schedules") => CatalogError::Overlap,
        _ => CatalogError::Database(error),
    }
}

/// Creates a specialty.
pub async fn create_specialty(
    conn: &mut PgConnection,
    slug: &str,
    name: &str,
    description: &str,
) -> Result<Specialty, CatalogError> {
    sqlx::query_as(
        "INSERT INTO specialties (id, slug, name, description) VALUES ($1, $2, $3, $4)
         RETURNING id, slug, name, description",
    )
    .bind(Uuid::now_v7())
    .bind(slug)
    .bind(name)
    .bind(description)
    .fetch_one(conn)
    .await
    .map_err(classify)
}

/// Updates a specialty; `None` keeps a field.
pub async fn update_specialty(
    conn: &mut PgConnection,
    id: Uuid,
    name: Option<&str>,
    description: Option<&str>,
) -> Result<Specialty, CatalogError> {
    let row: Option<Specialty> = sqlx::query_as(
        "UPDATE specialties SET name = COALESCE($2, name), description = COALESCE($3, description)
         WHERE id = $1 RETURNING id, slug, name, description",
    )
    .bind(id)
    .bind(name)
    .bind(description)
    .fetch_optional(conn)
    .await
    .map_err(classify)?;
    row.ok_or(CatalogError::NotFound)
}

/// Deletes a specialty (doctors keep their other specialties). Returns whether it existed.
pub async fn delete_specialty(conn: &mut PgConnection, id: Uuid) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query("DELETE FROM specialties WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?
        .rows_affected()
        == 1)
}
