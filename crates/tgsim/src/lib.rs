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
//! | `POST /sim/bots/{token}/users/{user_id}/webapp` `{"first_name"?}` | the user opens a Mini App: `{"init_data"}` signed now with the token, as Telegram signs it |
//! | `GET /sim/bots/{token}/chats/{chat_id}/menu` | the chat's menu button (`setChatMenuButton`) |
//!
//! The chat page (`/`) renders `web_app` buttons and a `web_app` menu button; pressing one
//! opens the app in a panel, with `initData` and a `/telegram-web-app.js` that behaves like
//! Telegram's (see the `webapp` module).
//!
//! Updates wait for `getUpdates` (with long polling), or, once `setWebhook` was called, are
//! POSTed to the webhook with `X-Telegram-Bot-Api-Secret-Token` and redelivered until it
//! answers 2xx, as Telegram does.

mod config;
mod control;
pub mod harness;
mod methods;
mod page;
mod state;
mod webapp;
mod webhook;
mod wire;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use config::{Config, SPEC};
pub use state::Fault;
use state::{BotState, Shared};
pub use webapp::sign_init_data;

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
        control::router(self.clone())
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
}
