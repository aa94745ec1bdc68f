//! One-time codes linking a Telegram account to a MedSync account: the API issues one, the user
//! opens `https://t.me/<bot>?start=<code>`, the bot redeems it.

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
