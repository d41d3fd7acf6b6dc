//! The peers `make bench` measures latchkey beside (`benches/http`, `docs/performance.md`),
//! each an actix-web server on a loopback port of the bench's process, on the bench's Redis:
//!
//! - **actix-session**: `SessionMiddleware` with `RedisSessionStore` and every default (the
//!   TTL policy, the encrypted cookie), a session holding a user id and a small JSON profile,
//!   one read-only route, `GET /session/me`; `POST /session/login` starts the session.
//! - **bare GET**: `GET /bare`, one redis-rs `GET` of a stored JSON document through a
//!   `ConnectionManager`, returned as it is. What one round trip costs with nothing around
//!   it: the floor an authenticated request can approach.
//!
//! Bench-only (a dev-dependency of the root package): nothing here is in latchkey's binary.

use std::sync::mpsc;
use std::thread::JoinHandle;

use actix_session::storage::RedisSessionStore;
use actix_session::{Session, SessionMiddleware};
use actix_web::cookie::Key;
use actix_web::dev::ServerHandle;
use actix_web::http::header::ContentType;
use actix_web::{web, App, HttpResponse, HttpServer};
use anyhow::Context;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};

/// The key the bare peer reads: the bench stores latchkey's own `/api/user/info` answer there.
pub const BARE_KEY: &str = "bench:bare:user-info";

/// The profile the actix-session peer keeps in its session beside the user id.
#[derive(Serialize, Deserialize)]
pub struct PeerProfile {
    pub name: String,
    pub email: String,
    pub image: String,
    pub plan: String,
}

/// The peers' server, running on a thread of its own until dropped.
pub struct Peers {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    handle: ServerHandle,
    thread: Option<JoinHandle<()>>,
}

impl Peers {
    /// Starts both peers on one server (the default number of actix workers, as latchkey's),
    /// connected to the Redis at `redis_url`.
    pub fn start(redis_url: &str) -> anyhow::Result<Self> {
        let (ready, started) = mpsc::channel();
        let url = redis_url.to_owned();
        let thread = std::thread::spawn(move || {
            let system = actix_rt::System::new();
            system.block_on(async move {
                match bind(&url).await {
                    Ok((server, port)) => {
                        let _ = ready.send(Ok((server.handle(), port)));
                        let _ = server.await;
                    }
                    Err(e) => {
                        let _ = ready.send(Err(e));
                    }
                }
            });
        });
        let (handle, port) = started
            .recv()
            .context("the peers' thread ended before it started")??;
        Ok(Self {
            base: format!("http://127.0.0.1:{port}"),
            handle,
            thread: Some(thread),
        })
    }
}

impl Drop for Peers {
    fn drop(&mut self) {
        // Stops the server; its System then returns and the thread ends.
        drop(self.handle.stop(false));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn bind(redis_url: &str) -> anyhow::Result<(actix_web::dev::Server, u16)> {
    let store = RedisSessionStore::new(redis_url)
        .await
        .context("actix-session's RedisSessionStore cannot connect")?;
    let bare = ConnectionManager::new(redis::Client::open(redis_url)?)
        .await
        .context("the bare peer cannot connect to Redis")?;
    let key = Key::generate();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(bare.clone()))
            .route("/bare", web::get().to(bare_get))
            .service(
                web::scope("/session")
                    .wrap(SessionMiddleware::new(store.clone(), key.clone()))
                    .route("/login", web::post().to(session_login))
                    .route("/me", web::get().to(session_me)),
            )
    })
    .bind(("127.0.0.1", 0))
    .context("the peers cannot bind a loopback port")?;
    let port = server
        .addrs()
        .first()
        .map(|a| a.port())
        .context("the peers' server has no address")?;
    Ok((server.run(), port))
}

/// One `GET`, the stored JSON returned as it is.
async fn bare_get(conn: web::Data<ConnectionManager>) -> HttpResponse {
    let mut conn = conn.get_ref().clone();
    match redis::cmd("GET")
        .arg(BARE_KEY)
        .query_async::<Option<Vec<u8>>>(&mut conn)
        .await
    {
        Ok(Some(body)) => HttpResponse::Ok()
            .content_type(ContentType::json())
            .body(body),
        Ok(None) => HttpResponse::NotFound().finish(),
        Err(_) => HttpResponse::ServiceUnavailable().finish(),
    }
}

/// Starts a session for a user, as a login would once the user is known.
async fn session_login(session: Session) -> HttpResponse {
    let profile = PeerProfile {
        name: "Bench User".into(),
        email: "bench@example.com".into(),
        image:
            "https://lh3.googleusercontent.com/a/ACg8ocJbench-user-picture-0123456789abcdef=s96-c"
                .into(),
        plan: "free".into(),
    };
    let stored = session
        .insert("user_id", "7f9c24e5b1a04c3e9d2f6a8b0c1d2e3f")
        .and_then(|()| session.insert("profile", profile));
    match stored {
        Ok(()) => HttpResponse::Ok().finish(),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}

#[derive(Serialize)]
struct Me {
    user_id: String,
    profile: PeerProfile,
}

/// The read-only route: the session's user and profile, as JSON.
async fn session_me(session: Session) -> HttpResponse {
    let user_id = session.get::<String>("user_id").ok().flatten();
    let profile = session.get::<PeerProfile>("profile").ok().flatten();
    match (user_id, profile) {
        (Some(user_id), Some(profile)) => HttpResponse::Ok().json(Me { user_id, profile }),
        _ => HttpResponse::Unauthorized().finish(),
    }
}
