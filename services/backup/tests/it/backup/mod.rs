mod offsite;
mod restore;
mod service;

use std::path::Path;

use medsync_backup::Config;
use medsync_testkit as testing;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// The backup service's configuration for the database `options` names, writing into `dir`.
pub fn config(options: &PgConnectOptions, dir: &Path, extra: &[(&str, &str)]) -> Config {
    let dir = dir.to_str().unwrap().to_owned();
    let mut vars = vec![("BACKUP_DIR", dir.as_str())];
    vars.extend_from_slice(extra);
    testing::config(&medsync_backup::SPEC, options, &vars)
}

/// A clinic with 3 patients, 120 bookings (every fifth cancelled) and a job for each: what the
/// drill compares before and after.
pub async fn clinic(pool: &PgPool) {
    let (_, doctor) = testing::clinic_open_every_day(pool).await;
    sqlx::query(
        "INSERT INTO users (id, email, password_hash, name)
         SELECT gen_random_uuid(), 'patient' || i || '@clinic.example', 'hash' || i, 'Patient ' || i
         FROM generate_series(1, 3) i",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO bookings (id, doctor_id, patient_id, starts_at, ends_at, source, status, cancelled_at)
         SELECT gen_random_uuid(), $1,
                (SELECT id FROM users WHERE email = 'patient' || (i % 3 + 1) || '@clinic.example'),
                now() + make_interval(hours => i), now() + make_interval(hours => i, mins => 30),
                'api',
                CASE WHEN i % 5 = 0 THEN 'cancelled'::booking_status ELSE 'confirmed' END,
                CASE WHEN i % 5 = 0 THEN now() END
         FROM generate_series(1, 120) i",
    )
    .bind(doctor)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO jobs (id, kind, payload, run_at, booking_id)
         SELECT gen_random_uuid(), 'booking.reminder', jsonb_build_object('booking', id), starts_at, id
         FROM bookings",
    )
    .execute(pool)
    .await
    .unwrap();
}

/// A test database holding [`clinic`], a scratch directory, the service's configuration for
/// them, and a backup of it taken there.
pub async fn backed_up_clinic(
    options: &PgConnectOptions,
) -> (PgPool, Scratch, Config, medsync_backup::archive::Taken) {
    let pool = PgPoolOptions::new()
        .connect_with(options.clone())
        .await
        .unwrap();
    clinic(&pool).await;
    let dir = Scratch::new();
    let config = config(options, &dir.0, &[]);
    let taken = medsync_backup::take_and_prune(&config).await.unwrap();
    (pool, dir, config, taken)
}

/// Counts and a checksum of every row that matters, in a stable order.
pub async fn fingerprint(pool: &PgPool) -> Vec<String> {
    let mut rows = Vec::new();
    for (table, order) in [
        ("users", "id"),
        ("bookings", "id"),
        ("jobs", "id"),
        ("doctors", "id"),
    ] {
        let sql = format!(
            "SELECT count(*)::text || ' ' || coalesce(md5(string_agg(t::text, ',' ORDER BY {order})), '-')
             FROM {table} t"
        );
        let row: String = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(pool)
            .await
            .unwrap();
        rows.push(format!("{table}: {row}"));
    }
    rows
}

/// A fresh, empty database on the test server; its options and a pool.
pub async fn empty_database(beside: &PgPool) -> (PgConnectOptions, PgPool) {
    let name = format!("restore_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(beside)
        .await
        .unwrap();
    let options = beside.connect_options().as_ref().clone().database(&name);
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(options.clone())
        .await
        .unwrap();
    (options, pool)
}

/// Removes a database [`empty_database`] made.
pub async fn drop_database(beside: &PgPool, pool: PgPool) {
    let name = pool.connect_options().get_database().unwrap().to_owned();
    pool.close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {name} WITH (FORCE)"
    )))
    .execute(beside)
    .await
    .unwrap();
}

/// A scratch directory under the system's temporary one, removed when dropped.
pub struct Scratch(pub std::path::PathBuf);

impl Scratch {
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("medsync-backup-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        drop(std::fs::remove_dir_all(&self.0));
    }
}
