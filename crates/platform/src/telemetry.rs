//! Logs and metrics.
//!
//! Logs go to stdout through `tracing`: one JSON object per line in production
//! (`LOG_FORMAT=json`), readable text in development; `RUST_LOG` filters them. The same spans
//! are exported as OpenTelemetry traces when `OTEL_EXPORTER_OTLP_ENDPOINT` is set
//! ([`crate::traces`]). Metrics are
//! recorded with the `metrics` facade into one Prometheus recorder per process, rendered by each
//! service's `GET /metrics`.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{LogFormat, TelemetryConfig};
use crate::traces::Traces;

/// Installs the global log subscriber, with the trace exporter of `service` when traces are
/// configured (returned: shut it down at exit to send the last spans). A second call (tests
/// start several apps in one process) keeps the first subscriber. Must run outside an async
/// runtime (see [`Traces::new`]).
pub fn init(service: &str, config: &TelemetryConfig) -> anyhow::Result<Option<Traces>> {
    let traces = config
        .traces
        .as_ref()
        .map(|traces| Traces::new(traces, service))
        .transpose()?;
    let filter = EnvFilter::try_new(&config.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(traces.as_ref().map(Traces::layer));
    let result = match config.format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false),
            )
            .try_init(),
        LogFormat::Pretty => registry.with(tracing_subscriber::fmt::layer()).try_init(),
    };
    // Err only means a subscriber is already installed (and the exporter would see nothing).
    match result {
        Ok(()) => {
            if let Some(traces) = &traces {
                traces.install();
                tracing::info!(
                    endpoint = config.traces.as_ref().map(|t| t.traces_url()),
                    "exporting traces"
                );
            }
            Ok(traces)
        }
        Err(_) => Ok(None),
    }
}

/// Buckets for request and job durations, in seconds: 1 ms to 10 s.
const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The process's Prometheus recorder, installed on first use and shared by every app in the
/// process (the `metrics` facade has one global recorder).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("_duration_seconds".to_owned()),
                    DURATION_BUCKETS,
                )
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder was installed first; ours then stays unused but
            // still renders (empty) output instead of crashing the service.
            drop(metrics::set_global_recorder(recorder));
            handle
        })
        .clone()
}

/// Records the service's name and version as `medsync_build_info{service,version} 1`.
pub fn record_build_info(service: &'static str) {
    // The recorder first: a gauge set before it is installed would be lost.
    drop(metrics_handle());
    metrics::gauge!(
        "medsync_build_info",
        "service" => service,
        "version" => env!("CARGO_PKG_VERSION"),
    )
    .set(1.0);
}
