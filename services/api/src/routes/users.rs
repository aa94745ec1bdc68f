//! `/api/v1/users/me`: one's own account.

use axum::Json;
use axum::extract::State;
use medsync_domain::audit;
use medsync_domain::sessions;
use medsync_domain::users::{self, Password, ProfileChange, Role, User};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::CurrentUser;
use crate::error::doc::{InvalidFields, MalformedRequest, NotSignedIn};
use crate::error::{ApiError, Fields};
use crate::extract::ApiJson;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(me, update_me))
}

/// An account.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserOut {
    /// Its id.
    pub id: Uuid,
    /// Sign-in email (absent for accounts made by the Telegram bot).
    pub email: Option<String>,
    /// Display name.
    pub name: String,
    /// Phone number.
    pub phone: Option<String>,
    /// `patient`, `doctor` or `admin`.
    #[schema(value_type = String, example = "patient")]
    pub role: Role,
    /// Whether a Telegram account is linked.
    pub telegram_linked: bool,
}

impl From<User> for UserOut {
    fn from(u: User) -> Self {
        Self {
            id: u.id,
            email: u.email,
            name: u.name,
            phone: u.phone,
            role: u.role,
            telegram_linked: u.telegram_user_id.is_some(),
        }
    }
}

/// The signed-in account.
#[utoipa::path(get, path = "/api/v1/users/me", tag = "users", security(("bearer" = [])),
    responses(
        (status = 200, description = "The account", body = UserOut),
        NotSignedIn,
    ))]
async fn me(State(state): State<AppState>, user: CurrentUser) -> Result<Json<UserOut>, ApiError> {
    if let Some(known) = state.sessions.account(user.claims.sub) {
        return Ok(Json(known.into()));
    }
    let ticket = state.sessions.ticket();
    let found = users::get(&state.infra.db, user.claims.sub)
        .await?
        .ok_or(ApiError::Unauthorized("the account no longer exists"))?;
    state.sessions.keep_account(&found, ticket);
    Ok(Json(found.into()))
}

/// Changes to one's account; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateMe {
    /// New display name.
    pub name: Option<String>,
    /// New phone number; an empty string removes it.
    pub phone: Option<String>,
    /// New password (needs `current_password`).
    pub password: Option<String>,
    /// The current password, to change it.
    pub current_password: Option<String>,
}

/// Change one's name, phone or password.
#[utoipa::path(patch, path = "/api/v1/users/me", tag = "users", security(("bearer" = [])), request_body = UpdateMe,
    responses(
        (status = 200, description = "The updated account", body = UserOut),
        MalformedRequest, NotSignedIn, InvalidFields,
    ))]
async fn update_me(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(request): ApiJson<UpdateMe>,
) -> Result<Json<UserOut>, ApiError> {
    let mut fields = Fields::default();
    let mut change = ProfileChange::default();
    if let Some(name) = &request.name {
        change.name = fields.check("name", users::parse_name(name));
    }
    if let Some(phone) = &request.phone {
        change.phone = if phone.trim().is_empty() {
            Some(None)
        } else {
            fields.check("phone", users::parse_phone(phone)).map(Some)
        };
    }
    let new_password = match &request.password {
        Some(p) => fields.check("password", Password::parse(p)),
        None => None,
    };
    fields.finish()?;
    if let Some(password) = new_password {
        let current = request.current_password.ok_or_else(|| {
            ApiError::field("current_password", "is needed to change the password")
        })?;
        // Guesses at the current password are limited like sign-ins to the account: a
        // stolen access token must not become an offline-speed oracle for the password.
        state
            .accounts
            .guess_current_password(user.claims.sub)
            .await?;
        let stored = users::password_hash(&state.infra.db, user.claims.sub).await?;
        let ok = match stored {
            Some(hash) => state.accounts.hasher.verify(current, hash).await?,
            None => false,
        };
        if !ok {
            return Err(ApiError::field("current_password", "is wrong"));
        }
        change.password_hash = Some(
            state
                .accounts
                .hasher
                .hash(password.expose().to_owned())
                .await?,
        );
    }
    let changes_password = change.password_hash.is_some();
    let mut tx = state.infra.db.begin().await?;
    let updated = users::update_profile(&mut *tx, user.claims.sub, &change)
        .await?
        .ok_or(ApiError::Unauthorized("the account no longer exists"))?;
    if changes_password {
        // Whoever else knew the old password is signed out; this session stays.
        let ended = sessions::revoke_all(
            &mut tx,
            user.claims.sub,
            Some(user.claims.sid),
            jiff::Timestamp::now(),
        )
        .await?;
        tracing::info!(user = %user.claims.sub, other_sessions_ended = ended, "password changed");
        let event = audit::Event::new("user.password.changed", audit::Channel::Api)
            .by(user.claims.sub)
            .details(serde_json::json!({ "other_sessions_ended": ended }));
        audit::record(&mut tx, event).await?;
    }
    tx.commit().await?;
    // Its row (and, after a password change, its other sessions) as PostgreSQL now has them,
    // from the very next request.
    state.sessions.changed(user.claims.sub);
    Ok(Json(updated.into()))
}
