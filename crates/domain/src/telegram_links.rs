//! One-time codes linking a Telegram account to a MedSync account: the API issues one, the user
//! opens `https://t.me/<bot>?start=<code>`, the bot shows whose account it is ([`preview`]:
//! masked email, name, what a merge would move) and links only when the person in the chat
//! confirms ([`redeem`]), or voids the code when they decline ([`decline`]). Codes are stored
//! as SHA-256 hashes, like refresh tokens.

use super::audit::{self, Channel, Event};
use jiff::{SignedDuration, Timestamp};
use sqlx::PgConnection;
use uuid::Uuid;

use super::sessions::{hash, random_token};
use jiff_sqlx::ToSqlx as _;

/// A code and when it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkCode {
    /// The code: 43 URL-safe characters (Telegram's `start` parameter allows 64).
    pub code: String,
    /// After this it no longer links anything.
    pub expires_at: Timestamp,
}

/// Issues a code for `user_id`, valid for `ttl`.
pub async fn issue(
    conn: &mut PgConnection,
    user_id: Uuid,
    ttl: SignedDuration,
    now: Timestamp,
) -> Result<LinkCode, sqlx::Error> {
    let code = random_token();
    let expires_at = now.checked_add(ttl).unwrap_or(Timestamp::MAX);
    sqlx::query(
        "INSERT INTO telegram_link_codes (code_hash, user_id, expires_at) VALUES ($1, $2, $3)",
    )
    .bind(hash(&code))
    .bind(user_id)
    .bind(expires_at.to_sqlx())
    .execute(conn)
    .await?;
    Ok(LinkCode { code, expires_at })
}

/// Why a code did not link.
#[derive(Debug, thiserror::Error)]
pub enum RedeemError {
    /// Unknown, expired or used.
    #[error("this link code is unknown, expired or already used")]
    Invalid,
    /// The Telegram account belongs to another account that signs in with a password: linking
    /// it elsewhere would take that account's Telegram sign-in away.
    #[error("this Telegram account is linked to another MedSync account")]
    LinkedElsewhere,
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// What linking with a code would do, for the person in the chat to confirm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    /// The account the code links to.
    pub user_id: Uuid,
    /// Its email, masked (`a***@example.com`), so the person can tell whose it is.
    pub email: String,
    /// Its name.
    pub name: String,
    /// Whether this Telegram user's own Telegram-only account would be merged into it, and how
    /// many bookings would move.
    pub merge: Option<i64>,
    /// Whether this Telegram account is linked to that account already.
    pub already_linked: bool,
}

/// `a***@example.com`: the first character of the local part, the whole domain.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

/// What [`redeem`] would do with `code` for `telegram_user_id`, changing nothing.
pub async fn preview(
    conn: &mut PgConnection,
    code: &str,
    telegram_user_id: i64,
    now: Timestamp,
) -> Result<Preview, RedeemError> {
    let target: Option<(Uuid, Option<String>, String)> = sqlx::query_as(
        "SELECT u.id, u.email, u.name FROM telegram_link_codes c JOIN users u ON u.id = c.user_id
         WHERE c.code_hash = $1 AND c.used_at IS NULL AND c.expires_at > $2",
    )
    .bind(hash(code))
    .bind(now.to_sqlx())
    .fetch_optional(&mut *conn)
    .await?;
    let (user_id, email, name) = target.ok_or(RedeemError::Invalid)?;
    let current: Option<(Uuid, bool)> =
        sqlx::query_as("SELECT id, email IS NOT NULL FROM users WHERE telegram_user_id = $1")
            .bind(telegram_user_id)
            .fetch_optional(&mut *conn)
            .await?;
    let (merge, already_linked) = match current {
        Some((id, _)) if id == user_id => (None, true),
        Some((_, true)) => return Err(RedeemError::LinkedElsewhere),
        Some((id, false)) => {
            let bookings: i64 =
                sqlx::query_scalar("SELECT count(*) FROM bookings WHERE patient_id = $1")
                    .bind(id)
                    .fetch_one(&mut *conn)
                    .await?;
            (Some(bookings), false)
        }
        None => (None, false),
    };
    Ok(Preview {
        user_id,
        email: mask_email(email.as_deref().unwrap_or_default()),
        name,
        merge,
        already_linked,
    })
}

/// The person in the chat said the account is not theirs: the code is void. Returns whether
/// it was still valid.
pub async fn decline(
    conn: &mut PgConnection,
    code: &str,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    let voided = sqlx::query(
        "UPDATE telegram_link_codes SET used_at = $2
         WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2",
    )
    .bind(hash(code))
    .bind(now.to_sqlx())
    .execute(conn)
    .await?
    .rows_affected();
    Ok(voided > 0)
}

/// Redeems `code` for the Telegram user `telegram_user_id`, in the caller's transaction: the
/// code's account gets this Telegram account. A Telegram-only patient account this Telegram user
/// had before (one made by chatting with the bot) is merged into it: its bookings move over
/// and it is deleted. Returns the linked account's id.
pub async fn redeem(
    conn: &mut PgConnection,
    code: &str,
    telegram_user_id: i64,
    now: Timestamp,
) -> Result<Uuid, RedeemError> {
    let user_id: Option<Uuid> = sqlx::query_scalar(
        "UPDATE telegram_link_codes SET used_at = $2
         WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2
         RETURNING user_id",
    )
    .bind(hash(code))
    .bind(now.to_sqlx())
    .fetch_optional(&mut *conn)
    .await?;
    let user_id = user_id.ok_or(RedeemError::Invalid)?;

    let previous: Option<(Uuid, bool)> = sqlx::query_as(
        "SELECT id, email IS NOT NULL FROM users WHERE telegram_user_id = $1 FOR UPDATE",
    )
    .bind(telegram_user_id)
    .fetch_optional(&mut *conn)
    .await?;
    match previous {
        Some((id, _)) if id == user_id => return Ok(user_id),
        Some((_, true)) => return Err(RedeemError::LinkedElsewhere),
        Some((id, false)) => {
            let moved = sqlx::query("UPDATE bookings SET patient_id = $2 WHERE patient_id = $1")
                .bind(id)
                .bind(user_id)
                .execute(&mut *conn)
                .await?
                .rows_affected();
            sqlx::query("DELETE FROM users WHERE id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await?;
            let event = Event::new("telegram.merged", Channel::Bot)
                .on(user_id)
                .details(serde_json::json!({
                    "merged_account": id,
                    "bookings_moved": moved,
                }));
            audit::record(conn, event).await?;
        }
        None => {}
    }
    sqlx::query("UPDATE users SET telegram_user_id = $2, updated_at = now() WHERE id = $1")
        .bind(user_id)
        .bind(telegram_user_id)
        .execute(&mut *conn)
        .await?;
    let event = Event::new("telegram.linked", Channel::Bot)
        .on(user_id)
        .details(serde_json::json!({ "telegram_user_id": telegram_user_id }));
    audit::record(conn, event).await?;
    Ok(user_id)
}

/// Deletes link codes past their expiry or used (the daily clean-up).
pub async fn purge_spent(conn: &mut sqlx::PgConnection) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "DELETE FROM telegram_link_codes WHERE expires_at < now() OR used_at IS NOT NULL",
    )
    .execute(conn)
    .await?
    .rows_affected())
}
