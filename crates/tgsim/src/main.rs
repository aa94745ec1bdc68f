//! `tgsim`: the Telegram Bot API simulator as a server (development compose profile).

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use medsync_tgsim::{Options, Simulator};

/// A local Telegram Bot API server: point TELEGRAM_API_URL at it.
#[derive(Debug, Parser)]
#[command(name = "tgsim", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Where to listen.
    #[arg(long, env = "TGSIM_LISTEN_ADDR", default_value = "0.0.0.0:8090")]
    listen: SocketAddr,
    /// The bots' username, as getMe reports it.
    #[arg(long, env = "TELEGRAM_BOT_USERNAME", default_value = "medsync_bot")]
    bot_username: String,
    /// Answer 429 when a chat gets more than this many bot messages per second.
    #[arg(long, env = "TGSIM_RATE_LIMIT_PER_CHAT")]
    rate_limit_per_chat: Option<u32>,
    /// The bot token the chat page starts with.
    #[arg(long, env = "TELEGRAM_BOT_TOKEN", hide_env_values = true)]
    default_token: Option<String>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Serve (the default).
    Serve,
    /// Ask a running tgsim on this host for /healthz; exit 0 when it answers, 1 otherwise.
    Healthcheck,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Healthcheck) = cli.command {
        return healthcheck(cli.listen);
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tgsim: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let simulator = Simulator::new(Options {
        bot_username: cli.bot_username,
        per_chat_per_second: cli.rate_limit_per_chat,
        default_token: cli.default_token,
    });
    let outcome: anyhow::Result<()> = runtime.block_on(async {
        let shutdown = medsync_platform::shutdown::on_signal();
        let listener = tokio::net::TcpListener::bind(cli.listen).await?;
        tracing::info!(addr = %cli.listen, "tgsim listening");
        simulator.serve(listener, shutdown).await?;
        Ok(())
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tgsim: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn healthcheck(listen: SocketAddr) -> ExitCode {
    let target = SocketAddr::new(
        if listen.ip().is_unspecified() {
            [127, 0, 0, 1].into()
        } else {
            listen.ip()
        },
        listen.port(),
    );
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(_) => return ExitCode::FAILURE,
    };
    match runtime.block_on(medsync_platform::service::probe(&format!(
        "http://{target}/healthz"
    ))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("healthcheck: {why}");
            ExitCode::FAILURE
        }
    }
}
