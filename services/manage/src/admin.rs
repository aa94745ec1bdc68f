//! `manage create-admin`: create the admin, reset its password, or (explicitly) promote an
//! existing account.

use anyhow::Context as _;
use medsync_domain::users::{self, AdminMode, AdminOutcome};
use medsync_platform::config::DatabaseConfig;

use crate::seed::AdminConfig;

/// Creates the admin, or sets the existing admin's password; with `promote`, makes an existing
/// non-admin account with that email the admin. Every change to an existing account ends its
/// sessions.
pub async fn create(
    database: &DatabaseConfig,
    admin: &AdminConfig,
    promote: bool,
) -> anyhow::Result<()> {
    let pool = medsync_platform::db::pool(database);
    let hash = medsync_domain::password::hash(admin.password.expose().to_owned())
        .await
        .context("hashing ADMIN_PASSWORD")?;
    let mode = if promote {
        AdminMode::Promote
    } else {
        AdminMode::ResetPassword
    };
    let mut tx = pool.begin().await.context("connecting to PostgreSQL")?;
    let outcome = users::ensure_admin(&mut tx, &admin.email, &admin.name, &hash, mode)
        .await
        .with_context(|| format!("ADMIN_EMAIL {}", admin.email.as_str()))?;
    tx.commit().await?;
    let email = admin.email.as_str();
    match outcome {
        AdminOutcome::Created(id) => tracing::info!(%id, email, "admin created"),
        AdminOutcome::Unchanged(id) => tracing::info!(%id, email, "admin unchanged"),
        AdminOutcome::PasswordReset(id) => {
            tracing::info!(%id, email, "admin password set; its sessions are ended");
        }
        AdminOutcome::Promoted(id) => tracing::warn!(
            %id,
            email,
            "existing account promoted to admin: password set, Telegram unlinked, sessions ended"
        ),
    }
    pool.close().await;
    Ok(())
}
