//! The chat page: pick a user, talk to the bot, press its inline buttons.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::Simulator;

/// The chat page: pick a user, talk to the bot, press its inline buttons.
pub(crate) async fn chat_page(State(sim): State<Simulator>) -> Response {
    let token = sim
        .shared
        .options
        .default_token
        .as_deref()
        .unwrap_or_default();
    let escaped = token
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let page = include_str!("../assets/chat.html")
        .replace("<body>", &format!("<body data-token=\"{escaped}\">"));
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
}

pub(crate) async fn chat_script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../assets/chat.js"),
    )
        .into_response()
}
