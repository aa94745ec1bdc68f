//! Who is asking: a Telegram user (`Authorization: tma <initData>`, verified on every request),
//! a browser's signed-in account (the session cookie), or nobody.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use jiff::Timestamp;
use medsync_domain::audit::Channel;
use medsync_domain::bookings::Actor;
use medsync_domain::sessions;
use medsync_domain::users::{self, Role, User};

use crate::WebState;
use crate::init_data;
use crate::render::{Layout, PageError};
use crate::session::{self, Session};

/// How the person reached us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// A browser, signed in by its session cookie or not at all.
    Browser,
    /// Telegram's Mini App, signed in by `initData`.
    Telegram,
}

/// The person asking, and how.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// Their account, when signed in.
    pub user: Option<User>,
    /// Browser or Telegram.
    pub via: Via,
    /// The browser session, when signed in by one.
    pub session: Option<String>,
}

impl Viewer {
    /// The account, or a 401 page that asks the person to sign in (and come back to `back`).
    pub fn require(&self, back: &str) -> Result<&User, PageError> {
        self.user.as_ref().ok_or_else(|| PageError::SignIn {
            next: back.to_owned(),
        })
    }

    /// The account when it has `role`; 403 otherwise.
    pub fn require_role(&self, back: &str, role: Role) -> Result<&User, PageError> {
        let user = self.require(back)?;
        if user.role == role {
            Ok(user)
        } else {
            Err(PageError::Forbidden)
        }
    }

    /// The signed-in account as the domain's actor.
    pub fn actor(user: &User) -> Actor {
        Actor {
            user_id: user.id,
            role: user.role,
            channel: Channel::Web,
        }
    }
}

impl FromRequestParts<WebState> for Viewer {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, PageError> {
        let tma = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(tma_credentials);
        if let Some(raw) = tma {
            let token = state
                .config
                .bot_token
                .as_ref()
                .ok_or(PageError::Telegram(init_data::Invalid::BadSignature))?;
            let telegram = init_data::verify(
                raw,
                token.expose(),
                state.config.init_data_max_age,
                Timestamp::now(),
            )
            .map_err(PageError::Telegram)?;
            let name =
                users::parse_name(&telegram.name()).unwrap_or_else(|_| "Telegram user".to_owned());
            let mut conn = state.infra.db.acquire().await?;
            let user = users::telegram_patient(&mut conn, telegram.id, &name).await?;
            return Ok(Self {
                user: Some(user),
                via: Via::Telegram,
                session: None,
            });
        }
        let Some(token) = session::token_of(&parts.headers) else {
            return Ok(Self::anonymous());
        };
        let found = state
            .sessions
            .find(&token)
            .await
            .map_err(PageError::Internal)?;
        let Some(Session { user_id, family }) = found else {
            return Ok(Self::anonymous());
        };
        if !sessions::is_live(&state.infra.db, user_id, family).await? {
            return Ok(Self::anonymous());
        }
        let user = users::get(&state.infra.db, user_id).await?;
        Ok(Self {
            session: user.is_some().then_some(token),
            user,
            via: Via::Browser,
        })
    }
}

impl Viewer {
    /// The layout of a page titled `title` for this person.
    pub fn layout(&self, title: impl Into<String>, state: &WebState) -> Layout {
        let role = self.user.as_ref().map(|u| u.role);
        Layout {
            name: self.user.as_ref().map(|u| u.name.clone()),
            patient: role == Some(Role::Patient),
            doctor: role == Some(Role::Doctor),
            admin: role == Some(Role::Admin),
            browser_session: self.session.is_some(),
            telegram: self.via == Via::Telegram,
            telegram_js: state.config.telegram_js_url.0.to_string(),
            ..Layout::bare(&title.into())
        }
    }

    fn anonymous() -> Self {
        Self {
            user: None,
            via: Via::Browser,
            session: None,
        }
    }
}

/// The credentials of an `Authorization: tma <initData>` header (the scheme in any case; an
/// empty one is refused as malformed), `None` for any other scheme.
pub fn tma_credentials(header: &str) -> Option<&str> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    scheme.eq_ignore_ascii_case("tma").then(|| rest.trim())
}
