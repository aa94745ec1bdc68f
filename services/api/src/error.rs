//! One error type for the whole API, answered as RFC 9457 problem details
//! (`application/problem+json`). Client mistakes get a 4xx that says what to fix; a server
//! failure gets a generic 500 body while its detail is logged once, here.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use medsync_domain::bookings::BookingError;
use medsync_domain::jobs::RetryError;
use medsync_platform::accounts::Refused;
use serde::Serialize;
use utoipa::ToSchema;

/// RFC 9457 problem details.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI reference identifying the problem type (`about:blank`: the status says it all).
    #[serde(rename = "type")]
    pub type_: String,
    /// Short summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What happened in this case.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// For validation errors: each invalid field and what is wrong with it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// One invalid field.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    /// The field's name in the request.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// The problem answers most routes share, for their OpenAPI descriptions
/// (`responses((status = 200, ...), NotSignedIn, WrongRole)`).
pub mod doc {
    use super::Problem;

    /// 400.
    #[derive(Debug, utoipa::IntoResponses)]
    #[response(
        status = 400,
        description = "Malformed request: JSON syntax or query string",
        content_type = "application/problem+json"
    )]
    pub struct MalformedRequest(#[to_schema] pub Problem);

    /// 401.
    #[derive(Debug, utoipa::IntoResponses)]
    #[response(
        status = 401,
        description = "Not signed in, or the access token is invalid, expired or revoked",
        content_type = "application/problem+json"
    )]
    pub struct NotSignedIn(#[to_schema] pub Problem);

    /// 403.
    #[derive(Debug, utoipa::IntoResponses)]
    #[response(
        status = 403,
        description = "Signed in, but this route needs another role",
        content_type = "application/problem+json"
    )]
    pub struct WrongRole(#[to_schema] pub Problem);

    /// 422.
    #[derive(Debug, utoipa::IntoResponses)]
    #[response(
        status = 422,
        description = "Invalid fields, listed in `errors`",
        content_type = "application/problem+json"
    )]
    pub struct InvalidFields(#[to_schema] pub Problem);
}

/// Every way a request can fail.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed request (bad JSON syntax, bad query string).
    #[error("{0}")]
    BadRequest(String),
    /// Well-formed but invalid fields.
    #[error("invalid fields")]
    Validation(Vec<FieldError>),
    /// Not signed in, or the token is not valid.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// Signed in, but this needs another role.
    #[error("this needs another role")]
    Forbidden,
    /// No such resource (or not visible to the caller).
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// The request is understood but cannot be processed as asked.
    #[error("{0}")]
    Unprocessable(String),
    /// Too many attempts; retry after this many seconds.
    #[error("too many requests")]
    TooManyRequests {
        /// Seconds until a retry can succeed.
        retry_after: u64,
    },
    /// 503: the api is saturated (every password-hashing slot busy); try again after
    /// `retry_after` seconds.
    #[error("busy; try again shortly")]
    Unavailable {
        /// Seconds until a retry is likely to succeed.
        retry_after: u64,
    },
    /// Any other status a rejection carries (413, 415, ...).
    #[error("{1}")]
    Status(StatusCode, String),
    /// A failure on our side: logged, answered generically.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<medsync_domain::password::HashError> for ApiError {
    fn from(e: medsync_domain::password::HashError) -> Self {
        match e {
            medsync_domain::password::HashError::Busy => Self::Unavailable { retry_after: 1 },
            e @ medsync_domain::password::HashError::Failed(_) => Self::Internal(e.into()),
        }
    }
}

impl ApiError {
    /// A validation error for one field.
    pub fn field(field: &str, message: &str) -> Self {
        Self::Validation(vec![FieldError {
            field: field.to_owned(),
            message: message.to_owned(),
        }])
    }

    /// A 404 for a resource kind.
    pub fn not_found(what: &str) -> Self {
        Self::NotFound(format!("no such {what}"))
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        Self::Internal(error.into())
    }
}

impl From<BookingError> for ApiError {
    fn from(error: BookingError) -> Self {
        match error {
            BookingError::DoctorNotFound => Self::not_found("doctor"),
            BookingError::NotFound => Self::not_found("booking"),
            BookingError::NotASlot => Self::Unprocessable(
                "starts_at is not a free slot of this doctor (see GET /api/v1/doctors/{id}/slots)"
                    .to_owned(),
            ),
            e @ (BookingError::BeyondHorizon { .. } | BookingError::TooManyBookings { .. }) => {
                Self::Unprocessable(e.to_string())
            }
            BookingError::Taken => {
                Self::Conflict("this slot has just been booked by someone else".to_owned())
            }
            e @ (BookingError::NotCancellable | BookingError::TooLateToCancel { .. }) => {
                Self::Conflict(e.to_string())
            }
            BookingError::Database(e) => Self::Internal(e.into()),
        }
    }
}

impl From<Refused> for ApiError {
    fn from(refused: Refused) -> Self {
        match refused {
            Refused::WrongCredentials => Self::Unauthorized("wrong email or password"),
            Refused::Invalid(fields) => Self::Validation(
                fields
                    .into_iter()
                    .map(|(field, message)| FieldError {
                        field: field.to_owned(),
                        message: message.to_owned(),
                    })
                    .collect(),
            ),
            Refused::EmailTaken => Self::Conflict("an account with this email exists".to_owned()),
            Refused::Limited { retry_after } => Self::TooManyRequests { retry_after },
            Refused::Busy => Self::Unavailable { retry_after: 1 },
            Refused::Failed(e) => Self::Internal(e),
        }
    }
}

impl From<RetryError> for ApiError {
    fn from(error: RetryError) -> Self {
        match error {
            RetryError::NotFound => Self::not_found("job"),
            e @ (RetryError::NotRetryable(_) | RetryError::Duplicate) => {
                Self::Conflict(e.to_string())
            }
            RetryError::Database(e) => e.into(),
        }
    }
}

impl From<medsync_domain::catalog::CatalogError> for ApiError {
    fn from(error: medsync_domain::catalog::CatalogError) -> Self {
        match error {
            medsync_domain::catalog::CatalogError::Missing(what) => {
                Self::Unprocessable(format!("{what} does not exist"))
            }
            medsync_domain::catalog::CatalogError::Taken(what) => {
                Self::Conflict(format!("{what} is already taken"))
            }
            medsync_domain::catalog::CatalogError::Overlap => {
                Self::field("hours", "intervals of one weekday overlap")
            }
            medsync_domain::catalog::CatalogError::NotFound => {
                Self::not_found("doctor or specialty")
            }
            medsync_domain::catalog::CatalogError::Database(e) => e.into(),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonDataError(e) => {
                Self::Status(StatusCode::UNPROCESSABLE_ENTITY, e.body_text())
            }
            JsonRejection::JsonSyntaxError(e) => Self::BadRequest(e.body_text()),
            other => Self::Status(other.status(), other.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::BadRequest(rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(_: PathRejection) -> Self {
        Self::NotFound("no such resource".to_owned())
    }
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Validation(_) | Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Status(status, _) => *status,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The problem document this error is answered with.
    pub fn problem(&self) -> Problem {
        let status = self.status();
        let detail = match self {
            Self::Internal(_) => {
                Some("something went wrong on our side; it has been logged".to_owned())
            }
            Self::Validation(_) => Some("some fields are invalid".to_owned()),
            other => Some(other.to_string()),
        };
        Problem {
            type_: "about:blank".to_owned(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            errors: match self {
                Self::Validation(errors) => errors.clone(),
                _ => Vec::new(),
            },
        }
    }
}

/// A problem+json response with `status`.
pub fn problem_response(problem: &Problem) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, Json(problem)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(error) = &self {
            // The one place a server-side failure is logged (inside the request's span).
            tracing::error!(error = format!("{error:#}"), "request failed");
        }
        let mut response = problem_response(&self.problem());
        match self {
            Self::TooManyRequests { retry_after } | Self::Unavailable { retry_after } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after.max(1)));
            }
            Self::Unauthorized(_) => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}

/// Validation errors gathered field by field, then answered all at once.
#[derive(Debug, Default)]
pub struct Fields(Vec<FieldError>);

impl Fields {
    /// Records `field`'s error, if any, and returns its value.
    pub fn check<T>(&mut self, field: &str, result: Result<T, &str>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(message) => {
                self.0.push(FieldError {
                    field: field.to_owned(),
                    message: message.to_owned(),
                });
                None
            }
        }
    }

    /// `Err(422)` listing every recorded field, or `Ok` when there was none.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.0))
        }
    }
}
