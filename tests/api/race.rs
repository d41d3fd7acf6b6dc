//! Revoke-all racing concurrent logins of the same user.

use std::sync::Arc;

use latchkey::session::{ClientInfo, Revoke, Sessions, Transport};
use tokio::sync::Barrier;
use uuid::Uuid;

use crate::support::app::spawn_app;
use crate::support::users::profile;

#[tokio::test]
async fn revoke_all_racing_50_logins_leaves_nothing_created_before_it() {
    let app = spawn_app().await;
    let user = Uuid::new_v4();
    race_revoke_all_against_50_logins(&app.sessions, user).await;
    let session_keys = app
        .redis_keys()
        .await
        .into_iter()
        .filter(|k| k.contains(":s:"))
        .count();
    assert_eq!(session_keys, 0);
}

/// Races a revoke-all against 50 concurrent logins of `user`, then checks that nothing
/// created before the revoke survived it, that every survivor is in the user's index (so a
/// second revoke-all reaches it), and that after that second revoke no session of the user
/// authenticates. Shared by the single-Redis and the Redis Cluster tests; each then checks
/// its own backend for leftover keys.
pub async fn race_revoke_all_against_50_logins(sessions: &Sessions, user: Uuid) {
    let barrier = Arc::new(Barrier::new(51));

    let mut logins = Vec::new();
    for i in 0..50 {
        let (sessions, barrier) = (sessions.clone(), Arc::clone(&barrier));
        logins.push(tokio::spawn(async move {
            barrier.wait().await;
            // Spread the logins around the revoke.
            tokio::task::yield_now().await;
            let client = ClientInfo {
                user_agent: format!("racer {i}"),
                ip: "127.0.0.1".into(),
            };
            let started = sessions
                .start(user, profile("Ada", "free"), &client, Transport::Cookie)
                .await;
            (started.expect("login"), std::time::Instant::now())
        }));
    }
    barrier.wait().await;
    let revoke_started = std::time::Instant::now();
    let revoked = sessions.revoke(user, &Revoke::All).await.expect("revoke");

    let mut finished = Vec::new();
    for login in logins {
        finished.push(login.await.expect("login task"));
    }
    let mut survivors = 0;
    for (started, done_at) in &finished {
        let alive = sessions
            .authenticate(&started.token)
            .await
            .expect("store")
            .is_some();
        if *done_at < revoke_started {
            assert!(
                !alive,
                "a session created before the revoke-all survived it"
            );
        }
        survivors += usize::from(alive);
    }
    assert_eq!(
        revoked as usize + survivors,
        50,
        "each login was either revoked or survived"
    );

    // Every survivor is in the user's index, so the next revoke-all reaches it: nothing can
    // escape revocation by racing it.
    assert_eq!(sessions.list(user).await.expect("list").len(), survivors);
    assert_eq!(
        sessions.revoke(user, &Revoke::All).await.expect("revoke") as usize,
        survivors
    );
    for (started, _) in &finished {
        assert!(sessions
            .authenticate(&started.token)
            .await
            .expect("store")
            .is_none());
    }
}
