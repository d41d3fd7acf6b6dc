//! Reading and asserting the app's answers.

use reqwest::header::SET_COOKIE;
use reqwest::Response;

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
