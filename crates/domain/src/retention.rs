//! The daily clean-up: what each table keeps, and for how long. Each owner's module holds its
//! own `DELETE`; this one runs them together, one worker at a time.

use crate::{audit, idempotency, jobs, sessions, telegram_links};

/// What one clean-up removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CleanUp {
    /// False when another worker held the clean-up lock: this one did nothing.
    pub ran: bool,
    /// Link codes past their expiry or used.
    pub link_codes: u64,
    /// Succeeded jobs finished before the retention.
    pub jobs: u64,
    /// Refresh tokens past their expiry (a day's grace).
    pub refresh_tokens: u64,
    /// Idempotency keys older than a day (a client retries within minutes).
    pub idempotency_keys: u64,
    /// Audit events older than the audit retention.
    pub audit_events: u64,
}

/// How long the clean-up keeps what it deletes.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Succeeded jobs (`JOB_RETENTION_DAYS`).
    pub jobs: std::time::Duration,
    /// The audit trail (`AUDIT_RETENTION_DAYS`).
    pub audit: std::time::Duration,
}

/// Removes expired link codes and succeeded jobs finished more than `retention` ago — by one
/// worker at a time: a transaction-scoped advisory lock, not waited for (another worker
/// holding it is doing this very work). Dead jobs are kept until someone retries or deletes
/// them: they need a person's attention.
pub async fn clean_up(pool: &sqlx::PgPool, retention: Retention) -> Result<CleanUp, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let locked: bool =
        sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(hashtext('medsync.clean_up'))")
            .fetch_one(&mut *tx)
            .await?;
    if !locked {
        return Ok(CleanUp::default());
    }
    let link_codes = telegram_links::purge_spent(&mut tx).await?;
    let jobs = jobs::purge_succeeded(&mut tx, retention.jobs).await?;
    let refresh_tokens = sessions::purge_expired(&mut tx).await?;
    let idempotency_keys = idempotency::purge_old(&mut tx).await?;
    let audit_events = audit::purge(
        &mut tx,
        jiff::SignedDuration::try_from(retention.audit).unwrap_or(jiff::SignedDuration::MAX),
        jiff::Timestamp::now(),
    )
    .await?;
    tx.commit().await?;
    Ok(CleanUp {
        ran: true,
        link_codes,
        jobs,
        refresh_tokens,
        idempotency_keys,
        audit_events,
    })
}
