//! `/api/v1/telegram/link`: link a Telegram account to one's MedSync account.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jiff::Timestamp;
use medsync_domain::clock::rfc3339_in;
use medsync_domain::telegram_links;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::error::doc::NotSignedIn;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_link))
}

/// A one-time link code.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkOut {
    /// The code (what the bot receives as `/start <code>`).
    pub code: String,
    /// Open this in Telegram to link the account.
    #[schema(example = "https://t.me/medsync_bot?start=...")]
    pub url: String,
    /// After this the code links nothing (RFC 3339).
    pub expires_at: String,
}

/// A one-time code, and its `https://t.me/<bot>?start=<code>` link, that links the Telegram
/// account that opens it to the signed-in account.
#[utoipa::path(post, path = "/api/v1/telegram/link", tag = "telegram", security(("bearer" = [])),
    responses(
        (status = 201, description = "A new code", body = LinkOut),
        NotSignedIn,
    ))]
async fn create_link(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<(StatusCode, Json<LinkOut>), ApiError> {
    let mut conn = state.infra.db.acquire().await?;
    let link = telegram_links::issue(
        &mut conn,
        user.claims.sub,
        state.config.link_ttl,
        Timestamp::now(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(LinkOut {
            url: format!(
                "https://t.me/{}?start={}",
                state.config.bot_username, link.code
            ),
            expires_at: rfc3339_in(link.expires_at, &state.config.booking.timezone),
            code: link.code,
        }),
    ))
}
