//! The stylesheet and the script, served under names that carry a hash of their content
//! (`/app/static/app.<hash>.css`), so a browser may keep them for a year: a new release changes
//! the name. They are written for this app (no framework) and compiled into the binary.

use std::sync::LazyLock;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use crate::WebState;

/// One asset: its body, its type and its fingerprinted path.
#[derive(Debug)]
pub struct Asset {
    /// Where it is served, e.g. `/app/static/app.0123456789.css`.
    pub path: String,
    body: &'static str,
    content_type: &'static str,
}

impl Asset {
    fn new(stem: &str, extension: &str, body: &'static str, content_type: &'static str) -> Self {
        let digest = Sha256::digest(body.as_bytes());
        let hash: String = digest[..5].iter().map(|b| format!("{b:02x}")).collect();
        Self {
            path: format!("{}/static/{stem}.{hash}.{extension}", crate::PREFIX),
            body,
            content_type,
        }
    }
}

/// The app's assets.
#[derive(Debug)]
pub struct Assets {
    /// The stylesheet.
    pub css: Asset,
    /// The script.
    pub js: Asset,
}

/// Computed once, at first use.
pub static ASSETS: LazyLock<Assets> = LazyLock::new(|| Assets {
    css: Asset::new(
        "app",
        "css",
        include_str!("../assets/app.css"),
        "text/css; charset=utf-8",
    ),
    js: Asset::new(
        "app",
        "js",
        include_str!("../assets/app.js"),
        "text/javascript; charset=utf-8",
    ),
});

/// `GET` of each asset's fingerprinted path; any other name is the app's 404 page.
pub fn router() -> Router<WebState> {
    [&ASSETS.css, &ASSETS.js]
        .into_iter()
        .fold(Router::new(), |router, asset| {
            router.route(&asset.path, get(move || async move { serve(asset) }))
        })
}

fn serve(asset: &'static Asset) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
        ],
        asset.body,
    )
        .into_response()
}
