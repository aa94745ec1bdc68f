//! The Telegram bot: conversations for finding a doctor, booking, listing and cancelling.
//! Updates come by long polling (development) or from the webhook's Redis stream (production).
//!
//! [`build`] returns an [`App`] bound to its health port, so tests start the very same
//! application the binary runs.

mod config;
pub mod conversation;
pub mod dialogue;
pub mod polling;
pub mod stream;

use std::sync::Arc;

use axum::Router;
use medsync_platform::app::App;
use medsync_platform::config::TelegramMode;
use medsync_platform::infra::Infra;
use medsync_platform::service::Spec;
use medsync_telegram::updates::DeadLetters;
use teloxide::Bot;
use tokio_util::sync::CancellationToken;

use crate::conversation::{Conversation, Settings};
use crate::dialogue::Store;
use crate::stream::StreamConsumer;

pub use config::Config;

/// The bot service.
pub const SPEC: Spec = Spec {
    name: "bot",
    about: "MedSync Telegram bot",
    listen_var: "BOT_LISTEN_ADDR",
    default_port: 8082,
};

/// Connects (lazily) and binds the health listen address.
pub async fn build(config: Config) -> anyhow::Result<App> {
    let infra = Infra::connect(&config.base)?;
    build_with(config, infra).await
}

/// [`build`] with connections made by the caller (tests pass a fresh database).
pub async fn build_with(config: Config, infra: Infra) -> anyhow::Result<App> {
    let Some(token) = &config.telegram.bot_token else {
        let app = App::bind(&config.base.http, infra.readiness(), Router::new()).await?;
        return Ok(app.with_task("updates", |shutdown| async move {
            tracing::warn!("TELEGRAM_BOT_TOKEN is not set: the bot takes no updates");
            shutdown.cancelled().await;
            Ok(())
        }));
    };
    let bot = medsync_telegram::client(token, &config.telegram.api_url)?;
    let conversation = Arc::new(Conversation::new(
        bot.clone(),
        infra.db.clone(),
        Store::new(infra.redis.clone(), config.dialogue_ttl),
        Settings {
            rules: config.rules.clone(),
            booking_days: config.booking_days,
            web_app: config.web_app.clone().map(|u| u.0),
        },
    ));
    let token = conversation.token_health();
    let readiness = infra
        .readiness()
        .with_check("telegram", move || token.check());
    let app = App::bind(&config.base.http, readiness, Router::new()).await?;
    // Exported from the start at 0 (the recorder exists once bound): the dashboard's rate of
    // handled updates is 0, not absent, after a restart.
    for outcome in ["handled", "dropped"] {
        metrics::counter!("medsync_bot_updates_total", "outcome" => outcome).increment(0);
    }
    metrics::counter!("medsync_bot_bookings_total").increment(0);
    let mut consumer = StreamConsumer::new(
        infra.redis.clone(),
        infra.redis.keys().telegram_updates(),
        "bots",
        &config.consumer_name,
    );
    consumer.claim_idle = config.claim_idle;
    let source = match config.mode {
        TelegramMode::Polling => UpdateSource::Polling {
            bot,
            dead: Box::new(DeadLetters::new(&infra.redis)),
            replays: Box::new(consumer),
        },
        TelegramMode::Webhook => UpdateSource::Stream(Box::new(consumer)),
    };
    Ok(app.with_task("updates", move |shutdown| {
        take_updates(conversation, source, shutdown)
    }))
}

/// Where updates come from.
enum UpdateSource {
    /// `getUpdates`; the stream carries only dead letters an operator replays.
    Polling {
        bot: Bot,
        dead: Box<DeadLetters>,
        replays: Box<StreamConsumer>,
    },
    /// The webhook's stream.
    Stream(Box<StreamConsumer>),
}

async fn take_updates(
    conversation: Arc<Conversation>,
    source: UpdateSource,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    match conversation.register_commands().await {
        Ok(()) => tracing::info!("commands registered"),
        Err(error) => tracing::warn!(%error, "could not register the commands"),
    }
    let from_stream = |consumer: Box<StreamConsumer>, shutdown: CancellationToken| {
        let conversation = conversation.clone();
        async move {
            consumer
                .run(shutdown, |update| {
                    let conversation = conversation.clone();
                    async move { conversation.handle_json(&update).await }
                })
                .await
        }
    };
    match source {
        UpdateSource::Polling { bot, dead, replays } => {
            tracing::info!("taking updates by long polling");
            let polling = polling::run(bot, conversation.clone(), *dead, shutdown.clone());
            let replayed = from_stream(replays, shutdown);
            tokio::try_join!(polling, replayed).map(|_| ())
        }
        UpdateSource::Stream(consumer) => {
            tracing::info!(
                consumer = consumer.consumer(),
                "taking updates from the webhook's stream"
            );
            from_stream(consumer, shutdown).await
        }
    }
}
