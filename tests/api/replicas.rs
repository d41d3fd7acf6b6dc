//! A second server process on the same Redis and database sees what the first one did.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::helpers::{assert_error, free_port, spawn_app, Browser, TestApp};

/// `latchkey serve` as a separate process, with the test app's configuration.
struct Replica {
    child: Child,
    address: String,
}

impl Replica {
    async fn start(app: &TestApp) -> Self {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_latchkey"))
            .args(["serve", "--no-migrate"])
            .env("LATCHKEY_ENV", "test")
            .env(
                "LATCHKEY_CONFIG_DIR",
                concat!(env!("CARGO_MANIFEST_DIR"), "/config"),
            )
            .envs(app.config.vars.iter())
            .env("LATCHKEY__SERVER__PORT", port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the latchkey binary starts");
        let replica = Self {
            child,
            address: format!("http://127.0.0.1:{port}"),
        };
        let client = crate::helpers::client();
        for _ in 0..100 {
            if client
                .get(format!("{}/healthz", replica.address))
                .send()
                .await
                .is_ok()
            {
                return replica;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("replica did not start");
    }
}

impl Replica {
    /// `GET /api/user/info` on this replica with the browser's cookies.
    async fn user_info(&self, browser: &Browser) -> reqwest::Response {
        let cookies: Vec<String> = browser
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        crate::helpers::client()
            .get(format!("{}/api/user/info", self.address))
            .header("Cookie", cookies.join("; "))
            .send()
            .await
            .expect("replica answers")
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn a_revocation_through_one_replica_is_seen_by_the_other_on_the_next_request() {
    let app = spawn_app().await;
    let replica = Replica::start(&app).await;
    let (browser, _) = app.signed_in_browser("Ada").await;
    assert_eq!(replica.user_info(&browser).await.status(), 200);

    assert_eq!(app.logout(&mut browser.clone()).await.status(), 200);
    assert_error(replica.user_info(&browser).await, 401, "unauthenticated").await;
}
