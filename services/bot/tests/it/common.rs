//! A clinic, tgsim playing Telegram, and the bot: what the conversation tests share.

use std::collections::HashMap;
use std::time::Duration;

use medsync_platform::config::{Env, TelegramConfig};
use medsync_platform::infra::BaseConfig;
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

/// The bot's configuration against tgsim at `api_url`.
pub fn bot_config(base: BaseConfig, api_url: &str, mode: &str) -> medsync_bot::Config {
    let env = Env::new(HashMap::from([
        ("TELEGRAM_BOT_TOKEN", TOKEN),
        ("TELEGRAM_API_URL", api_url),
        ("TELEGRAM_MODE", mode),
        (
            "TELEGRAM_WEBHOOK_SECRET",
            "webhook-secret-of-at-least-32-characters",
        ),
    ]));
    medsync_bot::Config {
        base,
        telegram: TelegramConfig::from_env(&env).unwrap(),
        rules: medsync_platform::config::booking_rules(&env).unwrap(),
        dialogue_ttl: Duration::from_secs(600),
        booking_days: 14,
        claim_idle: Duration::from_secs(1),
        consumer_name: format!("test-{}", Uuid::new_v4()),
    }
}

pub fn base(options: &PgConnectOptions) -> BaseConfig {
    testing::base_config(options)
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
