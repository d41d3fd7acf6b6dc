//! The harness every integration test starts from: `spawn_app()` runs the real application on
//! a random port with its own Redis key prefix and a fresh database, and hands back a
//! [`TestApp`] with one helper per route and a small cookie-keeping browser.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::LazyLock;

use latchkey::config::{Settings, Sources};
use latchkey::session::{ClientInfo, Profile, SessionToken, Sessions};
use latchkey::startup::{Application, Options};
use reqwest::header::{HeaderMap, HeaderValue, COOKIE, SET_COOKIE};
use reqwest::{Method, Response};
use uuid::Uuid;

/// The extension origin that the test configuration allows.
pub const EXTENSION_ORIGIN: &str = "chrome-extension://abcdefghijklmnopabcdefghijklmnop";

static TRACING: LazyLock<()> = LazyLock::new(|| {
    if std::env::var_os("TEST_LOG").is_some() {
        latchkey::telemetry::init(&latchkey::config::LogSettings {
            format: latchkey::config::LogFormat::Pretty,
            level: "debug".into(),
        });
    }
});

pub fn redis_url() -> String {
    std::env::var("LATCHKEY__REDIS__URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A fresh database for one test: a SQLite file in a temporary directory, or, when
/// `LATCHKEY__DATABASE__URL` names a PostgreSQL server, a new database on it.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn new() -> Self {
        match std::env::var("LATCHKEY__DATABASE__URL") {
            Ok(url) if url.starts_with("postgres") => Self::postgres(&url).await,
            _ => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let url = format!("sqlite://{}/latchkey.db?mode=rwc", dir.path().display());
                Self {
                    url,
                    _dir: Some(dir),
                }
            }
        }
    }

    async fn postgres(server_url: &str) -> Self {
        use sea_orm::{ConnectionTrait, Database};
        let name = format!("lk_test_{}", Uuid::new_v4().simple());
        let server = Database::connect(server_url)
            .await
            .expect("PostgreSQL at LATCHKEY__DATABASE__URL");
        server
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("create test database");
        let mut url = url::Url::parse(server_url).expect("database URL");
        url.set_path(&name);
        Self {
            url: url.to_string(),
            _dir: None,
        }
    }
}

/// Builder for a test configuration: the test environment, a fresh database, a random Redis
/// key prefix, port 0, plus whatever the test overrides.
pub struct TestConfig {
    pub vars: BTreeMap<String, String>,
}

impl TestConfig {
    pub fn new(db: &TestDb) -> Self {
        let mut vars = BTreeMap::new();
        let prefix = format!("lktest:{}:", Uuid::new_v4().simple());
        for (k, v) in [
            ("LATCHKEY__DATABASE__URL", db.url.as_str()),
            ("LATCHKEY__REDIS__URL", &redis_url()),
            ("LATCHKEY__REDIS__KEY_PREFIX", &prefix),
            ("LATCHKEY__SERVER__PORT", "0"),
            ("LATCHKEY__CORS__ALLOWED_ORIGINS", EXTENSION_ORIGIN),
        ] {
            vars.insert(k.to_owned(), v.to_owned());
        }
        Self { vars }
    }

    pub fn set(mut self, key: &str, value: &str) -> Self {
        self.vars.insert(key.to_owned(), value.to_owned());
        self
    }

    pub fn settings(&self) -> Settings {
        Settings::load(&Sources {
            environment: Some("test".into()),
            config_dir: concat!(env!("CARGO_MANIFEST_DIR"), "/config").into(),
            config_file: None,
            env_vars: self.vars.clone(),
        })
        .expect("test configuration is valid")
    }

    pub fn prefix(&self) -> &str {
        &self.vars["LATCHKEY__REDIS__KEY_PREFIX"]
    }
}

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

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("HTTP client")
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub fn profile(name: &str, plan: &str) -> Profile {
    Profile {
        name: name.into(),
        email: format!("{}@example.com", name.to_lowercase()),
        image: format!("https://img.example.com/{name}.png"),
        plan: plan.into(),
        plan_until_ms: None,
        has_subscription: false,
    }
}

/// A free user's row as a first login would leave it: verified `email`, `name`, no picture.
pub async fn insert_free_user(
    db: &sea_orm::DatabaseConnection,
    email: &str,
    name: &str,
) -> entity::users::Model {
    use sea_orm::{ActiveModelTrait, Set};
    let now = chrono::Utc::now();
    entity::users::ActiveModel {
        id: Set(Uuid::new_v4()),
        email: Set(Some(email.to_owned())),
        email_verified: Set(true),
        name: Set(Some(name.to_owned())),
        image: Set(None),
        plan: Set("free".to_owned()),
        plan_until: Set(None),
        stripe_customer_id: Set(None),
        disabled_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
    .expect("insert user")
}

/// A browser signed in as `user`, with the profile a login builds from SQL.
pub async fn sign_in_user(
    app: &TestApp,
    db: &sea_orm::DatabaseConnection,
    user: &entity::users::Model,
) -> Browser {
    let profile = latchkey::accounts::profile(db, user)
        .await
        .expect("profile");
    let mut browser = Browser::extension();
    app.sign_in(&mut browser, user.id, profile).await;
    browser
}

/// A browser's cookie jar for one origin: enough to keep the session and CSRF cookies.
#[derive(Debug, Default, Clone)]
pub struct Browser {
    pub cookies: BTreeMap<String, String>,
    pub origin: Option<String>,
}

impl Browser {
    pub fn new() -> Self {
        Self::default()
    }

    /// A browser running the allowed extension (its requests carry its `Origin`).
    pub fn extension() -> Self {
        Self {
            origin: Some(EXTENSION_ORIGIN.into()),
            ..Self::default()
        }
    }

    pub fn with_cookie(mut self, name: &str, value: &str) -> Self {
        self.cookies.insert(name.into(), value.into());
        self
    }

    fn cookie_header(&self) -> Option<String> {
        (!self.cookies.is_empty()).then(|| {
            self.cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    /// Applies `Set-Cookie` headers the way a browser would: a removal (Max-Age=0) deletes.
    pub fn absorb(&mut self, headers: &HeaderMap) {
        for value in headers.get_all(SET_COOKIE) {
            let Ok(text) = value.to_str() else { continue };
            let Ok(cookie) = cookie::Cookie::parse(text.to_owned()) else {
                continue;
            };
            let removed = cookie
                .max_age()
                .is_some_and(|age| age.is_zero() || age.is_negative());
            if removed {
                self.cookies.remove(cookie.name());
            } else {
                self.cookies
                    .insert(cookie.name().to_owned(), cookie.value().to_owned());
            }
        }
    }
}

pub const SESSION_COOKIE: &str = "__Host-latchkey_session";
pub const CSRF_COOKIE: &str = "__Host-latchkey_csrf";

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
            .start(user_id, profile, &client)
            .await
            .expect("session starts");
        browser
            .cookies
            .insert(SESSION_COOKIE.into(), started.token.expose().to_owned());
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
        let mut keys: Vec<String> = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await
                .expect("SCAN");
            keys.extend(batch);
            if next == 0 {
                return keys;
            }
            cursor = next;
        }
    }
}

/// Reads a JSON body, asserting the envelope's `success` flag.
/// The `Set-Cookie` headers of `res` that set cookie `name`, in order.
pub fn set_cookies_named(res: &Response, name: &str) -> Vec<String> {
    let prefix = format!("{name}=");
    res.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|v| v.starts_with(&prefix))
        .map(str::to_owned)
        .collect()
}

pub async fn json(res: Response) -> serde_json::Value {
    res.json().await.expect("a JSON body")
}

/// Asserts an error envelope with this status and code.
pub async fn assert_error(res: Response, status: u16, code: &str) {
    assert_eq!(res.status(), status, "status for expected code {code}");
    let body = json(res).await;
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );
}

/// `latchkey serve` as a separate process of the built binary, with a test's configuration:
/// another replica on the same Redis and database.
pub struct ServerProcess {
    child: std::process::Child,
    pub address: String,
}

impl ServerProcess {
    /// Starts the binary; its stderr (the log) goes to `log` when given.
    pub async fn start(vars: &BTreeMap<String, String>, log: Option<&std::path::Path>) -> Self {
        let port = free_port();
        let stderr = match log {
            Some(path) => std::process::Stdio::from(std::fs::File::create(path).expect("log file")),
            None => std::process::Stdio::null(),
        };
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_latchkey"))
            .args(["serve", "--no-migrate"])
            .env("LATCHKEY_ENV", "test")
            .env(
                "LATCHKEY_CONFIG_DIR",
                concat!(env!("CARGO_MANIFEST_DIR"), "/config"),
            )
            .env_remove("RUST_LOG")
            .envs(vars.iter())
            .env("LATCHKEY__SERVER__PORT", port.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("the latchkey binary starts");
        let process = Self {
            child,
            address: format!("http://127.0.0.1:{port}"),
        };
        let client = client();
        for _ in 0..100 {
            if client
                .get(format!("{}/healthz", process.address))
                .send()
                .await
                .is_ok()
            {
                return process;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("latchkey serve did not start");
    }

    /// `GET /api/user/info` on this process with the browser's cookies.
    pub async fn user_info(&self, browser: &Browser) -> Response {
        let mut req = client().get(format!("{}/api/user/info", self.address));
        if let Some(cookies) = browser.cookie_header() {
            req = req.header(COOKIE, cookies);
        }
        req.send().await.expect("the process answers")
    }

    /// Sends SIGTERM, as Kubernetes does on a rolling update.
    pub fn terminate(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "SIGTERM delivered");
    }

    /// Waits up to `limit` for the process to exit on its own; its exit status.
    pub async fn wait_exit(
        &mut self,
        limit: std::time::Duration,
    ) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        None
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// Stops the process (SIGKILL) and waits for it.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}
