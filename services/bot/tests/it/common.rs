//! A clinic, tgsim playing Telegram, and the bot: what the conversation tests share.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use medsync_platform::config::{Env, TelegramConfig};
use medsync_platform::infra::BaseConfig;
use medsync_testkit as testing;
use medsync_tgsim::{Options, Simulator};
use serde_json::Value;
use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const TOKEN: &str = "123456789:test-token";
pub const ADA: i64 = 1001;

/// A clinic open every day, all day (UTC), so that tomorrow always has free slots.
pub struct Clinic {
    pub doctor: Uuid,
}

pub async fn clinic(db: &PgPool) -> Clinic {
    let (_, doctor) = testing::clinic_open_every_day(db).await;
    Clinic { doctor }
}

/// tgsim on a free port.
pub struct Sim {
    pub sim: Simulator,
    pub addr: SocketAddr,
    pub shutdown: CancellationToken,
}

impl Sim {
    pub async fn start() -> Self {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    pub async fn start_on(addr: SocketAddr) -> Self {
        let sim = Simulator::new(Options::default());
        let shutdown = CancellationToken::new();
        let addr = sim.clone().spawn(addr, shutdown.clone()).await.unwrap();
        Self {
            sim,
            addr,
            shutdown,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn says(&self, user: i64, text: &str) {
        self.sim.user_sends(TOKEN, user, "Ada", text);
    }

    pub fn presses(&self, user: i64, message_id: i64, data: &str) {
        self.sim
            .user_presses(TOKEN, user, message_id, data)
            .unwrap();
    }

    /// Waits (up to 15 s) for the bot to answer a button press with `text`.
    pub async fn wait_for_button_answer(&self, text: &str) -> Value {
        for _ in 0..300 {
            if let Some(a) = self
                .sim
                .callback_answers(TOKEN)
                .into_iter()
                .find(|a| a["text"].as_str().is_some_and(|t| t.contains(text)))
            {
                return a;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "no button answer containing {text:?}; the answers: {:#?}",
            self.sim.callback_answers(TOKEN)
        );
    }

    pub fn bot_messages(&self, user: i64) -> Vec<Value> {
        self.sim
            .chat(TOKEN, user)
            .into_iter()
            .filter(|m| m["from"]["is_bot"] == true)
            .collect()
    }

    /// Waits (up to 15 s) for a bot message in `user`'s chat whose text contains `text`.
    pub async fn wait_for(&self, user: i64, text: &str) -> Value {
        self.wait_until(user, text, |t| t.contains(text)).await
    }

    /// Waits (up to 15 s) for a bot message in `user`'s chat whose text starts with `text`.
    pub async fn wait_for_start(&self, user: i64, text: &str) -> Value {
        self.wait_until(user, text, |t| t.starts_with(text)).await
    }

    /// Waits (up to 15 s) until `count` bot messages in `user`'s chat contain `text`.
    pub async fn wait_until_count(&self, user: i64, text: &str, count: usize) {
        for _ in 0..300 {
            let seen = self
                .bot_messages(user)
                .iter()
                .filter(|m| m["text"].as_str().is_some_and(|t| t.contains(text)))
                .count();
            if seen >= count {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "fewer than {count} bot messages containing {text:?}; the chat: {:#?}",
            self.sim.chat(TOKEN, user)
        );
    }

    /// How many bot messages in `user`'s chat start with `text`.
    pub fn count_starting(&self, user: i64, text: &str) -> usize {
        self.bot_messages(user)
            .iter()
            .filter(|m| m["text"].as_str().is_some_and(|t| t.starts_with(text)))
            .count()
    }

    /// [`Sim::wait_for_start`] for up to `seconds`.
    pub async fn wait_for_start_within(&self, user: i64, text: &str, seconds: u64) -> Value {
        self.wait_until_within(user, text, |t| t.starts_with(text), seconds)
            .await
    }

    async fn wait_until(&self, user: i64, text: &str, matches: impl Fn(&str) -> bool) -> Value {
        self.wait_until_within(user, text, matches, 15).await
    }

    async fn wait_until_within(
        &self,
        user: i64,
        text: &str,
        matches: impl Fn(&str) -> bool,
        seconds: u64,
    ) -> Value {
        for _ in 0..seconds * 20 {
            if let Some(m) = self
                .bot_messages(user)
                .into_iter()
                .rev()
                .find(|m| m["text"].as_str().is_some_and(&matches))
            {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "no bot message containing {text:?}; the chat: {:#?}",
            self.sim.chat(TOKEN, user)
        );
    }

    /// Presses the first button of `message` whose label contains `label`; returns its data.
    pub fn press_labelled(&self, user: i64, message: &Value, label: &str) -> String {
        let data = buttons(message)
            .into_iter()
            .find(|(l, _)| l.contains(label))
            .unwrap_or_else(|| panic!("no button {label:?} in {message:#}"))
            .1;
        self.presses(user, message["message_id"].as_i64().unwrap(), &data);
        data
    }

    /// Presses the first button whose data starts with `prefix`; returns its data.
    pub fn press_first(&self, user: i64, message: &Value, prefix: &str) -> String {
        let data = buttons(message)
            .into_iter()
            .find(|(_, d)| d.starts_with(prefix))
            .unwrap_or_else(|| panic!("no button {prefix}… in {message:#}"))
            .1;
        self.presses(user, message["message_id"].as_i64().unwrap(), &data);
        data
    }
}

/// `(label, data)` of every inline button of a message.
pub fn buttons(message: &Value) -> Vec<(String, String)> {
    message["reply_markup"]["inline_keyboard"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row.as_array().cloned().unwrap_or_default())
        .map(|b| {
            (
                b["text"].as_str().unwrap_or_default().to_owned(),
                b["callback_data"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

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
