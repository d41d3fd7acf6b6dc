//! The app with fake Google and GitHub as its providers, and the steps of a sign-in as the
//! extension drives them.

use entity::users;
use reqwest::{Method, Response};
use sea_orm::{EntityTrait, PaginatorTrait};
use testkit::fakes::{FakeGitHub, FakeGoogle};
use url::Url;

use super::app::{spawn_app_with, TestApp};
use super::browser::Browser;
use super::config::TestConfig;
use super::response::json;

/// The app with both fakes configured as its providers.
pub struct World {
    pub app: TestApp,
    pub google: FakeGoogle,
    pub github: FakeGitHub,
}

impl World {
    pub async fn start() -> Self {
        Self::start_with(|c| c).await
    }

    pub async fn start_with(configure: impl FnOnce(TestConfig) -> TestConfig) -> Self {
        Self::start_inner(None, configure).await
    }

    /// The fake Google serves a second provider too: `name`, a generic OIDC provider.
    pub async fn start_also_as(name: &str) -> Self {
        Self::start_inner(Some(name), |c| c).await
    }

    async fn start_inner(
        also_as: Option<&str>,
        configure: impl FnOnce(TestConfig) -> TestConfig,
    ) -> Self {
        let google = FakeGoogle::start().await;
        let github = FakeGitHub::start().await;
        let mut vars: Vec<(String, String)> = google
            .config_vars()
            .into_iter()
            .chain(github.config_vars())
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        vars.extend(
            also_as
                .map(|name| google.config_vars_as_oidc(name))
                .unwrap_or_default(),
        );
        let app = spawn_app_with(|mut c| {
            for (k, v) in &vars {
                c = c.set(k, v);
            }
            // Room for the fakes' RSA signing in a debug build on a loaded machine; the
            // timeout test sets its own.
            configure(c.set("LATCHKEY__LOGIN__PROVIDER_TIMEOUT", "15s"))
        })
        .await;
        Self {
            app,
            google,
            github,
        }
    }

    /// The popup's half: CSRF token, then `authUrl`.
    pub async fn start_login(&self, browser: &mut Browser, provider: &str) -> String {
        let res = self.login_request(browser, provider).await;
        assert_eq!(res.status(), 200, "login for {provider}");
        let body = json(res).await;
        assert_eq!(body["success"], true);
        body["authUrl"].as_str().expect("authUrl").to_owned()
    }

    pub async fn login_request(&self, browser: &mut Browser, provider: &str) -> Response {
        let path = format!("/auth/{provider}/login");
        self.app.send_with_csrf(browser, Method::GET, &path).await
    }

    /// The tab's half: the provider's redirect lands on latchkey's callback.
    pub async fn callback(&self, browser: &mut Browser, callback: &Url) -> Response {
        self.callback_at(
            browser,
            callback.path(),
            callback.query().unwrap_or_default(),
        )
        .await
    }

    pub async fn callback_at(&self, browser: &mut Browser, path: &str, query: &str) -> Response {
        let path = format!("{path}?{query}");
        self.app.send(browser, Method::GET, &path, &[]).await
    }

    /// A whole Google sign-in; returns the callback's answer.
    pub async fn sign_in_with_google(&self, browser: &mut Browser) -> Response {
        let auth_url = self.start_login(browser, "google").await;
        let callback = self.google.approve(&auth_url).await.expect("consent");
        self.callback(browser, &callback).await
    }

    /// `n` browsers that each started a Google sign-in and consented, with the callback URL
    /// each one was sent to, not yet followed.
    pub async fn consented_google_flows(&self, n: usize) -> Vec<(Browser, Url)> {
        let mut flows = Vec::with_capacity(n);
        for _ in 0..n {
            let mut browser = Browser::extension();
            let auth_url = self.start_login(&mut browser, "google").await;
            let callback = self.google.approve(&auth_url).await.expect("consent");
            flows.push((browser, callback));
        }
        flows
    }

    /// Follows every flow's callback at once.
    pub async fn callbacks_together(&self, flows: &mut [(Browser, Url)]) -> Vec<Response> {
        futures_util::future::join_all(
            flows
                .iter_mut()
                .map(|(browser, callback)| self.callback(browser, callback)),
        )
        .await
    }

    pub async fn sign_in_with_github(&self, browser: &mut Browser) -> Response {
        let auth_url = self.start_login(browser, "github").await;
        let callback = self.github.approve(&auth_url).await.expect("consent");
        self.callback(browser, &callback).await
    }

    pub async fn user_id(&self, browser: &mut Browser) -> String {
        let res = self.app.user_info(browser).await;
        assert_eq!(res.status(), 200);
        json(res).await["user"]["user_id"]
            .as_str()
            .expect("user_id")
            .to_owned()
    }

    pub async fn count_users(&self) -> u64 {
        users::Entity::find()
            .count(&self.app.db().await)
            .await
            .expect("count")
    }
}
