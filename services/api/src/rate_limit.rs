//! Rate limits shared by every api replica: a GCRA ("generic cell rate algorithm") bucket per
//! key in Redis, updated by one Lua script so that check and update are atomic.
//!
//! Why not tower_governor: it counts per process, so N replicas would allow N times the rate.

use std::net::{IpAddr, SocketAddr};
use std::sync::LazyLock;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use crate::config::Quota;
use crate::error::ApiError;
use crate::state::AppState;

static GCRA: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        local now_parts = redis.call('TIME')
        local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
        local interval = tonumber(ARGV[1])
        local burst = tonumber(ARGV[2])
        local peek = ARGV[3] == 'peek'
        local tat = tonumber(redis.call('GET', KEYS[1]) or now)
        if tat < now then tat = now end
        local new_tat = tat + interval
        local allow_at = new_tat - burst * interval
        if allow_at > now then
            return {0, allow_at - now}
        end
        if peek then return {1, 0} end
        redis.call('SET', KEYS[1], new_tat, 'PX', math.max(1, new_tat - now))
        return {1, 0}
        ",
    )
});

/// Counts one event against `key`; `Err(429)` with the wait when over `quota`.
pub async fn hit(state: &AppState, key: &str, quota: Quota) -> Result<(), ApiError> {
    gcra(state, key, quota, "hit").await
}

/// `Err(429)` when one more event on `key` would be over `quota`, counting nothing: with
/// [`hit`] after the fact, only the events that matter (failed sign-ins) are counted.
pub async fn check(state: &AppState, key: &str, quota: Quota) -> Result<(), ApiError> {
    gcra(state, key, quota, "peek").await
}

async fn gcra(state: &AppState, key: &str, quota: Quota, mode: &str) -> Result<(), ApiError> {
    let interval_ms = (quota.period.as_millis() / u128::from(quota.limit.max(1))).max(1);
    let mut conn = state.infra.redis.conn.clone();
    let (allowed, wait_ms): (i64, i64) = GCRA
        .key(key)
        .arg(u64::try_from(interval_ms).unwrap_or(u64::MAX))
        .arg(quota.limit)
        .arg(mode)
        .invoke_async(&mut conn)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    if allowed == 1 {
        Ok(())
    } else {
        let seconds = u64::try_from(wait_ms).unwrap_or(0).div_ceil(1000);
        Err(ApiError::TooManyRequests {
            retry_after: seconds.max(1),
        })
    }
}

/// The client's IP: the socket's peer, or nginx's `X-Real-IP` when `TRUST_PROXY_HEADERS=true`
/// (only then: the header is trivially forged by a client talking to the api directly).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if state.config.trust_proxy_headers {
            let forwarded = parts
                .headers
                .get("x-real-ip")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok());
            if let Some(ip) = forwarded {
                return Ok(Self(ip));
            }
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
        Ok(Self(peer))
    }
}
