//! The MedSync HTTP API: what the clinic's web and mobile clients call.
//!
//! [`build`] returns an [`App`] bound to its port, so tests start the very same application the
//! binary runs.

use axum::Router;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use medsync_core::app::App;
use medsync_core::config::{ConfigError, Env, Source};
use medsync_core::infra::{BaseConfig, Infra};
use medsync_core::service::Spec;
use serde::Serialize;

/// The api service.
pub const SPEC: Spec = Spec {
    name: "api",
    about: "MedSync HTTP API",
    listen_var: "API_LISTEN_ADDR",
    default_port: 8080,
};

/// Everything the api reads from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen address, PostgreSQL, Redis.
    pub base: BaseConfig,
}

impl Config {
    /// Reads the api's variables.
    pub fn from_env<S: Source>(env: &Env<S>) -> Result<Self, ConfigError> {
        Ok(Self {
            base: BaseConfig::from_env(env, &SPEC)?,
        })
    }
}

/// Connects (lazily) and binds the listen address.
pub async fn build(config: Config) -> anyhow::Result<App> {
    let infra = Infra::connect(&config.base)?;
    build_with(config, infra).await
}

/// [`build`] with connections made by the caller (tests pass a fresh database).
pub async fn build_with(config: Config, infra: Infra) -> anyhow::Result<App> {
    App::bind(&config.base.http, infra.readiness(), routes()).await
}

fn routes() -> Router {
    Router::new()
        .route("/api/v1", get(info))
        .route("/api/v1/", get(info))
        .route("/api/v1/version", get(info))
        .fallback(not_found)
}

/// What this API is and which version answers.
#[derive(Debug, Serialize)]
struct Info {
    name: &'static str,
    service: &'static str,
    version: &'static str,
    api: &'static str,
}

async fn info() -> axum::Json<Info> {
    axum::Json(Info {
        name: "MedSync",
        service: SPEC.name,
        version: env!("CARGO_PKG_VERSION"),
        api: "v1",
    })
}

/// RFC 9457 problem details for an unknown route.
async fn not_found(uri: Uri) -> Response {
    let body = serde_json::json!({
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": format!("no route for {}", uri.path()),
    });
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "application/problem+json")],
        body.to_string(),
    )
        .into_response()
}
