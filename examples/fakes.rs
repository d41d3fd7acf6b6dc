//! The integration tests' fake Google, GitHub and OpenAI servers as one standalone process, for
//! the browser tests in `e2e/` (and for trying the example extension by hand without real
//! providers). The fakes themselves are the dev-only `testkit` crate's (`testkit/src/fakes/`).
//!
//! ```sh
//! cargo run --example fakes
//! ```
//!
//! prints one JSON line and then serves until its standard input closes or it gets SIGTERM or
//! SIGINT:
//!
//! ```json
//! {"google":"http://127.0.0.1:…","github":"http://127.0.0.1:…","openai":"http://127.0.0.1:…/v1",
//!  "control":"http://127.0.0.1:…","env":{"LATCHKEY__PROVIDERS__GOOGLE__ISSUER":"…",…}}
//! ```
//!
//! `env` is the configuration that points latchkey at the fakes. `control` turns the knobs a
//! browser test needs, each a JSON `POST` answering `{"ok":true}`:
//!
//! | route | body |
//! |---|---|
//! | `/google/user` | `{"sub","email","name","picture","email_verified"}`: who consents next on Google |
//! | `/github/user` | `{"id","login","name","avatar_url","email"}`: who consents next on GitHub (the email is primary and verified) |
//! | `/openai/reply` | `{"text"}`: what the vision API answers |
//! | `/openai/failure` | `{"status"}`: the vision API answers this status (`null`: it works) |
//!
//! `GET /openai/calls` answers `{"calls":n,"last_image_type":"image/png"}`: how many requests
//! reached the vision API, and the media type of the last one's image; `GET /openai/last-image`
//! answers that image itself.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::{web, App, HttpResponse, HttpServer};
use serde::Deserialize;
use serde_json::json;
use testkit::fakes::{FakeGitHub, FakeGoogle, FakeOpenAi, GitHubEmail, GitHubUser, GoogleUser};

struct Fakes {
    google: FakeGoogle,
    github: FakeGitHub,
    openai: FakeOpenAi,
}

#[tokio::main]
async fn main() {
    let fakes = Arc::new(Fakes {
        google: FakeGoogle::start().await,
        github: FakeGitHub::start().await,
        openai: FakeOpenAi::start().await,
    });

    let control = TcpListener::bind("127.0.0.1:0").expect("bind the control port");
    let control_url = format!(
        "http://{}",
        control.local_addr().expect("the control address")
    );
    let data = web::Data::from(Arc::clone(&fakes));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/google/user", web::post().to(google_user))
            .route("/github/user", web::post().to(github_user))
            .route("/openai/reply", web::post().to(openai_reply))
            .route("/openai/failure", web::post().to(openai_failure))
            .route("/openai/calls", web::get().to(openai_calls))
            .route("/openai/last-image", web::get().to(openai_last_image))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(0)
    .listen(control)
    .expect("the control server listens")
    .run();
    let handle = server.handle();
    tokio::spawn(server);

    let mut env = serde_json::Map::new();
    for (key, value) in fakes
        .google
        .config_vars()
        .into_iter()
        .chain(fakes.github.config_vars())
        .chain(fakes.openai.config_vars())
    {
        env.insert(key.to_owned(), json!(value));
    }
    let openai_base = env["LATCHKEY__VISION__BASE_URL"].clone();
    println!(
        "{}",
        json!({
            "google": fakes.google.issuer(),
            "github": fakes.github.base_url(),
            "openai": openai_base,
            "control": control_url,
            "env": env,
        })
    );

    wait_for_the_end().await;
    handle.stop(false).await;
}

/// Standard input closing (the parent went away), SIGTERM or SIGINT.
async fn wait_for_the_end() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("a SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("a SIGINT handler");
    // A plain thread: tokio's own stdin needs a feature the crate does not enable.
    let (closed, stdin_closed) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        use std::io::Read;
        let mut stdin = std::io::stdin();
        let mut buf = [0u8; 256];
        while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
        let _ = closed.send(());
    });
    tokio::select! {
        _ = stdin_closed => {}
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

fn ok() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "ok": true }))
}

#[derive(Deserialize)]
struct GoogleUserBody {
    sub: String,
    email: String,
    name: String,
    #[serde(default)]
    picture: Option<String>,
    #[serde(default = "yes")]
    email_verified: bool,
}

fn yes() -> bool {
    true
}

async fn google_user(fakes: web::Data<Fakes>, body: web::Json<GoogleUserBody>) -> HttpResponse {
    let body = body.into_inner();
    let default = GoogleUser::default();
    fakes.google.set_user(GoogleUser {
        sub: body.sub,
        email: body.email,
        email_verified: body.email_verified,
        name: body.name,
        picture: body.picture.unwrap_or(default.picture),
    });
    ok()
}

#[derive(Deserialize)]
struct GitHubUserBody {
    id: u64,
    login: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    avatar_url: Option<String>,
    email: String,
}

async fn github_user(fakes: web::Data<Fakes>, body: web::Json<GitHubUserBody>) -> HttpResponse {
    let body = body.into_inner();
    let default = GitHubUser::default();
    fakes.github.set_user(GitHubUser {
        id: body.id,
        login: body.login,
        name: body.name,
        avatar_url: body.avatar_url.unwrap_or(default.avatar_url),
        public_email: None,
        emails: vec![GitHubEmail::new(&body.email, true, true)],
    });
    ok()
}

#[derive(Deserialize)]
struct ReplyBody {
    text: String,
}

async fn openai_reply(fakes: web::Data<Fakes>, body: web::Json<ReplyBody>) -> HttpResponse {
    fakes.openai.set_reply(&body.text);
    ok()
}

#[derive(Deserialize)]
struct FailureBody {
    status: Option<u16>,
}

async fn openai_failure(fakes: web::Data<Fakes>, body: web::Json<FailureBody>) -> HttpResponse {
    fakes.openai.set_failure(body.status);
    ok()
}

/// How many calls reached the vision API, and the media type of the last one's image (from
/// its `data:` URL), so a browser test can tell that the captured frame went all the way.
async fn openai_calls(fakes: web::Data<Fakes>) -> HttpResponse {
    let seen = fakes.openai.seen();
    let last_image_type = seen
        .last()
        .and_then(|call| data_url(&call.body))
        .and_then(|url| url.strip_prefix("data:"))
        .and_then(|rest| rest.split(';').next())
        .map(str::to_owned);
    HttpResponse::Ok().json(json!({ "calls": seen.len(), "last_image_type": last_image_type }))
}

/// The image of the last call, as the bytes its `data:` URL carried (404 before any call).
async fn openai_last_image(fakes: web::Data<Fakes>) -> HttpResponse {
    use base64::Engine;
    let seen = fakes.openai.seen();
    let Some(url) = seen.last().and_then(|call| data_url(&call.body)) else {
        return HttpResponse::NotFound().finish();
    };
    let Some((meta, data)) = url.strip_prefix("data:").and_then(|u| u.split_once(',')) else {
        return HttpResponse::BadRequest().body("not a data URL");
    };
    let media_type = meta.split(';').next().unwrap_or("application/octet-stream");
    match base64::engine::general_purpose::STANDARD.decode(data) {
        Ok(bytes) => HttpResponse::Ok().content_type(media_type).body(bytes),
        Err(e) => HttpResponse::BadRequest().body(format!("not base64: {e}")),
    }
}

/// The first string in a JSON document that is a `data:` URL.
fn data_url(value: &serde_json::Value) -> Option<&str> {
    match value {
        serde_json::Value::String(s) if s.starts_with("data:") => Some(s),
        serde_json::Value::Array(items) => items.iter().find_map(data_url),
        serde_json::Value::Object(map) => map.values().find_map(data_url),
        _ => None,
    }
}
