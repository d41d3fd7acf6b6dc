//! The pages a sign-in ends on, in the tab the provider sent back: small, self-contained, and
//! never cached.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};

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
pub fn page(mut res: HttpResponseBuilder, title: &str, message: &str) -> HttpResponse {
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
</style></head>
<body><main><h1>{title}</h1><p>{message}</p></main></body></html>
"#
    ))
}
