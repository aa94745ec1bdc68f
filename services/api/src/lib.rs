//! The MedSync HTTP API: what the clinic's web and mobile clients call.
//!
//! Routes live in [`routes`](mod@routes), one module per resource; the booking rules they call
//! live in the shared domain code (`medsync_domain`), which the bot calls too. [`build`]
//! returns an [`App`] bound to its port, so tests start the very same application the binary
//! runs.

pub mod auth;
pub mod changes;
pub mod client_ip;
pub mod config;
pub mod error;
pub mod extract;
#[cfg(feature = "harness")]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub mod harness;
pub mod kept_pages;
pub mod live_sessions;
pub mod routes;
pub mod slots_cache;
pub mod state;
pub mod tokens;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Method, header};
use axum::response::{IntoResponse, Response};
use medsync_platform::accounts::Accounts;
use medsync_platform::app::App;
use medsync_platform::infra::Infra;
use medsync_platform::service::Spec;
use serde::Serialize;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

pub use config::Config;

use crate::error::ApiError;
use crate::kept_pages::KeptPages;
use crate::live_sessions::LiveSessions;
use crate::slots_cache::SlotsCache;
use crate::state::AppState;
use crate::tokens::Tokens;

/// The api service.
pub const SPEC: Spec = Spec {
    name: "api",
    about: "MedSync HTTP API",
    listen_var: "API_LISTEN_ADDR",
    default_port: 8080,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "MedSync API",
        description = "Appointment booking for a clinic: accounts, catalog, free slots, bookings.\n\n\
            Errors are RFC 9457 problem details (`application/problem+json`). Sign in at \
            `/api/v1/auth/login` and send the access token as `Authorization: Bearer <token>`.\n\n\
            Times: every date-time this API returns (bookings, slots, time off, link codes, jobs, \
            audit events) is RFC 3339 with the clinic's UTC offset at that instant \
            (`CLINIC_TIMEZONE`), e.g. `2030-03-31T09:00:00+02:00`; date-times sent to it may carry \
            any offset or `Z`.",
        license(name = "MIT OR Apache-2.0")
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "meta", description = "About this API"),
        (name = "auth", description = "Accounts and tokens"),
        (name = "users", description = "One's own account"),
        (name = "catalog", description = "Specialties, doctors, schedules, free slots"),
        (name = "bookings", description = "Appointments"),
        (name = "telegram", description = "Linking a Telegram account"),
        (name = "admin", description = "Operating the stack: the job queue and the audit trail"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The OpenAPI document and the routes it describes.
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(info))
        .merge(routes::router())
        .split_for_parts()
}

/// Connects (lazily) and binds the listen address.
pub async fn build(config: Config) -> anyhow::Result<App> {
    let infra = Infra::connect(&config.base)?;
    build_with(config, infra).await
}

/// [`build`] with connections made by the caller (tests pass a fresh database).
pub async fn build_with(config: Config, infra: Infra) -> anyhow::Result<App> {
    let tokens = Tokens::new(
        &config.secret_key,
        config.secret_key_previous.as_ref(),
        config.algorithm,
        config.access_ttl,
    );
    let accounts = Accounts::new(&infra, config.accounts.clone()).await?;
    let slots_cache = SlotsCache::new(config.slots_cache_bytes);
    // The lists and the doctors search share the memory, half each.
    let lists_cache = KeptPages::new(
        config.lists_cache_bytes / 2,
        kept_pages::LISTS_CHANNEL,
        "medsync_lists_cache_requests_total",
    );
    let doctors_cache = KeptPages::new(
        config.lists_cache_bytes / 2,
        kept_pages::CATALOG_CHANNEL,
        "medsync_doctors_cache_requests_total",
    );
    let sessions = LiveSessions::new(config.session_cache_entries);
    let feeds = [
        slots_cache.changes(),
        lists_cache.changes(),
        doctors_cache.changes(),
        sessions.changes(),
    ]
    .into_iter()
    .flatten()
    .collect();
    let state = AppState::new(state::Shared {
        infra: infra.clone(),
        config: Arc::new(config),
        tokens,
        accounts,
        slots_cache,
        lists_cache,
        doctors_cache,
        sessions,
    });
    let router = router(state.clone());
    let db = infra.db.clone();
    Ok(
        App::bind(&state.config.base.http, infra.readiness(), router)
            .await?
            .with_task("changes", move |shutdown| {
                changes::listen(db, feeds, shutdown)
            }),
    )
}

fn router(state: AppState) -> Router {
    let (api_routes, openapi) = api();
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(state.config.cors_origins.0.clone()))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PATCH,
            Method::PUT,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("idempotency-key"),
            HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([HeaderName::from_static("x-request-id"), header::RETRY_AFTER])
        .max_age(std::time::Duration::from_secs(3600));
    let max_body = state.config.max_body_bytes;
    // The document always; the interactive page only where asked for (development): it is
    // a console for trying requests, more surface than a production API needs.
    let docs = if state.config.docs_ui {
        Router::new().merge(SwaggerUi::new("/api/docs").url("/api/openapi.json", openapi))
    } else {
        Router::new().route(
            "/api/openapi.json",
            axum::routing::get(move || async move { axum::Json(openapi) }),
        )
    };
    let audited =
        axum::middleware::from_fn_with_state(state.clone(), routes::admin::audit_admin_changes);
    api_routes
        .layer(audited)
        .merge(docs)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(CompressionLayer::new())
        .layer(cors)
}

/// What this API is and which version answers.
#[derive(Debug, Serialize, ToSchema)]
struct Info {
    /// `MedSync`.
    name: &'static str,
    /// `api`.
    service: &'static str,
    /// The release.
    version: &'static str,
    /// `v1`.
    api: &'static str,
}

/// This API's name and version.
#[utoipa::path(get, path = "/api/v1/version", tag = "meta", responses((status = 200, description = "Name and version", body = Info)))]
async fn info() -> axum::Json<Info> {
    axum::Json(Info {
        name: "MedSync",
        service: SPEC.name,
        version: env!("CARGO_PKG_VERSION"),
        api: "v1",
    })
}

async fn not_found(uri: axum::http::Uri) -> Response {
    ApiError::NotFound(format!("no route for {}", uri.path())).into_response()
}

async fn method_not_allowed() -> Response {
    ApiError::Status(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this route".to_owned(),
    )
    .into_response()
}
