//! `make run`'s choice of session store on a developer's machine (`serve --dev-store`):
//! the Redis Cluster at `redis.cluster_nodes` or the Redis at `redis.url` when it answers,
//! else a `redis-server` started under `data/` when that binary is installed, else the
//! in-process `memory` store. It says which in one line.

use std::net::TcpListener;
use std::process::Stdio;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio::process::{Child, Command};

use crate::config::{Environment, Settings, StoreKind};
use crate::session::RedisStore;

/// Keeps a `redis-server` we started alive as long as the server runs; it is killed on drop.
pub struct DevRedis(#[allow(dead_code)] Option<Child>);

/// `--dev-store` in production: it could put the server on the memory store, which production
/// refuses (docs/configuration.md, "Validation"), so it is refused before anything is started.
#[derive(Debug, thiserror::Error)]
#[error(
    "serve --dev-store is refused when LATCHKEY_ENV=production (it can fall back to the \
     in-process memory store); run `latchkey serve` with redis.url set"
)]
pub struct RefusedInProduction;

pub async fn choose_store(settings: &mut Settings) -> Result<DevRedis, RefusedInProduction> {
    if settings.environment == Environment::Production {
        return Err(RefusedInProduction);
    }
    Ok(pick(settings).await)
}

async fn pick(settings: &mut Settings) -> DevRedis {
    if settings.session.store == StoreKind::Memory {
        tracing::info!("session store: memory (as configured)");
        return DevRedis(None);
    }
    if settings.redis.is_cluster() {
        if cluster_answers(&settings.redis.cluster_node_urls()).await {
            tracing::info!("session store: the Redis Cluster at redis.cluster_nodes");
            return DevRedis(None);
        }
    } else if answers(settings.redis.url.expose_secret()).await {
        tracing::info!("session store: the Redis at redis.url");
        return DevRedis(None);
    }
    match start_redis().await {
        Some((child, url)) => {
            tracing::info!(%url, "session store: no Redis answered at redis.url or redis.cluster_nodes; started redis-server under data/");
            settings.redis.url = SecretString::from(url);
            settings.redis.cluster_nodes.clear();
            DevRedis(Some(child))
        }
        None => {
            tracing::warn!("session store: no Redis answered and redis-server is not installed; using the in-process memory store");
            settings.session.store = StoreKind::Memory;
            DevRedis(None)
        }
    }
}

async fn answers(url: &str) -> bool {
    match RedisStore::new(url, "", Duration::from_millis(500)) {
        Ok(store) => crate::session::SessionStore::ping(&store).await.is_ok(),
        Err(_) => false,
    }
}

async fn cluster_answers(nodes: &[String]) -> bool {
    match RedisStore::cluster(nodes, "", Duration::from_millis(500)) {
        Ok(store) => crate::session::SessionStore::ping(&store).await.is_ok(),
        Err(_) => false,
    }
}

async fn start_redis() -> Option<(Child, String)> {
    let port = TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    std::fs::create_dir_all("data").ok()?;
    let child = Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--dir", "data", "--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .ok()?;
    let url = format!("redis://127.0.0.1:{port}");
    for _ in 0..50 {
        if answers(&url).await {
            return Some((child, url));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}
