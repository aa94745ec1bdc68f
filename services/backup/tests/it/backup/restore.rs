//! A backup and its restore: same rows, a checksum `sha256sum -c` accepts, refusals that
//! change nothing.

use medsync_backup::{archive, restore};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::{
    Scratch, backed_up_clinic, clinic, config, drop_database, empty_database, fingerprint,
};

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn a_backup_restores_into_an_empty_database_with_the_same_rows(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let pool = PgPoolOptions::new()
        .connect_with(options.clone())
        .await
        .unwrap();
    clinic(&pool).await;
    let before = fingerprint(&pool).await;
    let dir = Scratch::new();
    let config = config(&options, &dir.0, &[]);

    let taken = medsync_backup::take_and_prune(&config).await.unwrap();

    // The file and its checksum, in sha256sum's format; nothing partial left behind.
    let names: Vec<String> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    let sum = std::fs::read_to_string(taken.backup.checksum_path()).unwrap();
    let file_name = taken.backup.path.file_name().unwrap().to_str().unwrap();
    assert_eq!(sum, format!("{}  {file_name}\n", taken.sha256));
    let checked = std::process::Command::new("sha256sum")
        .args(["-c", &format!("{file_name}.sha256")])
        .current_dir(&dir.0)
        .output()
        .unwrap();
    assert!(checked.status.success(), "{checked:?}");

    // Restored into an empty database: the same rows, the constraint and the indexes.
    let (empty_options, empty) = empty_database(&pool).await;
    let target = super::config(&empty_options, &dir.0, &[]).target;
    let summary = restore::restore(
        &target,
        &empty,
        &taken.backup.path,
        restore::Options::default(),
    )
    .await
    .unwrap();
    assert_eq!(fingerprint(&empty).await, before);
    assert_eq!(summary, restore::summarize(&pool).await.unwrap());
    assert_eq!(summary.bookings, 120);
    assert_eq!(summary.jobs, 120);
    assert!(
        summary.exclusion_constraints >= 1 && summary.indexes > 10,
        "{summary:?}"
    );
    assert_eq!(summary.migrations_applied, summary.migrations_known);
    // The exclusion constraint still refuses a double booking.
    let overlap = sqlx::query(
        "INSERT INTO bookings (id, doctor_id, patient_id, starts_at, ends_at, source)
         SELECT gen_random_uuid(), doctor_id, patient_id, starts_at, ends_at, 'api'
         FROM bookings WHERE status = 'confirmed' LIMIT 1",
    )
    .execute(&empty)
    .await;
    assert!(
        overlap.is_err(),
        "a double booking was accepted after the restore"
    );
    drop_database(&pool, empty).await;
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn a_database_with_tables_is_replaced_only_with_force(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let (pool, _dir, config, taken) = backed_up_clinic(&options).await;
    let at_backup = fingerprint(&pool).await;
    // Changes after the backup: a restore with --force takes them back.
    sqlx::query("DELETE FROM jobs")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE bookings SET note = 'changed later'")
        .execute(&pool)
        .await
        .unwrap();
    let changed = fingerprint(&pool).await;

    let refused = restore::restore(
        &config.target,
        &pool,
        &taken.backup.path,
        restore::Options::default(),
    )
    .await
    .unwrap_err();
    assert!(
        format!("{refused:#}").contains("is not empty"),
        "{refused:#}"
    );
    assert!(format!("{refused:#}").contains("--force"), "{refused:#}");
    assert_eq!(
        fingerprint(&pool).await,
        changed,
        "a refused restore changed the database"
    );

    let force = restore::Options {
        force: true,
        ..Default::default()
    };
    pool.close().await;
    let pool = PgPoolOptions::new()
        .connect_with(options.clone())
        .await
        .unwrap();
    restore::restore(&config.target, &pool, &taken.backup.path, force)
        .await
        .unwrap();
    assert_eq!(fingerprint(&pool).await, at_backup);
}

/// Corrupted (one byte changed, its checksum kept) and truncated (no checksum, so only the full
/// read can tell): both refused with a message that says so, and the database untouched.
#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn a_damaged_backup_is_refused_and_changes_nothing(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let (pool, dir, config, taken) = backed_up_clinic(&options).await;
    let bytes = std::fs::read(&taken.backup.path).unwrap();

    let corrupted = dir.0.join("corrupted.dump");
    let mut flipped = bytes.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0xff;
    std::fs::write(&corrupted, &flipped).unwrap();
    std::fs::copy(
        taken.backup.checksum_path(),
        dir.0.join("corrupted.dump.sha256"),
    )
    .unwrap();
    let truncated = dir.0.join("truncated.dump");
    std::fs::write(&truncated, &bytes[..bytes.len() * 2 / 3]).unwrap();

    let (empty_options, empty) = empty_database(&pool).await;
    let target = super::config(&empty_options, &dir.0, &[]).target;
    let error = restore::restore(&target, &empty, &corrupted, restore::Options::default())
        .await
        .unwrap_err();
    assert!(
        format!("{error:#}").contains("checksum mismatch"),
        "{error:#}"
    );
    let error = restore::restore(&target, &empty, &truncated, restore::Options::default())
        .await
        .unwrap_err();
    assert!(
        format!("{error:#}").contains("no checksum file"),
        "{error:#}"
    );
    let no_checksum = restore::Options {
        no_checksum: true,
        ..Default::default()
    };
    let error = restore::restore(&target, &empty, &truncated, no_checksum)
        .await
        .unwrap_err();
    assert!(
        format!("{error:#}").contains("not a complete PostgreSQL custom-format archive"),
        "{error:#}"
    );
    let error = archive::verify(&dir.0.join("missing.dump"), true)
        .await
        .unwrap_err();
    assert!(format!("{error:#}").contains("no such file"), "{error:#}");
    assert_eq!(tables(&empty).await, 0, "a refused restore created tables");

    // Into the non-empty database with --force: refused before anything is dropped.
    let before = fingerprint(&pool).await;
    let force = restore::Options {
        force: true,
        no_checksum: true,
    };
    assert!(
        restore::restore(&config.target, &pool, &truncated, force)
            .await
            .is_err()
    );
    assert_eq!(fingerprint(&pool).await, before);
    drop_database(&pool, empty).await;
}

async fn tables(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        .fetch_one(pool)
        .await
        .unwrap()
}
