//! Sending, editing and answering in Telegram (a refusal for good is logged, not retried), and
//! the wording every reply shares.

use anyhow::Context as _;
use teloxide::ApiError;
use teloxide::RequestError;
use teloxide::prelude::*;
use teloxide::types::{CallbackQuery, ChatId, InlineKeyboardMarkup, MessageId};

use super::{COMMANDS, Conversation, is_final};

impl Conversation {
    /// Sends a message; `None` when Telegram refused it for good (e.g. the user blocked the
    /// bot), which is logged and not retried.
    pub(super) async fn send(
        &self,
        chat: ChatId,
        text: &str,
        keyboard: Option<InlineKeyboardMarkup>,
    ) -> anyhow::Result<Option<MessageId>> {
        let mut request = self.bot.send_message(chat, text);
        if let Some(keyboard) = keyboard {
            request = request.reply_markup(keyboard);
        }
        let answer = request.await;
        self.token.observe(&answer);
        match answer {
            Ok(message) => Ok(Some(message.id)),
            Err(error) if is_final(&error) => {
                tracing::warn!(chat = chat.0, %error, "Telegram refused the message");
                Ok(None)
            }
            Err(error) => Err(error).context("sending a message"),
        }
    }

    pub(super) async fn say(&self, chat: ChatId, text: &str) -> anyhow::Result<()> {
        self.send(chat, text, None).await.map(|_| ())
    }

    /// Shows `text` in the message `at` (edited in place) or, without one or when it can no
    /// longer be edited, in a new message. Returns the message showing it.
    pub(super) async fn show(
        &self,
        chat: ChatId,
        at: Option<MessageId>,
        text: &str,
        keyboard: Option<InlineKeyboardMarkup>,
    ) -> anyhow::Result<Option<MessageId>> {
        if let Some(id) = at {
            let mut request = self.bot.edit_message_text(chat, id, text);
            if let Some(keyboard) = keyboard.clone() {
                request = request.reply_markup(keyboard);
            }
            let answer = request.await;
            self.token.observe(&answer);
            match answer {
                Ok(_) | Err(RequestError::Api(ApiError::MessageNotModified)) => {
                    return Ok(Some(id));
                }
                Err(error) if is_final(&error) => {
                    tracing::debug!(%error, "message not editable; sending a new one");
                }
                Err(error) => return Err(error).context("editing a message"),
            }
        }
        self.send(chat, text, keyboard).await
    }

    pub(super) async fn answer(
        &self,
        query: &CallbackQuery,
        text: Option<&str>,
    ) -> anyhow::Result<()> {
        let mut request = self.bot.answer_callback_query(query.id.clone());
        if let Some(text) = text {
            request = request.text(text);
        }
        let answer = request.await;
        self.token.observe(&answer);
        match answer {
            Ok(_) => Ok(()),
            // Too old to answer, or already answered: the user sees nothing either way.
            Err(error) if is_final(&error) => Ok(()),
            Err(error) => Err(error).context("answering a button"),
        }
    }
}

pub(super) fn help_text() -> String {
    let mut text = String::from("What I can do:");
    for (command, what) in COMMANDS {
        text.push_str(&format!("\n/{command} — {what}"));
    }
    text
}
