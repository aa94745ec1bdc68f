//! OpenTelemetry traces: a booking made through the api with a caller's `traceparent` and the
//! job it enqueues, run by the worker, arrive at a local OTLP/HTTP receiver as spans of one
//! trace: the caller's span → the api's request span → the worker's job span.
//!
//! A test binary of its own: the exporter is installed as the process's global subscriber, as
//! in a service (a thread's scoped subscriber misses spans whose call sites other tests of a
//! shared binary registered first).

// Test code panics on a broken expectation: that is the failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../it/common.rs"]
#[allow(dead_code)]
mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use medsync_api::harness::{self, token};
use medsync_platform::config::{Env, TracesConfig};
use medsync_platform::traces::Traces;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tracing_subscriber::layer::SubscriberExt;

use crate::common::{Sim, TOKEN, config, pool, wait_until, worker};

/// What the receiver got: each export's headers and spans.
type Received = Arc<Mutex<Vec<(HeaderMap, Vec<Span>)>>>;

/// A tiny OTLP/HTTP receiver on its own thread and runtime (the SDK's export thread posts to
/// it while the test's runtime is blocked in a flush).
fn receiver() -> (SocketAddr, Received) {
    let received = Received::default();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let state = received.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let app = axum::Router::new()
                .route(
                    "/v1/traces",
                    axum::routing::post(
                        |State(received): State<Received>, headers: HeaderMap, body: Bytes| async move {
                            let request = ExportTraceServiceRequest::decode(body).unwrap();
                            let spans = request
                                .resource_spans
                                .into_iter()
                                .flat_map(|r| r.scope_spans)
                                .flat_map(|s| s.spans)
                                .collect();
                            received.lock().unwrap().push((headers, spans));
                            ""
                        },
                    ),
                )
                .with_state(state);
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    (addr, received)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attribute(span: &Span, key: &str) -> Option<AnyValue> {
    span.attributes
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| a.value.clone()?.value)
}

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn a_booking_and_its_job_are_one_trace_at_the_collector(
    pool_options: PgPoolOptions,
    options: PgConnectOptions,
) {
    let (addr, received) = receiver();
    let endpoint = format!("http://{addr}");
    let traces_config = TracesConfig::from_env(&Env::new(std::collections::HashMap::from([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20t0ken"),
    ])))
    .unwrap()
    .unwrap();
    let traces = Traces::new(&traces_config, "worker").unwrap();
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry()
            .with(tracing_subscriber::EnvFilter::new("info"))
            .with(traces.layer()),
    )
    .unwrap();
    traces.install();

    let db = pool(&options).await;
    let api = harness::spawn(pool_options, options.clone()).await;
    let admin = api.admin().await;
    let (doctor, _) = api.doctor(token(&admin), "Dr. Trace").await;
    let patient = api.patient("traced@example.com").await;
    let slot = api.slots(doctor, 3, 4).await.remove(0);
    let booked = api
        .send(
            api.client
                .post(format!("{}/api/v1/bookings", api.app.url))
                .bearer_auth(token(&patient))
                .header("traceparent", format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"))
                .json(&json!({"doctor_id": doctor, "starts_at": slot})),
        )
        .await;
    assert_eq!(booked.status, 201, "{booked:?}");
    // A malformed traceparent is no error: the request starts a trace of its own.
    let garbage = api
        .send(
            api.client
                .get(format!("{}/api/v1/doctors", api.app.url))
                .header("traceparent", "00-not-a-trace-01"),
        )
        .await;
    assert_eq!(garbage.status, 200, "{garbage:?}");

    let stored: Option<String> =
        sqlx::query_scalar("SELECT traceparent FROM jobs WHERE kind = 'booking.confirmation'")
            .fetch_one(&db)
            .await
            .unwrap();
    let stored = stored.expect("the job carries the request's trace context");
    assert!(
        stored.starts_with(&format!("00-{CALLER_TRACE}-")),
        "{stored}"
    );

    let sim = Sim::start().await;
    let url = sim.url();
    let vars = [
        ("TELEGRAM_BOT_TOKEN", TOKEN),
        ("TELEGRAM_API_URL", url.as_str()),
    ];
    let worker = worker(config(&options, &vars)).await;
    wait_until(
        &db,
        "SELECT status = 'succeeded' FROM jobs WHERE kind = 'booking.confirmation'",
        20,
    )
    .await;
    // The job's span ends once its lane has recorded the outcome, a moment after the row
    // says succeeded: export until it has arrived (or 10 s have passed).
    for _ in 0..50 {
        traces.flush().unwrap();
        let exported = received
            .lock()
            .unwrap()
            .iter()
            .any(|(_, spans)| spans.iter().any(|s| s.name == "job booking.confirmation"));
        if exported {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    worker.stop().await.unwrap();
    api.app.stop().await.unwrap();

    let exports = received.lock().unwrap().clone();
    assert!(!exports.is_empty(), "nothing was exported");
    for (headers, _) in &exports {
        assert_eq!(headers["authorization"], "Bearer t0ken");
        assert_eq!(headers["content-type"], "application/x-protobuf");
    }
    let spans: Vec<Span> = exports.into_iter().flat_map(|(_, s)| s).collect();
    let named = |name: &str| -> Vec<&Span> { spans.iter().filter(|s| s.name == name).collect() };

    let request = named("POST /api/v1/bookings");
    let [request] = request.as_slice() else {
        panic!("one booking request span: {request:?}");
    };
    assert_eq!(
        hex(&request.trace_id),
        CALLER_TRACE,
        "continues the caller's trace"
    );
    assert_eq!(hex(&request.parent_span_id), CALLER_SPAN);
    assert_eq!(
        attribute(request, "http.response.status_code"),
        Some(AnyValue::IntValue(201))
    );

    let job = named("job booking.confirmation");
    let [job] = job.as_slice() else {
        let names: Vec<&String> = spans.iter().map(|s| &s.name).collect();
        panic!("one job span: {job:?} among {names:?}");
    };
    assert_eq!(
        hex(&job.trace_id),
        CALLER_TRACE,
        "the job is in the same trace"
    );
    assert_eq!(
        job.parent_span_id, request.span_id,
        "the job's parent is the request that enqueued it"
    );

    let fresh = named("GET /api/v1/doctors");
    let fresh = fresh.last().expect("the doctors list request span");
    assert_ne!(hex(&fresh.trace_id), CALLER_TRACE);
    assert!(fresh.parent_span_id.is_empty(), "a root span of its own");
}
