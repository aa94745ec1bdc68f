//! Password hashing with Argon2id (the crate's defaults: 19 MiB, 2 passes, OWASP's minimum),
//! run on the blocking pool so a login never stalls the async workers.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

/// Hashing failed (the blocking task died, or the hasher refused its input).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// The PHC string (`$argon2id$v=19$...`) of `password`, with a fresh random salt.
pub async fn hash(password: String) -> Result<String, HashError> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| HashError(e.to_string()))
    })
    .await
    .map_err(|e| HashError(e.to_string()))?
}

/// Whether `password` matches the stored PHC string. A malformed stored hash never matches.
pub async fn verify(password: String, stored: String) -> Result<bool, HashError> {
    tokio::task::spawn_blocking(move || {
        let Ok(parsed) = PasswordHash::new(&stored) else {
            return false;
        };
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
    .await
    .map_err(|e| HashError(e.to_string()))
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn a_hash_verifies_its_password_and_no_other() {
        let stored = super::hash("correct horse battery".to_owned())
            .await
            .unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(
            super::verify("correct horse battery".to_owned(), stored.clone())
                .await
                .unwrap()
        );
        assert!(!super::verify("wrong".to_owned(), stored).await.unwrap());
        assert!(
            !super::verify("x".to_owned(), "not a hash".to_owned())
                .await
                .unwrap()
        );
    }
}
