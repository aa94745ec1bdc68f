//! `worker`: runs the service; `worker healthcheck` asks a running one whether it is ready.

use std::process::ExitCode;

fn main() -> ExitCode {
    medsync_platform::service::main(
        medsync_worker::SPEC,
        medsync_worker::Config::from_env,
        |config, shutdown| async move { medsync_worker::build(config).await?.run(shutdown).await },
    )
}
