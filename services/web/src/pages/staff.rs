//! Staff: a doctor's agenda (their upcoming visits) and, for admins, today's bookings across
//! doctors.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use jiff::Timestamp;
use medsync_domain::bookings::{self, ListFilter, When};
use medsync_domain::users::Role;

use super::time_label;
use super::visits::{VisitLine, status_word};
use crate::render::{Layout, PageError, page};
use crate::viewer::Viewer;
use crate::{PREFIX, WebState};

pub fn router() -> Router<WebState> {
    Router::new()
        .route(&format!("{PREFIX}/agenda"), get(agenda))
        .route(&format!("{PREFIX}/today"), get(today))
}

#[derive(Debug, Template)]
#[template(path = "agenda.html")]
struct Agenda {
    layout: Layout,
    visits: Vec<(VisitLine, String)>,
    total: i64,
}

async fn agenda(State(state): State<WebState>, viewer: Viewer) -> Result<Response, PageError> {
    let user = viewer.require_role(&format!("{PREFIX}/agenda"), Role::Doctor)?;
    let now = Timestamp::now();
    let mut conn = state.infra.db.acquire().await?;
    let found = bookings::list(
        &mut conn,
        ListFilter::DoctorUser(user.id),
        When::Upcoming,
        100,
        0,
    )
    .await?;
    let visits = found
        .items
        .iter()
        .map(|b| (VisitLine::new(b, &state, now), b.patient_name.clone()))
        .collect();
    let layout = viewer.layout("My agenda", &state);
    page(
        StatusCode::OK,
        &Agenda {
            layout,
            visits,
            total: found.total,
        },
    )
}

/// A booking of today's list.
#[derive(Debug)]
struct TodayLine {
    time: String,
    doctor: String,
    patient: String,
    status: &'static str,
    reference: String,
}

#[derive(Debug, Template)]
#[template(path = "today.html")]
struct Today {
    layout: Layout,
    day: String,
    lines: Vec<TodayLine>,
}

async fn today(State(state): State<WebState>, viewer: Viewer) -> Result<Response, PageError> {
    viewer.require_role(&format!("{PREFIX}/today"), Role::Admin)?;
    let tz = &state.config.rules.timezone;
    let now = Timestamp::now();
    let date = now.to_zoned(tz.clone()).date();
    let (Ok(from), Ok(to)) = (
        date.to_zoned(tz.clone()),
        date.tomorrow().and_then(|d| d.to_zoned(tz.clone())),
    ) else {
        return Err(PageError::Internal(anyhow::anyhow!(
            "today has no bounds in {tz:?}"
        )));
    };
    let mut conn = state.infra.db.acquire().await?;
    let found =
        bookings::starting_between(&mut conn, from.timestamp(), to.timestamp(), 500).await?;
    let lines = found
        .iter()
        .map(|booking| TodayLine {
            time: time_label(booking.starts_at, tz),
            doctor: booking.doctor_name.clone(),
            patient: booking.patient_name.clone(),
            status: status_word(booking.status),
            reference: bookings::reference(booking.id),
        })
        .collect();
    let layout = viewer.layout("Today", &state);
    page(
        StatusCode::OK,
        &Today {
            layout,
            day: date.strftime("%A %-d %B %Y").to_string(),
            lines,
        },
    )
}
