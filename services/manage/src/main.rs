//! `manage`: one-shot administration commands, run once per deploy or by hand.

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = medsync_manage::cli::Cli::parse();
    medsync_platform::service::once("manage", |env| cli.task(env))
}
