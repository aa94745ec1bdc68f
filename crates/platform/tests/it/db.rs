//! The pool: a connection handed back within [`PING_IF_IDLE_FOR`] goes out again unpinged, so
//! one that sat idle longer must be checked, or a request would get a dead socket's error.

use std::time::Duration;

use medsync_platform::config::DatabaseConfig;
use medsync_platform::db::{self, PING_IF_IDLE_FOR};
use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgConnection};

fn options() -> PgConnectOptions {
    std::env::var("DATABASE_URL")
        .expect("DATABASE_URL: the tests run against a real PostgreSQL")
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_connection_cut_while_it_sat_idle_is_replaced_not_handed_out() {
    let pool = db::pool(&DatabaseConfig {
        url: options().into(),
        max_connections: 1,
        acquire_timeout: Duration::from_secs(5),
    });
    let first: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&pool)
        .await
        .unwrap();
    // Back in the pool (its return ping done), then cut by the server: as a restart or an
    // idle timeout of a proxy would.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut admin = PgConnection::connect_with(&options()).await.unwrap();
    let cut: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(first)
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert!(cut);
    tokio::time::sleep(PING_IF_IDLE_FOR + Duration::from_millis(300)).await;

    let second: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&pool)
        .await
        .expect("the idle connection was checked before it was handed out");
    assert_ne!(first, second);
    admin.close().await.unwrap();
}
