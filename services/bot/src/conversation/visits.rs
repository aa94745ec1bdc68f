//! One's upcoming visits, and cancelling one of them.

use jiff::Timestamp;
use medsync_domain::bookings::{
    self, Actor, Booking, BookingError, BookingStatus, ListFilter, When,
};
use medsync_domain::users::{Role, User};
use teloxide::types::{ChatId, InlineKeyboardMarkup, MessageId};
use uuid::Uuid;

use super::button::Button;
use super::{Conversation, Refusal};

impl Conversation {
    pub(super) async fn my_bookings(
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
        let page = bookings::list(&mut conn, filter, When::Upcoming, 50, 0).await?;
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
                rows.push(vec![Button::AskCancel(booking.id).key(format!(
                    "✖ Cancel {}. {}",
                    n + 1,
                    local.strftime("%a %-d %b %H:%M")
                ))]);
            }
        }
        let keyboard = (!rows.is_empty()).then(|| InlineKeyboardMarkup::new(rows));
        self.show(chat, at, &text, keyboard).await?;
        Ok(())
    }

    /// The patient's confirmed, upcoming booking `id`; if there is none, the refreshed list
    /// is shown in `at` and the refusal returned.
    pub(super) async fn cancellable(
        &self,
        chat: ChatId,
        at: Option<MessageId>,
        user: &User,
        id: Uuid,
    ) -> anyhow::Result<Result<Booking, Refusal>> {
        let actor = Actor {
            user_id: user.id,
            role: user.role,
            channel: medsync_domain::audit::Channel::Bot,
        };
        let mut conn = self.db.acquire().await?;
        let found = bookings::get_visible(&mut conn, id, actor).await?;
        drop(conn);
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

    pub(super) async fn ask_cancel_booking(
        &self,
        chat: ChatId,
        at: Option<MessageId>,
        user: &User,
        id: Uuid,
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
            Button::CancelYes(booking.id).key("Yes, cancel it"),
            Button::MyVisits.key("« Keep it"),
        ]]);
        self.show(chat, at, &text, Some(keyboard)).await?;
        Ok(Ok(None))
    }

    pub(super) async fn cancel_booking(
        &self,
        chat: ChatId,
        at: Option<MessageId>,
        user: &User,
        id: Uuid,
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
