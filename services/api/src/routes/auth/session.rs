//! `/api/v1/auth/refresh`, `/logout` and `/logout-all`: keeping a session going, and ending one or all.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jiff::Timestamp;
use medsync_domain::audit::{self, Channel, Event};
use medsync_domain::sessions::{self, Rotation};
use medsync_domain::users::{self};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{CurrentUser, revoked_key};
use crate::client_ip::ClientIp;
use crate::error::doc::{InvalidFields, MalformedRequest, NotSignedIn};
use crate::error::{ApiError, Problem};
use crate::extract::ApiJson;
use crate::state::AppState;

use super::*;

/// A refresh token.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RefreshRequest {
    /// The refresh token of the last pair.
    pub refresh_token: String,
}

/// Exchange a refresh token for a new pair. Each refresh token works once: presenting one that
/// was already used revokes every token descended from the same sign-in.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new pair", body = TokenPair),
        MalformedRequest,
        (status = 401, description = "Unknown, expired, revoked or reused token", body = Problem, content_type = "application/problem+json"),
        InvalidFields,
    ))]
pub(super) async fn refresh(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(request): ApiJson<RefreshRequest>,
) -> Result<Json<TokenPair>, ApiError> {
    let now = Timestamp::now();
    let mut tx = state.infra.db.begin().await?;
    let rotation = sessions::rotate(
        &mut tx,
        &request.refresh_token,
        state.config.refresh_ttl,
        state.config.session_max,
        now,
    )
    .await?;
    // The account is read on the transaction's connection: a second connection from the pool
    // would cost a second round trip when sqlx takes it back (docs/benchmarks.md).
    let user = match &rotation {
        Rotation::Rotated { user_id, .. } => users::get(&mut *tx, *user_id).await?,
        Rotation::Reused { user_id, family } => {
            let event = Event::new("auth.refresh.reused", Channel::Api)
                .on(*user_id)
                .from_ip(ip)
                .details(serde_json::json!({ "session": family }));
            audit::record(&mut tx, event).await?;
            None
        }
        Rotation::Invalid => None,
    };
    tx.commit().await?;
    if let Rotation::Reused { user_id, .. } = rotation {
        state.sessions.ended(user_id);
    }
    match rotation {
        Rotation::Rotated { token, .. } => {
            let user = user.ok_or(ApiError::Unauthorized("the account no longer exists"))?;
            Ok(Json(token_pair(&state, &user, token, now).await?))
        }
        Rotation::Reused { .. } => {
            tracing::warn!("a rotated refresh token was presented again; its family is revoked");
            Err(ApiError::Unauthorized(
                "this refresh token was already used; sign in again",
            ))
        }
        Rotation::Invalid => Err(ApiError::Unauthorized(
            "the refresh token is invalid or expired",
        )),
    }
}

/// What to sign out.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct LogoutRequest {
    /// The refresh token to revoke (with every token of its sign-in).
    pub refresh_token: Option<String>,
}

/// Sign out: this session ends (its access and refresh tokens stop working at once), and
/// the session of the refresh token given, if another.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", request_body(content = LogoutRequest, description = "Optional"),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Signed out"),
        MalformedRequest, NotSignedIn, InvalidFields,
    ))]
pub(super) async fn logout(
    State(state): State<AppState>,
    user: CurrentUser,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    // The body is optional: empty means "this session".
    let request: LogoutRequest = if body.iter().all(u8::is_ascii_whitespace) {
        LogoutRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            if e.is_data() {
                ApiError::Unprocessable(e.to_string())
            } else {
                ApiError::BadRequest(e.to_string())
            }
        })?
    };
    let now = Timestamp::now();
    // PostgreSQL first: it is what every request checks, and it survives a Redis loss.
    let mut conn = state.infra.db.acquire().await?;
    sessions::revoke_family(&mut conn, user.claims.sid, now).await?;
    if let Some(token) = request.refresh_token {
        sessions::revoke(&mut conn, user.claims.sub, &token, now).await?;
    }
    drop(conn);
    state.sessions.ended(user.claims.sub);
    deny(&state, &user, now).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Puts the access token on the deny list until it would have expired.
pub(super) async fn deny(
    state: &AppState,
    user: &CurrentUser,
    now: Timestamp,
) -> Result<(), ApiError> {
    let remaining_ms = (user.claims.exp - now.as_second()).max(1) * 1000;
    let mut redis = state.infra.redis.conn.clone();
    redis::cmd("SET")
        .arg(revoked_key(state, user.claims.jti))
        .arg(1)
        .arg("PX")
        .arg(remaining_ms)
        .query_async::<()>(&mut redis)
        .await
        .map_err(|e| ApiError::Internal(e.into()))
}

/// How many sessions ended.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignedOut {
    /// Sessions (sign-ins) ended, this one included.
    pub sessions: u64,
}

/// Sign out everywhere: every session of the account ends, this one included (a lost phone,
/// a shared computer).
#[utoipa::path(post, path = "/api/v1/auth/logout-all", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Signed out everywhere", body = SignedOut),
        NotSignedIn,
    ))]
pub(super) async fn logout_all(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    user: CurrentUser,
) -> Result<Json<SignedOut>, ApiError> {
    let now = Timestamp::now();
    let mut tx = state.infra.db.begin().await?;
    let sessions = sessions::revoke_all(&mut tx, user.claims.sub, None, now).await?;
    let event = Event::new("auth.logout_all", Channel::Api)
        .by(user.claims.sub)
        .from_ip(ip)
        .details(serde_json::json!({ "sessions": sessions }));
    audit::record(&mut tx, event).await?;
    tx.commit().await?;
    state.sessions.ended(user.claims.sub);
    deny(&state, &user, now).await?;
    tracing::info!(user = %user.claims.sub, sessions, "signed out everywhere");
    Ok(Json(SignedOut { sessions }))
}
