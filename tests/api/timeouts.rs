//! Idle and absolute timeouts, enforced by the server, configured to seconds. These tests wait
//! for deadlines to pass; they assert what the server answers, never how long it took.

use std::time::{Duration, Instant};

use crate::helpers::{assert_error, spawn_app_with, TestApp};

async fn app_with_timeouts(idle: &str, absolute: &str) -> TestApp {
    spawn_app_with(|c| {
        c.set("LATCHKEY__SESSION__IDLE_TIMEOUT", idle)
            .set("LATCHKEY__SESSION__ABSOLUTE_TIMEOUT", absolute)
    })
    .await
}

#[tokio::test]
async fn an_unused_session_ends_after_the_idle_timeout() {
    let app = app_with_timeouts("2s", "1h").await;
    let (mut browser, _) = app.signed_in_browser("Ada").await;
    assert_eq!(app.user_info(&mut browser).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_error(app.user_info(&mut browser).await, 401, "unauthenticated").await;
}

#[tokio::test]
async fn use_slides_the_idle_timeout() {
    let app = app_with_timeouts("2s", "1h").await;
    let (mut browser, _) = app.signed_in_browser("Ada").await;
    // Three uses 0.8 s apart span 2.4 s, past the first idle deadline.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(app.user_info(&mut browser).await.status(), 200);
    }
}

#[tokio::test]
async fn a_session_in_constant_use_ends_at_the_absolute_timeout() {
    let app = app_with_timeouts("2s", "3s").await;
    let (mut browser, _) = app.signed_in_browser("Ada").await;
    let started = Instant::now();
    let mut statuses = Vec::new();
    while started.elapsed() < Duration::from_millis(3600) {
        statuses.push(app.user_info(&mut browser).await.status().as_u16());
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    assert_eq!(statuses.first(), Some(&200));
    assert_eq!(statuses.last(), Some(&401));
    // Once ended, it stays ended.
    let first_401 = statuses
        .iter()
        .position(|s| *s == 401)
        .unwrap_or(statuses.len());
    assert!(
        statuses[first_401..].iter().all(|s| *s == 401),
        "{statuses:?}"
    );
}
