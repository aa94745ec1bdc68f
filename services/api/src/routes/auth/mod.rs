//! `/api/v1/auth`: register, sign in, refresh, sign out.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jiff::Timestamp;
use medsync_domain::audit::{self, Channel, Event};
use medsync_domain::sessions::{self};
use medsync_domain::users::User;
use medsync_platform::accounts::Registration;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::client_ip::ClientIp;
use crate::error::doc::{InvalidFields, MalformedRequest};
use crate::error::{ApiError, Problem};
use crate::extract::ApiJson;
use crate::routes::users::UserOut;
use crate::state::AppState;

mod session;

pub use session::*;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(session::refresh))
        .routes(routes!(session::logout))
        .routes(routes!(session::logout_all))
}

/// A new patient account.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterRequest {
    /// Sign-in email.
    pub email: String,
    /// 10 to 128 characters, not only letters or only digits.
    pub password: String,
    /// Display name.
    pub name: String,
    /// Phone number, e.g. +49 30 1234567.
    pub phone: Option<String>,
}

/// Register a patient account.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created", body = UserOut),
        MalformedRequest,
        (status = 409, description = "Email already registered", body = Problem, content_type = "application/problem+json"),
        InvalidFields,
        (status = 429, description = "Too many registrations from this address, for this email or overall", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Busy hashing passwords; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json"),
    ))]
async fn register(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(request): ApiJson<RegisterRequest>,
) -> Result<(StatusCode, Json<UserOut>), ApiError> {
    let form = Registration {
        email: &request.email,
        password: &request.password,
        name: &request.name,
        phone: request.phone.as_deref(),
    };
    let user = state.accounts.register(form, ip).await?;
    Ok((StatusCode::CREATED, Json(UserOut::from(user))))
}

/// Email and password.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    /// Sign-in email.
    pub email: String,
    /// Password.
    pub password: String,
}

/// An access token and the refresh token that renews it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenPair {
    /// Short-lived JWT: send it as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Opaque; exchange it at `/api/v1/auth/refresh` for a new pair. Single use.
    pub refresh_token: String,
    /// When the refresh token expires (RFC 3339).
    pub refresh_token_expires_at: String,
}

async fn token_pair(
    state: &AppState,
    user: &User,
    refresh: sessions::RefreshToken,
    now: Timestamp,
) -> Result<TokenPair, ApiError> {
    let (access_token, _) = state
        .tokens
        .issue(user.id, user.role, refresh.family, now)?;
    Ok(TokenPair {
        access_token,
        token_type: "Bearer",
        expires_in: state.tokens.ttl.as_secs(),
        refresh_token: refresh.token,
        refresh_token_expires_at: refresh.expires_at.to_string(),
    })
}

/// Sign in. Attempts are limited per client address and per account (429 with
/// `Retry-After`); an unknown email and a wrong password get the same answer in the same time.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenPair),
        MalformedRequest,
        (status = 401, description = "Wrong email or password", body = Problem, content_type = "application/problem+json"),
        InvalidFields,
        (status = 429, description = "Too many attempts", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Busy hashing passwords; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json"),
    ))]
async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Json<TokenPair>, ApiError> {
    let user = state
        .accounts
        .sign_in(&request.email, request.password, ip, Channel::Api)
        .await?;
    let now = Timestamp::now();
    let mut tx = state.infra.db.begin().await?;
    let refresh = sessions::issue(&mut tx, user.id, state.config.refresh_ttl, now).await?;
    let event = Event::new("auth.login.succeeded", Channel::Api)
        .by(user.id)
        .from_ip(ip)
        .details(serde_json::json!({ "session": refresh.family }));
    audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(Json(token_pair(&state, &user, refresh, now).await?))
}
