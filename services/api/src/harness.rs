//! The api's test harness (feature `harness`): the api on a fresh database and Redis prefix,
//! and a small client that reads every answer. The api's own tests use it, and so do the
//! tests of services that book or administer through the api (the worker's). It panics on a
//! broken expectation: that is the failed test.

use medsync_testkit::{self as testing, TestApp};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use uuid::Uuid;

/// The `SECRET_KEY` the harness's api signs with.
pub const SECRET_KEY: &str = "test-secret-key-of-more-than-32-characters";

/// The api on its own database and Redis prefix.
#[derive(Debug)]
pub struct Api {
    /// The running app.
    pub app: TestApp,
    /// Its database.
    pub db: PgPool,
    /// The client requests go through.
    pub client: reqwest::Client,
}

/// A response, read.
#[derive(Debug)]
pub struct Answer {
    /// Its status.
    pub status: StatusCode,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body: JSON, a JSON string of whatever else it was, or null when empty.
    pub body: Value,
}

/// The api's test configuration on the database `options` names: rate limits out of the way,
/// the clinic in Europe/Berlin, Swagger UI on; `extra` on top.
pub fn config(options: &PgConnectOptions, extra: &[(&'static str, &'static str)]) -> crate::Config {
    let mut vars = vec![
        ("SECRET_KEY", SECRET_KEY),
        ("CLINIC_TIMEZONE", "Europe/Berlin"),
        ("LOGIN_RATE_LIMIT_PER_IP", "1000"),
        ("LOGIN_RATE_LIMIT_PER_ACCOUNT", "1000"),
        ("REGISTER_RATE_LIMIT_PER_IP", "1000"),
        ("REGISTER_RATE_LIMIT_PER_EMAIL", "1000"),
        ("REGISTER_RATE_LIMIT_GLOBAL", "1000"),
        // Tests run side by side on few cores: a hash may wait long for one.
        ("PASSWORD_HASH_WAIT_MS", "60000"),
        ("API_DOCS_UI", "true"),
    ];
    vars.extend(extra.iter().copied());
    testing::config(&crate::SPEC, options, &vars)
}

/// The api on the fresh database `#[sqlx::test]` made.
pub async fn spawn(pool_options: PgPoolOptions, options: PgConnectOptions) -> Api {
    spawn_with(pool_options, options, &[]).await
}

/// [`spawn`] with `extra` variables.
pub async fn spawn_with(
    pool_options: PgPoolOptions,
    options: PgConnectOptions,
    extra: &[(&'static str, &'static str)],
) -> Api {
    let config = config(&options, extra);
    let infra = testing::infra(&config.base);
    let app = TestApp::spawn(crate::build_with(config, infra).await.unwrap());
    Api {
        app,
        db: pool_options.connect_with(options).await.unwrap(),
        client: reqwest::Client::new(),
    }
}

impl Api {
    /// Sends `request` and reads the answer.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.app.url)
    }

    /// A GET of `path`, with a bearer token when given.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        self.send(request).await
    }

    /// A POST of `body` as JSON to `path`, with a bearer token when given.
    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Answer {
        let mut request = self.client.post(self.url(path)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        self.send(request).await
    }

    /// Any method, with a bearer token and a JSON body when given.
    pub async fn method(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.send(request).await
    }

    /// Registers a patient and signs in; returns the token pair.
    pub async fn patient(&self, email: &str) -> Value {
        let registered = self
            .post(
                "/api/v1/auth/register",
                None,
                json!({"email": email, "password": "correct horse 42", "name": "Pat Patient", "phone": "+49 30 1234567"}),
            )
            .await;
        assert_eq!(registered.status, 201, "{registered:?}");
        self.login(email, "correct horse 42").await
    }

    /// Signs in; returns the token pair.
    pub async fn login(&self, email: &str, password: &str) -> Value {
        let answer = self
            .post(
                "/api/v1/auth/login",
                None,
                json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(answer.status, 200, "{answer:?}");
        answer.body
    }

    /// An admin (made as `manage seed` does) and its token pair.
    pub async fn admin(&self) -> Value {
        let email = medsync_domain::users::Email::parse("admin@clinic.example").unwrap();
        let hash = medsync_domain::password::hash("admin password 1".to_owned())
            .await
            .unwrap();
        let mut conn = self.db.acquire().await.unwrap();
        medsync_domain::users::ensure_admin(
            &mut conn,
            &email,
            "Admin",
            &hash,
            medsync_domain::users::AdminMode::CreateOnly,
        )
        .await
        .unwrap();
        self.login("admin@clinic.example", "admin password 1").await
    }

    /// A doctor working every day 08:00–18:00 (clinic time) in 30-minute slots, with a
    /// doctor account; returns (doctor id, the doctor's token pair).
    pub async fn doctor(&self, admin: &str, name: &str) -> (Uuid, Value) {
        let email = format!(
            "{}@clinic.example",
            name.to_lowercase().replace([' ', '.'], "")
        );
        let tokens = self.patient(&email).await;
        let me = self.get("/api/v1/users/me", Some(token(&tokens))).await;
        let created = self
            .post(
                "/api/v1/doctors",
                Some(admin),
                json!({"name": name, "slot_minutes": 30, "user_id": me.body["id"]}),
            )
            .await;
        assert_eq!(created.status, 201, "{created:?}");
        let id: Uuid = created.body["id"].as_str().unwrap().parse().unwrap();
        let hours: Vec<Value> = (1..=7)
            .map(|d| json!({"weekday": d, "starts_at": "08:00", "ends_at": "18:00"}))
            .collect();
        let schedule = self
            .method(
                reqwest::Method::PUT,
                &format!("/api/v1/doctors/{id}/schedule"),
                Some(admin),
                Some(json!({"hours": hours})),
            )
            .await;
        assert_eq!(schedule.status, 200, "{schedule:?}");
        // The role changed: sign in again for a doctor token.
        (id, self.login(&email, "correct horse 42").await)
    }

    /// The free slots of a doctor between `days_from` and `days_to` days from now.
    pub async fn slots(&self, doctor: Uuid, days_from: i64, days_to: i64) -> Vec<String> {
        let now = jiff::Timestamp::now();
        let from = now + jiff::SignedDuration::from_hours(24 * days_from);
        let to = now + jiff::SignedDuration::from_hours(24 * days_to);
        let answer = self
            .get(
                &format!(
                    "/api/v1/doctors/{doctor}/slots?from={}&to={}",
                    enc(&from.to_string()),
                    enc(&to.to_string())
                ),
                None,
            )
            .await;
        assert_eq!(answer.status, 200, "{answer:?}");
        answer
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["starts_at"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// The access token of a token pair.
pub fn token(pair: &Value) -> &str {
    pair["access_token"].as_str().unwrap()
}

/// Percent-encodes a query value (`+` in offsets).
pub fn enc(value: &str) -> String {
    value.replace('+', "%2B").replace(':', "%3A")
}

/// An access token for `user_id` with `role`, signed as the api signs them, in a session of
/// its own (as a sign-in makes one).
pub async fn access_token(db: &PgPool, user_id: Uuid, role: &str) -> String {
    let now = jiff::Timestamp::now();
    let mut conn = db.acquire().await.unwrap();
    let session = medsync_domain::sessions::issue(
        &mut conn,
        user_id,
        jiff::SignedDuration::from_hours(1),
        now,
    )
    .await
    .unwrap();
    let role = match role {
        "admin" => medsync_domain::users::Role::Admin,
        "doctor" => medsync_domain::users::Role::Doctor,
        _ => medsync_domain::users::Role::Patient,
    };
    let tokens = crate::tokens::Tokens::new(
        &crate::tokens::SigningSecret(SECRET_KEY.into()),
        None,
        crate::tokens::JwtAlgorithm(jsonwebtoken::Algorithm::HS256),
        jiff::SignedDuration::from_mins(10),
    );
    tokens.issue(user_id, role, session.family, now).unwrap().0
}
