//! Configurations in tests, built one way: by the service's own `from_env`, over the variables
//! the test environment provides ([`vars`]); and the check every configuration passes against
//! `.env.template` ([`assert_matches_env_template`]).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use medsync_platform::config::{ConfigError, Configuration, Env, Recording, TelemetryConfig};
use medsync_platform::infra::BaseConfig;
use medsync_platform::service::Spec;
use sqlx::postgres::PgConnectOptions;

use crate::{database_url, env_url};

/// The variables a test service starts from: the database `options` names (on the server of
/// `DATABASE_URL`; none for a service without one), `REDIS_URL` with a key prefix of its own,
/// `spec`'s listen address on loopback port 0, a short shutdown grace; `extra` on top.
pub fn vars(
    spec: &Spec,
    options: Option<&PgConnectOptions>,
    extra: &[(&str, &str)],
) -> HashMap<String, String> {
    let database = options.map(|options| {
        [
            ("DATABASE_URL", database_url(options)),
            ("DATABASE_MAX_CONNECTIONS", "5".to_owned()),
        ]
    });
    let mut vars: HashMap<String, String> = database
        .into_iter()
        .flatten()
        .chain([
            ("REDIS_URL", env_url("REDIS_URL")),
            ("REDIS_KEY_PREFIX", format!("test:{}", uuid::Uuid::new_v4())),
            (spec.listen_var, "127.0.0.1:0".to_owned()),
            ("SHUTDOWN_GRACE_SECONDS", "2".to_owned()),
            ("REQUEST_TIMEOUT_SECONDS", "10".to_owned()),
        ])
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    vars.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    vars
}

/// `C` as its service reads it, from [`vars`] on the database `options` names: every test
/// builds its configuration so.
pub fn config<C: Configuration>(
    spec: &Spec,
    options: &PgConnectOptions,
    extra: &[(&str, &str)],
) -> C {
    read(spec, Some(options), extra)
}

/// [`config`] for a service without a database (the webhook, tgsim).
pub fn config_without_database<C: Configuration>(spec: &Spec, extra: &[(&str, &str)]) -> C {
    read(spec, None, extra)
}

fn read<C: Configuration>(
    spec: &Spec,
    options: Option<&PgConnectOptions>,
    extra: &[(&str, &str)],
) -> C {
    C::from_env(&Env::new(vars(spec, options, extra)))
        .unwrap_or_else(|e| panic!("{}'s test configuration: {e}", spec.name))
}

/// Listen address, PostgreSQL and Redis as [`vars`] gives them.
pub fn base_config(options: &PgConnectOptions) -> BaseConfig {
    const TEST: Spec = Spec {
        name: "test",
        about: "a test",
        listen_var: "TEST_LISTEN_ADDR",
        default_port: 0,
    };
    BaseConfig::from_env(&Env::new(vars(&TEST, Some(options), &[])), &TEST).expect("a base config")
}

/// What `.env.template` documents: each variable set or commented out (`#NAME=value`), with
/// its value there.
pub fn env_template() -> BTreeMap<String, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.env.template");
    let text = std::fs::read_to_string(&path).expect(".env.template");
    text.lines()
        .filter_map(|line| line.trim_start_matches('#').split_once('='))
        .filter(|(name, _)| {
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        })
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

/// Checks a configuration against `.env.template`: every variable in `declared` (and the
/// logs' `LOG_FORMAT` and `RUST_LOG`, which every binary reads) is documented there; `load`
/// (the configuration's `from_env`) accepts the template's own values, in both Telegram modes,
/// with each `change-me` placeholder replaced by a valid secret; and reads no variable outside
/// `declared`.
pub fn assert_matches_env_template<T>(
    declared: &[&str],
    load: impl Fn(&Env<Recording<HashMap<String, String>>>) -> Result<T, ConfigError>,
) {
    let template = env_template();
    let declared: Vec<&str> = declared
        .iter()
        .chain(TelemetryConfig::VARIABLES)
        .copied()
        .collect();
    let undocumented: Vec<_> = declared
        .iter()
        .filter(|var| !template.contains_key(**var))
        .collect();
    assert!(
        undocumented.is_empty(),
        "not in .env.template: {undocumented:?}"
    );

    for mode in ["webhook", "polling"] {
        let mut values: HashMap<String, String> = template
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.replace("change-me", "Templ4te-value-of-the-test-0123456789"),
                )
            })
            .collect();
        values.insert("TELEGRAM_MODE".to_owned(), mode.to_owned());
        let env = Env::new(Recording::new(values));
        TelemetryConfig::from_env(&env).expect("the template's log settings");
        if let Err(e) = load(&env) {
            panic!("the template's values (TELEGRAM_MODE={mode}) are refused: {e}");
        }
        // Every variable may come from the file `<NAME>_FILE` names: those are declared too.
        let undeclared: Vec<String> = env
            .source()
            .asked()
            .into_iter()
            .filter(|var| {
                let name = var.strip_suffix("_FILE").unwrap_or(var);
                !declared.contains(&name)
            })
            .collect();
        assert!(
            undeclared.is_empty(),
            "read but not declared in variables(): {undeclared:?}"
        );
    }
}
