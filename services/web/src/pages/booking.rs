//! Booking: the confirmation page of a chosen time, and the form that books it through the
//! domain's one booking function (the exclusion constraint decides; jobs in the same
//! transaction). Each confirmation page carries a fresh idempotency key, so a double tap, a
//! resubmitted form or a retried request books once and shows the same booking.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use jiff::Timestamp;
use medsync_domain::bookings::{self, BookingError, BookingSource};
use medsync_domain::catalog::{self, Doctor};
use medsync_domain::idempotency::{self, Claim};
use medsync_domain::users::Role;
use serde::Deserialize;
use uuid::Uuid;

use super::catalog::doctor_page;
use super::{PageForm, PageQuery, when};
use crate::render::{Layout, PageError, page, see_other};
use crate::viewer::Viewer;
use crate::{PREFIX, WebState};

pub fn router() -> Router<WebState> {
    Router::new()
        .route(&format!("{PREFIX}/book"), get(confirm))
        .route(&format!("{PREFIX}/bookings"), post(book))
}

#[derive(Debug, Deserialize)]
struct Choice {
    doctor: Uuid,
    at: i64,
}

#[derive(Debug, Template)]
#[template(path = "confirm.html")]
struct Confirm {
    layout: Layout,
    doctor: Doctor,
    when: String,
    at: i64,
    key: String,
    signed_in: bool,
    back: String,
}

fn instant(at: i64) -> Result<Timestamp, PageError> {
    Timestamp::from_second(at).map_err(|_| PageError::BadRequest("at is not a time".to_owned()))
}

async fn confirm(
    State(state): State<WebState>,
    viewer: Viewer,
    PageQuery(choice): PageQuery<Choice>,
) -> Result<Response, PageError> {
    let starts_at = instant(choice.at)?;
    let mut conn = state.infra.db.acquire().await?;
    let doctor = catalog::get_doctor(&mut conn, choice.doctor)
        .await?
        .ok_or(PageError::NotFound("there is no such doctor"))?;
    let back = format!("{PREFIX}/book?doctor={}&at={}", choice.doctor, choice.at);
    let layout = viewer.layout("Confirm your visit", &state);
    let template = Confirm {
        layout,
        when: when(starts_at, &state.config.rules.timezone),
        doctor,
        at: choice.at,
        key: Uuid::new_v4().to_string(),
        signed_in: viewer.user.is_some(),
        back,
    };
    page(StatusCode::OK, &template)
}

#[derive(Debug, Deserialize)]
struct BookForm {
    doctor: Uuid,
    at: i64,
    key: String,
}

/// What a booking attempt stores under its key, and what a replay shows.
#[derive(Debug, serde::Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
enum Stored {
    Booked { booking: Uuid },
    Refused { message: String, taken: bool },
}

async fn book(
    State(state): State<WebState>,
    viewer: Viewer,
    PageForm(form): PageForm<BookForm>,
) -> Result<Response, PageError> {
    let back = format!("{PREFIX}/book?doctor={}&at={}", form.doctor, form.at);
    let user = viewer.require(&back)?;
    if user.role != Role::Patient {
        return Err(PageError::Forbidden);
    }
    let key = form.key.trim();
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(PageError::BadRequest(
            "the form's key is malformed".to_owned(),
        ));
    }
    let starts_at = instant(form.at)?;
    let now = Timestamp::now();
    let fingerprint = idempotency::fingerprint(&[
        b"POST /app/bookings",
        form.doctor.as_bytes(),
        &starts_at.as_second().to_be_bytes(),
    ]);
    let mut tx = state.infra.db.begin().await?;
    let stored = match idempotency::claim(&mut tx, user.id, key, &fingerprint).await? {
        Claim::Replay { body, .. } => {
            tx.commit().await?;
            serde_json::from_value(body).map_err(|e| PageError::Internal(e.into()))?
        }
        Claim::Mismatch => {
            return Err(PageError::BadRequest(
                "this form was already used for another visit; start again".to_owned(),
            ));
        }
        Claim::New => {
            // A savepoint: a refused booking is rolled back, the key's answer is kept.
            let mut attempt = sqlx::Acquire::begin(&mut *tx).await?;
            let outcome = bookings::book(
                &mut attempt,
                &state.config.rules,
                user.id,
                form.doctor,
                starts_at,
                BookingSource::Web,
                now,
            )
            .await;
            let stored = match outcome {
                Ok(booking) => {
                    attempt.commit().await?;
                    Stored::Booked {
                        booking: booking.id,
                    }
                }
                Err(BookingError::Database(e)) => return Err(e.into()),
                Err(error) => {
                    attempt.rollback().await?;
                    refusal(error)
                }
            };
            let (status, body) = match &stored {
                Stored::Booked { .. } => (201, serde_json::to_value(&stored)),
                Stored::Refused { .. } => (409, serde_json::to_value(&stored)),
            };
            let body = body.map_err(|e| PageError::Internal(e.into()))?;
            idempotency::record(&mut tx, user.id, key, status, &body).await?;
            tx.commit().await?;
            stored
        }
    };
    match stored {
        Stored::Booked { booking } => Ok(see_other(&format!("{PREFIX}/visits?booked={booking}"))),
        Stored::Refused { message, taken } => {
            let day = starts_at
                .to_zoned(state.config.rules.timezone.clone())
                .date();
            let status = if taken {
                StatusCode::CONFLICT
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            let template =
                doctor_page(&state, &viewer, form.doctor, Some(day), Some(message)).await?;
            page(status, &template)
        }
    }
}

/// A refused booking, in words for the person.
fn refusal(error: BookingError) -> Stored {
    let taken = matches!(error, BookingError::Taken);
    let message = match error {
        BookingError::Taken => {
            "Sorry, that time was just taken by someone else. Please pick another.".to_owned()
        }
        BookingError::NotASlot => {
            "That time is not free any more (or never was). Please pick another.".to_owned()
        }
        BookingError::DoctorNotFound => "This doctor cannot be booked now.".to_owned(),
        other => format!("{}.", capital(&other.to_string())),
    };
    Stored::Refused { message, taken }
}

fn capital(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
