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

impl crate::config::FromEnv for Email {
    const EXPECTED: &'static str = "an email address such as admin@clinic.example";
    fn parse_env(raw: &str) -> Result<Self, String> {
        Self::parse(raw).map_err(str::to_owned)
    }
}

/// Creates an admin with this email and password hash, or makes the existing account with this
/// email an admin and sets its password. Returns the user's id.
pub async fn upsert_admin(
    db: impl PgExecutor<'_>,
    email: &Email,
    name: &str,
    password_hash: &str,
) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO users (id, email, password_hash, name, role)
         VALUES ($1, $2, $3, $4, 'admin')
         ON CONFLICT (email) WHERE email IS NOT NULL
         DO UPDATE SET role = 'admin', password_hash = EXCLUDED.password_hash, updated_at = now()
         RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(email.as_str())
    .bind(password_hash)
    .bind(name)
    .fetch_one(db)
    .await
}

#[cfg(test)]
mod tests {
    use super::Email;

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
