//! The shared middleware: a panicking handler is a logged 500 problem, not a dropped
//! connection; a slow one is cut off by the request timeout.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use medsync_platform::config::HttpConfig;
use medsync_platform::http::{Server, layered};
use tokio_util::sync::CancellationToken;

async fn serve(router: Router) -> (String, CancellationToken) {
    let config = HttpConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        shutdown_grace: Duration::from_secs(1),
        request_timeout: Duration::from_millis(300),
    };
    let server = Server::bind(&config, layered(router, &config))
        .await
        .unwrap();
    let url = format!("http://{}", server.local_addr().unwrap());
    let token = CancellationToken::new();
    tokio::spawn(server.run(token.clone()));
    (url, token)
}

#[tokio::test]
async fn a_panicking_handler_answers_a_500_problem() {
    async fn boom() -> &'static str {
        panic!("boom")
    }
    let (url, token) = serve(Router::new().route("/boom", get(boom))).await;

    let response = reqwest::get(format!("{url}/boom")).await.unwrap();

    assert_eq!(response.status(), 500);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body = response.text().await.unwrap();
    assert!(
        body.contains("\"status\":500") && !body.contains("boom"),
        "{body}"
    );
    token.cancel();
}

#[tokio::test]
async fn a_request_past_the_timeout_answers_503() {
    let slow = || async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        "late"
    };
    let (url, token) = serve(Router::new().route("/slow", get(slow))).await;

    let response = reqwest::get(format!("{url}/slow")).await.unwrap();

    assert_eq!(response.status(), 503);
    token.cancel();
}
