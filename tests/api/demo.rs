//! `make demo`'s configuration signs in end to end: `examples/demo.toml` and the demo's fakes
//! (`testkit::demo`, the providers approving at once), driven by an HTTP client as the example
//! extension drives it, in cookie mode (then its captures, up to the demo's small quota) and
//! in token mode. Only what a test must own differs from the demo: the port, the database, the Redis key prefix and the test environment's
//! quiet log.

use reqwest::Method;
use testkit::demo::{DemoFakes, CONFIG_FILE, EXTENSION_ID};
use url::Url;

use crate::support::app::{spawn_app_with, TestApp};
use crate::support::browser::Browser;
use crate::support::response::json;
use crate::support::token::Pkce;

/// The app on the demo's configuration, and the demo's fakes.
async fn demo() -> (TestApp, DemoFakes) {
    let fakes = DemoFakes::start().await;
    let vars = fakes.config_vars();
    let app = spawn_app_with(|mut c| {
        // The demo's own origins, from its file, not the tests' usual one.
        c.vars.remove("LATCHKEY__CORS__ALLOWED_ORIGINS");
        for (k, v) in &vars {
            c = c.set(k, v);
        }
        c.with_file(CONFIG_FILE)
            .set("LATCHKEY__LOGIN__PROVIDER_TIMEOUT", "15s")
    })
    .await;
    (app, fakes)
}

/// Follows the fake provider's redirects from `auth_url` (it approves by itself) up to the
/// redirect to latchkey's callback, and answers that callback's path and query.
async fn through_the_provider(auth_url: &str) -> String {
    let http = testkit::http_client();
    let mut next = Url::parse(auth_url).expect("authUrl is a URL");
    for _ in 0..3 {
        let res = http
            .get(next.clone())
            .send()
            .await
            .expect("the fake answers");
        assert_eq!(res.status(), 302, "the fake approves at once: {next}");
        let location = res.headers()["location"].to_str().expect("Location");
        next = next.join(location).expect("a URL");
        if next.path().ends_with("/callback") {
            // The demo's public URL: the extension talks to http://localhost:8080.
            assert_eq!(next.origin().ascii_serialization(), "http://localhost:8080");
            return format!("{}?{}", next.path(), next.query().unwrap_or_default());
        }
    }
    panic!("the provider never sent the browser back to latchkey (last: {next})");
}

#[tokio::test]
async fn the_demo_signs_the_example_extension_in_with_cookies() {
    let (app, _fakes) = demo().await;
    let mut browser = Browser {
        origin: Some(format!("chrome-extension://{EXTENSION_ID}")),
        ..Browser::default()
    };
    let res = app
        .send_with_csrf(&mut browser, Method::GET, "/auth/google/login")
        .await;
    assert_eq!(res.status(), 200, "the extension's origin is allowed");
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        format!("chrome-extension://{EXTENSION_ID}").as_str()
    );
    let auth_url = json(res).await["authUrl"]
        .as_str()
        .expect("authUrl")
        .to_owned();
    let callback = through_the_provider(&auth_url).await;
    let res = app.send(&mut browser, Method::GET, &callback, &[]).await;
    assert_eq!(res.status(), 200, "signed in");

    let info = json(app.user_info(&mut browser).await).await;
    assert_eq!(info["success"], true, "{info}");
    assert_eq!(info["user"]["email"], "alice@example.com");
    // A few free captures, to meet the quota soon: the fake vision API reads three frames,
    // the fourth is over the day's quota.
    assert_eq!(info["user"]["daily_ocr_limit"], 3);
    for _ in 0..3 {
        let res = capture(&app, &browser).await;
        assert_eq!(res.status(), 200);
        assert_eq!(json(res).await["subtitles"], "字幕のテキスト");
    }
    let res = capture(&app, &browser).await;
    assert_eq!(res.status(), 429);
    assert_eq!(json(res).await["code"], "quota_exceeded");
}

/// What the example extension's background posts for a captured frame: a PNG in the
/// multipart part `image`, with its cookies and origin, no other header.
async fn capture(app: &TestApp, browser: &Browser) -> reqwest::Response {
    const BOUNDARY: &str = "demo-frame-boundary";
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"frame.png\"\r\nContent-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(b"\x89PNG\r\n\x1a\n");
    body.resize(body.len() + 1024, 0x42);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    let mut req = testkit::http_client()
        .post(app.url("/api/openai/extract-subtitles"))
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body);
    if let Some(origin) = &browser.origin {
        req = req.header("Origin", origin);
    }
    if let Some(cookies) = browser.cookie_header() {
        req = req.header("Cookie", cookies);
    }
    req.send().await.expect("the app answers")
}

#[tokio::test]
async fn the_demo_signs_in_with_github_in_token_mode_at_the_extensions_redirect_uri() {
    let (app, _fakes) = demo().await;
    let redirect = format!("https://{EXTENSION_ID}.chromiumapp.org/");
    let pkce = Pkce::new();
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("mode", "token")
        .append_pair("redirect_uri", &redirect)
        .append_pair("code_challenge", &pkce.challenge)
        .append_pair("code_challenge_method", "S256");
    let mut client = Browser::new();
    let path = format!("/auth/github/login?{}", query.finish());
    let res = app.send(&mut client, Method::GET, &path, &[]).await;
    assert_eq!(res.status(), 200, "the extension's redirect URI is allowed");
    let auth_url = json(res).await["authUrl"]
        .as_str()
        .expect("authUrl")
        .to_owned();
    let callback = through_the_provider(&auth_url).await;
    let res = app.send(&mut client, Method::GET, &callback, &[]).await;
    assert_eq!(res.status(), 302);
    let back = Url::parse(res.headers()["location"].to_str().expect("Location")).expect("URL");
    assert!(back.as_str().starts_with(&redirect), "{back}");
    let code = back
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("a one-time code");

    let res = testkit::http_client()
        .post(app.url("/auth/token"))
        .json(&serde_json::json!({"code": code, "code_verifier": pkce.verifier}))
        .send()
        .await
        .expect("the exchange answers");
    assert_eq!(res.status(), 200);
    let token = json(res).await["session_token"]
        .as_str()
        .expect("session_token")
        .to_owned();
    let info = json(app.user_info(&mut Browser::new().with_bearer(&token)).await).await;
    assert_eq!(info["success"], true, "{info}");
    assert_eq!(info["user"]["plan"], "free");
}

/// The demo's fakes sign anyone in as a verified alice@example.com: whatever database or
/// Redis the shell names, the demo keeps to its own, and says which variables it ignored.
#[test]
fn the_demo_keeps_to_its_own_database_and_redis_whatever_the_shell_says() {
    use latchkey::config::{Settings, Sources};
    use secrecy::ExposeSecret;

    let shell = [
        ("LATCHKEY__DATABASE__URL", "postgres://app:pw@prod-db/app"),
        ("latchkey__redis__url", "redis://prod-cache:6379"),
        ("LATCHKEY__REDIS__KEY_PREFIX", "latchkey:"),
        ("LATCHKEY__SERVER__PORT", "9090"),
    ];
    let mut sources = Sources::from_process(Some(CONFIG_FILE.into()));
    sources.environment = Some("development".to_owned());
    sources.env_vars = shell
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut ignored = testkit::demo::pin_storage(&mut sources.env_vars);
    ignored.sort();
    assert_eq!(
        ignored,
        [
            "LATCHKEY__DATABASE__URL",
            "LATCHKEY__REDIS__KEY_PREFIX",
            "latchkey__redis__url"
        ]
    );
    let settings = Settings::load(&sources).expect("the demo's configuration loads");
    assert_eq!(
        settings.database.url.expose_secret(),
        "sqlite://data/demo.db?mode=rwc"
    );
    assert_eq!(settings.redis.url.expose_secret(), "redis://127.0.0.1:6379");
    assert_eq!(settings.redis.key_prefix, "latchkey-demo:");
    assert_eq!(settings.server.port, 9090, "other variables still apply");
}

/// The example extension's id comes from a public manifest key: anyone can load their own
/// code under it. The demo's file, the one people copy from, says so where it allows it.
#[test]
fn the_demo_file_warns_against_copying_the_example_id_to_production() {
    let file = std::fs::read_to_string(CONFIG_FILE).expect("examples/demo.toml");
    for key in ["allowed_origins", "redirect_uris"] {
        let at = file.find(&format!("{key} =")).expect(key);
        let comment: String = file[..at]
            .lines()
            .rev()
            .take_while(|l| l.starts_with('#'))
            .collect::<Vec<_>>()
            .join(" ");
        let comment = comment.to_lowercase();
        assert!(comment.contains("never copy"), "{key}: {comment}");
        assert!(comment.contains("production"), "{key}: {comment}");
    }
}
