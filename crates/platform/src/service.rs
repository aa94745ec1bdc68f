//! What every binary's `main` does, in one place: the TLS provider, logs, configuration (a bad
//! variable stops the process with exit code 2 and a message naming it), the runtime, and for
//! long-running services ([`main`]) the command line (`serve`, the default, and `healthcheck`)
//! and the shutdown signal; one-shot commands (`manage`) run through [`once`].

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::config::{ConfigError, Configuration, Env, HttpConfig, ProcessEnv, TelemetryConfig};

/// A service's identity.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// The binary's name, e.g. `api`.
    pub name: &'static str,
    /// One line for `--help`.
    pub about: &'static str,
    /// The variable holding its listen address, e.g. `API_LISTEN_ADDR`.
    pub listen_var: &'static str,
    /// The port it listens on when that variable is unset.
    pub default_port: u16,
}

impl Spec {
    /// The service's HTTP settings from `env`.
    pub fn http_config<S: crate::config::Source>(
        &self,
        env: &Env<S>,
    ) -> Result<HttpConfig, ConfigError> {
        HttpConfig::from_env(env, self.listen_var, self.default_port)
    }
}

#[derive(Debug, Parser)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service (the default).
    Serve,
    /// Ask the running service's /readyz on this host; exit 0 when it answers 200, 1 otherwise.
    /// For container health checks in images without a shell or curl.
    Healthcheck {
        /// Ask this path instead (e.g. /healthz for liveness only).
        #[arg(long, default_value = "/readyz")]
        path: String,
    },
}

/// Runs a service: parses the command line; for `serve`, reads its configuration `C` and runs
/// `run` until it returns (it must return after the token is cancelled by SIGTERM or SIGINT).
pub fn main<C, R, F>(spec: Spec, run: R) -> ExitCode
where
    C: Configuration,
    R: FnOnce(C, CancellationToken) -> F,
    F: Future<Output = anyhow::Result<()>>,
{
    let command = Cli::command().name(spec.name).about(spec.about);
    let cli = match Cli::from_arg_matches(&command.get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::Healthcheck { path } => healthcheck(spec, &path),
        Command::Serve => serve(spec, run),
    }
}

/// Runs a service (`serve`) for a binary with a command line of its own: reads its
/// configuration `C` and runs `run` until it returns (it must return after the token is
/// cancelled by SIGTERM or SIGINT). Exit codes: 0 stopped, 1 failed (logged once), 2 a
/// configuration error.
pub fn serve<C, R, F>(spec: Spec, run: R) -> ExitCode
where
    C: Configuration,
    R: FnOnce(C, CancellationToken) -> F,
    F: Future<Output = anyhow::Result<()>>,
{
    // One TLS provider for every rustls user in the process (sqlx, reqwest, teloxide). Fails
    // only if one is already installed, which is just as good.
    drop(rustls::crypto::ring::default_provider().install_default());
    let env = Env::process();
    let traces = match init_telemetry(spec.name, &env) {
        Ok(traces) => traces,
        Err(code) => return code,
    };
    let config = match C::from_env(&env) {
        Ok(c) => c,
        Err(e) => return config_failure(spec.name, &e),
    };
    let Some(runtime) = runtime(&mut tokio::runtime::Builder::new_multi_thread()) else {
        return ExitCode::FAILURE;
    };
    crate::telemetry::record_build_info(spec.name);
    let outcome = runtime.block_on(async {
        let shutdown = crate::shutdown::on_signal();
        run(config, shutdown).await
    });
    // Background tasks still running (e.g. a lazy connection attempt) must not hold the
    // process past its shutdown.
    runtime.shutdown_timeout(Duration::from_secs(1));
    if let Some(traces) = traces {
        traces.shutdown();
    }
    match outcome {
        Ok(()) => {
            tracing::info!(service = spec.name, "stopped");
            ExitCode::SUCCESS
        }
        Err(error) => {
            tracing::error!(service = spec.name, error = format!("{error:#}"), "failed");
            ExitCode::FAILURE
        }
    }
}

/// The future a one-shot command runs.
pub type Task = std::pin::Pin<Box<dyn Future<Output = anyhow::Result<()>>>>;

/// Runs a one-shot command `name` (the caller has parsed its command line): the TLS provider,
/// logs, then `load` reads the configuration the command needs and returns its task, which
/// runs to its end on a single-threaded runtime. Exit codes: 0 done, 1 the task failed (logged
/// once), 2 a configuration error.
pub fn once<L>(name: &'static str, load: L) -> ExitCode
where
    L: FnOnce(&Env<ProcessEnv>) -> Result<Task, ConfigError>,
{
    drop(rustls::crypto::ring::default_provider().install_default());
    let env = Env::process();
    let traces = match init_telemetry(name, &env) {
        Ok(traces) => traces,
        Err(code) => return code,
    };
    let task = match load(&env) {
        Ok(task) => task,
        Err(e) => return config_failure(name, &e),
    };
    let Some(runtime) = runtime(&mut tokio::runtime::Builder::new_current_thread()) else {
        return ExitCode::FAILURE;
    };
    let outcome = runtime.block_on(task);
    drop(runtime);
    if let Some(traces) = traces {
        traces.shutdown();
    }
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(command = name, error = format!("{error:#}"), "failed");
            ExitCode::FAILURE
        }
    }
}

/// Logs, and the trace exporter when configured; a bad variable or an exporter that cannot be
/// built is the exit code to stop with.
fn init_telemetry(
    name: &str,
    env: &Env<ProcessEnv>,
) -> Result<Option<crate::traces::Traces>, ExitCode> {
    let config = TelemetryConfig::from_env(env).map_err(|e| config_failure(name, &e))?;
    crate::telemetry::init(name, &config).map_err(|error| {
        eprintln!("{name}: cannot set up the trace exporter: {error:#}");
        ExitCode::from(2)
    })
}

fn runtime(builder: &mut tokio::runtime::Builder) -> Option<tokio::runtime::Runtime> {
    builder
        .enable_all()
        .build()
        .inspect_err(|error| eprintln!("cannot start the async runtime: {error}"))
        .ok()
}

/// Configuration errors go to stderr as one plain line (logs may not be set up yet, and an
/// operator reading `docker logs` must see it whatever the log format) and stop the process.
fn config_failure(name: &str, error: &ConfigError) -> ExitCode {
    eprintln!("{name}: configuration error: {error}");
    ExitCode::from(2)
}

/// `healthcheck`: asks the running service's `path` on this host; exit 0 when it answers 2xx
/// within 3 s, 1 otherwise. For container health checks in images without a shell or curl.
pub fn healthcheck(spec: Spec, path: &str) -> ExitCode {
    let http = match spec.http_config(&Env::process()) {
        Ok(h) => h,
        Err(e) => return config_failure(spec.name, &e),
    };
    let url = format!("http://{}{path}", local_target(http.listen));
    let Some(runtime) = runtime(&mut tokio::runtime::Builder::new_current_thread()) else {
        return ExitCode::FAILURE;
    };
    match runtime.block_on(probe(&url)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("healthcheck: {url}: {why}");
            ExitCode::FAILURE
        }
    }
}

/// Where to reach a service listening on `listen` from the same host: its loopback address
/// when it listens on all interfaces.
fn local_target(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// GETs `url`; Ok when it answers 2xx within 3 s.
pub async fn probe(url: &str) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .no_proxy()
        .build()
        .map_err(|e| e.to_string())?;
    let response = client.get(url).send().await.map_err(|e| e.to_string())?;
    if response.status().is_success() {
        Ok(())
    } else {
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        Err(format!("{status} {body}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_on_all_interfaces_is_probed_on_loopback() {
        let target = local_target("0.0.0.0:8080".parse().unwrap());
        assert_eq!(target, "127.0.0.1:8080".parse().unwrap());
        let target = local_target("[::]:8081".parse().unwrap());
        assert_eq!(target, "[::1]:8081".parse().unwrap());
        let target = local_target("10.0.0.5:8082".parse().unwrap());
        assert_eq!(target, "10.0.0.5:8082".parse().unwrap());
    }
}
