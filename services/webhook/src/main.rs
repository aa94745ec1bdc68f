//! `webhook`: runs the service; `webhook healthcheck` asks a running one whether it is ready.

use std::process::ExitCode;

fn main() -> ExitCode {
    medsync_platform::service::main(
        medsync_webhook::SPEC,
        |config: medsync_webhook::Config, shutdown| async move {
            medsync_webhook::build(config).await?.run(shutdown).await
        },
    )
}
