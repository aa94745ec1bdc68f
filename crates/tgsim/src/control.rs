//! The HTTP routes: the Bot API at `/bot<token>/<method>` and the control API under `/sim/`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use axum::Router;
use axum::routing::{get, post};

use crate::state::Fault;
use crate::wire::{ApiError, ok, parameters};
use crate::{Simulator, page};

/// The Bot API, the control API, the chat page, `/healthz` and `/readyz`.
pub(crate) fn router(sim: Simulator) -> Router {
    Router::new()
        .route("/", get(page::chat_page))
        .route("/chat.js", get(page::chat_script))
        .route("/telegram-web-app.js", get(crate::webapp::script))
        .route("/healthz", get(|| async { "ok" }))
        // Nothing to depend on: ready whenever alive (the service runner's healthcheck asks).
        .route("/readyz", get(|| async { "ok" }))
        .route("/{bot}/{method}", get(bot_api).post(bot_api))
        .route(
            "/sim/bots/{token}/users/{user_id}/messages",
            post(user_sends),
        )
        .route(
            "/sim/bots/{token}/users/{user_id}/callbacks",
            post(user_presses),
        )
        .route("/sim/bots/{token}/chats/{chat_id}/messages", get(chat_log))
        .route("/sim/bots/{token}/users/{user_id}/block", post(user_blocks))
        .route("/sim/bots/{token}/chats/{chat_id}/flood", post(flood))
        .route("/sim/bots/{token}/faults", post(faults))
        .route(
            "/sim/bots/{token}/users/{user_id}/webapp",
            post(open_web_app),
        )
        .route("/sim/bots/{token}/chats/{chat_id}/menu", get(menu))
        .with_state(sim)
}

async fn bot_api(
    State(sim): State<Simulator>,
    Path((bot, method)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(token) = bot.strip_prefix("bot") else {
        return ApiError {
            code: 404,
            description: "Not Found".to_owned(),
            retry_after: None,
        }
        .into_response();
    };
    if let Some(fault) = sim.take_fault(token, &method) {
        let status = StatusCode::from_u16(fault.status).unwrap_or(StatusCode::BAD_GATEWAY);
        if let Some(raw) = fault.raw_body {
            return (status, [(header::CONTENT_TYPE, "text/html")], raw).into_response();
        }
        return ApiError {
            code: status.as_u16(),
            description: fault.description.unwrap_or_else(|| {
                status
                    .canonical_reason()
                    .unwrap_or("Internal Server Error")
                    .to_owned()
            }),
            retry_after: fault.retry_after,
        }
        .into_response();
    }
    let params = match parameters(&query, &headers, &body).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    match sim.call(token, &method, params).await {
        Ok(result) => ok(result),
        Err(e) => e.into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct UserMessage {
    text: String,
    first_name: Option<String>,
}

async fn user_sends(
    State(sim): State<Simulator>,
    Path((token, user_id)): Path<(String, i64)>,
    axum::Json(message): axum::Json<UserMessage>,
) -> Response {
    let name = message.first_name.as_deref().unwrap_or("Test user");
    ok(sim.user_sends(&token, user_id, name, &message.text))
}

#[derive(Debug, Deserialize)]
struct ButtonPress {
    message_id: i64,
    data: String,
}

async fn user_presses(
    State(sim): State<Simulator>,
    Path((token, user_id)): Path<(String, i64)>,
    axum::Json(press): axum::Json<ButtonPress>,
) -> Response {
    match sim.user_presses(&token, user_id, press.message_id, &press.data) {
        Ok(update) => ok(update),
        Err(why) => ApiError::bad_request(why).into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct Block {
    blocked: bool,
}

async fn user_blocks(
    State(sim): State<Simulator>,
    Path((token, user_id)): Path<(String, i64)>,
    axum::Json(block): axum::Json<Block>,
) -> Response {
    sim.user_blocks(&token, user_id, block.blocked);
    ok(json!(true))
}

#[derive(Debug, Deserialize)]
struct Flood {
    count: u32,
    retry_after: u64,
}

async fn flood(
    State(sim): State<Simulator>,
    Path((token, chat_id)): Path<(String, i64)>,
    axum::Json(flood): axum::Json<Flood>,
) -> Response {
    sim.flood(&token, chat_id, flood.count, flood.retry_after);
    ok(json!(true))
}

async fn faults(
    State(sim): State<Simulator>,
    Path(token): Path<String>,
    axum::Json(fault): axum::Json<Fault>,
) -> Response {
    sim.inject(&token, fault);
    ok(json!(true))
}

async fn chat_log(
    State(sim): State<Simulator>,
    Path((token, chat_id)): Path<(String, i64)>,
) -> Response {
    ok(Value::Array(sim.chat(&token, chat_id)))
}

#[derive(Debug, Deserialize)]
struct Opener {
    first_name: Option<String>,
}

/// The user opens a Mini App: its `initData`, signed now with the bot's token.
async fn open_web_app(
    State(sim): State<Simulator>,
    Path((token, user_id)): Path<(String, i64)>,
    axum::Json(opener): axum::Json<Opener>,
) -> Response {
    let name = opener.first_name.as_deref().unwrap_or("Test user");
    ok(json!({"init_data": sim.web_app_init_data(&token, user_id, name)}))
}

async fn menu(
    State(sim): State<Simulator>,
    Path((token, chat_id)): Path<(String, i64)>,
) -> Response {
    ok(sim.menu_button(&token, Some(chat_id)))
}
