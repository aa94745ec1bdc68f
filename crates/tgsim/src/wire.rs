//! The Bot API's wire format: parameters from a query string, a form, multipart or JSON, and
//! `{"ok":true,"result":…}` / `{"ok":false,"error_code":…,"description":…}` answers.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

pub(crate) fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

pub(crate) fn now_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A Bot API error answer.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) code: u16,
    pub(crate) description: String,
    pub(crate) retry_after: Option<u64>,
}

impl ApiError {
    pub(crate) fn bad_request(what: impl Into<String>) -> Self {
        Self {
            code: 400,
            description: format!("Bad Request: {}", what.into()),
            retry_after: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body =
            json!({"ok": false, "error_code": self.code, "description": self.description});
        if let Some(retry_after) = self.retry_after {
            body["parameters"] = json!({"retry_after": retry_after});
        }
        let status = StatusCode::from_u16(self.code).unwrap_or(StatusCode::BAD_REQUEST);
        (status, axum::Json(body)).into_response()
    }
}

pub(crate) fn ok(result: Value) -> Response {
    axum::Json(json!({"ok": true, "result": result})).into_response()
}

/// The id Telegram gives a bot: the digits before the token's colon.
pub(crate) fn bot_id(token: &str) -> Option<i64> {
    let (id, secret) = token.split_once(':')?;
    if secret.is_empty() {
        return None;
    }
    id.parse().ok()
}

/// A parameter as an integer, whether it came as a JSON number or a string (forms).
pub(crate) fn int(params: &Map<String, Value>, name: &str) -> Result<Option<i64>, ApiError> {
    match params.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| ApiError::bad_request(format!("{name} must be an integer"))),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| ApiError::bad_request(format!("{name} must be an integer"))),
        Some(_) => Err(ApiError::bad_request(format!("{name} must be an integer"))),
    }
}

pub(crate) fn required_int(params: &Map<String, Value>, name: &str) -> Result<i64, ApiError> {
    int(params, name)?.ok_or_else(|| ApiError::bad_request(format!("{name} is required")))
}

pub(crate) fn text(params: &Map<String, Value>, name: &str) -> Option<String> {
    match params.get(name) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

/// `reply_markup` as JSON (forms send it as a JSON string).
pub(crate) fn reply_markup(params: &Map<String, Value>) -> Result<Option<Value>, ApiError> {
    match params.get("reply_markup") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => serde_json::from_str(s)
            .map(Some)
            .map_err(|_| ApiError::bad_request("can't parse reply keyboard markup JSON object")),
        Some(v @ Value::Object(_)) => Ok(Some(v.clone())),
        Some(_) => Err(ApiError::bad_request(
            "can't parse reply keyboard markup JSON object",
        )),
    }
}

/// Parameters from the query string and a JSON or form body, as Telegram accepts them.
pub(crate) async fn parameters(
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Map<String, Value>, ApiError> {
    let mut params: Map<String, Value> = query
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    if body.is_empty() {
        return Ok(params);
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if content_type.starts_with("application/x-www-form-urlencoded") {
        for (k, v) in form_urlencoded::parse(body) {
            params.insert(k.into_owned(), Value::String(v.into_owned()));
        }
    } else if content_type.starts_with("multipart/form-data") {
        let malformed = |_| ApiError::bad_request("malformed multipart body");
        let boundary = multer::parse_boundary(content_type).map_err(malformed)?;
        let mut multipart = multer::Multipart::with_reader(body.as_ref(), boundary);
        while let Some(field) = multipart.next_field().await.map_err(malformed)? {
            let Some(name) = field.name().map(str::to_owned) else {
                continue;
            };
            // Files (a webhook certificate) are accepted and ignored.
            if field.file_name().is_some() {
                continue;
            }
            let value = field.text().await.map_err(malformed)?;
            params.insert(name, Value::String(value));
        }
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => params.extend(map),
            _ => {
                return Err(ApiError::bad_request(
                    "the request body must be a JSON object",
                ));
            }
        }
    }
    Ok(params)
}
