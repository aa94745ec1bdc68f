//! One-time codes linking a Telegram account to a MedSync account: the API issues one, the user
//! opens `https://t.me/<bot>?start=<code>`, the bot redeems it.

use super::audit::{self, Channel, Event};
use jiff::{SignedDuration, Timestamp};
use sqlx::PgConnection;
use uuid::Uuid;

use super::clock::to_db;
use super::sessions::random_token;

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
    sqlx::query("INSERT INTO telegram_link_codes (code, user_id, expires_at) VALUES ($1, $2, $3)")
        .bind(&code)
        .bind(user_id)
        .bind(to_db(expires_at))
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
         WHERE code = $1 AND used_at IS NULL AND expires_at > $2
         RETURNING user_id",
    )
    .bind(code)
    .bind(to_db(now))
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
