//! The value types variables parse into, beside the std ones [`FromEnv`] already covers.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::FromEnv;

/// A number of seconds, e.g. `SHUTDOWN_GRACE_SECONDS=8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seconds(pub Duration);

impl FromEnv for Seconds {
    const EXPECTED: &'static str = "a whole number of seconds";
    fn parse_env(raw: &str) -> Result<Self, String> {
        u64::from_str(raw)
            .map(|s| Self(Duration::from_secs(s)))
            .map_err(|e| e.to_string())
    }
}

/// A secret value: prints as `[REDACTED]` and is never echoed in errors.
#[derive(Clone)]
pub struct Secret(pub SecretString);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl Secret {
    /// The secret's value, for the one place that needs it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(SecretString::from(value))
    }
}

impl FromEnv for Secret {
    const EXPECTED: &'static str = "a secret value";
    const SECRET: bool = true;
    fn parse_env(raw: &str) -> Result<Self, String> {
        Ok(Self::from(raw))
    }
}

/// An `http://` or `https://` URL with a host, kept parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl(pub reqwest::Url);

impl FromEnv for HttpUrl {
    const EXPECTED: &'static str = "an http:// or https:// URL";
    fn parse_env(raw: &str) -> Result<Self, String> {
        let url = reqwest::Url::parse(raw).map_err(|e| e.to_string())?;
        match url.scheme() {
            "http" | "https" if url.host_str().is_some() => Ok(Self(url)),
            other => Err(format!("scheme {other:?} or no host")),
        }
    }
}
