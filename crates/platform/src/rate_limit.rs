//! Rate limits shared by every replica of every service: a GCRA ("generic cell rate
//! algorithm") bucket per key in Redis, updated by one Lua script so that check and update are
//! atomic.
//!
//! Why not tower_governor: it counts per process, so N replicas would allow N times the rate,
//! and the api and the web app would each allow the full rate on their own.

use std::sync::LazyLock;
use std::time::Duration;

use crate::redis::Redis;

/// `limit` events per `period`, with bursts of up to `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Events allowed per period.
    pub limit: u32,
    /// The period.
    pub period: Duration,
}

impl Quota {
    /// `limit` (at least 1) per minute.
    pub fn per_minute(limit: u32) -> Self {
        Self {
            limit: limit.max(1),
            period: Duration::from_secs(60),
        }
    }

    /// `factor` times as many in the same period.
    pub fn times(self, factor: u32) -> Self {
        Self {
            limit: self.limit.saturating_mul(factor),
            period: self.period,
        }
    }
}

/// Why an event was not allowed.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// Over the quota: allowed again after this many seconds (at least 1).
    #[error("too many requests; retry after {retry_after} s")]
    Limited {
        /// Seconds until the next event would be allowed.
        retry_after: u64,
    },
    /// Redis did not answer.
    #[error("rate limit unavailable: {0}")]
    Unavailable(#[from] redis::RedisError),
}

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

/// Counts one event against `key`; refused when over `quota`.
pub async fn hit(redis: &Redis, key: &str, quota: Quota) -> Result<(), Refusal> {
    gcra(redis, key, quota, "hit").await
}

/// Refused when one more event on `key` would be over `quota`, counting nothing: with [`hit`]
/// after the fact, only the events that matter (failed sign-ins) are counted.
pub async fn check(redis: &Redis, key: &str, quota: Quota) -> Result<(), Refusal> {
    gcra(redis, key, quota, "peek").await
}

async fn gcra(redis: &Redis, key: &str, quota: Quota, mode: &str) -> Result<(), Refusal> {
    let interval_ms = (quota.period.as_millis() / u128::from(quota.limit.max(1))).max(1);
    let mut conn = redis.conn.clone();
    let (allowed, wait_ms): (i64, i64) = GCRA
        .key(key)
        .arg(u64::try_from(interval_ms).unwrap_or(u64::MAX))
        .arg(quota.limit)
        .arg(mode)
        .invoke_async(&mut conn)
        .await?;
    if allowed == 1 {
        Ok(())
    } else {
        let seconds = u64::try_from(wait_ms).unwrap_or(0).div_ceil(1000);
        Err(Refusal::Limited {
            retry_after: seconds.max(1),
        })
    }
}
