//! The commands: `/start` (with a link code: linking this Telegram account), `/help`,
//! `/doctors`, `/book`, `/my`, `/cancel`, and free text.

use anyhow::Context as _;
use jiff::Timestamp;
use medsync_domain::catalog;
use medsync_domain::telegram_links::{self, RedeemError};
use medsync_domain::users::{self, User};
use teloxide::types::{ChatId, InlineKeyboardMarkup, MessageId};

use super::button::Button;
use super::replies::help_text;
use super::{Conversation, Refusal};

const LINK_INVALID: &str =
    "This link has expired or was already used. Please get a new one in the app.";
const LINKED_ELSEWHERE: &str = "This Telegram account is already linked to another MedSync account. Please contact the clinic.";

impl Conversation {
    /// The account of the Telegram user: the linked one, or a new patient.
    pub(super) async fn account(&self, from: &teloxide::types::User) -> anyhow::Result<User> {
        let telegram_id = i64::try_from(from.id.0).context("Telegram user id out of range")?;
        let full = match &from.last_name {
            Some(last) => format!("{} {last}", from.first_name),
            None => from.first_name.clone(),
        };
        let name =
            users::parse_name(&full).unwrap_or_else(|_| format!("Telegram user {telegram_id}"));
        let mut conn = self.db.acquire().await?;
        Ok(users::telegram_patient(&mut conn, telegram_id, &name).await?)
    }

    pub(super) async fn on_text(
        &self,
        chat: ChatId,
        from: &teloxide::types::User,
        text: &str,
    ) -> anyhow::Result<()> {
        let (head, argument) = text
            .split_once(char::is_whitespace)
            .map_or((text, ""), |(h, a)| (h, a.trim()));
        // "/book@medsync_bot" in menus and groups means "/book".
        let command = head
            .strip_prefix('/')
            .map(|c| c.split('@').next().unwrap_or(c).to_ascii_lowercase());
        if command.as_deref() == Some("start") && !argument.is_empty() {
            return self.link(chat, from, argument).await;
        }
        let user = self.account(from).await?;
        match command.as_deref() {
            Some("start") => {
                let text = format!(
                    "Welcome to MedSync, {}! I book visits at the clinic.\n\n{}",
                    user.name,
                    help_text()
                );
                let keyboard = self.app_row().map(|row| InlineKeyboardMarkup::new([row]));
                self.send(chat, &text, keyboard).await.map(drop)
            }
            Some("help") => self.say(chat, &help_text()).await,
            Some("doctors") => self.doctors(chat).await,
            Some("book") => self.start_booking(chat, &user).await,
            Some("my") => self.my_bookings(chat, &user, None).await,
            Some("cancel") => self.cancel_dialogue(chat, None).await,
            Some(_) => {
                self.say(chat, "I don't know that command. Try /help.")
                    .await
            }
            None => {
                let text = if self.store.get(chat.0).await?.is_some() {
                    "Please choose with the buttons above, or send /cancel."
                } else {
                    "Send /book to book a visit, or /help to see what I can do."
                };
                self.say(chat, text).await
            }
        }
    }

    /// `/start <code>`: shows whose account the code links to (masked email, name, and what a
    /// merge would move) and asks; nothing is linked until "Link" is pressed.
    pub(super) async fn link(
        &self,
        chat: ChatId,
        from: &teloxide::types::User,
        code: &str,
    ) -> anyhow::Result<()> {
        let telegram_id = i64::try_from(from.id.0).context("Telegram user id out of range")?;
        // A code longer than a button can carry is not one of ours.
        if code.len() > 60 {
            return self.say(chat, LINK_INVALID).await;
        }
        let mut conn = self.db.acquire().await?;
        let preview = telegram_links::preview(&mut conn, code, telegram_id, Timestamp::now()).await;
        drop(conn);
        let preview = match preview {
            Ok(preview) => preview,
            Err(RedeemError::Invalid) => return self.say(chat, LINK_INVALID).await,
            Err(RedeemError::LinkedElsewhere) => return self.say(chat, LINKED_ELSEWHERE).await,
            Err(RedeemError::Database(e)) => return Err(e.into()),
        };
        if preview.already_linked {
            let text = format!(
                "This Telegram account is already linked to {} ({}).",
                preview.email, preview.name
            );
            return self.say(chat, &text).await;
        }
        let mut text = format!(
            "Link this Telegram account to the MedSync account {} ({})?\n\nConfirmations and \
             reminders of that account will then come here, and you can book and cancel for it.",
            preview.email, preview.name
        );
        match preview.merge {
            Some(0) => text.push_str(
                "\n\nThe profile you have here in Telegram will be merged into that account.",
            ),
            Some(n) => text.push_str(&format!(
                "\n\nThe profile you have here in Telegram will be merged into that account: \
                 its {n} visit(s) will move there."
            )),
            None => {}
        }
        text.push_str("\n\nIf you did not ask for this link, press \"Don't link\".");
        let keyboard = InlineKeyboardMarkup::new(vec![vec![
            Button::Link(code.to_owned()).key("✅ Link"),
            Button::DontLink(code.to_owned()).key("✖ Don't link"),
        ]]);
        self.show(chat, None, &text, Some(keyboard)).await?;
        Ok(())
    }

    /// The answer to the question of [`Self::link`]: link (merging as announced), or void
    /// the code.
    pub(super) async fn link_answer(
        &self,
        chat: ChatId,
        at: Option<MessageId>,
        from: &teloxide::types::User,
        code: &str,
        confirmed: bool,
    ) -> anyhow::Result<Result<Option<String>, Refusal>> {
        let telegram_id = i64::try_from(from.id.0).context("Telegram user id out of range")?;
        let now = Timestamp::now();
        let mut tx = self.db.begin().await?;
        if !confirmed {
            let voided = telegram_links::decline(&mut tx, code, now).await?;
            tx.commit().await?;
            let text = if voided {
                "Not linked. That link code no longer works; if you did not ask for it, \
                 nothing else is needed."
            } else {
                LINK_INVALID
            };
            self.show(chat, at, text, None).await?;
            return Ok(Ok(Some("Not linked".to_owned())));
        }
        let linked = telegram_links::redeem(&mut tx, code, telegram_id, now).await;
        let text = match linked {
            Ok(user_id) => {
                let user = users::get(&mut *tx, user_id).await?;
                tx.commit().await?;
                let name = user.map_or_else(String::new, |u| format!(", {}", u.name));
                format!(
                    "Linked{name}! This Telegram account is now connected to your MedSync \
                     account: confirmations and reminders will come here.\n\n{}",
                    help_text()
                )
            }
            Err(RedeemError::Invalid) => LINK_INVALID.to_owned(),
            Err(RedeemError::LinkedElsewhere) => LINKED_ELSEWHERE.to_owned(),
            Err(RedeemError::Database(e)) => return Err(e.into()),
        };
        self.show(chat, at, &text, None).await?;
        Ok(Ok(None))
    }

    pub(super) async fn doctors(&self, chat: ChatId) -> anyhow::Result<()> {
        let mut conn = self.db.acquire().await?;
        let specialties = catalog::bookable_specialties(&mut conn).await?;
        if specialties.is_empty() {
            return self
                .say(chat, "The clinic has no doctors to book yet.")
                .await;
        }
        let mut text = String::from("Our doctors:\n");
        for specialty in specialties {
            let (doctors, _) =
                catalog::list_doctors(&mut conn, Some(specialty.id), None, 50, 0).await?;
            let names: Vec<&str> = doctors.iter().map(|d| d.name.as_str()).collect();
            text.push_str(&format!("\n{}: {}", specialty.name, names.join(", ")));
        }
        text.push_str("\n\nSend /book to book a visit.");
        self.say(chat, &text).await
    }

    pub(super) async fn cancel_dialogue(
        &self,
        chat: ChatId,
        at: Option<MessageId>,
    ) -> anyhow::Result<()> {
        let dialogue = self.store.get(chat.0).await?;
        let Some(dialogue) = dialogue else {
            return self
                .say(chat, "Nothing to cancel. Send /book to book a visit.")
                .await;
        };
        let at = at.or(Some(MessageId(dialogue.message_id)));
        self.show(
            chat,
            at,
            "Booking cancelled. Send /book to start again.",
            None,
        )
        .await?;
        self.store.clear(chat.0).await
    }
}
