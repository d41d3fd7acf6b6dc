use crate::helpers::{json, spawn_app, spawn_app_with, Browser};

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
