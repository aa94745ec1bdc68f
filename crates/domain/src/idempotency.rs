//! Idempotency keys: a retried request with the same key gets the first answer.
//!
//! The key's row is inserted first, inside the caller's transaction: a concurrent request with
//! the same key waits on that row until the first transaction ends, then finds the stored
//! answer. Nothing of the first request is visible before its answer is.

use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;

/// What claiming a key found.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// The key is new: run the request, then [`record`] its answer in the same transaction.
    New,
    /// The key was used before with this very request: here is its answer.
    Replay {
        /// The stored status code.
        status: u16,
        /// The stored body.
        body: serde_json::Value,
    },
    /// The key was used before with a different request.
    Mismatch,
}

/// A fingerprint of the request a key was used for.
pub fn fingerprint(parts: &[&[u8]]) -> Vec<u8> {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hasher.finalize().to_vec()
}

/// Claims `key` for `user_id` in the caller's transaction.
pub async fn claim(
    conn: &mut PgConnection,
    user_id: Uuid,
    key: &str,
    request_hash: &[u8],
) -> Result<Claim, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (user_id, key, request_hash, response_code, response_body)
         VALUES ($1, $2, $3, 0, 'null') ON CONFLICT DO NOTHING",
    )
    .bind(user_id)
    .bind(key)
    .bind(request_hash)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok(Claim::New);
    }
    let (hash, status, body): (Vec<u8>, i16, serde_json::Value) = sqlx::query_as(
        "SELECT request_hash, response_code, response_body FROM idempotency_keys
         WHERE user_id = $1 AND key = $2",
    )
    .bind(user_id)
    .bind(key)
    .fetch_one(&mut *conn)
    .await?;
    if hash != request_hash {
        return Ok(Claim::Mismatch);
    }
    Ok(Claim::Replay {
        status: u16::try_from(status).unwrap_or(500),
        body,
    })
}

/// Stores the answer to a claimed key, in the same transaction as the claim.
pub async fn record(
    conn: &mut PgConnection,
    user_id: Uuid,
    key: &str,
    status: u16,
    body: &serde_json::Value,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE idempotency_keys SET response_code = $3, response_body = $4
         WHERE user_id = $1 AND key = $2",
    )
    .bind(user_id)
    .bind(key)
    .bind(i16::try_from(status).unwrap_or(500))
    .bind(body)
    .execute(conn)
    .await?;
    Ok(())
}

/// Deletes idempotency keys older than a day (the daily clean-up): a client retries within
/// minutes.
pub async fn purge_old(conn: &mut sqlx::PgConnection) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM idempotency_keys WHERE created_at < now() - interval '1 day'")
            .execute(conn)
            .await?
            .rows_affected(),
    )
}
