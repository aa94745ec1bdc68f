//! Everything the backup service reads from the environment.

use std::path::PathBuf;
use std::time::Duration;

use medsync_platform::config::{
    ConfigError, Configuration, DatabaseConfig, Env, FromEnv, HttpConfig, Source,
};

use crate::SPEC;
use crate::offsite::Offsite;
use crate::pg::PgTarget;
use crate::retention::Keep;

/// The backup service's configuration (its one-shot commands read the same).
#[derive(Debug, Clone)]
pub struct Config {
    /// `BACKUP_LISTEN_ADDR` (default `0.0.0.0:8085`): health and metrics.
    pub http: HttpConfig,
    /// `DATABASE_URL`: the database's owner (a dump must read every table; a restore makes
    /// them).
    pub target: PgTarget,
    /// `BACKUP_DIR` (default `/backups`): where backups are written, one `.dump` file and its
    /// `.sha256` each.
    pub dir: PathBuf,
    /// `BACKUP_SCHEDULE` (default `daily`): how often a backup is taken, after the one at start.
    pub schedule: Schedule,
    /// `BACKUP_KEEP_LAST` (3), `BACKUP_KEEP_DAILY` (7), `BACKUP_KEEP_WEEKLY` (4).
    pub keep: Keep,
    /// `BACKUP_S3_*`: the bucket every backup is copied to, when set.
    pub offsite: Option<Offsite>,
}

impl Config {
    /// The pool settings for the checks the service makes itself (readiness, a restore's
    /// migrations and checks): two connections are plenty.
    pub fn database(&self) -> DatabaseConfig {
        DatabaseConfig {
            url: self.target.url.clone(),
            max_connections: 2,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

impl Configuration for Config {
    fn variables() -> Vec<&'static str> {
        [
            HttpConfig::variables(SPEC.listen_var).as_slice(),
            &[
                "DATABASE_URL",
                "BACKUP_DIR",
                "BACKUP_SCHEDULE",
                "BACKUP_KEEP_LAST",
                "BACKUP_KEEP_DAILY",
                "BACKUP_KEEP_WEEKLY",
            ],
            Offsite::VARIABLES,
        ]
        .concat()
    }

    fn from_env<S: Source>(env: &Env<S>) -> Result<Self, ConfigError> {
        Ok(Self {
            http: SPEC.http_config(env)?,
            target: env.required("DATABASE_URL")?,
            dir: PathBuf::from(env.or("BACKUP_DIR", "/backups".to_owned())?),
            schedule: env.or("BACKUP_SCHEDULE", Schedule::DAILY)?,
            keep: Keep {
                last: env.or_within("BACKUP_KEEP_LAST", 3, 1..=1000, "a number from 1 to 1000")?,
                daily: env.or_within("BACKUP_KEEP_DAILY", 7, 0..=1000, "a number up to 1000")?,
                weekly: env.or_within("BACKUP_KEEP_WEEKLY", 4, 0..=1000, "a number up to 1000")?,
            },
            offsite: Offsite::from_env(env)?,
        })
    }
}

/// How often a backup is taken: `hourly`, `daily`, `weekly`, or a number with a unit, e.g.
/// `6h`, `30m`, `2d` (at least a minute).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule(pub Duration);

impl Schedule {
    /// Once a day.
    pub const DAILY: Self = Self(Duration::from_secs(86_400));

    /// How old the newest backup may grow before the service reports itself not ready (and
    /// the alert fires): one and a half intervals, so one late or slow run is not an alarm
    /// but a missed one is.
    pub fn stale_after(self) -> Duration {
        self.0 + self.0 / 2
    }
}

impl FromEnv for Schedule {
    const EXPECTED: &'static str =
        "hourly, daily, weekly, or a number with a unit m, h or d, e.g. 6h (at least 1m)";
    fn parse_env(raw: &str) -> Result<Self, String> {
        let seconds = match raw.trim() {
            "hourly" => 3_600,
            "daily" => 86_400,
            "weekly" => 7 * 86_400,
            other => {
                // The last character, whatever its width: "5é" must not split inside é.
                let split = other.char_indices().last().map_or(0, |(i, _)| i);
                let (number, unit) = other.split_at(split);
                let n: u64 = number
                    .parse()
                    .map_err(|_| "not a known schedule".to_owned())?;
                let unit = match unit {
                    "m" => 60,
                    "h" => 3_600,
                    "d" => 86_400,
                    _ => return Err("unknown unit".to_owned()),
                };
                n.checked_mul(unit).ok_or("too long")?
            }
        };
        if seconds < 60 {
            return Err("shorter than a minute".to_owned());
        }
        Ok(Self(Duration::from_secs(seconds)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_parse_into_intervals() {
        let parse = |raw| Schedule::parse_env(raw).map(|s| s.0.as_secs());
        assert_eq!(parse("daily"), Ok(86_400));
        assert_eq!(parse("hourly"), Ok(3_600));
        assert_eq!(parse("weekly"), Ok(604_800));
        assert_eq!(parse("6h"), Ok(21_600));
        assert_eq!(parse("30m"), Ok(1_800));
        assert_eq!(parse("2d"), Ok(172_800));
        for bad in [
            "",
            "0m",
            "30s",
            "h",
            "-1h",
            "1.5h",
            "5é",
            "é",
            "99999999999999999d",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(Schedule::DAILY.stale_after().as_secs(), 129_600);
    }
}
