//! `/api/v1/auth`: register, sign in, refresh, sign out.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jiff::Timestamp;
use medsync_domain::audit::{self, Channel, Event};
use medsync_domain::sessions::{self};
use medsync_domain::users::{self, Email, Password, User};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::Quota;
use crate::error::doc::{InvalidFields, MalformedRequest};
use crate::error::{ApiError, Fields, Problem};
use crate::extract::ApiJson;
use crate::rate_limit::{self, ClientIp};
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
    // Limited per client address, overall, and (below) per email: each registration costs
    // a password hash, and its 409 tells whether an email has an account here, so neither
    // a storm nor enumeration may run at the api's full speed.
    let keys = state.infra.redis.keys();
    rate_limit::hit(
        &state,
        &keys.key(&["ratelimit", "register", "ip", &ip.to_string()]),
        state.config.register_per_ip,
    )
    .await?;
    rate_limit::hit(
        &state,
        &keys.key(&["ratelimit", "register", "all"]),
        state.config.register_global,
    )
    .await?;
    let mut fields = Fields::default();
    let email = fields.check("email", Email::parse(&request.email));
    let password = fields.check("password", Password::parse(&request.password));
    let name = fields.check("name", users::parse_name(&request.name));
    let phone = match request
        .phone
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        Some(p) => fields.check("phone", users::parse_phone(p)).map(Some),
        None => Some(None),
    };
    fields.finish()?;
    let (Some(email), Some(password), Some(name), Some(phone)) = (email, password, name, phone)
    else {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "validated fields missing"
        )));
    };
    rate_limit::hit(
        &state,
        &keys.key(&["ratelimit", "register", "email", email.as_str()]),
        state.config.register_per_email,
    )
    .await?;
    let hash = state.hasher.hash(password.expose().to_owned()).await?;
    let user = users::register(&state.infra.db, &email, &hash, &name, phone.as_deref()).await?;
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
    let keys = state.infra.redis.keys();
    rate_limit::hit(
        &state,
        &keys.key(&["ratelimit", "login", "ip", &ip.to_string()]),
        state.config.login_per_ip,
    )
    .await?;
    const WRONG: ApiError = ApiError::Unauthorized("wrong email or password");
    let email = Email::parse(&request.email).map_err(|_| WRONG)?;
    // Only failures count against an account: from this address (the limit), and from all
    // addresses together (ten times it). A guesser elsewhere locks out only their own
    // address, so the account's owner still signs in, unless a crowd of addresses guesses.
    let ip_text = ip.to_string();
    let failures_here = keys.key(&["ratelimit", "login", "failed", email.as_str(), &ip_text]);
    let failures_all = keys.key(&["ratelimit", "login", "account", email.as_str()]);
    let account_wide = Quota {
        limit: state.config.login_per_account.limit.saturating_mul(10),
        period: state.config.login_per_account.period,
    };
    let limited =
        match rate_limit::check(&state, &failures_here, state.config.login_per_account).await {
            Ok(()) => rate_limit::check(&state, &failures_all, account_wide).await,
            refused => refused,
        };
    if let Err(refused) = limited {
        if matches!(refused, ApiError::TooManyRequests { .. }) {
            let event = Event::new("auth.login.limited", Channel::Api)
                .from_ip(ip)
                .details(serde_json::json!({ "email": email.as_str() }));
            audit_best_effort(&state, event).await;
        }
        return Err(refused);
    }
    // Counts a failure (already refused if over; a Redis error here changes no answer).
    let failed = async |subject: Option<uuid::Uuid>| -> ApiError {
        let here = rate_limit::hit(&state, &failures_here, state.config.login_per_account);
        let all = rate_limit::hit(&state, &failures_all, account_wide);
        let _ = tokio::join!(here, all);
        let mut event = Event::new("auth.login.failed", Channel::Api)
            .from_ip(ip)
            .details(serde_json::json!({ "email": email.as_str() }));
        event.subject = subject;
        audit_best_effort(&state, event).await;
        WRONG
    };
    if request.password.len() > 1024 {
        return Err(failed(None).await);
    }
    let found = users::credentials(&state.infra.db, &email).await?;
    let stored = found
        .as_ref()
        .and_then(|(_, hash)| hash.clone())
        .unwrap_or_else(|| state.dummy_hash.as_str().to_owned());
    let matches = state.hasher.verify(request.password, stored).await?;
    let user = match found {
        Some((user, Some(_))) if matches => user,
        other => return Err(failed(other.map(|(user, _)| user.id)).await),
    };
    let now = Timestamp::now();
    let mut tx = state.infra.db.begin().await?;
    let refresh = sessions::issue(&mut tx, user.id, None, state.config.refresh_ttl, now).await?;
    let event = Event::new("auth.login.succeeded", Channel::Api)
        .by(user.id)
        .from_ip(ip)
        .details(serde_json::json!({ "session": refresh.family }));
    audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(Json(token_pair(&state, &user, refresh, now).await?))
}

/// Records `event` outside any transaction, for refusals that change nothing else: a failure
/// to record is logged, and the client's answer stays what it was.
async fn audit_best_effort(state: &AppState, event: Event) {
    let recorded = match state.infra.db.acquire().await {
        Ok(mut conn) => audit::record(&mut conn, event).await,
        Err(error) => Err(error),
    };
    if let Err(error) = recorded {
        tracing::error!(%error, "could not record an audit event");
    }
}
