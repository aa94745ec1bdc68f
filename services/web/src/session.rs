//! Browser sessions: a random token in an `HttpOnly` cookie (`SameSite=Lax`, `Secure` in
//! production), its SHA-256 in Redis naming the account and the session family in PostgreSQL.
//!
//! A sign-in starts a session family (`sessions::issue`, as the api's sign-in does), so
//! everything that ends the api's sessions ends these too: signing out everywhere, a password
//! change, a role change. Every request checks the family is live. A new sign-in always gets a
//! new token (the old one is ended), and signing out ends the family and deletes the token.

use axum::http::HeaderValue;
use cookie::{Cookie, SameSite};
use jiff::{SignedDuration, Timestamp};
use medsync_domain::audit::{self, Channel, Event};
use medsync_domain::sessions;
use medsync_domain::users::User;
use medsync_platform::redis::Redis;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

use crate::Config;

/// The cookie's name.
pub const COOKIE: &str = "medsync_session";

/// Browser sessions; cheap to clone.
#[derive(Debug, Clone)]
pub struct Sessions {
    redis: Redis,
    ttl: SignedDuration,
    secure: bool,
}

/// A live session: whose, and its family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    /// The account.
    pub user_id: Uuid,
    /// Its family (`sessions` in PostgreSQL).
    pub family: Uuid,
}

impl Sessions {
    /// Sessions kept in `redis` for the configured time.
    pub fn new(redis: &Redis, config: &Config) -> Self {
        Self {
            redis: redis.clone(),
            ttl: config.session_ttl,
            secure: config.cookie_secure,
        }
    }

    fn key(&self, token: &str) -> String {
        let digest = Sha256::digest(token.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        self.redis.keys().key(&["web", "session", &hex])
    }

    /// Starts a session for `user` (signed in from `ip`); returns its token.
    pub async fn start(
        &self,
        db: &PgPool,
        user: &User,
        ip: std::net::IpAddr,
    ) -> anyhow::Result<String> {
        let now = Timestamp::now();
        let mut tx = db.begin().await?;
        let family = sessions::issue(&mut tx, user.id, self.ttl, now)
            .await?
            .family;
        let event = Event::new("auth.login.succeeded", Channel::Web)
            .by(user.id)
            .from_ip(ip)
            .details(serde_json::json!({ "session": family }));
        audit::record(&mut tx, event).await?;
        tx.commit().await?;
        let token = sessions::random_token();
        let seconds = u64::try_from(self.ttl.as_secs()).unwrap_or(3600);
        let mut conn = self.redis.conn.clone();
        redis::cmd("SET")
            .arg(self.key(&token))
            .arg(format!("{} {family}", user.id))
            .arg("EX")
            .arg(seconds)
            .query_async::<()>(&mut conn)
            .await?;
        Ok(token)
    }

    /// The session `token` names, if it exists in Redis (the caller checks it is still live).
    pub async fn find(&self, token: &str) -> anyhow::Result<Option<Session>> {
        if token.len() > 128 {
            return Ok(None);
        }
        let mut conn = self.redis.conn.clone();
        let value: Option<String> = redis::cmd("GET")
            .arg(self.key(token))
            .query_async(&mut conn)
            .await?;
        Ok(value.and_then(|v| {
            let (user, family) = v.split_once(' ')?;
            Some(Session {
                user_id: user.parse().ok()?,
                family: family.parse().ok()?,
            })
        }))
    }

    /// Ends the session `token` names: its family in PostgreSQL, its token in Redis.
    pub async fn end(&self, db: &PgPool, token: &str) -> anyhow::Result<()> {
        if let Some(session) = self.find(token).await? {
            let mut conn = db.acquire().await?;
            sessions::revoke_family(&mut conn, session.family, Timestamp::now()).await?;
        }
        let mut conn = self.redis.conn.clone();
        redis::cmd("DEL")
            .arg(self.key(token))
            .query_async::<()>(&mut conn)
            .await?;
        Ok(())
    }

    /// The `Set-Cookie` value that gives the browser `token`.
    pub fn cookie(&self, token: &str) -> HeaderValue {
        let cookie = Cookie::build((COOKIE, token.to_owned()))
            .path(crate::PREFIX)
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .max_age(cookie::time::Duration::seconds(self.ttl.as_secs()))
            .build();
        HeaderValue::from_str(&cookie.to_string()).unwrap_or(HeaderValue::from_static(""))
    }

    /// The `Set-Cookie` value that deletes it.
    pub fn removal(&self) -> HeaderValue {
        let cookie = Cookie::build((COOKIE, ""))
            .path(crate::PREFIX)
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .max_age(cookie::time::Duration::ZERO)
            .build();
        HeaderValue::from_str(&cookie.to_string()).unwrap_or(HeaderValue::from_static(""))
    }
}

/// The session token the request's `Cookie` header carries, if any.
pub fn token_of(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty())
}
