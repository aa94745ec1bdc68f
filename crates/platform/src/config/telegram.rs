//! Telegram, split by who needs what: the Bot API client's token and address
//! ([`TelegramApiConfig`]: the bot, the worker, `manage set-webhook`), how updates arrive
//! ([`TelegramMode`]: the bot, the webhook) and the webhook's secret ([`webhook_secret`]: the
//! webhook, `manage set-webhook`). The worker never reads the webhook secret, the webhook never
//! the bot token.

use super::{ConfigError, Env, FromEnv, HttpUrl, Secret, Source};

/// Where Telegram updates come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TelegramMode {
    /// The bot long-polls `getUpdates` (development; no public URL needed).
    Polling,
    /// Telegram posts to the webhook service, which hands updates to the bot through Redis.
    Webhook,
}

impl FromEnv for TelegramMode {
    const EXPECTED: &'static str = "polling or webhook";
    fn parse_env(raw: &str) -> Result<Self, String> {
        match raw.to_ascii_lowercase().as_str() {
            "polling" => Ok(Self::Polling),
            "webhook" => Ok(Self::Webhook),
            _ => Err("unknown mode".to_owned()),
        }
    }
}

/// The real Bot API; tgsim replaces it in development and tests.
pub const TELEGRAM_DEFAULT_API_URL: &str = "https://api.telegram.org";

impl TelegramMode {
    /// The variable it is read from.
    pub const VARIABLES: &[&str] = &["TELEGRAM_MODE"];

    /// Reads `TELEGRAM_MODE` (default `polling`).
    pub fn from_env<S: Source>(env: &Env<S>) -> Result<Self, ConfigError> {
        env.or("TELEGRAM_MODE", Self::Polling)
    }
}

/// The variable [`bot_token`] reads.
pub const BOT_TOKEN_VARIABLES: &[&str] = &["TELEGRAM_BOT_TOKEN"];

/// `TELEGRAM_BOT_TOKEN`, if set: `<bot id>:<secret>` from @BotFather.
pub fn bot_token<S: Source>(env: &Env<S>) -> Result<Option<Secret>, ConfigError> {
    Ok(env.optional::<BotToken>("TELEGRAM_BOT_TOKEN")?.map(|t| t.0))
}

/// The variable [`bot_username`] reads.
pub const BOT_USERNAME_VARIABLES: &[&str] = &["TELEGRAM_BOT_USERNAME"];

/// `TELEGRAM_BOT_USERNAME` (default `medsync_bot`), without `@`: for `t.me` links.
pub fn bot_username<S: Source>(env: &Env<S>) -> Result<String, ConfigError> {
    Ok(env
        .or(
            "TELEGRAM_BOT_USERNAME",
            BotUsername("medsync_bot".to_owned()),
        )?
        .0)
}

/// A Telegram bot username (5–32 characters of `A-Z a-z 0-9 _`, without `@`).
struct BotUsername(String);

impl FromEnv for BotUsername {
    const EXPECTED: &'static str = "the bot's username without @, e.g. medsync_bot";
    fn parse_env(raw: &str) -> Result<Self, String> {
        let name = raw.trim_start_matches('@');
        let ok = (5..=32).contains(&name.len())
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if ok {
            Ok(Self(name.to_owned()))
        } else {
            Err("not a bot username".to_owned())
        }
    }
}

/// The Bot API client's settings.
#[derive(Debug, Clone)]
pub struct TelegramApiConfig {
    /// `TELEGRAM_BOT_TOKEN`: from @BotFather. Unset: the services that talk to Telegram stay
    /// idle and say so in their log.
    pub bot_token: Option<Secret>,
    /// `TELEGRAM_API_URL` (default the real Bot API): `https://`, or `http://` to a loopback
    /// address, or anywhere with `TELEGRAM_API_ALLOW_HTTP=true` (development with tgsim).
    pub api_url: HttpUrl,
}

/// A Telegram webhook secret token: `A-Z a-z 0-9 _ -` (the Bot API's alphabet), at least 32
/// characters (ours: it is the only thing between the internet and the bot's input; the Bot
/// API allows 1) and at most 256 (the Bot API's limit).
struct WebhookSecret(Secret);

impl FromEnv for WebhookSecret {
    const EXPECTED: &'static str =
        "32 to 256 characters of A-Z, a-z, 0-9, _ and - (scripts/make-env.sh makes one)";
    const SECRET: bool = true;
    fn parse_env(raw: &str) -> Result<Self, String> {
        let ok = (32..=256).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok {
            Ok(Self(Secret::from(raw)))
        } else {
            Err("length or characters".to_owned())
        }
    }
}

/// A bot token as @BotFather issues it: `<bot id>:<secret>`.
struct BotToken(Secret);

impl FromEnv for BotToken {
    const EXPECTED: &'static str = "a bot token such as 123456789:AAE... (from @BotFather)";
    const SECRET: bool = true;
    fn parse_env(raw: &str) -> Result<Self, String> {
        match raw.split_once(':') {
            Some((id, rest))
                if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) && !rest.is_empty() =>
            {
                Ok(Self(Secret::from(raw)))
            }
            _ => Err("not of the form <digits>:<secret>".to_owned()),
        }
    }
}

/// The variable [`webhook_secret`] reads.
pub const WEBHOOK_SECRET_VARIABLES: &[&str] = &["TELEGRAM_WEBHOOK_SECRET"];

/// `TELEGRAM_WEBHOOK_SECRET`, if set: the `secret_token` Telegram echoes in
/// `X-Telegram-Bot-Api-Secret-Token`.
pub fn webhook_secret<S: Source>(env: &Env<S>) -> Result<Option<Secret>, ConfigError> {
    Ok(env
        .optional::<WebhookSecret>("TELEGRAM_WEBHOOK_SECRET")?
        .map(|s| s.0))
}

/// `TELEGRAM_WEBHOOK_SECRET`, which `needed_by` (`TELEGRAM_MODE=webhook`, `set-webhook`)
/// cannot do without: unset is an error that says so.
pub fn required_webhook_secret<S: Source>(
    env: &Env<S>,
    needed_by: &str,
) -> Result<Secret, ConfigError> {
    webhook_secret(env)?.ok_or_else(|| ConfigError {
        var: "TELEGRAM_WEBHOOK_SECRET",
        value: None,
        problem: format!("is not set but {needed_by} needs it"),
        expected: WebhookSecret::EXPECTED,
    })
}

/// Whether `url` is `https://`, or `http://` to a loopback address (a simulator on this host).
fn is_https_or_loopback(url: &reqwest::Url) -> bool {
    let loopback = url.host_str().is_some_and(|host| {
        host == "localhost"
            || host
                .trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    });
    url.scheme() == "https" || (url.scheme() == "http" && loopback)
}

impl TelegramApiConfig {
    /// The variables it is read from.
    pub const VARIABLES: &[&str] = &[
        "TELEGRAM_BOT_TOKEN",
        "TELEGRAM_API_URL",
        "TELEGRAM_API_ALLOW_HTTP",
    ];

    /// Reads the bot token and where the Bot API is.
    pub fn from_env<S: Source>(env: &Env<S>) -> Result<Self, ConfigError> {
        let api_url = env.or(
            "TELEGRAM_API_URL",
            HttpUrl(
                reqwest::Url::parse(TELEGRAM_DEFAULT_API_URL).map_err(|e| ConfigError {
                    var: "TELEGRAM_API_URL",
                    value: None,
                    problem: format!("has no valid default ({e})"),
                    expected: "an https:// URL",
                })?,
            ),
        )?;
        let allow_http = env.or("TELEGRAM_API_ALLOW_HTTP", false)?;
        if !allow_http && !is_https_or_loopback(&api_url.0) {
            return Err(ConfigError {
                var: "TELEGRAM_API_URL",
                value: Some(api_url.0.to_string()),
                problem: "is plain http: the bot token would cross the network in clear".to_owned(),
                expected: "an https:// URL (or set TELEGRAM_API_ALLOW_HTTP=true for a local \
                           simulator)",
            });
        }
        Ok(Self {
            bot_token: bot_token(env)?,
            api_url,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&'static str, &'static str)]) -> Env<HashMap<&'static str, &'static str>> {
        Env::new(pairs.iter().copied().collect())
    }

    #[test]
    fn a_short_webhook_secret_is_refused() {
        let secret = |value| webhook_secret(&env(&[("TELEGRAM_WEBHOOK_SECRET", value)]));
        let short = secret("only-31-characters-long-secret!");
        assert_eq!(short.unwrap_err().var, "TELEGRAM_WEBHOOK_SECRET");
        let short = secret("a-secret-of-31-characters-long_");
        assert_eq!(short.unwrap_err().var, "TELEGRAM_WEBHOOK_SECRET");
        let long = secret("a-secret-of-32-characters-long__");
        assert!(long.unwrap().is_some());
    }

    #[test]
    fn the_bot_api_is_reached_over_https_unless_local_or_allowed() {
        for url in [
            "https://api.telegram.org",
            "http://127.0.0.1:8090",
            "http://localhost:1",
            "http://[::1]:2",
        ] {
            let cfg = TelegramApiConfig::from_env(&env(&[("TELEGRAM_API_URL", url)]));
            assert!(cfg.is_ok(), "{url}: {cfg:?}");
        }
        let plain = TelegramApiConfig::from_env(&env(&[("TELEGRAM_API_URL", "http://tgsim:8090")]))
            .unwrap_err();
        assert_eq!(plain.var, "TELEGRAM_API_URL");
        assert!(
            plain.to_string().contains("TELEGRAM_API_ALLOW_HTTP"),
            "{plain}"
        );
        let allowed = TelegramApiConfig::from_env(&env(&[
            ("TELEGRAM_API_URL", "http://tgsim:8090"),
            ("TELEGRAM_API_ALLOW_HTTP", "true"),
        ]));
        assert!(allowed.is_ok(), "{allowed:?}");
    }

    #[test]
    fn a_required_webhook_secret_must_be_set() {
        let err = required_webhook_secret(&env(&[]), "TELEGRAM_MODE=webhook").unwrap_err();
        assert_eq!(err.var, "TELEGRAM_WEBHOOK_SECRET");
        assert!(
            err.to_string().contains("TELEGRAM_MODE=webhook needs it"),
            "{err}"
        );
        assert!(webhook_secret(&env(&[])).unwrap().is_none());
    }

    #[test]
    fn telegram_defaults_to_polling_the_real_bot_api() {
        let cfg = TelegramApiConfig::from_env(&env(&[])).unwrap();
        assert_eq!(
            TelegramMode::from_env(&env(&[])).unwrap(),
            TelegramMode::Polling
        );
        assert_eq!(cfg.api_url.0.as_str(), "https://api.telegram.org/");
        assert!(cfg.bot_token.is_none());
    }

    #[test]
    fn a_malformed_bot_token_is_rejected_without_echoing_it() {
        let err = TelegramApiConfig::from_env(&env(&[("TELEGRAM_BOT_TOKEN", "not-a-token")]))
            .unwrap_err();
        assert_eq!(err.var, "TELEGRAM_BOT_TOKEN");
        assert!(!err.to_string().contains("not-a-token"));
    }
}
