//! Webhook delivery: pending updates are POSTed to the bot's webhook with
//! `X-Telegram-Bot-Api-Secret-Token` and redelivered until it answers 2xx, as Telegram does.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::Simulator;
use crate::state::Webhook;
use crate::wire::now_secs;

impl Simulator {
    /// Posts pending updates to the bots' webhooks, oldest first, until each answers 2xx;
    /// a failed delivery is retried with a growing pause (1 s up to 30 s), as Telegram does.
    pub(crate) async fn deliver_webhooks(self, shutdown: CancellationToken) {
        let mut backoff: HashMap<String, (tokio::time::Instant, Duration)> = HashMap::new();
        loop {
            let notified = self.shared.updates.notified();
            let now = tokio::time::Instant::now();
            let due: Vec<(String, Webhook, Value)> = {
                let bots = self.lock();
                bots.iter()
                    .filter_map(|(token, bot)| {
                        let webhook = bot.webhook.clone()?;
                        let update = bot.pending.first()?.clone();
                        let ready = backoff.get(token).is_none_or(|(at, _)| *at <= now);
                        ready.then(|| (token.clone(), webhook, update))
                    })
                    .collect()
            };
            for (token, webhook, update) in due {
                let mut request = self.shared.http.post(&webhook.url).json(&update);
                if let Some(secret) = &webhook.secret_token {
                    request = request.header("X-Telegram-Bot-Api-Secret-Token", secret);
                }
                let outcome = match request.send().await {
                    Ok(r) if r.status().is_success() => Ok(()),
                    Ok(r) => Err(format!("Wrong response from the webhook: {}", r.status())),
                    Err(e) => Err(format!("Connection failed: {e}")),
                };
                let mut bots = self.lock();
                let Some(bot) = bots.get_mut(&token) else {
                    continue;
                };
                match outcome {
                    Ok(()) => {
                        bot.pending
                            .retain(|u| u["update_id"] != update["update_id"]);
                        backoff.remove(&token);
                    }
                    Err(message) => {
                        if let Some(webhook) = bot.webhook.as_mut() {
                            webhook.last_error = Some((now_secs(), message));
                        }
                        let pause = backoff
                            .get(&token)
                            .map_or(Duration::from_secs(1), |(_, p)| {
                                (*p * 2).min(Duration::from_secs(30))
                            });
                        backoff.insert(token.clone(), (tokio::time::Instant::now() + pause, pause));
                    }
                }
            }
            let has_more = {
                let bots = self.lock();
                bots.values()
                    .any(|b| b.webhook.is_some() && !b.pending.is_empty())
            };
            let wait = if has_more {
                Duration::from_millis(200)
            } else {
                Duration::from_secs(3600)
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = notified => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
}
