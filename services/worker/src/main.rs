//! `worker`: runs the service; `worker healthcheck` asks a running one whether it is ready.

use std::process::ExitCode;

fn main() -> ExitCode {
    medsync_platform::service::main(
        medsync_worker::SPEC,
        |config: medsync_worker::Config, shutdown| async move {
            medsync_worker::build(config).await?.run(shutdown).await
        },
    )
}
