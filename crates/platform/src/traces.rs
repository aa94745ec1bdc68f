//! OpenTelemetry traces, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set ([`TracesConfig`]).
//!
//! The services' `tracing` spans (an HTTP request, a Telegram update, a job) become
//! OpenTelemetry spans through `tracing-opentelemetry`, batched and POSTed as OTLP/HTTP
//! protobuf to the collector by the SDK's own thread (so an unreachable collector slows no
//! request; spans past the queue's limit are dropped and the SDK logs it).
//!
//! The trace context crosses the places a request's work leaves the process in the W3C
//! `traceparent` form: an HTTP request continues the caller's trace (its `traceparent`
//! header), a job stores the enqueuing span's ([`current_traceparent`], through
//! `medsync_domain::correlation`) and the worker's job span continues it
//! ([`continue_trace`]); the webhook stores it with a Telegram update in the stream and the
//! bot continues it. When traces are off all of this is skipped: nothing is parsed, nothing
//! stored.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{KeyValue, global};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::registry::LookupSpan;

use crate::config::TracesConfig;

/// Whether this process exports traces (set once, by [`Traces::install`]).
static ENABLED: AtomicBool = AtomicBool::new(false);

/// How long one export may take before the SDK gives it up.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);

/// The exporting tracer provider: flushes what is queued when shut down.
#[derive(Debug)]
pub struct Traces {
    provider: SdkTracerProvider,
}

impl Traces {
    /// Builds the exporter and provider for `service` (`service.name` is `medsync-<service>`).
    /// Must run outside an async runtime: the blocking HTTP client it builds refuses to be
    /// created or dropped inside one.
    pub fn new(config: &TracesConfig, service: &str) -> anyhow::Result<Self> {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(config.traces_url())
            .with_timeout(EXPORT_TIMEOUT)
            .with_headers(
                config
                    .headers
                    .0
                    .clone()
                    .into_iter()
                    .collect::<HashMap<_, _>>(),
            )
            .build()?;
        let resource = Resource::builder_empty()
            .with_service_name(format!("medsync-{service}"))
            .with_attributes([
                KeyValue::new("service.namespace", "medsync"),
                KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
            ])
            .build();
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                config.sample_ratio,
            ))))
            .with_resource(resource)
            .build();
        Ok(Self { provider })
    }

    /// The `tracing` layer that turns spans into this provider's spans.
    pub fn layer<S>(&self) -> impl tracing_subscriber::Layer<S> + use<S>
    where
        S: tracing::Subscriber + for<'span> LookupSpan<'span>,
    {
        tracing_opentelemetry::layer()
            .with_tracer(self.provider.tracer("medsync"))
            .with_tracked_inactivity(false)
    }

    /// Makes this process propagate trace context (jobs and stream entries carry it from
    /// now on). Called once the layer is installed.
    pub fn install(&self) {
        global::set_text_map_propagator(TraceContextPropagator::new());
        ENABLED.store(true, Ordering::Relaxed);
        medsync_domain::correlation::set_trace_source(current_traceparent);
    }

    /// Exports what is queued now (tests; shutdown does it too).
    pub fn flush(&self) -> anyhow::Result<()> {
        Ok(self.provider.force_flush()?)
    }

    /// Exports what is queued and stops the exporter, within 2 s (SIGTERM's grace and this
    /// stay inside the 10 s an orchestrator waits before SIGKILL, collector down or not).
    pub fn shutdown(&self) {
        if let Err(error) = self.provider.shutdown_with_timeout(Duration::from_secs(2)) {
            tracing::warn!(%error, "the last spans could not be exported");
        }
    }
}

/// Whether traces are exported.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The current span's context as a W3C `traceparent` value, when traces are on and the span
/// is recorded.
pub fn current_traceparent() -> Option<String> {
    if !enabled() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&Span::current().context(), &mut carrier);
    carrier.remove("traceparent")
}

/// Makes `span` continue the trace `traceparent` names (a caller's, or the one stored with a
/// job). Ignored when traces are off, or when the value is absent or malformed (the span
/// then starts a trace of its own).
pub fn continue_trace(span: &Span, traceparent: Option<&str>, tracestate: Option<&str>) {
    let Some(traceparent) = traceparent.filter(|_| enabled()) else {
        return;
    };
    let mut carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    if let Some(state) = tracestate {
        carrier.insert("tracestate".to_owned(), state.to_owned());
    }
    let cx = TraceContextPropagator::new().extract(&carrier);
    // Fails only when the span is disabled (filtered out): nothing to attach it to.
    drop(span.set_parent(cx));
}
