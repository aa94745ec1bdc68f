//! Refresh tokens: opaque random strings given to the client, stored only as SHA-256 hashes.
//! A login starts a token family; each refresh rotates the token inside it. Presenting a token
//! that was already rotated means two parties hold it: the whole family is revoked.
//!
//! A family is a session: the access tokens issued with its refresh tokens name it (`sid`)
//! and stop working when it is revoked (sign-out, sign-out everywhere, a password or role
//! change), not only when they expire.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::{SignedDuration, Timestamp};
use rand::RngCore as _;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;

use super::users::Role;
use jiff_sqlx::ToSqlx as _;

/// A fresh refresh token (shown once, to the client).
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken {
    /// The opaque token.
    pub token: String,
    /// When it stops working.
    pub expires_at: Timestamp,
    /// Its family: the session the access tokens issued with it belong to.
    pub family: Uuid,
}

impl std::fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshToken")
            .field("token", &"[REDACTED]")
            .field("expires_at", &self.expires_at)
            .field("family", &self.family)
            .finish()
    }
}

/// 32 random bytes, URL-safe base64.
pub fn random_token() -> String {
    let mut bytes = [0_u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Issues the first token of a new session (a sign-in) for `user_id`.
pub async fn issue(
    conn: &mut PgConnection,
    user_id: Uuid,
    ttl: SignedDuration,
    now: Timestamp,
) -> Result<RefreshToken, sqlx::Error> {
    insert(conn, user_id, Uuid::now_v7(), now, ttl, now).await
}

/// Stores a new token of session `family`, signed in at `started`.
async fn insert(
    conn: &mut PgConnection,
    user_id: Uuid,
    family: Uuid,
    started: Timestamp,
    ttl: SignedDuration,
    now: Timestamp,
) -> Result<RefreshToken, sqlx::Error> {
    let token = random_token();
    let expires_at = now.checked_add(ttl).unwrap_or(Timestamp::MAX);
    sqlx::query(
        "INSERT INTO refresh_tokens
             (id, user_id, family_id, token_hash, expires_at, session_started_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(Uuid::now_v7())
    .bind(user_id)
    .bind(family)
    .bind(hash(&token))
    .bind(expires_at.to_sqlx())
    .bind(started.to_sqlx())
    .execute(conn)
    .await?;
    Ok(RefreshToken {
        token,
        expires_at,
        family,
    })
}

/// What presenting a refresh token led to.
#[derive(Debug)]
pub enum Rotation {
    /// A new token replaces the presented one.
    Rotated {
        /// The account.
        user_id: Uuid,
        /// Its current role.
        role: Role,
        /// The replacement.
        token: RefreshToken,
    },
    /// The token had been rotated already: its family is now revoked.
    Reused {
        /// The account.
        user_id: Uuid,
        /// The revoked family (session).
        family: Uuid,
    },
    /// Unknown, expired or revoked.
    Invalid,
}

/// Exchanges `token` for a new one of the same family, in the caller's transaction. A reuse
/// revokes the family; commit the transaction in that case too. A session older than
/// `max_session` (from its sign-in) is over however often it was refreshed: `Invalid`.
pub async fn rotate(
    conn: &mut PgConnection,
    token: &str,
    ttl: SignedDuration,
    max_session: SignedDuration,
    now: Timestamp,
) -> Result<Rotation, sqlx::Error> {
    type Row = (
        Uuid,
        Uuid,
        Uuid,
        jiff_sqlx::Timestamp,
        Option<jiff_sqlx::Timestamp>,
        Option<jiff_sqlx::Timestamp>,
        Role,
        jiff_sqlx::Timestamp,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT t.id, t.user_id, t.family_id, t.expires_at, t.rotated_at, t.revoked_at, u.role,
                t.session_started_at
         FROM refresh_tokens t JOIN users u ON u.id = t.user_id
         WHERE t.token_hash = $1 FOR UPDATE OF t",
    )
    .bind(hash(token))
    .fetch_optional(&mut *conn)
    .await?;
    let Some((id, user_id, family, expires_at, rotated_at, revoked_at, role, started)) = row else {
        return Ok(Rotation::Invalid);
    };
    let session_end = started
        .to_jiff()
        .checked_add(max_session)
        .unwrap_or(Timestamp::MAX);
    if revoked_at.is_some() || expires_at.to_jiff() <= now {
        return Ok(Rotation::Invalid);
    }
    if rotated_at.is_some() {
        revoke_family(conn, family, now).await?;
        return Ok(Rotation::Reused { user_id, family });
    }
    if session_end <= now {
        revoke_family(conn, family, now).await?;
        return Ok(Rotation::Invalid);
    }
    sqlx::query("UPDATE refresh_tokens SET rotated_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now.to_sqlx())
        .execute(&mut *conn)
        .await?;
    // The last token of a session expires with it.
    let ttl = ttl.min(session_end.duration_since(now));
    // The session's sign-in time is carried on from the token it replaces (the absolute
    // lifetime counts from it). Read from the family's oldest token instead, it cost a scan
    // of the family, which keeps every rotated token until it expires: one more per refresh.
    let token = insert(conn, user_id, family, started.to_jiff(), ttl, now).await?;
    Ok(Rotation::Rotated {
        user_id,
        role,
        token,
    })
}

/// Revokes a session (every refresh token of the family); its access tokens stop working.
pub async fn revoke_family(
    conn: &mut PgConnection,
    family: Uuid,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL",
    )
    .bind(family)
    .bind(now.to_sqlx())
    .execute(conn)
    .await?;
    Ok(())
}

/// Revokes the family of `token` if it belongs to `user_id` (logout). Unknown tokens are
/// ignored: logging out twice is not an error.
pub async fn revoke(
    conn: &mut PgConnection,
    user_id: Uuid,
    token: &str,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    let family: Option<Uuid> = sqlx::query_scalar(
        "SELECT family_id FROM refresh_tokens WHERE token_hash = $1 AND user_id = $2",
    )
    .bind(hash(token))
    .bind(user_id)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(family) = family {
        revoke_family(conn, family, now).await?;
    }
    Ok(())
}

/// Revokes every session of `user_id` but `except` (the one asking, when it stays signed in):
/// their refresh tokens and, through `sid`, their access tokens stop working. Returns how
/// many sessions ended.
pub async fn revoke_all(
    conn: &mut PgConnection,
    user_id: Uuid,
    except: Option<Uuid>,
    now: Timestamp,
) -> Result<u64, sqlx::Error> {
    let families: Vec<Uuid> = sqlx::query_scalar(
        "UPDATE refresh_tokens SET revoked_at = $3
         WHERE user_id = $1 AND revoked_at IS NULL AND family_id IS DISTINCT FROM $2
         RETURNING family_id",
    )
    .bind(user_id)
    .bind(except)
    .bind(now.to_sqlx())
    .fetch_all(conn)
    .await?;
    let mut families = families;
    families.sort_unstable();
    families.dedup();
    Ok(families.len() as u64)
}

/// Whether the session `family` of `user_id` is still signed in (not revoked). Checked for
/// every access token, so that revoking a session ends its access tokens at once.
pub async fn is_live(
    db: impl sqlx::PgExecutor<'_>,
    user_id: Uuid,
    family: Uuid,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM refresh_tokens
                        WHERE family_id = $1 AND user_id = $2 AND revoked_at IS NULL)",
    )
    .bind(family)
    .bind(user_id)
    .fetch_one(db)
    .await
}

/// Deletes refresh tokens expired for more than a day (the daily clean-up): an expired token
/// can only ever be refused, and reuse detection needs it no more.
pub async fn purge_expired(conn: &mut sqlx::PgConnection) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM refresh_tokens WHERE expires_at < now() - interval '1 day'")
            .execute(conn)
            .await?
            .rows_affected(),
    )
}
