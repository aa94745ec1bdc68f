//! tgsim for tests: a simulator on a loopback port, acting as the user and waiting for what
//! the bot answers. The bot's and the worker's tests use it alike.

// A broken expectation in a test helper is the failed test: it panics with what it saw.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::{Options, Simulator};

/// The bot token of the tests (any `<digits>:<secret>` does for tgsim).
pub const TEST_TOKEN: &str = "123456789:test-token";

/// tgsim on a free port.
#[derive(Debug)]
pub struct TestSim {
    /// The bot token the tests use.
    pub token: String,
    /// The simulator itself.
    pub sim: Simulator,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Cancelling it stops the simulator.
    pub shutdown: CancellationToken,
}

impl TestSim {
    /// A simulator on a free loopback port, for [`TEST_TOKEN`].
    pub async fn start() -> Self {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// A simulator on `addr` (e.g. the port of one that was stopped), for [`TEST_TOKEN`].
    pub async fn start_on(addr: SocketAddr) -> Self {
        let sim = Simulator::new(Options::default());
        let shutdown = CancellationToken::new();
        let addr = sim.clone().spawn(addr, shutdown.clone()).await.unwrap();
        Self {
            token: TEST_TOKEN.to_owned(),
            sim,
            addr,
            shutdown,
        }
    }

    /// `http://<addr>`, for `TELEGRAM_API_URL`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// User `user` (first name Ada) sends `text` to the bot.
    pub fn says(&self, user: i64, text: &str) {
        self.sim.user_sends(&self.token, user, "Ada", text);
    }

    /// User `user` presses the button with `data` under message `message_id`.
    pub fn presses(&self, user: i64, message_id: i64, data: &str) {
        self.sim
            .user_presses(&self.token, user, message_id, data)
            .unwrap();
    }

    /// Waits (up to 15 s) for the bot to answer a button press with `text`.
    pub async fn wait_for_button_answer(&self, text: &str) -> Value {
        for _ in 0..300 {
            if let Some(a) = self
                .sim
                .callback_answers(&self.token)
                .into_iter()
                .find(|a| a["text"].as_str().is_some_and(|t| t.contains(text)))
            {
                return a;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "no button answer containing {text:?}; the answers: {:#?}",
            self.sim.callback_answers(&self.token)
        );
    }

    /// The bot's messages in `user`'s chat, oldest first.
    pub fn bot_messages(&self, user: i64) -> Vec<Value> {
        self.sim
            .chat(&self.token, user)
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
            self.sim.chat(&self.token, user)
        );
    }

    /// How many bot messages in `user`'s chat start with `text`.
    pub fn count_starting(&self, user: i64, text: &str) -> usize {
        self.bot_messages(user)
            .iter()
            .filter(|m| m["text"].as_str().is_some_and(|t| t.starts_with(text)))
            .count()
    }

    /// [`TestSim::wait_for_start`] for up to `seconds`.
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
            self.sim.chat(&self.token, user)
        );
    }

    /// The texts of the bot's messages in `chat`, oldest first.
    pub fn bot_texts(&self, chat: i64) -> Vec<String> {
        self.bot_messages(chat)
            .into_iter()
            .filter_map(|m| m["text"].as_str().map(str::to_owned))
            .collect()
    }

    /// Waits (up to `seconds`) for a bot message in `chat` starting with `prefix`; its text.
    pub async fn wait_for_text_within(&self, chat: i64, prefix: &str, seconds: u64) -> String {
        for _ in 0..seconds * 20 {
            if let Some(text) = self
                .bot_texts(chat)
                .into_iter()
                .find(|t| t.starts_with(prefix))
            {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "no message starting with {prefix:?} in chat {chat}: {:#?}",
            self.bot_texts(chat)
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
