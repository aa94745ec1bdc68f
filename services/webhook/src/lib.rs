//! The Telegram webhook receiver. Telegram POSTs each update to `/telegram/webhook` (nginx
//! routes that path here); the receiver
//!
//! 1. compares `X-Telegram-Bot-Api-Secret-Token` with `TELEGRAM_WEBHOOK_SECRET` in constant
//!    time (401, nothing stored, when it differs or is missing);
//! 2. checks the body is a JSON object with an integer `update_id` (400 otherwise; 413 past
//!    the size limit);
//! 3. in one Redis script, marks the `update_id` as seen and appends the raw update to the
//!    stream the bot consumes — or does nothing if it was seen already (Telegram redelivers);
//! 4. answers 200 only once Redis accepted it, and 503 when Redis cannot be reached, so that
//!    Telegram keeps the update and delivers it again. Nothing is lost, nothing is doubled.
//!
//! [`build`] returns an [`App`] bound to its port, so tests start the very same application the
//! binary runs.

use std::sync::LazyLock;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use medsync_platform::app::App;
use medsync_platform::health::Readiness;
use medsync_platform::redis::Redis;
use medsync_platform::service::Spec;
use subtle::ConstantTimeEq;

mod config;

pub use config::Config;

/// The webhook service.
pub const SPEC: Spec = Spec {
    name: "webhook",
    about: "MedSync Telegram webhook receiver",
    listen_var: "WEBHOOK_LISTEN_ADDR",
    default_port: 8081,
};

/// The path Telegram posts to (the same behind nginx).
pub const PATH: &str = "/telegram/webhook";

/// Telegram's updates are a few kilobytes; anything far larger is not one.
const MAX_BODY_BYTES: usize = 256 * 1024;

/// How long an `update_id` is remembered (Telegram gives up redelivering within a day).
const SEEN_TTL_SECONDS: u64 = 24 * 60 * 60;

/// The Redis keys of the update hand-off, shared with the bot.
pub fn stream_key(redis: &Redis) -> String {
    redis.keys().telegram_updates()
}

fn seen_key(redis: &Redis, update_id: i64) -> String {
    redis.keys().key(&["tg", "seen", &update_id.to_string()])
}

#[derive(Clone)]
struct Intake {
    redis: Redis,
    secret: Option<Vec<u8>>,
    maxlen: u64,
}

/// Connects (lazily) and binds the listen address.
pub async fn build(config: Config) -> anyhow::Result<App> {
    let redis = anyhow::Context::context(Redis::connect(&config.redis), "REDIS_URL")?;
    build_with(config, redis).await
}

/// [`build`] with the Redis connection made by the caller (tests pass their own prefix).
pub async fn build_with(config: Config, redis: Redis) -> anyhow::Result<App> {
    if config.secret.is_none() {
        tracing::warn!("TELEGRAM_WEBHOOK_SECRET is not set: every update will be refused");
    }
    let intake = Intake {
        redis: redis.clone(),
        secret: config
            .secret
            .as_ref()
            .map(|s| s.expose().as_bytes().to_vec()),
        maxlen: config.stream_maxlen,
    };
    let routes = Router::new()
        .route(PATH, post(receive))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(intake);
    App::bind(&config.http, Readiness::redis_only(redis), routes).await
}

static HAND_OFF: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[2]) then
            if ARGV[5] == '' then
                redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'update', ARGV[1], 'request_id', ARGV[4])
            else
                redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'update', ARGV[1], 'request_id', ARGV[4], 'traceparent', ARGV[5])
            end
            return 1
        end
        return 0
        ",
    )
});

fn answer(status: StatusCode, outcome: &'static str, detail: &'static str) -> Response {
    metrics::counter!("telegram_webhook_updates_total", "outcome" => outcome).increment(1);
    (status, detail).into_response()
}

async fn receive(State(intake): State<Intake>, headers: HeaderMap, body: Bytes) -> Response {
    let given = headers
        .get("x-telegram-bot-api-secret-token")
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    let authorized = intake
        .secret
        .as_deref()
        .is_some_and(|secret| bool::from(secret.ct_eq(given)));
    if !authorized {
        return answer(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "wrong or missing secret token",
        );
    }
    let update_id = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("update_id").and_then(serde_json::Value::as_i64));
    let Some(update_id) = update_id else {
        return answer(
            StatusCode::BAD_REQUEST,
            "malformed",
            "expected a JSON Telegram update with an update_id",
        );
    };
    // The request's id (and trace context, when traces are exported) travels with the update:
    // the bot handles it, and enqueues its jobs, under the same id (medsync_domain::correlation).
    let request_id = headers
        .get(medsync_platform::http::REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let mut conn = intake.redis.conn.clone();
    let added: Result<i64, _> = HAND_OFF
        .key(seen_key(&intake.redis, update_id))
        .key(stream_key(&intake.redis))
        .arg(body.as_ref())
        .arg(SEEN_TTL_SECONDS)
        .arg(intake.maxlen)
        .arg(request_id)
        .arg(medsync_platform::traces::current_traceparent().unwrap_or_default())
        .invoke_async(&mut conn)
        .await;
    match added {
        Ok(1) => answer(StatusCode::OK, "accepted", "ok"),
        Ok(_) => answer(StatusCode::OK, "duplicate", "ok"),
        Err(error) => {
            tracing::error!(%error, update_id, "cannot hand the update to Redis; Telegram will redeliver it");
            answer(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "try again later",
            )
        }
    }
}
