//! What the simulator remembers per bot token (chats, pending updates, the webhook, injected
//! faults) and the user's side of a chat: sending, pressing buttons, blocking.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::wire::now_secs;
use crate::{Options, Simulator};

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) options: Options,
    pub(crate) state: Mutex<HashMap<String, BotState>>,
    /// Woken whenever an update is queued, for long polls and webhook deliveries.
    pub(crate) updates: Notify,
    pub(crate) http: reqwest::Client,
}

#[derive(Debug, Default)]
pub(crate) struct BotState {
    pub(crate) next_update_id: i64,
    pub(crate) pending: Vec<Value>,
    pub(crate) chats: HashMap<i64, Chat>,
    pub(crate) commands: Value,
    pub(crate) webhook: Option<Webhook>,
    pub(crate) callback_answers: Vec<Value>,
    pub(crate) faults: Vec<Fault>,
    /// `setChatMenuButton` without a chat.
    pub(crate) default_menu_button: Option<Value>,
    /// `setChatMenuButton` for one chat.
    pub(crate) menu_buttons: HashMap<i64, Value>,
}

#[derive(Debug, Default)]
pub(crate) struct Chat {
    pub(crate) next_message_id: i64,
    pub(crate) messages: Vec<Value>,
    /// Send times of the bot's recent messages, for the optional rate limit.
    pub(crate) recent_sends: Vec<f64>,
    /// The user blocked the bot: sending answers 403.
    pub(crate) blocked: bool,
    /// The next this many sends answer 429 with this `retry_after`.
    pub(crate) flood: Option<(u32, u64)>,
}

#[derive(Debug, Clone)]
pub(crate) struct Webhook {
    pub(crate) url: String,
    pub(crate) secret_token: Option<String>,
    pub(crate) last_error: Option<(i64, String)>,
}

/// Injected failures: the next `count` calls of `method` answer this instead.
#[derive(Debug, Clone, Deserialize)]
pub struct Fault {
    /// The Bot API method (case-insensitive); every method when absent.
    pub method: Option<String>,
    /// How many calls fail.
    pub count: u32,
    /// The HTTP status.
    pub status: u16,
    /// The error's description (default: the status's reason phrase).
    pub description: Option<String>,
    /// `parameters.retry_after`, as flood control sends it.
    pub retry_after: Option<u64>,
    /// A body that is not the Bot API's JSON (e.g. a proxy's HTML error page).
    pub raw_body: Option<String>,
}

impl Simulator {
    pub(crate) fn queue_update(&self, token: &str, mut update: Value) -> Value {
        let queued = {
            let mut bots = self.lock();
            let bot = bots.entry(token.to_owned()).or_default();
            bot.next_update_id += 1;
            update["update_id"] = json!(bot.next_update_id);
            bot.pending.push(update.clone());
            update
        };
        self.shared.updates.notify_waiters();
        queued
    }

    /// The user `user_id` sends `text` to the bot; returns the update.
    pub fn user_sends(&self, token: &str, user_id: i64, first_name: &str, text: &str) -> Value {
        let from = json!({"id": user_id, "is_bot": false, "first_name": first_name});
        let message = {
            let mut bots = self.lock();
            let chat = bots
                .entry(token.to_owned())
                .or_default()
                .chats
                .entry(user_id)
                .or_default();
            chat.next_message_id += 1;
            let mut message = json!({
                "message_id": chat.next_message_id,
                "from": from,
                "chat": {"id": user_id, "type": "private", "first_name": first_name},
                "date": now_secs(),
                "text": text,
            });
            if text.starts_with('/') {
                let length = text
                    .split_whitespace()
                    .next()
                    .map_or(0, |c| c.encode_utf16().count());
                message["entities"] =
                    json!([{"type": "bot_command", "offset": 0, "length": length}]);
            }
            chat.messages.push(message.clone());
            message
        };
        self.queue_update(token, json!({"message": message}))
    }

    /// The user presses the inline button carrying `data` under the bot's message `message_id`.
    pub fn user_presses(
        &self,
        token: &str,
        user_id: i64,
        message_id: i64,
        data: &str,
    ) -> Result<Value, String> {
        let message = {
            let bots = self.lock();
            bots.get(token)
                .and_then(|b| b.chats.get(&user_id))
                .and_then(|c| {
                    c.messages
                        .iter()
                        .find(|m| m["message_id"] == message_id && m["from"]["is_bot"] == true)
                })
                .cloned()
                .ok_or_else(|| format!("no bot message {message_id} in chat {user_id}"))?
        };
        let query_id = format!("{user_id}{message_id}{}", now_secs());
        Ok(self.queue_update(
            token,
            json!({"callback_query": {
                "id": query_id,
                "from": {"id": user_id, "is_bot": false, "first_name": message["chat"]["first_name"]},
                "message": message,
                "chat_instance": user_id.to_string(),
                "data": data,
            }}),
        ))
    }

    /// The user `user_id` blocks the bot (`true`: its messages to them get 403) or unblocks it.
    pub fn user_blocks(&self, token: &str, user_id: i64, blocked: bool) {
        self.lock()
            .entry(token.to_owned())
            .or_default()
            .chats
            .entry(user_id)
            .or_default()
            .blocked = blocked;
    }

    /// The next `count` messages to `chat_id` get 429 with `retry_after` seconds, as Telegram
    /// answers a bot that sends too fast.
    pub fn flood(&self, token: &str, chat_id: i64, count: u32, retry_after: u64) {
        self.lock()
            .entry(token.to_owned())
            .or_default()
            .chats
            .entry(chat_id)
            .or_default()
            .flood = (count > 0).then_some((count, retry_after));
    }

    /// Adds an injected failure (see [`Fault`]); one with `count` 0 clears those of its
    /// method (all, without one).
    pub fn inject(&self, token: &str, fault: Fault) {
        let mut bots = self.lock();
        let faults = &mut bots.entry(token.to_owned()).or_default().faults;
        if fault.count == 0 {
            faults.retain(|f| {
                fault.method.as_deref().is_some_and(|m| {
                    !f.method
                        .as_deref()
                        .is_some_and(|g| g.eq_ignore_ascii_case(m))
                })
            });
        } else {
            faults.push(fault);
        }
    }

    /// The injected failure this call of `method` gets, if any (using it up).
    pub(crate) fn take_fault(&self, token: &str, method: &str) -> Option<Fault> {
        let mut bots = self.lock();
        let faults = &mut bots.get_mut(token)?.faults;
        let index = faults.iter().position(|f| {
            f.count > 0
                && f.method
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(method))
        })?;
        faults[index].count -= 1;
        let fault = faults[index].clone();
        faults.retain(|f| f.count > 0);
        Some(fault)
    }

    /// Every message of a chat, both sides, oldest first.
    pub fn chat(&self, token: &str, chat_id: i64) -> Vec<Value> {
        self.lock()
            .get(token)
            .and_then(|b| b.chats.get(&chat_id))
            .map(|c| c.messages.clone())
            .unwrap_or_default()
    }

    /// Every `answerCallbackQuery` the bot sent, oldest first (`callback_query_id`, `text`,
    /// `show_alert`).
    pub fn callback_answers(&self, token: &str) -> Vec<Value> {
        self.lock()
            .get(token)
            .map(|b| b.callback_answers.clone())
            .unwrap_or_default()
    }
}
