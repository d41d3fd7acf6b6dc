use crate::support::app::{spawn_app, spawn_app_with};
use crate::support::browser::Browser;
use crate::support::response::json;

#[tokio::test]
async fn healthz_answers_200() {
    let app = spawn_app().await;
    let res = app.get(&mut Browser::new(), "/healthz").await;
    assert_eq!(res.status(), 200);
    assert_eq!(json(res).await["success"], true);
}

#[tokio::test]
async fn readyz_answers_200_when_redis_and_database_answer() {
    let app = spawn_app().await;
    let res = app.get(&mut Browser::new(), "/readyz").await;
    assert_eq!(res.status(), 200);
    assert_eq!(json(res).await["status"], "ready");
}

#[tokio::test]
async fn readyz_answers_200_on_the_memory_store() {
    let app = spawn_app_with(|c| c.set("LATCHKEY__SESSION__STORE", "memory")).await;
    let res = app.get(&mut Browser::new(), "/readyz").await;
    assert_eq!(res.status(), 200);
}

/// Contract §4: signed-in requests need Redis only, so a database outage stops new logins and
/// billing, not signed-in users. A replica started without migrating (as the Deployment runs
/// it) while the database does not answer serves `/api/user/info` from Redis, and `/readyz`
/// names the database.
#[tokio::test]
async fn a_database_outage_leaves_signed_in_users_served_and_readyz_names_it() {
    let seeding = spawn_app().await;
    let (browser, _) = seeding.signed_in_browser("Ada").await;
    let mut vars = seeding.config.vars.clone();
    // Nothing listens on port 1: the database refuses every connection.
    vars.insert(
        "LATCHKEY__DATABASE__URL".into(),
        "postgres://latchkey@127.0.0.1:1/latchkey".into(),
    );
    let replica = crate::support::process::ServerProcess::start(&vars, None).await;

    let res = replica.user_info(&browser).await;
    assert_eq!(res.status(), 200);
    assert_eq!(json(res).await["user"]["name"], "Ada");

    let res = crate::support::app::client()
        .get(replica.url("/readyz"))
        .send()
        .await
        .expect("readyz answers");
    assert_eq!(res.status(), 503);
    let body = json(res).await;
    assert_eq!(body["code"], "not_ready");
    assert_eq!(body["unavailable"], serde_json::json!(["database"]));

    // The probe the manifests use: Redis answers, so the replica stays in the Service and
    // keeps serving its signed-in users.
    let res = crate::support::app::client()
        .get(replica.url("/readyz?exclude=database"))
        .send()
        .await
        .expect("readyz answers");
    assert_eq!(res.status(), 200);
    assert_eq!(json(res).await["status"], "ready");
}

/// A probe with a typo must not silently check less (or more) than its author meant.
#[tokio::test]
async fn readyz_refuses_an_exclude_it_does_not_know() {
    let app = spawn_app().await;
    let res = app
        .get(&mut Browser::new(), "/readyz?exclude=database")
        .await;
    assert_eq!(res.status(), 200);
    for query in [
        "exclude=redis",
        "exclude=",
        "exclude=databse",
        "exclude=database&exclude=database",
        "exclude=%FF%FE",
        "exclude=database%0d%0aX-Injected:%201",
    ] {
        let res = app
            .get(&mut Browser::new(), &format!("/readyz?{query}"))
            .await;
        assert_eq!(res.status(), 400, "{query}");
        assert!(res.headers().get("x-injected").is_none());
        let body = json(res).await;
        assert_eq!(body["code"], "invalid_request", "{query}");
        assert_eq!(body["success"], false);
    }
}
