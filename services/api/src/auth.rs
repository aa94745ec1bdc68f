//! Who is calling: the extractors that turn `Authorization: Bearer <access token>` into the
//! signed-in caller (see [`crate::tokens`] for the token itself).
//!
//! Every request checks that the token's session is still signed in (PostgreSQL), so signing
//! out, signing out everywhere, or a password or role change ends the access tokens at once;
//! signing out also puts the token's `jti` on a Redis deny list until it would have expired.
//! A session found live is remembered until anything ends one of its account's sessions
//! ([`crate::live_sessions`]); only a session not remembered is checked in Redis and
//! PostgreSQL.

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use medsync_domain::bookings::Actor;
use medsync_domain::sessions;
use medsync_domain::users::Role;
use uuid::Uuid;

use crate::error::ApiError;
use crate::state::AppState;
use crate::tokens::Claims;

/// The deny-list key of a token id.
pub fn revoked_key(state: &AppState, jti: Uuid) -> String {
    state
        .infra
        .redis
        .keys()
        .key(&["auth", "revoked", &jti.to_string()])
}

/// The signed-in caller, with any role.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    /// Their claims.
    pub claims: Claims,
    /// The raw token (for logout).
    pub token: String,
}

impl CurrentUser {
    /// As the domain's actor.
    pub fn actor(&self) -> Actor {
        Actor {
            user_id: self.claims.sub,
            role: self.claims.role,
            channel: medsync_domain::audit::Channel::Api,
        }
    }
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or(ApiError::Unauthorized(
                "sign in: Authorization: Bearer <access token>",
            ))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or(ApiError::Unauthorized(
                "the Authorization header must be: Bearer <access token>",
            ))?;
        let claims = state.tokens.verify(token).ok_or(ApiError::Unauthorized(
            "the access token is invalid or expired",
        ))?;
        if state.sessions.is_live(claims.sub, claims.sid) {
            return Ok(Self {
                claims,
                token: token.to_owned(),
            });
        }
        let ticket = state.sessions.ticket();
        let mut redis = state.infra.redis.conn.clone();
        let revoked: bool = redis::cmd("EXISTS")
            .arg(revoked_key(state, claims.jti))
            .query_async(&mut redis)
            .await
            .map_err(|e| ApiError::Internal(e.into()))?;
        if revoked {
            return Err(ApiError::Unauthorized("the access token was revoked"));
        }
        if !sessions::is_live(&state.infra.db, claims.sub, claims.sid).await? {
            return Err(ApiError::Unauthorized(
                "the session was signed out (sign-out everywhere, or a password or role change)",
            ));
        }
        state.sessions.keep(claims.sub, claims.sid, ticket);
        Ok(Self {
            claims,
            token: token.to_owned(),
        })
    }
}

/// Which roles a route accepts.
pub trait Allowed {
    /// The roles.
    const ROLES: &'static [Role];
}

/// Admins only.
#[derive(Debug)]
pub struct Admins;
impl Allowed for Admins {
    const ROLES: &'static [Role] = &[Role::Admin];
}

/// Doctors only.
#[derive(Debug)]
pub struct Doctors;
impl Allowed for Doctors {
    const ROLES: &'static [Role] = &[Role::Doctor];
}

/// Patients only.
#[derive(Debug)]
pub struct Patients;
impl Allowed for Patients {
    const ROLES: &'static [Role] = &[Role::Patient];
}

/// The signed-in caller, who must have one of `R::ROLES`: 401 when not signed in, 403 when
/// signed in with another role.
#[derive(Debug)]
pub struct Authorized<R> {
    /// The caller.
    pub user: CurrentUser,
    role: PhantomData<R>,
}

impl<R: Allowed + Send + Sync> FromRequestParts<AppState> for Authorized<R> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let user = CurrentUser::from_request_parts(parts, state).await?;
        if R::ROLES.contains(&user.claims.role) {
            Ok(Self {
                user,
                role: PhantomData,
            })
        } else {
            Err(ApiError::Forbidden)
        }
    }
}
