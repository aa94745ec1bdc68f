//! PostgreSQL: the pool and the embedded migrations.

use sqlx::{Connection as _, PgPool};

use sqlx::postgres::PgPoolOptions;

use crate::config::DatabaseConfig;

/// A connection idle for longer than this is pinged before it is handed out; one returned more
/// recently is handed out as it is.
///
/// sqlx pings every connection when it goes back to the pool (a `Sync` and its `ReadyForQuery`,
/// which also flushes what a cancelled query left behind) and, by default, again when it is
/// taken out. Under load a connection comes back and goes out again within milliseconds, so the
/// second ping only repeats the first: it was one of the three PostgreSQL round trips of an
/// authenticated read (`/users/me`: the ping out, the query, the ping back). A connection that
/// sat idle may have been cut (PostgreSQL restarted, a proxy's idle timeout): that one is still
/// checked, so a request does not get the error of a dead socket.
pub const PING_IF_IDLE_FOR: std::time::Duration = std::time::Duration::from_secs(1);

/// A pool that connects on first use, so a service starts (and reports "not ready") while
/// PostgreSQL is still coming up, instead of crash-looping.
pub fn pool(config: &DatabaseConfig) -> PgPool {
    let options = config
        .url
        .options()
        .clone()
        .application_name(application_name());
    PgPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(config.acquire_timeout)
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_IF_IDLE_FOR {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
        .connect_lazy_with(options)
}

/// The running binary's name, shown in `pg_stat_activity`.
fn application_name() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        let exe = std::env::args().next().unwrap_or_default();
        let base = exe.rsplit('/').next().unwrap_or("medsync");
        format!("medsync-{base}")
    })
}

/// Applies pending migrations. Safe to run from several processes at once: sqlx holds a
/// PostgreSQL advisory lock for the duration, so the second waits and then finds nothing to do.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    medsync_domain::MIGRATOR.run(pool).await
}
