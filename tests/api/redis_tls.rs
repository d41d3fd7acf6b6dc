//! `rediss://`: sessions kept in a Redis that speaks only TLS (a `redis-server` of the test's
//! own, with the certificates in `fixtures/tls`), with the server's certificate verified
//! against the trusted roots, never skipped.

use testkit::redis::{RedisOptions, RedisServer, TlsFiles};

use crate::support::app::spawn_app_with;
use crate::support::process::ServerProcess;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/api/fixtures/tls");

/// A `redis-server` with a TLS port (the certificates in `fixtures/tls`) and, for the test's
/// own setup, a plain-text port on loopback serving the same data.
fn tls_redis() -> RedisServer {
    let fixture = |name: &str| std::path::PathBuf::from(format!("{FIXTURES}/{name}"));
    RedisServer::start_with(RedisOptions::default().tls(TlsFiles {
        cert: fixture("server.pem"),
        key: fixture("server.key"),
        ca: fixture("ca.pem"),
    }))
    .expect("a redis-server with TLS of the test's own")
}

#[tokio::test]
async fn sessions_live_in_a_tls_redis_whose_certificate_is_verified() {
    let redis = tls_redis();
    // The test process cannot trust the test CA without changing its own environment (and
    // the build has no way to skip verification), so it writes the session through the
    // plain-text port; the replicas under test read it over TLS.
    let plain = redis.url();
    let seeding = spawn_app_with(|c| c.set("LATCHKEY__REDIS__URL", &plain)).await;
    let (browser, _) = seeding.signed_in_browser("Ada").await;

    let mut trusting = seeding.config.vars.clone();
    trusting.insert(
        "LATCHKEY__REDIS__URL".into(),
        redis.tls_url().expect("the TLS port"),
    );
    trusting.insert("SSL_CERT_FILE".into(), format!("{FIXTURES}/ca.pem"));
    let replica = ServerProcess::start(&trusting, None).await;
    let res = replica.user_info(&browser).await;
    assert_eq!(res.status(), 200, "the session is read over verified TLS");
    let ready = crate::support::app::client()
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
