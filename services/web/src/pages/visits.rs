//! "My visits": a patient's upcoming and past visits, and cancelling one (after a confirmation
//! page, so one stray tap cancels nothing).

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use jiff::Timestamp;
use medsync_domain::bookings::{self, Booking, BookingError, BookingStatus, ListFilter, When};
use serde::Deserialize;
use uuid::Uuid;

use super::{PageQuery, when};
use crate::render::{Layout, PageError, page, see_other};
use crate::viewer::{Via, Viewer};
use crate::{PREFIX, WebState};

pub fn router() -> Router<WebState> {
    Router::new()
        .route(&format!("{PREFIX}/visits"), get(visits))
        .route(
            &format!("{PREFIX}/visits/{{id}}/cancel"),
            get(confirm_cancel).post(cancel),
        )
}

/// A visit as the lists show it.
#[derive(Debug)]
pub struct VisitLine {
    /// Its id.
    pub id: Uuid,
    /// The doctor.
    pub doctor: String,
    /// When, in words, in the clinic's zone.
    pub when: String,
    /// `confirmed`, `cancelled`, …
    pub status: &'static str,
    /// The reference the messages quote.
    pub reference: String,
    /// Whether its patient can still cancel it (confirmed, and before the notice period).
    pub cancellable: bool,
}

impl VisitLine {
    /// `booking` in the clinic's words.
    pub fn new(booking: &Booking, state: &WebState, now: Timestamp) -> Self {
        let deadline = booking
            .starts_at
            .checked_sub(state.config.rules.cancellation_notice)
            .unwrap_or(booking.starts_at);
        Self {
            id: booking.id,
            doctor: booking.doctor_name.clone(),
            when: when(booking.starts_at, &state.config.rules.timezone),
            status: status_word(booking.status),
            reference: bookings::reference(booking.id),
            cancellable: booking.status == BookingStatus::Confirmed && deadline > now,
        }
    }
}

/// A booking's status in words.
pub fn status_word(status: BookingStatus) -> &'static str {
    match status {
        BookingStatus::Confirmed => "confirmed",
        BookingStatus::Cancelled => "cancelled",
        BookingStatus::Completed => "completed",
        BookingStatus::NoShow => "missed",
    }
}

#[derive(Debug, Deserialize)]
struct Flash {
    booked: Option<Uuid>,
    cancelled: Option<Uuid>,
}

#[derive(Debug, Template)]
#[template(path = "visits.html")]
struct Visits {
    layout: Layout,
    notice: Option<String>,
    upcoming: Vec<VisitLine>,
    past: Vec<VisitLine>,
}

async fn visits(
    State(state): State<WebState>,
    viewer: Viewer,
    PageQuery(flash): PageQuery<Flash>,
) -> Result<Response, PageError> {
    let user = viewer.require(&format!("{PREFIX}/visits"))?;
    let now = Timestamp::now();
    let mut conn = state.infra.db.acquire().await?;
    let filter = ListFilter::Patient(user.id);
    let upcoming = bookings::list(&mut conn, filter, When::Upcoming, 50, 0).await?;
    let past = bookings::list(&mut conn, filter, When::Past, 20, 0).await?;
    let lines = |list: Vec<Booking>| -> Vec<VisitLine> {
        list.iter()
            .map(|b| VisitLine::new(b, &state, now))
            .collect()
    };
    let upcoming = lines(upcoming.items);
    let notice = match (flash.booked, flash.cancelled) {
        (Some(id), _) => upcoming.iter().find(|v| v.id == id).map(|v| {
            let follows = match viewer.via {
                Via::Telegram => "A confirmation follows in this chat.",
                Via::Browser => "A confirmation follows in Telegram if your account is linked.",
            };
            format!(
                "Booked: {} on {}. Reference {}. {follows}",
                v.doctor, v.when, v.reference
            )
        }),
        (None, Some(_)) => Some("The visit is cancelled.".to_owned()),
        (None, None) => None,
    };
    let layout = viewer.layout("My visits", &state);
    page(
        StatusCode::OK,
        &Visits {
            layout,
            notice,
            upcoming,
            past: lines(past.items),
        },
    )
}

#[derive(Debug, Template)]
#[template(path = "cancel.html")]
struct ConfirmCancel {
    layout: Layout,
    visit: VisitLine,
    error: Option<String>,
}

async fn visible(state: &WebState, viewer: &Viewer, id: &str) -> Result<Booking, PageError> {
    let path = format!("{PREFIX}/visits");
    let user = viewer.require(&path)?;
    let id: Uuid = id
        .parse()
        .map_err(|_| PageError::NotFound("there is no such visit"))?;
    let mut conn = state.infra.db.acquire().await?;
    bookings::get_visible(&mut conn, id, Viewer::actor(user))
        .await?
        .filter(|b| b.patient_id == user.id)
        .ok_or(PageError::NotFound("there is no such visit"))
}

async fn confirm_cancel(
    State(state): State<WebState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let booking = visible(&state, &viewer, &id).await?;
    let visit = VisitLine::new(&booking, &state, Timestamp::now());
    let layout = viewer.layout("Cancel a visit", &state);
    page(
        StatusCode::OK,
        &ConfirmCancel {
            layout,
            visit,
            error: None,
        },
    )
}

async fn cancel(
    State(state): State<WebState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let booking = visible(&state, &viewer, &id).await?;
    let user = viewer.require(PREFIX)?;
    let now = Timestamp::now();
    let mut tx = state.infra.db.begin().await?;
    let outcome = bookings::cancel(
        &mut tx,
        &state.config.rules,
        booking.id,
        Viewer::actor(user),
        now,
    )
    .await;
    match outcome {
        Ok(_) => {
            tx.commit().await?;
            Ok(see_other(&format!(
                "{PREFIX}/visits?cancelled={}",
                booking.id
            )))
        }
        Err(BookingError::Database(e)) => Err(e.into()),
        Err(error) => {
            tx.rollback().await?;
            let message = match error {
                BookingError::NotCancellable => {
                    "This visit cannot be cancelled any more (it is cancelled already, or has \
                     begun)."
                        .to_owned()
                }
                other => {
                    let text = other.to_string();
                    let mut chars = text.chars();
                    let first = chars.next().map(|c| c.to_uppercase().to_string());
                    format!("{}{}.", first.unwrap_or_default(), chars.as_str())
                }
            };
            let layout = viewer.layout("Cancel a visit", &state);
            page(
                StatusCode::CONFLICT,
                &ConfirmCancel {
                    layout,
                    visit: VisitLine::new(&booking, &state, now),
                    error: Some(message),
                },
            )
        }
    }
}
