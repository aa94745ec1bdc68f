//! A clinic, tgsim playing Telegram, and the bot: what the conversation tests share.

use medsync_testkit as testing;
use serde_json::Value;
use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;
use uuid::Uuid;

pub const TOKEN: &str = medsync_tgsim::harness::TEST_TOKEN;
pub const ADA: i64 = 1001;

/// A clinic open every day, all day (UTC), so that tomorrow always has free slots.
pub struct Clinic {
    pub doctor: Uuid,
}

pub async fn clinic(db: &PgPool) -> Clinic {
    let (_, doctor) = testing::clinic_open_every_day(db).await;
    Clinic { doctor }
}

pub use medsync_tgsim::harness::{TestSim as Sim, buttons};

/// The bot's configuration on the database `options` names, against tgsim at `api_url`.
pub fn bot_config(options: &PgConnectOptions, api_url: &str, mode: &str) -> medsync_bot::Config {
    bot_config_with(options, api_url, mode, &[])
}

/// [`bot_config`] with `extra` variables on top.
pub fn bot_config_with(
    options: &PgConnectOptions,
    api_url: &str,
    mode: &str,
    extra: &[(&str, &str)],
) -> medsync_bot::Config {
    let consumer = format!("test-{}", Uuid::new_v4());
    let mut vars = vec![
        ("TELEGRAM_BOT_TOKEN", TOKEN),
        ("TELEGRAM_API_URL", api_url),
        ("TELEGRAM_MODE", mode),
        ("BOT_DIALOGUE_TTL_SECONDS", "600"),
        ("BOT_STREAM_CLAIM_IDLE_SECONDS", "1"),
        ("BOT_CONSUMER_NAME", &consumer),
    ];
    vars.extend_from_slice(extra);
    testing::config(&medsync_bot::SPEC, options, &vars)
}

/// Goes through the booking dialogue up to the confirmation question, choosing the last day
/// offered (far enough ahead to be cancellable) and its first time; returns that message and
/// the chosen start (Unix seconds).
pub async fn up_to_confirm(sim: &Sim, user: i64) -> (Value, i64) {
    sim.says(user, "/book");
    let m = sim.wait_for(user, "Which specialty?").await;
    sim.press_labelled(user, &m, "Cardiology");
    let m = sim.wait_for(user, "Which doctor?").await;
    sim.press_labelled(user, &m, "Dr. Ada Heart");
    let m = sim.wait_for(user, "which day?").await;
    let last_day = buttons(&m)
        .into_iter()
        .rfind(|(_, d)| d.starts_with("day:"))
        .expect("days offered")
        .1;
    sim.presses(user, m["message_id"].as_i64().unwrap(), &last_day);
    let m = sim.wait_for(user, "which time?").await;
    let at = sim.press_first(user, &m, "at:");
    let confirm = sim
        .wait_for(user, "Book Dr. Ada Heart (Cardiology) on")
        .await;
    (confirm, at["at:".len()..].parse().unwrap())
}

/// Counts rows.
pub async fn count(db: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(db)
        .await
        .unwrap()
}
