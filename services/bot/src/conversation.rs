//! What the bot says: commands, the booking dialogue and the list of one's bookings.
//!
//! One update is handled at a time per chat (a Redis lock across replicas), from the state
//! in Redis, ending in the same domain functions the API calls. Errors a user can cause (a
//! stale button, a slot someone else just took, an expired link code) get an answer in the
//! chat and change nothing; errors of the infrastructure (PostgreSQL, Redis, Telegram
//! unreachable) are returned, so the update is taken again later rather than lost.

use std::time::Duration;

use anyhow::Context as _;
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp, ToSpan as _};
use medsync_domain::bookings::{
    self, Actor, Booking, BookingError, BookingRules, BookingSource, BookingStatus, ListFilter,
    When,
};
use medsync_domain::telegram_links::{self, RedeemError};
use medsync_domain::users::{self, Role, User};
use medsync_domain::{catalog, clock, slots};
use medsync_telegram::{TokenHealth, classify};
use sqlx::PgPool;
use teloxide::ApiError;
use teloxide::RequestError;
use teloxide::prelude::*;
use teloxide::types::{
    BotCommand, CallbackQuery, ChatId, InlineKeyboardButton, InlineKeyboardMarkup,
    MaybeInaccessibleMessage, MessageId, UpdateKind,
};
use uuid::Uuid;

use crate::dialogue::{Dialogue, Step, Store};

/// The commands, as `setMyCommands` registers them and `/help` lists them.
pub const COMMANDS: &[(&str, &str)] = &[
    ("book", "Book a visit"),
    ("my", "Your upcoming visits"),
    ("doctors", "Our doctors by specialty"),
    ("cancel", "Stop what we are doing"),
    ("help", "What I can do"),
    ("start", "Start over"),
];

const BACK: &str = "« Back";
const CANCEL: &str = "✖ Cancel";

/// How the bot converses.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The clinic's rules (time zone, reminders, cancellation notice).
    pub rules: BookingRules,
    /// Days ahead offered when booking.
    pub booking_days: u16,
}

/// The bot's conversations.
#[derive(Debug, Clone)]
pub struct Conversation {
    bot: Bot,
    db: PgPool,
    store: Store,
    settings: Settings,
    token: TokenHealth,
}

const LINK_INVALID: &str =
    "This link has expired or was already used. Please get a new one in the app.";
const LINKED_ELSEWHERE: &str = "This Telegram account is already linked to another MedSync account. Please contact the clinic.";

/// A failure that is the user's to fix: said in the chat (and as the button's answer).
struct Refusal(String);

fn is_private(chat: &teloxide::types::Chat) -> bool {
    chat.is_private()
}

fn button(text: impl Into<String>, data: impl Into<String>) -> InlineKeyboardButton {
    InlineKeyboardButton::callback(text.into(), data.into())
}

fn nav_row(back: bool) -> Vec<InlineKeyboardButton> {
    let mut row = Vec::new();
    if back {
        row.push(button(BACK, "back"));
    }
    row.push(button(CANCEL, "x"));
    row
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

    /// Registers the commands with Telegram (shown in the chat's menu).
    pub async fn register_commands(&self) -> Result<(), RequestError> {
        let commands = COMMANDS
            .iter()
            .map(|(c, d)| BotCommand::new(*c, *d))
            .collect::<Vec<_>>();
        self.bot.set_my_commands(commands).await?;
        Ok(())
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

    /// Handles one update, once: an update handled before is skipped.
    pub async fn handle(&self, update: Update) -> anyhow::Result<()> {
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

    // ----- sending -----------------------------------------------------------------------

    /// Sends a message; `None` when Telegram refused it for good (e.g. the user blocked the
    /// bot), which is logged and not retried.
    async fn send(
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

    async fn say(&self, chat: ChatId, text: &str) -> anyhow::Result<()> {
        self.send(chat, text, None).await.map(|_| ())
    }

    /// Shows `text` in the message `at` (edited in place) or, without one or when it can no
    /// longer be edited, in a new message. Returns the message showing it.
    async fn show(
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

    async fn answer(&self, query: &CallbackQuery, text: Option<&str>) -> anyhow::Result<()> {
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

    // ----- accounts ------------------------------------------------------------------------

    /// The account of the Telegram user: the linked one, or a new patient.
    async fn account(&self, from: &teloxide::types::User) -> anyhow::Result<User> {
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

    // ----- commands ------------------------------------------------------------------------

    async fn on_text(
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
                self.say(chat, &text).await
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
    async fn link(
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
            button("✅ Link", format!("lk:{code}")),
            button("✖ Don't link", format!("ln:{code}")),
        ]]);
        self.show(chat, None, &text, Some(keyboard)).await?;
        Ok(())
    }

    /// The answer to the question of [`Self::link`]: link (merging as announced), or void
    /// the code.
    async fn link_answer(
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

    async fn doctors(&self, chat: ChatId) -> anyhow::Result<()> {
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

    async fn cancel_dialogue(&self, chat: ChatId, at: Option<MessageId>) -> anyhow::Result<()> {
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

    // ----- the booking dialogue ------------------------------------------------------------

    async fn start_booking(&self, chat: ChatId, user: &User) -> anyhow::Result<()> {
        if user.role != Role::Patient {
            return self
                .say(
                    chat,
                    "Booking here is for patients; this is a staff account. Notifications \
                     for you will still come to this chat.",
                )
                .await;
        }
        // A dialogue under way is replaced: its old message loses its buttons.
        if let Some(old) = self.store.get(chat.0).await? {
            let _ = self
                .bot
                .edit_message_reply_markup(chat, MessageId(old.message_id))
                .await;
        }
        self.enter(chat, None, Step::Specialty, None).await
    }

    /// Shows `step` (in `at`, or a new message) and saves it as the chat's dialogue. `note`
    /// goes above the step's question (e.g. why the user is back at it).
    async fn enter(
        &self,
        chat: ChatId,
        at: Option<MessageId>,
        step: Step,
        note: Option<&str>,
    ) -> anyhow::Result<()> {
        let (question, keyboard) = self.render(&step).await?;
        let text = match note {
            Some(note) => format!("{note}\n\n{question}"),
            None => question,
        };
        let Some(message) = self.show(chat, at, &text, Some(keyboard)).await? else {
            return Ok(());
        };
        self.store
            .set(
                chat.0,
                &Dialogue {
                    v: 1,
                    message_id: message.0,
                    step,
                },
            )
            .await
    }

    /// The question and the buttons of a step.
    async fn render(&self, step: &Step) -> anyhow::Result<(String, InlineKeyboardMarkup)> {
        let mut conn = self.db.acquire().await?;
        let tz = &self.settings.rules.timezone;
        let mut rows: Vec<Vec<InlineKeyboardButton>> = Vec::new();
        let text = match *step {
            Step::Specialty => {
                let specialties = catalog::bookable_specialties(&mut conn).await?;
                rows.extend(
                    specialties
                        .iter()
                        .map(|s| vec![button(&s.name, format!("sp:{}", s.id))]),
                );
                if specialties.is_empty() {
                    "The clinic has no doctors to book yet.".to_owned()
                } else {
                    "Which specialty?".to_owned()
                }
            }
            Step::Doctor { specialty } => {
                let (doctors, _) =
                    catalog::list_doctors(&mut conn, Some(specialty), None, 50, 0).await?;
                rows.extend(
                    doctors
                        .iter()
                        .map(|d| vec![button(&d.name, format!("dr:{}", d.id))]),
                );
                if doctors.is_empty() {
                    "No doctor of this specialty can be booked now.".to_owned()
                } else {
                    "Which doctor?".to_owned()
                }
            }
            Step::Day { doctor, .. } => {
                let name = doctor_name(&mut conn, doctor).await?;
                let days = self.free_days(&mut conn, doctor).await?;
                for pair in days.chunks(2) {
                    rows.push(
                        pair.iter()
                            .map(|(day, count)| {
                                button(
                                    format!("{} · {count}", day.strftime("%a %-d %b")),
                                    format!("day:{day}"),
                                )
                            })
                            .collect(),
                    );
                }
                if days.is_empty() {
                    format!(
                        "{name} has no free time in the next {} days.",
                        self.window_days()
                    )
                } else {
                    format!("{name}: which day? (with the number of free times)")
                }
            }
            Step::Slot { doctor, day, .. } => {
                let name = doctor_name(&mut conn, doctor).await?;
                let free = self.free_on(&mut conn, doctor, day).await?;
                for four in free.chunks(4) {
                    rows.push(
                        four.iter()
                            .map(|slot| {
                                button(
                                    slot.starts_at
                                        .to_zoned(tz.clone())
                                        .strftime("%H:%M")
                                        .to_string(),
                                    format!("at:{}", slot.starts_at.as_second()),
                                )
                            })
                            .collect(),
                    );
                }
                let day_text = day.strftime("%A %-d %B");
                if free.is_empty() {
                    format!("{name} has no free time left on {day_text}.")
                } else {
                    format!("{name}, {day_text}: which time?")
                }
            }
            Step::Confirm {
                specialty,
                doctor,
                starts_at,
                ..
            } => {
                let name = doctor_name(&mut conn, doctor).await?;
                let specialty_name = catalog::list_specialties(&mut conn)
                    .await?
                    .into_iter()
                    .find(|s| s.id == specialty)
                    .map_or_else(String::new, |s| format!(" ({})", s.name));
                rows.push(vec![button("✅ Confirm", "ok")]);
                format!("Book {name}{specialty_name} on {}?", self.when(starts_at))
            }
        };
        rows.push(nav_row(step.back().is_some()));
        Ok((text, InlineKeyboardMarkup::new(rows)))
    }

    /// `starts_at` in the clinic's time zone, for people.
    fn when(&self, starts_at: Timestamp) -> String {
        clock::human(starts_at, &self.settings.rules.timezone)
    }

    /// How many days ahead the bot offers: its own window, never past the clinic's horizon.
    fn window_days(&self) -> u32 {
        u32::from(self.settings.booking_days).min(self.settings.rules.horizon_days)
    }

    /// The days of the booking window with free slots, and how many.
    async fn free_days(
        &self,
        conn: &mut sqlx::PgConnection,
        doctor: Uuid,
    ) -> anyhow::Result<Vec<(Date, usize)>> {
        let tz = &self.settings.rules.timezone;
        let now = Timestamp::now();
        let today = now.to_zoned(tz.clone()).date();
        let end_day = today
            .checked_add(i64::from(self.window_days()).days())
            .unwrap_or(today);
        let horizon = now
            .checked_add(SignedDuration::from_hours(
                24 * i64::from(self.settings.rules.horizon_days),
            ))
            .unwrap_or(now);
        let end = end_day
            .to_zoned(tz.clone())
            .map(|z| z.timestamp())
            .unwrap_or(now)
            .min(horizon);
        let Some(calendar) = slots::load_calendar(conn, doctor, now, end).await? else {
            return Ok(Vec::new());
        };
        let mut days: Vec<(Date, usize)> = Vec::new();
        for slot in slots::free_slots(&calendar, tz, now, end, now) {
            let day = slot.starts_at.to_zoned(tz.clone()).date();
            match days.last_mut() {
                Some((d, n)) if *d == day => *n += 1,
                _ => days.push((day, 1)),
            }
        }
        Ok(days)
    }

    /// The free slots of a doctor on a local day.
    async fn free_on(
        &self,
        conn: &mut sqlx::PgConnection,
        doctor: Uuid,
        day: Date,
    ) -> anyhow::Result<Vec<slots::Slot>> {
        let tz = &self.settings.rules.timezone;
        let (Ok(from), Ok(to)) = (
            day.to_zoned(tz.clone()),
            day.tomorrow().and_then(|d| d.to_zoned(tz.clone())),
        ) else {
            return Ok(Vec::new());
        };
        let (from, to) = (from.timestamp(), to.timestamp());
        let now = Timestamp::now();
        Ok(match slots::load_calendar(conn, doctor, from, to).await? {
            Some(calendar) => slots::free_slots(&calendar, tz, from, to, now),
            None => Vec::new(),
        })
    }

    async fn on_button(&self, chat: ChatId, query: CallbackQuery) -> anyhow::Result<()> {
        let data = query.data.clone().unwrap_or_default();
        let at = query.message.as_ref().map(MaybeInaccessibleMessage::id);
        // Link answers come before any account is made for this Telegram user.
        let outcome = match data.split_once(':') {
            Some(("lk", code)) => self.link_answer(chat, at, &query.from, code, true).await,
            Some(("ln", code)) => self.link_answer(chat, at, &query.from, code, false).await,
            _ => self.account_button(chat, at, &query, &data).await,
        };
        match outcome? {
            Ok(note) => self.answer(&query, note.as_deref()).await,
            Err(Refusal(text)) => self.answer(&query, Some(&text)).await,
        }
    }

    async fn account_button(
        &self,
        chat: ChatId,
        at: Option<MessageId>,
        query: &CallbackQuery,
        data: &str,
    ) -> anyhow::Result<Result<Option<String>, Refusal>> {
        let user = self.account(&query.from).await?;
        match data.split_once(':') {
            Some(("cb", id)) => self.ask_cancel_booking(chat, at, &user, id).await,
            Some(("cy", id)) => self.cancel_booking(chat, at, &user, id).await,
            _ if data == "my" => self.my_bookings(chat, &user, at).await.map(|()| Ok(None)),
            _ => self.dialogue_button(chat, at, &user, data).await,
        }
    }

    /// A button of the booking dialogue. Returns the short answer for the button, or why it
    /// did nothing.
    async fn dialogue_button(
        &self,
        chat: ChatId,
        at: Option<MessageId>,
        user: &User,
        data: &str,
    ) -> anyhow::Result<Result<Option<String>, Refusal>> {
        let Some(dialogue) = self.store.get(chat.0).await? else {
            if let Some(at) = at {
                let _ = self.bot.edit_message_reply_markup(chat, at).await;
            }
            return Ok(Err(Refusal(
                "This menu has expired. Send /book to start again.".to_owned(),
            )));
        };
        if at.map(|m| m.0) != Some(dialogue.message_id) {
            return Ok(Err(Refusal(
                "This menu is out of date; please use the latest one.".to_owned(),
            )));
        }
        if data == "x" {
            self.cancel_dialogue(chat, at).await?;
            return Ok(Ok(Some("Cancelled".to_owned())));
        }
        if data == "back" {
            return match dialogue.step.back() {
                Some(step) => self.enter(chat, at, step, None).await.map(|()| Ok(None)),
                None => Ok(Err(Refusal("This is the first step.".to_owned()))),
            };
        }
        let stale = || {
            Ok(Err(Refusal(
                "That choice is no longer on offer.".to_owned(),
            )))
        };
        let (kind, value) = data.split_once(':').unwrap_or((data, ""));
        let next = match (&dialogue.step, kind) {
            (Step::Specialty, "sp") => match value.parse() {
                Ok(specialty) => Step::Doctor { specialty },
                Err(_) => return stale(),
            },
            (&Step::Doctor { specialty }, "dr") => match value.parse() {
                Ok(doctor) => Step::Day { specialty, doctor },
                Err(_) => return stale(),
            },
            (&Step::Day { specialty, doctor }, "day") => match value.parse::<Date>() {
                Ok(day) => Step::Slot {
                    specialty,
                    doctor,
                    day,
                },
                Err(_) => return stale(),
            },
            (
                &Step::Slot {
                    specialty,
                    doctor,
                    day,
                },
                "at",
            ) => {
                let Some(starts_at) = value
                    .parse::<i64>()
                    .ok()
                    .and_then(|s| Timestamp::from_second(s).ok())
                else {
                    return stale();
                };
                let mut conn = self.db.acquire().await?;
                let free = self.free_on(&mut conn, doctor, day).await?;
                drop(conn);
                if !free.iter().any(|s| s.starts_at == starts_at) {
                    let step = Step::Slot {
                        specialty,
                        doctor,
                        day,
                    };
                    let note = "Sorry, that time was just taken. These are still free:";
                    self.enter(chat, at, step, Some(note)).await?;
                    return Ok(Ok(Some("That time was just taken".to_owned())));
                }
                Step::Confirm {
                    specialty,
                    doctor,
                    day,
                    starts_at,
                }
            }
            (&Step::Confirm { .. }, "ok") => return self.confirm(chat, at, user, &dialogue).await,
            _ => return stale(),
        };
        self.enter(chat, at, next, None).await?;
        Ok(Ok(None))
    }

    /// The last step: books through the same function as the API.
    async fn confirm(
        &self,
        chat: ChatId,
        at: Option<MessageId>,
        user: &User,
        dialogue: &Dialogue,
    ) -> anyhow::Result<Result<Option<String>, Refusal>> {
        let Step::Confirm {
            specialty,
            doctor,
            day,
            starts_at,
        } = dialogue.step
        else {
            return Ok(Err(Refusal("Nothing to confirm.".to_owned())));
        };
        if user.role != Role::Patient {
            return Ok(Err(Refusal("Booking here is for patients.".to_owned())));
        }
        let now = Timestamp::now();
        let mut tx = self.db.begin().await?;
        let booked = bookings::book(
            &mut tx,
            &self.settings.rules,
            user.id,
            doctor,
            starts_at,
            BookingSource::Telegram,
            now,
        )
        .await;
        let booking = match booked {
            Ok(booking) => {
                tx.commit().await?;
                metrics::counter!("medsync_bot_bookings_total").increment(1);
                booking
            }
            Err(BookingError::Taken | BookingError::NotASlot) => {
                drop(tx);
                // Handled before, and the answer lost? Then the booking is this user's own.
                if let Some(own) = self.own_booking(user.id, doctor, starts_at).await? {
                    own
                } else {
                    let step = Step::Slot {
                        specialty,
                        doctor,
                        day,
                    };
                    let note = "Sorry, that time was just taken. These are still free:";
                    self.enter(chat, at, step, Some(note)).await?;
                    return Ok(Ok(Some("That time was just taken".to_owned())));
                }
            }
            Err(BookingError::DoctorNotFound) => {
                drop(tx);
                let note = "Sorry, that doctor can no longer be booked.";
                self.enter(chat, at, Step::Doctor { specialty }, Some(note))
                    .await?;
                return Ok(Ok(None));
            }
            Err(BookingError::Database(e)) => return Err(e.into()),
            Err(other) => return Ok(Err(Refusal(other.to_string()))),
        };
        let text = format!(
            "✅ Booked: {} on {}.\nReference: {}\n\nSee your visits with /my.",
            booking.doctor_name,
            self.when(booking.starts_at),
            bookings::reference(booking.id)
        );
        self.show(chat, at, &text, None).await?;
        self.store.clear(chat.0).await?;
        Ok(Ok(Some("Booked".to_owned())))
    }

    async fn own_booking(
        &self,
        patient: Uuid,
        doctor: Uuid,
        starts_at: Timestamp,
    ) -> anyhow::Result<Option<Booking>> {
        let mut conn = self.db.acquire().await?;
        Ok(bookings::find_confirmed(&mut conn, patient, doctor, starts_at).await?)
    }

    // ----- one's bookings ------------------------------------------------------------------

    async fn my_bookings(
        &self,
        chat: ChatId,
        user: &User,
        at: Option<MessageId>,
    ) -> anyhow::Result<()> {
        let filter = match user.role {
            Role::Patient => ListFilter::Patient(user.id),
            Role::Doctor => ListFilter::DoctorUser(user.id),
            Role::Admin => {
                return self
                    .say(chat, "Admins see every booking in the app, not here.")
                    .await;
            }
        };
        let mut conn = self.db.acquire().await?;
        let page =
            bookings::list(&mut conn, filter, When::Upcoming, Timestamp::now(), 50, 0).await?;
        drop(conn);
        let upcoming: Vec<Booking> = page
            .items
            .into_iter()
            .filter(|b| b.status == BookingStatus::Confirmed)
            .take(10)
            .collect();
        if upcoming.is_empty() {
            self.show(
                chat,
                at,
                "You have no upcoming visits. Send /book to book one.",
                None,
            )
            .await?;
            return Ok(());
        }
        let tz = &self.settings.rules.timezone;
        let mut text = String::from("Your upcoming visits:\n");
        let mut rows = Vec::new();
        for (n, booking) in upcoming.iter().enumerate() {
            let local = booking.starts_at.to_zoned(tz.clone());
            text.push_str(&format!(
                "\n{}. {} — {}",
                n + 1,
                local.strftime("%a %-d %b %H:%M"),
                booking.doctor_name
            ));
            if user.role == Role::Patient {
                rows.push(vec![button(
                    format!("✖ Cancel {}. {}", n + 1, local.strftime("%a %-d %b %H:%M")),
                    format!("cb:{}", booking.id),
                )]);
            }
        }
        let keyboard = (!rows.is_empty()).then(|| InlineKeyboardMarkup::new(rows));
        self.show(chat, at, &text, keyboard).await?;
        Ok(())
    }

    /// The patient's confirmed, upcoming booking `id`; if there is none, the refreshed list
    /// is shown in `at` and the refusal returned.
    async fn cancellable(
        &self,
        chat: ChatId,
        at: Option<MessageId>,
        user: &User,
        id: &str,
    ) -> anyhow::Result<Result<Booking, Refusal>> {
        let actor = Actor {
            user_id: user.id,
            role: user.role,
            channel: medsync_domain::audit::Channel::Bot,
        };
        let found = match id.parse::<Uuid>() {
            Ok(id) => {
                let mut conn = self.db.acquire().await?;
                bookings::get_visible(&mut conn, id, actor).await?
            }
            Err(_) => None,
        };
        match found {
            Some(b)
                if b.patient_id == user.id
                    && b.status == BookingStatus::Confirmed
                    && b.starts_at > Timestamp::now() =>
            {
                Ok(Ok(b))
            }
            _ => {
                self.my_bookings(chat, user, at).await?;
                Ok(Err(Refusal(
                    "This visit can no longer be cancelled.".to_owned(),
                )))
            }
        }
    }

    async fn ask_cancel_booking(
        &self,
        chat: ChatId,
        at: Option<MessageId>,
        user: &User,
        id: &str,
    ) -> anyhow::Result<Result<Option<String>, Refusal>> {
        let booking = match self.cancellable(chat, at, user, id).await? {
            Ok(b) => b,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let text = format!(
            "Cancel your visit with {} on {}?",
            booking.doctor_name,
            self.when(booking.starts_at)
        );
        let keyboard = InlineKeyboardMarkup::new(vec![vec![
            button("Yes, cancel it", format!("cy:{}", booking.id)),
            button("« Keep it", "my"),
        ]]);
        self.show(chat, at, &text, Some(keyboard)).await?;
        Ok(Ok(None))
    }

    async fn cancel_booking(
        &self,
        chat: ChatId,
        at: Option<MessageId>,
        user: &User,
        id: &str,
    ) -> anyhow::Result<Result<Option<String>, Refusal>> {
        let booking = match self.cancellable(chat, at, user, id).await? {
            Ok(b) => b,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let actor = Actor {
            user_id: user.id,
            role: user.role,
            channel: medsync_domain::audit::Channel::Bot,
        };
        let mut tx = self.db.begin().await?;
        let cancelled = bookings::cancel(
            &mut tx,
            &self.settings.rules,
            booking.id,
            actor,
            Timestamp::now(),
        )
        .await;
        match cancelled {
            Ok(booking) => {
                tx.commit().await?;
                let text = format!(
                    "Cancelled your visit with {} on {}.",
                    booking.doctor_name,
                    self.when(booking.starts_at)
                );
                self.show(chat, at, &text, None).await?;
                Ok(Ok(Some("Cancelled".to_owned())))
            }
            Err(BookingError::Database(e)) => Err(e.into()),
            Err(BookingError::TooLateToCancel { hours }) => Ok(Err(Refusal(format!(
                "Visits can be cancelled up to {hours} hours ahead here; please call the clinic."
            )))),
            Err(other) => {
                drop(tx);
                self.my_bookings(chat, user, at).await?;
                Ok(Err(Refusal(format!("Not cancelled: {other}."))))
            }
        }
    }
}

async fn doctor_name(conn: &mut sqlx::PgConnection, doctor: Uuid) -> anyhow::Result<String> {
    Ok(catalog::get_doctor(conn, doctor)
        .await?
        .map_or_else(|| "This doctor".to_owned(), |d| d.name))
}

fn help_text() -> String {
    let mut text = String::from("What I can do:");
    for (command, what) in COMMANDS {
        text.push_str(&format!("\n/{command} — {what}"));
    }
    text
}

/// How long to wait before handling an update again after the `attempt`-th failure.
pub fn retry_delay(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.min(5))
}
