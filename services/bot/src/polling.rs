//! Long polling `getUpdates` (development, or a deployment without a public URL).
//!
//! Telegram forgets an update only when a later `getUpdates` asks for an offset past it, so
//! the offset moves past an update only after it was handled: a bot killed mid-update gets
//! it again when it starts. Updates are handled one at a time, in order.
//!
//! Telegram holds each `getUpdates` for [`POLL_TIMEOUT`] while nothing happens, and the
//! client (built by [`medsync_telegram::client`]) waits longer than that, so a quiet chat
//! costs nothing. A poll that times out anyway (a slow network) is asked again at once, not
//! counted as a failure: only Telegram's errors and broken connections back off.
//!
//! An update that fails [`MAX_ATTEMPTS`] times is kept as a dead letter, the same policy as
//! the webhook's stream ([`medsync_telegram::updates`]), and polling goes on.

use std::sync::Arc;

use medsync_telegram::POLL_TIMEOUT;
use medsync_telegram::updates::{DeadLetters, MAX_ATTEMPTS};
use teloxide::RequestError;
use teloxide::prelude::*;
use teloxide::types::AllowedUpdate;
use tokio_util::sync::CancellationToken;

use crate::conversation::{Conversation, retry_delay};

/// Polls and handles updates until `shutdown`.
pub async fn run(
    bot: Bot,
    conversation: Arc<Conversation>,
    dead: DeadLetters,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    // getUpdates is refused while a webhook is set: polling mode means no webhook.
    if let Err(error) = bot.delete_webhook().await {
        tracing::warn!(%error, "could not remove a webhook before polling");
    }
    let mut offset: i32 = 0;
    let mut failures: u32 = 0;
    let poll_seconds = u32::try_from(POLL_TIMEOUT.as_secs()).unwrap_or(25);
    let token = conversation.token_health();
    while !shutdown.is_cancelled() {
        let request = bot
            .get_updates()
            .offset(offset)
            .timeout(poll_seconds)
            .allowed_updates(vec![AllowedUpdate::Message, AllowedUpdate::CallbackQuery]);
        let updates = tokio::select! {
            () = shutdown.cancelled() => break,
            updates = request.send() => updates,
        };
        token.observe(&updates);
        let updates = match updates {
            Ok(updates) => {
                failures = 0;
                updates
            }
            Err(RequestError::Network(error)) if error.is_timeout() => {
                tracing::debug!(%error, "a long poll timed out; polling again");
                continue;
            }
            Err(error) => {
                failures += 1;
                tracing::warn!(%error, failures, "getUpdates failed; retrying");
                pause(&shutdown, failures).await;
                continue;
            }
        };
        for update in updates {
            let id = update.id.0;
            handle_with_retries(&conversation, &dead, update, &shutdown).await;
            if shutdown.is_cancelled() {
                // Not handled (or handled but the offset is not confirmed): the next bot
                // gets it again, and the "handled" mark keeps it from being handled twice.
                break;
            }
            offset = i32::try_from(id).unwrap_or(i32::MAX).saturating_add(1);
        }
    }
    Ok(())
}

async fn handle_with_retries(
    conversation: &Conversation,
    dead: &DeadLetters,
    update: Update,
    shutdown: &CancellationToken,
) {
    let id = update.id.0;
    for attempt in 1..=MAX_ATTEMPTS {
        match conversation.handle(update.clone()).await {
            Ok(()) => return,
            Err(error) if attempt < MAX_ATTEMPTS => {
                tracing::warn!(
                    update_id = id,
                    attempt,
                    error = format!("{error:#}"),
                    "update not handled; trying again"
                );
                pause(shutdown, attempt).await;
                if shutdown.is_cancelled() {
                    return;
                }
            }
            Err(error) => {
                let raw = serde_json::to_string(&update).unwrap_or_default();
                let kept = dead.add(&raw, &format!("{error:#}"), MAX_ATTEMPTS).await;
                if let Err(lost) = kept {
                    metrics::counter!("medsync_bot_updates_total", "outcome" => "dropped")
                        .increment(1);
                    tracing::error!(
                        update_id = id,
                        attempts = MAX_ATTEMPTS,
                        error = format!("{error:#}"),
                        dead_letter_error = format!("{lost:#}"),
                        "giving up on an update, and it could not be kept as a dead letter"
                    );
                }
            }
        }
    }
}

async fn pause(shutdown: &CancellationToken, attempt: u32) {
    tokio::select! {
        () = shutdown.cancelled() => {}
        () = tokio::time::sleep(retry_delay(attempt)) => {}
    }
}
