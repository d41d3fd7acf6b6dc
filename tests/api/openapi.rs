//! `GET /openapi.json` (docs/api.md): an OpenAPI 3 document that matches what the server
//! serves, both ways. The served side is `latchkey::api::ROUTES`, the table that
//! `routes::configure` registers from (so it is the router itself, not a copy of it), and each
//! entry is also asked of the running app.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::Value;

use crate::support::app::{spawn_app, spawn_app_with, TestApp};
use crate::support::browser::Browser;
use crate::support::response::json;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

async fn document(app: &TestApp) -> Value {
    let res = app.get(&mut Browser::new(), "/openapi.json").await;
    assert_eq!(res.status(), 200);
    let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    json(res).await
}

/// (METHOD, path) of every operation in the document.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if item.get(method).is_some() {
                ops.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    ops
}

fn operations(doc: &Value) -> impl Iterator<Item = (String, &str, &Value)> {
    doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            METHODS.into_iter().filter_map(move |m| {
                item.get(m)
                    .map(|op| (format!("{} {path}", m.to_uppercase()), m, op))
            })
        })
}

/// A response of an operation, with a `$ref` to `#/components/responses/…` resolved.
fn resolve<'a>(doc: &'a Value, response: &'a Value) -> &'a Value {
    match response["$ref"].as_str() {
        Some(r) => {
            let name = r
                .strip_prefix("#/components/responses/")
                .expect("a response $ref");
            &doc["components"]["responses"][name]
        }
        None => response,
    }
}

#[tokio::test]
async fn openapi_json_is_an_openapi_3_document() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{}",
        doc["openapi"]
    );
    // The typed model of the OpenAPI 3 specification reads it back.
    let typed: utoipa::openapi::OpenApi =
        serde_json::from_value(doc.clone()).expect("an OpenAPI 3 document");
    assert_eq!(typed.info.title, "latchkey");
    assert!(!typed.paths.paths.is_empty());
    // What is served is what the code generates.
    let generated =
        serde_json::to_value(<latchkey::api::openapi::ApiDoc as utoipa::OpenApi>::openapi())
            .unwrap();
    assert_eq!(doc, generated);

    // Every reference resolves, every operation id is unique, every `{param}` of a path is
    // declared, every security requirement names a scheme.
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        let pointer = r.strip_prefix('#').expect("a local $ref");
        assert!(doc.pointer(pointer).is_some(), "dangling $ref {r}");
    }
    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .expect("security schemes");
    let mut ids = BTreeSet::new();
    for (name, _, op) in operations(&doc) {
        let id = op["operationId"].as_str().expect("operationId");
        assert!(
            ids.insert(id.to_owned()),
            "{name}: duplicate operationId {id}"
        );
        let path = name.split_once(' ').unwrap().1;
        for param in path.split('/').filter_map(|s| s.strip_prefix('{')) {
            let param = param.trim_end_matches('}');
            let declared = op["parameters"].as_array().is_some_and(|ps| {
                ps.iter()
                    .any(|p| p["name"] == param && p["in"] == "path" && p["required"] == true)
            });
            assert!(declared, "{name}: path parameter {param} is not declared");
        }
        for requirement in op["security"].as_array().into_iter().flatten() {
            for scheme in requirement.as_object().unwrap().keys() {
                assert!(
                    schemes.contains_key(scheme),
                    "{name}: unknown scheme {scheme}"
                );
            }
        }
    }
}

#[tokio::test]
async fn every_served_route_is_documented_and_every_documented_route_is_served() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let served: BTreeSet<(String, String)> = latchkey::api::ROUTES
        .iter()
        .map(|e| (e.method.as_str().to_owned(), e.path.to_owned()))
        .collect();
    assert_eq!(
        served.len(),
        latchkey::api::ROUTES.len(),
        "a route is registered twice"
    );
    let documented = documented(&doc);
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty(),
        "served but not documented: {undocumented:?}"
    );
    assert!(
        unserved.is_empty(),
        "documented but not served: {unserved:?}"
    );

    // And the running app agrees: each documented method is answered by a handler (not the
    // router's 404 or 405), each other method of a documented path is 405.
    for path in doc["paths"].as_object().unwrap().keys() {
        let concrete = path
            .replace("{provider}", "github")
            .replace("{id}", "0123456789abcdef");
        for method in METHODS {
            let is_documented = doc["paths"][path].get(method).is_some();
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let res = app.send(&mut Browser::new(), m, &concrete, &[]).await;
            let status = res.status().as_u16();
            let body: Value = res.json().await.unwrap_or(Value::Null);
            if is_documented {
                assert_ne!(status, 405, "{method} {path} is documented but not served");
                assert!(
                    !(status == 404 && body["code"] == "not_found"),
                    "{method} {path} is documented but not routed"
                );
            } else {
                assert_eq!(status, 405, "{method} {path} is served but not documented");
            }
        }
    }
}

#[tokio::test]
async fn error_answers_are_documented_with_the_envelope() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let envelope = [
        "#/components/schemas/ErrorBody",
        "#/components/schemas/NotReady",
        // The envelope with the 401's `reason`.
        "#/components/schemas/UnauthenticatedBody",
    ];
    for (name, _, op) in operations(&doc) {
        let responses = op["responses"].as_object().expect("responses");
        assert!(responses.contains_key("200"), "{name}: no 200");
        let mut statuses = BTreeSet::new();
        for (status, response) in responses {
            statuses.insert(status.as_str());
            let response = resolve(&doc, response);
            assert!(
                response["description"]
                    .as_str()
                    .is_some_and(|d| !d.is_empty()),
                "{name} {status}: no description"
            );
            if status.starts_with('4') || status.starts_with('5') {
                let schema = &response["content"]["application/json"]["schema"]["$ref"];
                assert!(
                    envelope.iter().any(|e| schema == e),
                    "{name} {status}: a JSON error answer must be the envelope, is {schema}"
                );
            }
            if status == "429" {
                assert!(
                    response["headers"].get("Retry-After").is_some(),
                    "{name} {status}: Retry-After is not documented"
                );
            }
        }
        // A route that needs a session says so and documents the refusal; one that needs the
        // CSRF header, likewise. A session is the cookie (`session`) or, in token mode, the
        // bearer token (`bearer`), which needs no CSRF header.
        let requirements: Vec<&Value> = op["security"].as_array().into_iter().flatten().collect();
        let authenticates = |r: &&Value| r.get("session").is_some() || r.get("bearer").is_some();
        let needs_session = !requirements.is_empty() && requirements.iter().all(authenticates);
        if needs_session {
            assert!(statuses.contains("401"), "{name}: session but no 401");
        }
        if statuses.contains("401") {
            assert!(
                requirements.iter().any(authenticates),
                "{name}: 401 without the session scheme"
            );
        }
        let with_csrf: Vec<&&Value> = requirements
            .iter()
            .filter(|r| r.get("csrf_header").is_some())
            .collect();
        for r in &with_csrf {
            assert!(
                r.get("csrf_cookie").is_some(),
                "{name}: the CSRF header without its cookie"
            );
        }
        if !with_csrf.is_empty() {
            assert!(statuses.contains("403"), "{name}: CSRF but no 403");
        }
    }
}

#[tokio::test]
async fn the_document_names_the_configured_cookies_and_providers() {
    let app = spawn_app_with(|c| {
        c.set("LATCHKEY__SESSION__COOKIE_NAME", "__Host-acme_session")
            .set("LATCHKEY__SESSION__CSRF_COOKIE_NAME", "__Host-acme_csrf")
            .set("LATCHKEY__PROVIDERS__GITHUB__CLIENT_ID", "acme-client")
            .set("LATCHKEY__PROVIDERS__GITHUB__CLIENT_SECRET", "acme-secret")
    })
    .await;
    let doc = document(&app).await;
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["session"]["name"], "__Host-acme_session");
    assert_eq!(schemes["session"]["in"], "cookie");
    assert_eq!(schemes["csrf_cookie"]["name"], "__Host-acme_csrf");
    assert_eq!(schemes["csrf_header"]["name"], "X-CSRF-Token");
    assert_eq!(schemes["csrf_header"]["in"], "header");
    // `{provider}` takes the configured providers (google has no client id here: it is off).
    for path in ["/auth/{provider}/login", "/auth/{provider}/callback"] {
        let params = doc["paths"][path]["get"]["parameters"].as_array().unwrap();
        let provider = params.iter().find(|p| p["name"] == "provider").unwrap();
        assert_eq!(
            provider["schema"]["enum"],
            serde_json::json!(["github"]),
            "{path}"
        );
    }
    // Without providers it is a free string, as in the generated document.
    let plain = document(&spawn_app().await).await;
    let params = plain["paths"]["/auth/{provider}/login"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let provider = params.iter().find(|p| p["name"] == "provider").unwrap();
    assert!(provider["schema"].get("enum").is_none());
}

#[tokio::test]
async fn the_routes_are_documented_as_docs_api_md_says() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let p = &doc["paths"];
    // The extension's multipart upload.
    let upload = &p["/api/openai/extract-subtitles"]["post"]["requestBody"]["content"]
        ["multipart/form-data"]["schema"]["$ref"];
    assert_eq!(upload, "#/components/schemas/SubtitleUpload");
    let image = &doc["components"]["schemas"]["SubtitleUpload"]["properties"]["image"];
    assert_eq!(image["format"], "binary");
    // The webhook's signature header.
    let params = p["/webhooks/stripe"]["post"]["parameters"]
        .as_array()
        .unwrap();
    assert!(params
        .iter()
        .any(|p| p["name"] == "Stripe-Signature" && p["in"] == "header" && p["required"] == true));
    // The callback: its query, and its pages.
    let callback = &p["/auth/{provider}/callback"]["get"];
    let query: BTreeSet<&str> = callback["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["in"] == "query")
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(
        query,
        BTreeSet::from(["code", "state", "error", "error_description"])
    );
    for status in ["200", "400", "403", "502", "503"] {
        assert!(
            callback["responses"][status]["content"]
                .get("text/html")
                .is_some(),
            "callback {status} page"
        );
    }
    // The extension's field names.
    let user = &doc["components"]["schemas"]["UserInfo"]["required"];
    for field in [
        "user_id",
        "name",
        "email",
        "profile",
        "current_plan",
        "has_subscription",
        "today_ocr_count",
        "exp",
    ] {
        assert!(
            user.as_array().unwrap().iter().any(|f| f == field),
            "{field}"
        );
    }
    let auth_url = &doc["components"]["schemas"]["AuthUrl"]["properties"];
    assert!(auth_url.get("authUrl").is_some());
    // The envelope.
    let envelope = &doc["components"]["schemas"]["ErrorBody"];
    assert_eq!(
        envelope["properties"]["success"]["$ref"],
        "#/components/schemas/Failed"
    );
    assert_eq!(doc["components"]["schemas"]["Failed"]["enum"][0], false);
}

fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => collect_refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn every_limited_route_documents_its_429() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let limited: Vec<_> = latchkey::api::ROUTES
        .iter()
        .filter(|e| e.limit.is_some())
        .collect();
    assert!(!limited.is_empty());
    for endpoint in limited {
        let method = endpoint.method.as_str().to_lowercase();
        let op = &doc["paths"][endpoint.path][&method];
        assert!(
            op["responses"].get("429").is_some(),
            "{} {} is limited but documents no 429",
            endpoint.method,
            endpoint.path
        );
    }
}
