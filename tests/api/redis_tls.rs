//! `rediss://`: sessions kept in a Redis that speaks only TLS (a `redis-server` of the test's
//! own, with the certificates in `fixtures/tls`), with the server's certificate verified
//! against the trusted roots, never skipped.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::helpers::{free_port, spawn_app_with, ServerProcess};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/api/fixtures/tls");

/// A `redis-server` with a TLS port and, for the test's own setup, a plain-text port on
/// loopback serving the same data; killed on drop.
struct TlsRedis {
    port: u16,
    plain_port: u16,
    child: Child,
}

impl TlsRedis {
    fn start() -> Self {
        let (port, plain_port) = (free_port(), free_port());
        let child = Command::new("redis-server")
            .args(["--port", &plain_port.to_string()])
            .args(["--tls-port", &port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--tls-cert-file", &format!("{FIXTURES}/server.pem")])
            .args(["--tls-key-file", &format!("{FIXTURES}/server.key")])
            .args(["--tls-ca-cert-file", &format!("{FIXTURES}/ca.pem")])
            .args(["--tls-auth-clients", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (see .ci/run)");
        let redis = Self {
            port,
            plain_port,
            child,
        };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return redis;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server with TLS did not start on port {port}");
    }

    /// The URL a replica is configured with; the certificate names `localhost`.
    fn url(&self) -> String {
        format!("rediss://localhost:{}", self.port)
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn sessions_live_in_a_tls_redis_whose_certificate_is_verified() {
    let redis = TlsRedis::start();
    // The test process cannot trust the test CA without changing its own environment (and
    // the build has no way to skip verification), so it writes the session through the
    // plain-text port; the replicas under test read it over TLS.
    let plain = format!("redis://127.0.0.1:{}", redis.plain_port);
    let seeding = spawn_app_with(|c| c.set("LATCHKEY__REDIS__URL", &plain)).await;
    let (browser, _) = seeding.signed_in_browser("Ada").await;

    let mut trusting = seeding.config.vars.clone();
    trusting.insert("LATCHKEY__REDIS__URL".into(), redis.url());
    trusting.insert("SSL_CERT_FILE".into(), format!("{FIXTURES}/ca.pem"));
    let replica = ServerProcess::start(&trusting, None).await;
    let res = replica.user_info(&browser).await;
    assert_eq!(res.status(), 200, "the session is read over verified TLS");
    let ready = crate::helpers::client()
        .get(format!("{}/readyz", replica.address))
        .send()
        .await
        .expect("readyz answers");
    assert_eq!(ready.status(), 200);

    // A replica whose trusted roots do not include the test CA refuses the connection: the
    // store is unavailable, and nothing falls back to an unverified or plain-text one.
    let mut distrusting = trusting.clone();
    distrusting.remove("SSL_CERT_FILE");
    let replica = ServerProcess::start(&distrusting, None).await;
    let res = replica.user_info(&browser).await;
    assert_eq!(res.status(), 503);
    let body: serde_json::Value = res.json().await.expect("the error envelope");
    assert_eq!(body["code"], "session_store_unavailable");
    assert!(
        !body.to_string().contains("certificate"),
        "no connection detail reaches the client: {body}"
    );
}
