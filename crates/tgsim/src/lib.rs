//! tgsim: a local Telegram Bot API server.
//!
//! It speaks the Bot API's wire format at `/bot<token>/<method>` (JSON, form or query
//! parameters; `{"ok":true,"result":…}` or `{"ok":false,"error_code":…,"description":…}`)
//! for the methods MedSync uses, and keeps every chat in memory. A control API under `/sim/`
//! lets tests (and the chat page) act as a Telegram user and read what the bot sent:
//!
//! | control route | what it does |
//! |---|---|
//! | `POST /sim/bots/{token}/users/{user_id}/messages` `{"text", "first_name"?}` | the user sends a message to the bot |
//! | `POST /sim/bots/{token}/users/{user_id}/callbacks` `{"message_id", "data"}` | the user presses an inline button |
//! | `GET /sim/bots/{token}/chats/{chat_id}/messages` | the chat, both sides, oldest first |
//! | `POST /sim/bots/{token}/users/{user_id}/block` `{"blocked"}` | the user blocks (or unblocks) the bot: sends to them get 403 |
//! | `POST /sim/bots/{token}/chats/{chat_id}/flood` `{"count", "retry_after"}` | the next `count` sends to the chat get 429 with `retry_after` |
//! | `POST /sim/bots/{token}/faults` `{"method"?, "count", "status", "description"?, "retry_after"?, "raw_body"?}` | the next `count` calls of `method` (any, when absent) fail: `status` with the Bot API's error JSON, or `raw_body` as it is (a proxy's HTML page); `count` 0 clears them |
//!
//! Updates wait for `getUpdates` (with long polling), or, once `setWebhook` was called, are
//! POSTed to the webhook with `X-Telegram-Bot-Api-Secret-Token` and redelivered until it
//! answers 2xx, as Telegram does.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How the simulator behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// The bots' `username` in `getMe` (the same for every token).
    pub bot_username: String,
    /// Answer `sendMessage` with 429 when a chat gets more than this many messages per second.
    pub per_chat_per_second: Option<u32>,
    /// The bot token the chat page starts with.
    pub default_token: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            bot_username: "medsync_bot".to_owned(),
            per_chat_per_second: None,
            default_token: None,
        }
    }
}

/// The simulator: cheap to clone; every clone shares the same chats.
#[derive(Clone, Debug)]
pub struct Simulator {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    options: Options,
    state: Mutex<HashMap<String, BotState>>,
    /// Woken whenever an update is queued, for long polls and webhook deliveries.
    updates: Notify,
    http: reqwest::Client,
}

#[derive(Debug, Default)]
struct BotState {
    next_update_id: i64,
    pending: Vec<Value>,
    chats: HashMap<i64, Chat>,
    commands: Value,
    webhook: Option<Webhook>,
    callback_answers: Vec<Value>,
    faults: Vec<Fault>,
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

#[derive(Debug, Default)]
struct Chat {
    next_message_id: i64,
    messages: Vec<Value>,
    /// Send times of the bot's recent messages, for the optional rate limit.
    recent_sends: Vec<f64>,
    /// The user blocked the bot: sending answers 403.
    blocked: bool,
    /// The next this many sends answer 429 with this `retry_after`.
    flood: Option<(u32, u64)>,
}

#[derive(Debug, Clone)]
struct Webhook {
    url: String,
    secret_token: Option<String>,
    last_error: Option<(i64, String)>,
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

fn now_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A Bot API error answer.
#[derive(Debug)]
struct ApiError {
    code: u16,
    description: String,
    retry_after: Option<u64>,
}

impl ApiError {
    fn bad_request(what: impl Into<String>) -> Self {
        Self {
            code: 400,
            description: format!("Bad Request: {}", what.into()),
            retry_after: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body =
            json!({"ok": false, "error_code": self.code, "description": self.description});
        if let Some(retry_after) = self.retry_after {
            body["parameters"] = json!({"retry_after": retry_after});
        }
        let status = StatusCode::from_u16(self.code).unwrap_or(StatusCode::BAD_REQUEST);
        (status, axum::Json(body)).into_response()
    }
}

fn ok(result: Value) -> Response {
    axum::Json(json!({"ok": true, "result": result})).into_response()
}

/// The id Telegram gives a bot: the digits before the token's colon.
fn bot_id(token: &str) -> Option<i64> {
    let (id, secret) = token.split_once(':')?;
    if secret.is_empty() {
        return None;
    }
    id.parse().ok()
}

/// A parameter as an integer, whether it came as a JSON number or a string (forms).
fn int(params: &Map<String, Value>, name: &str) -> Result<Option<i64>, ApiError> {
    match params.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| ApiError::bad_request(format!("{name} must be an integer"))),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| ApiError::bad_request(format!("{name} must be an integer"))),
        Some(_) => Err(ApiError::bad_request(format!("{name} must be an integer"))),
    }
}

fn required_int(params: &Map<String, Value>, name: &str) -> Result<i64, ApiError> {
    int(params, name)?.ok_or_else(|| ApiError::bad_request(format!("{name} is required")))
}

fn text(params: &Map<String, Value>, name: &str) -> Option<String> {
    match params.get(name) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

/// `reply_markup` as JSON (forms send it as a JSON string).
fn reply_markup(params: &Map<String, Value>) -> Result<Option<Value>, ApiError> {
    match params.get("reply_markup") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => serde_json::from_str(s)
            .map(Some)
            .map_err(|_| ApiError::bad_request("can't parse reply keyboard markup JSON object")),
        Some(v @ Value::Object(_)) => Ok(Some(v.clone())),
        Some(_) => Err(ApiError::bad_request(
            "can't parse reply keyboard markup JSON object",
        )),
    }
}

/// Parameters from the query string and a JSON or form body, as Telegram accepts them.
async fn parameters(
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Map<String, Value>, ApiError> {
    let mut params: Map<String, Value> = query
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    if body.is_empty() {
        return Ok(params);
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if content_type.starts_with("application/x-www-form-urlencoded") {
        for (k, v) in form_urlencoded::parse(body) {
            params.insert(k.into_owned(), Value::String(v.into_owned()));
        }
    } else if content_type.starts_with("multipart/form-data") {
        let malformed = |_| ApiError::bad_request("malformed multipart body");
        let boundary = multer::parse_boundary(content_type).map_err(malformed)?;
        let mut multipart = multer::Multipart::with_reader(body.as_ref(), boundary);
        while let Some(field) = multipart.next_field().await.map_err(malformed)? {
            let Some(name) = field.name().map(str::to_owned) else {
                continue;
            };
            // Files (a webhook certificate) are accepted and ignored.
            if field.file_name().is_some() {
                continue;
            }
            let value = field.text().await.map_err(malformed)?;
            params.insert(name, Value::String(value));
        }
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => params.extend(map),
            _ => {
                return Err(ApiError::bad_request(
                    "the request body must be a JSON object",
                ));
            }
        }
    }
    Ok(params)
}

impl Simulator {
    /// A simulator with no chats yet.
    pub fn new(options: Options) -> Self {
        Self {
            shared: Arc::new(Shared {
                options,
                state: Mutex::new(HashMap::new()),
                updates: Notify::new(),
                http: reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .unwrap_or_default(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, BotState>> {
        // A poisoned lock only means a handler panicked mid-update; the maps stay usable.
        self.shared
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The Bot API and the control API.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/", get(chat_page))
            .route("/chat.js", get(chat_script))
            .route("/healthz", get(|| async { "ok" }))
            .route("/{bot}/{method}", get(bot_api).post(bot_api))
            .route(
                "/sim/bots/{token}/users/{user_id}/messages",
                post(user_sends),
            )
            .route(
                "/sim/bots/{token}/users/{user_id}/callbacks",
                post(user_presses),
            )
            .route("/sim/bots/{token}/chats/{chat_id}/messages", get(chat_log))
            .route("/sim/bots/{token}/users/{user_id}/block", post(user_blocks))
            .route("/sim/bots/{token}/chats/{chat_id}/flood", post(flood))
            .route("/sim/bots/{token}/faults", post(faults))
            .with_state(self.clone())
    }

    /// Serves on `listener` until `shutdown`, delivering webhook updates meanwhile.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> std::io::Result<()> {
        let deliveries = tokio::spawn(self.clone().deliver_webhooks(shutdown.clone()));
        let served = axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        deliveries.abort();
        served
    }

    /// Binds `addr` and serves in the background; returns the bound address.
    pub async fn spawn(
        self,
        addr: SocketAddr,
        shutdown: CancellationToken,
    ) -> std::io::Result<SocketAddr> {
        let listener = TcpListener::bind(addr).await?;
        let bound = listener.local_addr()?;
        tokio::spawn(self.serve(listener, shutdown));
        Ok(bound)
    }

    fn queue_update(&self, token: &str, mut update: Value) -> Value {
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
    fn take_fault(&self, token: &str, method: &str) -> Option<Fault> {
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

    async fn call(
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
            "deletemessage" => {
                let chat_id = required_int(&params, "chat_id")?;
                let message_id = required_int(&params, "message_id")?;
                let mut bots = self.lock();
                let messages = &mut bots
                    .entry(token.to_owned())
                    .or_default()
                    .chats
                    .entry(chat_id)
                    .or_default()
                    .messages;
                let before = messages.len();
                messages
                    .retain(|m| !(m["message_id"] == message_id && m["from"]["is_bot"] == true));
                if messages.len() == before {
                    return Err(ApiError::bad_request("message to delete not found"));
                }
                Ok(json!(true))
            }
            "answercallbackquery" => {
                let id = text(&params, "callback_query_id")
                    .ok_or_else(|| ApiError::bad_request("callback_query_id is required"))?;
                let answer = json!({"callback_query_id": id, "text": params.get("text"), "show_alert": params.get("show_alert")});
                self.lock()
                    .entry(token.to_owned())
                    .or_default()
                    .callback_answers
                    .push(answer);
                Ok(json!(true))
            }
            "setmycommands" => {
                let commands = match params.get("commands") {
                    Some(Value::String(s)) => serde_json::from_str(s)
                        .map_err(|_| ApiError::bad_request("can't parse commands JSON"))?,
                    Some(v @ Value::Array(_)) => v.clone(),
                    _ => return Err(ApiError::bad_request("commands is required")),
                };
                self.lock().entry(token.to_owned()).or_default().commands = commands;
                Ok(json!(true))
            }
            "getmycommands" => Ok(self.lock().get(token).map_or(json!([]), |b| {
                if b.commands.is_null() {
                    json!([])
                } else {
                    b.commands.clone()
                }
            })),
            "setwebhook" => {
                let url = text(&params, "url").unwrap_or_default();
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
                        secret_token: text(&params, "secret_token"),
                        last_error: None,
                    });
                }
                drop(bots);
                self.shared.updates.notify_waiters();
                Ok(json!(true))
            }
            "deletewebhook" => {
                let drop_pending =
                    matches!(params.get("drop_pending_updates"), Some(Value::Bool(true)))
                        || text(&params, "drop_pending_updates").as_deref() == Some("true");
                let mut bots = self.lock();
                let bot = bots.entry(token.to_owned()).or_default();
                bot.webhook = None;
                if drop_pending {
                    bot.pending.clear();
                }
                Ok(json!(true))
            }
            "getwebhookinfo" => {
                let bots = self.lock();
                let bot = bots.get(token);
                let pending = bot.map_or(0, |b| b.pending.len());
                let mut info = json!({"url": "", "has_custom_certificate": false, "pending_update_count": pending});
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

    /// Posts pending updates to the bots' webhooks, oldest first, until each answers 2xx;
    /// a failed delivery is retried with a growing pause (1 s up to 30 s), as Telegram does.
    async fn deliver_webhooks(self, shutdown: CancellationToken) {
        let mut backoff: HashMap<String, (tokio::time::Instant, Duration)> = HashMap::new();
        loop {
            let notified = self.shared.updates.notified();
            let now = tokio::time::Instant::now();
            let due: Vec<(String, Webhook, Value)> = {
                let bots = self.lock();
                bots.iter()
                    .filter_map(|(token, bot)| {
                        let webhook = bot.webhook.clone()?;
                        let update = bot.pending.first()?.clone();
                        let ready = backoff.get(token).is_none_or(|(at, _)| *at <= now);
                        ready.then(|| (token.clone(), webhook, update))
                    })
                    .collect()
            };
            for (token, webhook, update) in due {
                let mut request = self.shared.http.post(&webhook.url).json(&update);
                if let Some(secret) = &webhook.secret_token {
                    request = request.header("X-Telegram-Bot-Api-Secret-Token", secret);
                }
                let outcome = match request.send().await {
                    Ok(r) if r.status().is_success() => Ok(()),
                    Ok(r) => Err(format!("Wrong response from the webhook: {}", r.status())),
                    Err(e) => Err(format!("Connection failed: {e}")),
                };
                let mut bots = self.lock();
                let Some(bot) = bots.get_mut(&token) else {
                    continue;
                };
                match outcome {
                    Ok(()) => {
                        bot.pending
                            .retain(|u| u["update_id"] != update["update_id"]);
                        backoff.remove(&token);
                    }
                    Err(message) => {
                        if let Some(webhook) = bot.webhook.as_mut() {
                            webhook.last_error = Some((now_secs(), message));
                        }
                        let pause = backoff
                            .get(&token)
                            .map_or(Duration::from_secs(1), |(_, p)| {
                                (*p * 2).min(Duration::from_secs(30))
                            });
                        backoff.insert(token.clone(), (tokio::time::Instant::now() + pause, pause));
                    }
                }
            }
            let has_more = {
                let bots = self.lock();
                bots.values()
                    .any(|b| b.webhook.is_some() && !b.pending.is_empty())
            };
            let wait = if has_more {
                Duration::from_millis(200)
            } else {
                Duration::from_secs(3600)
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = notified => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
}

async fn bot_api(
    State(sim): State<Simulator>,
    Path((bot, method)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(token) = bot.strip_prefix("bot") else {
        return ApiError {
            code: 404,
            description: "Not Found".to_owned(),
            retry_after: None,
        }
        .into_response();
    };
    if let Some(fault) = sim.take_fault(token, &method) {
        let status = StatusCode::from_u16(fault.status).unwrap_or(StatusCode::BAD_GATEWAY);
        if let Some(raw) = fault.raw_body {
            return (status, [(header::CONTENT_TYPE, "text/html")], raw).into_response();
        }
        return ApiError {
            code: status.as_u16(),
            description: fault.description.unwrap_or_else(|| {
                status
                    .canonical_reason()
                    .unwrap_or("Internal Server Error")
                    .to_owned()
            }),
            retry_after: fault.retry_after,
        }
        .into_response();
    }
    let params = match parameters(&query, &headers, &body).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    match sim.call(token, &method, params).await {
        Ok(result) => ok(result),
        Err(e) => e.into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct UserMessage {
    text: String,
    first_name: Option<String>,
}

async fn user_sends(
    State(sim): State<Simulator>,
    Path((token, user_id)): Path<(String, i64)>,
    axum::Json(message): axum::Json<UserMessage>,
) -> Response {
    let name = message.first_name.as_deref().unwrap_or("Test user");
    ok(sim.user_sends(&token, user_id, name, &message.text))
}

#[derive(Debug, Deserialize)]
struct ButtonPress {
    message_id: i64,
    data: String,
}

async fn user_presses(
    State(sim): State<Simulator>,
    Path((token, user_id)): Path<(String, i64)>,
    axum::Json(press): axum::Json<ButtonPress>,
) -> Response {
    match sim.user_presses(&token, user_id, press.message_id, &press.data) {
        Ok(update) => ok(update),
        Err(why) => ApiError::bad_request(why).into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct Block {
    blocked: bool,
}

async fn user_blocks(
    State(sim): State<Simulator>,
    Path((token, user_id)): Path<(String, i64)>,
    axum::Json(block): axum::Json<Block>,
) -> Response {
    sim.user_blocks(&token, user_id, block.blocked);
    ok(json!(true))
}

#[derive(Debug, Deserialize)]
struct Flood {
    count: u32,
    retry_after: u64,
}

async fn flood(
    State(sim): State<Simulator>,
    Path((token, chat_id)): Path<(String, i64)>,
    axum::Json(flood): axum::Json<Flood>,
) -> Response {
    sim.flood(&token, chat_id, flood.count, flood.retry_after);
    ok(json!(true))
}

async fn faults(
    State(sim): State<Simulator>,
    Path(token): Path<String>,
    axum::Json(fault): axum::Json<Fault>,
) -> Response {
    sim.inject(&token, fault);
    ok(json!(true))
}

async fn chat_log(
    State(sim): State<Simulator>,
    Path((token, chat_id)): Path<(String, i64)>,
) -> Response {
    ok(Value::Array(sim.chat(&token, chat_id)))
}

/// The chat page: pick a user, talk to the bot, press its inline buttons.
async fn chat_page(State(sim): State<Simulator>) -> Response {
    let token = sim
        .shared
        .options
        .default_token
        .as_deref()
        .unwrap_or_default();
    let escaped = token
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let page = include_str!("../assets/chat.html")
        .replace("<body>", &format!("<body data-token=\"{escaped}\">"));
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
}

async fn chat_script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../assets/chat.js"),
    )
        .into_response()
}
