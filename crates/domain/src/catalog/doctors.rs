//! Doctors: their profiles, specialties, accounts and retirement.

use sqlx::PgConnection;
use uuid::Uuid;

use super::*;

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

/// A doctor as the catalog shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Doctor {
    /// Its id.
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// A few words for patients.
    pub bio: String,
    /// Length of one appointment.
    pub slot_minutes: i32,
    /// The doctor's own account, if any.
    pub user_id: Option<Uuid>,
    /// Specialties.
    pub specialties: Vec<Specialty>,
}

#[derive(sqlx::FromRow)]
struct DoctorRow {
    id: Uuid,
    name: String,
    bio: String,
    slot_minutes: i32,
    user_id: Option<Uuid>,
    specialties: sqlx::types::Json<Vec<Specialty>>,
}

impl From<DoctorRow> for Doctor {
    fn from(r: DoctorRow) -> Self {
        Self {
            id: r.id,
            name: r.name,
            bio: r.bio,
            slot_minutes: r.slot_minutes,
            user_id: r.user_id,
            specialties: r.specialties.0,
        }
    }
}

/// A doctor with its specialties, of rows `d` that have the columns of `doctors`.
const DOCTOR_COLUMNS: &str = "SELECT d.id, d.name, d.bio, d.slot_minutes, d.user_id,
    COALESCE((SELECT json_agg(json_build_object('id', s.id, 'slug', s.slug, 'name', s.name,
                'description', s.description) ORDER BY s.name)
              FROM doctor_specialties ds JOIN specialties s ON s.id = ds.specialty_id
              WHERE ds.doctor_id = d.id), '[]') AS specialties";

/// Active doctors, by name: optionally of one specialty and/or whose name contains `search`
/// (case-insensitive). Returns one page and the total.
///
/// Each combination of filters is its own statement, with no `$1 IS NULL OR …`: PostgreSQL
/// plans such a catch-all statement for its values at every execution (its plan for any
/// values keeps every branch, and looks dearer), where a statement with only the filters
/// given gets one plan per connection. The specialties are gathered for the page's rows only,
/// after the limit: with them gathered before it, the plan for any limit looked dearer than
/// one for the values, and the page was planned anew each time too.
pub async fn list_doctors(
    conn: &mut PgConnection,
    specialty: Option<Uuid>,
    search: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Doctor>, i64), sqlx::Error> {
    let pattern = search.map(|s| {
        let escaped = s
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        format!("%{}%", escaped.to_lowercase())
    });
    let filtered = |head: &str| {
        let mut query = sqlx::QueryBuilder::<sqlx::Postgres>::new(head);
        query.push(" WHERE d.active");
        if let Some(id) = specialty {
            query
                .push(
                    " AND EXISTS (SELECT 1 FROM doctor_specialties x
                                  WHERE x.doctor_id = d.id AND x.specialty_id = ",
                )
                .push_bind(id)
                .push(")");
        }
        if let Some(pattern) = &pattern {
            query
                .push(" AND lower(d.name) LIKE ")
                .push_bind(pattern.as_str());
        }
        query
    };
    let total: i64 = filtered("SELECT count(*) FROM doctors d")
        .build_query_scalar()
        .fetch_one(&mut *conn)
        .await?;
    let mut page = filtered(&format!(
        "{DOCTOR_COLUMNS} FROM (SELECT d.id, d.name, d.bio, d.slot_minutes, d.user_id
                                FROM doctors d"
    ));
    page.push(" ORDER BY d.name, d.id LIMIT ")
        .push_bind(limit)
        .push(" OFFSET ")
        .push_bind(offset)
        .push(") d ORDER BY d.name, d.id");
    let rows: Vec<DoctorRow> = page.build_query_as().fetch_all(&mut *conn).await?;
    Ok((rows.into_iter().map(Doctor::from).collect(), total))
}

/// An active doctor.
pub async fn get_doctor(conn: &mut PgConnection, id: Uuid) -> Result<Option<Doctor>, sqlx::Error> {
    let row: Option<DoctorRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{DOCTOR_COLUMNS} FROM doctors d WHERE d.id = $1 AND d.active"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(Doctor::from))
}

/// What [`create_doctor`] and [`update_doctor`] write; `None` keeps a field.
#[derive(Debug, Clone, Default)]
pub struct DoctorChange {
    /// Display name.
    pub name: Option<String>,
    /// Bio.
    pub bio: Option<String>,
    /// Appointment length.
    pub slot_minutes: Option<i32>,
    /// Replaces the specialties.
    pub specialty_ids: Option<Vec<Uuid>>,
    /// Links the doctor's account (`Some(None)` unlinks).
    pub user_id: Option<Option<Uuid>>,
}

/// Creates a doctor (name required) in the caller's transaction.
pub async fn create_doctor(
    conn: &mut PgConnection,
    change: &DoctorChange,
) -> Result<Doctor, CatalogError> {
    let id: Uuid = sqlx::query_scalar(
        "INSERT INTO doctors (id, name, bio, slot_minutes, user_id) VALUES ($1, $2, $3, $4, $5)
         RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(change.name.as_deref().unwrap_or_default())
    .bind(change.bio.as_deref().unwrap_or_default())
    .bind(change.slot_minutes.unwrap_or(30))
    .bind(change.user_id.flatten())
    .fetch_one(&mut *conn)
    .await
    .map_err(classify)?;
    set_specialties(
        conn,
        id,
        change.specialty_ids.as_deref().unwrap_or_default(),
    )
    .await?;
    link_doctor_account(conn, change.user_id.flatten()).await?;
    get_doctor(conn, id).await?.ok_or(CatalogError::NotFound)
}

/// Updates an active doctor in the caller's transaction.
pub async fn update_doctor(
    conn: &mut PgConnection,
    id: Uuid,
    change: &DoctorChange,
) -> Result<Doctor, CatalogError> {
    let updated = sqlx::query(
        "UPDATE doctors SET name = COALESCE($2, name), bio = COALESCE($3, bio),
            slot_minutes = COALESCE($4, slot_minutes),
            user_id = CASE WHEN $5 THEN $6 ELSE user_id END, updated_at = now()
         WHERE id = $1 AND active",
    )
    .bind(id)
    .bind(change.name.as_deref())
    .bind(change.bio.as_deref())
    .bind(change.slot_minutes)
    .bind(change.user_id.is_some())
    .bind(change.user_id.flatten())
    .execute(&mut *conn)
    .await
    .map_err(classify)?
    .rows_affected();
    if updated == 0 {
        return Err(CatalogError::NotFound);
    }
    if let Some(ids) = &change.specialty_ids {
        set_specialties(conn, id, ids).await?;
    }
    link_doctor_account(conn, change.user_id.flatten()).await?;
    get_doctor(conn, id).await?.ok_or(CatalogError::NotFound)
}

/// A user linked to a doctor signs in as a doctor. The role change ends the account's
/// sessions, so that no token issued for the old role lives on.
async fn link_doctor_account(
    conn: &mut PgConnection,
    user_id: Option<Uuid>,
) -> Result<(), CatalogError> {
    if let Some(user_id) = user_id {
        let promoted = sqlx::query(
            "UPDATE users SET role = 'doctor', updated_at = now() WHERE id = $1 AND role = 'patient'",
        )
        .bind(user_id)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if promoted > 0 {
            crate::sessions::revoke_all(conn, user_id, None, jiff::Timestamp::now()).await?;
            let event = crate::audit::Event::new("user.role.changed", crate::audit::Channel::Api)
                .on(user_id)
                .details(serde_json::json!({"from": "patient", "to": "doctor"}));
            crate::audit::record(conn, event).await?;
        }
    }
    Ok(())
}

async fn set_specialties(
    conn: &mut PgConnection,
    id: Uuid,
    specialty_ids: &[Uuid],
) -> Result<(), CatalogError> {
    sqlx::query("DELETE FROM doctor_specialties WHERE doctor_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO doctor_specialties (doctor_id, specialty_id)
         SELECT $1, s FROM unnest($2::uuid[]) AS s ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(specialty_ids)
    .execute(conn)
    .await
    .map_err(classify)?;
    Ok(())
}

/// Retires a doctor: hidden from the catalog and offers no slots; past and future bookings
/// stay as they are. Returns whether an active doctor was retired.
pub async fn retire_doctor(conn: &mut PgConnection, id: Uuid) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE doctors SET active = false, updated_at = now() WHERE id = $1 AND active",
    )
    .bind(id)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}
