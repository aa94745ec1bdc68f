//! The services' own database role: after the migrations (run as the database's owner),
//! `manage migrate` makes sure the role named by `DATABASE_APP_USER` exists with
//! `DATABASE_APP_PASSWORD`, may log in and do nothing but read and write the tables' rows, and
//! has a statement timeout. The services connect as it; only `manage` connects as the owner.
//!
//! Its grants are set again on every run, so a table a later migration adds is covered once
//! that deploy's `migrate` ran. The audit trail gets no `UPDATE` (and no role but the owner
//! may `TRUNCATE` or drop its trigger); the migrations' own table nothing at all.

use anyhow::Context as _;
use medsync_platform::config::{ConfigError, Env, FromEnv, Secret, Source};
use sqlx::PgPool;

/// A PostgreSQL role name we create: lower-case letters, digits and `_`, not starting with a
/// digit or `pg_`, at most 63 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleName(pub String);

impl FromEnv for RoleName {
    const EXPECTED: &'static str =
        "a role name of lower-case letters, digits and _ (at most 63), e.g. medsync_app";
    fn parse_env(raw: &str) -> Result<Self, String> {
        let ok = (1..=63).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            && !raw.as_bytes()[0].is_ascii_digit()
            && !raw.starts_with("pg_");
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err("not a plain role name".to_owned())
        }
    }
}

/// The services' role, when configured.
#[derive(Debug, Clone)]
pub struct AppRole {
    /// `DATABASE_APP_USER`.
    pub name: RoleName,
    /// `DATABASE_APP_PASSWORD`.
    pub password: Secret,
    /// `DATABASE_APP_STATEMENT_TIMEOUT_MS` (default 15000): a statement running longer is
    /// cancelled; a transaction idle this long ×4 is ended.
    pub statement_timeout_ms: u32,
}

impl AppRole {
    /// The variables it is read from.
    pub const VARIABLES: &[&str] = &[
        "DATABASE_APP_USER",
        "DATABASE_APP_PASSWORD",
        "DATABASE_APP_STATEMENT_TIMEOUT_MS",
    ];

    /// `None` unless `DATABASE_APP_USER` is set; then the password is required.
    pub fn from_env<S: Source>(env: &Env<S>) -> Result<Option<Self>, ConfigError> {
        let Some(name) = env.optional::<RoleName>("DATABASE_APP_USER")? else {
            return Ok(None);
        };
        let password = env.required("DATABASE_APP_PASSWORD")?;
        let statement_timeout_ms: u32 = env.or("DATABASE_APP_STATEMENT_TIMEOUT_MS", 15_000)?;
        Ok(Some(Self {
            name,
            password,
            statement_timeout_ms: statement_timeout_ms.max(100),
        }))
    }
}

/// Creates or updates the role and its grants, in one transaction.
pub async fn ensure(pool: &PgPool, role: &AppRole) -> anyhow::Result<()> {
    let mut tx = pool.begin().await?;
    // Role names and passwords cannot be bound parameters: PostgreSQL quotes them itself.
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
            .bind(&role.name.0)
            .fetch_one(&mut *tx)
            .await?;
    let verb = if exists { "ALTER" } else { "CREATE" };
    let statements: Vec<String> = sqlx::query_scalar(
        "SELECT unnest(ARRAY[
            format('%s ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD %L', $1::text, $2::text, $3::text),
            format('ALTER ROLE %I SET statement_timeout = %L', $2, $4::text || 'ms'),
            format('ALTER ROLE %I SET idle_in_transaction_session_timeout = %L', $2, ($4::int * 4)::text || 'ms'),
            format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), $2),
            format('GRANT USAGE ON SCHEMA public TO %I', $2),
            format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO %I', $2),
            format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO %I', $2),
            format('REVOKE UPDATE ON audit_events FROM %I', $2),
            format('REVOKE ALL ON _sqlx_migrations FROM %I', $2)
        ])",
    )
    .bind(verb)
    .bind(&role.name.0)
    .bind(role.password.expose())
    .bind(i32::try_from(role.statement_timeout_ms).unwrap_or(i32::MAX))
    .fetch_all(&mut *tx)
    .await?;
    for statement in statements {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&mut *tx)
            .await
            .context("granting the services' database role")?;
    }
    tx.commit().await?;
    tracing::info!(
        role = role.name.0,
        created = !exists,
        "services' database role is up to date"
    );
    Ok(())
}
