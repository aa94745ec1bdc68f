//! `PUT /api/v1/doctors/{id}/schedule`: a doctor's weekly hours, replaced as a whole.

use axum::Json;
use axum::extract::State;
use jiff::civil::Time;
use medsync_domain::catalog::{self, WeeklyHours};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{Admins, Authorized};
use crate::error::doc::{MalformedRequest, NotSignedIn, WrongRole};
use crate::error::{ApiError, Fields, Problem};
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;

use super::*;

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

pub(super) fn hhmm(t: Time) -> String {
    format!("{:02}:{:02}", t.hour(), t.minute())
}

pub(super) fn parse_hhmm(raw: &str) -> Result<Time, &'static str> {
    let (h, m) = raw.split_once(':').ok_or("must be HH:MM")?;
    let (h, m): (i8, i8) = (
        h.parse().map_err(|_| "must be HH:MM")?,
        m.parse().map_err(|_| "must be HH:MM")?,
    );
    if h == 24 && m == 0 {
        return Ok(Time::constant(23, 59, 59, 0));
    }
    Time::new(h, m, 0, 0).map_err(|_| "must be HH:MM between 00:00 and 24:00")
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
pub(super) async fn set_schedule(
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
    state.slots_cache.changed(id);
    Ok(Json(detail(&state, doctor, schedule)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_are_hh_mm_from_00_00_to_24_00() {
        assert_eq!(parse_hhmm("09:30").map(hhmm), Ok("09:30".to_owned()));
        assert_eq!(parse_hhmm("00:00").map(hhmm), Ok("00:00".to_owned()));
        // The end of the day is the last second before midnight.
        assert_eq!(parse_hhmm("24:00"), Ok(Time::constant(23, 59, 59, 0)));
        for bad in [
            "24:01", "25:00", "9", "09-30", "ab:cd", "-1:00", "12:60", "",
        ] {
            assert!(parse_hhmm(bad).is_err(), "{bad:?} accepted");
        }
    }
}
