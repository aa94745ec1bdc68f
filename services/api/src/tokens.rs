//! Access tokens (JWT): their keys, claims, signing and verification.
//!
//! A short-lived access token carries `sub` (user id), `role`, `exp`, `iat`, `jti`, `sid`
//! (its session: the refresh-token family of the sign-in), `iss` ([`ISSUER`]) and `aud`
//! ([`AUDIENCE`]); it is signed with `SECRET_KEY` using `ALGORITHM` (HS256, HS384 or HS512),
//! its header's `kid` naming the key (a fingerprint, not the key), and verified with exactly
//! that algorithm: `alg: none`, another algorithm, a bad signature, a past `exp`, another
//! issuer or audience are refused. During a key rotation `SECRET_KEY_PREVIOUS` still verifies
//! the tokens it signed (chosen by `kid`), so nobody is signed out by the change.

use jiff::{SignedDuration, Timestamp};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use medsync_domain::users::Role;
use medsync_platform::config::{FromEnv, Secret};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ApiError;

/// `SECRET_KEY`: at least 32 characters.
#[derive(Debug, Clone)]
pub struct SigningSecret(pub Secret);

impl FromEnv for SigningSecret {
    const EXPECTED: &'static str =
        "a random secret of at least 32 characters (e.g. openssl rand -hex 32)";
    const SECRET: bool = true;
    fn parse_env(raw: &str) -> Result<Self, String> {
        if raw.len() >= 32 {
            Ok(Self(Secret::from(raw)))
        } else {
            Err(format!("{} characters", raw.len()))
        }
    }
}

/// `ALGORITHM`: an HMAC algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JwtAlgorithm(pub Algorithm);

impl FromEnv for JwtAlgorithm {
    const EXPECTED: &'static str = "HS256, HS384 or HS512";
    fn parse_env(raw: &str) -> Result<Self, String> {
        match raw.to_ascii_uppercase().as_str() {
            "HS256" => Ok(Self(Algorithm::HS256)),
            "HS384" => Ok(Self(Algorithm::HS384)),
            "HS512" => Ok(Self(Algorithm::HS512)),
            _ => Err("unsupported algorithm".to_owned()),
        }
    }
}

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// The user id.
    pub sub: Uuid,
    /// The user's role when the token was issued.
    pub role: Role,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issue time, seconds since the epoch.
    pub iat: i64,
    /// Token id, for the deny list.
    pub jti: Uuid,
    /// The session (refresh-token family) it belongs to.
    pub sid: Uuid,
    /// Who issued it: [`ISSUER`].
    pub iss: String,
    /// For whom: [`AUDIENCE`].
    pub aud: String,
}

/// The `iss` of every access token.
pub const ISSUER: &str = "medsync";
/// The `aud` of every access token: this API.
pub const AUDIENCE: &str = "medsync-api";

/// A key's id for the JWT header: the first 8 bytes of the SHA-256 of the secret, in hex.
fn key_id(secret: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(secret)[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Signs and verifies access tokens.
#[derive(Clone)]
pub struct Tokens {
    encoding: EncodingKey,
    kid: String,
    /// `(kid, key)`: the current key first, then the previous one during a rotation.
    decoding: Vec<(String, DecodingKey)>,
    algorithm: Algorithm,
    /// Lifetime of an access token.
    pub ttl: SignedDuration,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("algorithm", &self.algorithm)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl Tokens {
    /// Keys from the secret, and the previous secret's for verifying only.
    pub fn new(
        secret: &SigningSecret,
        previous: Option<&SigningSecret>,
        algorithm: JwtAlgorithm,
        ttl: SignedDuration,
    ) -> Self {
        let bytes = secret.0.expose().as_bytes();
        let mut decoding = vec![(key_id(bytes), DecodingKey::from_secret(bytes))];
        if let Some(previous) = previous {
            let old = previous.0.expose().as_bytes();
            decoding.push((key_id(old), DecodingKey::from_secret(old)));
        }
        Self {
            encoding: EncodingKey::from_secret(bytes),
            kid: key_id(bytes),
            decoding,
            algorithm: algorithm.0,
            ttl,
        }
    }

    /// A signed token for `user_id` with `role`, issued `now`.
    pub fn issue(
        &self,
        user_id: Uuid,
        role: Role,
        session: Uuid,
        now: Timestamp,
    ) -> Result<(String, Claims), ApiError> {
        let iat = now.as_second();
        let claims = Claims {
            sub: user_id,
            role,
            iat,
            exp: iat + self.ttl.as_secs(),
            jti: Uuid::new_v4(),
            sid: session,
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
        };
        let mut header = Header::new(self.algorithm);
        header.kid = Some(self.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &self.encoding)
            .map_err(|e| ApiError::Internal(e.into()))?;
        Ok((token, claims))
    }

    /// The claims of a valid token (signature by the key its `kid` names, algorithm, expiry,
    /// issuer, audience), or `None`.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        let kid = jsonwebtoken::decode_header(token).ok()?.kid?;
        let (_, key) = self.decoding.iter().find(|(id, _)| *id == kid)?;
        let mut validation = Validation::new(self.algorithm);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "iat", "sub", "jti", "iss", "aud"]);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        jsonwebtoken::decode::<Claims>(token, key, &validation)
            .ok()
            .map(|data| data.claims)
    }
}
