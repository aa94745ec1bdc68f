//! The database a backup is taken from or restored into.

use std::fmt;

use medsync_platform::config::{DatabaseUrl, FromEnv, Secret};
use percent_encoding::percent_decode_str;

/// The database to back up or restore into: `DATABASE_URL`, kept as sqlx's options (for the
/// service's own queries) and as libpq's environment (`PGHOST`, `PGPASSWORD`, ...) for
/// `pg_dump`, `pg_restore` and `psql`, so the password is never on a command line.
#[derive(Clone)]
pub struct PgTarget {
    /// For sqlx.
    pub url: DatabaseUrl,
    libpq: Vec<(&'static str, Secret)>,
    /// The database's name, for messages.
    pub database: String,
}

impl PgTarget {
    /// The libpq variables the PostgreSQL tools are run with.
    pub fn libpq_env(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.libpq.iter().map(|(k, v)| (*k, v.expose()))
    }
}

impl fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgTarget")
            .field("database", &self.database)
            .finish_non_exhaustive()
    }
}

impl FromEnv for PgTarget {
    const EXPECTED: &'static str =
        "a PostgreSQL URL such as postgres://medsync:password@db:5432/medsync";
    const SECRET: bool = true;
    fn parse_env(raw: &str) -> Result<Self, String> {
        let url = DatabaseUrl::parse(raw)?;
        let parsed = reqwest::Url::parse(raw).map_err(|e| e.to_string())?;
        let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
        let database = decode(parsed.path().trim_start_matches('/'));
        if database.is_empty() {
            return Err("no database name in the path".to_owned());
        }
        let mut libpq = vec![
            ("PGHOST", decode(parsed.host_str().unwrap_or("localhost"))),
            ("PGPORT", parsed.port().unwrap_or(5432).to_string()),
            ("PGDATABASE", database.clone()),
        ];
        if !parsed.username().is_empty() {
            libpq.push(("PGUSER", decode(parsed.username())));
        }
        if let Some(password) = parsed.password() {
            libpq.push(("PGPASSWORD", decode(password)));
        }
        for (key, value) in parsed.query_pairs() {
            match key.as_ref() {
                "sslmode" => libpq.push(("PGSSLMODE", value.into_owned())),
                "sslrootcert" => libpq.push(("PGSSLROOTCERT", value.into_owned())),
                "application_name" => libpq.push(("PGAPPNAME", value.into_owned())),
                _ => {}
            }
        }
        Ok(Self {
            url,
            libpq: libpq
                .into_iter()
                .map(|(k, v)| (k, Secret::from(v.as_str())))
                .collect(),
            database,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_becomes_libpq_variables_with_the_password_decoded() {
        let target = PgTarget::parse_env(
            "postgres://owner:p%40ss%2Fw@db.internal:6543/clinic?sslmode=require",
        )
        .unwrap();
        let env: Vec<(&str, &str)> = target.libpq_env().collect();
        assert!(env.contains(&("PGHOST", "db.internal")));
        assert!(env.contains(&("PGPORT", "6543")));
        assert!(env.contains(&("PGUSER", "owner")));
        assert!(env.contains(&("PGPASSWORD", "p@ss/w")));
        assert!(env.contains(&("PGDATABASE", "clinic")));
        assert!(env.contains(&("PGSSLMODE", "require")));
        assert_eq!(target.database, "clinic");
        assert!(!format!("{target:?}").contains("p@ss"));
        assert!(PgTarget::parse_env("postgres://owner@db:5432").is_err());
        assert!(PgTarget::parse_env("mysql://owner@db/clinic").is_err());
    }
}
