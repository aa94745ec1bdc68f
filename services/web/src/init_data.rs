//! Telegram Mini App sign-in: verifying the `initData` Telegram hands the page, as Telegram
//! documents it (core.telegram.org/bots/webapps, "Validating data received via the Mini App").
//!
//! 1. `initData` is a query string; each key appears once (a duplicated key is refused: which
//!    of two values was signed would be ambiguous).
//! 2. `hash` is taken out; the other pairs, decoded, sorted by key and written `key=value`
//!    joined by `\n`, are the data-check string.
//! 3. The secret key is HMAC-SHA-256 of the bot token keyed with `"WebAppData"`; the hash must
//!    equal HMAC-SHA-256 of the data-check string under that key, compared in constant time.
//! 4. `auth_date` (Unix seconds) must be no older than the configured window and not in the
//!    future (a few seconds of clock skew allowed).
//!
//! Why not a crate: those on crates.io for this (init-data-rs, tma-init-data, telepass) read
//! the pairs into a map, so a duplicated key silently keeps one of its values, and none
//! refuses an `auth_date` from the future. The check is the few lines below, over RustCrypto's
//! `hmac` and `sha2` (already in the tree) and `subtle`.

use hmac::{Hmac, Mac};
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// How far in the future an `auth_date` may be (the two clocks differ a little).
const CLOCK_SKEW: SignedDuration = SignedDuration::from_secs(30);

/// The Telegram user `initData` names (the fields we use).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TelegramUser {
    /// Telegram's user id: the same id the bot sees.
    pub id: i64,
    /// First name.
    pub first_name: String,
    /// Last name, if any.
    #[serde(default)]
    pub last_name: Option<String>,
}

impl TelegramUser {
    /// The name to show: first and last.
    pub fn name(&self) -> String {
        match &self.last_name {
            Some(last) if !last.trim().is_empty() => format!("{} {last}", self.first_name),
            _ => self.first_name.clone(),
        }
    }
}

/// Why `initData` was refused (the page says which; the value is never logged).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// Not a query string of unique keys.
    #[error("initData is malformed or repeats a key")]
    Malformed,
    /// No `hash`.
    #[error("initData has no hash")]
    MissingHash,
    /// The hash does not match: tampered, or signed with another bot's token.
    #[error("initData is not signed by this bot")]
    BadSignature,
    /// No `auth_date`, or not a number.
    #[error("initData has no valid auth_date")]
    MissingAuthDate,
    /// Older than the window.
    #[error("initData has expired; open the app again from Telegram")]
    Expired,
    /// From the future.
    #[error("initData is dated in the future")]
    FromTheFuture,
    /// Signed, but names no user (opened from an inline query, say).
    #[error("initData names no user")]
    NoUser,
}

/// The secret key a bot's `initData` is signed with.
fn secret_key(bot_token: &str) -> Result<[u8; 32], Invalid> {
    let mut mac = HmacSha256::new_from_slice(b"WebAppData").map_err(|_| Invalid::BadSignature)?;
    mac.update(bot_token.as_bytes());
    Ok(mac.finalize().into_bytes().into())
}

/// Verifies `raw` (`initData` exactly as the page got it) for the bot with `bot_token`, at
/// `now`, accepting it up to `max_age` old; the user it names.
pub fn verify(
    raw: &str,
    bot_token: &str,
    max_age: SignedDuration,
    now: Timestamp,
) -> Result<TelegramUser, Invalid> {
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(raw.trim().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if pairs.is_empty() {
        return Err(Invalid::Malformed);
    }
    pairs.sort();
    if pairs.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err(Invalid::Malformed);
    }
    let at = pairs
        .iter()
        .position(|(k, _)| k == "hash")
        .ok_or(Invalid::MissingHash)?;
    let (_, hash) = pairs.remove(at);
    let given = hex_decode(&hash).ok_or(Invalid::BadSignature)?;
    let check_string = pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut mac =
        HmacSha256::new_from_slice(&secret_key(bot_token)?).map_err(|_| Invalid::BadSignature)?;
    mac.update(check_string.as_bytes());
    let expected: [u8; 32] = mac.finalize().into_bytes().into();
    if !bool::from(expected.ct_eq(given.as_slice())) {
        return Err(Invalid::BadSignature);
    }
    let value = |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let auth_date = value("auth_date")
        .and_then(|s| s.parse::<i64>().ok())
        .and_then(|s| Timestamp::from_second(s).ok())
        .ok_or(Invalid::MissingAuthDate)?;
    if auth_date > now + CLOCK_SKEW {
        return Err(Invalid::FromTheFuture);
    }
    if now.duration_since(auth_date) > max_age {
        return Err(Invalid::Expired);
    }
    value("user")
        .and_then(|json| serde_json::from_str(json).ok())
        .ok_or(Invalid::NoUser)
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Telegram Mini Apps project's init-data packages (their docs'
    /// `validate` example): initData and the token it was signed with, computed by their
    /// implementation, not ours.
    const VECTOR: &str = "query_id=AAHdF6IQAAAAAN0XohDhrOrc&user=%7B%22id%22%3A279058397%2C%22first_name%22%3A%22Vladislav%22%2C%22last_name%22%3A%22Kibenko%22%2C%22username%22%3A%22vdkfrost%22%2C%22language_code%22%3A%22ru%22%2C%22is_premium%22%3Atrue%7D&auth_date=1662771648&hash=c501b71e775f74ce10e377dea85a7ea24ecd640b223ea86dfe453e0eaed2e2b2";
    const VECTOR_TOKEN: &str = "5768337691:AAH5YkoiEuPk8-FZa32hStHTqXiLPtAEhx8";

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(seconds).unwrap()
    }

    #[test]
    fn an_independently_signed_vector_verifies_and_names_its_user() {
        let user = verify(
            VECTOR,
            VECTOR_TOKEN,
            SignedDuration::from_hours(1),
            at(1_662_771_700),
        )
        .unwrap();
        assert_eq!(user.id, 279_058_397);
        assert_eq!(user.name(), "Vladislav Kibenko");
    }

    #[test]
    fn the_vector_is_refused_when_changed_late_early_or_for_another_bot() {
        let window = SignedDuration::from_hours(1);
        let cases = [
            (
                VECTOR.replace("279058397", "279058398"),
                VECTOR_TOKEN,
                1_662_771_700,
                Invalid::BadSignature,
            ),
            (
                VECTOR.to_owned(),
                "5768337691:AAH5YkoiEuPk8-FZa32hStHTqXiLPtAEhx9",
                1_662_771_700,
                Invalid::BadSignature,
            ),
            (
                VECTOR.to_owned(),
                VECTOR_TOKEN,
                1_662_771_648 + 3601,
                Invalid::Expired,
            ),
            (
                VECTOR.to_owned(),
                VECTOR_TOKEN,
                1_662_771_648 - 31,
                Invalid::FromTheFuture,
            ),
            (
                VECTOR.replace("&hash=", "&hush="),
                VECTOR_TOKEN,
                1_662_771_700,
                Invalid::MissingHash,
            ),
            (
                format!("{VECTOR}&query_id=x"),
                VECTOR_TOKEN,
                1_662_771_700,
                Invalid::Malformed,
            ),
            (
                format!("{VECTOR}&hash=00"),
                VECTOR_TOKEN,
                1_662_771_700,
                Invalid::Malformed,
            ),
            (
                String::new(),
                VECTOR_TOKEN,
                1_662_771_700,
                Invalid::Malformed,
            ),
        ];
        for (raw, token, now, expected) in cases {
            assert_eq!(verify(&raw, token, window, at(now)), Err(expected), "{raw}");
        }
    }
}
