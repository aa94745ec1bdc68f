//! The Telegram client, built in one place, and what each Bot API error means.
//!
//! Every service that talks to Telegram (the bot, the worker, `manage set-webhook`) builds its
//! [`Bot`] with [`client`], so the HTTP timeouts are set once: a long poll asks Telegram to
//! hold `getUpdates` for [`POLL_TIMEOUT`], and the client waits [`REQUEST_TIMEOUT`], longer,
//! so a quiet chat is an empty answer and not a timeout. (teloxide's default client gives up
//! after 17 s, and its documentation asks for a client timeout above the poll timeout.)
//!
//! [`classify`] turns a failed request into what the caller should do next; the bot and the
//! worker act on the same classification. teloxide parses an error answer by its
//! `description` (it keeps no `error_code`), and Telegram's descriptions begin with the
//! status's reason phrase ("Bad Request: …", "Forbidden: …", "Too Many Requests: retry after
//! 5", "Internal Server Error"), so an error teloxide does not name is classified by that
//! prefix.

pub mod updates;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use medsync_platform::config::{HttpUrl, Secret};
use teloxide::{ApiError, Bot, RequestError};

/// How long `getUpdates` asks Telegram to hold a poll open while no update comes.
pub const POLL_TIMEOUT: Duration = Duration::from_secs(25);
/// How long one request to the Bot API may take, a long poll included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(45);
/// How long connecting to the Bot API may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

// A long poll that Telegram holds the full time must end before the client gives up on it,
// with room for a slow network.
const _: () = assert!(REQUEST_TIMEOUT.as_secs() >= POLL_TIMEOUT.as_secs() + 10);

/// The Telegram client for `token` at `api_url` (the real Bot API or tgsim).
pub fn client(token: &Secret, api_url: &HttpUrl) -> anyhow::Result<Bot> {
    let http = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .tcp_nodelay(true)
        .build()
        .context("building the Telegram HTTP client")?;
    Ok(Bot::with_client(token.expose(), http).set_api_url(api_url.0.clone()))
}

/// What a failed Bot API request means for the one who made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The recipient cannot be reached and will not be by retrying (blocked the bot,
    /// deactivated, no such chat): the message is dropped, with a note.
    Unreachable(String),
    /// Telegram refused the request itself (e.g. a malformed message): retrying the same
    /// request cannot succeed. An error of ours, for the operator.
    Rejected(String),
    /// Flood control: try again after this long.
    RetryAfter(Duration),
    /// The bot token is refused (401 Unauthorized, 404 Not Found): nothing will work until
    /// the operator fixes `TELEGRAM_BOT_TOKEN`. Retry with backoff.
    InvalidToken,
    /// Telegram or the network failed (5xx, a time-out, a refused connection, an answer that
    /// is not the Bot API's JSON): retry with backoff.
    Transient(String),
}

impl Failure {
    /// Whether the same request may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::RetryAfter(_) | Self::InvalidToken | Self::Transient(_)
        )
    }
}

/// What `error` means; see [`Failure`].
pub fn classify(error: &RequestError) -> Failure {
    match error {
        RequestError::RetryAfter(seconds) => Failure::RetryAfter(seconds.duration()),
        RequestError::Network(_) | RequestError::Io(_) | RequestError::InvalidJson { .. } => {
            Failure::Transient(error.to_string())
        }
        RequestError::MigrateToChatId(_) => Failure::Unreachable(error.to_string()),
        RequestError::Api(api) => classify_api(api),
    }
}

fn classify_api(error: &ApiError) -> Failure {
    match error {
        ApiError::InvalidToken => Failure::InvalidToken,
        ApiError::BotBlocked
        | ApiError::UserDeactivated
        | ApiError::ChatNotFound
        | ApiError::UserNotFound
        | ApiError::CantInitiateConversation
        | ApiError::CantTalkWithBots
        | ApiError::BotKicked
        | ApiError::BotKickedFromSupergroup
        | ApiError::BotKickedFromChannel
        | ApiError::GroupDeactivated => Failure::Unreachable(error.to_string()),
        ApiError::Unknown(description) => classify_description(description),
        // Every other named error is a "Bad Request" about the request's content.
        other => Failure::Rejected(other.to_string()),
    }
}

/// An error teloxide does not name, by its description's reason phrase.
fn classify_description(description: &str) -> Failure {
    let lower = description.to_ascii_lowercase();
    if lower.starts_with("too many requests") {
        // "Too Many Requests: retry after 5" (the parameter may be missing).
        let seconds = lower
            .rsplit(' ')
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
        return if seconds > 0 {
            Failure::RetryAfter(Duration::from_secs(seconds))
        } else {
            Failure::Transient(description.to_owned())
        };
    }
    if lower.starts_with("unauthorized") && !lower.contains(':') || lower == "not found" {
        return Failure::InvalidToken;
    }
    if lower.starts_with("forbidden") {
        return Failure::Unreachable(description.to_owned());
    }
    if lower.starts_with("bad request") {
        return Failure::Rejected(description.to_owned());
    }
    // 5xx reason phrases, a proxy's answer, anything new: Telegram's side, try again.
    Failure::Transient(description.to_owned())
}

/// Whether Telegram last accepted the bot token: readiness fails while it refuses it.
#[derive(Debug, Clone, Default)]
pub struct TokenHealth(Arc<AtomicBool>);

impl TokenHealth {
    /// Notes the outcome of a request: a refused token marks the health failed (and logs an
    /// error the first time), any other answer from Telegram marks it good again.
    pub fn observe<T>(&self, outcome: &Result<T, RequestError>) {
        match outcome {
            Err(error) if classify(error) == Failure::InvalidToken => {
                if !self.0.swap(true, Ordering::Relaxed) {
                    tracing::error!(
                        "Telegram refuses TELEGRAM_BOT_TOKEN (401/404): nothing reaches Telegram \
                         until it is replaced with the token from @BotFather"
                    );
                }
            }
            Err(RequestError::Network(_) | RequestError::Io(_)) => {}
            _ => {
                if self.0.swap(false, Ordering::Relaxed) {
                    tracing::info!("Telegram accepts the bot token again");
                }
            }
        }
    }

    /// `Ok` unless Telegram refused the token on the last answer; for `/readyz`.
    pub fn check(&self) -> Result<(), String> {
        if self.0.load(Ordering::Relaxed) {
            Err("Telegram refuses the bot token (401/404): set TELEGRAM_BOT_TOKEN".to_owned())
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_teloxide_does_not_name_are_classified_by_their_reason_phrase() {
        assert_eq!(
            classify_description("Too Many Requests: retry after 7"),
            Failure::RetryAfter(Duration::from_secs(7))
        );
        assert!(matches!(
            classify_description("Too Many Requests"),
            Failure::Transient(_)
        ));
        assert!(matches!(
            classify_description("Internal Server Error"),
            Failure::Transient(_)
        ));
        assert!(matches!(
            classify_description("Bad Gateway"),
            Failure::Transient(_)
        ));
        assert!(matches!(
            classify_description("Bad Request: message is too long"),
            Failure::Rejected(_)
        ));
        assert!(matches!(
            classify_description("Forbidden: bot was blocked by the group"),
            Failure::Unreachable(_)
        ));
        assert_eq!(classify_description("Unauthorized"), Failure::InvalidToken);
    }

    #[test]
    fn named_errors_map_to_their_class() {
        let api = |e: ApiError| classify(&RequestError::Api(e));
        assert_eq!(api(ApiError::InvalidToken), Failure::InvalidToken);
        assert!(matches!(api(ApiError::BotBlocked), Failure::Unreachable(_)));
        assert!(matches!(
            api(ApiError::ChatNotFound),
            Failure::Unreachable(_)
        ));
        assert!(matches!(
            api(ApiError::UserDeactivated),
            Failure::Unreachable(_)
        ));
        assert!(matches!(
            api(ApiError::MessageTextIsEmpty),
            Failure::Rejected(_)
        ));
        assert_eq!(
            classify(&RequestError::RetryAfter(
                teloxide::types::Seconds::from_seconds(3)
            )),
            Failure::RetryAfter(Duration::from_secs(3))
        );
    }

    #[test]
    fn a_token_refused_then_accepted_flips_readiness() {
        let health = TokenHealth::default();
        assert!(health.check().is_ok());
        health.observe::<()>(&Err(RequestError::Api(ApiError::InvalidToken)));
        assert!(health.check().is_err());
        health.observe::<()>(&Err(RequestError::Api(ApiError::BotBlocked)));
        assert!(health.check().is_ok());
    }
}
