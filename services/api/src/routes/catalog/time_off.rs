//! `/api/v1/doctors/{id}/time-off`: the periods a doctor does not work.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use medsync_domain::catalog::{self, TimeOff};
use medsync_domain::clock::{parse_rfc3339, rfc3339_in};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{Admins, Authorized};
use crate::error::doc::{InvalidFields, MalformedRequest, NotSignedIn, WrongRole};
use crate::error::{ApiError, Fields, Problem};
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;

use super::*;

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
pub(super) async fn list_time_off(
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
pub(super) async fn add_time_off(
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
    state.slots_cache.changed(id);
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
pub(super) async fn delete_time_off(
    State(state): State<AppState>,
    _admin: Authorized<Admins>,
    ApiPath((id, time_off_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    let mut conn = state.infra.db.acquire().await?;
    if catalog::delete_time_off(&mut conn, id, time_off_id).await? {
        state.slots_cache.changed(id);
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("time off"))
    }
}
