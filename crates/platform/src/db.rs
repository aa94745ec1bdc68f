//! PostgreSQL: the pool and the embedded migrations.

use sqlx::PgPool;

use sqlx::postgres::PgPoolOptions;

use crate::config::DatabaseConfig;

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
