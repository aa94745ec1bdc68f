//! `api`: serves the HTTP API; `api healthcheck` asks a running one whether it is ready.

use std::process::ExitCode;

fn main() -> ExitCode {
    medsync_platform::service::main(
        medsync_api::SPEC,
        |config: medsync_api::Config, shutdown| async move {
            medsync_api::build(config).await?.run(shutdown).await
        },
    )
}
