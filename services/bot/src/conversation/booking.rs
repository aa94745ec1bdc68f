//! The booking dialogue: starting it, moving between its steps on button presses, and the
//! last step, which books through the same domain function as the API.

use jiff::Timestamp;
use medsync_domain::bookings::{self, Booking, BookingError, BookingSource};
use medsync_domain::users::{Role, User};
use teloxide::prelude::*;
use teloxide::types::{ChatId, MessageId};
use uuid::Uuid;

use super::button::Button;
use super::{Conversation, Refusal};
use crate::dialogue::{Dialogue, Step};

impl Conversation {
    pub(super) async fn start_booking(&self, chat: ChatId, user: &User) -> anyhow::Result<()> {
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
    pub(super) async fn enter(
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

    /// A button of the booking dialogue. Returns the short answer for the button, or why it
    /// did nothing.
    pub(super) async fn dialogue_button(
        &self,
        chat: ChatId,
        at: Option<MessageId>,
        user: &User,
        button: Option<Button>,
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
        if button == Some(Button::Cancel) {
            self.cancel_dialogue(chat, at).await?;
            return Ok(Ok(Some("Cancelled".to_owned())));
        }
        if button == Some(Button::Back) {
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
        let Some(button) = button else {
            return stale();
        };
        let next = match (&dialogue.step, button) {
            (Step::Specialty, Button::Specialty(specialty)) => Step::Doctor { specialty },
            (&Step::Doctor { specialty }, Button::Doctor(doctor)) => {
                Step::Day { specialty, doctor }
            }
            (&Step::Day { specialty, doctor }, Button::Day(day)) => Step::Slot {
                specialty,
                doctor,
                day,
            },
            (
                &Step::Slot {
                    specialty,
                    doctor,
                    day,
                },
                Button::At(starts_at),
            ) => {
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
            (&Step::Confirm { .. }, Button::Confirm) => {
                return self.confirm(chat, at, user, &dialogue).await;
            }
            _ => return stale(),
        };
        self.enter(chat, at, next, None).await?;
        Ok(Ok(None))
    }

    /// The last step: books through the same function as the API.
    pub(super) async fn confirm(
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

    pub(super) async fn own_booking(
        &self,
        patient: Uuid,
        doctor: Uuid,
        starts_at: Timestamp,
    ) -> anyhow::Result<Option<Booking>> {
        let mut conn = self.db.acquire().await?;
        Ok(bookings::find_confirmed(&mut conn, patient, doctor, starts_at).await?)
    }
}
