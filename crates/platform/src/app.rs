//! A long-running service as one value: its HTTP server (health, metrics and its own routes)
//! plus background loops, run together until shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::HttpConfig;
use crate::health::Readiness;
use crate::http::Server;

type Task = Box<
    dyn FnOnce(CancellationToken) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>
        + Send,
>;

/// A service bound to its port, with the loops it runs beside its server.
pub struct App {
    server: Server,
    tasks: Vec<(&'static str, Task)>,
    grace: Duration,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("server", &self.server)
            .field(
                "tasks",
                &self.tasks.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl App {
    /// Binds `http.listen` and serves `/healthz`, `/readyz`, `/metrics` and `routes`, all behind
    /// the shared middleware.
    pub async fn bind(
        http: &HttpConfig,
        readiness: Readiness,
        routes: Router,
    ) -> anyhow::Result<Self> {
        // Probes and scrapes arrive every few seconds: they are kept out of the request log
        // and the request metrics, which describe the service's real traffic.
        let router = crate::http::layered(routes, http).merge(crate::health::routes(readiness));
        let server = Server::bind(http, router)
            .await
            .with_context(|| format!("cannot listen on {}", http.listen))?;
        Ok(Self {
            server,
            tasks: Vec::new(),
            grace: http.shutdown_grace,
        })
    }

    /// Adds a loop that runs beside the server. It must return soon after its token is
    /// cancelled; an error from it stops the whole service.
    pub fn with_task<F, Fut>(mut self, name: &'static str, task: F) -> Self
    where
        F: FnOnce(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        self.tasks
            .push((name, Box::new(move |token| Box::pin(task(token)))));
        self
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.server.local_addr()
    }

    /// Runs the server and the loops until `shutdown` is cancelled (or a loop fails, which
    /// cancels it), then gives everything the grace period to finish.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let mut tasks = JoinSet::new();
        for (name, task) in self.tasks {
            let token = shutdown.clone();
            tasks.spawn(async move { (name, task(token).await) });
        }
        let watch = {
            let shutdown = shutdown.clone();
            let grace = self.grace;
            async move {
                let mut first_error = None;
                loop {
                    let next = if shutdown.is_cancelled() {
                        match tokio::time::timeout(grace, tasks.join_next()).await {
                            Ok(next) => next,
                            Err(_) => {
                                tracing::warn!(
                                    ?grace,
                                    "background tasks still running after the grace period; stopping them"
                                );
                                tasks.abort_all();
                                break;
                            }
                        }
                    } else {
                        tokio::select! {
                            next = tasks.join_next() => next,
                            () = shutdown.cancelled() => continue,
                        }
                    };
                    let Some(joined) = next else { break };
                    let error = match joined {
                        Ok((_, Ok(()))) => continue,
                        Ok((name, Err(e))) => e.context(format!("{name} failed")),
                        Err(e) => anyhow::Error::new(e).context("a background task panicked"),
                    };
                    shutdown.cancel();
                    first_error.get_or_insert(error);
                }
                first_error.map_or(Ok(()), Err)
            }
        };
        let (served, watched) = tokio::join!(self.server.run(shutdown), watch);
        watched?;
        served.context("HTTP server failed")
    }
}
