//! Taking Telegram updates from the Redis stream the webhook writes (production), as one
//! consumer of a consumer group: every bot replica reads different entries; an entry is
//! acknowledged only after it was handled; entries a dead consumer had taken are claimed back
//! after `claim_idle` and handled by a live one. A handler that fails leaves its entry pending,
//! so it is tried again later rather than lost, up to [`MAX_ATTEMPTS`] deliveries (Redis
//! counts them, so a bot that crashes on an update counts too); then the entry moves to the
//! dead letters ([`medsync_telegram::updates`]). A handled entry is acknowledged and deleted
//! at once: patients' messages do not stay in Redis and its append-only file.

use std::future::Future;
use std::time::Duration;
use tracing::Instrument;

use anyhow::Context as _;
use medsync_platform::redis::Redis;
use medsync_telegram::updates::{DeadLetters, MAX_ATTEMPTS};
use redis::streams::{
    StreamAutoClaimReply, StreamId, StreamPendingCountReply, StreamPendingReply, StreamReadOptions,
    StreamReadReply,
};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How often the pending and dead-letter counts are measured for the metrics.
const MEASURE_EVERY: Duration = Duration::from_secs(15);

/// One consumer of the updates stream.
#[derive(Debug, Clone)]
pub struct StreamConsumer {
    redis: Redis,
    stream: String,
    group: String,
    consumer: String,
    /// An entry pending this long with another consumer is taken over.
    pub claim_idle: Duration,
    /// Entries read at once.
    pub batch: usize,
    /// Deliveries of one entry before it becomes a dead letter.
    pub max_attempts: u32,
    dead: DeadLetters,
}

impl StreamConsumer {
    /// Consumer `consumer` of group `group` on `stream`.
    pub fn new(redis: Redis, stream: String, group: &str, consumer: &str) -> Self {
        Self {
            dead: DeadLetters::new(&redis),
            redis,
            stream,
            group: group.to_owned(),
            consumer: consumer.to_owned(),
            claim_idle: Duration::from_secs(60),
            batch: 16,
            max_attempts: MAX_ATTEMPTS,
        }
    }

    /// This consumer's name in the group.
    pub fn consumer(&self) -> &str {
        &self.consumer
    }

    /// Creates the group (and the stream) if missing; a group created now starts with the
    /// entries already in the stream, so none written before the first bot started is skipped.
    pub async fn ensure_group(&self) -> anyhow::Result<()> {
        let mut conn = self.redis.conn.clone();
        let created: redis::RedisResult<()> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&self.stream)
            .arg(&self.group)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut conn)
            .await;
        match created {
            Ok(()) => Ok(()),
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            Err(e) => Err(e).context("creating the consumer group"),
        }
    }

    /// Handles entries until `shutdown`: first those abandoned by dead consumers, then new
    /// ones, blocking at most a second at a time so that shutdown is noticed promptly.
    /// `handle` gets the raw update JSON. Redis going away pauses the loop (retrying with a
    /// growing delay) rather than ending it.
    pub async fn run<F, Fut>(&self, shutdown: CancellationToken, handle: F) -> anyhow::Result<()>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = anyhow::Result<()>>,
    {
        let mut failures: u32 = 0;
        while !shutdown.is_cancelled() {
            match self.consume(&shutdown, &handle).await {
                Ok(()) => break,
                Err(error) => {
                    failures = failures.saturating_add(1);
                    let pause = Duration::from_millis(250 << failures.min(5));
                    tracing::warn!(
                        error = format!("{error:#}"),
                        retry_in_ms = pause.as_millis(),
                        "reading the updates stream failed"
                    );
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(pause) => {}
                    }
                }
            }
        }
        Ok(())
    }

    async fn consume<F, Fut>(&self, shutdown: &CancellationToken, handle: &F) -> anyhow::Result<()>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = anyhow::Result<()>>,
    {
        self.ensure_group().await?;
        let mut blocking = self
            .redis
            .dedicated()
            .await
            .context("connecting to Redis")?;
        let mut measured: Option<Instant> = None;
        while !shutdown.is_cancelled() {
            if measured.is_none_or(|at| at.elapsed() >= MEASURE_EVERY) {
                self.measure().await?;
                measured = Some(Instant::now());
            }
            let reclaimed = self.reclaim().await?;
            self.handle_all(&reclaimed, handle, false).await?;
            let options = StreamReadOptions::default()
                .group(&self.group, &self.consumer)
                .count(self.batch)
                .block(1000);
            let keys = [self.stream.as_str()];
            let read = redis::AsyncCommands::xread_options(&mut blocking, &keys, &[">"], &options);
            let reply: StreamReadReply = tokio::select! {
                () = shutdown.cancelled() => break,
                reply = read => reply.context("reading the updates stream")?,
            };
            for key in reply.keys {
                self.handle_all(&key.ids, handle, true).await?;
            }
        }
        Ok(())
    }

    /// Takes over the entries that have been pending with any consumer for `claim_idle`.
    pub async fn reclaim(&self) -> anyhow::Result<Vec<StreamId>> {
        let mut conn = self.redis.conn.clone();
        let reply: StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
            .arg(&self.stream)
            .arg(&self.group)
            .arg(&self.consumer)
            .arg(u64::try_from(self.claim_idle.as_millis()).unwrap_or(u64::MAX))
            .arg("0-0")
            .arg("COUNT")
            .arg(self.batch)
            .query_async(&mut conn)
            .await
            .context("claiming abandoned updates")?;
        if !reply.claimed.is_empty() {
            tracing::info!(
                count = reply.claimed.len(),
                "took over updates a stopped consumer had not finished"
            );
        }
        Ok(reply.claimed)
    }

    /// Sets `medsync_bot_updates_pending` (taken, not yet handled: alert when it grows) and
    /// `medsync_bot_dead_letters`.
    async fn measure(&self) -> anyhow::Result<()> {
        let mut conn = self.redis.conn.clone();
        let pending: StreamPendingReply =
            redis::AsyncCommands::xpending(&mut conn, &self.stream, &self.group)
                .await
                .context("counting pending updates")?;
        let dead = self.dead.count().await?;
        #[allow(clippy::cast_precision_loss)]
        {
            metrics::gauge!("medsync_bot_updates_pending").set(pending.count() as f64);
            metrics::gauge!("medsync_bot_dead_letters").set(dead as f64);
        }
        Ok(())
    }

    /// How many times entry `id` was delivered, or `None` when it is no longer pending.
    async fn deliveries(&self, id: &str) -> anyhow::Result<Option<u32>> {
        let mut conn = self.redis.conn.clone();
        let reply: StreamPendingCountReply =
            redis::AsyncCommands::xpending_count(&mut conn, &self.stream, &self.group, id, id, 1)
                .await
                .context("reading an update's deliveries")?;
        Ok(reply
            .ids
            .first()
            .map(|p| u32::try_from(p.times_delivered).unwrap_or(u32::MAX)))
    }

    /// Handles `entries` in order (one chat's updates in the order Telegram sent them).
    /// `fresh` entries were just read, so delivered once; reclaimed ones are counted by Redis.
    async fn handle_all<F, Fut>(
        &self,
        entries: &[StreamId],
        handle: &F,
        fresh: bool,
    ) -> anyhow::Result<()>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = anyhow::Result<()>>,
    {
        for entry in entries {
            let update: Option<String> = entry.get("update");
            let Some(update) = update else {
                tracing::warn!(id = entry.id, "stream entry without an update; dropping it");
                self.ack(&entry.id).await?;
                continue;
            };
            let deliveries = if fresh {
                1
            } else {
                match self.deliveries(&entry.id).await? {
                    Some(n) => n,
                    // Handled and acknowledged by another consumer meanwhile.
                    None => continue,
                }
            };
            if deliveries > self.max_attempts {
                let error = format!(
                    "delivered {deliveries} times and never finished: the bot stopped while \
                     handling it each time"
                );
                self.dead
                    .take_from_stream(&self.group, &entry.id, &update, &error, deliveries)
                    .await?;
                continue;
            }
            // Handled under the id of the webhook request that brought it (older entries have
            // none: the update's own id then).
            let request_id: Option<String> = entry.get("request_id");
            let request_id = request_id
                .filter(|id| !id.is_empty())
                .unwrap_or_else(|| format!("stream-{}", entry.id));
            // As a trace (when traces are exported) it continues the webhook request's.
            let span = tracing::info_span!(
                "stream entry",
                entry = %entry.id,
                otel.name = "telegram update",
                otel.kind = "consumer",
            );
            let traceparent: Option<String> = entry.get("traceparent");
            medsync_platform::traces::continue_trace(&span, traceparent.as_deref(), None);
            let handled = medsync_domain::correlation::scope(
                request_id,
                Box::pin(handle(update.clone()).instrument(span)),
            )
            .await;
            match handled {
                Ok(()) => self.ack(&entry.id).await?,
                Err(error) if deliveries >= self.max_attempts => {
                    self.dead
                        .take_from_stream(
                            &self.group,
                            &entry.id,
                            &update,
                            &format!("{error:#}"),
                            deliveries,
                        )
                        .await?;
                }
                Err(error) => {
                    tracing::warn!(
                        id = entry.id,
                        attempt = deliveries,
                        max_attempts = self.max_attempts,
                        error = format!("{error:#}"),
                        "update not handled; it stays pending and will be retried"
                    );
                }
            }
        }
        Ok(())
    }

    /// Acknowledges entry `id` and deletes it from the stream, in one transaction.
    async fn ack(&self, id: &str) -> anyhow::Result<()> {
        let mut conn = self.redis.conn.clone();
        redis::pipe()
            .atomic()
            .cmd("XACK")
            .arg(&self.stream)
            .arg(&self.group)
            .arg(id)
            .ignore()
            .cmd("XDEL")
            .arg(&self.stream)
            .arg(id)
            .ignore()
            .query_async::<()>(&mut conn)
            .await
            .context("acknowledging an update")?;
        Ok(())
    }
}
