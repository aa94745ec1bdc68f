//! The other commands: refusals of bad input, create-admin, set-webhook, jobs and updates.

use std::collections::HashMap;

use medsync_testkit as testing;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

#[test]
fn every_command_refuses_a_missing_or_garbage_database_url() {
    for command in ["migrate", "seed", "wait-ready"] {
        testing::assert_refuses_bad_database_url(env!("CARGO_BIN_EXE_manage"), &[command]);
    }
}

#[test]
fn seed_refuses_an_admin_email_without_a_password() {
    let out = testing::run_binary(
        env!("CARGO_BIN_EXE_manage"),
        &["seed"],
        &HashMap::from([
            ("DATABASE_URL", "postgres://medsync:x@127.0.0.1:1/medsync"),
            ("ADMIN_EMAIL", "admin@clinic.example"),
        ]),
    );

    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("ADMIN_PASSWORD is not set"), "{stderr}");
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn create_admin_creates_and_promotes_only_with_promote(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let url = testing::database_url(&options);
    let pool = PgPoolOptions::new().connect_with(options).await.unwrap();
    let run_with = |email: &'static str, args: &[&str]| {
        testing::run_binary(
            env!("CARGO_BIN_EXE_manage"),
            args,
            &HashMap::from([
                ("DATABASE_URL", url.as_str()),
                ("ADMIN_EMAIL", email),
                ("ADMIN_PASSWORD", "a long admin password"),
            ]),
        )
    };
    let run = |email: &'static str| run_with(email, &["create-admin"]);

    let created = run("boss@clinic.example");
    sqlx::query("INSERT INTO users (id, email, password_hash, name) VALUES ($1, 'staff@clinic.example', 'x', 'Staff')")
        .bind(uuid::Uuid::now_v7())
        .execute(&pool)
        .await
        .unwrap();
    let refused = run("staff@clinic.example");
    let promoted = run_with("staff@clinic.example", &["create-admin", "--promote"]);
    let missing = testing::run_binary(
        env!("CARGO_BIN_EXE_manage"),
        &["create-admin"],
        &HashMap::from([("DATABASE_URL", url.as_str())]),
    );

    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    assert!(!refused.status.success(), "promotion must be explicit");
    let why = format!(
        "{}{}",
        String::from_utf8_lossy(&refused.stdout),
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(why.contains("--promote"), "{why}");
    assert!(
        promoted.status.success(),
        "{}",
        String::from_utf8_lossy(&promoted.stderr)
    );
    let admins: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE role = 'admin'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(admins, 2);
    let (from, to): (String, String) = sqlx::query_as(
        "SELECT details->>'from', details->>'to' FROM audit_events
         WHERE action = 'user.role.changed' AND channel = 'manage'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((from.as_str(), to.as_str()), ("patient", "admin"));
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("ADMIN_EMAIL is not set"));
}

#[tokio::test]
async fn set_webhook_registers_the_url_secret_and_update_types() {
    let sim = medsync_tgsim::Simulator::new(medsync_tgsim::Options::default());
    let shutdown = tokio_util::sync::CancellationToken::new();
    let addr = sim
        .spawn("127.0.0.1:0".parse().unwrap(), shutdown.clone())
        .await
        .unwrap();
    let api = format!("http://{addr}");
    let env = medsync_platform::config::Env::new(HashMap::from([
        ("TELEGRAM_BOT_TOKEN", "4242:webhook-test"),
        ("TELEGRAM_API_URL", api.as_str()),
        (
            "TELEGRAM_WEBHOOK_SECRET",
            "hook-secret-of-at-least-32-characters",
        ),
        (
            "TELEGRAM_WEBHOOK_URL",
            "https://clinic.example/telegram/webhook",
        ),
    ]));
    let config = medsync_manage::telegram::WebhookConfig::from_env(&env).unwrap();

    medsync_manage::telegram::set_webhook(&config)
        .await
        .unwrap();

    let info: serde_json::Value =
        reqwest::get(format!("{api}/bot4242:webhook-test/getWebhookInfo"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(
        info["result"]["url"],
        "https://clinic.example/telegram/webhook"
    );
    shutdown.cancel();
}

#[test]
fn set_webhook_names_what_is_missing() {
    let out = testing::run_binary(
        env!("CARGO_BIN_EXE_manage"),
        &["set-webhook"],
        &HashMap::from([
            ("TELEGRAM_BOT_TOKEN", "4242:x"),
            (
                "TELEGRAM_WEBHOOK_SECRET",
                "s-webhook-secret-of-32-characters-or-more",
            ),
        ]),
    );

    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("TELEGRAM_WEBHOOK_URL is not set"),
        "{stderr}"
    );
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn jobs_lists_by_status_and_retries_a_dead_job(_: PgPoolOptions, options: PgConnectOptions) {
    let url = testing::database_url(&options);
    let pool = PgPoolOptions::new().connect_with(options).await.unwrap();
    let dead = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO jobs (id, kind, payload, status, attempts, max_attempts, last_error, finished_at)
         VALUES ($1, 'system.noop', '{\"v\": 1}', 'dead', 10, 10, 'sending to Telegram failed', now()),
                (gen_random_uuid(), 'system.noop', '{\"v\": 1}', 'succeeded', 1, 10, NULL, now())",
    )
    .bind(dead)
    .execute(&pool)
    .await
    .unwrap();
    let env = HashMap::from([("DATABASE_URL", url.as_str())]);
    let manage = |args: &[&str]| testing::run_binary(env!("CARGO_BIN_EXE_manage"), args, &env);

    let listed = manage(&["jobs", "list", "--status", "dead"]);
    let out = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    assert!(out.contains(&dead.to_string()), "{out}");
    assert!(out.contains("attempts 10/10"), "{out}");
    assert!(
        out.contains("last error: sending to Telegram failed"),
        "{out}"
    );
    assert!(out.contains("1 of 1 dead job(s)"), "{out}");

    let retried = manage(&["jobs", "retry", &dead.to_string()]);
    assert!(
        retried.status.success(),
        "{}",
        String::from_utf8_lossy(&retried.stderr)
    );
    let (status, attempts): (String, i32) =
        sqlx::query_as("SELECT status::text, attempts FROM jobs WHERE id = $1")
            .bind(dead)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((status.as_str(), attempts), ("queued", 0));

    // An unknown job fails (exit 1, said in the log); a bad status or id is refused by the
    // parser (exit 2).
    let again = manage(&["jobs", "retry", &uuid::Uuid::now_v7().to_string()]);
    assert_eq!(again.status.code(), Some(1));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&again.stdout),
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(said.contains("no such job"), "{said}");
    assert_eq!(
        manage(&["jobs", "list", "--status", "lost"]).status.code(),
        Some(2)
    );
    assert_eq!(
        manage(&["jobs", "retry", "not-an-id"]).status.code(),
        Some(2)
    );
}

#[tokio::test]
async fn updates_lists_replays_and_discards_dead_letters_without_showing_their_text() {
    use medsync_telegram::updates::DeadLetters;
    let config = testing::redis_config();
    let redis = medsync_platform::redis::Redis::connect(&config).unwrap();
    let dead = DeadLetters::new(&redis);
    let update = |id: i64| {
        format!(
            r#"{{"update_id":{id},"message":{{"message_id":1,"date":0,"chat":{{"id":4242,"type":"private"}},"text":"my diagnosis is private"}}}}"#
        )
    };
    for id in [501, 502, 503] {
        dead.add(&update(id), "the database is away", 6)
            .await
            .unwrap();
    }
    let url = std::env::var("REDIS_URL").unwrap();
    let env = HashMap::from([
        ("REDIS_URL", url.as_str()),
        ("REDIS_KEY_PREFIX", config.key_prefix.as_str()),
    ]);
    let manage = |args: &[&str]| testing::run_binary(env!("CARGO_BIN_EXE_manage"), args, &env);
    let text = |out: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };

    let listed = manage(&["updates", "list"]);
    let out = text(&listed);
    assert!(listed.status.success(), "{out}");
    assert!(out.contains("update 501  message"), "{out}");
    assert!(out.contains("chat 4242  attempts 6  from polling"), "{out}");
    assert!(out.contains("error: the database is away"), "{out}");
    assert!(out.contains("3 of 3 dead update(s)"), "{out}");
    assert!(
        !out.contains("diagnosis"),
        "the text must not be shown: {out}"
    );
    let ids: Vec<String> = dead
        .list(10)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.id)
        .collect();

    // Replaying one puts its update back on the stream the bot reads, unchanged.
    let replayed = manage(&["updates", "replay", &ids[0]]);
    assert!(replayed.status.success(), "{}", text(&replayed));
    let mut conn = redis.conn.clone();
    let entries: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(redis.keys().telegram_updates())
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(entries.ids.len(), 1);
    assert_eq!(entries.ids[0].get::<String>("update"), Some(update(501)));
    assert_eq!(dead.count().await.unwrap(), 2);

    // Replaying it again, or an id that never was, is exit 1; a malformed id or no
    // selection at all is refused by the parser (exit 2), and nothing changes.
    let again = manage(&["updates", "replay", &ids[0]]);
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    assert!(text(&again).contains("no dead letter"), "{}", text(&again));
    assert_eq!(
        manage(&["updates", "replay", "garbage"]).status.code(),
        Some(2)
    );
    assert_eq!(manage(&["updates", "replay"]).status.code(), Some(2));
    assert_eq!(
        manage(&["updates", "discard", &ids[1], "--all"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(dead.count().await.unwrap(), 2);

    let discarded = manage(&["updates", "discard", "--all"]);
    assert!(discarded.status.success(), "{}", text(&discarded));
    assert!(text(&discarded).contains("2 update(s) discarded"));
    assert_eq!(dead.count().await.unwrap(), 0);
}

#[test]
fn every_variable_a_command_reads_is_declared_and_documented_in_the_env_template() {
    use clap::Parser as _;
    use medsync_manage::cli::Cli;
    let commands: [&[&str]; 7] = [
        &["migrate"],
        &["seed"],
        &["create-admin"],
        &["set-webhook"],
        &["jobs", "list"],
        &["updates", "list"],
        &["wait-ready"],
    ];
    testing::config::assert_matches_env_template(&medsync_manage::cli::variables(), |env| {
        for args in commands {
            let cli =
                Cli::try_parse_from(std::iter::once("manage").chain(args.iter().copied())).unwrap();
            drop(cli.task(env)?);
        }
        Ok(())
    });
}
