//! MedSync's platform: what every service needs around the clinic's domain (configuration,
//! PostgreSQL and Redis connections, logs, metrics and traces, health checks, graceful shutdown, the
//! HTTP server and the service runner).
//!
//! Layers: `medsync-domain` below (this crate reads the domain's settings from the
//! environment), the services above; this crate depends on no service.

pub mod accounts;
pub mod app;
pub mod config;
pub mod db;
pub mod health;
pub mod http;
pub mod infra;
pub mod rate_limit;
pub mod redis;
pub mod service;
pub mod shutdown;
pub mod telemetry;
pub mod traces;
