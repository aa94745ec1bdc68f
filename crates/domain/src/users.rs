//! Accounts.

use serde::{Deserialize, Serialize};
use sqlx::PgExecutor;
use uuid::Uuid;

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
            super::sessions::revoke_all(conn, id, None, now).await?;
            let event =
                super::audit::Event::new("user.password.changed", super::audit::Channel::Manage)
                    .on(id)
                    .details(serde_json::json!({ "by": "manage create-admin" }));
            super::audit::record(conn, event).await?;
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
            super::sessions::revoke_all(conn, id, None, now).await?;
            let event =
                super::audit::Event::new("user.role.changed", super::audit::Channel::Manage)
                    .on(id)
                    .details(serde_json::json!({
                        "from": from,
                        "to": Role::Admin,
                        "by": "manage create-admin --promote",
                        "telegram_unlinked": true,
                    }));
            super::audit::record(conn, event).await?;
            Ok(AdminOutcome::Promoted(id))
        }
        (Some((_, role)), AdminMode::CreateOnly | AdminMode::ResetPassword) => {
            Err(AdminError::NotAnAdmin(role))
        }
    }
}

/// A password a person chose: 10 to 128 characters (longer ones only make hashing a
/// denial-of-service lever), not only letters or only digits, and not on the list of the most
/// common ones.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([REDACTED])")
    }
}

const COMMON_PASSWORDS: &[&str] = &[
    "password123",
    "1234567890",
    "qwertyuiop",
    "password1234",
    "iloveyou123",
    "1q2w3e4r5t",
    "qwerty12345",
    "abc1234567",
    "letmein1234",
    "welcome123",
    "passw0rd123",
    "admin12345",
];

impl Password {
    /// Checks `raw` against the rules above.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let chars = raw.chars().count();
        if chars < 10 {
            return Err("must be at least 10 characters");
        }
        if chars > 128 {
            return Err("must be at most 128 characters");
        }
        let all_letters = raw.chars().all(char::is_alphabetic);
        let all_digits = raw.chars().all(|c| c.is_ascii_digit());
        if all_letters || all_digits {
            return Err("must mix letters with digits or symbols");
        }
        if COMMON_PASSWORDS.contains(&raw.to_lowercase().as_str()) {
            return Err("is too common");
        }
        Ok(Self(raw.to_owned()))
    }

    /// The password, for hashing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// A person's display name: 1 to 200 characters after trimming, no control characters.
pub fn parse_name(raw: &str) -> Result<String, &'static str> {
    let name = raw.trim();
    if name.is_empty() {
        return Err("must not be empty");
    }
    if name.chars().count() > 200 {
        return Err("must be at most 200 characters");
    }
    if name.chars().any(char::is_control) {
        return Err("must not contain control characters");
    }
    Ok(name.to_owned())
}

/// A phone number: digits with optional `+`, spaces, dashes, dots and parentheses; 5 to 20
/// digits. Stored as given (trimmed).
pub fn parse_phone(raw: &str) -> Result<String, &'static str> {
    let phone = raw.trim();
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    let allowed = phone
        .chars()
        .enumerate()
        .all(|(i, c)| c.is_ascii_digit() || " -.()".contains(c) || (c == '+' && i == 0));
    if allowed && (5..=20).contains(&digits) && phone.len() <= 32 {
        Ok(phone.to_owned())
    } else {
        Err("must be a phone number such as +49 30 1234567")
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
