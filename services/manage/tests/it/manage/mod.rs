//! `manage` against a real PostgreSQL.

use std::time::Duration;

use medsync_domain::users::Email;
use medsync_manage::seed::{self, AdminConfig};
use medsync_platform::config::{DatabaseConfig, DatabaseUrl, Secret};
use medsync_testkit as testing;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

mod commands;
mod wait_ready;

fn database(options: &PgConnectOptions) -> DatabaseConfig {
    DatabaseConfig {
        url: DatabaseUrl::parse(&testing::database_url(options)).unwrap(),
        max_connections: 2,
        acquire_timeout: Duration::from_secs(5),
    }
}

async fn count(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrations = false)]
async fn two_migrations_started_at_once_both_succeed(
    pool_options: PgPoolOptions,
    options: PgConnectOptions,
) {
    let pool = pool_options.connect_with(options.clone()).await.unwrap();
    let config = database(&options);

    let (first, second) = tokio::join!(
        medsync_manage::migrate(&config, None),
        medsync_manage::migrate(&config, None)
    );

    first.unwrap();
    second.unwrap();
    let applied = count(&pool, "_sqlx_migrations").await;
    assert_eq!(applied, medsync_domain::MIGRATOR.iter().count() as i64);
    assert_eq!(count(&pool, "bookings").await, 0);
}

#[sqlx::test(migrations = false)]
async fn migrate_makes_the_services_role_with_rows_only_and_a_statement_timeout(
    pool_options: PgPoolOptions,
    options: PgConnectOptions,
) {
    let owner = pool_options.connect_with(options.clone()).await.unwrap();
    let config = database(&options);
    let name = format!("app_{}", uuid::Uuid::new_v4().simple());
    let role = medsync_manage::roles::AppRole {
        name: medsync_manage::roles::RoleName(name.clone()),
        password: Secret::from("an app password"),
        statement_timeout_ms: 300,
    };
    // Twice: the second run updates what the first made.
    medsync_manage::migrate(&config, Some(&role)).await.unwrap();
    medsync_manage::migrate(&config, Some(&role)).await.unwrap();
    let app = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options.clone().username(&name).password("an app password"))
        .await
        .unwrap();

    let superuser: bool =
        sqlx::query_scalar("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            .fetch_one(&app)
            .await
            .unwrap();
    assert!(!superuser);
    sqlx::query("INSERT INTO specialties (id, slug, name) VALUES (gen_random_uuid(), 'derm', 'Dermatology')")
        .execute(&app)
        .await
        .unwrap();
    sqlx::query("INSERT INTO audit_events (id, action, channel) VALUES (gen_random_uuid(), 'auth.test', 'api')")
        .execute(&app)
        .await
        .unwrap();
    for (what, sql) in [
        (
            "update the audit trail",
            "UPDATE audit_events SET action = 'auth.other'",
        ),
        ("truncate the audit trail", "TRUNCATE audit_events"),
        (
            "drop its trigger",
            "DROP TRIGGER audit_events_append_only ON audit_events",
        ),
        ("drop a table", "DROP TABLE bookings"),
        ("create a table", "CREATE TABLE mine (x int)"),
        (
            "read the migrations",
            "SELECT count(*) FROM _sqlx_migrations",
        ),
    ] {
        let refused = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&app).await;
        let error = refused.expect_err(what).to_string();
        assert!(
            error.contains("permission denied") || error.contains("must be owner"),
            "{what}: {error}"
        );
    }
    let slow = sqlx::query("SELECT pg_sleep(2)").execute(&app).await;
    assert!(
        slow.expect_err("the statement timeout")
            .to_string()
            .contains("statement timeout"),
    );
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM specialties")
        .fetch_one(&owner)
        .await
        .unwrap();
    assert_eq!(kept, 1);
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn seeding_twice_leaves_the_same_clinic(pool: PgPool) {
    let admin = AdminConfig {
        email: Email::parse("Admin@Clinic.Example").unwrap(),
        password: Secret::from("a long enough password"),
        name: "Admin".to_owned(),
    };

    let first = seed::seed(&pool, Some(&admin)).await.unwrap();
    let tables = [
        "specialties",
        "doctors",
        "doctor_specialties",
        "doctor_schedules",
        "users",
    ];
    let mut after_first = Vec::new();
    for table in tables {
        after_first.push(count(&pool, table).await);
    }
    let second = seed::seed(&pool, Some(&admin)).await.unwrap();
    let mut after_second = Vec::new();
    for table in tables {
        after_second.push(count(&pool, table).await);
    }

    assert_eq!(first, second);
    assert_eq!(after_first, after_second);
    assert_eq!(after_first[0], 5);
    assert_eq!(after_first[1], 5);
    assert_eq!(after_first[4], 1);
    let (role, hash): (String, String) = sqlx::query_as(
        "SELECT role::text, password_hash FROM users WHERE email = 'admin@clinic.example'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(role, "admin");
    assert!(
        medsync_domain::password::verify("a long enough password".to_owned(), hash)
            .await
            .unwrap()
    );
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn seeding_never_promotes_an_existing_account(pool: PgPool) {
    sqlx::query(
        "INSERT INTO users (id, email, password_hash, name, role)
         VALUES ($1, 'staff@clinic.example', 'x', 'Staff', 'patient')",
    )
    .bind(uuid::Uuid::now_v7())
    .execute(&pool)
    .await
    .unwrap();
    let admin = AdminConfig {
        email: Email::parse("staff@clinic.example").unwrap(),
        password: Secret::from("another long password"),
        name: "ignored".to_owned(),
    };

    // The clinic is seeded; the account someone registered with ADMIN_EMAIL stays a patient.
    seed::seed(&pool, Some(&admin)).await.unwrap();

    let (role, hash): (String, String) = sqlx::query_as(
        "SELECT role::text, password_hash FROM users WHERE email = 'staff@clinic.example'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((role.as_str(), hash.as_str()), ("patient", "x"));
    assert_eq!(count(&pool, "users").await, 1);
}
