//! The off-host copy, against a small S3 stand-in on loopback that checks each PUT is a
//! presigned SigV4 request with its length: the service uploads every backup and its checksum,
//! a store that fails every time is counted and changes nothing locally, and the backups it
//! missed go up once it answers again, each once.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use medsync_backup::archive;
use medsync_backup::offsite::{Offsite, marker_path};
use medsync_platform::config::Env;
use medsync_testkit as testing;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::{Scratch, clinic, config};

/// The objects the stand-in holds, by key; and whether it is failing.
#[derive(Clone, Default)]
struct Store {
    objects: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
    failing: Arc<AtomicBool>,
}

async fn put(
    State(store): State<Store>,
    UrlPath((bucket, key)): UrlPath<(String, String)>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    if store.failing.load(Ordering::Relaxed) {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let signed = query.get("X-Amz-Algorithm").map(String::as_str) == Some("AWS4-HMAC-SHA256")
        && query
            .get("X-Amz-Credential")
            .is_some_and(|c| c.starts_with("AKIATEST/") && c.contains("/eu-central-1/s3/"))
        && query.get("X-Amz-Signature").is_some_and(|s| s.len() == 64);
    let length = headers
        .get("content-length")
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if bucket != "clinic-backups" || !signed || length != Some(body.len()) {
        return StatusCode::FORBIDDEN;
    }
    store.objects.lock().unwrap().insert(key, body.to_vec());
    StatusCode::OK
}

async fn stand_in() -> (SocketAddr, Store) {
    let store = Store::default();
    let app = axum::Router::new()
        .route("/{bucket}/{*key}", axum::routing::put(put))
        .with_state(store.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, store)
}

fn s3_vars(endpoint: &str) -> Vec<(&str, &str)> {
    vec![
        ("BACKUP_S3_BUCKET", "clinic-backups"),
        ("BACKUP_S3_ENDPOINT", endpoint),
        ("BACKUP_S3_REGION", "eu-central-1"),
        ("BACKUP_S3_PREFIX", "clinic-a/"),
        ("BACKUP_S3_ACCESS_KEY_ID", "AKIATEST"),
        ("BACKUP_S3_SECRET_ACCESS_KEY", "test-secret"),
    ]
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn each_backup_and_its_checksum_are_copied_off_the_host_once(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let pool = PgPoolOptions::new()
        .connect_with(options.clone())
        .await
        .unwrap();
    clinic(&pool).await;
    let (addr, store) = stand_in().await;
    let endpoint = format!("http://{addr}");
    let dir = Scratch::new();

    // The store fails every time: the backup is taken all the same, the failed copy counted,
    // and nothing marks it copied.
    store.failing.store(true, Ordering::Relaxed);
    let app = testing::TestApp::spawn(
        medsync_backup::build(config(&options, &dir.0, &s3_vars(&endpoint)))
            .await
            .unwrap(),
    );
    let metrics = wait_for_count(&app, "medsync_backup_uploads_total{outcome=\"failed\"}", 1).await;
    assert!(
        metrics.contains("medsync_backup_last_upload_timestamp_seconds 0"),
        "{metrics}"
    );
    assert_eq!(
        app.ready_within(10).await,
        200,
        "a failing copy does not stop backups"
    );
    app.stop().await.unwrap();
    let first = archive::list(&dir.0).unwrap();
    assert_eq!(first.len(), 1);
    assert!(!marker_path(&first[0]).exists());
    assert!(store.objects.lock().unwrap().is_empty());

    // The store answers again; the service starts again: the backup it missed goes up with
    // the new one, each beside its checksum, byte for byte.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    store.failing.store(false, Ordering::Relaxed);
    let app = testing::TestApp::spawn(
        medsync_backup::build(config(&options, &dir.0, &s3_vars(&endpoint)))
            .await
            .unwrap(),
    );
    wait_for_count(&app, "medsync_backup_uploads_total{outcome=\"ok\"}", 2).await;
    app.stop().await.unwrap();
    let backups = archive::list(&dir.0).unwrap();
    assert_eq!(backups.len(), 2);
    {
        let objects = store.objects.lock().unwrap();
        assert_eq!(objects.len(), 4, "{:?}", objects.keys().collect::<Vec<_>>());
        for backup in &backups {
            let name = backup.path.file_name().unwrap().to_str().unwrap();
            let dump = &objects[&format!("clinic-a/{name}")];
            assert_eq!(dump, &std::fs::read(&backup.path).unwrap());
            let checksum = &objects[&format!("clinic-a/{name}.sha256")];
            assert_eq!(checksum, &std::fs::read(backup.checksum_path()).unwrap());
            assert!(marker_path(backup).exists());
        }
    }

    // Nothing is uploaded twice: a later pass finds nothing pending.
    store.objects.lock().unwrap().clear();
    let offsite = Offsite::from_env(&Env::new(
        s3_vars(&endpoint)
            .into_iter()
            .collect::<std::collections::HashMap<_, _>>(),
    ))
    .unwrap()
    .unwrap();
    let again = offsite
        .upload_pending(&reqwest::Client::new(), &dir.0)
        .await
        .unwrap();
    assert_eq!(again, 0);
    assert!(store.objects.lock().unwrap().is_empty());

    // Pruning takes the marker with the backup.
    let keep_one = medsync_backup::retention::Keep {
        last: 1,
        daily: 0,
        weekly: 0,
    };
    medsync_backup::prune(&dir.0, keep_one).unwrap();
    assert!(!marker_path(&backups[0]).exists());
    assert!(marker_path(&backups[1]).exists());
}

/// Waits until the series `series` (name and labels) counts at least `at_least`.
async fn wait_for_count(app: &testing::TestApp, series: &str, at_least: u64) -> String {
    let mut metrics = String::new();
    for _ in 0..150 {
        metrics = app.get("/metrics").await.text().await.unwrap();
        let count = metrics
            .lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse::<u64>().ok());
        if count.is_some_and(|c| c >= at_least) {
            return metrics;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{series} did not reach {at_least} in 30 s:\n{metrics}");
}
