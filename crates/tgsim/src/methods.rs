//! The Bot API methods MedSync uses, one function each, behind one dispatcher.

use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::Simulator;
use crate::state::Webhook;
use crate::wire::{ApiError, bot_id, int, now_f64, now_secs, reply_markup, required_int, text};

impl Simulator {
    fn me(&self, token: &str) -> Result<Value, ApiError> {
        let id = bot_id(token).ok_or(ApiError {
            code: 401,
            description: "Unauthorized".to_owned(),
            retry_after: None,
        })?;
        Ok(json!({
            "id": id, "is_bot": true, "first_name": "MedSync",
            "username": self.shared.options.bot_username,
            "can_join_groups": false, "can_read_all_group_messages": false, "supports_inline_queries": false,
            "can_connect_to_business": false, "has_main_web_app": false,
        }))
    }

    pub(crate) async fn call(
        &self,
        token: &str,
        method: &str,
        params: Map<String, Value>,
    ) -> Result<Value, ApiError> {
        let me = self.me(token)?;
        match method.to_ascii_lowercase().as_str() {
            "getme" => Ok(me),
            "getupdates" => self.get_updates(token, &params).await,
            "sendmessage" => self.send_message(token, &me, &params),
            "editmessagetext" | "editmessagereplymarkup" => {
                self.edit_message(token, method, &params)
            }
            "deletemessage" => self.delete_message(token, &params),
            "answercallbackquery" => self.answer_callback_query(token, &params),
            "setmycommands" => self.set_my_commands(token, &params),
            "getmycommands" => Ok(self.get_my_commands(token)),
            "setwebhook" => self.set_webhook(token, &params),
            "deletewebhook" => self.delete_webhook(token, &params),
            "getwebhookinfo" => self.get_webhook_info(token, &params),
            "setchatmenubutton" => self.set_chat_menu_button(token, &params),
            "getchatmenubutton" => Ok(self.menu_button(token, int(&params, "chat_id")?)),
            _ => Err(ApiError {
                code: 404,
                description: "Not Found: method not found".to_owned(),
                retry_after: None,
            }),
        }
    }

    async fn get_updates(
        &self,
        token: &str,
        params: &Map<String, Value>,
    ) -> Result<Value, ApiError> {
        let offset = int(params, "offset")?;
        let limit = int(params, "limit")?.unwrap_or(100).clamp(1, 100);
        let timeout = int(params, "timeout")?.unwrap_or(0).clamp(0, 50);
        let deadline =
            tokio::time::Instant::now() + Duration::from_secs(u64::try_from(timeout).unwrap_or(0));
        loop {
            let notified = self.shared.updates.notified();
            {
                let mut bots = self.lock();
                let bot = bots.entry(token.to_owned()).or_default();
                if bot.webhook.is_some() {
                    return Err(ApiError {
                        code: 409,
                        description: "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first".to_owned(),
                        retry_after: None,
                    });
                }
                if let Some(offset) = offset {
                    bot.pending
                        .retain(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
                }
                if !bot.pending.is_empty() {
                    let batch: Vec<Value> = bot
                        .pending
                        .iter()
                        .take(usize::try_from(limit).unwrap_or(100))
                        .cloned()
                        .collect();
                    return Ok(Value::Array(batch));
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Ok(json!([]));
            }
        }
    }

    fn send_message(
        &self,
        token: &str,
        me: &Value,
        params: &Map<String, Value>,
    ) -> Result<Value, ApiError> {
        let chat_id = required_int(params, "chat_id")?;
        let body = text(params, "text").unwrap_or_default();
        if body.trim().is_empty() {
            return Err(ApiError::bad_request("message text is empty"));
        }
        if body.chars().count() > 4096 {
            return Err(ApiError::bad_request("message is too long"));
        }
        let markup = reply_markup(params)?;
        let mut bots = self.lock();
        let chat = bots
            .entry(token.to_owned())
            .or_default()
            .chats
            .entry(chat_id)
            .or_default();
        if chat.blocked {
            return Err(ApiError {
                code: 403,
                description: "Forbidden: bot was blocked by the user".to_owned(),
                retry_after: None,
            });
        }
        if let Some((left, retry_after)) = chat.flood {
            chat.flood = (left > 1).then(|| (left - 1, retry_after));
            return Err(ApiError {
                code: 429,
                description: format!("Too Many Requests: retry after {retry_after}"),
                retry_after: Some(retry_after),
            });
        }
        if let Some(limit) = self.shared.options.per_chat_per_second {
            let now = now_f64();
            chat.recent_sends.retain(|t| now - t < 1.0);
            if chat.recent_sends.len() >= limit as usize {
                return Err(ApiError {
                    code: 429,
                    description: "Too Many Requests: retry after 1".to_owned(),
                    retry_after: Some(1),
                });
            }
            chat.recent_sends.push(now);
        }
        chat.next_message_id += 1;
        let first_name = chat
            .messages
            .iter()
            .find_map(|m| m["chat"]["first_name"].as_str())
            .unwrap_or("")
            .to_owned();
        let mut message = json!({
            "message_id": chat.next_message_id,
            "from": {"id": me["id"], "is_bot": true, "first_name": me["first_name"], "username": me["username"]},
            "chat": {"id": chat_id, "type": "private", "first_name": first_name},
            "date": now_secs(),
            "text": body,
        });
        if let Some(markup) = markup {
            message["reply_markup"] = markup;
        }
        if let Some(mode) = text(params, "parse_mode") {
            message["parse_mode"] = json!(mode);
        }
        chat.messages.push(message.clone());
        Ok(message)
    }

    fn edit_message(
        &self,
        token: &str,
        method: &str,
        params: &Map<String, Value>,
    ) -> Result<Value, ApiError> {
        let chat_id = required_int(params, "chat_id")?;
        let message_id = required_int(params, "message_id")?;
        let markup = reply_markup(params)?;
        let new_text = text(params, "text");
        if method.eq_ignore_ascii_case("editMessageText")
            && new_text.as_deref().is_none_or(|t| t.trim().is_empty())
        {
            return Err(ApiError::bad_request("message text is empty"));
        }
        let mut bots = self.lock();
        let message = bots
            .entry(token.to_owned())
            .or_default()
            .chats
            .entry(chat_id)
            .or_default()
            .messages
            .iter_mut()
            .find(|m| m["message_id"] == message_id && m["from"]["is_bot"] == true)
            .ok_or_else(|| ApiError::bad_request("message to edit not found"))?;
        if let Some(t) = new_text {
            message["text"] = json!(t);
        }
        match markup {
            Some(markup) => message["reply_markup"] = markup,
            None => {
                if let Some(object) = message.as_object_mut() {
                    object.remove("reply_markup");
                }
            }
        }
        message["edit_date"] = json!(now_secs());
        Ok(message.clone())
    }

    fn delete_message(&self, token: &str, params: &Map<String, Value>) -> Result<Value, ApiError> {
        let chat_id = required_int(params, "chat_id")?;
        let message_id = required_int(params, "message_id")?;
        let mut bots = self.lock();
        let messages = &mut bots
            .entry(token.to_owned())
            .or_default()
            .chats
            .entry(chat_id)
            .or_default()
            .messages;
        let before = messages.len();
        messages.retain(|m| !(m["message_id"] == message_id && m["from"]["is_bot"] == true));
        if messages.len() == before {
            return Err(ApiError::bad_request("message to delete not found"));
        }
        Ok(json!(true))
    }

    fn answer_callback_query(
        &self,
        token: &str,
        params: &Map<String, Value>,
    ) -> Result<Value, ApiError> {
        let id = text(params, "callback_query_id")
            .ok_or_else(|| ApiError::bad_request("callback_query_id is required"))?;
        let answer = json!({"callback_query_id": id, "text": params.get("text"), "show_alert": params.get("show_alert")});
        self.lock()
            .entry(token.to_owned())
            .or_default()
            .callback_answers
            .push(answer);
        Ok(json!(true))
    }

    fn set_my_commands(&self, token: &str, params: &Map<String, Value>) -> Result<Value, ApiError> {
        let commands = match params.get("commands") {
            Some(Value::String(s)) => serde_json::from_str(s)
                .map_err(|_| ApiError::bad_request("can't parse commands JSON"))?,
            Some(v @ Value::Array(_)) => v.clone(),
            _ => return Err(ApiError::bad_request("commands is required")),
        };
        self.lock().entry(token.to_owned()).or_default().commands = commands;
        Ok(json!(true))
    }

    fn get_webhook_info(
        &self,
        token: &str,
        _params: &Map<String, Value>,
    ) -> Result<Value, ApiError> {
        let bots = self.lock();
        let bot = bots.get(token);
        let pending = bot.map_or(0, |b| b.pending.len());
        let mut info =
            json!({"url": "", "has_custom_certificate": false, "pending_update_count": pending});
        if let Some(webhook) = bot.and_then(|b| b.webhook.as_ref()) {
            info["url"] = json!(webhook.url);
            info["max_connections"] = json!(40);
            if let Some((date, message)) = &webhook.last_error {
                info["last_error_date"] = json!(date);
                info["last_error_message"] = json!(message);
            }
        }
        Ok(info)
    }

    fn set_webhook(&self, token: &str, params: &Map<String, Value>) -> Result<Value, ApiError> {
        let url = text(params, "url").unwrap_or_default();
        let mut bots = self.lock();
        let bot = bots.entry(token.to_owned()).or_default();
        if url.is_empty() {
            bot.webhook = None;
        } else {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(ApiError::bad_request(
                    "bad webhook: an HTTP(S) URL must be provided",
                ));
            }
            bot.webhook = Some(Webhook {
                url,
                secret_token: text(params, "secret_token"),
                last_error: None,
            });
        }
        drop(bots);
        self.shared.updates.notify_waiters();
        Ok(json!(true))
    }

    fn delete_webhook(&self, token: &str, params: &Map<String, Value>) -> Result<Value, ApiError> {
        let drop_pending = matches!(params.get("drop_pending_updates"), Some(Value::Bool(true)))
            || text(params, "drop_pending_updates").as_deref() == Some("true");
        let mut bots = self.lock();
        let bot = bots.entry(token.to_owned()).or_default();
        bot.webhook = None;
        if drop_pending {
            bot.pending.clear();
        }
        Ok(json!(true))
    }

    fn get_my_commands(&self, token: &str) -> Value {
        self.lock().get(token).map_or(json!([]), |b| {
            if b.commands.is_null() {
                json!([])
            } else {
                b.commands.clone()
            }
        })
    }
}
