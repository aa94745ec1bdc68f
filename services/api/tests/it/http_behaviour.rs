//! What any client meets whatever the route: problem answers for malformed requests, limits,
//! CORS, the OpenAPI document and its docs page.

use std::io::Read as _;

use medsync_api::harness as common;

use common::{spawn, spawn_with};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn malformed_requests_get_problem_answers_not_500s(p: PgPoolOptions, o: PgConnectOptions) {
    let api = spawn(p, o).await;
    let url = format!("{}/api/v1/auth/register", api.app.url);
    let json = |body: &'static str| {
        api.client
            .post(url.clone())
            .header("content-type", "application/json")
            .body(body)
    };

    let syntax = api.send(json("{\"email\":")).await;
    let shape = api.send(json("{\"email\": 5}")).await;
    let no_type = api.send(api.client.post(url.clone()).body("{}")).await;
    let too_big = api
        .send(
            api.client
                .post(url.clone())
                .header("content-type", "application/json")
                .body(vec![b' '; 70_000]),
        )
        .await;
    let wrong_method = api.send(api.client.delete(url.clone())).await;

    for (answer, status) in [
        (&syntax, 400),
        (&shape, 422),
        (&no_type, 415),
        (&too_big, 413),
        (&wrong_method, 405),
    ] {
        assert_eq!(answer.status, status, "{answer:?}");
        assert_eq!(
            answer.headers["content-type"], "application/problem+json",
            "{answer:?}"
        );
        assert_eq!(answer.body["status"], status);
    }
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn cors_allows_the_configured_origins_only(p: PgPoolOptions, o: PgConnectOptions) {
    let api = spawn_with(
        p,
        o,
        &[("CORS_ALLOWED_ORIGINS", "https://app.clinic.example")],
    )
    .await;
    let preflight = |origin: &'static str| {
        api.client
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/api/v1/bookings", api.app.url),
            )
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type,idempotency-key",
            )
    };

    let allowed = api.send(preflight("https://app.clinic.example")).await;
    let other = api.send(preflight("https://evil.example")).await;

    assert_eq!(
        allowed.headers["access-control-allow-origin"],
        "https://app.clinic.example"
    );
    assert!(other.headers.get("access-control-allow-origin").is_none());
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn the_openapi_document_and_its_offline_docs_page_are_served(
    p: PgPoolOptions,
    o: PgConnectOptions,
) {
    let api = spawn(p, o).await;

    let spec = api.get("/api/openapi.json", None).await;
    let docs = api
        .client
        .get(format!("{}/api/docs/", api.app.url))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();

    assert_eq!(spec.status, 200);
    assert!(spec.body["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/api/v1/auth/login",
        "/api/v1/bookings",
        "/api/v1/doctors/{id}/slots",
        "/api/v1/users/me",
    ] {
        assert!(
            spec.body["paths"].get(path).is_some(),
            "{path} not documented"
        );
    }
    assert_eq!(docs.status(), 200);
    // The assets are embedded gzipped (most of their size otherwise) and sent so: the page is
    // for browsers, which all take gzip.
    assert_eq!(docs.headers()["content-encoding"], "gzip");
    let mut page = String::new();
    flate2::read::GzDecoder::new(&docs.bytes().await.unwrap()[..])
        .read_to_string(&mut page)
        .unwrap();
    assert!(page.contains("swagger-ui"), "{page}");
    assert!(
        !page.contains("cdn."),
        "the docs page must not load assets from a CDN"
    );
    let bundle = api
        .send(
            api.client
                .get(format!("{}/api/docs/swagger-ui-bundle.js", api.app.url)),
        )
        .await;
    assert_eq!(bundle.status, 200);
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn without_api_docs_ui_only_the_openapi_document_is_served(
    p: PgPoolOptions,
    o: PgConnectOptions,
) {
    let api = spawn_with(p, o, &[("API_DOCS_UI", "false")]).await;

    let spec = api.get("/api/openapi.json", None).await;
    let docs = api.get("/api/docs/", None).await;

    assert_eq!(spec.status, 200);
    assert!(spec.body["openapi"].as_str().unwrap().starts_with("3.1"));
    assert_eq!(docs.status, 404, "{docs:?}");
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn large_answers_are_compressed_when_the_client_accepts_it(
    p: PgPoolOptions,
    o: PgConnectOptions,
) {
    let api = spawn(p, o).await;

    let response = api
        .client
        .get(format!("{}/api/openapi.json", api.app.url))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-encoding"], "gzip");
}
