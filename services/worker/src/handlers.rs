//! What each kind of job does: the booking notifications, sent through the Telegram Bot API.
//!
//! A job reports one [`Outcome`]. Telegram's answers decide it, as [`medsync_telegram::classify`]
//! reads them: sent → done; flood control (`429`, or a "Too Many Requests" with a wait) → run
//! again after Telegram's `retry_after`, the attempt not counted; a recipient that cannot be
//! reached (blocked the bot, deactivated, no such chat) → done, with a note; a refused bot
//! token (401/404) → failed and retried with backoff, readiness failing and an error logged
//! until the operator fixes the token; a server error, a time-out, a broken connection or an
//! answer that is not the Bot API's → failed, retried with backoff; a request Telegram
//! rejects as malformed → failed (dead after the last attempt, for the operator to see).
//! Each chat reached is recorded on the job, so a retry after a partial failure does not
//! message it twice. Delivery is at least once: a worker killed after Telegram accepted a
//! message but before recording it sends it again, so every message names the booking's
//! reference and a patient can tell a repeat.

use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use medsync_domain::bookings::{self, Audience, Booking, BookingStatus};
use medsync_domain::clock;
use medsync_domain::jobs::{self, BookingPayload, Claimed, Job, ReminderPayload};
use medsync_telegram::{Failure, TokenHealth, classify};
use sqlx::PgPool;
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
    token: TokenHealth,
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
        Self {
            db,
            bot,
            tz,
            token: TokenHealth::default(),
        }
    }

    /// Whether Telegram accepted the bot token on the last answer (for `/readyz`).
    pub fn token_health(&self) -> TokenHealth {
        self.token.clone()
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
                if p.panic {
                    panic!("system.noop was asked to panic");
                }
                Ok(Outcome::Done(None))
            }
            Job::BookingConfirmation(p) => self.confirmation(job, p).await,
            Job::BookingReminder(p) => self.reminder(job, p).await,
            Job::BookingCancellation(p) => self.cancellation(job, p).await,
        };
        result.unwrap_or_else(|error| Outcome::Failed(format!("{error:#}")))
    }

    /// The booking and who hears about it; `None` when it no longer exists.
    async fn booking(&self, id: Uuid) -> anyhow::Result<Option<(Booking, Audience)>> {
        let mut conn = self.db.acquire().await?;
        let Some(booking) = bookings::get(&mut conn, id).await? else {
            return Ok(None);
        };
        drop(conn);
        Ok(bookings::audience(&self.db, id)
            .await?
            .map(|audience| (booking, audience)))
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
        let text = format!(
            "⏰ Reminder: your visit with {} is in {}, on {}.\nReference: {}",
            booking.doctor_name,
            lead_time(p.minutes_before),
            clock::human(booking.starts_at, &self.tz),
            bookings::reference(booking.id)
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
        let reference = bookings::reference(booking.id);
        let to_patient = format!(
            "❎ Your visit with {} on {when} is cancelled (reference {reference}). Send /book to \
             book another.",
            booking.doctor_name
        );
        let to_doctor = format!(
            "Booking cancelled: {} on {when} (reference {reference}).",
            audience.patient_name
        );
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
            match send(bot, &self.token, chat, text).await {
                Ok(Sent::All) => {
                    tracing::info!(recipient = who, "message sent");
                    jobs::record_sent(&self.db, job.id, chat).await?;
                }
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

async fn send(
    bot: &Throttle<Bot>,
    token: &TokenHealth,
    chat: i64,
    text: &str,
) -> Result<Sent, Outcome> {
    let answer = bot.send_message(ChatId(chat), text).await;
    token.observe(&answer);
    let Err(error) = answer else {
        return Ok(Sent::All);
    };
    match classify(&error) {
        Failure::Unreachable(why) => Ok(Sent::Refused(format!("Telegram refused: {why}"))),
        Failure::RetryAfter(after) => Err(Outcome::Later {
            after,
            reason: format!("Telegram asked to wait {} s (429)", after.as_secs()),
        }),
        Failure::InvalidToken => Err(Outcome::Failed(
            "Telegram refuses the bot token (401/404): set TELEGRAM_BOT_TOKEN".to_owned(),
        )),
        Failure::Rejected(why) => Err(Outcome::Failed(format!(
            "Telegram rejected the message: {why}"
        ))),
        Failure::Transient(why) => Err(Outcome::Failed(format!(
            "sending to Telegram failed: {why}"
        ))),
    }
}

fn done(note: &str) -> Outcome {
    Outcome::Done(Some(note.to_owned()))
}

/// How far ahead a reminder is, in the largest whole unit: `1 day`, `2 hours`, `90 minutes`.
fn lead_time(minutes: i64) -> String {
    let (n, unit) = match minutes {
        m if m % 1440 == 0 && m >= 1440 => (m / 1440, "day"),
        m if m % 60 == 0 && m >= 60 => (m / 60, "hour"),
        m => (m, "minute"),
    };
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

#[cfg(test)]
mod tests {
    use super::lead_time;

    #[test]
    fn a_reminder_says_how_far_ahead_in_the_largest_whole_unit() {
        let said: Vec<String> = [1440, 2880, 60, 120, 90, 1, 30].map(lead_time).into();
        assert_eq!(
            said,
            [
                "1 day",
                "2 days",
                "1 hour",
                "2 hours",
                "90 minutes",
                "1 minute",
                "30 minutes"
            ]
        );
    }
}
