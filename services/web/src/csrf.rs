//! Cross-site request forgery: a state-changing request is refused unless it comes from our
//! own pages.
//!
//! The check is the one Go's `net/http.CrossOriginProtection` makes, on headers every current
//! browser sends: `Sec-Fetch-Site` must be `same-origin` (or `none`: typed by the person);
//! without it, an `Origin` header must name this host. A request with neither did not come
//! from a browser's cross-site form (browsers send one or both on every POST), so it is let
//! through. Requests authenticated by `Authorization: tma …` carry no ambient credential, so
//! a forged one would not be signed in. Session cookies are also `SameSite=Lax`.
//!
//! Why not tokens in every form: this check needs no state, no token to render or to expire,
//! and covers every form a later change adds; the synchroniser-token pattern protects nothing
//! more against a browser that sends these headers.

use axum::extract::Request;
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::render::PageError;

/// Refuses a state-changing request that another site made the browser send.
pub async fn cross_origin_protection(request: Request, next: Next) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) || is_same_origin(request.headers())
    {
        next.run(request).await
    } else {
        PageError::CrossSite.into_response()
    }
}

fn is_same_origin(headers: &HeaderMap) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if text(header::AUTHORIZATION.as_str())
        .and_then(crate::viewer::tma_credentials)
        .is_some()
    {
        return true;
    }
    if let Some(site) = text("sec-fetch-site") {
        return matches!(site, "same-origin" | "none");
    }
    match text(header::ORIGIN.as_str()) {
        None => true,
        Some(origin) => {
            let authority = origin
                .split_once("://")
                .map_or(origin, |(_, authority)| authority);
            text(header::HOST.as_str()).is_some_and(|host| host.eq_ignore_ascii_case(authority))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap()))
            .collect()
    }

    #[test]
    fn same_origin_forms_pass_and_cross_site_ones_do_not() {
        let ok = [
            &[("sec-fetch-site", "same-origin")][..],
            &[("sec-fetch-site", "none")],
            &[
                ("origin", "https://clinic.example"),
                ("host", "clinic.example"),
            ],
            &[
                ("origin", "http://localhost:8000"),
                ("host", "localhost:8000"),
            ],
            &[("authorization", "tma query_id=1")],
            &[],
        ];
        for case in ok {
            assert!(is_same_origin(&headers(case)), "{case:?} refused");
        }
        let refused = [
            &[("sec-fetch-site", "cross-site")][..],
            &[("sec-fetch-site", "same-site")],
            &[
                ("sec-fetch-site", "cross-site"),
                ("origin", "https://clinic.example"),
                ("host", "clinic.example"),
            ],
            &[
                ("origin", "https://evil.example"),
                ("host", "clinic.example"),
            ],
            &[("origin", "null"), ("host", "clinic.example")],
            &[
                ("authorization", "Bearer x"),
                ("origin", "https://evil.example"),
            ],
        ];
        for case in refused {
            assert!(!is_same_origin(&headers(case)), "{case:?} passed");
        }
    }
}
