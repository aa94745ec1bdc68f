//! Conversation state in Redis, so that a restarted bot or another replica carries on where
//! the last one stopped.
//!
//! Keys, under the deployment's prefix:
//! - `bot:dialogue:<chat>`: the booking dialogue's step as JSON, with a time to live (an
//!   abandoned dialogue expires; the user starts again with `/book`);
//! - `bot:lock:<chat>`: held while one update of that chat is handled, so that two replicas
//!   never interleave one chat's read-modify-write of its dialogue;
//! - `bot:handled:<update_id>`: set once an update has been handled, so that an update
//!   delivered again (a stream entry reclaimed after a crash between handling and
//!   acknowledging, a poll repeated after a restart) is not handled twice.
//!
//! teloxide's own `RedisStorage` keeps dialogues without expiry and under fixed key names, and
//! its dispatcher acknowledges updates before they are handled; the few commands here give
//! both a time to live, a prefix and acknowledgement after handling.

use std::time::Duration;

use anyhow::Context as _;
use jiff::Timestamp;
use jiff::civil::Date;
use medsync_platform::redis::Redis;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Where a booking dialogue stands. Every step carries the choices made before it, so any
/// replica can render it from this value alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// Choosing a specialty.
    Specialty,
    /// Choosing a doctor of `specialty`.
    Doctor {
        /// Chosen specialty.
        specialty: Uuid,
    },
    /// Choosing a day with free slots.
    Day {
        /// Chosen specialty.
        specialty: Uuid,
        /// Chosen doctor.
        doctor: Uuid,
    },
    /// Choosing a free slot on `day` (the clinic's local date).
    Slot {
        /// Chosen specialty.
        specialty: Uuid,
        /// Chosen doctor.
        doctor: Uuid,
        /// Chosen day.
        day: Date,
    },
    /// Confirming the slot starting at `starts_at`.
    Confirm {
        /// Chosen specialty.
        specialty: Uuid,
        /// Chosen doctor.
        doctor: Uuid,
        /// Chosen day.
        day: Date,
        /// Chosen slot.
        starts_at: Timestamp,
    },
}

impl Step {
    /// The step before this one (`None` before the first).
    pub fn back(&self) -> Option<Self> {
        match *self {
            Self::Specialty => None,
            Self::Doctor { .. } => Some(Self::Specialty),
            Self::Day { specialty, .. } => Some(Self::Doctor { specialty }),
            Self::Slot {
                specialty, doctor, ..
            } => Some(Self::Day { specialty, doctor }),
            Self::Confirm {
                specialty,
                doctor,
                day,
                ..
            } => Some(Self::Slot {
                specialty,
                doctor,
                day,
            }),
        }
    }
}

/// A chat's booking dialogue: the step and the message whose buttons drive it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dialogue {
    /// Format version of this record.
    pub v: u8,
    /// The bot's message that shows the step (edited in place from step to step).
    pub message_id: i32,
    /// The step.
    pub step: Step,
}

/// The Redis side of conversations.
#[derive(Debug, Clone)]
pub struct Store {
    redis: Redis,
    ttl: Duration,
}

/// How long an update's "handled" mark is kept: far longer than any redelivery.
const HANDLED_TTL_SECONDS: u64 = 24 * 3600;
/// A chat lock left by a dead replica frees itself after this.
const LOCK_TTL: Duration = Duration::from_secs(10);

impl Store {
    /// Dialogues expire `ttl` after their last step.
    pub fn new(redis: Redis, ttl: Duration) -> Self {
        Self { redis, ttl }
    }

    fn dialogue_key(&self, chat: i64) -> String {
        self.redis
            .keys()
            .key(&["bot", "dialogue", &chat.to_string()])
    }

    /// The chat's dialogue, if one is under way. A record this version cannot read (written
    /// by another version of the bot) counts as none: the user starts again.
    pub async fn get(&self, chat: i64) -> anyhow::Result<Option<Dialogue>> {
        let mut conn = self.redis.conn.clone();
        let raw: Option<String> = redis::cmd("GET")
            .arg(self.dialogue_key(chat))
            .query_async(&mut conn)
            .await
            .context("reading the dialogue")?;
        Ok(
            raw.and_then(|raw| match serde_json::from_str::<Dialogue>(&raw) {
                Ok(d) if d.v == 1 => Some(d),
                _ => {
                    tracing::warn!(chat, "unreadable dialogue record; starting afresh");
                    None
                }
            }),
        )
    }

    /// Saves the chat's dialogue and restarts its time to live.
    pub async fn set(&self, chat: i64, dialogue: &Dialogue) -> anyhow::Result<()> {
        let mut conn = self.redis.conn.clone();
        redis::cmd("SET")
            .arg(self.dialogue_key(chat))
            .arg(serde_json::to_string(dialogue)?)
            .arg("EX")
            .arg(self.ttl.as_secs().max(1))
            .query_async::<()>(&mut conn)
            .await
            .context("saving the dialogue")
    }

    /// Ends the chat's dialogue.
    pub async fn clear(&self, chat: i64) -> anyhow::Result<()> {
        let mut conn = self.redis.conn.clone();
        redis::cmd("DEL")
            .arg(self.dialogue_key(chat))
            .query_async::<i64>(&mut conn)
            .await
            .context("ending the dialogue")?;
        Ok(())
    }

    fn handled_key(&self, update_id: u32) -> String {
        self.redis
            .keys()
            .key(&["bot", "handled", &update_id.to_string()])
    }

    /// Whether this update was handled already.
    pub async fn was_handled(&self, update_id: u32) -> anyhow::Result<bool> {
        let mut conn = self.redis.conn.clone();
        let exists: bool = redis::cmd("EXISTS")
            .arg(self.handled_key(update_id))
            .query_async(&mut conn)
            .await
            .context("checking whether the update was handled")?;
        Ok(exists)
    }

    /// Marks this update handled.
    pub async fn mark_handled(&self, update_id: u32) -> anyhow::Result<()> {
        let mut conn = self.redis.conn.clone();
        redis::cmd("SET")
            .arg(self.handled_key(update_id))
            .arg(1)
            .arg("EX")
            .arg(HANDLED_TTL_SECONDS)
            .query_async::<()>(&mut conn)
            .await
            .context("marking the update handled")
    }

    /// Takes the chat's lock, waiting while another replica holds it (at most the lock's time
    /// to live, after which a holder that died has lost it).
    pub async fn lock(&self, chat: i64) -> anyhow::Result<ChatLock> {
        let key = self.redis.keys().key(&["bot", "lock", &chat.to_string()]);
        let token = Uuid::new_v4().to_string();
        let mut conn = self.redis.conn.clone();
        let deadline = tokio::time::Instant::now() + LOCK_TTL + Duration::from_secs(1);
        loop {
            let taken: Option<String> = redis::cmd("SET")
                .arg(&key)
                .arg(&token)
                .arg("NX")
                .arg("PX")
                .arg(u64::try_from(LOCK_TTL.as_millis()).unwrap_or(30_000))
                .query_async(&mut conn)
                .await
                .context("taking the chat lock")?;
            if taken.is_some() {
                return Ok(ChatLock {
                    redis: self.redis.clone(),
                    key,
                    token,
                });
            }
            if tokio::time::Instant::now() > deadline {
                anyhow::bail!("chat {chat} stayed locked for {LOCK_TTL:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A held chat lock; [`ChatLock::release`] frees it if it is still ours.
#[derive(Debug)]
pub struct ChatLock {
    redis: Redis,
    key: String,
    token: String,
}

impl ChatLock {
    /// Frees the lock unless it expired and another replica holds it now.
    pub async fn release(self) -> anyhow::Result<()> {
        let mut conn = self.redis.conn.clone();
        redis::Script::new(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
             return 0",
        )
        .key(&self.key)
        .arg(&self.token)
        .invoke_async::<i64>(&mut conn)
        .await
        .context("releasing the chat lock")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_retraces_the_dialogue_keeping_what_was_chosen_before() {
        let (specialty, doctor) = (Uuid::now_v7(), Uuid::now_v7());
        let day = jiff::civil::date(2030, 1, 7);
        let confirm = Step::Confirm {
            specialty,
            doctor,
            day,
            starts_at: "2030-01-07T09:00:00Z".parse().unwrap(),
        };
        let mut walked = vec![confirm];
        while let Some(previous) = walked.last().and_then(Step::back) {
            walked.push(previous);
        }
        assert_eq!(
            walked[1..],
            [
                Step::Slot {
                    specialty,
                    doctor,
                    day
                },
                Step::Day { specialty, doctor },
                Step::Doctor { specialty },
                Step::Specialty,
            ]
        );
    }
}
