//! The web app: the clinic's pages for a plain browser and, the same pages, a Telegram Mini
//! App. Server-rendered HTML (askama templates compiled into the binary); the core flow (find a
//! doctor, pick a time, book, cancel) works with JavaScript off, and JavaScript is needed only
//! where Telegram's own API is (its `initData`, theme and buttons).
//!
//! Who is asking (`viewer`): inside Telegram, every request carries
//! `Authorization: tma <initData>`, verified per request ([`init_data`]); in a browser, a
//! session cookie (`session`); else nobody. Bookings go through the same domain function as
//! the api's and the bot's, with an idempotency key per form, so a double tap books once.
//!
//! [`build`] returns an [`App`] bound to its port, so tests start the very same application the
//! binary runs.

mod assets;
mod config;
mod csrf;
pub mod init_data;
mod pages;
mod render;
mod session;
mod viewer;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use medsync_platform::accounts::Accounts;
use medsync_platform::app::App;
use medsync_platform::infra::Infra;
use medsync_platform::service::Spec;
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;

pub use config::{Config, FrameAncestors, TELEGRAM_WEBAPP_JS};

/// The web service.
pub const SPEC: Spec = Spec {
    name: "web",
    about: "MedSync web app and Telegram Mini App",
    listen_var: "WEB_LISTEN_ADDR",
    default_port: 8084,
};

/// Where the pages live (nginx routes this prefix here).
pub const PREFIX: &str = "/app";

/// What every page handler can reach; cheap to clone.
#[derive(Debug, Clone)]
pub struct WebState {
    /// PostgreSQL and Redis.
    pub infra: Infra,
    /// Configuration.
    pub config: Arc<Config>,
    /// Sign-in and registration, as the api does them.
    pub accounts: Accounts,
    /// Browser sessions.
    pub sessions: session::Sessions,
}

/// Connects (lazily) and binds the listen address.
pub async fn build(config: Config) -> anyhow::Result<App> {
    let infra = Infra::connect(&config.base)?;
    build_with(config, infra).await
}

/// [`build`] with connections made by the caller (tests pass a fresh database).
pub async fn build_with(config: Config, infra: Infra) -> anyhow::Result<App> {
    if config.bot_token.is_none() {
        tracing::warn!("TELEGRAM_BOT_TOKEN is not set: the Mini App cannot sign anyone in");
    }
    let accounts = Accounts::new(&infra, config.accounts.clone()).await?;
    let sessions = session::Sessions::new(&infra.redis, &config);
    let state = WebState {
        infra: infra.clone(),
        config: Arc::new(config),
        accounts,
        sessions,
    };
    let router = router(state.clone());
    App::bind(&state.config.base.http, infra.readiness(), router).await
}

/// The Content-Security-Policy: our own scripts and styles, Telegram's script, our own
/// requests, forms posted to us, framed only by Telegram Web (and tgsim in development).
fn content_security_policy(config: &Config) -> String {
    let url = &config.telegram_js_url.0;
    let telegram = match url.port() {
        Some(port) => format!("{}://{}:{port}", url.scheme(), url.host_str().unwrap_or("")),
        None => format!("{}://{}", url.scheme(), url.host_str().unwrap_or("")),
    };
    format!(
        "default-src 'none'; script-src 'self' {telegram}; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'self' {}",
        config.frame_ancestors.0.join(" ")
    )
}

fn router(state: WebState) -> Router {
    let csp = HeaderValue::from_str(&content_security_policy(&state.config))
        .unwrap_or(HeaderValue::from_static("default-src 'none'"));
    pages::router()
        .route_layer(axum::middleware::from_fn(csrf::cross_origin_protection))
        .merge(assets::router())
        .fallback(pages::not_found)
        .with_state(state)
        .layer(CompressionLayer::new())
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            csp,
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("permissions-policy"),
            HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
        ))
}
