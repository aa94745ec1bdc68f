//! The clinic's administrator account: created, reset or promoted by `manage`.

use uuid::Uuid;

use super::*;

/// What [`ensure_admin`] may do to an account that already holds the admin's email.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminMode {
    /// Create the admin if the email is free; leave an existing admin as it is (`manage
    /// seed`: running it again changes nothing).
    CreateOnly,
    /// Also set an existing admin's password (`manage create-admin`), which signs it out
    /// everywhere.
    ResetPassword,
    /// Also make an existing non-admin account the admin (`manage create-admin --promote`):
    /// its password is set, its Telegram link removed and every session of it ended, so
    /// whoever registered that email first keeps nothing of it.
    Promote,
}

/// What [`ensure_admin`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminOutcome {
    /// A new admin account.
    Created(Uuid),
    /// The admin existed and was left alone ([`AdminMode::CreateOnly`]).
    Unchanged(Uuid),
    /// The admin existed; its password was set and its sessions ended.
    PasswordReset(Uuid),
    /// A non-admin account was made the admin (see [`AdminMode::Promote`]).
    Promoted(Uuid),
}

/// Why [`ensure_admin`] did nothing.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The email belongs to an account that is not an admin, and promotion was not asked for.
    #[error(
        "an account with this email already exists and is a {0:?}, not an admin; promoting it \
         must be explicit (manage create-admin --promote), since anyone may have registered it"
    )]
    NotAnAdmin(Role),
    /// PostgreSQL failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Makes sure an admin with this email exists, in the caller's transaction; see [`AdminMode`]
/// for what happens to an account that already holds the email.
pub async fn ensure_admin(
    conn: &mut sqlx::PgConnection,
    email: &Email,
    name: &str,
    password_hash: &str,
    mode: AdminMode,
) -> Result<AdminOutcome, AdminError> {
    let existing: Option<(Uuid, Role)> =
        sqlx::query_as("SELECT id, role FROM users WHERE email = $1 FOR UPDATE")
            .bind(email.as_str())
            .fetch_optional(&mut *conn)
            .await?;
    let now = jiff::Timestamp::now();
    match (existing, mode) {
        (None, _) => {
            let id = sqlx::query_scalar(
                "INSERT INTO users (id, email, password_hash, name, role)
                 VALUES ($1, $2, $3, $4, 'admin')
                 RETURNING id",
            )
            .bind(Uuid::now_v7())
            .bind(email.as_str())
            .bind(password_hash)
            .bind(name)
            .fetch_one(&mut *conn)
            .await?;
            Ok(AdminOutcome::Created(id))
        }
        (Some((id, Role::Admin)), AdminMode::CreateOnly) => Ok(AdminOutcome::Unchanged(id)),
        (Some((id, Role::Admin)), AdminMode::ResetPassword | AdminMode::Promote) => {
            sqlx::query("UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1")
                .bind(id)
                .bind(password_hash)
                .execute(&mut *conn)
                .await?;
            crate::sessions::revoke_all(conn, id, None, now).await?;
            let event =
                crate::audit::Event::new("user.password.changed", crate::audit::Channel::Manage)
                    .on(id)
                    .details(serde_json::json!({ "by": "manage create-admin" }));
            crate::audit::record(conn, event).await?;
            Ok(AdminOutcome::PasswordReset(id))
        }
        (Some((id, from)), AdminMode::Promote) => {
            sqlx::query(
                "UPDATE users SET role = 'admin', password_hash = $2, telegram_user_id = NULL,
                                  updated_at = now()
                 WHERE id = $1",
            )
            .bind(id)
            .bind(password_hash)
            .execute(&mut *conn)
            .await?;
            crate::sessions::revoke_all(conn, id, None, now).await?;
            let event =
                crate::audit::Event::new("user.role.changed", crate::audit::Channel::Manage)
                    .on(id)
                    .details(serde_json::json!({
                        "from": from,
                        "to": Role::Admin,
                        "by": "manage create-admin --promote",
                        "telegram_unlinked": true,
                    }));
            crate::audit::record(conn, event).await?;
            Ok(AdminOutcome::Promoted(id))
        }
        (Some((_, role)), AdminMode::CreateOnly | AdminMode::ResetPassword) => {
            Err(AdminError::NotAnAdmin(role))
        }
    }
}
