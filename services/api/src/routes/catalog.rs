//! `/api/v1/specialties` and `/api/v1/doctors`: the catalog; admins edit it.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use medsync_domain::catalog::{
    self, CatalogError, Doctor, DoctorChange, Specialty, TimeOff, WeeklyHours,
};
use medsync_domain::clock::{parse_rfc3339, rfc3339_in};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::{Admins, Authorized};
use crate::error::doc::{InvalidFields, MalformedRequest, NotSignedIn, WrongRole};
use crate::error::{ApiError, Fields, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::routes::{PageInfo, Pagination};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_specialties, create_specialty))
        .routes(routes!(update_specialty, delete_specialty))
        .routes(routes!(list_doctors, create_doctor))
        .routes(routes!(get_doctor, update_doctor, retire_doctor))
        .routes(routes!(set_schedule))
        .routes(routes!(list_time_off, add_time_off))
        .routes(routes!(delete_time_off))
}

impl From<CatalogError> for ApiError {
    fn from(error: CatalogError) -> Self {
        match error {
            CatalogError::Missing(what) => Self::Unprocessable(format!("{what} does not exist")),
            CatalogError::Taken(what) => Self::Conflict(format!("{what} is already taken")),
            CatalogError::Overlap => Self::field("hours", "intervals of one weekday overlap"),
            CatalogError::NotFound => Self::not_found("doctor or specialty"),
            CatalogError::Database(e) => e.into(),
        }
    }
}

/// A specialty.
#[derive(Debug, Serialize, ToSchema)]
pub struct SpecialtyOut {
    /// Its id.
    pub id: Uuid,
    /// URL-safe name.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// For patients.
    pub description: String,
}

impl From<Specialty> for SpecialtyOut {
    fn from(s: Specialty) -> Self {
        Self {
            id: s.id,
            slug: s.slug,
            name: s.name,
            description: s.description,
        }
    }
}

/// Every specialty, by name.
#[utoipa::path(get, path = "/api/v1/specialties", tag = "catalog",
    responses((status = 200, description = "Specialties", body = [SpecialtyOut])))]
async fn list_specialties(
    State(state): State<AppState>,
) -> Result<Json<Vec<SpecialtyOut>>, ApiError> {
    let mut conn = state.infra.db.acquire().await?;
    let list = catalog::list_specialties(&mut conn).await?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

/// A new specialty.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewSpecialty {
    /// Lower-case words joined by `-`, e.g. `sports-medicine`.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// For patients.
    pub description: Option<String>,
}

fn check_slug(slug: &str) -> Result<&str, &'static str> {
    let ok = (1..=60).contains(&slug.len())
        && slug.split('-').all(|w| {
            !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
    if ok {
        Ok(slug)
    } else {
        Err("must be lower-case letters and digits joined by -")
    }
}

fn check_text(value: &str, max: usize) -> Result<&str, &'static str> {
    if value.chars().count() > max {
        Err("is too long")
    } else if value.chars().any(|c| c.is_control() && c != '\n') {
        Err("must not contain control characters")
    } else {
        Ok(value)
    }
}

fn check_title(value: &str) -> Result<String, &'static str> {
    let value = value.trim();
    if value.is_empty() {
        return Err("must not be empty");
    }
    check_text(value, 100).map(str::to_owned)
}

/// Create a specialty (admins).
#[utoipa::path(post, path = "/api/v1/specialties", tag = "catalog", security(("bearer" = [])), request_body = NewSpecialty,
    responses(
        (status = 201, description = "Created", body = SpecialtyOut),
        MalformedRequest, NotSignedIn, WrongRole,
        (status = 409, description = "Slug or name taken", body = Problem, content_type = "application/problem+json"),
        InvalidFields,
    ))]
async fn create_specialty(
    State(state): State<AppState>,
    _admin: Authorized<Admins>,
    ApiJson(request): ApiJson<NewSpecialty>,
) -> Result<(StatusCode, Json<SpecialtyOut>), ApiError> {
    let mut fields = Fields::default();
    let slug = fields
        .check("slug", check_slug(&request.slug))
        .map(str::to_owned);
    let name = fields.check("name", check_title(&request.name));
    let description = fields
        .check(
            "description",
            check_text(request.description.as_deref().unwrap_or_default(), 2000),
        )
        .map(str::to_owned);
    fields.finish()?;
    let (Some(slug), Some(name), Some(description)) = (slug, name, description) else {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "validated fields missing"
        )));
    };
    let mut conn = state.infra.db.acquire().await?;
    let created = catalog::create_specialty(&mut conn, &slug, &name, &description).await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

/// Changes to a specialty.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SpecialtyChange {
    /// Display name.
    pub name: Option<String>,
    /// For patients.
    pub description: Option<String>,
}

/// Change a specialty (admins).
#[utoipa::path(patch, path = "/api/v1/specialties/{id}", tag = "catalog", security(("bearer" = [])), request_body = SpecialtyChange,
    params(("id" = Uuid, Path, description = "Specialty id")),
    responses(
        (status = 200, description = "Updated", body = SpecialtyOut),
        MalformedRequest, NotSignedIn, WrongRole,
        (status = 404, description = "No such specialty", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Name taken", body = Problem, content_type = "application/problem+json"),
        InvalidFields,
    ))]
async fn update_specialty(
    State(state): State<AppState>,
    _admin: Authorized<Admins>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(request): ApiJson<SpecialtyChange>,
) -> Result<Json<SpecialtyOut>, ApiError> {
    let mut fields = Fields::default();
    let name = match &request.name {
        Some(n) => fields.check("name", check_title(n)),
        None => None,
    };
    let description = match &request.description {
        Some(d) => fields
            .check("description", check_text(d, 2000))
            .map(str::to_owned),
        None => None,
    };
    fields.finish()?;
    let mut conn = state.infra.db.acquire().await?;
    let updated =
        catalog::update_specialty(&mut conn, id, name.as_deref(), description.as_deref()).await?;
    Ok(Json(updated.into()))
}

/// Delete a specialty (admins); doctors keep their other specialties.
#[utoipa::path(delete, path = "/api/v1/specialties/{id}", tag = "catalog", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Specialty id")),
    responses(
        (status = 204, description = "Deleted"),
        NotSignedIn, WrongRole,
        (status = 404, description = "No such specialty", body = Problem, content_type = "application/problem+json"),
    ))]
async fn delete_specialty(
    State(state): State<AppState>,
    _admin: Authorized<Admins>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    let mut conn = state.infra.db.acquire().await?;
    if catalog::delete_specialty(&mut conn, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("specialty"))
    }
}

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
async fn list_doctors(
    State(state): State<AppState>,
    ApiQuery(filter): ApiQuery<DoctorFilter>,
) -> Result<Json<DoctorPage>, ApiError> {
    let (page, per_page, limit, offset) = Pagination {
        page: filter.page,
        per_page: filter.per_page,
    }
    .resolve()?;
    let search = filter.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    if search.is_some_and(|q| q.chars().count() > 100) {
        return Err(ApiError::field("q", "must be at most 100 characters"));
    }
    let mut conn = state.infra.db.acquire().await?;
    let (items, total) =
        catalog::list_doctors(&mut conn, filter.specialty_id, search, limit, offset).await?;
    Ok(Json(DoctorPage {
        items: items.into_iter().map(Into::into).collect(),
        page: PageInfo {
            page,
            per_page,
            total,
        },
    }))
}

/// One interval of weekly hours, local time in the clinic's time zone.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HoursOut {
    /// ISO weekday: 1 = Monday … 7 = Sunday.
    #[schema(minimum = 1, maximum = 7)]
    pub weekday: i16,
    /// Start, `HH:MM`.
    #[schema(example = "09:00")]
    pub starts_at: String,
    /// End, `HH:MM` (exclusive).
    #[schema(example = "12:30")]
    pub ends_at: String,
}

fn hhmm(t: time::Time) -> String {
    format!("{:02}:{:02}", t.hour(), t.minute())
}

fn parse_hhmm(raw: &str) -> Result<time::Time, &'static str> {
    let (h, m) = raw.split_once(':').ok_or("must be HH:MM")?;
    let (h, m): (u8, u8) = (
        h.parse().map_err(|_| "must be HH:MM")?,
        m.parse().map_err(|_| "must be HH:MM")?,
    );
    if h == 24 && m == 0 {
        return time::Time::from_hms(23, 59, 59).map_err(|_| "must be HH:MM");
    }
    time::Time::from_hms(h, m, 0).map_err(|_| "must be HH:MM between 00:00 and 24:00")
}

impl From<WeeklyHours> for HoursOut {
    fn from(h: WeeklyHours) -> Self {
        Self {
            weekday: h.weekday,
            starts_at: hhmm(h.starts_at),
            ends_at: hhmm(h.ends_at),
        }
    }
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
async fn get_doctor(
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

fn detail(state: &AppState, doctor: Doctor, schedule: Vec<WeeklyHours>) -> DoctorDetail {
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

fn doctor_change(input: &DoctorInput, creating: bool) -> Result<DoctorChange, ApiError> {
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
async fn create_doctor(
    State(state): State<AppState>,
    _admin: Authorized<Admins>,
    ApiJson(input): ApiJson<DoctorInput>,
) -> Result<(StatusCode, Json<DoctorOut>), ApiError> {
    let change = doctor_change(&input, true)?;
    let mut tx = state.infra.db.begin().await?;
    let doctor = catalog::create_doctor(&mut tx, &change).await?;
    tx.commit().await?;
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
async fn update_doctor(
    State(state): State<AppState>,
    _admin: Authorized<Admins>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<DoctorInput>,
) -> Result<Json<DoctorOut>, ApiError> {
    let change = doctor_change(&input, false)?;
    let mut tx = state.infra.db.begin().await?;
    let doctor = catalog::update_doctor(&mut tx, id, &change).await?;
    tx.commit().await?;
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
async fn retire_doctor(
    State(state): State<AppState>,
    _admin: Authorized<Admins>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    let mut conn = state.infra.db.acquire().await?;
    if catalog::retire_doctor(&mut conn, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("doctor"))
    }
}

/// A weekly schedule.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ScheduleInput {
    /// Every interval of the week (replaces the current schedule).
    pub hours: Vec<HoursOut>,
}

/// Replace a doctor's weekly hours (admins).
#[utoipa::path(put, path = "/api/v1/doctors/{id}/schedule", tag = "catalog", security(("bearer" = [])), request_body = ScheduleInput,
    params(("id" = Uuid, Path, description = "Doctor id")),
    responses(
        (status = 200, description = "The doctor with the new schedule", body = DoctorDetail),
        MalformedRequest, NotSignedIn, WrongRole,
        (status = 404, description = "No such doctor", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid or overlapping hours", body = Problem, content_type = "application/problem+json"),
    ))]
async fn set_schedule(
    State(state): State<AppState>,
    _admin: Authorized<Admins>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<ScheduleInput>,
) -> Result<Json<DoctorDetail>, ApiError> {
    let mut fields = Fields::default();
    let mut week = Vec::new();
    if input.hours.len() > 100 {
        fields.check::<()>("hours", Err("at most 100 intervals"));
    }
    for (i, h) in input.hours.iter().enumerate() {
        let weekday = fields.check(
            &format!("hours[{i}].weekday"),
            if (1..=7).contains(&h.weekday) {
                Ok(h.weekday)
            } else {
                Err("must be 1 (Monday) to 7 (Sunday)")
            },
        );
        let starts = fields.check(&format!("hours[{i}].starts_at"), parse_hhmm(&h.starts_at));
        let ends = fields.check(&format!("hours[{i}].ends_at"), parse_hhmm(&h.ends_at));
        if let (Some(weekday), Some(starts_at), Some(ends_at)) = (weekday, starts, ends) {
            if starts_at < ends_at {
                week.push(WeeklyHours {
                    weekday,
                    starts_at,
                    ends_at,
                });
            } else {
                fields.check::<()>(&format!("hours[{i}]"), Err("must start before it ends"));
            }
        }
    }
    fields.finish()?;
    let mut tx = state.infra.db.begin().await?;
    catalog::replace_schedule(&mut tx, id, &week).await?;
    let doctor = catalog::get_doctor(&mut tx, id)
        .await?
        .ok_or_else(|| ApiError::not_found("doctor"))?;
    let schedule = catalog::weekly_schedule(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(detail(&state, doctor, schedule)))
}

/// A period a doctor is away.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimeOffOut {
    /// Its id.
    pub id: Uuid,
    /// Start (RFC 3339).
    pub starts_at: String,
    /// End, exclusive (RFC 3339).
    pub ends_at: String,
    /// Why.
    pub reason: String,
}

impl TimeOffOut {
    fn new(state: &AppState, t: TimeOff) -> Self {
        let tz = &state.config.booking.timezone;
        Self {
            id: t.id,
            starts_at: rfc3339_in(t.starts_at, tz),
            ends_at: rfc3339_in(t.ends_at, tz),
            reason: t.reason,
        }
    }
}

/// A doctor's current and future time off (admins).
#[utoipa::path(get, path = "/api/v1/doctors/{id}/time-off", tag = "catalog", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Doctor id")),
    responses(
        (status = 200, description = "Time off", body = [TimeOffOut]),
        NotSignedIn, WrongRole,
    ))]
async fn list_time_off(
    State(state): State<AppState>,
    _admin: Authorized<Admins>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Vec<TimeOffOut>>, ApiError> {
    let mut conn = state.infra.db.acquire().await?;
    let list = catalog::list_time_off(&mut conn, id, jiff::Timestamp::now()).await?;
    Ok(Json(
        list.into_iter()
            .map(|t| TimeOffOut::new(&state, t))
            .collect(),
    ))
}

/// New time off.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewTimeOff {
    /// Start (RFC 3339 with offset).
    pub starts_at: String,
    /// End, exclusive (RFC 3339 with offset).
    pub ends_at: String,
    /// Why (shown to staff only).
    pub reason: Option<String>,
}

/// Record time off (admins): no slots are offered inside it. Existing bookings are not touched.
#[utoipa::path(post, path = "/api/v1/doctors/{id}/time-off", tag = "catalog", security(("bearer" = [])), request_body = NewTimeOff,
    params(("id" = Uuid, Path, description = "Doctor id")),
    responses(
        (status = 201, description = "Recorded", body = TimeOffOut),
        MalformedRequest, NotSignedIn, WrongRole,
        (status = 404, description = "No such doctor", body = Problem, content_type = "application/problem+json"),
        InvalidFields,
    ))]
async fn add_time_off(
    State(state): State<AppState>,
    _admin: Authorized<Admins>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<NewTimeOff>,
) -> Result<(StatusCode, Json<TimeOffOut>), ApiError> {
    let mut fields = Fields::default();
    let starts = fields.check(
        "starts_at",
        parse_rfc3339(&input.starts_at).map_err(|_| "must be an RFC 3339 date-time with an offset"),
    );
    let ends = fields.check(
        "ends_at",
        parse_rfc3339(&input.ends_at).map_err(|_| "must be an RFC 3339 date-time with an offset"),
    );
    let reason = fields
        .check(
            "reason",
            check_text(input.reason.as_deref().unwrap_or_default(), 500),
        )
        .map(str::to_owned);
    fields.finish()?;
    let (Some(starts_at), Some(ends_at), Some(reason)) = (starts, ends, reason) else {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "validated fields missing"
        )));
    };
    if starts_at >= ends_at {
        return Err(ApiError::field("ends_at", "must be after starts_at"));
    }
    let mut conn = state.infra.db.acquire().await?;
    let created = catalog::add_time_off(&mut conn, id, starts_at, ends_at, &reason).await?;
    Ok((StatusCode::CREATED, Json(TimeOffOut::new(&state, created))))
}

/// Delete time off (admins).
#[utoipa::path(delete, path = "/api/v1/doctors/{id}/time-off/{time_off_id}", tag = "catalog", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Doctor id"), ("time_off_id" = Uuid, Path, description = "Time-off id")),
    responses(
        (status = 204, description = "Deleted"),
        NotSignedIn, WrongRole,
        (status = 404, description = "No such time off", body = Problem, content_type = "application/problem+json"),
    ))]
async fn delete_time_off(
    State(state): State<AppState>,
    _admin: Authorized<Admins>,
    ApiPath((id, time_off_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    let mut conn = state.infra.db.acquire().await?;
    if catalog::delete_time_off(&mut conn, id, time_off_id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("time off"))
    }
}
