//! The commands behind `manage`, as functions so tests call them directly.

pub mod admin;
pub mod cli;
pub mod jobs;
pub mod roles;
pub mod seed;
pub mod telegram;
pub mod updates;
pub mod wait;

use anyhow::Context as _;
use medsync_platform::config::DatabaseConfig;

/// Applies pending migrations. Two copies started at once are safe: the migrator holds a
/// PostgreSQL advisory lock, so the second waits, then finds nothing left to apply.
/// With `app_role`, then makes sure the services' own role exists with its grants.
pub async fn migrate(
    config: &DatabaseConfig,
    app_role: Option<&roles::AppRole>,
) -> anyhow::Result<()> {
    let pool = medsync_platform::db::pool(config);
    medsync_platform::db::migrate(&pool)
        .await
        .context("applying migrations")?;
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&pool)
        .await?;
    tracing::info!(applied, "database schema is up to date");
    if let Some(role) = app_role {
        roles::ensure(&pool, role).await?;
    }
    pool.close().await;
    Ok(())
}
