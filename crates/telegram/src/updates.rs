//! Telegram updates the bot gave up on: one policy for polling and for the webhook's stream.
//!
//! An update is tried at most [`MAX_ATTEMPTS`] times. Then it goes to the dead-letter stream
//! (`<prefix>:tg:updates:dead`) with the last error, how many times it was tried and where it
//! came from; a metric (`medsync_bot_updates_total{outcome="dead"}`) and an error log line say
//! so. An operator lists them and puts them back with `manage updates list|replay|discard`:
//! a replayed update is added to the updates stream, which the bot reads in both modes.
//!
//! Dead letters are kept until replayed or discarded, bounded at about [`DEAD_LETTERS_MAXLEN`]
//! entries (oldest trimmed first), so a storm of bad updates cannot fill Redis. Listing shows
//! ids, kinds and errors, never the message text: the patients' words stay in Redis only.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use medsync_platform::redis::Redis;
use redis::streams::{StreamId, StreamRangeReply};
use serde::Serialize;

/// Attempts at one update before it becomes a dead letter (polling and the stream alike).
pub const MAX_ATTEMPTS: u32 = 6;

/// About this many dead letters are kept.
pub const DEAD_LETTERS_MAXLEN: u64 = 10_000;

/// Where a dead letter came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// `getUpdates` (polling mode).
    Polling,
    /// The webhook's stream; the entry's id there.
    Stream,
}

impl Origin {
    fn as_str(self) -> &'static str {
        match self {
            Self::Polling => "polling",
            Self::Stream => "stream",
        }
    }
}

/// A dead letter as an operator sees it (no message text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadLetter {
    /// Its id in the dead-letter stream (give it to `replay` or `discard`).
    pub id: String,
    /// Telegram's `update_id`, when the update could be read.
    pub update_id: Option<i64>,
    /// `message`, `callback_query`, … or `unreadable`.
    pub kind: String,
    /// The chat, when there is one.
    pub chat_id: Option<i64>,
    /// How many times it was tried.
    pub attempts: u32,
    /// The last error.
    pub error: String,
    /// `polling` or `stream`.
    pub origin: String,
    /// When it was given up, Unix milliseconds.
    pub failed_at_ms: u64,
}

/// The dead-letter stream and the updates stream it replays into.
#[derive(Debug, Clone)]
pub struct DeadLetters {
    redis: Redis,
    dead: String,
    updates: String,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `XADD <dead> MAXLEN ~ n * …` with the letter's fields.
fn add_command(dead: &str, update: &str, error: &str, attempts: u32, origin: Origin) -> redis::Cmd {
    let mut cmd = redis::cmd("XADD");
    cmd.arg(dead)
        .arg("MAXLEN")
        .arg("~")
        .arg(DEAD_LETTERS_MAXLEN)
        .arg("*")
        .arg("update")
        .arg(update)
        .arg("error")
        .arg(error)
        .arg("attempts")
        .arg(attempts)
        .arg("origin")
        .arg(origin.as_str())
        .arg("failed_at_ms")
        .arg(now_ms());
    cmd
}

fn record(update: &str, error: &str, attempts: u32, origin: Origin) {
    metrics::counter!("medsync_bot_updates_total", "outcome" => "dead").increment(1);
    let (update_id, kind, _) = describe(update);
    tracing::error!(
        update_id,
        kind,
        attempts,
        origin = origin.as_str(),
        error,
        "giving up on an update; it is kept as a dead letter (manage updates list)"
    );
}

/// `(update_id, kind, chat_id)` of a raw update, as far as it can be read.
fn describe(update: &str) -> (Option<i64>, String, Option<i64>) {
    let Ok(serde_json::Value::Object(fields)) = serde_json::from_str::<serde_json::Value>(update)
    else {
        return (None, "unreadable".to_owned(), None);
    };
    let update_id = fields.get("update_id").and_then(serde_json::Value::as_i64);
    let Some((kind, body)) = fields.iter().find(|(k, _)| k.as_str() != "update_id") else {
        return (update_id, "empty".to_owned(), None);
    };
    let chat = body
        .pointer("/chat/id")
        .or_else(|| body.pointer("/message/chat/id"))
        .and_then(serde_json::Value::as_i64);
    (update_id, kind.clone(), chat)
}

impl DeadLetters {
    /// The dead letters of this deployment's key prefix.
    pub fn new(redis: &Redis) -> Self {
        Self {
            redis: redis.clone(),
            dead: redis.keys().telegram_dead_updates(),
            updates: redis.keys().telegram_updates(),
        }
    }

    /// Keeps an update polling gave up on.
    pub async fn add(&self, update: &str, error: &str, attempts: u32) -> anyhow::Result<()> {
        let mut conn = self.redis.conn.clone();
        add_command(&self.dead, update, error, attempts, Origin::Polling)
            .query_async::<String>(&mut conn)
            .await
            .context("keeping a dead letter")?;
        record(update, error, attempts, Origin::Polling);
        Ok(())
    }

    /// Moves entry `entry_id` of the updates stream, pending in `group`, to the dead letters:
    /// added there, acknowledged and deleted in one transaction, so it is never in both or in
    /// neither.
    pub async fn take_from_stream(
        &self,
        group: &str,
        entry_id: &str,
        update: &str,
        error: &str,
        attempts: u32,
    ) -> anyhow::Result<()> {
        let mut conn = self.redis.conn.clone();
        redis::pipe()
            .atomic()
            .add_command(add_command(
                &self.dead,
                update,
                error,
                attempts,
                Origin::Stream,
            ))
            .ignore()
            .cmd("XACK")
            .arg(&self.updates)
            .arg(group)
            .arg(entry_id)
            .ignore()
            .cmd("XDEL")
            .arg(&self.updates)
            .arg(entry_id)
            .ignore()
            .query_async::<()>(&mut conn)
            .await
            .context("moving an update to the dead letters")?;
        record(update, error, attempts, Origin::Stream);
        Ok(())
    }

    /// How many dead letters there are.
    pub async fn count(&self) -> anyhow::Result<u64> {
        let mut conn = self.redis.conn.clone();
        redis::cmd("XLEN")
            .arg(&self.dead)
            .query_async(&mut conn)
            .await
            .context("counting the dead letters")
    }

    /// The oldest `limit` dead letters.
    pub async fn list(&self, limit: usize) -> anyhow::Result<Vec<DeadLetter>> {
        let mut conn = self.redis.conn.clone();
        let reply: StreamRangeReply = redis::cmd("XRANGE")
            .arg(&self.dead)
            .arg("-")
            .arg("+")
            .arg("COUNT")
            .arg(limit)
            .query_async(&mut conn)
            .await
            .context("reading the dead letters")?;
        Ok(reply.ids.iter().map(letter).collect())
    }

    /// Puts dead letter `id` back on the updates stream (the bot handles it again) and removes
    /// it, atomically. Returns the new entry's id, or `None` when there is no such letter.
    pub async fn replay(&self, id: &str) -> anyhow::Result<Option<String>> {
        let mut conn = self.redis.conn.clone();
        REPLAY
            .key(&self.dead)
            .key(&self.updates)
            .arg(id)
            .invoke_async::<Option<String>>(&mut conn)
            .await
            .context("replaying a dead letter")
    }

    /// Removes dead letter `id`; whether it existed.
    pub async fn discard(&self, id: &str) -> anyhow::Result<bool> {
        let mut conn = self.redis.conn.clone();
        let removed: u64 = redis::cmd("XDEL")
            .arg(&self.dead)
            .arg(id)
            .query_async(&mut conn)
            .await
            .context("discarding a dead letter")?;
        Ok(removed > 0)
    }
}

fn letter(entry: &StreamId) -> DeadLetter {
    let update: String = entry.get("update").unwrap_or_default();
    let (update_id, kind, chat_id) = describe(&update);
    DeadLetter {
        id: entry.id.clone(),
        update_id,
        kind,
        chat_id,
        attempts: entry.get("attempts").unwrap_or_default(),
        error: entry.get("error").unwrap_or_default(),
        origin: entry.get("origin").unwrap_or_default(),
        failed_at_ms: entry.get("failed_at_ms").unwrap_or_default(),
    }
}

/// Reads a dead letter, adds its update to the updates stream and deletes it: one step, so
/// two operators replaying the same letter add it once.
static REPLAY: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        r"
        local entries = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
        if #entries == 0 then return false end
        local fields = entries[1][2]
        local update = nil
        for i = 1, #fields, 2 do
            if fields[i] == 'update' then update = fields[i + 1] end
        end
        redis.call('XDEL', KEYS[1], ARGV[1])
        if update == nil then return false end
        return redis.call('XADD', KEYS[2], '*', 'update', update)
        ",
    )
});

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn an_update_is_described_without_its_text() {
        let message = r#"{"update_id":7,"message":{"message_id":1,"chat":{"id":42,"type":"private"},"text":"secret"}}"#;
        assert_eq!(describe(message), (Some(7), "message".to_owned(), Some(42)));
        let button = r#"{"update_id":8,"callback_query":{"id":"q","message":{"chat":{"id":43}}}}"#;
        assert_eq!(
            describe(button),
            (Some(8), "callback_query".to_owned(), Some(43))
        );
        assert_eq!(describe("not json"), (None, "unreadable".to_owned(), None));
    }
}
