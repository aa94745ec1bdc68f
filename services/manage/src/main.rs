//! `manage`: one-shot administration commands, run once per deploy or by hand.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use medsync_domain::jobs::JobStatus;
use medsync_manage::{seed, wait};
use medsync_platform::config::{ConfigError, DatabaseConfig, Env, RedisConfig, TelemetryConfig};

#[derive(Debug, Parser)]
#[command(name = "manage", version, about = "MedSync administration commands")]
struct Cli {
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
        #[arg(long, value_parser = medsync_manage::jobs::parse_status)]
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

impl From<UpdateSelection> for medsync_manage::updates::Selection {
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    drop(rustls::crypto::ring::default_provider().install_default());
    let env = Env::process();
    let telemetry = match TelemetryConfig::from_env(&env) {
        Ok(t) => t,
        Err(e) => return config_failure(&e),
    };
    medsync_platform::telemetry::init_logs(&telemetry);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(error) => {
            eprintln!("manage: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = match cli.command {
        Command::Migrate => match (
            DatabaseConfig::from_env(&env),
            medsync_manage::roles::AppRole::from_env(&env),
        ) {
            (Ok(db), Ok(role)) => runtime.block_on(medsync_manage::migrate(&db, role.as_ref())),
            (Err(e), _) | (_, Err(e)) => return config_failure(&e),
        },
        Command::Seed => match (
            DatabaseConfig::from_env(&env),
            seed::AdminConfig::from_env(&env),
        ) {
            (Ok(db), Ok(admin)) => runtime
                .block_on(seed::run(&db, admin.as_ref()))
                .map(|report| {
                    tracing::info!(?report, "seeded");
                }),
            (Err(e), _) | (_, Err(e)) => return config_failure(&e),
        },
        Command::CreateAdmin { promote } => match (
            DatabaseConfig::from_env(&env),
            seed::AdminConfig::required(&env),
        ) {
            (Ok(db), Ok(admin)) => {
                runtime.block_on(medsync_manage::admin::create(&db, &admin, promote))
            }
            (Err(e), _) | (_, Err(e)) => return config_failure(&e),
        },
        Command::SetWebhook => match medsync_manage::telegram::WebhookConfig::from_env(&env) {
            Ok(config) => runtime.block_on(medsync_manage::telegram::set_webhook(&config)),
            Err(e) => return config_failure(&e),
        },
        Command::Jobs { command } => match DatabaseConfig::from_env(&env) {
            Ok(db) => runtime.block_on(async {
                match command {
                    JobsCommand::List { status, limit } => {
                        medsync_manage::jobs::list(&db, status, limit).await
                    }
                    JobsCommand::Retry { id } => medsync_manage::jobs::retry(&db, id).await,
                }
            }),
            Err(e) => return config_failure(&e),
        },
        Command::Updates { command } => match RedisConfig::from_env(&env) {
            Ok(redis) => runtime.block_on(async {
                use medsync_manage::updates;
                match command {
                    UpdatesCommand::List { limit } => {
                        updates::list(&redis, usize::try_from(limit).unwrap_or(usize::MAX)).await
                    }
                    UpdatesCommand::Replay(selection) => {
                        updates::replay(&redis, selection.into()).await
                    }
                    UpdatesCommand::Discard(selection) => {
                        updates::discard(&redis, selection.into()).await
                    }
                }
            }),
            Err(e) => return config_failure(&e),
        },
        Command::WaitReady { timeout, schema } => {
            match (DatabaseConfig::from_env(&env), RedisConfig::from_env(&env)) {
                (Ok(db), Ok(redis)) => runtime.block_on(wait::until_ready(
                    &db,
                    &redis,
                    Duration::from_secs(timeout),
                    schema,
                )),
                (Err(e), _) | (_, Err(e)) => return config_failure(&e),
            }
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "failed");
            ExitCode::FAILURE
        }
    }
}

fn config_failure(error: &ConfigError) -> ExitCode {
    eprintln!("manage: configuration error: {error}");
    ExitCode::from(2)
}
