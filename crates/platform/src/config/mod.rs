//! Typed configuration, read from the environment once at start.
//!
//! Every service describes what it needs as a struct made of the pieces below
//! ([`HttpConfig`], [`DatabaseConfig`], [`RedisConfig`], [`TelemetryConfig`],
//! [`TelegramApiConfig`], the clinic's [`booking_rules`]) and builds it with [`Env`]. A missing
//! or malformed variable stops the service with a [`ConfigError`] that names the variable and
//! says what is expected; the value of a secret variable is never repeated in that message, nor
//! in `Debug` output.
//!
//! Each configuration also names every variable it reads ([`Configuration::variables`], the
//! pieces' `VARIABLES`): that list is what each service's tests check against `.env.template`,
//! and [`Recording`] lets a test see that `from_env` read nothing the list does not name.
//!
//! Why not a configuration crate: `envy`/`figment` report serde errors ("invalid type: string,
//! expected u16") that name neither the variable nor what a valid value looks like, and print
//! the offending value, secrets included. The few lines here do what crates.io does in its own
//! `config` module: one helper per shape of variable, each failure worded for an operator.

mod clinic;
mod service;
mod telegram;
mod traces;
mod values;

pub use clinic::{BOOKING_RULES_VARIABLES, ClinicTimeZone, Durations, booking_rules};
pub use service::{
    DatabaseConfig, DatabaseUrl, HttpConfig, LogFormat, RedisConfig, RedisUrl, TelemetryConfig,
};
pub use telegram::{
    BOT_TOKEN_VARIABLES, BOT_USERNAME_VARIABLES, TELEGRAM_DEFAULT_API_URL, TelegramApiConfig,
    TelegramMode, WEBHOOK_SECRET_VARIABLES, bot_token, bot_username, required_webhook_secret,
    webhook_secret,
};
pub use traces::{OtlpHeaders, TracesConfig};
pub use values::{HttpUrl, Seconds, Secret};

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::str::FromStr;

/// What `.env.template` puts where a secret must go: a secret still holding it is refused, so a
/// deployment cannot run on the template's values by mistake.
pub const PLACEHOLDER: &str = "change-me";

/// A variable that is missing or does not parse.
#[derive(Debug, thiserror::Error)]
#[error("{var}{} {problem}: expected {expected}", value.as_ref().map(|v| format!("={v:?}")).unwrap_or_default())]
pub struct ConfigError {
    /// The environment variable's name, e.g. `DATABASE_URL`.
    pub var: &'static str,
    /// The offending value, when it may be shown (never for secrets).
    pub value: Option<String>,
    /// What is wrong with it, worded to follow the name ("is not set").
    pub problem: String,
    /// What a valid value looks like.
    pub expected: &'static str,
}

/// Where variables come from: the process environment in services, a map in tests (so tests
/// never mutate the process environment, which is `unsafe` and racy across threads).
pub trait Source {
    /// The raw value of `var`, if set.
    fn get(&self, var: &str) -> Option<String>;
}

/// A service's whole configuration: how it is read, and every variable it may read.
pub trait Configuration: Sized {
    /// Every variable [`Configuration::from_env`] may read, on any path through it.
    fn variables() -> Vec<&'static str>;

    /// Reads and checks it; the error names the first variable that is wrong.
    fn from_env<S: Source>(env: &Env<S>) -> Result<Self, ConfigError>;
}

/// A [`Source`] that remembers which variables were asked for: a test reads a configuration
/// through it and compares what was asked with what the configuration declares.
#[derive(Debug, Default)]
pub struct Recording<S> {
    source: S,
    asked: std::sync::Mutex<BTreeSet<String>>,
}

impl<S> Recording<S> {
    /// Wraps `source`.
    pub fn new(source: S) -> Self {
        Self {
            source,
            asked: std::sync::Mutex::default(),
        }
    }

    /// The variables asked for so far.
    pub fn asked(&self) -> BTreeSet<String> {
        self.asked.lock().map(|a| a.clone()).unwrap_or_default()
    }
}

impl<S: Source> Source for Recording<S> {
    fn get(&self, var: &str) -> Option<String> {
        if let Ok(mut asked) = self.asked.lock() {
            asked.insert(var.to_owned());
        }
        self.source.get(var)
    }
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Source for ProcessEnv {
    fn get(&self, var: &str) -> Option<String> {
        std::env::var(var).ok()
    }
}

impl<K, V> Source for HashMap<K, V>
where
    K: std::borrow::Borrow<str> + std::hash::Hash + Eq,
    V: AsRef<str>,
{
    fn get(&self, var: &str) -> Option<String> {
        HashMap::get(self, var).map(|v| v.as_ref().to_owned())
    }
}

/// A value that can be read from one environment variable.
pub trait FromEnv: Sized {
    /// What a valid value looks like, for the error message.
    const EXPECTED: &'static str;
    /// Whether the raw value must never be echoed back.
    const SECRET: bool = false;
    /// Parses the raw (non-empty, trimmed) value; the error says what is wrong with it.
    fn parse_env(raw: &str) -> Result<Self, String>;
}

/// Reads typed variables from a [`Source`]. Empty values count as unset, since compose's
/// `${VAR:-}` produces them.
#[derive(Debug, Clone, Copy)]
pub struct Env<S> {
    source: S,
}

impl Env<ProcessEnv> {
    /// The process environment.
    pub fn process() -> Self {
        Self { source: ProcessEnv }
    }
}

impl<S: Source> Env<S> {
    /// Variables from any source (tests use a `HashMap`).
    pub fn new(source: S) -> Self {
        Self { source }
    }

    /// Where the variables come from.
    pub fn source(&self) -> &S {
        &self.source
    }

    fn value(&self, var: &str) -> Option<String> {
        self.source
            .get(var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// `var`'s value: the variable itself, or the content of the file `<var>_FILE` names (the
    /// convention of the official images, for Docker and Kubernetes secrets mounted as files;
    /// surrounding whitespace, such as the file's last newline, is dropped). Both set is an
    /// error, as is a file that cannot be read or is empty.
    fn raw<T: FromEnv>(&self, var: &'static str) -> Result<Option<String>, ConfigError> {
        let file_var = format!("{var}_FILE");
        let failure = |problem: String| ConfigError {
            var,
            value: None,
            problem,
            expected: T::EXPECTED,
        };
        match (self.value(var), self.value(&file_var)) {
            (Some(_), Some(_)) => Err(failure(format!(
                "is set, and so is {file_var}: set one of them"
            ))),
            (direct, None) => Ok(direct),
            (None, Some(path)) => match std::fs::read_to_string(&path) {
                Ok(content) if content.trim().is_empty() => Err(failure(format!(
                    "is empty in the file {file_var} names ({path})"
                ))),
                Ok(content) => Ok(Some(content.trim().to_owned())),
                Err(error) => Err(failure(format!(
                    "cannot be read from the file {file_var} names ({path}: {error})"
                ))),
            },
        }
    }

    /// The variable parsed (or the file `<var>_FILE` names), or `None` when unset or empty.
    pub fn optional<T: FromEnv>(&self, var: &'static str) -> Result<Option<T>, ConfigError> {
        let Some(raw) = self.raw::<T>(var)? else {
            return Ok(None);
        };
        if T::SECRET && raw.contains(PLACEHOLDER) {
            return Err(ConfigError {
                var,
                value: None,
                problem: "still holds the \"change-me\" placeholder of .env.template".to_owned(),
                expected: T::EXPECTED,
            });
        }
        T::parse_env(&raw).map(Some).map_err(|why| ConfigError {
            var,
            value: (!T::SECRET).then_some(raw),
            problem: format!("is invalid ({why})"),
            expected: T::EXPECTED,
        })
    }

    /// The variable parsed; a missing one is an error.
    pub fn required<T: FromEnv>(&self, var: &'static str) -> Result<T, ConfigError> {
        self.optional(var)?.ok_or(ConfigError {
            var,
            value: None,
            problem: "is not set".to_owned(),
            expected: T::EXPECTED,
        })
    }

    /// The variable parsed, or `default` when unset.
    pub fn or<T: FromEnv>(&self, var: &'static str, default: T) -> Result<T, ConfigError> {
        Ok(self.optional(var)?.unwrap_or(default))
    }

    /// [`Env::or`], refusing a value outside `range` with `expected` ("a number of days from
    /// 1 to 90").
    pub fn or_within<T>(
        &self,
        var: &'static str,
        default: T,
        range: std::ops::RangeInclusive<T>,
        expected: &'static str,
    ) -> Result<T, ConfigError>
    where
        T: FromEnv + PartialOrd + ToString,
    {
        let value = self.or(var, default)?;
        if range.contains(&value) {
            Ok(value)
        } else {
            Err(ConfigError {
                var,
                value: Some(value.to_string()),
                problem: "is out of range".to_owned(),
                expected,
            })
        }
    }
}

macro_rules! from_env_via_from_str {
    ($($ty:ty => $expected:literal),* $(,)?) => {$(
        impl FromEnv for $ty {
            const EXPECTED: &'static str = $expected;
            fn parse_env(raw: &str) -> Result<Self, String> {
                <$ty>::from_str(raw).map_err(|e| e.to_string())
            }
        }
    )*};
}

from_env_via_from_str! {
    u16 => "a whole number from 0 to 65535",
    u32 => "a whole number",
    u64 => "a whole number",
    f64 => "a number",
    std::num::NonZeroU32 => "a whole number of at least 1",
    bool => "true or false",
    SocketAddr => "a listen address such as 0.0.0.0:8080",
    String => "a text value",
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&'static str, &'static str)]) -> Env<HashMap<&'static str, &'static str>> {
        Env::new(pairs.iter().copied().collect())
    }

    #[test]
    fn a_variable_may_come_from_the_file_its_file_variable_names() {
        let dir = std::env::temp_dir().join(format!("medsync-env-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let secret = dir.join("secret");
        std::fs::write(&secret, "a-secret-key-from-a-file-of-32-bytes+\n").unwrap();
        let empty = dir.join("empty");
        std::fs::write(&empty, "\n").unwrap();
        let path = secret.to_str().unwrap().to_owned();
        let source = |pairs: &[(&str, &str)]| -> Env<HashMap<String, String>> {
            Env::new(
                pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            )
        };

        let read: Secret = source(&[("SECRET_KEY_FILE", &path)])
            .required("SECRET_KEY")
            .unwrap();
        assert_eq!(read.expose(), "a-secret-key-from-a-file-of-32-bytes+");
        let both = source(&[("SECRET_KEY_FILE", &path), ("SECRET_KEY", "x")])
            .required::<Secret>("SECRET_KEY")
            .unwrap_err();
        assert_eq!(both.var, "SECRET_KEY");
        assert!(
            both.to_string().contains("and so is SECRET_KEY_FILE"),
            "{both}"
        );
        let missing = source(&[("SECRET_KEY_FILE", "/nonexistent/medsync-secret")])
            .required::<Secret>("SECRET_KEY")
            .unwrap_err();
        assert_eq!(missing.var, "SECRET_KEY");
        assert!(
            missing.to_string().contains("/nonexistent/medsync-secret"),
            "{missing}"
        );
        let blank = source(&[("SECRET_KEY_FILE", empty.to_str().unwrap())])
            .required::<Secret>("SECRET_KEY")
            .unwrap_err();
        assert!(blank.to_string().contains("is empty"), "{blank}");
        // A database URL from a file, parsed like one from the variable.
        std::fs::write(&secret, "postgres://medsync:s3cret@db:5432/medsync\n").unwrap();
        let db = DatabaseConfig::from_env(&source(&[("DATABASE_URL_FILE", &path)])).unwrap();
        assert_eq!(db.url.options().get_database(), Some("medsync"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_number_out_of_its_range_is_refused_naming_the_variable_and_the_range() {
        let days = |raw| {
            env(&[("BOT_BOOKING_DAYS", raw)]).or_within(
                "BOT_BOOKING_DAYS",
                14_u16,
                1..=90,
                "1 to 90",
            )
        };
        assert_eq!(days("90").unwrap(), 90);
        assert_eq!(
            days("91").unwrap_err().to_string(),
            "BOT_BOOKING_DAYS=\"91\" is out of range: expected 1 to 90"
        );
        assert_eq!(days("0").unwrap_err().var, "BOT_BOOKING_DAYS");
        assert_eq!(env(&[]).or_within("X", 14_u16, 1..=90, "").unwrap(), 14);
    }

    #[test]
    fn secrets_left_at_the_template_placeholder_are_refused() {
        let err = DatabaseConfig::from_env(&env(&[(
            "DATABASE_URL",
            "postgres://medsync:change-me-postgres-password@db:5432/medsync",
        )]))
        .unwrap_err();
        assert_eq!(err.var, "DATABASE_URL");
        assert!(err.to_string().contains("placeholder"), "{err}");
        let err = TelegramApiConfig::from_env(&env(&[(
            "TELEGRAM_BOT_TOKEN",
            "123456789:change-me-telegram-bot-token",
        )]))
        .unwrap_err();
        assert_eq!(err.var, "TELEGRAM_BOT_TOKEN");
    }
}
