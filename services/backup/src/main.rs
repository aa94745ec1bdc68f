//! `backup`: the service (`serve`, the default), its `healthcheck`, and the one-shot commands
//! `now`, `list`, `verify` and `restore`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use medsync_backup::{Config, SPEC, archive, restore};
use medsync_platform::config::Configuration as _;

#[derive(Debug, Parser)]
#[command(name = "backup", version, about = SPEC.about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service (the default): a backup at start, then on BACKUP_SCHEDULE.
    Serve,
    /// Ask the running service's /readyz on this host (exit 0 when ready: the database answers
    /// and the newest backup is fresh enough).
    Healthcheck {
        /// Ask this path instead (e.g. /healthz for liveness only).
        #[arg(long, default_value = "/readyz")]
        path: String,
    },
    /// Take a backup now (and prune old ones); its path is the last line printed.
    Now,
    /// List the backups in BACKUP_DIR, oldest first: time, size, file.
    List,
    /// Check a backup without touching the database: its checksum and a full read.
    Verify {
        /// The backup file.
        file: PathBuf,
        /// Skip the checksum (a file without its .sha256).
        #[arg(long)]
        no_checksum: bool,
    },
    /// Restore a backup into DATABASE_URL's database, then run the migrations and check the
    /// result. A database that has tables is refused unless --force. Everything happens in
    /// one transaction: a damaged file changes nothing.
    Restore {
        /// The backup file.
        file: PathBuf,
        /// Replace the contents of a database that is not empty.
        #[arg(long)]
        force: bool,
        /// Restore a file that has no .sha256 beside it.
        #[arg(long)]
        no_checksum: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            medsync_platform::service::serve(SPEC, |config: Config, shutdown| async move {
                medsync_backup::build(config).await?.run(shutdown).await
            })
        }
        Command::Healthcheck { path } => medsync_platform::service::healthcheck(SPEC, &path),
        Command::Now => once(|config| {
            Box::pin(async move {
                let taken = medsync_backup::take_and_prune(&config).await?;
                println!("{}", taken.backup.path.display());
                Ok(())
            })
        }),
        Command::List => once(|config| {
            Box::pin(async move {
                for backup in archive::list(&config.dir)? {
                    println!(
                        "{}\t{}\t{}",
                        backup.taken_at,
                        backup.size,
                        backup.path.display()
                    );
                }
                Ok(())
            })
        }),
        Command::Verify { file, no_checksum } => once(move |_| {
            Box::pin(async move {
                archive::verify(&file, !no_checksum).await?;
                println!("{}: ok", file.display());
                Ok(())
            })
        }),
        Command::Restore {
            file,
            force,
            no_checksum,
        } => once(move |config| {
            Box::pin(async move {
                let pool = medsync_platform::db::pool(&config.database());
                let options = restore::Options { force, no_checksum };
                let summary = restore::restore(&config.target, &pool, &file, options).await?;
                println!("{}", serde_json::to_string(&summary)?);
                Ok(())
            })
        }),
    }
}

/// A one-shot command with the service's configuration.
fn once(task: impl FnOnce(Config) -> medsync_platform::service::Task) -> ExitCode {
    medsync_platform::service::once(SPEC.name, |env| Ok(task(Config::from_env(env)?)))
}
