//! Accounts.

use serde::{Deserialize, Serialize};
use sqlx::PgExecutor;
use uuid::Uuid;

mod admin;
mod fields;

pub use admin::*;
pub use fields::*;

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[sqlx(type_name = "user_role", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Books and cancels their own appointments.
    Patient,
    /// Sees their own agenda.
    Doctor,
    /// Manages the catalog, schedules and everyone's bookings.
    Admin,
}

/// An email address, trimmed and lower-cased; rejects what cannot be an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Parses `raw` (`local@domain.tld`, at most 254 characters).
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let email = raw.trim().to_lowercase();
        let Some((local, domain)) = email.split_once('@') else {
            return Err("an email address needs an @");
        };
        let valid = email.len() <= 254
            && !local.is_empty()
            && local.len() <= 64
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !email.chars().any(|c| c.is_whitespace() || c.is_control())
            && !domain.contains('@');
        if valid {
            Ok(Self(email))
        } else {
            Err("not a valid email address")
        }
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An account as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct User {
    /// Its id.
    pub id: Uuid,
    /// Sign-in email, when it has one.
    pub email: Option<String>,
    /// Display name.
    pub name: String,
    /// Phone number.
    pub phone: Option<String>,
    /// Role.
    pub role: Role,
    /// Linked Telegram account.
    pub telegram_user_id: Option<i64>,
}

const USER_COLUMNS: &str = "id, email, name, phone, role, telegram_user_id";

/// What [`register`] refuses.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// An account with this email exists.
    #[error("an account with this email exists")]
    EmailTaken,
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Creates a patient account.
pub async fn register(
    db: impl PgExecutor<'_>,
    email: &Email,
    password_hash: &str,
    name: &str,
    phone: Option<&str>,
) -> Result<User, RegisterError> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO users (id, email, password_hash, name, phone, role)
         VALUES ($1, $2, $3, $4, $5, 'patient') RETURNING {USER_COLUMNS}"
    )))
    .bind(Uuid::now_v7())
    .bind(email.as_str())
    .bind(password_hash)
    .bind(name)
    .bind(phone)
    .fetch_one(db)
    .await
    .map_err(|e| {
        if e.as_database_error().and_then(|d| d.constraint()) == Some("users_email_key") {
            RegisterError::EmailTaken
        } else {
            RegisterError::Database(e)
        }
    })
}

/// The account with this email and its password hash, for signing in.
pub async fn credentials(
    db: impl PgExecutor<'_>,
    email: &Email,
) -> Result<Option<(User, Option<String>)>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        user: User,
        password_hash: Option<String>,
    }
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS}, password_hash FROM users WHERE email = $1"
    )))
    .bind(email.as_str())
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| (r.user, r.password_hash)))
}

/// The account with this id.
pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM users WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// The stored password hash of an account (none for Telegram-only accounts).
pub async fn password_hash(
    db: impl PgExecutor<'_>,
    id: Uuid,
) -> Result<Option<String>, sqlx::Error> {
    Ok(
        sqlx::query_scalar::<_, Option<String>>("SELECT password_hash FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(db)
            .await?
            .flatten(),
    )
}

/// Changes to one's own account; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ProfileChange {
    /// New display name.
    pub name: Option<String>,
    /// New phone; `Some(None)` removes it.
    pub phone: Option<Option<String>>,
    /// New password hash.
    pub password_hash: Option<String>,
}

/// Applies `change` to the account and returns it.
pub async fn update_profile(
    db: impl PgExecutor<'_>,
    id: Uuid,
    change: &ProfileChange,
) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE users SET
            name = COALESCE($2, name),
            phone = CASE WHEN $3 THEN $4 ELSE phone END,
            password_hash = COALESCE($5, password_hash),
            updated_at = now()
         WHERE id = $1 RETURNING {USER_COLUMNS}"
    )))
    .bind(id)
    .bind(change.name.as_deref())
    .bind(change.phone.is_some())
    .bind(change.phone.clone().flatten())
    .bind(change.password_hash.as_deref())
    .fetch_optional(db)
    .await
}

/// The account linked to this Telegram user, if any.
pub async fn by_telegram(
    db: impl PgExecutor<'_>,
    telegram_user_id: i64,
) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM users WHERE telegram_user_id = $1"
    )))
    .bind(telegram_user_id)
    .fetch_optional(db)
    .await
}

/// The account of this Telegram user: the linked one, or a new patient known only by Telegram,
/// named `name` (already validated with [`parse_name`]). Safe against two concurrent first
/// messages: the second insert finds the first's row.
pub async fn telegram_patient(
    db: &mut sqlx::PgConnection,
    telegram_user_id: i64,
    name: &str,
) -> Result<User, sqlx::Error> {
    let inserted: Option<User> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO users (id, name, role, telegram_user_id) VALUES ($1, $2, 'patient', $3)
         ON CONFLICT (telegram_user_id) DO NOTHING RETURNING {USER_COLUMNS}"
    )))
    .bind(Uuid::now_v7())
    .bind(name)
    .bind(telegram_user_id)
    .fetch_optional(&mut *db)
    .await?;
    match inserted {
        Some(user) => Ok(user),
        None => by_telegram(&mut *db, telegram_user_id)
            .await?
            .ok_or(sqlx::Error::RowNotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::{Email, Password, parse_phone};

    #[test]
    fn weak_or_overlong_passwords_are_refused() {
        for weak in [
            "short1!",
            "onlyletterslong",
            "12345678901",
            "Password123",
            &"a1".repeat(65),
        ] {
            assert!(Password::parse(weak).is_err(), "{weak:?} accepted");
        }
        assert!(Password::parse("correct horse 42").is_ok());
    }

    #[test]
    fn phones_are_checked() {
        assert!(parse_phone("+49 (30) 123-4567").is_ok());
        for bad in ["12", "call me", "+1+2345678", "1234567890123456789012"] {
            assert!(parse_phone(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse("  Admin@Clinic.Example ").unwrap().as_str(),
            "admin@clinic.example"
        );
        for bad in [
            "", "no-at", "@x.y", "a@b", "a@.b", "a@b.", "a b@c.d", "a@b@c.d",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
