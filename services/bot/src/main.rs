//! `bot`: runs the service; `bot healthcheck` asks a running one whether it is ready.

use std::process::ExitCode;

fn main() -> ExitCode {
    medsync_platform::service::main(
        medsync_bot::SPEC,
        |config: medsync_bot::Config, shutdown| async move {
            medsync_bot::build(config).await?.run(shutdown).await
        },
    )
}
