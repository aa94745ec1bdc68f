//! What the bot says: commands, the booking dialogue and the list of one's bookings.
//!
//! One update is handled at a time per chat (a Redis lock across replicas), from the state
//! in Redis, ending in the same domain functions the API calls. Errors a user can cause (a
//! stale button, a slot someone else just took, an expired link code) get an answer in the
//! chat and change nothing; errors of the infrastructure (PostgreSQL, Redis, Telegram
//! unreachable) are returned, so the update is taken again later rather than lost.
//!
//! | module | what it holds |
//! |---|---|
//! | [`button`] | the inline buttons and their callback data, encoded and parsed in one place |
//! | `commands` | `/start` (and linking), `/help`, `/doctors`, `/cancel`, free text |
//! | `booking`, `steps` | the booking dialogue: moving between steps, and what each step shows |
//! | `visits` | one's upcoming visits, and cancelling one |
//! | `replies` | sending, editing and answering in Telegram; the wording shared by all |

mod booking;
pub mod button;
mod commands;
mod replies;
mod steps;
mod visits;

use std::time::Duration;
use tracing::Instrument as _;

use medsync_domain::bookings::BookingRules;
use medsync_telegram::{TokenHealth, classify};
use sqlx::PgPool;
use teloxide::RequestError;
use teloxide::prelude::*;
use teloxide::types::{BotCommand, CallbackQuery, ChatId, MaybeInaccessibleMessage, UpdateKind};
use teloxide::types::{InlineKeyboardButton, MenuButton, WebAppInfo};

use crate::dialogue::Store;
use button::Button;

/// The commands, as `setMyCommands` registers them and `/help` lists them.
pub const COMMANDS: &[(&str, &str)] = &[
    ("book", "Book a visit"),
    ("my", "Your upcoming visits"),
    ("doctors", "Our doctors by specialty"),
    ("cancel", "Stop what we are doing"),
    ("help", "What I can do"),
    ("start", "Start over"),
];

/// How the bot converses.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The clinic's rules (time zone, reminders, cancellation notice).
    pub rules: BookingRules,
    /// Days ahead offered when booking.
    pub booking_days: u16,
    /// The web app's address (`WEBAPP_URL`): an "Open the app" button in `/start` and `/book`
    /// and the chat's menu button open it as a Mini App.
    pub web_app: Option<reqwest::Url>,
}

/// What the button that opens the web app says.
pub const OPEN_THE_APP: &str = "Open the app";

/// The bot's conversations.
#[derive(Debug, Clone)]
pub struct Conversation {
    bot: Bot,
    db: PgPool,
    store: Store,
    settings: Settings,
    token: TokenHealth,
}

/// A failure that is the user's to fix: said in the chat (and as the button's answer).
struct Refusal(String);

fn is_private(chat: &teloxide::types::Chat) -> bool {
    chat.is_private()
}

/// A Telegram error that retrying will not cure: the user blocked the bot or is gone, the
/// message to edit is gone or unchanged, or the request was refused as malformed. The others
/// (flood control, a refused token, network and server errors) are worth another try: the
/// update is handled again later (see [`medsync_telegram::classify`], shared with the worker).
fn is_final(error: &RequestError) -> bool {
    !classify(error).is_retryable()
}

impl Conversation {
    /// A conversation handler replying through `bot`.
    pub fn new(bot: Bot, db: PgPool, store: Store, settings: Settings) -> Self {
        Self {
            bot,
            db,
            store,
            settings,
            token: TokenHealth::default(),
        }
    }

    /// Whether Telegram accepted the bot token on the last answer (for `/readyz`).
    pub fn token_health(&self) -> TokenHealth {
        self.token.clone()
    }

    /// Registers the commands with Telegram (shown in the chat's menu) and, when the web app
    /// is configured, makes the chat's menu button open it.
    pub async fn register_commands(&self) -> Result<(), RequestError> {
        let commands = COMMANDS
            .iter()
            .map(|(c, d)| BotCommand::new(*c, *d))
            .collect::<Vec<_>>();
        self.bot.set_my_commands(commands).await?;
        if let Some(url) = &self.settings.web_app {
            let button = MenuButton::WebApp {
                text: OPEN_THE_APP.to_owned(),
                web_app: WebAppInfo { url: url.clone() },
            };
            self.bot.set_chat_menu_button().menu_button(button).await?;
        }
        Ok(())
    }

    /// The keyboard row with the "Open the app" button, when the web app is configured.
    fn app_row(&self) -> Option<Vec<InlineKeyboardButton>> {
        self.settings.web_app.as_ref().map(|url| {
            vec![InlineKeyboardButton::web_app(
                OPEN_THE_APP,
                WebAppInfo { url: url.clone() },
            )]
        })
    }

    /// Handles one update given as Bot API JSON (an entry of the webhook's stream). JSON that
    /// is not an update is dropped with a warning: retrying would not make it one.
    pub async fn handle_json(&self, raw: &str) -> anyhow::Result<()> {
        match serde_json::from_str::<Update>(raw) {
            Ok(update) => self.handle(update).await,
            Err(error) => {
                tracing::warn!(%error, "dropping a stream entry that is not a Telegram update");
                Ok(())
            }
        }
    }

    /// Handles one update, once: an update handled before is skipped. Its log lines carry the
    /// request id it came with (the webhook's), or `tg-<update_id>` when polling; so do the
    /// jobs it enqueues.
    pub async fn handle(&self, update: Update) -> anyhow::Result<()> {
        let update_id = update.id.0;
        let request_id =
            medsync_domain::correlation::current().unwrap_or_else(|| format!("tg-{update_id}"));
        let span = tracing::info_span!("update", request_id = %request_id, update_id);
        // Boxed: the dialogue's future is large, and nesting it in two more wrappers on the
        // stack overflows a test thread's in a debug build.
        medsync_domain::correlation::scope(request_id, Box::pin(self.handle_once(update)))
            .instrument(span)
            .await
    }

    async fn handle_once(&self, update: Update) -> anyhow::Result<()> {
        let update_id = update.id.0;
        let Some(chat) = update.chat().filter(|c| is_private(c)).map(|c| c.id) else {
            tracing::debug!(update_id, "not a private chat's message or button; ignored");
            return Ok(());
        };
        if self.store.was_handled(update_id).await? {
            tracing::info!(update_id, "update handled before; skipped");
            return Ok(());
        }
        let lock = self.store.lock(chat.0).await?;
        let handled = self.dispatch(chat, update).await;
        let released = lock.release().await;
        handled?;
        released?;
        self.store.mark_handled(update_id).await?;
        metrics::counter!("medsync_bot_updates_total", "outcome" => "handled").increment(1);
        tracing::info!("update handled");
        Ok(())
    }

    async fn dispatch(&self, chat: ChatId, update: Update) -> anyhow::Result<()> {
        match update.kind {
            UpdateKind::Message(message) => {
                let (Some(from), Some(text)) = (message.from.as_ref(), message.text()) else {
                    return self
                        .say(chat, "I understand text and buttons only. Try /help.")
                        .await;
                };
                self.on_text(chat, from, text.trim()).await
            }
            UpdateKind::CallbackQuery(query) => self.on_button(chat, query).await,
            _ => Ok(()),
        }
    }

    async fn on_button(&self, chat: ChatId, query: CallbackQuery) -> anyhow::Result<()> {
        let at = query.message.as_ref().map(MaybeInaccessibleMessage::id);
        let button = query.data.as_deref().and_then(Button::parse);
        let outcome = match button {
            // Link answers come before any account is made for this Telegram user.
            Some(Button::Link(code)) => self.link_answer(chat, at, &query.from, &code, true).await,
            Some(Button::DontLink(code)) => {
                self.link_answer(chat, at, &query.from, &code, false).await
            }
            other => {
                let user = self.account(&query.from).await?;
                match other {
                    Some(Button::AskCancel(id)) => {
                        self.ask_cancel_booking(chat, at, &user, id).await
                    }
                    Some(Button::CancelYes(id)) => self.cancel_booking(chat, at, &user, id).await,
                    Some(Button::MyVisits) => {
                        self.my_bookings(chat, &user, at).await.map(|()| Ok(None))
                    }
                    other => self.dialogue_button(chat, at, &user, other).await,
                }
            }
        };
        match outcome? {
            Ok(note) => self.answer(&query, note.as_deref()).await,
            Err(Refusal(text)) => self.answer(&query, Some(&text)).await,
        }
    }
}

/// How long to wait before handling an update again after the `attempt`-th failure.
pub fn retry_delay(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.min(5))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_longer_each_time_up_to_half_a_minute() {
        let waits: Vec<u64> = (0..8).map(|n| retry_delay(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 32, 32]);
    }

    #[test]
    fn the_help_lists_every_command_the_menu_has_with_its_description() {
        let help = replies::help_text();
        let lines: Vec<&str> = help.lines().collect();
        assert_eq!(lines[0], "What I can do:");
        assert_eq!(lines.len(), COMMANDS.len() + 1);
        for (command, what) in COMMANDS {
            assert!(
                lines.contains(&format!("/{command} — {what}").as_str()),
                "{help}"
            );
        }
    }
}
