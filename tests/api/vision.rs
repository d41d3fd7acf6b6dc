//! The vision proxy against a fake OpenAI-compatible API on loopback.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use entity::usage_events;
use latchkey::session::{now_ms, Profile};
use reqwest::{Method, Response};
use sea_orm::{EntityTrait, PaginatorTrait};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

use crate::support::app::{spawn_app_with, TestApp};
use crate::support::browser::Browser;
use crate::support::config::TestConfig;
use crate::support::process::ServerProcess;
use crate::support::response::{assert_error, json};
use crate::support::users::{insert_free_user, profile};
use testkit::fakes::openai::OPENAI_API_KEY;
use testkit::fakes::FakeOpenAi;

const ROUTE: &str = "/api/openai/extract-subtitles";
const BOUNDARY: &str = "latchkey-test-boundary-7d1f";

fn png(size: usize) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.resize(size.max(8), 0x42);
    bytes
}

/// A multipart/form-data body, written out by hand so tests control every byte.
fn multipart(parts: &[(&str, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, bytes) in parts {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"frame.png\"\r\nContent-Type: image/png\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

struct Vision {
    app: TestApp,
    openai: FakeOpenAi,
}

impl Vision {
    async fn start(configure: impl FnOnce(TestConfig) -> TestConfig) -> Self {
        let openai = FakeOpenAi::start().await;
        let vars = openai.config_vars();
        let app = spawn_app_with(|mut c| {
            for (k, v) in &vars {
                c = c.set(k, v);
            }
            configure(c.set("LATCHKEY__VISION__TIMEOUT", "1s"))
        })
        .await;
        Self { app, openai }
    }

    async fn upload(&self, browser: &mut Browser, body: Vec<u8>) -> Response {
        self.upload_as(
            browser,
            body,
            &format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .await
    }

    async fn upload_as(
        &self,
        browser: &mut Browser,
        body: Vec<u8>,
        content_type: &str,
    ) -> Response {
        send_upload(&self.app.url(ROUTE), browser, body, content_type)
            .await
            .expect("the app answers")
    }

    async fn extract(&self, browser: &mut Browser) -> Response {
        self.upload(browser, multipart(&[("image", &png(2048))]))
            .await
    }

    async fn today(&self, browser: &mut Browser) -> serde_json::Value {
        json(self.app.user_info(browser).await).await["user"]["today_ocr_count"].clone()
    }
}

/// Posts an upload to `url` with the browser's cookies and origin.
async fn send_upload(
    url: &str,
    browser: &Browser,
    body: Vec<u8>,
    content_type: &str,
) -> reqwest::Result<Response> {
    let mut req = crate::support::app::client()
        .post(url)
        .header("Content-Type", content_type)
        .body(body);
    if let Some(origin) = &browser.origin {
        req = req.header("Origin", origin);
    }
    if let Some(cookies) = browser.cookie_header() {
        req = req.header("Cookie", cookies);
    }
    req.send().await
}

#[tokio::test]
async fn a_frame_becomes_subtitles_and_the_key_stays_on_the_server() {
    let vision = Vision::start(|c| c).await;
    vision.openai.set_reply("  こんにちは、世界  ");
    let (mut browser, _) = vision.app.signed_in_browser("Ada").await;
    let image = png(4096);

    let res = vision
        .upload(&mut browser, multipart(&[("image", &image)]))
        .await;
    assert_eq!(res.status(), 200);
    let headers = format!("{:?}", res.headers()).to_lowercase();
    let text = res.text().await.expect("body");
    let body: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(
        body,
        serde_json::json!({ "success": true, "subtitles": "こんにちは、世界" })
    );
    for leaked in [
        OPENAI_API_KEY,
        "x-upstream-secret-header",
        "openai-organization",
        "org-secret",
        "chatcmpl",
    ] {
        assert!(
            !headers.contains(&leaked.to_lowercase()),
            "{leaked} in headers"
        );
        assert!(!text.contains(leaked), "{leaked} in body");
    }

    let seen = vision.openai.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some(&*format!("Bearer {OPENAI_API_KEY}"))
    );
    let request = &seen[0].body;
    assert_eq!(request["model"], "gpt-4o-mini");
    let content = &request["messages"][0]["content"];
    assert!(content[0]["text"]
        .as_str()
        .is_some_and(|t| t.contains("Japanese subtitle")));
    let expected = format!("data:image/png;base64,{}", STANDARD.encode(&image));
    assert_eq!(content[1]["image_url"]["url"], expected);

    assert_eq!(vision.today(&mut browser).await, 1);
}

#[tokio::test]
async fn jpeg_and_webp_are_images_too() {
    let vision = Vision::start(|c| c).await;
    let (mut browser, _) = vision.app.signed_in_browser("Ada").await;
    let jpeg = [&[0xFF, 0xD8, 0xFF, 0xE0][..], &[0u8; 64]].concat();
    let webp = [&b"RIFF\x40\0\0\0WEBPVP8 "[..], &[0u8; 64]].concat();
    for (image, mime) in [(jpeg, "image/jpeg"), (webp, "image/webp")] {
        let res = vision
            .upload(&mut browser, multipart(&[("image", &image)]))
            .await;
        assert_eq!(res.status(), 200, "{mime}");
    }
    let seen = vision.openai.seen();
    assert!(
        seen[0].body["messages"][0]["content"][1]["image_url"]["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("data:image/jpeg;base64,"))
    );
    assert!(
        seen[1].body["messages"][0]["content"][1]["image_url"]["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("data:image/webp;base64,"))
    );
}

#[tokio::test]
async fn not_an_image_is_415_and_costs_nothing() {
    let vision = Vision::start(|c| c).await;
    let (mut browser, _) = vision.app.signed_in_browser("Ada").await;
    for fake in [
        &b"GIF89a......"[..],
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        b"%PDF-1.7",
        b"",
    ] {
        let res = vision
            .upload(&mut browser, multipart(&[("image", fake)]))
            .await;
        assert_error(res, 415, "not_an_image").await;
    }
    assert_eq!(vision.openai.calls(), 0);
    assert_eq!(vision.today(&mut browser).await, 0);
}

#[tokio::test]
async fn an_oversized_image_is_413() {
    let vision = Vision::start(|c| c.set("LATCHKEY__VISION__MAX_IMAGE_BYTES", "1024")).await;
    let (mut browser, _) = vision.app.signed_in_browser("Ada").await;
    // Slightly over the limit: caught while reading the part.
    let res = vision
        .upload(&mut browser, multipart(&[("image", &png(1025))]))
        .await;
    assert_error(res, 413, "image_too_large").await;
    // Exactly at the limit: fine.
    let res = vision
        .upload(&mut browser, multipart(&[("image", &png(1024))]))
        .await;
    assert_eq!(res.status(), 200);
    // Far over: refused from the declared length.
    let res = vision
        .upload(&mut browser, multipart(&[("image", &png(2 * 1024 * 1024))]))
        .await;
    assert_error(res, 413, "image_too_large").await;
    assert_eq!(vision.openai.calls(), 1);
}

/// A raw connection to the app, its address, and a signed-in browser's `Cookie` header: for
/// bodies that no HTTP client would send.
async fn raw_connection(vision: &Vision) -> (tokio::net::TcpStream, String, String) {
    let (browser, _) = vision.app.signed_in_browser("Ada").await;
    let cookie = browser.cookie_header().unwrap_or_default();
    let address = vision.app.address.trim_start_matches("http://").to_owned();
    let stream = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connect");
    (stream, address, cookie)
}

#[tokio::test]
async fn an_oversized_upload_is_refused_before_it_is_all_sent() {
    let vision = Vision::start(|c| c.set("LATCHKEY__VISION__MAX_IMAGE_BYTES", "1024")).await;
    let (mut stream, address, cookie) = raw_connection(&vision).await;
    // Announce 100 MB, send only the headers and the start of the part, then wait.
    let head = format!(
        "POST {ROUTE} HTTP/1.1\r\nHost: {address}\r\nCookie: {cookie}\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: 104857600\r\n\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\nPNG-start"
    );
    stream.write_all(head.as_bytes()).await.expect("send");
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut answer))
        .await
        .expect("answered without the rest of the body")
        .expect("read");
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("image_too_large"), "{answer}");
}

#[tokio::test]
async fn a_chunked_body_is_bounded_as_a_whole_whatever_its_parts() {
    let vision = Vision::start(|c| c.set("LATCHKEY__VISION__MAX_IMAGE_BYTES", "1024")).await;
    let (stream, address, cookie) = raw_connection(&vision).await;
    let (mut reader, mut writer) = stream.into_split();
    // No length declared: 30 MB in parts of 8 KB, each small enough on its own.
    let head = format!(
        "POST {ROUTE} HTTP/1.1\r\nHost: {address}\r\nCookie: {cookie}\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    let sender = tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await?;
        let mut part =
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n")
                .into_bytes();
        part.resize(part.len() + 8000, b'x');
        part.extend_from_slice(b"\r\n");
        let mut chunk = format!("{:x}\r\n", part.len()).into_bytes();
        chunk.extend_from_slice(&part);
        chunk.extend_from_slice(b"\r\n");
        for _ in 0..(30 << 20) / 8000 {
            writer.write_all(&chunk).await?;
        }
        let end = format!("--{BOUNDARY}--\r\n");
        let end = format!("{:x}\r\n{end}\r\n0\r\n\r\n", end.len());
        writer.write_all(end.as_bytes()).await
    });
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(30), reader.read(&mut answer))
        .await
        .expect("an answer")
        .expect("read");
    sender.abort();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("image_too_large"), "{answer}");
    assert_eq!(vision.openai.calls(), 0);
}

#[tokio::test]
async fn an_upload_of_many_parts_is_refused() {
    let vision = Vision::start(|c| c).await;
    let (mut browser, _) = vision.app.signed_in_browser("Ada").await;
    let image = png(100);
    let mut parts: Vec<(&str, &[u8])> = vec![("note", b"hi"); 20];
    parts.push(("image", &image));
    let res = vision.upload(&mut browser, multipart(&parts)).await;
    assert_error(res, 400, "invalid_multipart").await;
    assert_eq!(vision.openai.calls(), 0);
}

#[tokio::test]
async fn the_proxy_needs_a_session() {
    let vision = Vision::start(|c| c).await;
    let res = vision.extract(&mut Browser::extension()).await;
    assert_error(res, 401, "unauthenticated").await;
    assert_eq!(vision.openai.calls(), 0);
}

#[tokio::test]
async fn a_foreign_origin_cannot_post_a_frame() {
    let vision = Vision::start(|c| c).await;
    let (mut browser, _) = vision.app.signed_in_browser("Ada").await;
    browser.origin = Some("https://evil.example".into());
    assert_error(
        vision.extract(&mut browser).await,
        403,
        "origin_not_allowed",
    )
    .await;
    assert_eq!(vision.openai.calls(), 0);
}

#[tokio::test]
async fn malformed_uploads_are_400() {
    let vision = Vision::start(|c| c).await;
    let (mut browser, _) = vision.app.signed_in_browser("Ada").await;
    let res = vision
        .upload(&mut browser, multipart(&[("picture", &png(100))]))
        .await;
    assert_error(res, 400, "missing_image").await;
    let res = vision.upload(&mut browser, multipart(&[])).await;
    assert_error(res, 400, "missing_image").await;
    let res = vision.upload_as(&mut browser, png(100), "image/png").await;
    assert_error(res, 400, "invalid_multipart").await;
    let res = vision
        .upload_as(
            &mut browser,
            b"--nope\r\n\xff\xfe".to_vec(),
            "multipart/form-data; boundary=other",
        )
        .await;
    assert!(res.status().is_client_error());
    assert_eq!(json(res).await["success"], false);
    let res = vision
        .upload_as(&mut browser, Vec::new(), "multipart/form-data")
        .await;
    assert!(res.status().is_client_error());
    assert_eq!(vision.openai.calls(), 0);
    assert_eq!(vision.today(&mut browser).await, 0);
}

#[tokio::test]
async fn the_daily_quota_ends_with_429_and_retry_after() {
    let vision = Vision::start(|c| c.set("LATCHKEY__PLANS__FREE__DAILY_OCR_LIMIT", "3")).await;
    let (mut browser, _) = vision.app.signed_in_browser("Ada").await;
    for _ in 0..3 {
        assert_eq!(vision.extract(&mut browser).await.status(), 200);
    }
    let res = vision.extract(&mut browser).await;
    let retry_after: i64 = res.headers()["retry-after"]
        .to_str()
        .ok()
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=86_400).contains(&retry_after), "{retry_after}");
    assert_error(res, 429, "quota_exceeded").await;
    assert_eq!(vision.openai.calls(), 3);
    let user = json(vision.app.user_info(&mut browser).await).await["user"].clone();
    assert_eq!(user["today_ocr_count"], 3);
    assert_eq!(user["daily_ocr_limit"], 3);
}

#[tokio::test]
async fn upstream_failure_and_timeout_do_not_count() {
    let vision = Vision::start(|c| c.set("LATCHKEY__PLANS__FREE__DAILY_OCR_LIMIT", "1")).await;
    let (mut browser, _) = vision.app.signed_in_browser("Ada").await;
    vision.openai.set_failure(Some(500));
    assert_error(vision.extract(&mut browser).await, 502, "upstream_error").await;
    vision.openai.set_failure(Some(429));
    assert_error(vision.extract(&mut browser).await, 502, "upstream_error").await;
    vision.openai.set_failure(None);
    vision.openai.set_delay(Duration::from_secs(3));
    assert_error(vision.extract(&mut browser).await, 504, "upstream_timeout").await;
    vision.openai.set_delay(Duration::ZERO);
    assert_eq!(vision.today(&mut browser).await, 0);
    // The one unit of quota is still there.
    assert_eq!(vision.extract(&mut browser).await.status(), 200);
}

#[tokio::test]
async fn fifty_concurrent_requests_with_a_quota_of_twenty() {
    let vision = Vision::start(|c| c.set("LATCHKEY__PLANS__FREE__DAILY_OCR_LIMIT", "20")).await;
    let (browser, _) = vision.app.signed_in_browser("Ada").await;
    let results = futures_util::future::join_all((0..50).map(|_| {
        let mut b = browser.clone();
        let vision = &vision;
        async move { vision.extract(&mut b).await.status().as_u16() }
    }))
    .await;
    assert_eq!(
        results.iter().filter(|s| **s == 200).count(),
        20,
        "{results:?}"
    );
    assert_eq!(
        results.iter().filter(|s| **s == 429).count(),
        30,
        "{results:?}"
    );
    assert_eq!(vision.openai.calls(), 20);
}

/// The run: 50 concurrent calls of a free user with a limit of 20 while the upstream
/// fails. Those refused were refused only because other calls held the rest of the quota, not
/// because any was used: they must not be sent to midnight as `quota_exceeded`.
#[tokio::test]
async fn calls_refused_while_others_hold_the_quota_are_told_to_retry_soon() {
    let vision = Vision::start(|c| c.set("LATCHKEY__PLANS__FREE__DAILY_OCR_LIMIT", "20")).await;
    vision.openai.set_failure(Some(500));
    // Long enough that every call arrives while the first twenty still wait upstream.
    vision.openai.set_delay(Duration::from_millis(600));
    let (browser, _) = vision.app.signed_in_browser("Ada").await;
    let responses = futures_util::future::join_all((0..50).map(|_| {
        let mut b = browser.clone();
        let vision = &vision;
        async move {
            let res = vision.extract(&mut b).await;
            let status = res.status().as_u16();
            let retry_after = res
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            (status, retry_after, json(res).await)
        }
    }))
    .await;
    let failed = responses.iter().filter(|(s, _, _)| *s == 502).count();
    let refused: Vec<_> = responses.iter().filter(|(s, _, _)| *s == 429).collect();
    assert_eq!(failed + refused.len(), 50, "{responses:?}");
    assert_eq!(vision.openai.calls(), failed);
    assert!(!refused.is_empty(), "some calls found the quota held");
    for (_, retry_after, body) in &refused {
        assert_eq!(body["code"], "quota_busy", "{body}");
        // vision.timeout is 1 s: by then every hold has been counted or given back.
        assert_eq!(retry_after.as_deref(), Some("1"));
        let message = body["error"].as_str().unwrap_or_default();
        assert!(message.contains("0 used"), "the real count: {message}");
    }
    vision.openai.set_failure(None);
    vision.openai.set_delay(Duration::ZERO);
    assert_eq!(vision.today(&mut browser.clone()).await, 0);
    assert_eq!(vision.extract(&mut browser.clone()).await.status(), 200);
}

/// How a replica's calls are cut off before their answer.
enum CutOff {
    /// Killed (SIGKILL), as in a crash or an OOM kill.
    Crash,
    /// Stopped (SIGTERM) with a `server.shutdown_grace` shorter than the upstream call.
    ShortShutdown,
}

/// Calls cut off before their answer keep no unit: their holds end by themselves and the
/// whole quota is there again.
#[tokio::test]
async fn units_held_by_calls_that_die_unanswered_come_back() {
    units_come_back_after(CutOff::Crash).await;
}

/// The run: `shutdown_grace` shorter than an upstream call, 5 calls, 0 answers; the
/// count must not stay at 5.
#[tokio::test]
async fn units_held_by_calls_cut_by_a_short_shutdown_come_back() {
    units_come_back_after(CutOff::ShortShutdown).await;
}

async fn units_come_back_after(cut: CutOff) {
    let vision = Vision::start(|c| {
        c.set("LATCHKEY__PLANS__FREE__DAILY_OCR_LIMIT", "5")
            .set("LATCHKEY__VISION__TIMEOUT", "2s")
    })
    .await;
    let (browser, _) = vision.app.signed_in_browser("Ada").await;
    // A second replica on the same Redis and database, which will die mid-call.
    let mut vars = vision.app.config.vars.clone();
    vars.insert("LATCHKEY__SERVER__SHUTDOWN_GRACE".into(), "1s".into());
    vars.insert("LATCHKEY__SERVER__DRAIN_DELAY".into(), "0s".into());
    let mut replica = ServerProcess::start(&vars, None).await;
    vision.openai.set_delay(Duration::from_secs(60));
    let url = replica.url(ROUTE);
    let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
    let calls: Vec<_> = (0..5)
        .map(|_| {
            let (url, b, ct) = (url.clone(), browser.clone(), content_type.clone());
            tokio::spawn(async move {
                send_upload(&url, &b, multipart(&[("image", &png(2048))]), &ct)
                    .await
                    .map(|r| r.status().as_u16())
            })
        })
        .collect();
    for _ in 0..200 {
        if vision.openai.calls() == 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(vision.openai.calls(), 5, "all five calls are upstream");
    match cut {
        CutOff::Crash => replica.stop(),
        CutOff::ShortShutdown => {
            replica.terminate();
            let exited = replica.wait_exit(Duration::from_secs(30)).await;
            assert!(exited.is_some(), "the replica stops after its grace");
        }
    }
    for call in calls {
        assert!(call.await.expect("joined").is_err(), "no call was answered");
    }
    vision.openai.set_delay(Duration::ZERO);

    // The holds end after vision.timeout plus a margin; until then the user is told to retry
    // soon, never that the quota is used up.
    let mut b = browser.clone();
    let mut first = None;
    for _ in 0..300 {
        let res = vision.extract(&mut b).await;
        if res.status() == 200 {
            first = Some(200);
            break;
        }
        assert_error(res, 429, "quota_busy").await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(first, Some(200), "a unit came back");
    for _ in 0..4 {
        assert_eq!(vision.extract(&mut b).await.status(), 200);
    }
    assert_error(vision.extract(&mut b).await, 429, "quota_exceeded").await;
    assert_eq!(vision.today(&mut b).await, 5);
}

#[tokio::test]
async fn pro_is_unlimited() {
    let vision = Vision::start(|c| c.set("LATCHKEY__PLANS__FREE__DAILY_OCR_LIMIT", "1")).await;
    let mut browser = Browser::extension();
    let pro = Profile {
        plan_until_ms: Some(now_ms() + 3_600_000),
        has_subscription: true,
        ..profile("Pat", "pro")
    };
    vision.app.sign_in(&mut browser, Uuid::new_v4(), pro).await;
    for _ in 0..4 {
        assert_eq!(vision.extract(&mut browser).await.status(), 200);
    }
    let user = json(vision.app.user_info(&mut browser).await).await["user"].clone();
    assert_eq!(user["today_ocr_count"], 4);
    assert!(user["daily_ocr_limit"].is_null());
}

#[tokio::test]
async fn without_an_api_key_the_proxy_is_unavailable() {
    let openai = FakeOpenAi::start().await;
    let app =
        spawn_app_with(|c| c.set("LATCHKEY__VISION__BASE_URL", &openai.config_vars()[0].1)).await;
    let (mut browser, _) = app.signed_in_browser("Ada").await;
    let res = app
        .send(
            &mut browser,
            Method::POST,
            ROUTE,
            &[("Content-Type", "multipart/form-data; boundary=x")],
        )
        .await;
    assert_error(res, 503, "vision_unavailable").await;
    assert_eq!(openai.calls(), 0);
}

#[tokio::test]
async fn a_success_is_recorded_as_a_usage_event() {
    let vision = Vision::start(|c| c).await;
    let db = vision.app.db().await;
    let user_id = insert_free_user(&db, "ada@example.com", "Ada").await.id;
    let mut browser = Browser::extension();
    vision
        .app
        .sign_in(&mut browser, user_id, profile("Ada", "free"))
        .await;
    assert_eq!(vision.extract(&mut browser).await.status(), 200);
    let mut recorded = 0;
    for _ in 0..50 {
        recorded = usage_events::Entity::find()
            .count(&db)
            .await
            .expect("count");
        if recorded > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(recorded, 1);
}
