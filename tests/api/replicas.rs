//! A second server process on the same Redis and database sees what the first one did.

use crate::support::app::spawn_app;
use crate::support::browser::Browser;
use crate::support::process::ServerProcess;
use crate::support::response::assert_error;

#[tokio::test]
async fn a_revocation_through_one_replica_is_seen_by_the_other_on_the_next_request() {
    let app = spawn_app().await;
    let replica = ServerProcess::start(&app.config.vars, None).await;
    let (browser, _) = app.signed_in_browser("Ada").await;
    assert_eq!(replica.user_info(&browser).await.status(), 200);

    assert_eq!(app.logout(&mut browser.clone()).await.status(), 200);
    assert_error(replica.user_info(&browser).await, 401, "unauthenticated").await;
}

/// Three `latchkey serve` processes on one Redis and one database, as on Kubernetes.
async fn three_replicas(world: &crate::support::world::World) -> [ServerProcess; 3] {
    let vars = &world.app.config.vars;
    [
        ServerProcess::start(vars, None).await,
        ServerProcess::start(vars, None).await,
        ServerProcess::start(vars, None).await,
    ]
}

#[tokio::test]
async fn login_on_a_revoke_on_b_or_the_cli_then_c_answers_401() {
    let mut world = crate::support::world::World::start().await;
    let [a, b, c] = three_replicas(&world).await;

    // Log in through A, as the extension would.
    world.app.address = a.address.clone();
    let mut browser = Browser::extension();
    assert_eq!(world.sign_in_with_google(&mut browser).await.status(), 200);
    assert_eq!(c.user_info(&browser).await.status(), 200);

    // Revoke through B (logout); the very next request on C is refused.
    world.app.address = b.address.clone();
    let mut on_b = browser.clone();
    assert_eq!(world.app.logout(&mut on_b).await.status(), 200);
    assert_error(c.user_info(&browser).await, 401, "unauthenticated").await;

    // Log in through A again; revoke through the operator CLI; C refuses at once.
    world.app.address = a.address.clone();
    let mut browser = Browser::extension();
    assert_eq!(world.sign_in_with_google(&mut browser).await.status(), 200);
    assert_eq!(c.user_info(&browser).await.status(), 200);
    let run = crate::support::process::latchkey(
        &world.app.config.vars,
        &["sessions", "revoke", "--user", "alice@example.com", "--yes"],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_error(c.user_info(&browser).await, 401, "unauthenticated").await;
}

#[tokio::test]
async fn a_plan_change_through_the_cli_is_seen_on_every_replica_at_once() {
    let mut world = crate::support::world::World::start().await;
    let [a, b, c] = three_replicas(&world).await;
    world.app.address = a.address.clone();
    let mut browser = Browser::extension();
    assert_eq!(world.sign_in_with_google(&mut browser).await.status(), 200);
    for replica in [&a, &b, &c] {
        let user = crate::support::response::json(replica.user_info(&browser).await).await;
        assert_eq!(user["user"]["plan"], "free");
    }
    let run = crate::support::process::latchkey(
        &world.app.config.vars,
        &["plan", "set", "alice@example.com", "pro"],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    for replica in [&c, &b, &a] {
        let user = crate::support::response::json(replica.user_info(&browser).await).await;
        assert_eq!(user["user"]["plan"], "pro");
        assert!(user["user"]["daily_ocr_limit"].is_null());
    }
}
