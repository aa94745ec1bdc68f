//! The web app on a fresh database, a clinic, and a small browser: cookies kept by hand (so
//! tests see their attributes), redirects not followed (so tests see them), pages as text.

use std::collections::HashMap;

use medsync_testkit::{self as testing, TestApp};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use uuid::Uuid;

pub const TOKEN: &str = medsync_tgsim::harness::TEST_TOKEN;
pub const PASSWORD: &str = "correct horse 42";

/// The web app on its own database and Redis prefix, and a clinic open every day.
pub struct Web {
    pub app: TestApp,
    pub db: PgPool,
    pub doctor: Uuid,
}

pub async fn spawn(pool_options: PgPoolOptions, options: PgConnectOptions) -> Web {
    spawn_with(pool_options, options, &[]).await
}

pub async fn spawn_with(
    pool_options: PgPoolOptions,
    options: PgConnectOptions,
    extra: &[(&str, &str)],
) -> Web {
    let mut vars = vec![
        ("TELEGRAM_BOT_TOKEN", TOKEN),
        ("CLINIC_TIMEZONE", "Europe/Berlin"),
        ("WEB_COOKIE_SECURE", "false"),
        ("LOGIN_RATE_LIMIT_PER_IP", "1000"),
        ("LOGIN_RATE_LIMIT_PER_ACCOUNT", "1000"),
        ("REGISTER_RATE_LIMIT_PER_IP", "1000"),
        ("REGISTER_RATE_LIMIT_PER_EMAIL", "1000"),
        ("REGISTER_RATE_LIMIT_GLOBAL", "1000"),
        ("PASSWORD_HASH_WAIT_MS", "60000"),
    ];
    vars.extend_from_slice(extra);
    let config: medsync_web::Config = testing::config(&medsync_web::SPEC, &options, &vars);
    let infra = testing::infra(&config.base);
    let app = TestApp::spawn(medsync_web::build_with(config, infra).await.unwrap());
    let db = pool_options.connect_with(options).await.unwrap();
    let (_, doctor) = testing::clinic_open_every_day(&db).await;
    Web { app, db, doctor }
}

/// An answer, read.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    /// The `Location` of a redirect.
    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The value of the hidden field `name` of the first form that has one.
    pub fn field(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no field {name} in {}", self.body))
            + marker.len();
        self.body[start..].split('"').next().unwrap().to_owned()
    }

    /// The first link whose path starts with `prefix`.
    pub fn link(&self, prefix: &str) -> String {
        let marker = format!("href=\"{prefix}");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no link {prefix} in {}", self.body))
            + "href=\"".len();
        self.body[start..]
            .split('"')
            .next()
            .unwrap()
            .replace("&amp;", "&")
    }
}

/// A browser: its cookies, and where it says it comes from.
pub struct Browser {
    client: reqwest::Client,
    base: String,
    cookies: HashMap<String, String>,
    /// `Authorization: tma …`, as the Mini App sends it.
    pub tma: Option<String>,
}

impl Browser {
    pub fn new(web: &Web) -> Self {
        Self {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: web.app.url.clone(),
            cookies: HashMap::new(),
            tma: None,
        }
    }

    /// A Telegram user in the Mini App, with this `initData`.
    pub fn telegram(web: &Web, init_data: &str) -> Self {
        let mut browser = Self::new(web);
        browser.tma = Some(init_data.to_owned());
        browser
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let mut request = request;
        if !self.cookies.is_empty() {
            let header = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            request = request.header("cookie", header);
        }
        if let Some(init_data) = &self.tma {
            request = request.header("authorization", format!("tma {init_data}"));
        }
        let response = request.send().await.unwrap();
        for value in response.headers().get_all("set-cookie") {
            let text = value.to_str().unwrap();
            let (pair, _) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || text.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        Page {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let request = self.client.get(format!("{}{path}", self.base));
        self.send(request).await
    }

    /// A form posted from our own page (`Origin` is this site).
    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let origin = self.base.clone();
        self.post_from(path, form, &origin).await
    }

    /// A form posted from a page of `origin`.
    pub async fn post_from(&mut self, path: &str, form: &[(&str, &str)], origin: &str) -> Page {
        let request = self
            .client
            .post(format!("{}{path}", self.base))
            .header("origin", origin)
            .form(form);
        self.send(request).await
    }

    /// Sends `pair` (`name=value`) as a cookie from now on.
    pub fn set_cookie(&mut self, pair: &str) {
        let (name, value) = pair.split_once('=').unwrap();
        self.cookies.insert(name.to_owned(), value.to_owned());
    }

    /// Takes `other`'s cookies (the same browser on another connection).
    pub fn copy_cookies(&mut self, other: &Browser) {
        self.cookies = other.cookies.clone();
    }

    pub fn has_session(&self) -> bool {
        self.cookies.contains_key("medsync_session")
    }

    /// Registers `email` as a patient (signed in afterwards).
    pub async fn register(&mut self, email: &str) -> Page {
        let page = self
            .post(
                "/app/register",
                &[
                    ("email", email),
                    ("password", PASSWORD),
                    ("name", "Pat Patient"),
                    ("phone", ""),
                    ("next", "/app/visits"),
                ],
            )
            .await;
        assert_eq!(page.status, 303, "{page:?}");
        page
    }

    /// Books the first free time of `doctor` from its page; returns the confirmation page's
    /// key and the redirect after booking.
    pub async fn book_first(&mut self, doctor: Uuid) -> (Page, Page) {
        self.book_days_ahead(doctor, 0).await
    }

    /// [`Browser::book_first`] on the day `days` after today (0: the first day with a free
    /// time).
    pub async fn book_days_ahead(&mut self, doctor: Uuid, days: i64) -> (Page, Page) {
        let path = if days == 0 {
            format!("/app/doctors/{doctor}")
        } else {
            let berlin = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
            let day = jiff::Timestamp::now().to_zoned(berlin).date() + jiff::Span::new().days(days);
            format!("/app/doctors/{doctor}?day={day}")
        };
        let day = self.get(&path).await;
        assert_eq!(day.status, 200, "{day:?}");
        let confirm = self.get(&day.link("/app/book?")).await;
        assert_eq!(confirm.status, 200, "{confirm:?}");
        let form = [
            ("doctor", confirm.field("doctor")),
            ("at", confirm.field("at")),
            ("key", confirm.field("key")),
        ];
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let booked = self.post("/app/bookings", &form).await;
        (confirm, booked)
    }
}

/// A user with a role, made directly in the database, and a browser signed in as them.
pub async fn signed_in_as(web: &Web, email: &str, role: &str) -> Browser {
    let mut browser = Browser::new(web);
    browser.register(email).await;
    if role != "patient" {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE users SET role = '{role}' WHERE email = $1"
        )))
        .bind(email)
        .execute(&web.db)
        .await
        .unwrap();
        if role == "doctor" {
            sqlx::query(
                "UPDATE doctors SET user_id = (SELECT id FROM users WHERE email = $1) WHERE id = $2",
            )
            .bind(email)
            .bind(web.doctor)
            .execute(&web.db)
            .await
            .unwrap();
        }
    }
    browser
}

/// `initData` for Telegram user `user_id`, signed `age_seconds` ago with `token`.
pub fn init_data(token: &str, user_id: i64, age_seconds: i64) -> String {
    let now = jiff::Timestamp::now().as_second();
    medsync_tgsim::sign_init_data(token, user_id, "Ada", now - age_seconds)
}
