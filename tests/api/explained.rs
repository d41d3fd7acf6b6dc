//! Mistakes that explain themselves: a provider's `error` at the callback ends on the page of
//! its class (a cancellation, a configuration error, a provider failure) with the right log
//! line; a token endpoint's failure is logged with its HTTP status; error pages and JSON
//! errors carry the request id; a refused origin is logged with what to allow.
//!
//! Each test drives a separate `latchkey serve` process whose log it reads.

use std::path::PathBuf;

use reqwest::Method;
use url::Url;

use crate::support::browser::Browser;
use crate::support::config::TestConfig;
use crate::support::process::ServerProcess;
use crate::support::response::json;
use crate::support::world::World;

/// The app with the fake providers, served by a process of its own whose log is kept.
struct Logged {
    world: World,
    process: ServerProcess,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Logged {
    async fn start() -> Self {
        Self::start_with(|c| c).await
    }

    async fn start_with(configure: impl FnOnce(TestConfig) -> TestConfig) -> Self {
        let mut world = World::start_with(configure).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("latchkey.log");
        let mut vars = world.app.config.vars.clone();
        vars.insert("LATCHKEY__LOG__LEVEL".into(), "info".into());
        let process = ServerProcess::start(&vars, Some(&log)).await;
        world.app.address = process.address.clone();
        Self {
            world,
            process,
            log,
            _dir: dir,
        }
    }

    /// The log so far.
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).expect("the log")
    }

    /// The log lines that contain `needle`.
    fn lines_with(&self, needle: &str) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_owned)
            .collect()
    }

    /// Starts a cookie-mode sign-in and comes back from the provider with `error` (and
    /// `error_description`) instead of a code, as the provider would send the browser.
    async fn come_back_with(
        &self,
        provider: &str,
        error: &str,
        description: Option<&str>,
    ) -> reqwest::Response {
        self.come_back_with_headers(provider, error, description, &[])
            .await
    }

    /// [`Logged::come_back_with`], the callback sent with `headers`.
    async fn come_back_with_headers(
        &self,
        provider: &str,
        error: &str,
        description: Option<&str>,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut browser = Browser::extension();
        let auth_url = self.world.start_login(&mut browser, provider).await;
        self.back_from(
            &mut browser,
            provider,
            &auth_url,
            error,
            description,
            headers,
        )
        .await
    }

    /// The callback of the flow of `auth_url`, with `error` (and `error_description`).
    async fn back_from(
        &self,
        browser: &mut Browser,
        provider: &str,
        auth_url: &str,
        error: &str,
        description: Option<&str>,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let auth_url = Url::parse(auth_url).expect("authUrl");
        let state = auth_url
            .query_pairs()
            .find(|(k, _)| k == "state")
            .map(|(_, v)| v.into_owned())
            .expect("state");
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query
            .append_pair("state", &state)
            .append_pair("error", error);
        if let Some(description) = description {
            query.append_pair("error_description", description);
        }
        let path = format!("/auth/{provider}/callback?{}", query.finish());
        self.world
            .app
            .send(browser, Method::GET, &path, headers)
            .await
    }
}

/// Coming back from `provider` with `error` ends on the 400 `consent_denied` page, which does
/// not call it a configuration error.
async fn assert_cancellation(logged: &Logged, provider: &str, error: &str) {
    let res = logged.come_back_with(provider, error, None).await;
    assert_eq!(res.status(), 400, "{error:?}");
    let page = page_with_request_id(res).await;
    assert!(
        page.contains("<code>consent_denied</code>"),
        "{error:?}: {page}"
    );
    assert!(!page.contains("configuration error"), "{error:?}: {page}");
}

/// A page's text, with its request id checked against the `X-Request-Id` header.
async fn page_with_request_id(res: reqwest::Response) -> String {
    let id = res.headers()["x-request-id"]
        .to_str()
        .expect("X-Request-Id")
        .to_owned();
    let page = res.text().await.expect("a page");
    assert!(
        page.contains(&format!("request id <code>{id}</code>")),
        "{page}"
    );
    page
}

#[tokio::test]
async fn each_provider_error_class_ends_on_its_page_with_its_log_line() {
    let mut logged = Logged::start().await;

    // Cancellation: the user said no.
    let res = logged
        .come_back_with("google", "access_denied", Some("The user denied"))
        .await;
    assert_eq!(res.status(), 400);
    let page = page_with_request_id(res).await;
    assert!(page.contains("cancelled"), "{page}");
    assert!(page.contains("<code>consent_denied</code>"), "{page}");

    // Configuration errors: the redirect URI, then the client.
    let res = logged
        .come_back_with(
            "google",
            "redirect_uri_mismatch",
            Some("The redirect URI in the request does not match"),
        )
        .await;
    assert_eq!(res.status(), 502);
    let page = page_with_request_id(res).await;
    assert!(page.contains("configuration error"), "{page}");
    assert!(page.contains("redirect URI"), "{page}");
    assert!(
        page.contains("http://localhost:8080/auth/google/callback"),
        "the page names the URI to register: {page}"
    );
    // The code is the one the API names for any failure on the provider's side: only the
    // words say that it is a configuration error.
    assert!(page.contains("<code>provider_error</code>"), "{page}");

    for error in ["invalid_client", "unauthorized_client"] {
        let res = logged.come_back_with("github", error, None).await;
        assert_eq!(res.status(), 502, "{error}");
        let page = page_with_request_id(res).await;
        assert!(page.contains("configuration error"), "{error}: {page}");
        assert!(page.contains("client id or secret"), "{error}: {page}");
        assert!(
            page.contains("<code>provider_error</code>"),
            "{error}: {page}"
        );
    }

    // The user's side: OpenID Connect's interaction errors, and a code nobody knows, are
    // cancellations, never a configuration error.
    for error in [
        "login_required",
        "consent_required",
        "interaction_required",
        "account_selection_required",
        "no_such_error",
    ] {
        assert_cancellation(&logged, "google", error).await;
    }

    // The provider's own failure.
    let res = logged
        .come_back_with("google", "temporarily_unavailable", None)
        .await;
    assert_eq!(res.status(), 502);
    let page = page_with_request_id(res).await;
    assert!(page.contains("<code>provider_error</code>"), "{page}");

    logged.process.stop();
    let cancelled = logged.lines_with("sign-in cancelled at the provider");
    assert_eq!(cancelled.len(), 6, "{}", logged.log());
    assert!(cancelled[0].contains("access_denied"), "{}", cancelled[0]);
    assert!(cancelled[0].contains("The user denied"), "{}", cancelled[0]);

    let misconfigured = logged.lines_with("a configuration error");
    assert_eq!(misconfigured.len(), 3, "{}", logged.log());
    // Anyone holding a state can send any `error` back: a configuration error is only what
    // the redirect reported, at WARN, never an ERROR line someone else wrote.
    for line in &misconfigured {
        assert!(line.contains("WARN"), "{line}");
        assert!(line.contains("(unverified)"), "{line}");
    }
    assert!(!logged.log().contains("ERROR"), "{}", logged.log());
    assert!(misconfigured[0].contains("redirect_uri_mismatch"));
    assert!(misconfigured[0].contains("The redirect URI in the request does not match"));
    assert!(
        misconfigured[0].contains("register"),
        "{}",
        misconfigured[0]
    );
    assert!(misconfigured[1].contains("invalid_client"));
    assert!(
        misconfigured[1].contains("client_secret"),
        "{}",
        misconfigured[1]
    );
    assert!(misconfigured[2].contains("unauthorized_client"));

    let failed = logged.lines_with("the provider failed the sign-in");
    assert_eq!(failed.len(), 1, "{}", logged.log());
    assert!(failed[0].contains("temporarily_unavailable"));
}

/// A known code with a character RFC 6749 does not allow in one (a line break, a quote, a
/// backslash) is no code: it matches nothing, so it claims no configuration error.
#[tokio::test]
async fn an_error_outside_the_oauth_charset_claims_no_configuration_error() {
    let mut logged = Logged::start().await;
    for error in [
        "invalid_client\n",
        "invalid_client\r\nx",
        "\"invalid_client\"",
        "invalid_client\\",
        "redirect_uri_mismatch\u{1b}",
    ] {
        assert_cancellation(&logged, "github", error).await;
    }
    logged.process.stop();
    assert!(
        logged.lines_with("configuration error").is_empty(),
        "{}",
        logged.log()
    );
    assert_eq!(
        logged.lines_with("sign-in cancelled at the provider").len(),
        5,
        "{}",
        logged.log()
    );
}

/// Bidirectional controls reorder what a log viewer shows after them, and the line and
/// paragraph separators break lines in some: neither reaches the log from a callback's query.
#[tokio::test]
async fn bidi_controls_and_line_separators_never_reach_the_log() {
    let mut logged = Logged::start().await;
    let description =
        "user \u{202e}deifitrev\u{202c} said \u{2066}no\u{2069}\u{2028}INFO forged\u{2029}";
    let res = logged
        .come_back_with("google", "access_denied", Some(description))
        .await;
    assert_eq!(res.status(), 400);
    logged.process.stop();
    let log = logged.log();
    let lines = logged.lines_with("sign-in cancelled at the provider");
    assert_eq!(lines.len(), 1, "{log}");
    assert!(
        lines[0].contains("user deifitrev said noINFO forged"),
        "{}",
        lines[0]
    );
    for c in [
        '\u{202e}', '\u{202c}', '\u{2066}', '\u{2069}', '\u{2028}', '\u{2029}',
    ] {
        assert!(!log.contains(c), "U+{:04X} reached the log", u32::from(c));
    }
}

#[tokio::test]
async fn a_token_endpoint_failure_is_logged_with_its_status() {
    let mut logged = Logged::start().await;
    logged.world.github.set_token_failure(Some(503));
    let mut browser = Browser::extension();
    let res = logged.world.sign_in_with_github(&mut browser).await;
    assert_eq!(res.status(), 502);
    let page = page_with_request_id(res).await;
    assert!(page.contains("<code>provider_error</code>"), "{page}");

    logged.world.github.set_token_failure(None);
    logged.world.google.set_token_failure(Some(500));
    let res = logged
        .world
        .sign_in_with_google(&mut Browser::extension())
        .await;
    assert_eq!(res.status(), 502);

    logged.process.stop();
    let lines = logged.lines_with("provider exchange failed");
    assert_eq!(lines.len(), 2, "{}", logged.log());
    assert!(
        lines[0].contains("github token endpoint answered HTTP 503"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains("google token endpoint answered HTTP 500"),
        "{}",
        lines[1]
    );
}

#[tokio::test]
async fn a_token_endpoint_refusing_the_client_is_a_configuration_error() {
    let mut logged = Logged::start_with(|c| {
        c.set(
            "LATCHKEY__PROVIDERS__GOOGLE__CLIENT_SECRET",
            "not-the-secret",
        )
        .set(
            "LATCHKEY__PROVIDERS__GITHUB__CLIENT_SECRET",
            "not-the-secret",
        )
    })
    .await;
    for provider in ["google", "github"] {
        let mut browser = Browser::extension();
        let res = match provider {
            "google" => logged.world.sign_in_with_google(&mut browser).await,
            _ => logged.world.sign_in_with_github(&mut browser).await,
        };
        assert_eq!(res.status(), 502, "{provider}");
        let page = page_with_request_id(res).await;
        assert!(page.contains("<code>provider_error</code>"), "{page}");
        assert!(page.contains("configuration error"), "{page}");
        assert!(page.contains("client id or secret"), "{page}");
    }
    logged.process.stop();
    let lines = logged.lines_with("provider exchange failed");
    assert_eq!(lines.len(), 2, "{}", logged.log());
    assert!(
        lines[0].contains("google token endpoint answered HTTP 401: invalid_client"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains("github token endpoint answered HTTP 200: incorrect_client_credentials"),
        "{}",
        lines[1]
    );
    assert!(!logged.log().contains("not-the-secret"), "{}", logged.log());
}

/// The token endpoint's `error` is read by the callback's table: GitHub's
/// `redirect_uri_mismatch` there shows the redirect URI to register, `application_suspended`
/// is a client error; its words reach the log cleaned of control characters and cut short.
#[tokio::test]
async fn a_token_endpoint_error_is_read_like_the_callbacks_and_logged_clean() {
    let mut logged = Logged::start().await;
    let hostile = format!(
        "forged\r\nERROR latchkey: fake line \u{1b}[31m{}",
        "x".repeat(10_000)
    );
    logged
        .world
        .github
        .set_token_error(Some(("redirect_uri_mismatch", &hostile)));
    let res = logged
        .world
        .sign_in_with_github(&mut Browser::extension())
        .await;
    assert_eq!(res.status(), 502);
    let page = page_with_request_id(res).await;
    assert!(page.contains("<code>provider_error</code>"), "{page}");
    assert!(page.contains("configuration error"), "{page}");
    assert!(
        page.contains("http://localhost:8080/auth/github/callback"),
        "the page names the URI to register: {page}"
    );
    assert!(
        !page.contains("forged"),
        "the provider's words stay in the log: {page}"
    );

    logged
        .world
        .github
        .set_token_error(Some(("application_suspended", "suspended")));
    let res = logged
        .world
        .sign_in_with_github(&mut Browser::extension())
        .await;
    assert_eq!(res.status(), 502);
    let page = page_with_request_id(res).await;
    assert!(page.contains("client id or secret"), "{page}");

    logged.process.stop();
    let log = logged.log();
    let lines = logged.lines_with("provider exchange failed");
    assert_eq!(lines.len(), 2, "{log}");
    assert!(
        lines[0].contains("redirect_uri_mismatch (forged"),
        "{}",
        lines[0]
    );
    assert!(!log.contains('\u{1b}'), "no escape reaches the log");
    assert!(
        !log.lines()
            .any(|l| l.starts_with("ERROR latchkey: fake line")),
        "{log}"
    );
    assert!(
        !log.contains(&"x".repeat(300)),
        "the description is cut short"
    );
    assert!(lines[1].contains("application_suspended"), "{}", lines[1]);
}

#[tokio::test]
async fn json_errors_carry_the_request_id_of_their_header() {
    let logged = Logged::start().await;
    let res = logged
        .world
        .app
        .get(&mut Browser::new(), "/api/user/info")
        .await;
    assert_eq!(res.status(), 401);
    let id = res.headers()["x-request-id"]
        .to_str()
        .expect("X-Request-Id")
        .to_owned();
    let body = json(res).await;
    assert_eq!(body["code"], "unauthenticated");
    assert_eq!(body["request_id"], id.as_str(), "{body}");
    // A route that does not exist: the framework's own error, in the envelope, with the id.
    let res = logged.world.app.get(&mut Browser::new(), "/nowhere").await;
    let id = res.headers()["x-request-id"]
        .to_str()
        .expect("id")
        .to_owned();
    assert_eq!(json(res).await["request_id"], id.as_str());
}

/// A refused origin is logged with what would let it through, in words that do not make the
/// operator allow whatever a client sent; each origin at most once per interval (the guard
/// runs before any rate limit), every refusal counted in `/metrics` without a label.
#[tokio::test]
async fn a_refused_origin_is_logged_once_with_what_to_check() {
    let mut logged = Logged::start().await;
    let chrome = "chrome-extension://otherextensionidotherextensionid";
    let firefox = "moz-extension://0b7e3c52-5f8e-4d1a-9c1e-1d2f3a4b5c6d";
    for origin in [chrome, chrome, firefox, chrome, firefox] {
        let mut browser = Browser {
            origin: Some(origin.into()),
            ..Browser::default()
        };
        let res = logged
            .world
            .app
            .send(&mut browser, Method::POST, "/auth/logout", &[])
            .await;
        assert_eq!(res.status(), 403, "{origin}");
    }
    let metrics = logged
        .world
        .app
        .get(&mut Browser::new(), "/metrics")
        .await
        .text()
        .await
        .expect("metrics");
    assert!(
        metrics.contains("latchkey_origin_refusals_total 5"),
        "{metrics}"
    );
    logged.process.stop();
    let chrome_lines = logged.lines_with(chrome);
    assert_eq!(chrome_lines.len(), 1, "{}", logged.log());
    assert!(
        chrome_lines[0]
            .contains("If this is your extension's id (compare with chrome://extensions)"),
        "{}",
        chrome_lines[0]
    );
    assert!(
        !chrome_lines[0].contains(&format!("add \"{chrome}\"")),
        "the line does not tell to allow what the client sent: {}",
        chrome_lines[0]
    );
    let firefox_lines = logged.lines_with("moz-extension://");
    assert_eq!(firefox_lines.len(), 1, "{}", logged.log());
    assert!(
        firefox_lines[0].contains("use token mode"),
        "{}",
        firefox_lines[0]
    );
}

/// Past the bound of distinct origins per interval, refusals are counted, not logged: the
/// log does not grow with what clients send.
#[tokio::test]
async fn refused_origins_beyond_the_bound_are_counted_not_logged() {
    let mut logged = Logged::start().await;
    for n in 0..40 {
        let mut browser = Browser {
            origin: Some(format!("https://site{n}.example")),
            ..Browser::default()
        };
        let res = logged
            .world
            .app
            .send(&mut browser, Method::POST, "/auth/logout", &[])
            .await;
        assert_eq!(res.status(), 403);
    }
    logged.process.stop();
    let lines = logged.lines_with("refused a request from an origin");
    assert_eq!(lines.len(), 32, "{}", logged.log());
}

/// Whatever `error` and `error_description` a client sends back (line breaks, escapes,
/// bidirectional controls, 10 KB), the log gets them cleaned and cut short, and neither the
/// page, the JSON answer nor token mode's redirect ever repeats them: they carry only the
/// refusal's own code and words.
#[tokio::test]
async fn a_hostile_error_and_description_are_cleaned_in_the_log_and_never_reflected() {
    let mut logged = Logged::start_with(crate::support::token::with_redirect_uris).await;
    let marker = "HOSTILEMARKER";
    let description = format!(
        "{marker}\r\nERROR latchkey: forged\u{1b}[2J\u{202e}live\u{2028}{}",
        "y".repeat(10_000)
    );
    // A known code with a line break after it: no code at all.
    let error = format!("invalid_client\r\n{marker}\u{1b}[31m");

    let res = logged
        .come_back_with("google", &error, Some(&description))
        .await;
    assert_eq!(res.status(), 400);
    let page = res.text().await.expect("page");
    assert!(page.contains("<code>consent_denied</code>"), "{page}");
    assert!(!page.contains(marker) && !page.contains("forged"), "{page}");

    let res = logged
        .come_back_with_headers(
            "github",
            &error,
            Some(&description),
            &[("Accept", "application/json")],
        )
        .await;
    assert_eq!(res.status(), 400);
    let body = res.text().await.expect("JSON");
    assert!(body.contains("\"consent_denied\""), "{body}");
    assert!(!body.contains(marker) && !body.contains("forged"), "{body}");

    // Token mode: the redirect carries the refusal's code and the extension's state only.
    let pkce = crate::support::token::Pkce::new();
    let mut client = crate::support::token::firefox();
    let res = crate::support::token::token_login(
        &logged.world,
        &mut client,
        "google",
        &[
            ("redirect_uri", crate::support::token::CHROMIUM_REDIRECT),
            ("code_challenge", &pkce.challenge),
            ("code_challenge_method", "S256"),
            ("state", "ext-state"),
        ],
    )
    .await;
    let auth_url = json(res).await["authUrl"]
        .as_str()
        .expect("authUrl")
        .to_owned();
    let res = logged
        .back_from(
            &mut client,
            "google",
            &auth_url,
            &error,
            Some(&description),
            &[],
        )
        .await;
    let back = crate::support::token::location(&res);
    let params: Vec<(String, String)> = back.query_pairs().into_owned().collect();
    assert_eq!(
        params,
        [
            ("error".to_owned(), "consent_denied".to_owned()),
            ("state".to_owned(), "ext-state".to_owned())
        ],
        "{back}"
    );

    logged.process.stop();
    let log = logged.log();
    let lines = logged.lines_with(marker);
    assert_eq!(lines.len(), 3, "one cleaned line per callback: {log}");
    for line in &lines {
        assert!(line.contains("sign-in cancelled at the provider"), "{line}");
        assert!(
            line.chars().count() < 1_000,
            "cut short: {} chars",
            line.len()
        );
    }
    assert!(!log.contains('\u{1b}') && !log.contains('\u{202e}') && !log.contains('\u{2028}'));
    assert!(
        !log.lines().any(|l| l.starts_with("ERROR latchkey: forged")),
        "no forged line: {log}"
    );
}

/// An `Origin` that is not text (bytes a header may carry but no origin has) is logged as not
/// readable, never as the bytes.
#[tokio::test]
async fn an_origin_with_odd_bytes_is_logged_as_not_readable() {
    let mut logged = Logged::start().await;
    let raw: &[u8] = b"chrome-extension://abc\t\xe2\x80\xaeevil\xff";
    let res = crate::support::app::client()
        .post(logged.world.app.url("/auth/logout"))
        .header(
            "Origin",
            reqwest::header::HeaderValue::from_bytes(raw).expect("obs-text is a header value"),
        )
        .send()
        .await
        .expect("answered");
    assert_eq!(res.status(), 403);
    logged.process.stop();
    let lines = logged.lines_with("refused a request from an origin");
    assert_eq!(lines.len(), 1, "{}", logged.log());
    assert!(lines[0].contains("(not readable)"), "{}", lines[0]);
    assert!(!lines[0].contains("evil"), "{}", lines[0]);
    assert!(!logged.log().contains('\u{202e}'));
}
