//! Graceful shutdown of the shared HTTP server.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use medsync_platform::config::HttpConfig;
use medsync_platform::http::Server;
use tokio_util::sync::CancellationToken;

fn config(grace: Duration) -> HttpConfig {
    HttpConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        shutdown_grace: grace,
        request_timeout: Duration::from_secs(30),
    }
}

fn slow_router(delay: Duration) -> Router {
    Router::new().route(
        "/slow",
        get(move || async move {
            tokio::time::sleep(delay).await;
            "done"
        }),
    )
}

#[tokio::test]
async fn an_in_flight_request_finishes_after_shutdown_begins() {
    let server = Server::bind(
        &config(Duration::from_secs(5)),
        slow_router(Duration::from_millis(700)),
    )
    .await
    .unwrap();
    let url = format!("http://{}/slow", server.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(server.run(shutdown.clone()));

    let request = tokio::spawn(async move { reqwest::get(url).await?.text().await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    shutdown.cancel();

    assert_eq!(request.await.unwrap().unwrap(), "done");
    running.await.unwrap().unwrap();
}

#[tokio::test]
async fn shutdown_does_not_wait_past_the_grace_period() {
    let server = Server::bind(
        &config(Duration::from_millis(300)),
        slow_router(Duration::from_secs(60)),
    )
    .await
    .unwrap();
    let url = format!("http://{}/slow", server.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(server.run(shutdown.clone()));
    let _request = tokio::spawn(reqwest::get(url));
    tokio::time::sleep(Duration::from_millis(200)).await;

    let started = Instant::now();
    shutdown.cancel();
    running.await.unwrap().unwrap();

    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn new_connections_are_refused_after_shutdown() {
    let server = Server::bind(&config(Duration::from_secs(1)), slow_router(Duration::ZERO))
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(server.run(shutdown.clone()));

    shutdown.cancel();
    running.await.unwrap().unwrap();

    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
