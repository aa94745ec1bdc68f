//! What a person types for an account, checked: passwords, names, phone numbers.

/// A password a person chose: 10 to 128 characters (longer ones only make hashing a
/// denial-of-service lever), not only letters or only digits, and not on the list of the most
/// common ones.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([REDACTED])")
    }
}

const COMMON_PASSWORDS: &[&str] = &[
    "password123",
    "1234567890",
    "qwertyuiop",
    "password1234",
    "iloveyou123",
    "1q2w3e4r5t",
    "qwerty12345",
    "abc1234567",
    "letmein1234",
    "welcome123",
    "passw0rd123",
    "admin12345",
];

impl Password {
    /// Checks `raw` against the rules above.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let chars = raw.chars().count();
        if chars < 10 {
            return Err("must be at least 10 characters");
        }
        if chars > 128 {
            return Err("must be at most 128 characters");
        }
        let all_letters = raw.chars().all(char::is_alphabetic);
        let all_digits = raw.chars().all(|c| c.is_ascii_digit());
        if all_letters || all_digits {
            return Err("must mix letters with digits or symbols");
        }
        if COMMON_PASSWORDS.contains(&raw.to_lowercase().as_str()) {
            return Err("is too common");
        }
        Ok(Self(raw.to_owned()))
    }

    /// The password, for hashing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// A person's display name: 1 to 200 characters after trimming, no control characters.
pub fn parse_name(raw: &str) -> Result<String, &'static str> {
    let name = raw.trim();
    if name.is_empty() {
        return Err("must not be empty");
    }
    if name.chars().count() > 200 {
        return Err("must be at most 200 characters");
    }
    if name.chars().any(char::is_control) {
        return Err("must not contain control characters");
    }
    Ok(name.to_owned())
}

/// A phone number: digits with optional `+`, spaces, dashes, dots and parentheses; 5 to 20
/// digits. Stored as given (trimmed).
pub fn parse_phone(raw: &str) -> Result<String, &'static str> {
    let phone = raw.trim();
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    let allowed = phone
        .chars()
        .enumerate()
        .all(|(i, c)| c.is_ascii_digit() || " -.()".contains(c) || (c == '+' && i == 0));
    if allowed && (5..=20).contains(&digits) && phone.len() <= 32 {
        Ok(phone.to_owned())
    } else {
        Err("must be a phone number such as +49 30 1234567")
    }
}
