//! The hot paths at a clinic group's size: on the data set of `scripts/bench-data.sh` (1 M
//! bookings, 3 M jobs), none of them reads `bookings` or `jobs` (or `users`, 200,000 rows)
//! sequentially.
//!
//! How the plans are read: for each HTTP path, the api is started on that database, the
//! request made (the reads seven times in a row, so that a generic plan PostgreSQL settles on
//! after five planned for the values is executed too), the api stopped (its connections close, so PostgreSQL publishes their
//! statistics), and `pg_stat_user_tables.seq_scan` of those tables compared before and after:
//! it counts the sequential scans every plan actually executed, whatever the SQL's text, so
//! nothing here can drift from the code. The worker's statements, which are constants, are
//! also `EXPLAIN`ed and their plan trees walked for a `Seq Scan` node on those tables.
//!
//! Ignored by `cargo test`: the data set takes a minute or two to make. `scripts/test.sh`
//! makes it in a database of its own and runs this test with `BENCH_DATABASE_URL` naming it;
//! that database must be on `DATABASE_URL`'s server (the api harness takes the server and
//! credentials from there, the database's name from `BENCH_DATABASE_URL`).

use medsync_api::harness::{self, Api, access_token, enc, token};
use medsync_domain::jobs::{CLAIM_SQL, COMPLETE_SQL};
use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Row};
use uuid::Uuid;

const WATCHED: &[&str] = &["bookings", "jobs", "users"];

/// How many executions of a prepared statement PostgreSQL plans for their values before it
/// weighs a generic plan (`plancache.c`: five custom plans first).
const GENERIC_AFTER: usize = 5;

/// Sequential scans so far of each watched table.
async fn seq_scans(db: &PgPool) -> Vec<i64> {
    // A fresh snapshot of the statistics, not the one cached in this session.
    sqlx::query("SELECT pg_stat_clear_snapshot()")
        .execute(db)
        .await
        .unwrap();
    let mut counts = Vec::new();
    for table in WATCHED {
        let n: i64 =
            sqlx::query_scalar("SELECT seq_scan FROM pg_stat_user_tables WHERE relname = $1")
                .bind(table)
                .fetch_one(db)
                .await
                .unwrap();
        counts.push(n);
    }
    counts
}

/// Runs `path` against a fresh api and returns the sequential scans it made.
async fn scans_of<F, Fut>(options: &PgConnectOptions, db: &PgPool, path: F) -> Vec<(String, i64)>
where
    F: FnOnce(Api) -> Fut,
    Fut: std::future::Future<Output = Api>,
{
    let before = seq_scans(db).await;
    let api = harness::spawn(PgPoolOptions::new(), options.clone()).await;
    let api = path(api).await;
    api.app.stop().await.unwrap();
    api.db.close().await;
    // Backends publish their statistics as they exit; give them a moment to.
    let mut after = seq_scans(db).await;
    for _ in 0..20 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        after = seq_scans(db).await;
    }
    WATCHED
        .iter()
        .zip(before.iter().zip(after))
        .filter(|(_, (b, a))| a > b)
        .map(|(t, (b, a))| ((*t).to_owned(), a - b))
        .collect()
}

/// The `Seq Scan` nodes on watched tables in a plan (`EXPLAIN (FORMAT JSON)`'s one value).
fn seq_scan_nodes(plan: Value) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![plan];
    while let Some(node) = stack.pop() {
        match node {
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => {
                if map.get("Node Type") == Some(&json!("Seq Scan"))
                    && let Some(Value::String(table)) = map.get("Relation Name")
                    && WATCHED.contains(&table.as_str())
                {
                    found.push(table.clone());
                }
                stack.extend(map.into_iter().map(|(_, v)| v));
            }
            _ => {}
        }
    }
    found
}

fn explain(sql: &str) -> String {
    format!("EXPLAIN (FORMAT JSON) {sql}")
}

#[tokio::test]
#[ignore = "needs BENCH_DATABASE_URL, the data set of scripts/bench-data.sh; scripts/test.sh runs it"]
async fn no_hot_path_scans_bookings_jobs_or_users_at_a_million_bookings() {
    let url = std::env::var("BENCH_DATABASE_URL").expect("BENCH_DATABASE_URL");
    let options: PgConnectOptions = url.parse().unwrap();
    let db = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(options.clone())
        .await
        .unwrap();
    // The planner's estimate: counting would scan the table itself.
    let bookings: f32 =
        sqlx::query_scalar("SELECT reltuples FROM pg_class WHERE relname = 'bookings'")
            .fetch_one(&db)
            .await
            .unwrap();
    assert!(
        bookings >= 100_000.0,
        "not the large data set: {bookings} bookings"
    );

    // The busiest doctor, a patient with bookings, and the doctor behind an account.
    let doctor: Uuid = sqlx::query_scalar(
        "SELECT doctor_id FROM bookings WHERE starts_at > now() GROUP BY 1 ORDER BY count(*) DESC LIMIT 1",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    let patient: Uuid = sqlx::query_scalar(
        "SELECT patient_id FROM bookings WHERE starts_at > now() AND status = 'confirmed' LIMIT 1",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    let suffix = Uuid::new_v4().simple().to_string();
    let doctor_user: Uuid = sqlx::query_scalar(
        "INSERT INTO users (id, email, password_hash, name, role) VALUES (gen_random_uuid(), $1, 'x', 'Dr. Plan', 'doctor') RETURNING id",
    )
    .bind(format!("doctor-{suffix}@bench.example"))
    .fetch_one(&db)
    .await
    .unwrap();
    sqlx::query("UPDATE doctors SET user_id = $1 WHERE id = $2")
        .bind(doctor_user)
        .bind(doctor)
        .execute(&db)
        .await
        .unwrap();
    let admin_user: Uuid = sqlx::query_scalar(
        "INSERT INTO users (id, email, password_hash, name, role) VALUES (gen_random_uuid(), $1, 'x', 'Admin Plan', 'admin') RETURNING id",
    )
    .bind(format!("admin-{suffix}@bench.example"))
    .fetch_one(&db)
    .await
    .unwrap();
    let patient_token = access_token(&db, patient, "patient").await;
    let doctor_token = access_token(&db, doctor_user, "doctor").await;
    let admin_token = access_token(&db, admin_user, "admin").await;
    let email = format!("plan-{suffix}@bench.example");
    // The setup's own reads published (a session's statistics are, when it ends), so the
    // counts below are the paths' alone.
    db.close().await;
    let db = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(options.clone())
        .await
        .unwrap();

    let mut report = Vec::new();
    report.push((
        "the api starting and stopping",
        scans_of(&options, &db, |api| async { api }).await,
    ));
    let (from, to) = {
        let now = jiff::Timestamp::now();
        (now, now + jiff::SignedDuration::from_hours(7 * 24))
    };
    let slots_path = format!(
        "/api/v1/doctors/{doctor}/slots?from={}&to={}",
        enc(&from.to_string()),
        enc(&to.to_string())
    );
    let mut free_slot = String::new();
    report.push((
        "free slots (7 days)",
        scans_of(&options, &db, |api| async {
            let answer = api.get(&slots_path, None).await;
            assert_eq!(answer.status, 200, "{answer:?}");
            // The last free slot of the week: well past any minimum notice.
            free_slot = answer
                .body
                .as_array()
                .and_then(|slots| slots.last())
                .and_then(|slot| slot["starts_at"].as_str())
                .unwrap_or_else(|| panic!("no free slot: {}", answer.body))
                .to_owned();
            api
        })
        .await,
    ));
    report.push((
        "a booking",
        scans_of(&options, &db, |api| async {
            let answer = api
                .post(
                    "/api/v1/bookings",
                    Some(&patient_token),
                    json!({"doctor_id": doctor, "starts_at": free_slot}),
                )
                .await;
            assert_eq!(answer.status, 201, "{answer:?}");
            api
        })
        .await,
    ));
    for (name, path, bearer) in [
        ("my bookings", "/api/v1/bookings", &patient_token),
        (
            "my past bookings",
            "/api/v1/bookings?when=past",
            &patient_token,
        ),
        ("the agenda", "/api/v1/agenda", &doctor_token),
        ("who am I", "/api/v1/users/me", &patient_token),
        (
            "doctors by name",
            "/api/v1/doctors?q=Bench%2042",
            &patient_token,
        ),
        (
            "admin: queued jobs",
            "/api/v1/admin/jobs?status=queued",
            &admin_token,
        ),
        (
            "admin: dead jobs",
            "/api/v1/admin/jobs?status=dead",
            &admin_token,
        ),
        ("admin: all jobs", "/api/v1/admin/jobs", &admin_token),
        (
            "admin: everyone's bookings",
            "/api/v1/bookings?scope=all",
            &admin_token,
        ),
        (
            "admin: everyone's past bookings",
            "/api/v1/bookings?scope=all&when=past",
            &admin_token,
        ),
    ] {
        report.push((
            name,
            scans_of(&options, &db, |api| async move {
                // PostgreSQL plans a prepared statement for its values five times, then may
                // keep one plan for any values (a generic plan): both are checked. The
                // requests follow each other, so the api's pool serves them on one connection.
                for _ in 0..GENERIC_AFTER + 2 {
                    let answer = api.get(path, Some(bearer)).await;
                    assert_eq!(answer.status, 200, "{name}: {answer:?}");
                }
                api
            })
            .await,
        ));
    }
    report.push((
        "register, sign in, refresh",
        scans_of(&options, &db, |api| async {
            let pair = api.patient(&email).await;
            let refreshed = api
                .post(
                    "/api/v1/auth/refresh",
                    None,
                    json!({"refresh_token": pair["refresh_token"]}),
                )
                .await;
            assert_eq!(refreshed.status, 200, "{refreshed:?}");
            assert!(!token(&refreshed.body).is_empty());
            api
        })
        .await,
    ));

    let claim: Value = sqlx::query(sqlx::AssertSqlSafe(explain(CLAIM_SQL)))
        .bind("plan-worker")
        .bind(30.0_f64)
        .bind(16_i64)
        .fetch_one(&db)
        .await
        .unwrap()
        .get(0);
    let complete: Value = sqlx::query(sqlx::AssertSqlSafe(explain(COMPLETE_SQL)))
        .bind(Uuid::nil())
        .bind("plan-worker")
        .bind("note")
        .fetch_one(&db)
        .await
        .unwrap()
        .get(0);
    let worker_plans = [
        ("the worker's claim", seq_scan_nodes(claim)),
        ("the worker's completion", seq_scan_nodes(complete)),
    ];

    let mut failures = Vec::new();
    for (name, scans) in &report {
        println!("{name}: sequential scans {scans:?}");
        if !scans.is_empty() {
            failures.push(format!("{name}: {scans:?}"));
        }
    }
    for (name, nodes) in &worker_plans {
        println!("{name}: Seq Scan nodes {nodes:?}");
        if !nodes.is_empty() {
            failures.push(format!("{name}: {nodes:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "sequential scans at 1 M bookings:\n{}",
        failures.join("\n")
    );
}
