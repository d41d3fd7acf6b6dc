//! The pages a sign-in ends on, in the tab the provider sent back: small, self-contained, and
//! never cached.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};

use crate::http::request_id;

/// Login and callback answers carry secrets in URLs and cookies: never cached, never leaked
/// through `Referer`.
pub fn no_store(res: &mut HttpResponseBuilder) {
    res.insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"));
}

pub fn wants_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

/// A small self-contained page: inline style only, no script, no third-party resource, and a
/// CSP that allows nothing else.
pub fn page(res: HttpResponseBuilder, title: &str, message: &str) -> HttpResponse {
    render(res, title, message, "")
}

/// A page that says why a sign-in failed: the message, an optional `detail` for the person
/// who can fix it (a redirect URI to register), and the error's code and the request's id,
/// which find the log line that says more.
pub fn failure_page(
    res: HttpResponseBuilder,
    message: &str,
    code: &str,
    detail: Option<&str>,
) -> HttpResponse {
    let mut more = String::new();
    if let Some(detail) = detail {
        more.push_str(&format!(
            "<p class=\"detail\"><code>{}</code></p>",
            escape(detail)
        ));
    }
    more.push_str(&format!(
        "<p class=\"ref\">Error code <code>{}</code>",
        escape(code)
    ));
    if let Some(id) = request_id::current() {
        more.push_str(&format!(" · request id <code>{}</code>", escape(&id)));
    }
    more.push_str("</p>");
    render(res, "Not signed in", message, &more)
}

fn render(mut res: HttpResponseBuilder, title: &str, message: &str, more: &str) -> HttpResponse {
    let (title, message) = (escape(title), escape(message));
    res.insert_header((
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
    ))
    .content_type("text/html; charset=utf-8")
    .body(format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · latchkey</title>
<style>
body{{margin:0;min-height:100vh;display:grid;place-items:center;background:#f5f6f8;color:#1d2330;font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif}}
main{{max-width:28rem;margin:1.5rem;padding:2rem 2.25rem;background:#fff;border-radius:12px;box-shadow:0 1px 3px rgba(0,0,0,.08),0 8px 24px rgba(0,0,0,.06)}}
h1{{margin:0 0 .5rem;font-size:1.35rem}}
p{{margin:0;color:#4a5365}}
p.detail{{margin-top:.75rem;word-break:break-all}}
p.ref{{margin-top:1rem;font-size:.8rem;color:#7a8396}}
</style></head>
<body><main><h1>{title}</h1><p>{message}</p>{more}</main></body></html>
"#
    ))
}

/// `text` safe inside an HTML element.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}
