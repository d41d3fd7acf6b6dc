//! The vision proxy: calls an OpenAI-compatible chat-completions API to read the subtitle in a
//! video frame, so that the API key stays on the server (docs/vision.md).

use std::time::Duration;

use anyhow::{anyhow, Context};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use super::image::ImageKind;

use crate::config::VisionSettings;

/// Why the upstream call did not give us text.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("the vision API did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the vision API failed")]
    Failed(#[source] anyhow::Error),
}

/// One shared HTTP client and the request shape for the configured API.
pub struct VisionClient {
    http: reqwest::Client,
    endpoint: String,
    model: String,
    prompt: String,
    api_key: Option<SecretString>,
    timeout: Duration,
}

#[derive(Deserialize)]
struct Completion {
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    message: Message,
}

#[derive(Deserialize)]
struct Message {
    content: Option<String>,
}

impl VisionClient {
    pub fn new(settings: &VisionSettings) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("latchkey/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot build the HTTP client for the vision API")?;
        Ok(Self {
            http,
            endpoint: format!(
                "{}/chat/completions",
                settings.base_url.as_str().trim_end_matches('/')
            ),
            model: settings.model.clone(),
            prompt: settings.prompt.clone(),
            api_key: settings.api_key.clone(),
            timeout: settings.timeout,
        })
    }

    /// Whether an API key is configured; without one the proxy answers 503.
    pub fn is_configured(&self) -> bool {
        self.api_key.is_some()
    }

    /// Sends the image as a data URL with the configured prompt; returns the text read.
    pub async fn read_subtitles(
        &self,
        kind: ImageKind,
        image: &[u8],
    ) -> Result<String, UpstreamError> {
        let key = self
            .api_key
            .as_ref()
            .ok_or_else(|| UpstreamError::Failed(anyhow!("vision.api_key is not set")))?;
        let data_url = format!("data:{};base64,{}", kind.mime(), STANDARD.encode(image));
        let body = json!({
            "model": self.model,
            "temperature": 0,
            "max_tokens": 500,
            "messages": [{
                "role": "user",
                "content": [
                    { "type": "text", "text": self.prompt },
                    { "type": "image_url", "image_url": { "url": data_url } },
                ],
            }],
        });
        let response = self
            .http
            .post(&self.endpoint)
            .bearer_auth(key.expose_secret())
            .json(&body)
            .send()
            .await
            .map_err(|e| self.classify(e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(UpstreamError::Failed(anyhow!(
                "the vision API answered {status}"
            )));
        }
        let completion: Completion = response.json().await.map_err(|e| self.classify(e))?;
        let text = completion
            .choices
            .into_iter()
            .next()
            .and_then(|c| c.message.content)
            .ok_or_else(|| UpstreamError::Failed(anyhow!("the vision API answered no text")))?;
        Ok(text.trim().to_owned())
    }

    /// A timeout is told apart (504); everything else is a failure (502). The error text
    /// never includes the request, which carries the key.
    fn classify(&self, e: reqwest::Error) -> UpstreamError {
        if e.is_timeout() {
            UpstreamError::Timeout(self.timeout)
        } else {
            UpstreamError::Failed(anyhow!("vision API request failed: {}", e.without_url()))
        }
    }
}
