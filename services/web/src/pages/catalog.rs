//! Finding a doctor: the specialties, doctors by specialty or by name, and a doctor's free
//! times day by day in the clinic's zone.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp, ToSpan as _};
use medsync_domain::catalog::{self, Doctor, Specialty};
use medsync_domain::slots;
use serde::Deserialize;
use uuid::Uuid;

use super::{PageQuery, day_label, time_label};
use crate::render::{Layout, PageError, page};
use crate::viewer::Viewer;
use crate::{PREFIX, WebState};

pub fn router() -> Router<WebState> {
    Router::new()
        .route(&format!("{PREFIX}/"), get(home))
        .route(&format!("{PREFIX}/doctors"), get(doctors))
        .route(&format!("{PREFIX}/doctors/{{id}}"), get(doctor))
}

#[derive(Debug, Template)]
#[template(path = "home.html")]
struct Home {
    layout: Layout,
    specialties: Vec<Specialty>,
}

async fn home(State(state): State<WebState>, viewer: Viewer) -> Result<Response, PageError> {
    let mut conn = state.infra.db.acquire().await?;
    let specialties = catalog::bookable_specialties(&mut conn).await?;
    let layout = viewer.layout("Book a visit", &state);
    page(
        StatusCode::OK,
        &Home {
            layout,
            specialties,
        },
    )
}

#[derive(Debug, Deserialize)]
struct DoctorSearch {
    q: Option<String>,
    specialty: Option<Uuid>,
}

#[derive(Debug, Template)]
#[template(path = "doctors.html")]
struct Doctors {
    layout: Layout,
    query: String,
    heading: String,
    doctors: Vec<Doctor>,
    total: i64,
}

async fn doctors(
    State(state): State<WebState>,
    viewer: Viewer,
    PageQuery(search): PageQuery<DoctorSearch>,
) -> Result<Response, PageError> {
    let query = search.q.unwrap_or_default().trim().to_owned();
    if query.chars().count() > 100 {
        return Err(PageError::BadRequest(
            "search for at most 100 characters".to_owned(),
        ));
    }
    let mut conn = state.infra.db.acquire().await?;
    let specialty = match search.specialty {
        Some(id) => Some(
            catalog::list_specialties(&mut conn)
                .await?
                .into_iter()
                .find(|s| s.id == id)
                .ok_or(PageError::NotFound("there is no such specialty"))?,
        ),
        None => None,
    };
    let (doctors, total) = catalog::list_doctors(
        &mut conn,
        specialty.as_ref().map(|s| s.id),
        (!query.is_empty()).then_some(query.as_str()),
        50,
        0,
    )
    .await?;
    let heading = match (&specialty, query.is_empty()) {
        (Some(s), _) => s.name.clone(),
        (None, false) => format!("Doctors matching “{query}”"),
        (None, true) => "All doctors".to_owned(),
    };
    let layout = viewer.layout(heading.clone(), &state);
    page(
        StatusCode::OK,
        &Doctors {
            layout,
            query,
            heading,
            doctors,
            total,
        },
    )
}

/// A day of the strip on a doctor's page.
#[derive(Debug)]
pub struct DayLink {
    /// `2030-01-07`.
    pub date: String,
    /// `Mon 7 Jan`.
    pub label: String,
    /// Free times that day.
    pub free: usize,
    /// The day shown.
    pub selected: bool,
}

/// A free time: its label and its start (Unix seconds).
#[derive(Debug)]
pub struct TimeLink {
    /// `09:30`.
    pub label: String,
    /// Its start, in Unix seconds.
    pub at: i64,
}

#[derive(Debug, Template)]
#[template(path = "doctor.html")]
pub struct DoctorPage {
    pub layout: Layout,
    pub doctor: Doctor,
    pub days: Vec<DayLink>,
    pub day: String,
    pub times: Vec<TimeLink>,
    pub notice: Option<String>,
}

#[derive(Debug, Deserialize)]
struct DayChoice {
    day: Option<String>,
}

async fn doctor(
    State(state): State<WebState>,
    viewer: Viewer,
    Path(id): Path<String>,
    PageQuery(choice): PageQuery<DayChoice>,
) -> Result<Response, PageError> {
    let id: Uuid = id
        .parse()
        .map_err(|_| PageError::NotFound("there is no such doctor"))?;
    let day = match choice.day.as_deref() {
        Some(raw) => Some(raw.parse::<Date>().map_err(|_| {
            PageError::BadRequest("day must be a date such as 2030-01-07".to_owned())
        })?),
        None => None,
    };
    let page_data = doctor_page(&state, &viewer, id, day, None).await?;
    page(StatusCode::OK, &page_data)
}

/// A doctor's page: the days of the booking window with their free times, and the free times
/// of `day` (the first day with any when not given). `notice` is said above the times (a time
/// that was just taken).
pub async fn doctor_page(
    state: &WebState,
    viewer: &Viewer,
    id: Uuid,
    day: Option<Date>,
    notice: Option<String>,
) -> Result<DoctorPage, PageError> {
    let tz = &state.config.rules.timezone;
    let mut conn = state.infra.db.acquire().await?;
    let doctor = catalog::get_doctor(&mut conn, id)
        .await?
        .ok_or(PageError::NotFound("there is no such doctor"))?;
    let now = Timestamp::now();
    let today = now.to_zoned(tz.clone()).date();
    let end_day = today
        .checked_add(i64::from(state.config.booking_days).days())
        .unwrap_or(today);
    let horizon = now
        .checked_add(SignedDuration::from_hours(
            24 * i64::from(state.config.rules.horizon_days),
        ))
        .unwrap_or(now);
    let end = end_day
        .to_zoned(tz.clone())
        .map(|z| z.timestamp())
        .unwrap_or(now)
        .min(horizon);
    let free = match slots::load_calendar(&mut conn, id, now, end).await? {
        Some(calendar) => slots::free_slots(&calendar, tz, now, end, now),
        None => Vec::new(),
    };
    let mut by_day: Vec<(Date, Vec<slots::Slot>)> = Vec::new();
    let mut day_of = today;
    while day_of < end_day {
        by_day.push((day_of, Vec::new()));
        day_of = day_of.tomorrow().unwrap_or(end_day);
    }
    for slot in free {
        let date = slot.starts_at.to_zoned(tz.clone()).date();
        if let Some((_, list)) = by_day.iter_mut().find(|(d, _)| *d == date) {
            list.push(slot);
        }
    }
    let chosen = day
        .filter(|d| by_day.iter().any(|(date, _)| date == d))
        .or_else(|| by_day.iter().find(|(_, s)| !s.is_empty()).map(|(d, _)| *d))
        .unwrap_or(today);
    let times = by_day
        .iter()
        .find(|(d, _)| *d == chosen)
        .map(|(_, slots)| {
            slots
                .iter()
                .map(|s| TimeLink {
                    label: time_label(s.starts_at, tz),
                    at: s.starts_at.as_second(),
                })
                .collect()
        })
        .unwrap_or_default();
    let days = by_day
        .iter()
        .map(|(date, slots)| DayLink {
            date: date.to_string(),
            label: day_label(*date),
            free: slots.len(),
            selected: *date == chosen,
        })
        .collect();
    Ok(DoctorPage {
        layout: viewer.layout(doctor.name.clone(), state),
        day: chosen.strftime("%A %-d %B").to_string(),
        doctor,
        days,
        times,
        notice,
    })
}
