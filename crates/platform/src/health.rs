//! `/healthz` (the process answers), `/readyz` (its dependencies answer) and `/metrics`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde::Serialize;
use sqlx::PgPool;

use crate::redis::Redis;

/// How long one dependency may take to answer before it counts as down.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// A check of the service's own state (its job lanes are alive, Telegram accepts its token):
/// `Ok` or why not. Cheap and synchronous: it reads state the service keeps up to date.
pub type LocalCheck = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// The dependencies a service needs to do its work, and checks of its own state.
#[derive(Clone)]
pub struct Readiness {
    /// `None` for a service that never queries PostgreSQL (the webhook).
    postgres: Option<PgPool>,
    /// `None` for a service that never uses Redis (the backup service).
    redis: Option<Redis>,
    timeout: Duration,
    local: Vec<(&'static str, LocalCheck)>,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readiness")
            .field("timeout", &self.timeout)
            .field(
                "local",
                &self.local.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// The outcome of one dependency's check.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Check {
    /// `true` when the dependency answered in time.
    pub ok: bool,
    /// Round-trip time in milliseconds.
    pub latency_ms: u64,
    /// Why it failed; absent when it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The readiness report served by `/readyz`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `ready` or `unavailable`.
    pub status: &'static str,
    /// PostgreSQL's check; absent for a service that does not use it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postgres: Option<Check>,
    /// Redis's check; absent for a service that does not use it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis: Option<Check>,
    /// The service's own checks, by name (e.g. `lanes`, `telegram`).
    #[serde(flatten)]
    pub local: BTreeMap<&'static str, Check>,
}

impl Report {
    /// Whether every dependency answered and every own check passed.
    pub fn is_ready(&self) -> bool {
        self.postgres.as_ref().is_none_or(|c| c.ok)
            && self.redis.as_ref().is_none_or(|c| c.ok)
            && self.local.values().all(|c| c.ok)
    }

    /// The names of the dependencies that did not answer, e.g. `["postgres"]`.
    pub fn failing(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.postgres.as_ref().is_some_and(|c| !c.ok) {
            names.push("postgres");
        }
        if self.redis.as_ref().is_some_and(|c| !c.ok) {
            names.push("redis");
        }
        names.extend(self.local.iter().filter(|(_, c)| !c.ok).map(|(n, _)| *n));
        names
    }
}

impl Readiness {
    /// Checks of `postgres` and `redis`, each bounded by [`CHECK_TIMEOUT`].
    pub fn new(postgres: PgPool, redis: Redis) -> Self {
        Self {
            postgres: Some(postgres),
            redis: Some(redis),
            timeout: CHECK_TIMEOUT,
            local: Vec::new(),
        }
    }

    /// A check of `redis` only, for a service that never queries PostgreSQL.
    pub fn redis_only(redis: Redis) -> Self {
        Self {
            postgres: None,
            redis: Some(redis),
            timeout: CHECK_TIMEOUT,
            local: Vec::new(),
        }
    }

    /// A check of `postgres` only, for a service that never uses Redis.
    pub fn postgres_only(postgres: PgPool) -> Self {
        Self {
            postgres: Some(postgres),
            redis: None,
            timeout: CHECK_TIMEOUT,
            local: Vec::new(),
        }
    }

    /// Adds a check of the service's own state, reported under `name`.
    pub fn with_check(
        mut self,
        name: &'static str,
        check: impl Fn() -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.local.push((name, Arc::new(check)));
        self
    }

    /// The same checks with another time bound.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Asks both dependencies at once.
    pub async fn check(&self) -> Report {
        let postgres = async {
            let pool = self.postgres.as_ref()?;
            Some(
                timed(self.timeout, async {
                    sqlx::query_scalar::<_, i32>("SELECT 1")
                        .fetch_one(pool)
                        .await
                        .map(drop)
                        .map_err(|e| e.to_string())
                })
                .await,
            )
        };
        let redis = async {
            let mut conn = self.redis.as_ref()?.conn.clone();
            Some(
                timed(self.timeout, async move {
                    redis::cmd("PING")
                        .query_async::<String>(&mut conn)
                        .await
                        .map(drop)
                        .map_err(|e| e.to_string())
                })
                .await,
            )
        };
        let (postgres, redis) = tokio::join!(postgres, redis);
        let local = self
            .local
            .iter()
            .map(|(name, check)| {
                let error = check().err();
                (
                    *name,
                    Check {
                        ok: error.is_none(),
                        latency_ms: 0,
                        error,
                    },
                )
            })
            .collect();
        let mut report = Report {
            status: "ready",
            postgres,
            redis,
            local,
        };
        if !report.is_ready() {
            report.status = "unavailable";
        }
        report
    }
}

async fn timed(timeout: Duration, check: impl Future<Output = Result<(), String>>) -> Check {
    let started = Instant::now();
    let outcome = tokio::time::timeout(timeout, check).await;
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let error = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e),
        Err(_) => Some(format!("no answer within {} ms", timeout.as_millis())),
    };
    Check {
        ok: error.is_none(),
        latency_ms,
        error,
    }
}

/// `GET /healthz`, `GET /readyz`, `GET /metrics`.
pub fn routes(readiness: Readiness) -> Router {
    // Installs the recorder now, so what the service records from its start is kept.
    drop(crate::telemetry::metrics_handle());
    Router::new()
        .route(
            "/healthz",
            get(|| async { Json(serde_json::json!({"status": "ok"})) }),
        )
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(readiness)
}

async fn readyz(State(readiness): State<Readiness>) -> impl IntoResponse {
    let report = readiness.check().await;
    if report.is_ready() {
        (StatusCode::OK, Json(report))
    } else {
        tracing::warn!(failing = ?report.failing(), "not ready");
        (StatusCode::SERVICE_UNAVAILABLE, Json(report))
    }
}

/// `GET /metrics`: what the service recorded, plus what a scrape measures now, so that alerts
/// need nothing but Prometheus: `medsync_ready` (1 when `/readyz` would answer 200),
/// `medsync_check_up{check}` (each dependency and own check) and the PostgreSQL pool's
/// `medsync_db_pool_connections{state}` beside `medsync_db_pool_max_connections`.
async fn metrics(State(readiness): State<Readiness>) -> impl IntoResponse {
    let report = readiness.check().await;
    let up = |ok: bool| if ok { 1.0 } else { 0.0 };
    metrics::gauge!("medsync_ready").set(up(report.is_ready()));
    let dependencies = [("postgres", &report.postgres), ("redis", &report.redis)];
    for (name, check) in dependencies {
        if let Some(check) = check {
            metrics::gauge!("medsync_check_up", "check" => name).set(up(check.ok));
        }
    }
    for (name, check) in &report.local {
        metrics::gauge!("medsync_check_up", "check" => *name).set(up(check.ok));
    }
    if let Some(pool) = &readiness.postgres {
        let (size, idle) = (
            pool.size(),
            u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
        );
        let max = pool.options().get_max_connections();
        metrics::gauge!("medsync_db_pool_connections", "state" => "in_use")
            .set(f64::from(size.saturating_sub(idle)));
        metrics::gauge!("medsync_db_pool_connections", "state" => "idle").set(f64::from(idle));
        metrics::gauge!("medsync_db_pool_max_connections").set(f64::from(max));
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::telemetry::metrics_handle().render(),
    )
}
