//! MedSync's shared core: what every service needs (configuration, PostgreSQL, Redis, logs and
//! metrics, health checks, graceful shutdown, the service runner) and the clinic's domain.
//!
//! Dependencies point one way: services depend on this crate; it depends on no service.

pub mod app;
pub mod config;
pub mod db;
pub mod domain;
pub mod health;
pub mod http;
pub mod infra;
pub mod password;
pub mod redis;
pub mod service;
pub mod shutdown;
pub mod telemetry;
#[cfg(feature = "test-support")]
pub mod testing;
