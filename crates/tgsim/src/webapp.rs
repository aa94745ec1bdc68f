//! Mini Apps: the chat's menu button (`setChatMenuButton`), `initData` signed with the bot's
//! token exactly as Telegram signs it, and a `telegram-web-app.js` whose `window.Telegram.WebApp`
//! behaves like Telegram's for what a Mini App uses (initData, theme, ready, expand, close, the
//! Main and Back buttons, events; haptics do nothing). The chat page opens a `web_app` button's
//! URL in a panel with that `initData`, and shows the app's Main and Back buttons under and
//! above it, as Telegram's apps do.
//!
//! This signing is written apart from the web app's verification on purpose: tests that pass
//! one through the other check both against Telegram's documented algorithm.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde_json::{Map, Value, json};
use sha2::Sha256;

use crate::Simulator;
use crate::wire::{ApiError, now_secs};

type HmacSha256 = Hmac<Sha256>;

/// `initData` for `user_id` (named `first_name`) of the bot with `token`, dated `auth_date`
/// (Unix seconds), as Telegram builds it: the fields, each once, URL-encoded, and `hash`, the
/// hex HMAC-SHA-256 of the sorted `key=value` lines under HMAC-SHA-256("WebAppData", token).
pub fn sign_init_data(token: &str, user_id: i64, first_name: &str, auth_date: i64) -> String {
    let user = json!({
        "id": user_id,
        "first_name": first_name,
        "language_code": "en",
        "allows_write_to_pm": true,
    })
    .to_string();
    let mut fields = vec![
        ("auth_date".to_owned(), auth_date.to_string()),
        ("chat_instance".to_owned(), format!("-{user_id}000")),
        ("chat_type".to_owned(), "sender".to_owned()),
        ("query_id".to_owned(), format!("AAH{user_id}{auth_date}")),
        ("user".to_owned(), user),
    ];
    fields.sort();
    let check: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let hash = hmac_hex(
        &hmac(b"WebAppData", token.as_bytes()),
        check.join("\n").as_bytes(),
    );
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (key, value) in &fields {
        query.append_pair(key, value);
    }
    query.append_pair("hash", &hash);
    query.finish()
}

fn hmac(key: &[u8], message: &[u8]) -> Vec<u8> {
    // HMAC takes a key of any length.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

fn hmac_hex(key: &[u8], message: &[u8]) -> String {
    hmac(key, message)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Simulator {
    /// `initData` signed now for `user_id` of the bot with `token`.
    pub fn web_app_init_data(&self, token: &str, user_id: i64, first_name: &str) -> String {
        sign_init_data(token, user_id, first_name, now_secs())
    }

    /// The menu button of `chat_id`: its own, else the bot's default, else `commands`.
    pub fn menu_button(&self, token: &str, chat_id: Option<i64>) -> Value {
        let bots = self.lock();
        let bot = bots.get(token);
        chat_id
            .and_then(|id| bot.and_then(|b| b.menu_buttons.get(&id)))
            .or_else(|| bot.and_then(|b| b.default_menu_button.as_ref()))
            .cloned()
            .unwrap_or_else(|| json!({"type": "commands"}))
    }

    pub(crate) fn set_chat_menu_button(
        &self,
        token: &str,
        params: &Map<String, Value>,
    ) -> Result<Value, ApiError> {
        let button = match params.get("menu_button") {
            None | Some(Value::Null) => json!({"type": "default"}),
            Some(Value::String(s)) => serde_json::from_str(s)
                .map_err(|_| ApiError::bad_request("can't parse menu button JSON object"))?,
            Some(v) => v.clone(),
        };
        match button["type"].as_str() {
            Some("commands" | "default") => {}
            Some("web_app")
                if button["text"].is_string() && button["web_app"]["url"].is_string() => {}
            _ => return Err(ApiError::bad_request("unsupported menu button")),
        }
        let chat = match params.get("chat_id") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_i64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                    .ok_or_else(|| ApiError::bad_request("chat_id must be an integer"))?,
            ),
        };
        let mut bots = self.lock();
        let bot = bots.entry(token.to_owned()).or_default();
        let stored = (button["type"] != "default").then_some(button);
        match (chat, stored) {
            (Some(id), Some(b)) => drop(bot.menu_buttons.insert(id, b)),
            (Some(id), None) => drop(bot.menu_buttons.remove(&id)),
            (None, b) => bot.default_menu_button = b,
        }
        Ok(json!(true))
    }
}

/// `/telegram-web-app.js`: the Mini App API for pages opened by the chat page.
pub(crate) async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../assets/telegram-web-app.js"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_data_carries_the_user_and_a_hash_over_the_sorted_fields() {
        let signed = sign_init_data("123:abc", 1001, "Ada", 1_700_000_000);
        let pairs: Vec<(String, String)> = form_urlencoded::parse(signed.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "auth_date",
                "chat_instance",
                "chat_type",
                "query_id",
                "user",
                "hash"
            ]
        );
        assert!(pairs[4].1.contains("\"first_name\":\"Ada\""));
        assert_eq!(pairs[5].1.len(), 64);
        // Another token, another hash.
        assert_ne!(
            signed,
            sign_init_data("123:abd", 1001, "Ada", 1_700_000_000)
        );
    }
}
