//! `/api/v1/doctors`: the list (by specialty or name), one doctor with their weekly hours, and admins' edits.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use medsync_domain::catalog::{self, Doctor, DoctorChange, WeeklyHours};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::{Admins, Authorized};
use crate::error::doc::{InvalidFields, MalformedRequest, NotSignedIn, WrongRole};
use crate::error::{ApiError, Fields, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::kept_pages::{self, SearchKey};
use crate::routes::{PageInfo, Pagination};
use crate::state::AppState;

use super::*;

/// A doctor.
#[derive(Debug, Serialize, ToSchema)]
pub struct DoctorOut {
    /// Its id.
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// For patients.
    pub bio: String,
    /// Length of one appointment, in minutes.
    pub slot_minutes: i32,
    /// Specialties.
    pub specialties: Vec<SpecialtyOut>,
}

impl From<Doctor> for DoctorOut {
    fn from(d: Doctor) -> Self {
        Self {
            id: d.id,
            name: d.name,
            bio: d.bio,
            slot_minutes: d.slot_minutes,
            specialties: d.specialties.into_iter().map(Into::into).collect(),
        }
    }
}

/// One page of doctors.
#[derive(Debug, Serialize, ToSchema)]
pub struct DoctorPage {
    /// The doctors of this page.
    pub items: Vec<DoctorOut>,
    /// Paging.
    #[serde(flatten)]
    pub page: PageInfo,
}

/// Filters of the doctor list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DoctorFilter {
    /// Only doctors of this specialty.
    pub specialty_id: Option<Uuid>,
    /// Only doctors whose name contains this text (case-insensitive).
    pub q: Option<String>,
    /// Page number, from 1.
    #[param(minimum = 1)]
    pub page: Option<u32>,
    /// Items per page, 1 to 100.
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<u32>,
}

/// Active doctors by name, filtered and paginated (`page`/`per_page`, with the `total`).
#[utoipa::path(get, path = "/api/v1/doctors", tag = "catalog", params(DoctorFilter),
    responses(
        (status = 200, description = "A page of doctors", body = DoctorPage),
        MalformedRequest, InvalidFields,
    ))]
pub(super) async fn list_doctors(
    State(state): State<AppState>,
    ApiQuery(filter): ApiQuery<DoctorFilter>,
) -> Result<Response, ApiError> {
    let (page, per_page, limit, offset) = Pagination {
        page: filter.page,
        per_page: filter.per_page,
    }
    .resolve()?;
    let search = filter.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    if search.is_some_and(|q| q.chars().count() > 100) {
        return Err(ApiError::field("q", "must be at most 100 characters"));
    }
    // Kept while the catalog is unchanged (`kept_pages`).
    let key = SearchKey {
        specialty: filter.specialty_id,
        search: search.map(str::to_owned),
        page,
        per_page,
    };
    if let Some(json) = state.doctors_cache.get(&key) {
        return Ok(kept_pages::respond(json));
    }
    let ticket = state.doctors_cache.ticket();
    let mut conn = state.infra.db.acquire().await?;
    let (items, total) =
        catalog::list_doctors(&mut conn, filter.specialty_id, search, limit, offset).await?;
    drop(conn);
    let json = Bytes::from(
        serde_json::to_vec(&DoctorPage {
            items: items.into_iter().map(Into::into).collect(),
            page: PageInfo {
                page,
                per_page,
                total,
            },
        })
        .map_err(anyhow::Error::from)?,
    );
    if let Some(ticket) = ticket {
        state.doctors_cache.keep(key, json.clone(), ticket, None);
    }
    Ok(kept_pages::respond(json))
}

/// A doctor with their weekly hours.
#[derive(Debug, Serialize, ToSchema)]
pub struct DoctorDetail {
    /// The doctor.
    #[serde(flatten)]
    pub doctor: DoctorOut,
    /// Weekly hours, local time (see `timezone`).
    pub schedule: Vec<HoursOut>,
    /// The clinic's time zone, e.g. `Europe/Berlin`.
    pub timezone: String,
}

/// An active doctor with their weekly hours.
#[utoipa::path(get, path = "/api/v1/doctors/{id}", tag = "catalog",
    params(("id" = Uuid, Path, description = "Doctor id")),
    responses(
        (status = 200, description = "The doctor", body = DoctorDetail),
        (status = 404, description = "No such doctor", body = Problem, content_type = "application/problem+json"),
    ))]
pub(super) async fn get_doctor(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<DoctorDetail>, ApiError> {
    let mut conn = state.infra.db.acquire().await?;
    let doctor = catalog::get_doctor(&mut conn, id)
        .await?
        .ok_or_else(|| ApiError::not_found("doctor"))?;
    let schedule = catalog::weekly_schedule(&mut conn, id).await?;
    Ok(Json(detail(&state, doctor, schedule)))
}

pub(super) fn detail(state: &AppState, doctor: Doctor, schedule: Vec<WeeklyHours>) -> DoctorDetail {
    DoctorDetail {
        doctor: doctor.into(),
        schedule: schedule.into_iter().map(Into::into).collect(),
        timezone: state
            .config
            .booking
            .timezone
            .iana_name()
            .unwrap_or("UTC")
            .to_owned(),
    }
}

/// A doctor's fields; absent ones are kept (on create, `name` is required).
#[derive(Debug, Deserialize, ToSchema)]
pub struct DoctorInput {
    /// Display name.
    pub name: Option<String>,
    /// For patients.
    pub bio: Option<String>,
    /// Appointment length, 5 to 480 minutes.
    #[schema(minimum = 5, maximum = 480)]
    pub slot_minutes: Option<i32>,
    /// Replaces the specialties.
    pub specialty_ids: Option<Vec<Uuid>>,
    /// The doctor's own account (it becomes a doctor account).
    pub user_id: Option<Uuid>,
}

pub(super) fn doctor_change(input: &DoctorInput, creating: bool) -> Result<DoctorChange, ApiError> {
    let mut fields = Fields::default();
    let name = match (&input.name, creating) {
        (Some(n), _) => fields.check("name", medsync_domain::users::parse_name(n)),
        (None, true) => fields.check::<String>("name", Err("is required")),
        (None, false) => None,
    };
    let bio = match &input.bio {
        Some(b) => fields.check("bio", check_text(b, 2000)).map(str::to_owned),
        None => None,
    };
    let slot_minutes = match input.slot_minutes {
        Some(m) => fields.check(
            "slot_minutes",
            if (5..=480).contains(&m) {
                Ok(m)
            } else {
                Err("must be from 5 to 480")
            },
        ),
        None => None,
    };
    let specialty_ids = match &input.specialty_ids {
        Some(ids) => fields.check(
            "specialty_ids",
            if ids.len() <= 20 {
                Ok(ids.clone())
            } else {
                Err("at most 20")
            },
        ),
        None => None,
    };
    fields.finish()?;
    Ok(DoctorChange {
        name,
        bio,
        slot_minutes,
        specialty_ids,
        user_id: input.user_id.map(Some),
    })
}

/// Add a doctor (admins).
#[utoipa::path(post, path = "/api/v1/doctors", tag = "catalog", security(("bearer" = [])), request_body = DoctorInput,
    responses(
        (status = 201, description = "Created", body = DoctorOut),
        MalformedRequest, NotSignedIn, WrongRole,
        (status = 409, description = "The account is another doctor's", body = Problem, content_type = "application/problem+json"),
        InvalidFields,
    ))]
pub(super) async fn create_doctor(
    State(state): State<AppState>,
    _admin: Authorized<Admins>,
    ApiJson(input): ApiJson<DoctorInput>,
) -> Result<(StatusCode, Json<DoctorOut>), ApiError> {
    let change = doctor_change(&input, true)?;
    let mut tx = state.infra.db.begin().await?;
    let doctor = catalog::create_doctor(&mut tx, &change).await?;
    tx.commit().await?;
    state.doctors_cache.changed_everyone();
    // A patient's account made a doctor's has every session ended (the role changed).
    if let Some(user) = input.user_id {
        state.sessions.ended(user);
    }
    Ok((StatusCode::CREATED, Json(doctor.into())))
}

/// Change a doctor (admins).
#[utoipa::path(patch, path = "/api/v1/doctors/{id}", tag = "catalog", security(("bearer" = [])), request_body = DoctorInput,
    params(("id" = Uuid, Path, description = "Doctor id")),
    responses(
        (status = 200, description = "Updated", body = DoctorOut),
        MalformedRequest, NotSignedIn, WrongRole,
        (status = 404, description = "No such doctor", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The account is another doctor's", body = Problem, content_type = "application/problem+json"),
        InvalidFields,
    ))]
pub(super) async fn update_doctor(
    State(state): State<AppState>,
    _admin: Authorized<Admins>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<DoctorInput>,
) -> Result<Json<DoctorOut>, ApiError> {
    let change = doctor_change(&input, false)?;
    let mut tx = state.infra.db.begin().await?;
    let doctor = catalog::update_doctor(&mut tx, id, &change).await?;
    tx.commit().await?;
    state.slots_cache.changed(id);
    state.doctors_cache.changed_everyone();
    // Lists of bookings show the doctor's name, and the agenda is the linked account's.
    if input.name.is_some() || input.user_id.is_some() {
        state.lists_cache.changed_everyone();
    }
    if let Some(user) = input.user_id {
        state.sessions.ended(user);
    }
    Ok(Json(doctor.into()))
}

/// Retire a doctor (admins): gone from the catalog, no new bookings; existing bookings stay.
#[utoipa::path(delete, path = "/api/v1/doctors/{id}", tag = "catalog", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Doctor id")),
    responses(
        (status = 204, description = "Retired"),
        NotSignedIn, WrongRole,
        (status = 404, description = "No such doctor", body = Problem, content_type = "application/problem+json"),
    ))]
pub(super) async fn retire_doctor(
    State(state): State<AppState>,
    _admin: Authorized<Admins>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    let mut conn = state.infra.db.acquire().await?;
    if catalog::retire_doctor(&mut conn, id).await? {
        state.slots_cache.changed(id);
        state.doctors_cache.changed_everyone();
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("doctor"))
    }
}
