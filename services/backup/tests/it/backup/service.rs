//! The service: its configuration against `.env.template`, the binary's life cycle and
//! commands, and what it reports when the database fails every time.

use std::collections::HashMap;
use std::time::Duration;

use medsync_backup::{Config, SPEC, archive};
use medsync_platform::config::Configuration as _;
use medsync_testkit as testing;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::{Scratch, clinic};

const BIN: &str = env!("CARGO_BIN_EXE_backup");

#[test]
fn the_configuration_matches_the_env_template() {
    testing::config::assert_matches_env_template(&Config::variables(), Config::from_env);
}

#[test]
fn a_missing_or_garbage_database_url_or_schedule_is_refused() {
    testing::assert_refuses_bad_database_url(BIN, &[]);
    let out = testing::run_binary(
        BIN,
        &[],
        &HashMap::from([
            ("DATABASE_URL", "postgres://medsync:x@127.0.0.1:1/medsync"),
            ("BACKUP_SCHEDULE", "every now and then"),
        ]),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("BACKUP_SCHEDULE"), "{stderr}");
}

/// The binary takes a backup as it starts, is ready once it has, answers its healthcheck, and
/// stops at once on SIGTERM; `now`, `list` and `verify` work from the command line.
#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn the_binary_backs_up_at_start_and_its_commands_work(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let pool = PgPoolOptions::new()
        .connect_with(options.clone())
        .await
        .unwrap();
    clinic(&pool).await;
    let dir = Scratch::new();
    let url = testing::database_url(&options);
    let dir_str = dir.0.to_str().unwrap();
    let vars = [("DATABASE_URL", url.as_str()), ("BACKUP_DIR", dir_str)];

    let running = testing::RunningBinary::start(BIN, SPEC.listen_var, &vars).await;
    let mut ready = false;
    for _ in 0..100 {
        if running.healthcheck() {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(ready, "not ready 20 s after the start");
    assert_eq!(archive::list(&dir.0).unwrap().len(), 1);
    let metrics = reqwest::get(format!("http://{}/metrics", running.addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "medsync_backup_last_success_timestamp_seconds",
        "medsync_backup_last_size_bytes",
        "medsync_backup_runs_total{outcome=\"ok\"} 1",
        "medsync_backup_stale_after_seconds 129600",
    ] {
        assert!(metrics.contains(name), "{name} missing from:\n{metrics}");
    }
    let (code, took) = running.terminate();
    assert_eq!(code, Some(0));
    assert!(took < Duration::from_secs(10), "{took:?}");

    // One second later, so the names differ.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // Errors are log lines, on standard output like every log line.
    let env = HashMap::from(vars);
    let now = testing::run_binary(BIN, &["now"], &env);
    assert!(now.status.success(), "{now:?}");
    let printed = String::from_utf8(now.stdout).unwrap();
    // The path is the last line (the log line "backup taken" comes before it).
    let file = printed.lines().last().unwrap_or_default();
    assert!(
        file.starts_with(dir_str) && file.ends_with(".dump"),
        "{file}"
    );
    let list = testing::run_binary(BIN, &["list"], &env);
    assert_eq!(
        String::from_utf8_lossy(&list.stdout).lines().count(),
        2,
        "{list:?}"
    );
    let verify = testing::run_binary(BIN, &["verify", file], &env);
    assert!(verify.status.success(), "{verify:?}");
    std::fs::write(format!("{file}.sha256"), "0000  x\n").unwrap();
    let verify = testing::run_binary(BIN, &["verify", file], &env);
    assert_eq!(verify.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&verify.stdout).contains("checksum mismatch"),
        "{verify:?}"
    );
    // Into the database it came from, which has tables: refused, exit 1.
    let restore = testing::run_binary(BIN, &["restore", file, "--no-checksum"], &env);
    assert_eq!(restore.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&restore.stdout).contains("is not empty"),
        "{restore:?}"
    );
}

/// PostgreSQL unreachable, every time: each backup fails (counted), no file appears, and once
/// the newest backup is older than the schedule allows, /readyz says so.
#[tokio::test]
async fn a_database_that_fails_every_time_makes_the_service_not_ready() {
    let dir = Scratch::new();
    // A backup from two hours ago, on an hourly schedule (stale after 90 minutes).
    let old = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(2);
    std::fs::write(dir.0.join(archive::file_name(old)), b"old").unwrap();
    let unreachable = PgConnectOptions::new()
        .host("127.0.0.1")
        .port(1)
        .database("medsync");
    let mut config = super::config(&unreachable, &dir.0, &[("BACKUP_SCHEDULE", "hourly")]);
    config.target = "postgres://medsync:x@127.0.0.1:1/medsync".parse_target();
    let app = testing::TestApp::spawn(medsync_backup::build(config).await.unwrap());

    let mut failed = false;
    for _ in 0..50 {
        let metrics = app.get("/metrics").await.text().await.unwrap();
        if metrics.contains("medsync_backup_runs_total{outcome=\"failed\"} 1") {
            failed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(failed, "the failed backup was not counted");
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 503);
    let body = response.text().await.unwrap();
    assert!(body.contains("the newest backup is 72"), "{body}");
    assert!(body.contains("\"postgres\":{\"ok\":false"), "{body}");
    assert_eq!(
        archive::list(&dir.0).unwrap().len(),
        1,
        "a failed backup left a file"
    );
    let leftovers = std::fs::read_dir(&dir.0).unwrap().count();
    assert_eq!(leftovers, 1, "a failed backup left a partial file");
    app.stop().await.unwrap();
}

trait ParseTarget {
    fn parse_target(self) -> medsync_backup::PgTarget;
}

impl ParseTarget for &str {
    fn parse_target(self) -> medsync_backup::PgTarget {
        use medsync_platform::config::FromEnv as _;
        medsync_backup::PgTarget::parse_env(self).unwrap()
    }
}
