//! The application under test: `spawn_app()` runs it on a random port with its own Redis key
//! prefix and a fresh database, and [`TestApp`] has one helper per route.

use std::sync::LazyLock;

use latchkey::session::{ClientInfo, Profile, SessionToken, Sessions, Transport};
use latchkey::startup::{Application, Options};
use reqwest::header::{HeaderValue, COOKIE};
use reqwest::{Method, Response};
use uuid::Uuid;

use super::browser::{Browser, SESSION_COOKIE};
use super::config::{TestConfig, TestDb};
use super::redis::redis_url;
use super::users::profile;

static TRACING: LazyLock<()> = LazyLock::new(|| {
    if std::env::var_os("TEST_LOG").is_some() {
        latchkey::telemetry::init(&latchkey::config::LogSettings {
            format: latchkey::config::LogFormat::Pretty,
            level: "debug".into(),
        });
    }
});

pub struct TestApp {
    pub address: String,
    pub config: TestConfig,
    pub sessions: Sessions,
    /// Kept for the app's lifetime: dropping it removes a SQLite test database.
    _db: TestDb,
    http: reqwest::Client,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|c| c).await
}

/// Starts the app with configuration changes made by `configure`.
pub async fn spawn_app_with(configure: impl FnOnce(TestConfig) -> TestConfig) -> TestApp {
    LazyLock::force(&TRACING);
    let db = TestDb::new().await;
    let config = configure(TestConfig::new(&db));
    spawn_with_config(config, db).await
}

pub async fn spawn_with_config(config: TestConfig, db: TestDb) -> TestApp {
    let app = Application::build(config.settings(), Options { migrate: true })
        .await
        .expect("application builds");
    let port = app.port();
    let sessions = app.state().sessions.clone();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        config,
        sessions,
        _db: db,
        http: client(),
    }
}

/// An HTTP client that, like a test must, sees redirects instead of following them.
pub fn client() -> reqwest::Client {
    testkit::http_client()
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// Sends a request as `browser`, with its cookies and origin, and keeps the cookies set.
    pub async fn send(
        &self,
        browser: &mut Browser,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Response {
        let mut req = self.http.request(method, self.url(path));
        if let Some(cookies) = browser.cookie_header() {
            req = req.header(
                COOKIE,
                HeaderValue::from_str(&cookies).expect("cookie header"),
            );
        }
        if let Some(origin) = &browser.origin {
            req = req.header("Origin", origin);
        }
        if let Some(token) = &browser.bearer {
            req = req.header("Authorization", format!("Bearer {token}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = req.send().await.expect("request reaches the app");
        browser.absorb(res.headers());
        res
    }

    pub async fn get(&self, browser: &mut Browser, path: &str) -> Response {
        self.send(browser, Method::GET, path, &[]).await
    }

    /// `GET /auth/csrf-token`, returning the token (the cookie lands in the browser).
    pub async fn csrf_token(&self, browser: &mut Browser) -> String {
        let res = self.get(browser, "/auth/csrf-token").await;
        assert_eq!(res.status(), 200);
        let body: serde_json::Value = res.json().await.expect("JSON");
        body["csrf_token"].as_str().expect("csrf_token").to_owned()
    }

    /// A state-changing request with a fresh CSRF token in the header, as the extension sends.
    pub async fn send_with_csrf(
        &self,
        browser: &mut Browser,
        method: Method,
        path: &str,
    ) -> Response {
        let token = self.csrf_token(browser).await;
        self.send(browser, method, path, &[("X-CSRF-Token", &token)])
            .await
    }

    pub async fn logout(&self, browser: &mut Browser) -> Response {
        self.send_with_csrf(browser, Method::POST, "/auth/logout")
            .await
    }

    pub async fn user_info(&self, browser: &mut Browser) -> Response {
        self.get(browser, "/api/user/info").await
    }

    pub async fn list_sessions(&self, browser: &mut Browser) -> Response {
        self.get(browser, "/api/sessions").await
    }

    pub async fn revoke_session(&self, browser: &mut Browser, id: &str) -> Response {
        self.send_with_csrf(browser, Method::DELETE, &format!("/api/sessions/{id}"))
            .await
    }

    pub async fn revoke_other_sessions(&self, browser: &mut Browser) -> Response {
        self.send_with_csrf(browser, Method::DELETE, "/api/sessions")
            .await
    }

    /// Signs a user in through the session store, as the login callback will, and gives the
    /// browser the session cookie. Returns the token.
    pub async fn sign_in(
        &self,
        browser: &mut Browser,
        user_id: Uuid,
        profile: Profile,
    ) -> SessionToken {
        let client = ClientInfo {
            user_agent: "latchkey-tests/1.0".into(),
            ip: "127.0.0.1".into(),
        };
        let started = self
            .sessions
            .start(user_id, profile, &client, Transport::Cookie)
            .await
            .expect("session starts");
        browser
            .cookies
            .insert(SESSION_COOKIE.into(), started.token.expose().to_owned());
        started.token
    }

    /// Starts a bearer session (token mode) through the session store, as `POST /auth/token`
    /// does, and gives it to `client`. Returns the token.
    pub async fn sign_in_bearer(
        &self,
        client: &mut Browser,
        user_id: Uuid,
        profile: Profile,
    ) -> SessionToken {
        let info = ClientInfo {
            user_agent: "latchkey-tests/1.0".into(),
            ip: "127.0.0.1".into(),
        };
        let started = self
            .sessions
            .start(user_id, profile, &info, Transport::Bearer)
            .await
            .expect("session starts");
        client.bearer = Some(started.token.expose().to_owned());
        started.token
    }

    /// A new browser signed in as a new user.
    pub async fn signed_in_browser(&self, name: &str) -> (Browser, Uuid) {
        let mut browser = Browser::extension();
        let user = Uuid::new_v4();
        self.sign_in(&mut browser, user, profile(name, "free"))
            .await;
        (browser, user)
    }

    /// A connection to this app's database, for tests that look at or arrange SQL rows.
    pub async fn db(&self) -> sea_orm::DatabaseConnection {
        sea_orm::Database::connect(&self.config.vars["LATCHKEY__DATABASE__URL"])
            .await
            .expect("the test database answers")
    }

    /// A connection of the test's own to the app's Redis, for arranging or inspecting keys.
    pub async fn redis(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(redis_url())
            .expect("Redis URL")
            .get_multiplexed_async_connection()
            .await
            .expect("Redis answers")
    }

    /// `<prefix>{u:<user>}`: the start of every key of one user.
    pub fn user_tag(&self, user: Uuid) -> String {
        format!("{}{{u:{}}}", self.config.prefix(), user.simple())
    }

    /// Every Redis key under this test's prefix.
    pub async fn redis_keys(&self) -> Vec<String> {
        let mut conn = self.redis().await;
        let pattern = format!("{}*", self.config.prefix());
        testkit::redis::stats::keys_matching(&mut conn, &pattern)
            .await
            .expect("SCAN")
    }
}
