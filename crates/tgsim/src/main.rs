//! `tgsim`: the Telegram Bot API simulator as a server (development compose profile);
//! `tgsim healthcheck` asks a running one whether it answers.

use std::process::ExitCode;

use medsync_tgsim::{Config, SPEC, Simulator};

fn main() -> ExitCode {
    medsync_platform::service::main(SPEC, |config: Config, shutdown| async move {
        let listener = tokio::net::TcpListener::bind(config.http.listen).await?;
        tracing::info!(addr = %config.http.listen, "tgsim listening");
        Simulator::new(config.options)
            .serve(listener, shutdown)
            .await?;
        Ok(())
    })
}
