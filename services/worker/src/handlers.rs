//! What each kind of job does: the booking notifications, sent through the Telegram Bot API.
//!
//! A job reports one [`Outcome`]. Telegram's answers decide it: sent → done; `429` → run
//! again after Telegram's `retry_after`, the attempt not counted; a refusal that retrying
//! cannot cure (the user blocked the bot, the chat does not exist) → done, with a note; a
//! network or server error → failed, retried with backoff. Each chat reached is recorded on
//! the job, so a retry after a partial failure does not message it twice.

use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use medsync_core::domain::bookings::{self, Booking, BookingStatus};
use medsync_core::domain::clock;
use medsync_core::domain::jobs::{self, BookingPayload, Claimed, Job, ReminderPayload};
use sqlx::PgPool;
use teloxide::RequestError;
use teloxide::adaptors::Throttle;
use teloxide::prelude::*;
use teloxide::types::ChatId;
use uuid::Uuid;

const GONE: &str = "the booking no longer exists";

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done; the note says why nothing (or not everything) was sent, if so.
    Done(Option<String>),
    /// Not done, through nobody's fault (Telegram asked to wait): run again after `after`,
    /// without counting the attempt.
    Later {
        /// How long to wait.
        after: Duration,
        /// Why.
        reason: String,
    },
    /// Failed: retried with backoff, dead after the last attempt.
    Failed(String),
}

/// Runs jobs.
#[derive(Debug, Clone)]
pub struct Handlers {
    db: PgPool,
    bot: Option<Throttle<Bot>>,
    tz: TimeZone,
}

/// Who hears about a booking.
struct Audience {
    patient_chat: Option<i64>,
    patient_name: String,
    doctor_chat: Option<i64>,
}

/// What happened to the messages of one job.
enum Sent {
    All,
    /// Some recipients refused for good (blocked the bot…): the note says who and why.
    Refused(String),
}

impl Handlers {
    /// Handlers sending through `bot` (none: notifications are skipped, with a note),
    /// showing times in `tz`.
    pub fn new(db: PgPool, bot: Option<Throttle<Bot>>, tz: TimeZone) -> Self {
        Self { db, bot, tz }
    }

    /// Runs one claimed job.
    pub async fn run(&self, job: &Claimed) -> Outcome {
        let Some(decoded) = Job::decode(&job.kind, &job.payload) else {
            return Outcome::Failed(format!(
                "unknown job kind {:?} or payload not readable by this release",
                job.kind
            ));
        };
        let result = match decoded {
            Job::Noop(p) => {
                if p.sleep_ms > 0 {
                    tokio::time::sleep(Duration::from_millis(p.sleep_ms)).await;
                }
                Ok(Outcome::Done(None))
            }
            Job::BookingConfirmation(p) => self.confirmation(job, p).await,
            Job::BookingReminder(p) => self.reminder(job, p).await,
            Job::BookingCancellation(p) => self.cancellation(job, p).await,
        };
        result.unwrap_or_else(|error| Outcome::Failed(format!("{error:#}")))
    }

    async fn audience(&self, booking: Uuid) -> anyhow::Result<Option<Audience>> {
        let row: Option<(Option<i64>, String, Option<i64>)> = sqlx::query_as(
            "SELECT p.telegram_user_id, p.name, du.telegram_user_id
             FROM bookings b
             JOIN users p ON p.id = b.patient_id
             JOIN doctors d ON d.id = b.doctor_id
             LEFT JOIN users du ON du.id = d.user_id
             WHERE b.id = $1",
        )
        .bind(booking)
        .fetch_optional(&self.db)
        .await?;
        Ok(
            row.map(|(patient_chat, patient_name, doctor_chat)| Audience {
                patient_chat,
                patient_name,
                doctor_chat,
            }),
        )
    }

    /// The booking and who hears about it; `None` when it no longer exists.
    async fn booking(&self, id: Uuid) -> anyhow::Result<Option<(Booking, Audience)>> {
        let mut conn = self.db.acquire().await?;
        let Some(booking) = bookings::get(&mut conn, id).await? else {
            return Ok(None);
        };
        drop(conn);
        Ok(self.audience(id).await?.map(|audience| (booking, audience)))
    }

    async fn confirmation(&self, job: &Claimed, p: BookingPayload) -> anyhow::Result<Outcome> {
        let Some((booking, audience)) = self.booking(p.booking_id).await? else {
            return Ok(done(GONE));
        };
        let when = clock::human(booking.starts_at, &self.tz);
        let reference = bookings::reference(booking.id);
        let to_patient = format!(
            "✅ Your visit is booked: {} on {when}.\nReference: {reference}\n\nYou will get \
             reminders before it; /my lists your visits.",
            booking.doctor_name
        );
        let to_doctor = format!(
            "New booking: {} on {when} (reference {reference}).",
            audience.patient_name
        );
        self.deliver(job, &audience, &to_patient, &to_doctor).await
    }

    async fn reminder(&self, job: &Claimed, p: ReminderPayload) -> anyhow::Result<Outcome> {
        let Some((booking, audience)) = self.booking(p.booking_id).await? else {
            return Ok(done(GONE));
        };
        if booking.status != BookingStatus::Confirmed {
            return Ok(done("the booking was cancelled: no reminder"));
        }
        if booking.starts_at <= Timestamp::now() {
            return Ok(done("the visit has begun: reminder too late"));
        }
        let ahead = match p.minutes_before {
            m if m % 1440 == 0 && m >= 1440 => plural(m / 1440, "day"),
            m if m % 60 == 0 && m >= 60 => plural(m / 60, "hour"),
            m => plural(m, "minute"),
        };
        let text = format!(
            "⏰ Reminder: your visit with {} is in {ahead}, on {}.",
            booking.doctor_name,
            clock::human(booking.starts_at, &self.tz)
        );
        let patient_only = Audience {
            doctor_chat: None,
            ..audience
        };
        self.deliver(job, &patient_only, &text, "").await
    }

    async fn cancellation(&self, job: &Claimed, p: BookingPayload) -> anyhow::Result<Outcome> {
        let Some((booking, audience)) = self.booking(p.booking_id).await? else {
            return Ok(done(GONE));
        };
        let when = clock::human(booking.starts_at, &self.tz);
        let to_patient = format!(
            "❎ Your visit with {} on {when} is cancelled. Send /book to book another.",
            booking.doctor_name
        );
        let to_doctor = format!("Booking cancelled: {} on {when}.", audience.patient_name);
        self.deliver(job, &audience, &to_patient, &to_doctor).await
    }

    /// Sends to the patient's and the doctor's linked chats, skipping those an earlier
    /// attempt reached.
    async fn deliver(
        &self,
        job: &Claimed,
        audience: &Audience,
        to_patient: &str,
        to_doctor: &str,
    ) -> anyhow::Result<Outcome> {
        let Some(bot) = &self.bot else {
            return Ok(done("TELEGRAM_BOT_TOKEN is not set: nothing sent"));
        };
        let mut notes = Vec::new();
        let recipients = [
            ("patient", audience.patient_chat, to_patient),
            ("doctor", audience.doctor_chat, to_doctor),
        ];
        let mut any = false;
        for (who, chat, text) in recipients {
            let Some(chat) = chat else { continue };
            any = true;
            if job.sent_to.contains(&chat) {
                continue;
            }
            match send(bot, chat, text).await {
                Ok(Sent::All) => jobs::record_sent(&self.db, job.id, chat).await?,
                Ok(Sent::Refused(why)) => notes.push(format!("{who}: {why}")),
                Err(outcome) => return Ok(outcome),
            }
        }
        if !any {
            return Ok(done("no linked Telegram account to notify"));
        }
        Ok(Outcome::Done((!notes.is_empty()).then(|| notes.join("; "))))
    }
}

async fn send(bot: &Throttle<Bot>, chat: i64, text: &str) -> Result<Sent, Outcome> {
    match bot.send_message(ChatId(chat), text).await {
        Ok(_) => Ok(Sent::All),
        Err(RequestError::RetryAfter(seconds)) => Err(Outcome::Later {
            after: seconds.duration(),
            reason: format!("Telegram asked to wait {} s (429)", seconds.seconds()),
        }),
        // 4xx answers (blocked by the user, chat not found, deactivated): final.
        Err(RequestError::Api(error)) => Ok(Sent::Refused(format!("Telegram refused: {error}"))),
        Err(error) => Err(Outcome::Failed(format!(
            "sending to Telegram failed: {error}"
        ))),
    }
}

fn done(note: &str) -> Outcome {
    Outcome::Done(Some(note.to_owned()))
}

fn plural(n: i64, unit: &str) -> String {
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}
