//! `/metrics`, request ids and graceful shutdown.

use std::time::Duration;

use reqwest::Method;

use crate::support::app::{spawn_app, spawn_app_with, TestApp};
use crate::support::browser::Browser;
use crate::support::process::ServerProcess;
use crate::support::response::json;
use testkit::fakes::FakeOpenAi;

async fn scrape(app: &TestApp) -> prometheus_parse::Scrape {
    let res = app.get(&mut Browser::new(), "/metrics").await;
    assert_eq!(res.status(), 200);
    let content_type = res.headers()["content-type"]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = res.text().await.expect("body");
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    prometheus_parse::Scrape::parse(lines).expect("Prometheus text format")
}

/// The value of a sample with these labels (0 when absent).
fn value(scrape: &prometheus_parse::Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) => *v,
            prometheus_parse::Value::Histogram(buckets) => {
                buckets.iter().map(|b| b.count).fold(0.0, f64::max)
            }
            _ => 0.0,
        })
        .sum()
}

#[tokio::test]
async fn metrics_parse_and_move_with_requests() {
    let app = spawn_app().await;
    let (mut browser, _) = app.signed_in_browser("Ada").await;
    let before = scrape(&app).await;
    let info = [
        ("route", "/api/user/info"),
        ("method", "GET"),
        ("status", "200"),
    ];
    let info_before = value(&before, "latchkey_http_request_duration_seconds", &info);

    for _ in 0..3 {
        assert_eq!(app.user_info(&mut browser).await.status(), 200);
    }
    app.get(&mut browser, "/no/such/route").await;
    let (mut other, _) = app.signed_in_browser("Ada").await;
    assert_eq!(app.revoke_other_sessions(&mut other).await.status(), 200);

    let after = scrape(&app).await;
    assert_eq!(
        value(&after, "latchkey_http_request_duration_seconds", &info) - info_before,
        3.0
    );
    let unmatched = [("route", "unmatched"), ("status", "404")];
    assert_eq!(
        value(&after, "latchkey_http_request_duration_seconds", &unmatched),
        1.0
    );
    assert_eq!(
        value(&after, "latchkey_sessions_revoked_total", &[]),
        0.0,
        "each user had one session"
    );
    // Route templates, never raw paths: no label carries an id.
    for sample in &after.samples {
        if let Some(route) = sample.labels.get("route") {
            assert!(!route.contains("no/such"), "{route}");
        }
    }
}

/// How many series `/metrics` holds, over every metric.
fn series(scrape: &prometheus_parse::Scrape) -> usize {
    scrape.samples.len()
}

#[tokio::test]
async fn invented_methods_and_paths_add_no_series() {
    let app = spawn_app().await;
    let http = crate::support::app::client();
    let invent = |n: usize| {
        let method = Method::from_bytes(format!("X-INVENTED{n}").as_bytes()).expect("method");
        (method, app.url(&format!("/invented/{n}/path")))
    };
    // Each kind of request once, so that the series they belong to exist.
    for n in 0..2 {
        let (method, path) = invent(n);
        http.request(method.clone(), app.url("/healthz"))
            .send()
            .await
            .expect("answer");
        http.request(method, path).send().await.expect("answer");
    }
    // And the scrape's own series.
    scrape(&app).await;
    let before = series(&scrape(&app).await);
    for n in 2..300 {
        let (method, path) = invent(n);
        let res = http
            .request(method.clone(), app.url("/healthz"))
            .send()
            .await
            .expect("answer");
        assert_eq!(res.status(), 405);
        let res = http.request(method, path).send().await.expect("answer");
        assert_eq!(res.status(), 404);
    }
    let after = scrape(&app).await;
    assert_eq!(series(&after), before, "client-chosen values became labels");
    let other = [
        ("route", "/healthz"),
        ("method", "other"),
        ("status", "405"),
    ];
    assert_eq!(
        value(&after, "latchkey_http_request_duration_seconds", &other),
        300.0
    );
}

#[tokio::test]
async fn vision_and_quota_counters_move() {
    let openai = FakeOpenAi::start().await;
    let vars = openai.config_vars();
    let app = crate::support::app::spawn_app_with(|mut c| {
        for (k, v) in &vars {
            c = c.set(k, v);
        }
        c.set("LATCHKEY__PLANS__FREE__DAILY_OCR_LIMIT", "1")
    })
    .await;
    let (mut browser, _) = app.signed_in_browser("Ada").await;
    let boundary = "b0undary";
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend_from_slice(&[0; 32]);
    let mut multipart =
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\n")
            .into_bytes();
    multipart.extend_from_slice(&png);
    multipart.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    for _ in 0..2 {
        crate::support::app::client()
            .post(app.url("/api/openai/extract-subtitles"))
            .header(
                "Content-Type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .header("Cookie", browser.cookie_header().unwrap_or_default())
            .body(multipart.clone())
            .send()
            .await
            .expect("answer");
    }
    let scrape = scrape(&app).await;
    assert_eq!(
        value(
            &scrape,
            "latchkey_vision_calls_total",
            &[("outcome", "success")]
        ),
        1.0
    );
    assert_eq!(value(&scrape, "latchkey_quota_refusals_total", &[]), 1.0);
    assert_eq!(
        json(app.user_info(&mut browser).await).await["user"]["today_ocr_count"],
        1
    );
}

#[tokio::test]
async fn every_answer_carries_a_request_id() {
    let app = spawn_app().await;
    let mut browser = Browser::new();
    let mut seen = std::collections::HashSet::new();
    for path in ["/healthz", "/api/user/info", "/nope"] {
        let res = app.get(&mut browser, path).await;
        let id = res.headers()["x-request-id"]
            .to_str()
            .expect("ASCII")
            .to_owned();
        assert!(!id.is_empty() && id.len() <= 64, "{id}");
        assert!(seen.insert(id), "ids are unique");
    }
    // A client does not choose the id its request is logged under.
    let plain = "edge-1234.abc";
    assert_ne!(request_id_answered(&app, plain).await, plain);

    // A plain id from a trusted proxy in front is kept; a hostile one is replaced.
    let behind_proxy =
        spawn_app_with(|c| c.set("LATCHKEY__LIMITS__TRUSTED_PROXIES", "127.0.0.1/32")).await;
    assert_eq!(request_id_answered(&behind_proxy, plain).await, plain);
    let hostile = "a b\" <script>";
    assert_ne!(request_id_answered(&behind_proxy, hostile).await, hostile);
}

/// The `X-Request-Id` that `app` answers a request sent with `X-Request-Id: sent`.
async fn request_id_answered(app: &TestApp, sent: &str) -> String {
    let res = app
        .send(
            &mut Browser::new(),
            Method::GET,
            "/healthz",
            &[("X-Request-Id", sent)],
        )
        .await;
    res.headers()["x-request-id"]
        .to_str()
        .expect("ASCII")
        .to_owned()
}

#[tokio::test]
async fn sigterm_drains_readiness_finishes_in_flight_requests_and_exits_0() {
    let app = spawn_app().await;
    let openai = FakeOpenAi::start().await;
    openai.set_delay(Duration::from_millis(1500));
    let mut vars = app.config.vars.clone();
    for (k, v) in openai.config_vars() {
        vars.insert(k.into(), v);
    }
    vars.insert("LATCHKEY__VISION__TIMEOUT".into(), "10s".into());
    vars.insert("LATCHKEY__SERVER__DRAIN_DELAY".into(), "1s".into());
    let mut process = ServerProcess::start(&vars, None).await;
    let (browser, _) = app.signed_in_browser("Ada").await;
    let cookies = browser.cookie_header().unwrap_or_default();

    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend_from_slice(&[0; 32]);
    let mut body = b"--b\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\n".to_vec();
    body.extend_from_slice(&png);
    body.extend_from_slice(b"\r\n--b--\r\n");
    let slow = tokio::spawn(
        crate::support::app::client()
            .post(process.url("/api/openai/extract-subtitles"))
            .header("Content-Type", "multipart/form-data; boundary=b")
            .header("Cookie", cookies)
            .body(body)
            .send(),
    );
    // Wait until the slow request has reached the upstream.
    for _ in 0..100 {
        if openai.calls() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(openai.calls(), 1);
    process.terminate();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let ready = crate::support::app::client()
        .get(process.url("/readyz"))
        .send()
        .await
        .expect("still serving");
    assert_eq!(ready.status(), 503);
    assert_eq!(json(ready).await["code"], "draining");
    let ready = crate::support::app::client()
        .get(process.url("/readyz?exclude=database"))
        .send()
        .await
        .expect("still serving");
    assert_eq!(ready.status(), 503, "draining whatever is excluded");

    let slow = slow
        .await
        .expect("task")
        .expect("the in-flight request completes");
    assert_eq!(slow.status(), 200);
    let status = process
        .wait_exit(Duration::from_secs(20))
        .await
        .expect("exits by itself");
    assert!(status.success(), "{status:?}");
    assert!(crate::support::app::client()
        .get(process.url("/healthz"))
        .send()
        .await
        .is_err());
}
