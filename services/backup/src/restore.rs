//! Restoring a backup: checked first, then applied in one transaction, then migrated and
//! checked.
//!
//! The archive is turned into SQL by `pg_restore` and fed to `psql --single-transaction` with
//! `ON_ERROR_STOP`: the database ends up either exactly as the backup (plus the migrations it
//! lacks) or as it was before. If `pg_restore` fails half-way, `psql` is killed before it sees
//! the end of its input, so it never commits a partial restore. Ownership and grants are not
//! restored: the objects belong to the user restoring (the database's owner), and `manage
//! migrate` grants the services' role again (scripts/restore.sh runs it).

use std::path::Path;
use std::process::Stdio;

use anyhow::{Context as _, bail};
use serde::Serialize;
use sqlx::PgPool;

use crate::archive::{self, pg_tool};
use crate::pg::PgTarget;

/// How to restore.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Replace a database that already has tables (its schema `public` is dropped first, in
    /// the same transaction).
    pub force: bool,
    /// Restore a file that has no `.sha256` beside it.
    pub no_checksum: bool,
}

/// What the restored database holds, printed after a restore (and by `backup check`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Summary {
    /// Tables in schema `public`.
    pub tables: i64,
    /// Indexes in schema `public`.
    pub indexes: i64,
    /// Exclusion constraints (a doctor's bookings never overlap).
    pub exclusion_constraints: i64,
    /// Migrations applied, of those this build knows.
    pub migrations_applied: i64,
    /// Migrations this build knows.
    pub migrations_known: i64,
    /// Rows of the tables that matter most.
    pub users: i64,
    /// Bookings, any status.
    pub bookings: i64,
    /// Jobs, any status.
    pub jobs: i64,
}

/// Restores `path` into `target`; see the module's documentation.
pub async fn restore(
    target: &PgTarget,
    pool: &PgPool,
    path: &Path,
    options: Options,
) -> anyhow::Result<Summary> {
    archive::verify(path, !options.no_checksum).await?;
    let tables = table_count(pool).await?;
    if tables > 0 && !options.force {
        bail!(
            "database {} is not empty ({tables} tables): nothing was changed; \
             --force replaces its contents with the backup's",
            target.database
        );
    }
    tracing::info!(file = %path.display(), replacing = tables > 0, "restoring");
    apply(target, path, tables > 0).await?;
    medsync_domain::MIGRATOR
        .run(pool)
        .await
        .context("the restore worked, but migrating it failed")?;
    let summary = summarize(pool).await?;
    if summary.exclusion_constraints == 0 || summary.migrations_applied < summary.migrations_known {
        bail!("the restored database is incomplete: {summary:?}");
    }
    Ok(summary)
}

async fn apply(target: &PgTarget, path: &Path, replace: bool) -> anyhow::Result<()> {
    let mut restore = pg_tool("pg_restore", target)
        .args(["--no-owner", "--no-privileges", "--file=-"])
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("cannot run pg_restore")?;
    let mut psql = pg_tool("psql", target);
    psql.args([
        "--no-psqlrc",
        "--quiet",
        "--no-password",
        "--single-transaction",
        "--set=ON_ERROR_STOP=1",
    ]);
    if replace {
        psql.args([
            "--command=DROP SCHEMA public CASCADE",
            "--command=CREATE SCHEMA public",
        ]);
    }
    let mut psql = psql
        .args(["--file=-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("cannot run psql")?;

    let (Some(mut sql), Some(mut input)) = (restore.stdout.take(), psql.stdin.take()) else {
        bail!("no pipe between pg_restore and psql");
    };
    let copied = tokio::io::copy(&mut sql, &mut input).await;
    drop(sql);
    if copied.is_err() {
        // psql stopped reading: it met an error and exited (ON_ERROR_STOP) without committing.
        drop(restore.start_kill());
        drop(psql.start_kill());
        let applied = psql.wait_with_output().await?;
        let why = String::from_utf8_lossy(&applied.stderr);
        bail!("psql failed, nothing was changed: {}", why.trim());
    }
    let restored = restore.wait_with_output().await?;
    if !restored.status.success() {
        // psql has not seen the end of its input, so it has not committed: killed now, its
        // transaction is rolled back.
        drop(psql.start_kill());
        drop(psql.wait().await);
        let why = String::from_utf8_lossy(&restored.stderr);
        bail!(
            "pg_restore failed ({}), nothing was changed: {}",
            restored.status,
            why.trim()
        );
    }
    drop(input);
    let applied = psql.wait_with_output().await?;
    if !applied.status.success() {
        let why = String::from_utf8_lossy(&applied.stderr);
        bail!(
            "psql failed ({}), nothing was changed: {}",
            applied.status,
            why.trim()
        );
    }
    Ok(())
}

/// The number of tables in schema `public`.
async fn table_count(pool: &PgPool) -> anyhow::Result<i64> {
    sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        .fetch_one(pool)
        .await
        .context("cannot connect to the database to restore into")
}

/// What the database holds now.
pub async fn summarize(pool: &PgPool) -> anyhow::Result<Summary> {
    let counts: (i64, i64, i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT
            (SELECT count(*) FROM pg_tables WHERE schemaname = 'public'),
            (SELECT count(*) FROM pg_indexes WHERE schemaname = 'public'),
            (SELECT count(*) FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
              WHERE n.nspname = 'public' AND c.contype = 'x'),
            (SELECT count(*) FROM _sqlx_migrations WHERE success),
            (SELECT count(*) FROM users),
            (SELECT count(*) FROM bookings),
            (SELECT count(*) FROM jobs)",
    )
    .fetch_one(pool)
    .await
    .context("reading the restored database")?;
    Ok(Summary {
        tables: counts.0,
        indexes: counts.1,
        exclusion_constraints: counts.2,
        migrations_applied: counts.3,
        migrations_known: i64::try_from(medsync_domain::MIGRATOR.iter().count()).unwrap_or(0),
        users: counts.4,
        bookings: counts.5,
        jobs: counts.6,
    })
}
