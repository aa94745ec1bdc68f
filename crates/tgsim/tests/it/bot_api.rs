//! tgsim speaks the Bot API well enough for teloxide, and its control API plays the user.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use medsync_tgsim::{Options, Simulator};
use serde_json::{Value, json};
use teloxide::prelude::*;
use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup, UpdateKind};
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "123456:test-token";

/// What a webhook receiver saw: the secret header and the update, per delivery.
type Deliveries = Arc<Mutex<Vec<(Option<String>, Value)>>>;

async fn start(options: Options) -> (Simulator, String, CancellationToken) {
    let sim = Simulator::new(options);
    let shutdown = CancellationToken::new();
    let addr = sim
        .clone()
        .spawn(SocketAddr::from(([127, 0, 0, 1], 0)), shutdown.clone())
        .await
        .unwrap();
    (sim, format!("http://{addr}"), shutdown)
}

fn bot(url: &str) -> Bot {
    Bot::new(TOKEN).set_api_url(reqwest::Url::parse(url).unwrap())
}

#[tokio::test]
async fn teloxide_talks_to_tgsim_like_to_telegram() {
    let (sim, url, shutdown) = start(Options::default()).await;
    let bot = bot(&url);

    let me = bot.get_me().await.unwrap();
    sim.user_sends(TOKEN, 42, "Ada", "/start");
    let updates = bot.get_updates().timeout(1).await.unwrap();
    let keyboard =
        InlineKeyboardMarkup::new([[InlineKeyboardButton::callback("Cardiology", "spec:cardio")]]);
    let sent = bot
        .send_message(ChatId(42), "Pick a specialty")
        .reply_markup(keyboard)
        .await
        .unwrap();
    let pressed = sim
        .user_presses(TOKEN, 42, sent.id.0.into(), "spec:cardio")
        .unwrap();
    let next = bot
        .get_updates()
        .offset(updates[0].id.0 as i32 + 1)
        .timeout(1)
        .await
        .unwrap();
    bot.edit_message_text(ChatId(42), sent.id, "Cardiology it is")
        .await
        .unwrap();

    assert_eq!(me.username(), "medsync_bot");
    assert_eq!(updates.len(), 1);
    match &updates[0].kind {
        UpdateKind::Message(m) => assert_eq!(m.text(), Some("/start")),
        other => panic!("{other:?}"),
    }
    assert_eq!(next.len(), 1);
    match &next[0].kind {
        UpdateKind::CallbackQuery(q) => assert_eq!(q.data.as_deref(), Some("spec:cardio")),
        other => panic!("{other:?}"),
    }
    assert_eq!(pressed["callback_query"]["data"], "spec:cardio");
    let chat = sim.chat(TOKEN, 42);
    assert_eq!(chat.len(), 2);
    assert_eq!(chat[1]["text"], "Cardiology it is");
    assert!(chat[1].get("reply_markup").is_none());
    shutdown.cancel();
}

#[tokio::test]
async fn errors_use_the_bot_api_wire_format_and_forms_are_accepted() {
    let (_sim, url, shutdown) = start(Options::default()).await;
    let client = reqwest::Client::new();

    let empty: Value = client
        .post(format!("{url}/bot{TOKEN}/sendMessage"))
        .json(&json!({"chat_id": 1, "text": ""}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let unauthorized = client
        .post(format!("{url}/botnot-a-token/getMe"))
        .send()
        .await
        .unwrap();
    let unknown: Value = client
        .post(format!("{url}/bot{TOKEN}/launchRockets"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let form: Value = client
        .post(format!("{url}/bot{TOKEN}/sendMessage"))
        .form(&[
            ("chat_id", "7"),
            ("text", "hello"),
            (
                "reply_markup",
                r#"{"inline_keyboard":[[{"text":"A","callback_data":"a"}]]}"#,
            ),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert_eq!(
        empty,
        json!({"ok": false, "error_code": 400, "description": "Bad Request: message text is empty"})
    );
    assert_eq!(unauthorized.status(), 401);
    assert_eq!(unknown["error_code"], 404);
    assert_eq!(form["ok"], true);
    assert_eq!(
        form["result"]["reply_markup"]["inline_keyboard"][0][0]["callback_data"],
        "a"
    );
    shutdown.cancel();
}

#[tokio::test]
async fn a_chat_over_the_rate_limit_gets_429_with_retry_after() {
    let (_sim, url, shutdown) = start(Options {
        per_chat_per_second: Some(1),
        ..Options::default()
    })
    .await;
    let bot = bot(&url);

    bot.send_message(ChatId(5), "one").await.unwrap();
    let second = bot.send_message(ChatId(5), "two").await.unwrap_err();

    assert!(
        matches!(second, teloxide::RequestError::RetryAfter(_)),
        "{second:?}"
    );
    shutdown.cancel();
}

#[tokio::test]
async fn webhook_updates_are_posted_with_the_secret_and_redelivered_until_accepted() {
    let (sim, url, shutdown) = start(Options::default()).await;
    // A receiver that fails the first delivery.
    let seen: Deliveries = Arc::default();
    let receiver = {
        let seen = seen.clone();
        axum::Router::new().route(
            "/hook",
            axum::routing::post(
                move |headers: axum::http::HeaderMap, axum::Json(update): axum::Json<Value>| {
                    let seen = seen.clone();
                    async move {
                        let secret = headers
                            .get("x-telegram-bot-api-secret-token")
                            .map(|v| v.to_str().unwrap().to_owned());
                        let mut seen = seen.lock().unwrap();
                        seen.push((secret, update));
                        if seen.len() == 1 {
                            axum::http::StatusCode::INTERNAL_SERVER_ERROR
                        } else {
                            axum::http::StatusCode::OK
                        }
                    }
                },
            ),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await });
    let client = reqwest::Client::new();
    let set: Value = client
        .post(format!("{url}/bot{TOKEN}/setWebhook"))
        .json(&json!({"url": hook, "secret_token": "s3cret"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(set["result"], true);

    sim.user_sends(TOKEN, 9, "Bo", "hello");
    let conflict: Value = client
        .post(format!("{url}/bot{TOKEN}/getUpdates"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for _ in 0..50 {
        if seen.lock().unwrap().len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    let seen = seen.lock().unwrap().clone();
    assert_eq!(conflict["error_code"], 409);
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].0.as_deref(), Some("s3cret"));
    assert_eq!(seen[0].1, seen[1].1, "the same update is redelivered");
    assert_eq!(seen[1].1["message"]["text"], "hello");
    let info: Value = client
        .post(format!("{url}/bot{TOKEN}/getWebhookInfo"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["result"]["pending_update_count"], 0);
    assert!(
        info["result"]["last_error_message"]
            .as_str()
            .unwrap()
            .contains("500")
    );
    shutdown.cancel();
}

#[tokio::test]
async fn the_chat_page_and_its_script_are_served_with_the_default_token() {
    let (_sim, url, shutdown) = start(Options {
        default_token: Some(TOKEN.to_owned()),
        ..Options::default()
    })
    .await;

    let page = reqwest::get(format!("{url}/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let script = reqwest::get(format!("{url}/chat.js")).await.unwrap();

    assert!(page.contains(&format!("data-token=\"{TOKEN}\"")), "{page}");
    assert!(page.contains("<script src=\"chat.js\">"));
    assert_eq!(script.status(), 200);
    assert_eq!(
        script.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    shutdown.cancel();
}

#[test]
fn every_variable_tgsim_reads_is_declared_and_documented_in_the_env_template() {
    use medsync_platform::config::Configuration;
    medsync_testkit::config::assert_matches_env_template(
        &medsync_tgsim::Config::variables(),
        medsync_tgsim::Config::from_env,
    );
}
