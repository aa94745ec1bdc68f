//! `web`: serves the web app and the Telegram Mini App; `web healthcheck` asks a running one
//! whether it is ready.

use std::process::ExitCode;

fn main() -> ExitCode {
    medsync_platform::service::main(
        medsync_web::SPEC,
        |config: medsync_web::Config, shutdown| async move {
            medsync_web::build(config).await?.run(shutdown).await
        },
    )
}
