//! A second server process on the same Redis and database sees what the first one did.

use crate::helpers::{assert_error, spawn_app, ServerProcess};

#[tokio::test]
async fn a_revocation_through_one_replica_is_seen_by_the_other_on_the_next_request() {
    let app = spawn_app().await;
    let replica = ServerProcess::start(&app.config.vars, None).await;
    let (browser, _) = app.signed_in_browser("Ada").await;
    assert_eq!(replica.user_info(&browser).await.status(), 200);

    assert_eq!(app.logout(&mut browser.clone()).await.status(), 200);
    assert_error(replica.user_info(&browser).await, 401, "unauthenticated").await;
}
