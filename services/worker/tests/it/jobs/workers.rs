//! Workers that stop or die: shutdown, clean-up, leases of killed workers, two workers at once.

use crate::common;

use std::time::{Duration, Instant};

use common::{config, counter, job, noop_jobs, pool, wait_until, worker};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use uuid::Uuid;

use super::*;

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn shutdown_puts_unfinished_jobs_back_and_clean_up_runs_once_at_a_time(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = pool(&options).await;
    let mut config = config(&options, &[]);
    config.base.http.shutdown_grace = Duration::from_secs(2);
    let app = worker(config).await;
    let ids = noop_jobs(&db, 1, 30_000).await;
    wait_until(
        &db,
        &format!(
            "SELECT status = 'running' FROM jobs WHERE id = '{}'",
            ids[0]
        ),
        10,
    )
    .await;
    let stopping = Instant::now();
    app.stop().await.unwrap();
    assert!(stopping.elapsed() < Duration::from_secs(5));
    let (status, attempts, _, last_error, _) = job(&db, ids[0]).await;
    assert_eq!((status.as_str(), attempts), ("queued", 0));
    assert!(last_error.unwrap_or_default().contains("interrupted"));

    // Clean-ups: only one worker at a time (another holds the lock: this one does nothing).
    sqlx::query(
        "INSERT INTO jobs (id, kind, payload, status, finished_at)
         VALUES (gen_random_uuid(), 'system.noop', '{\"v\":1}', 'succeeded', now() - interval '30 days'),
                (gen_random_uuid(), 'system.noop', '{\"v\":1}', 'succeeded', now())",
    )
    .execute(&db)
    .await
    .unwrap();
    let mut holder = db.begin().await.unwrap();
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('medsync.clean_up'))")
        .execute(&mut *holder)
        .await
        .unwrap();
    let week = medsync_domain::retention::Retention {
        jobs: Duration::from_secs(7 * 86_400),
        audit: Duration::from_secs(365 * 86_400),
    };
    let skipped = medsync_domain::retention::clean_up(&db, week)
        .await
        .unwrap();
    assert!(!skipped.ran);
    holder.rollback().await.unwrap();
    // Old audit events, expired refresh tokens and old idempotency keys go too; recent ones
    // stay.
    let user = Uuid::now_v7();
    sqlx::query("INSERT INTO users (id, name, telegram_user_id) VALUES ($1, 'Old', 777)")
        .bind(user)
        .execute(&db)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO audit_events (id, at, action, channel)
         VALUES (gen_random_uuid(), now() - interval '400 days', 'auth.login.succeeded', 'api'),
                (gen_random_uuid(), now(), 'auth.login.succeeded', 'api')",
    )
    .execute(&db)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, expires_at)
         VALUES (gen_random_uuid(), $1, gen_random_uuid(), sha256('a'), now() - interval '3 days'),
                (gen_random_uuid(), $1, gen_random_uuid(), sha256('b'), now() + interval '3 days')",
    )
    .bind(user)
    .execute(&db)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO idempotency_keys
             (user_id, key, request_hash, response_code, response_body, created_at)
         VALUES ($1, 'old', sha256('x'), 201, '{}', now() - interval '2 days'),
                ($1, 'new', sha256('y'), 201, '{}', now())",
    )
    .bind(user)
    .execute(&db)
    .await
    .unwrap();
    let done = medsync_domain::retention::clean_up(&db, week)
        .await
        .unwrap();
    assert!(done.ran);
    assert_eq!(done.jobs, 1);
    assert_eq!(
        (
            done.audit_events,
            done.refresh_tokens,
            done.idempotency_keys
        ),
        (1, 1, 1)
    );
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn a_job_of_a_worker_killed_mid_job_runs_again_elsewhere_after_the_lease(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = pool(&options).await;
    let mut first = start_worker(&options, "first", &[("WORKER_LEASE_SECONDS", "3")]).await;
    let ids = noop_jobs(&db, 1, 2_000).await;
    wait_until(
        &db,
        &format!(
            "SELECT status = 'running' AND locked_by = 'first' FROM jobs WHERE id = '{}'",
            ids[0]
        ),
        10,
    )
    .await;
    first.child.kill().unwrap(); // SIGKILL in the middle of the job
    first.child.wait().unwrap();

    let killed_at = Instant::now();
    let second = start_worker(&options, "second", &[("WORKER_LEASE_SECONDS", "3")]).await;
    wait_until(
        &db,
        &format!(
            "SELECT status = 'succeeded' AND locked_by = 'second' FROM jobs WHERE id = '{}'",
            ids[0]
        ),
        20,
    )
    .await;
    // Not before the lease ran out (3 s after the last renewal) plus the job's 2 s.
    assert!(killed_at.elapsed() >= Duration::from_secs(2));
    let (_, attempts, _, _, _) = job(&db, ids[0]).await;
    assert_eq!(attempts, 2, "run once by each worker");
    drop(second);
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn two_workers_drain_ten_thousand_jobs_each_exactly_once(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = pool(&options).await;
    let ids = noop_jobs(&db, 10_000, 0).await;
    assert_eq!(ids.len(), 10_000);
    let one = start_worker(&options, "one", &[("WORKER_CONCURRENCY", "16")]).await;
    let two = start_worker(&options, "two", &[("WORKER_CONCURRENCY", "16")]).await;
    wait_until(
        &db,
        "SELECT count(*) = 10000 FROM jobs WHERE status = 'succeeded'",
        180,
    )
    .await;

    // Every job ran, none twice: one attempt each, and the workers' own counts add up.
    let (runs, max_attempts): (i64, i32) =
        sqlx::query_as("SELECT sum(attempts)::int8, max(attempts) FROM jobs")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!((runs, max_attempts), (10_000, 1));
    let by_worker: Vec<(String, i64)> = sqlx::query_as(
        "SELECT locked_by, count(*) FROM jobs GROUP BY locked_by ORDER BY locked_by",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(by_worker.len(), 2, "both workers took jobs: {by_worker:?}");
    let mut reported = 0.0;
    for w in [&one, &two] {
        let metrics = reqwest::get(format!("http://{}/metrics", w.addr))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        reported += counter(&metrics, "medsync_jobs_succeeded_total");
    }
    assert!(
        (reported - 10_000.0).abs() < 0.5,
        "the workers report {reported} runs"
    );
    println!("ran by worker: {by_worker:?}");
}

/// A job that takes its worker down every time (SIGKILL while it runs): each expired lease
/// counts as an attempt, and once the last allowed one expires the next worker marks it
/// `dead` instead of running it again.
#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn a_job_whose_worker_is_killed_every_time_ends_dead(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = pool(&options).await;
    let id: Uuid = sqlx::query_scalar(
        "INSERT INTO jobs (id, kind, payload, max_attempts)
         VALUES (gen_random_uuid(), 'system.noop', '{\"v\":1,\"sleep_ms\":600000}', 2) RETURNING id",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    let lease = [("WORKER_LEASE_SECONDS", "1")];
    for attempt in 1..=2 {
        let name = format!("doomed-{attempt}");
        let mut doomed = start_worker(&options, &name, &lease).await;
        wait_until(
            &db,
            &format!(
                "SELECT status = 'running' AND locked_by = '{name}' AND attempts = {attempt}
                 FROM jobs WHERE id = '{id}'"
            ),
            20,
        )
        .await;
        doomed.child.kill().unwrap();
        doomed.child.wait().unwrap();
    }

    let survivor = start_worker(&options, "survivor", &lease).await;
    wait_until(
        &db,
        &format!("SELECT status = 'dead' FROM jobs WHERE id = '{id}'"),
        20,
    )
    .await;
    let (_, attempts, locked_by, last_error, _) = job(&db, id).await;
    assert_eq!(attempts, 2, "not run a third time");
    assert_eq!(
        locked_by.as_deref(),
        Some("doomed-2"),
        "the worker it died with"
    );
    let last_error = last_error.unwrap_or_default();
    assert!(
        last_error.contains("lease expired: worker doomed-2"),
        "{last_error}"
    );
    let metrics = reqwest::get(format!("http://{}/metrics", survivor.addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(counter(&metrics, "medsync_jobs_dead_total"), 1.0);
    // An expired lease that is not the last is run again, its reason kept until then.
    let retried: Uuid = sqlx::query_scalar(
        "INSERT INTO jobs (id, kind, payload, status, attempts, max_attempts, locked_by,
                           locked_until, started_at)
         VALUES (gen_random_uuid(), 'system.noop', '{\"v\":1}', 'running', 1, 3, 'gone',
                 now() - interval '1 second', now() - interval '1 minute')
         RETURNING id",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    wait_until(
        &db,
        &format!("SELECT status = 'succeeded' AND attempts = 2 AND locked_by = 'survivor' FROM jobs WHERE id = '{retried}'"),
        20,
    )
    .await;
    drop(survivor);
}
