//! `manage create-admin`: create or promote an admin.

use anyhow::Context as _;
use medsync_core::config::DatabaseConfig;
use medsync_core::domain::users;

use crate::seed::AdminConfig;

/// Creates the admin, or promotes the account with that email (and sets its password).
pub async fn create(database: &DatabaseConfig, admin: &AdminConfig) -> anyhow::Result<()> {
    let pool = medsync_core::db::pool(database).context("DATABASE_URL")?;
    let hash = medsync_core::password::hash(admin.password.expose().to_owned())
        .await
        .context("hashing ADMIN_PASSWORD")?;
    let id = users::upsert_admin(&pool, &admin.email, &admin.name, &hash)
        .await
        .context("creating the admin")?;
    tracing::info!(%id, email = admin.email.as_str(), "admin ready");
    pool.close().await;
    Ok(())
}
