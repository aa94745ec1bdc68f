//! `/api/v1/doctors/{id}/slots`: free appointment slots.

use axum::Json;
use axum::extract::State;
use jiff::{SignedDuration, Timestamp};
use medsync_domain::clock::{Offsets, Rfc3339, parse_rfc3339};
use medsync_domain::slots;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::error::{ApiError, Problem};
use crate::extract::{ApiPath, ApiQuery};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(free_slots))
}

/// The longest range one request may ask for.
pub const MAX_RANGE_DAYS: i64 = 31;

/// The range to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Range {
    /// From (RFC 3339 with offset, e.g. `2030-01-07T00:00:00+01:00`).
    pub from: String,
    /// To, exclusive (RFC 3339 with offset); at most 31 days after `from`.
    pub to: String,
}

/// A free slot.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlotOut {
    /// Start, RFC 3339 with the clinic's offset at that time.
    #[schema(value_type = String, example = "2030-01-07T09:00:00+01:00")]
    pub starts_at: Rfc3339,
    /// End, exclusive.
    #[schema(value_type = String)]
    pub ends_at: Rfc3339,
}

/// A doctor's free slots starting in `[from, to)`: the weekly schedule in the clinic's time
/// zone, minus time off, bookings and the past.
#[utoipa::path(get, path = "/api/v1/doctors/{id}/slots", tag = "catalog", params(("id" = Uuid, Path, description = "Doctor id"), Range),
    responses(
        (status = 200, description = "Free slots, earliest first", body = [SlotOut]),
        (status = 400, description = "Missing, malformed, reversed or longer than 31 days range", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such doctor", body = Problem, content_type = "application/problem+json"),
    ))]
async fn free_slots(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(range): ApiQuery<Range>,
) -> Result<Json<Vec<SlotOut>>, ApiError> {
    let from =
        parse_rfc3339(&range.from).map_err(|why| ApiError::BadRequest(format!("from: {why}")))?;
    let to = parse_rfc3339(&range.to).map_err(|why| ApiError::BadRequest(format!("to: {why}")))?;
    if to <= from {
        return Err(ApiError::BadRequest("to must be after from".to_owned()));
    }
    if to.duration_since(from) > SignedDuration::from_hours(24 * MAX_RANGE_DAYS) {
        return Err(ApiError::BadRequest(format!(
            "the range may span at most {MAX_RANGE_DAYS} days"
        )));
    }
    let mut conn = state.infra.db.acquire().await?;
    let calendar = slots::load_calendar(&mut conn, id, from, to)
        .await?
        .ok_or_else(|| ApiError::not_found("doctor"))?;
    let tz = &state.config.booking.timezone;
    let free = slots::free_slots(&calendar, tz, from, to, Timestamp::now());
    let mut offsets = Offsets::new(tz);
    Ok(Json(
        free.into_iter()
            .map(|s| SlotOut {
                starts_at: offsets.rfc3339(s.starts_at),
                ends_at: offsets.rfc3339(s.ends_at),
            })
            .collect(),
    ))
}
