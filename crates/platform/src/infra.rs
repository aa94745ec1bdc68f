//! The configuration and connections every long-running service shares.

use sqlx::PgPool;

use crate::config::{ConfigError, DatabaseConfig, Env, HttpConfig, RedisConfig, Source};
use crate::health::Readiness;
use crate::redis::Redis;
use crate::service::Spec;

/// Listen address, PostgreSQL and Redis: what every long-running service reads.
#[derive(Debug, Clone)]
pub struct BaseConfig {
    /// Where it listens.
    pub http: HttpConfig,
    /// PostgreSQL.
    pub database: DatabaseConfig,
    /// Redis.
    pub redis: RedisConfig,
}

impl BaseConfig {
    /// The variables it is read from.
    pub fn variables(spec: &Spec) -> Vec<&'static str> {
        [
            HttpConfig::variables(spec.listen_var).as_slice(),
            DatabaseConfig::VARIABLES,
            RedisConfig::VARIABLES,
        ]
        .concat()
    }

    /// Reads the variables of `spec`'s service.
    pub fn from_env<S: Source>(env: &Env<S>, spec: &Spec) -> Result<Self, ConfigError> {
        Ok(Self {
            http: spec.http_config(env)?,
            database: DatabaseConfig::from_env(env)?,
            redis: RedisConfig::from_env(env)?,
        })
    }
}

/// The process's connections; cheap to clone.
#[derive(Debug, Clone)]
pub struct Infra {
    /// PostgreSQL pool.
    pub db: PgPool,
    /// Redis connection and key naming.
    pub redis: Redis,
}

impl Infra {
    /// Sets up both connections lazily: nothing is dialled until first use, so the service
    /// starts, and reports through `/readyz`, while a dependency is still coming up.
    pub fn connect(config: &BaseConfig) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        Ok(Self {
            db: crate::db::pool(&config.database),
            redis: Redis::connect(&config.redis).context("REDIS_URL")?,
        })
    }

    /// Readiness checks of both.
    pub fn readiness(&self) -> Readiness {
        Readiness::new(self.db.clone(), self.redis.clone())
    }
}
