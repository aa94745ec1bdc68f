//! `/api/v1/bookings`: book, list, see and cancel appointments; `/api/v1/agenda` for doctors.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use medsync_domain::bookings::{self, Booking, BookingSource, BookingStatus};
use medsync_domain::clock::{Rfc3339, parse_rfc3339};
use medsync_domain::idempotency::{self, Claim};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::{Authorized, CurrentUser, Patients};
use crate::error::doc::{NotSignedIn, WrongRole};
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;

mod lists;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_booking, lists::list_bookings))
        .routes(routes!(get_booking))
        .routes(routes!(cancel_booking))
        .routes(routes!(lists::agenda))
}

/// A booking.
#[derive(Debug, Serialize, ToSchema)]
pub struct BookingOut {
    /// Its id.
    pub id: Uuid,
    /// The doctor.
    pub doctor_id: Uuid,
    /// The doctor's name.
    pub doctor_name: String,
    /// The patient.
    pub patient_id: Uuid,
    /// Start, RFC 3339 with the clinic's offset.
    #[schema(value_type = String)]
    pub starts_at: Rfc3339,
    /// End, exclusive.
    #[schema(value_type = String)]
    pub ends_at: Rfc3339,
    /// `confirmed`, `cancelled`, `completed` or `no_show`.
    #[schema(value_type = String, example = "confirmed")]
    pub status: BookingStatus,
    /// `api`, `telegram`, `admin` or `web` (the web app and the Telegram Mini App).
    #[schema(value_type = String, example = "api")]
    pub source: BookingSource,
    /// When it was made.
    #[schema(value_type = String)]
    pub created_at: Rfc3339,
    /// When it was cancelled.
    #[schema(value_type = Option<String>)]
    pub cancelled_at: Option<Rfc3339>,
}

impl BookingOut {
    /// The instants are written straight into the JSON (a page of a hundred bookings is four
    /// hundred of them), as the clinic's local time.
    fn new(state: &AppState, b: Booking) -> Self {
        let tz = &state.config.booking.timezone;
        let at = |ts| Rfc3339::new(ts, tz.to_offset(ts));
        Self {
            id: b.id,
            doctor_id: b.doctor_id,
            doctor_name: b.doctor_name,
            patient_id: b.patient_id,
            starts_at: at(b.starts_at),
            ends_at: at(b.ends_at),
            status: b.status,
            source: b.source,
            created_at: at(b.created_at),
            cancelled_at: b.cancelled_at.map(at),
        }
    }
}

/// What to book.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewBooking {
    /// The doctor.
    pub doctor_id: Uuid,
    /// A free slot's start, as `GET /api/v1/doctors/{id}/slots` lists it (RFC 3339).
    pub starts_at: String,
}

/// The `Idempotency-Key` header: 1 to 255 visible ASCII characters.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value.to_str().unwrap_or_default().trim();
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::BadRequest(
            "Idempotency-Key must be 1 to 255 visible ASCII characters".to_owned(),
        ));
    }
    Ok(Some(key.to_owned()))
}

fn stored_response(status: u16, body: serde_json::Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, Json(body)).into_response();
    if status.is_client_error() {
        response.headers_mut().insert(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/problem+json"),
        );
    }
    response
}

/// Book a free slot (patients). The database decides between concurrent requests for the same
/// slot: one gets 201, the others 409. With an `Idempotency-Key` header, a retried request
/// gets the first answer again (the same key with another body: 422).
#[utoipa::path(post, path = "/api/v1/bookings", tag = "bookings", security(("bearer" = [])), request_body = NewBooking,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: the same key returns the first answer")),
    responses(
        (status = 201, description = "Booked", body = BookingOut),
        (status = 400, description = "Malformed JSON or Idempotency-Key", body = Problem, content_type = "application/problem+json"),
        NotSignedIn, WrongRole,
        (status = 404, description = "No such doctor", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The slot is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a slot of this doctor, beyond the booking horizon, the patient holds the most upcoming visits allowed, invalid fields, or the key was used for another request", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_booking(
    State(state): State<AppState>,
    patient: Authorized<Patients>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<NewBooking>,
) -> Result<Response, ApiError> {
    let user_id = patient.user.claims.sub;
    let key = idempotency_key(&headers)?;
    let starts_at = parse_rfc3339(&request.starts_at).map_err(|_| {
        ApiError::field("starts_at", "must be an RFC 3339 date-time with an offset")
    })?;
    let now = Timestamp::now();
    let mut tx = state.infra.db.begin().await?;
    if let Some(key) = &key {
        let fingerprint = idempotency::fingerprint(&[
            b"POST /api/v1/bookings",
            request.doctor_id.as_bytes(),
            &starts_at.as_nanosecond().to_be_bytes(),
        ]);
        match idempotency::claim(&mut tx, user_id, key, &fingerprint).await? {
            Claim::New => {}
            Claim::Replay { status, body } => return Ok(stored_response(status, body)),
            Claim::Mismatch => {
                return Err(ApiError::Unprocessable(
                    "this Idempotency-Key was used for a different request".to_owned(),
                ));
            }
        }
    }
    // With a key, the booking is tried in a savepoint: a refusal is rolled back and the
    // idempotency record kept. Without one there is nothing to keep, and a refusal rolls back
    // the whole transaction (below): two round trips fewer.
    let outcome = if key.is_some() {
        let mut attempt = sqlx::Acquire::begin(&mut *tx).await?;
        let outcome = book(&state, &mut attempt, user_id, &request, starts_at, now).await;
        if outcome.is_ok() {
            attempt.commit().await?;
        } else {
            attempt.rollback().await?;
        }
        outcome
    } else {
        book(&state, &mut tx, user_id, &request, starts_at, now).await
    };
    let (status, body) = match outcome {
        Ok(booking) => {
            let body = serde_json::to_value(BookingOut::new(&state, booking))
                .map_err(anyhow::Error::from)?;
            (StatusCode::CREATED, body)
        }
        Err(error) => {
            let error = ApiError::from(error);
            if let ApiError::Internal(_) = error {
                return Err(error);
            }
            let problem = error.problem();
            let body = serde_json::to_value(&problem).map_err(anyhow::Error::from)?;
            (
                StatusCode::from_u16(problem.status).unwrap_or(StatusCode::CONFLICT),
                body,
            )
        }
    };
    if let Some(key) = &key {
        idempotency::record(&mut tx, user_id, key, status.as_u16(), &body).await?;
    }
    if key.is_some() || status == StatusCode::CREATED {
        tx.commit().await?;
    } else {
        // A refusal without a key may come after the insert (the patient's cap): none of it
        // is kept.
        tx.rollback().await?;
    }
    if status == StatusCode::CREATED {
        state.slots_cache.changed(request.doctor_id);
        state.lists_cache.changed(user_id);
    }
    Ok(stored_response(status.as_u16(), body))
}

/// The patient's booking through the API, in `conn`'s transaction.
async fn book(
    state: &AppState,
    conn: &mut PgConnection,
    patient_id: Uuid,
    request: &NewBooking,
    starts_at: Timestamp,
    now: Timestamp,
) -> Result<Booking, bookings::BookingError> {
    bookings::book(
        conn,
        &state.config.booking,
        patient_id,
        request.doctor_id,
        starts_at,
        BookingSource::Api,
        now,
    )
    .await
}

/// A booking: to its patient, its doctor and admins; anyone else gets 404.
#[utoipa::path(get, path = "/api/v1/bookings/{id}", tag = "bookings", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Booking id")),
    responses(
        (status = 200, description = "The booking", body = BookingOut),
        NotSignedIn,
        (status = 404, description = "No such booking (or not yours)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_booking(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<BookingOut>, ApiError> {
    let mut conn = state.infra.db.acquire().await?;
    let booking = bookings::get_visible(&mut conn, id, user.actor())
        .await?
        .ok_or_else(|| ApiError::not_found("booking"))?;
    Ok(Json(BookingOut::new(&state, booking)))
}

/// Cancel a booking: its patient up to `CANCELLATION_NOTICE_HOURS` before the visit, admins at
/// any time. Its reminders are dropped and a cancellation notice is sent.
#[utoipa::path(post, path = "/api/v1/bookings/{id}/cancel", tag = "bookings", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Booking id")),
    responses(
        (status = 200, description = "Cancelled", body = BookingOut),
        NotSignedIn,
        (status = 404, description = "No such booking (or not yours)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already cancelled, past, or too close to the visit", body = Problem, content_type = "application/problem+json"),
    ))]
async fn cancel_booking(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<BookingOut>, ApiError> {
    let mut tx = state.infra.db.begin().await?;
    let booking = bookings::cancel(
        &mut tx,
        &state.config.booking,
        id,
        user.actor(),
        Timestamp::now(),
    )
    .await?;
    tx.commit().await?;
    state.slots_cache.changed(booking.doctor_id);
    state.lists_cache.changed(booking.patient_id);
    Ok(Json(BookingOut::new(&state, booking)))
}
