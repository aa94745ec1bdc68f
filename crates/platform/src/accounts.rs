//! Signing in and registering, as every channel does them (the api, the web app): one policy,
//! so an attacker gains nothing by switching doors.
//!
//! - Sign-in attempts are limited per client address (`LOGIN_RATE_LIMIT_PER_IP` a minute);
//!   failed ones also per account and address (`LOGIN_RATE_LIMIT_PER_ACCOUNT`) and per account
//!   from all addresses (ten times that), so a guesser locks out their own address, not the
//!   owner. The counters live in Redis and are shared by every replica and every channel.
//! - An unknown email is verified against a dummy hash: it costs what a wrong password costs,
//!   and gets the same answer.
//! - Registrations are limited per address, per email and overall: each costs a password hash,
//!   and its "taken" answer tells whether an email has an account.
//! - Password hashes go through one bounded [`Hasher`] per process.
//! - Sign-ins, failed and limited ones included, go to the audit trail with their channel.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use medsync_domain::audit::{self, Channel, Event};
use medsync_domain::password::{HashError, Hasher};
use medsync_domain::users::{self, Email, Password, RegisterError, User};
use sqlx::PgPool;
use uuid::Uuid;

use crate::config::{ConfigError, Env, Source};
use crate::infra::Infra;
use crate::rate_limit::{self, Quota, Refusal};
use crate::redis::Redis;

/// The limits and the hashing budget, the same for every channel.
#[derive(Debug, Clone)]
pub struct AccountsConfig {
    /// `LOGIN_RATE_LIMIT_PER_IP` sign-in attempts per minute from one address (default 20).
    pub login_per_ip: Quota,
    /// `LOGIN_RATE_LIMIT_PER_ACCOUNT` failed sign-ins per minute on one email from one address
    /// (default 5); ten times that from all addresses together.
    pub login_per_account: Quota,
    /// `REGISTER_RATE_LIMIT_PER_IP` registrations per minute from one address (default 5).
    pub register_per_ip: Quota,
    /// `REGISTER_RATE_LIMIT_PER_EMAIL` registration attempts per minute for one email
    /// (default 3).
    pub register_per_email: Quota,
    /// `REGISTER_RATE_LIMIT_GLOBAL` registrations per minute in all (default 60).
    pub register_global: Quota,
    /// `PASSWORD_HASH_CONCURRENCY` (default: the cores this process may use): password
    /// hashes computed at once, each with 19 MiB.
    pub hash_concurrency: usize,
    /// `PASSWORD_HASH_WAIT_MS` (default 1000): how long a sign-in waits for a free hashing
    /// slot before it is refused as busy.
    pub hash_wait: Duration,
}

impl AccountsConfig {
    /// The variables it is read from.
    pub const VARIABLES: &[&str] = &[
        "LOGIN_RATE_LIMIT_PER_IP",
        "LOGIN_RATE_LIMIT_PER_ACCOUNT",
        "REGISTER_RATE_LIMIT_PER_IP",
        "REGISTER_RATE_LIMIT_PER_EMAIL",
        "REGISTER_RATE_LIMIT_GLOBAL",
        "PASSWORD_HASH_CONCURRENCY",
        "PASSWORD_HASH_WAIT_MS",
    ];

    /// Reads the limits and the hashing budget.
    pub fn from_env<S: Source>(env: &Env<S>) -> Result<Self, ConfigError> {
        let per_minute = |var, default| env.or(var, default).map(Quota::per_minute);
        let hash_concurrency: u32 = env.or_within(
            "PASSWORD_HASH_CONCURRENCY",
            u32::try_from(Hasher::cores()).unwrap_or(1),
            1..=256,
            "a number of hashes from 1 to 256 (each takes 19 MiB)",
        )?;
        let hash_wait_ms: u64 = env.or("PASSWORD_HASH_WAIT_MS", 1000)?;
        Ok(Self {
            login_per_ip: per_minute("LOGIN_RATE_LIMIT_PER_IP", 20)?,
            login_per_account: per_minute("LOGIN_RATE_LIMIT_PER_ACCOUNT", 5)?,
            register_per_ip: per_minute("REGISTER_RATE_LIMIT_PER_IP", 5)?,
            register_per_email: per_minute("REGISTER_RATE_LIMIT_PER_EMAIL", 3)?,
            register_global: per_minute("REGISTER_RATE_LIMIT_GLOBAL", 60)?,
            hash_concurrency: usize::try_from(hash_concurrency).unwrap_or(1),
            hash_wait: Duration::from_millis(hash_wait_ms.min(60_000)),
        })
    }
}

/// Why a sign-in or a registration did not happen, for the channel to word.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// Wrong email or password (the same answer for both).
    #[error("wrong email or password")]
    WrongCredentials,
    /// Invalid fields of a registration: each field and what is wrong with it.
    #[error("some fields are invalid")]
    Invalid(Vec<(&'static str, &'static str)>),
    /// An account with this email exists.
    #[error("an account with this email exists")]
    EmailTaken,
    /// Too many attempts: allowed again after this many seconds.
    #[error("too many attempts; retry after {retry_after} s")]
    Limited {
        /// Seconds until the next attempt may succeed.
        retry_after: u64,
    },
    /// Every password-hashing slot stayed busy: try again shortly.
    #[error("busy; try again shortly")]
    Busy,
    /// A failure on our side (PostgreSQL, Redis, the hasher).
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

impl From<Refusal> for Refused {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Limited { retry_after } => Self::Limited { retry_after },
            Refusal::Unavailable(e) => Self::Failed(e.into()),
        }
    }
}

impl From<HashError> for Refused {
    fn from(error: HashError) -> Self {
        match error {
            HashError::Busy => Self::Busy,
            e @ HashError::Failed(_) => Self::Failed(e.into()),
        }
    }
}

impl From<sqlx::Error> for Refused {
    fn from(error: sqlx::Error) -> Self {
        Self::Failed(error.into())
    }
}

/// A registration as a person typed it.
#[derive(Debug, Clone, Copy)]
pub struct Registration<'a> {
    /// Sign-in email.
    pub email: &'a str,
    /// Password.
    pub password: &'a str,
    /// Display name.
    pub name: &'a str,
    /// Phone number, if given.
    pub phone: Option<&'a str>,
}

/// Accounts as every channel signs in and registers; cheap to clone.
#[derive(Debug, Clone)]
pub struct Accounts {
    db: PgPool,
    redis: Redis,
    /// Hashes and verifies passwords, a bounded number at a time (also for password changes).
    pub hasher: Hasher,
    dummy_hash: Arc<str>,
    /// The limits.
    pub config: AccountsConfig,
}

impl Accounts {
    /// Sets up the hasher and hashes the dummy password (a password nobody has).
    pub async fn new(infra: &Infra, config: AccountsConfig) -> anyhow::Result<Self> {
        let hasher = Hasher::new(config.hash_concurrency, config.hash_wait);
        let dummy_hash = hasher
            .hash(medsync_domain::sessions::random_token())
            .await?;
        Ok(Self {
            db: infra.db.clone(),
            redis: infra.redis.clone(),
            hasher,
            dummy_hash: dummy_hash.into(),
            config,
        })
    }

    fn key(&self, parts: &[&str]) -> String {
        self.redis.keys().key(parts)
    }

    /// Checks `email` and `password` from `ip` through `channel`; the account when they match.
    pub async fn sign_in(
        &self,
        email: &str,
        password: String,
        ip: IpAddr,
        channel: Channel,
    ) -> Result<User, Refused> {
        let ip_text = ip.to_string();
        rate_limit::hit(
            &self.redis,
            &self.key(&["ratelimit", "login", "ip", &ip_text]),
            self.config.login_per_ip,
        )
        .await?;
        let email = Email::parse(email).map_err(|_| Refused::WrongCredentials)?;
        // Only failures count against an account: from this address (the limit), and from all
        // addresses together (ten times it). A guesser elsewhere locks out only their own
        // address, so the account's owner still signs in, unless a crowd of addresses guesses.
        let failures_here = self.key(&["ratelimit", "login", "failed", email.as_str(), &ip_text]);
        let failures_all = self.key(&["ratelimit", "login", "account", email.as_str()]);
        let (per_account, account_wide) = (
            self.config.login_per_account,
            self.config.login_per_account.times(10),
        );
        let limited = match rate_limit::check(&self.redis, &failures_here, per_account).await {
            Ok(()) => rate_limit::check(&self.redis, &failures_all, account_wide).await,
            refused => refused,
        };
        if let Err(refusal) = limited {
            if let Refusal::Limited { .. } = refusal {
                let event = Event::new("auth.login.limited", channel)
                    .from_ip(ip)
                    .details(serde_json::json!({ "email": email.as_str() }));
                self.audit(event).await;
            }
            return Err(refusal.into());
        }
        // Counts a failure (already refused if over; a Redis error here changes no answer).
        let failed = async |subject: Option<Uuid>| -> Refused {
            let here = rate_limit::hit(&self.redis, &failures_here, per_account);
            let all = rate_limit::hit(&self.redis, &failures_all, account_wide);
            let _ = tokio::join!(here, all);
            let mut event = Event::new("auth.login.failed", channel)
                .from_ip(ip)
                .details(serde_json::json!({ "email": email.as_str() }));
            event.subject = subject;
            self.audit(event).await;
            Refused::WrongCredentials
        };
        if password.len() > 1024 {
            return Err(failed(None).await);
        }
        let found = users::credentials(&self.db, &email).await?;
        let stored = found
            .as_ref()
            .and_then(|(_, hash)| hash.clone())
            .unwrap_or_else(|| self.dummy_hash.as_ref().to_owned());
        let matches = self.hasher.verify(password, stored).await?;
        match found {
            Some((user, Some(_))) if matches => Ok(user),
            other => Err(failed(other.map(|(user, _)| user.id)).await),
        }
    }

    /// Creates a patient account from `form`, sent from `ip`.
    pub async fn register(&self, form: Registration<'_>, ip: IpAddr) -> Result<User, Refused> {
        rate_limit::hit(
            &self.redis,
            &self.key(&["ratelimit", "register", "ip", &ip.to_string()]),
            self.config.register_per_ip,
        )
        .await?;
        rate_limit::hit(
            &self.redis,
            &self.key(&["ratelimit", "register", "all"]),
            self.config.register_global,
        )
        .await?;
        let mut invalid = Vec::new();
        let mut check = |field: &'static str, result: Result<(), &'static str>| {
            if let Err(message) = result {
                invalid.push((field, message));
            }
        };
        let email = Email::parse(form.email);
        let password = Password::parse(form.password);
        let name = users::parse_name(form.name);
        let phone = form
            .phone
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(users::parse_phone)
            .transpose();
        check("email", email.as_ref().map(drop).map_err(|e| *e));
        check("password", password.as_ref().map(drop).map_err(|e| *e));
        check("name", name.as_ref().map(drop).map_err(|e| *e));
        check("phone", phone.as_ref().map(drop).map_err(|e| *e));
        let (Ok(email), Ok(password), Ok(name), Ok(phone)) = (email, password, name, phone) else {
            return Err(Refused::Invalid(invalid));
        };
        rate_limit::hit(
            &self.redis,
            &self.key(&["ratelimit", "register", "email", email.as_str()]),
            self.config.register_per_email,
        )
        .await?;
        let hash = self.hasher.hash(password.expose().to_owned()).await?;
        users::register(&self.db, &email, &hash, &name, phone.as_deref())
            .await
            .map_err(|e| match e {
                RegisterError::EmailTaken => Refused::EmailTaken,
                RegisterError::Database(e) => e.into(),
            })
    }

    /// Counts one guess at `user`'s current password (a password change), limited like failed
    /// sign-ins to an account: a stolen session must not become a fast oracle for the password.
    pub async fn guess_current_password(&self, user: Uuid) -> Result<(), Refused> {
        rate_limit::hit(
            &self.redis,
            &self.key(&["ratelimit", "password", "user", &user.to_string()]),
            self.config.login_per_account,
        )
        .await
        .map_err(Refused::from)
    }

    /// Records `event` outside any transaction, for refusals that change nothing else: a
    /// failure to record is logged, and the answer stays what it was.
    async fn audit(&self, event: Event) {
        let recorded = match self.db.acquire().await {
            Ok(mut conn) => audit::record(&mut conn, event).await,
            Err(error) => Err(error),
        };
        if let Err(error) = recorded {
            tracing::error!(%error, "could not record an audit event");
        }
    }
}
