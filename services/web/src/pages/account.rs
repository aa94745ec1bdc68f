//! Accounts in the browser: sign in, create an account (the same accounts, limits and rules as
//! the api), sign out; and linking Telegram with the one-time link the api also issues.
//! Inside Telegram nobody signs in here: Telegram's `initData` does.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use jiff::Timestamp;
use medsync_domain::audit::Channel;
use medsync_domain::clock::rfc3339_in;
use medsync_domain::telegram_links;
use medsync_domain::users::User;
use medsync_platform::accounts::{Refused, Registration};
use serde::Deserialize;

use super::{PageForm, PageQuery, when};
use crate::render::{Layout, PageError, local_path, page, see_other};
use crate::viewer::{Via, Viewer};
use crate::{PREFIX, WebState};

pub fn router() -> Router<WebState> {
    Router::new()
        .route(&format!("{PREFIX}/signin"), get(signin_page).post(signin))
        .route(
            &format!("{PREFIX}/register"),
            get(register_page).post(register),
        )
        .route(&format!("{PREFIX}/signout"), post(signout))
        .route(
            &format!("{PREFIX}/telegram"),
            get(telegram_page).post(link_telegram),
        )
}

/// The client's address, as the rate limits see it.
struct ClientIp(std::net::IpAddr);

impl axum::extract::FromRequestParts<WebState> for ClientIp {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, PageError> {
        Ok(Self(medsync_platform::http::client_ip(
            parts,
            state.config.trust_proxy_headers,
        )))
    }
}

#[derive(Debug, Deserialize)]
struct Next {
    next: Option<String>,
}

#[derive(Debug, Template)]
#[template(path = "signin.html")]
struct SignIn {
    layout: Layout,
    next: String,
    email: String,
    error: Option<String>,
}

async fn signin_page(
    State(state): State<WebState>,
    viewer: Viewer,
    PageQuery(next): PageQuery<Next>,
) -> Result<Response, PageError> {
    let next = local_path(next.next.as_deref());
    if viewer.user.is_some() {
        return Ok(see_other(&next));
    }
    let layout = viewer.layout("Sign in", &state);
    page(
        StatusCode::OK,
        &SignIn {
            layout,
            next,
            email: String::new(),
            error: None,
        },
    )
}

#[derive(Debug, Deserialize)]
struct SignInForm {
    email: String,
    password: String,
    next: Option<String>,
}

/// Starts a browser session for `user` (ending the one the browser had) and goes to `next`.
async fn start_session(
    state: &WebState,
    viewer: &Viewer,
    user: &User,
    ip: std::net::IpAddr,
    next: &str,
) -> Result<Response, PageError> {
    if let Some(old) = &viewer.session {
        state.sessions.end(&state.infra.db, old).await?;
    }
    let token = state.sessions.start(&state.infra.db, user, ip).await?;
    let mut response = see_other(next);
    response
        .headers_mut()
        .append(header::SET_COOKIE, state.sessions.cookie(&token));
    Ok(response)
}

async fn signin(
    State(state): State<WebState>,
    viewer: Viewer,
    ClientIp(ip): ClientIp,
    PageForm(form): PageForm<SignInForm>,
) -> Result<Response, PageError> {
    let next = local_path(form.next.as_deref());
    let outcome = state
        .accounts
        .sign_in(&form.email, form.password, ip, Channel::Web)
        .await;
    let error = match outcome {
        Ok(user) => return start_session(&state, &viewer, &user, ip, &next).await,
        Err(Refused::WrongCredentials) => "Wrong email or password.".to_owned(),
        Err(refused) => return Err(failure(refused)),
    };
    let layout = viewer.layout("Sign in", &state);
    page(
        StatusCode::UNAUTHORIZED,
        &SignIn {
            layout,
            next,
            email: form.email,
            error: Some(error),
        },
    )
}

/// What a refusal that is not the form's own fault becomes.
fn failure(refused: Refused) -> PageError {
    match refused {
        Refused::Limited { retry_after } => PageError::Limited { retry_after },
        Refused::Busy => PageError::Busy,
        Refused::Failed(e) => PageError::Internal(e),
        other => PageError::BadRequest(other.to_string()),
    }
}

#[derive(Debug, Default, Deserialize)]
struct RegisterForm {
    email: String,
    password: String,
    name: String,
    phone: Option<String>,
    next: Option<String>,
}

#[derive(Debug, Template)]
#[template(path = "register.html")]
struct Register {
    layout: Layout,
    next: String,
    email: String,
    name: String,
    phone: String,
    errors: Vec<(&'static str, &'static str)>,
    error: Option<String>,
}

async fn register_page(
    State(state): State<WebState>,
    viewer: Viewer,
    PageQuery(next): PageQuery<Next>,
) -> Result<Response, PageError> {
    let next = local_path(next.next.as_deref());
    if viewer.user.is_some() {
        return Ok(see_other(&next));
    }
    let layout = viewer.layout("Create an account", &state);
    page(
        StatusCode::OK,
        &Register {
            layout,
            next,
            email: String::new(),
            name: String::new(),
            phone: String::new(),
            errors: Vec::new(),
            error: None,
        },
    )
}

async fn register(
    State(state): State<WebState>,
    viewer: Viewer,
    ClientIp(ip): ClientIp,
    PageForm(form): PageForm<RegisterForm>,
) -> Result<Response, PageError> {
    let next = local_path(form.next.as_deref());
    let registration = Registration {
        email: &form.email,
        password: &form.password,
        name: &form.name,
        phone: form.phone.as_deref(),
    };
    let (status, errors, error) = match state.accounts.register(registration, ip).await {
        Ok(user) => return start_session(&state, &viewer, &user, ip, &next).await,
        Err(Refused::Invalid(errors)) => (StatusCode::UNPROCESSABLE_ENTITY, errors, None),
        Err(Refused::EmailTaken) => (
            StatusCode::CONFLICT,
            Vec::new(),
            Some("An account with this email exists: sign in instead.".to_owned()),
        ),
        Err(refused) => return Err(failure(refused)),
    };
    let layout = viewer.layout("Create an account", &state);
    page(
        status,
        &Register {
            layout,
            next,
            email: form.email,
            name: form.name,
            phone: form.phone.unwrap_or_default(),
            errors,
            error,
        },
    )
}

async fn signout(State(state): State<WebState>, viewer: Viewer) -> Result<Response, PageError> {
    if let Some(token) = &viewer.session {
        state.sessions.end(&state.infra.db, token).await?;
    }
    let mut response = see_other(&format!("{PREFIX}/"));
    response
        .headers_mut()
        .append(header::SET_COOKIE, state.sessions.removal());
    Ok(response)
}

#[derive(Debug, Template)]
#[template(path = "telegram.html")]
struct TelegramLink {
    layout: Layout,
    linked: bool,
    link: Option<String>,
    expires: String,
    in_telegram: bool,
}

async fn telegram_page(
    State(state): State<WebState>,
    viewer: Viewer,
) -> Result<Response, PageError> {
    let user = viewer.require(&format!("{PREFIX}/telegram"))?;
    let layout = viewer.layout("Telegram", &state);
    page(
        StatusCode::OK,
        &TelegramLink {
            linked: user.telegram_user_id.is_some(),
            in_telegram: viewer.via == Via::Telegram,
            layout,
            link: None,
            expires: String::new(),
        },
    )
}

async fn link_telegram(
    State(state): State<WebState>,
    viewer: Viewer,
) -> Result<Response, PageError> {
    let user = viewer.require(&format!("{PREFIX}/telegram"))?;
    let mut conn = state.infra.db.acquire().await?;
    let link =
        telegram_links::issue(&mut conn, user.id, state.config.link_ttl, Timestamp::now()).await?;
    let tz = &state.config.rules.timezone;
    let layout = viewer.layout("Telegram", &state);
    let template = TelegramLink {
        linked: user.telegram_user_id.is_some(),
        in_telegram: viewer.via == Via::Telegram,
        layout,
        link: Some(format!(
            "https://t.me/{}?start={}",
            state.config.bot_username, link.code
        )),
        expires: format!(
            "{} ({})",
            when(link.expires_at, tz),
            rfc3339_in(link.expires_at, tz)
        ),
    };
    let mut response = page(StatusCode::OK, &template)?;
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}
