//! The id of the request a piece of work comes from, carried to what it causes: an HTTP
//! request's `X-Request-Id` (set by nginx or the service), or the one the webhook stored with a
//! Telegram update, is stored with every job enqueued while handling it, and the worker logs
//! its job's lines under it — so `grep <id>` over the stack's logs follows one booking from the
//! request to the patient's message.
//!
//! It is a task-local value set around a request's or an update's handler ([`scope`]), not a
//! parameter of every domain function: the domain reads it in one place ([`current`], when it
//! enqueues a job) and nothing else depends on it. A task spawned inside does not inherit it.
//!
//! When the process exports OpenTelemetry traces, its telemetry also installs a
//! [`set_trace_source`]: the current span's W3C `traceparent`, stored with the job beside the
//! request id so the worker's span continues the same trace. The domain only stores the text.

use std::future::Future;
use std::sync::OnceLock;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The longest id kept; longer ones are cut (ids come from clients through nginx).
pub const MAX_LEN: usize = 128;

/// Runs `work` with `id` as the current request id.
pub async fn scope<F: Future>(id: String, work: F) -> F::Output {
    let mut id = id;
    if id.len() > MAX_LEN {
        let mut end = MAX_LEN;
        while !id.is_char_boundary(end) {
            end -= 1;
        }
        id.truncate(end);
    }
    REQUEST_ID.scope(id, work).await
}

/// The current request id, inside [`scope`].
pub fn current() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Where the current trace context comes from: set once by a process that exports traces.
static TRACE_SOURCE: OnceLock<fn() -> Option<String>> = OnceLock::new();

/// Installs `source`, which returns the current span's W3C `traceparent` (the first call
/// wins; the others are ignored).
pub fn set_trace_source(source: fn() -> Option<String>) {
    let _already_set = TRACE_SOURCE.set(source);
}

/// The current trace context, as a W3C `traceparent`, when traces are exported.
pub fn traceparent() -> Option<String> {
    TRACE_SOURCE
        .get()
        .and_then(|source| source())
        .filter(|t| t.len() <= MAX_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_id_is_there_inside_the_scope_only_and_cut_to_its_limit() {
        assert_eq!(current(), None);
        let inside = scope("req-1".to_owned(), async { current() }).await;
        assert_eq!(inside, Some("req-1".to_owned()));
        assert_eq!(current(), None);
        let long = scope("é".repeat(100), async { current() }).await.unwrap();
        assert!(
            long.len() <= MAX_LEN && long.chars().all(|c| c == 'é'),
            "{long}"
        );
    }
}
