//! Turning templates and failures into responses: every page shares the layout, every failure
//! is a page that says what happened (never a stack trace), and a server-side failure is
//! logged once, here.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use crate::PREFIX;
use crate::assets::ASSETS;
use crate::init_data::Invalid;

/// What the layout shows around every page: the title, the navigation for this person, the
/// assets, and where Telegram's script is.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The page's title.
    pub title: String,
    /// The signed-in person's name.
    pub name: Option<String>,
    /// Whether the navigation shows "My visits".
    pub patient: bool,
    /// Whether it shows the doctor's agenda.
    pub doctor: bool,
    /// Whether it shows today's bookings.
    pub admin: bool,
    /// Signed in by a browser session: a "Sign out" button.
    pub browser_session: bool,
    /// Inside Telegram.
    pub telegram: bool,
    /// The stylesheet's path.
    pub css: &'static str,
    /// The script's path.
    pub js: &'static str,
    /// Telegram's Mini App script (loaded by ours, inside Telegram only).
    pub telegram_js: String,
}

impl Layout {
    /// The layout of an error page, which knows nothing of the person.
    pub fn bare(title: &str) -> Self {
        Self {
            title: title.to_owned(),
            name: None,
            patient: false,
            doctor: false,
            admin: false,
            browser_session: false,
            telegram: false,
            css: &ASSETS.css.path,
            js: &ASSETS.js.path,
            telegram_js: String::new(),
        }
    }
}

/// `template` as an HTML page with `status`. Pages depend on who asks, so none is stored by a
/// cache.
pub fn page<T: Template>(status: StatusCode, template: &T) -> Result<Response, PageError> {
    let html = template
        .render()
        .map_err(|e| PageError::Internal(e.into()))?;
    Ok((
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        html,
    )
        .into_response())
}

/// A redirect after a form (303: the browser follows with a GET).
pub fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// `next` when it is one of our pages, else the home page: a sign-in link cannot send the
/// person to another site.
pub fn local_path(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with(&format!("{PREFIX}/"))
                && !path.starts_with("//")
                && !path.contains("://")
                && !path.contains('\\') =>
        {
            path.to_owned()
        }
        _ => format!("{PREFIX}/"),
    }
}

/// Every way a page can fail.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// No such page or thing.
    #[error("{0}")]
    NotFound(&'static str),
    /// This needs an account: to the sign-in page, then back to `next`.
    #[error("sign in first")]
    SignIn {
        /// Where to come back to.
        next: String,
    },
    /// Signed in, but not allowed.
    #[error("this page is not for your account")]
    Forbidden,
    /// Telegram's `initData` was refused.
    #[error("{0}")]
    Telegram(Invalid),
    /// A form sent from another site.
    #[error("this form was sent from another site, so it was refused")]
    CrossSite,
    /// A malformed request.
    #[error("{0}")]
    BadRequest(String),
    /// Too many attempts.
    #[error("too many attempts; try again in {retry_after} s")]
    Limited {
        /// Seconds until a retry may succeed.
        retry_after: u64,
    },
    /// Too busy right now.
    #[error("we are busy; try again in a moment")]
    Busy,
    /// A failure on our side.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for PageError {
    fn from(error: sqlx::Error) -> Self {
        Self::Internal(error.into())
    }
}

/// The error page.
#[derive(Debug, Template)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: Layout,
    status: u16,
    message: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = match &self {
            Self::SignIn { next } => {
                let to = format!(
                    "{PREFIX}/signin?next={}",
                    form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
                );
                return see_other(&to);
            }
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Forbidden | Self::CrossSite => StatusCode::FORBIDDEN,
            Self::Telegram(_) => StatusCode::UNAUTHORIZED,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Limited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(error) => {
                // The one place a server-side failure is logged (inside the request's span).
                tracing::error!(error = format!("{error:#}"), "page failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let message = match &self {
            Self::Internal(_) => "Something went wrong on our side. It has been logged; please \
                                  try again."
                .to_owned(),
            other => capitalised(&other.to_string()),
        };
        let title = status.canonical_reason().unwrap_or("Error");
        let template = ErrorPage {
            layout: Layout::bare(title),
            status: status.as_u16(),
            message,
        };
        let mut response = match page(status, &template) {
            Ok(response) => response,
            Err(_) => (status, title.to_owned()).into_response(),
        };
        let retry = match self {
            Self::Limited { retry_after } => Some(retry_after.max(1)),
            Self::Busy => Some(1),
            _ => None,
        };
        if let Some(seconds) = retry {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect::<String>() + ".",
        None => String::new(),
    }
}
