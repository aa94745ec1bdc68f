//! The client's address, which the rate limits (`medsync_platform::rate_limit`) key on.

use std::net::IpAddr;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::error::ApiError;
use crate::state::AppState;

/// The client's IP: the socket's peer, or nginx's `X-Real-IP` when `TRUST_PROXY_HEADERS=true`
/// (only then: the header is trivially forged by a client talking to the api directly).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(Self(medsync_platform::http::client_ip(
            parts,
            state.config.trust_proxy_headers,
        )))
    }
}
