//! A fake OpenAI-compatible vision API: `POST /v1/chat/completions` answering a chat
//! completion whose text the test chose, and recording what it was sent so that tests can
//! check the key and the data URL reached it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::{lock, Listener, Running};

pub const OPENAI_API_KEY: &str = "sk-test-latchkey-vision-key";

/// What one call to the fake carried.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    pub authorization: Option<String>,
    pub body: Value,
}

#[derive(Default)]
struct State {
    reply: String,
    failure: Option<u16>,
    delay: Duration,
    seen: Vec<SeenRequest>,
}

pub struct FakeOpenAi {
    base_url: String,
    state: Arc<Mutex<State>>,
    _server: Running,
}

impl FakeOpenAi {
    pub async fn start() -> Self {
        let listener = Listener::bind();
        let base_url = format!("{}/v1", listener.base_url);
        let state = Arc::new(Mutex::new(State {
            reply: "字幕のテキスト".into(),
            ..State::default()
        }));
        let server = listener.serve(Arc::clone(&state), routes);
        Self {
            base_url,
            state,
            _server: server,
        }
    }

    /// `vision.base_url` and `vision.api_key` pointing latchkey at this fake.
    pub fn config_vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("LATCHKEY__VISION__BASE_URL", self.base_url.clone()),
            ("LATCHKEY__VISION__API_KEY", OPENAI_API_KEY.into()),
        ]
    }

    pub fn set_reply(&self, text: &str) {
        lock(&self.state).reply = text.into();
    }

    /// Answer every call with this status (`None`: succeed).
    pub fn set_failure(&self, status: Option<u16>) {
        lock(&self.state).failure = status;
    }

    /// Wait this long before answering.
    pub fn set_delay(&self, delay: Duration) {
        lock(&self.state).delay = delay;
    }

    pub fn seen(&self) -> Vec<SeenRequest> {
        lock(&self.state).seen.clone()
    }

    pub fn calls(&self) -> usize {
        lock(&self.state).seen.len()
    }
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/chat/completions", web::post().to(completions));
}

async fn completions(
    req: HttpRequest,
    body: web::Json<Value>,
    state: web::Data<Mutex<State>>,
) -> HttpResponse {
    let (reply, failure, delay) = {
        let mut state = lock(&state);
        state.seen.push(SeenRequest {
            authorization: req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            body: body.into_inner(),
        });
        (state.reply.clone(), state.failure, state.delay)
    };
    tokio::time::sleep(delay).await;
    if let Some(status) = failure {
        let status = actix_web::http::StatusCode::from_u16(status)
            .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
        return HttpResponse::build(status)
            .json(json!({ "error": { "message": "upstream exploded", "type": "server_error" } }));
    }
    HttpResponse::Ok()
        .insert_header(("x-upstream-secret-header", "upstream-internal-value"))
        .insert_header(("openai-organization", "org-secret"))
        .json(json!({
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "model": "gpt-4o-mini",
            "choices": [{
                "index": 0,
                "message": { "role": "assistant", "content": reply },
                "finish_reason": "stop",
            }],
        }))
}
