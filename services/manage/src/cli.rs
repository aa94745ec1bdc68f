//! `manage`'s command line, and what each command reads from the environment before it runs.

use std::time::Duration;

use clap::{Parser, Subcommand};
use medsync_domain::jobs::JobStatus;
use medsync_platform::config::{
    ConfigError, DatabaseConfig, Env, RedisConfig, Source, TelemetryConfig,
};
use medsync_platform::service::Task;

use crate::roles::AppRole;
use crate::seed::AdminConfig;
use crate::telegram::WebhookConfig;
use crate::{jobs, updates, wait};

/// `manage`'s command line.
#[derive(Debug, Parser)]
#[command(name = "manage", version, about = "MedSync administration commands")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply pending database migrations (safe when several copies start at once); with
    /// DATABASE_APP_USER and DATABASE_APP_PASSWORD, also create or update the services' own
    /// database role (rows only, a statement timeout).
    Migrate,
    /// Create or update the demo clinic: specialties, doctors with weekly schedules, and the
    /// admin named by ADMIN_EMAIL/ADMIN_PASSWORD (created if the email is free; an existing
    /// account of that email is left as it is). Running it again changes nothing.
    Seed,
    /// Create the admin account ADMIN_EMAIL with ADMIN_PASSWORD (ADMIN_NAME names it), or set
    /// the existing admin's password (which signs it out everywhere). An existing account of
    /// that email that is not an admin is refused unless --promote is given. The password comes
    /// from the environment, never the command line, where other users of the machine could
    /// see it.
    CreateAdmin {
        /// Make an existing patient or doctor account with ADMIN_EMAIL the admin: its password
        /// is set, its Telegram link removed and all its sessions ended. Registration is open,
        /// so check first that the account is really yours.
        #[arg(long)]
        promote: bool,
    },
    /// Register the webhook with the Bot API: TELEGRAM_WEBHOOK_URL (the public HTTPS URL of
    /// /telegram/webhook), TELEGRAM_WEBHOOK_SECRET, and the update types the bot handles.
    SetWebhook,
    /// The job queue: list jobs, or make a dead one run again.
    Jobs {
        #[command(subcommand)]
        command: JobsCommand,
    },
    /// Telegram updates the bot gave up on after six tries: list them, replay them, discard
    /// them.
    Updates {
        #[command(subcommand)]
        command: UpdatesCommand,
    },
    /// Wait until PostgreSQL and Redis answer; exit 1 naming what never answered.
    WaitReady {
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 60, env = "WAIT_READY_TIMEOUT_SECONDS")]
        timeout: u64,
        /// Also wait until every migration this binary knows is applied (by someone else).
        #[arg(long)]
        schema: bool,
    },
}

#[derive(Debug, Subcommand)]
enum JobsCommand {
    /// List jobs, newest first.
    List {
        /// Only jobs in this state: queued, running, succeeded or dead.
        #[arg(long, value_parser = crate::jobs::parse_status)]
        status: Option<JobStatus>,
        /// At most this many.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..=10_000))]
        limit: i64,
    },
    /// Queue a dead (or waiting) job to run now, its attempts counted afresh.
    Retry {
        /// The job's id.
        id: uuid::Uuid,
    },
}

#[derive(Debug, Subcommand)]
enum UpdatesCommand {
    /// List the dead letters, oldest first: ids, kinds, chats and errors (never the text).
    List {
        /// At most this many.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=10_000))]
        limit: u64,
    },
    /// Put dead letters back for the bot to handle again (after fixing what failed).
    Replay(UpdateSelection),
    /// Delete dead letters for good.
    Discard(UpdateSelection),
}

#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
struct UpdateSelection {
    /// Dead-letter ids, as `updates list` prints them.
    #[arg(value_parser = parse_entry_id)]
    ids: Vec<String>,
    /// Every dead letter there is.
    #[arg(long)]
    all: bool,
}

impl From<UpdateSelection> for crate::updates::Selection {
    fn from(selection: UpdateSelection) -> Self {
        if selection.all {
            Self::All
        } else {
            Self::Ids(selection.ids)
        }
    }
}

/// A Redis stream entry id: `<milliseconds>-<sequence>`.
fn parse_entry_id(raw: &str) -> Result<String, String> {
    match raw.split_once('-') {
        Some((ms, seq)) if ms.parse::<u64>().is_ok() && seq.parse::<u64>().is_ok() => {
            Ok(raw.to_owned())
        }
        _ => Err("must be an id such as 1764763200000-0, as `updates list` prints".to_owned()),
    }
}

impl Cli {
    /// Reads what the command needs from `env` (a bad variable is an error naming it, before
    /// anything runs) and returns the command's task.
    pub fn task<S: Source>(self, env: &Env<S>) -> Result<Task, ConfigError> {
        Ok(match self.command {
            Command::Migrate => {
                let (db, role) = (DatabaseConfig::from_env(env)?, AppRole::from_env(env)?);
                Box::pin(async move { crate::migrate(&db, role.as_ref()).await })
            }
            Command::Seed => {
                let (db, admin) = (DatabaseConfig::from_env(env)?, AdminConfig::from_env(env)?);
                Box::pin(async move {
                    let report = crate::seed::run(&db, admin.as_ref()).await?;
                    tracing::info!(?report, "seeded");
                    Ok(())
                })
            }
            Command::CreateAdmin { promote } => {
                let (db, admin) = (DatabaseConfig::from_env(env)?, AdminConfig::required(env)?);
                Box::pin(async move { crate::admin::create(&db, &admin, promote).await })
            }
            Command::SetWebhook => {
                let config = WebhookConfig::from_env(env)?;
                Box::pin(async move { crate::telegram::set_webhook(&config).await })
            }
            Command::Jobs { command } => {
                let db = DatabaseConfig::from_env(env)?;
                Box::pin(async move {
                    match command {
                        JobsCommand::List { status, limit } => jobs::list(&db, status, limit).await,
                        JobsCommand::Retry { id } => jobs::retry(&db, id).await,
                    }
                })
            }
            Command::Updates { command } => {
                let redis = RedisConfig::from_env(env)?;
                Box::pin(async move {
                    match command {
                        UpdatesCommand::List { limit } => {
                            updates::list(&redis, usize::try_from(limit).unwrap_or(usize::MAX))
                                .await
                        }
                        UpdatesCommand::Replay(selection) => {
                            updates::replay(&redis, selection.into()).await
                        }
                        UpdatesCommand::Discard(selection) => {
                            updates::discard(&redis, selection.into()).await
                        }
                    }
                })
            }
            Command::WaitReady { timeout, schema } => {
                let (db, redis) = (DatabaseConfig::from_env(env)?, RedisConfig::from_env(env)?);
                Box::pin(async move {
                    wait::until_ready(&db, &redis, Duration::from_secs(timeout), schema).await
                })
            }
        })
    }
}

/// Every variable a `manage` command may read (its logs' included).
pub fn variables() -> Vec<&'static str> {
    [
        TelemetryConfig::VARIABLES,
        DatabaseConfig::VARIABLES,
        RedisConfig::VARIABLES,
        AppRole::VARIABLES,
        AdminConfig::VARIABLES,
        WebhookConfig::variables().as_slice(),
        &["WAIT_READY_TIMEOUT_SECONDS"],
    ]
    .concat()
}
