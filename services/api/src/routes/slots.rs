//! `/api/v1/doctors/{id}/slots`: free appointment slots.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use medsync_domain::clock::{Rfc3339, Rfc3339Writer, parse_rfc3339};
use medsync_domain::slots;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::error::{ApiError, Problem};
use crate::extract::{ApiPath, ApiQuery};
use crate::slots_cache::{Answer, Key};
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
///
/// Answers are kept and sent again while they are still the answer (see `slots_cache`); a
/// client that accepts gzip gets them compressed.
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
    headers: HeaderMap,
) -> Result<Response, ApiError> {
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
    let key = Key {
        doctor: id,
        from,
        to,
    };
    if let Some(answer) = state.slots_cache.get(&key) {
        return Ok(answer.respond(&headers));
    }
    let ticket = state.slots_cache.ticket();
    let mut conn = state.infra.db.acquire().await?;
    let calendar = slots::load_calendar(&mut conn, id, from, to)
        .await?
        .ok_or_else(|| ApiError::not_found("doctor"))?;
    drop(conn);
    let tz = &state.config.booking.timezone;
    let free = slots::free_slots(&calendar, tz, from, to, Timestamp::now());
    let answer = Answer::new(
        slots_json(&free, tz),
        free.first().map(|s| s.starts_at),
        ticket,
    );
    let response = answer.respond(&headers);
    state.slots_cache.keep(key, Arc::new(answer));
    Ok(response)
}

/// The answer's body: what `Json<Vec<SlotOut>>` would serialize, written directly. A week of
/// 5-minute slots is 2,000 objects and 4,000 instants, and serde's field-by-field writing with
/// its string escaping took a third of the request's time (see docs/benchmarks.md); every byte
/// here is ASCII with nothing to escape. The test below holds it equal to serde_json's output.
fn slots_json(free: &[slots::Slot], tz: &TimeZone) -> Vec<u8> {
    const FIRST: &[u8] = br#"{"starts_at":""#;
    const SECOND: &[u8] = br#"","ends_at":""#;
    let mut body = Vec::with_capacity(2 + free.len() * 82);
    let mut writer = Rfc3339Writer::new(tz);
    body.push(b'[');
    for (i, slot) in free.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(FIRST);
        writer.write(&mut body, slot.starts_at);
        body.extend_from_slice(SECOND);
        writer.write(&mut body, slot.ends_at);
        body.extend_from_slice(b"\"}");
    }
    body.push(b']');
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use medsync_domain::clock::Offsets;

    #[test]
    fn the_written_answer_is_what_serde_would_write() {
        for zone in ["UTC", "Europe/Berlin", "America/St_Johns"] {
            let tz = TimeZone::get(zone).unwrap();
            let mut free = Vec::new();
            // Three weeks of 5-minute slots over the March change, a fraction in the last.
            let mut at: Timestamp = "2030-03-20T00:00:00Z".parse().unwrap();
            for _ in 0..6000 {
                let ends = at + SignedDuration::from_mins(5);
                free.push(slots::Slot {
                    starts_at: at,
                    ends_at: ends,
                });
                at = ends;
            }
            free.push(slots::Slot {
                starts_at: "2030-04-15T10:00:00.5Z".parse().unwrap(),
                ends_at: "2030-04-15T10:05:00.5Z".parse().unwrap(),
            });
            let mut offsets = Offsets::new(&tz);
            let by_serde: Vec<SlotOut> = free
                .iter()
                .map(|s| SlotOut {
                    starts_at: offsets.rfc3339(s.starts_at),
                    ends_at: offsets.rfc3339(s.ends_at),
                })
                .collect();
            assert_eq!(
                String::from_utf8(slots_json(&free, &tz)).unwrap(),
                serde_json::to_string(&by_serde).unwrap(),
                "{zone}"
            );
        }
        assert_eq!(slots_json(&[], &TimeZone::UTC), b"[]");
    }
}
