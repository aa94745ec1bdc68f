//! `manage updates`: the Telegram updates the bot gave up on (dead letters) — list them, put
//! them back for the bot, or discard them. See `medsync_telegram::updates`.

use anyhow::Context as _;
use medsync_platform::config::RedisConfig;
use medsync_platform::redis::Redis;
use medsync_telegram::updates::{DeadLetter, DeadLetters};

/// Which dead letters a command acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// These ids (as `list` prints them).
    Ids(Vec<String>),
    /// Every one there is now.
    All,
}

fn letters(redis: &RedisConfig) -> anyhow::Result<DeadLetters> {
    let redis = Redis::connect(redis).context("REDIS_URL")?;
    Ok(DeadLetters::new(&redis))
}

fn line(letter: &DeadLetter) -> String {
    let show = |v: Option<i64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
    let failed_at = i64::try_from(letter.failed_at_ms)
        .ok()
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .map_or_else(|| "-".to_owned(), |t| t.to_string());
    format!(
        "{}  update {}  {:<14}  chat {}  attempts {}  from {}  failed_at {failed_at}\n    error: {}",
        letter.id,
        show(letter.update_id),
        letter.kind,
        show(letter.chat_id),
        letter.attempts,
        letter.origin,
        letter.error
    )
}

/// Prints the oldest `limit` dead letters (never their text) and the total.
pub async fn list(redis: &RedisConfig, limit: usize) -> anyhow::Result<()> {
    let dead = letters(redis)?;
    let items = dead.list(limit).await?;
    for letter in &items {
        println!("{}", line(letter));
    }
    println!("{} of {} dead update(s)", items.len(), dead.count().await?);
    Ok(())
}

async fn ids(dead: &DeadLetters, selection: Selection) -> anyhow::Result<Vec<String>> {
    Ok(match selection {
        Selection::Ids(ids) => ids,
        Selection::All => {
            let total = usize::try_from(dead.count().await?).unwrap_or(usize::MAX);
            dead.list(total).await?.into_iter().map(|l| l.id).collect()
        }
    })
}

/// Puts the selected dead letters back on the updates stream, for the bot to handle again.
/// An id that is not a dead letter (any more) is an error, after the others were replayed.
pub async fn replay(redis: &RedisConfig, selection: Selection) -> anyhow::Result<()> {
    let dead = letters(redis)?;
    let mut missing = Vec::new();
    let mut replayed = 0_usize;
    for id in ids(&dead, selection).await? {
        match dead.replay(&id).await? {
            Some(entry) => {
                replayed += 1;
                println!("{id}: replayed as {entry}");
            }
            None => missing.push(id),
        }
    }
    println!("{replayed} update(s) replayed");
    if missing.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("no dead letter {}", missing.join(", "))
    }
}

/// Deletes the selected dead letters for good.
pub async fn discard(redis: &RedisConfig, selection: Selection) -> anyhow::Result<()> {
    let dead = letters(redis)?;
    let mut missing = Vec::new();
    let mut discarded = 0_usize;
    for id in ids(&dead, selection).await? {
        if dead.discard(&id).await? {
            discarded += 1;
        } else {
            missing.push(id);
        }
    }
    println!("{discarded} update(s) discarded");
    if missing.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("no dead letter {}", missing.join(", "))
    }
}
