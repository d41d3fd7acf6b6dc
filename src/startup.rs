//! Builds the application: the store, the database, the listener and the actix `App`.
//! Tests run exactly this code on port 0.

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use actix_cors::Cors;
use actix_web::dev::Server;
use actix_web::http::{header, Method};
use actix_web::middleware::{from_fn, ErrorHandlers};
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use secrecy::ExposeSecret;

use crate::api;
use crate::api::extract::CSRF_HEADER;
use crate::api::middleware::observe::observe;
use crate::api::middleware::origin::{origin_policy, AllowedOrigins};
use crate::api::middleware::renew_cookie::renew_session_cookie;
use crate::api::middleware::security_headers::security_headers;
use crate::api::state::AppState;
use crate::audit::{self, Journal};
use crate::auth::Providers;
use crate::config::{Settings, StoreKind};
use crate::db::{self, MigrateAction};
use crate::http::cookies::CookiePolicy;
use crate::http::error::{envelope_framework_errors, ApiError};
use crate::metrics::Metrics;
use crate::session::{
    MemoryStore, Policy, RedisStore, Scratch, ScratchStore, SessionStore, Sessions,
};
use crate::vision::VisionClient;

/// Largest request body accepted by routes that do not set their own limit.
const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
}

/// Choices made by the command line rather than the configuration.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    pub migrate: bool,
}

impl Application {
    pub async fn build(settings: Settings, options: Options) -> anyhow::Result<Self> {
        let settings = Arc::new(settings);
        let db = if options.migrate {
            let db = db::connect(&settings.database).await?;
            db::migrate(&db, MigrateAction::Up).await?;
            db
        } else {
            db::connect_lazily(&settings.database).await?
        };
        let (sessions, scratch) = build_stores(&settings)?;
        let metrics = Metrics::new()?;
        let journal = Journal::start(db.clone(), settings.audit.queue, metrics.journal.clone());
        tokio::spawn(audit::prune_every(db.clone(), settings.audit.retention));
        let state = web::Data::new(AppState {
            cookies: CookiePolicy::new(&settings.session),
            providers: Providers::from_settings(&settings)?,
            vision: VisionClient::new(&settings.vision)?,
            metrics,
            journal,
            draining: AtomicBool::new(false),
            settings: Arc::clone(&settings),
            sessions,
            scratch,
            db,
        });
        let address = format!("{}:{}", settings.server.host, settings.server.port);
        let listener = TcpListener::bind(&address)
            .with_context(|| format!("server.port: cannot listen on {address}"))?;
        let port = listener.local_addr()?.port();
        log_summary(&settings, &address, port);
        let server = run(listener, state.clone())?;
        Ok(Self {
            port,
            server,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The shared state, for tests that drive the session store directly.
    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }

    /// Runs until SIGTERM or SIGINT, then shuts down gracefully: readiness turns 503 for
    /// `server.drain_delay` while requests are still served, then the listener closes and
    /// in-flight requests get up to `server.shutdown_grace` to finish. Returns when done.
    pub async fn run_until_terminated(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let state = self.state.clone();
        tokio::spawn(async move {
            wait_for_termination().await;
            tracing::info!("shutting down: draining");
            state.draining.store(true, Ordering::SeqCst);
            tokio::time::sleep(state.settings.server.drain_delay).await;
            tracing::info!("shutting down: finishing in-flight requests");
            handle.stop(true).await;
        });
        self.server.await?;
        // Whatever the last requests queued reaches the database before the process ends.
        let flushed = self
            .state
            .journal
            .flush(self.state.settings.server.shutdown_grace)
            .await;
        tracing::info!(journal_flushed = flushed, "stopped");
        Ok(())
    }
}

/// The one start-up line of what this server is (`Settings::summary`).
fn log_summary(settings: &Settings, address: &str, port: u16) {
    let s = settings.summary();
    let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
    tracing::info!(
        listen = %format!("{host}:{port}"),
        environment = %s.environment,
        public_url = %s.public_url,
        store = %s.store,
        database = %s.database,
        providers = %s.providers,
        allowed_origins = %s.allowed_origins,
        redirect_uris = %s.redirect_uris,
        vision = %s.vision,
        webhook = %s.webhook,
        "latchkey is listening"
    );
    if !settings.providers.values().any(|p| p.is_enabled()) {
        tracing::warn!("no sign-in provider is on, so nobody can sign in: set providers.google.client_id and client_secret (or GitHub's; docs/providers.md), or try latchkey with fake providers: make demo");
    }
}

async fn wait_for_termination() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            // Without signal handlers, Ctrl-C through tokio is the only way left.
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// The session store the configuration names, behind the [`Sessions`] policy.
pub fn build_sessions(settings: &Settings) -> anyhow::Result<Sessions> {
    build_stores(settings).map(|(sessions, _)| sessions)
}

/// The backend the configuration names, as its two doors: [`Sessions`] for sessions and the
/// profile cache, [`Scratch`] for rate limits, quota counters and login flows. Both share one
/// store, and so one connection (or, in memory, one process's maps).
pub fn build_stores(settings: &Settings) -> anyhow::Result<(Sessions, Scratch)> {
    let (sessions, scratch) = match settings.session.store {
        StoreKind::Redis if settings.redis.is_cluster() => both(
            RedisStore::cluster(
                &settings.redis.cluster_node_urls(),
                &settings.redis.key_prefix,
                settings.redis.timeout,
            )?
            .with_layout(settings.redis.layout),
        ),
        StoreKind::Redis => both(
            RedisStore::new(
                settings.redis.url.expose_secret(),
                &settings.redis.key_prefix,
                settings.redis.timeout,
            )?
            .with_layout(settings.redis.layout),
        ),
        StoreKind::Memory => both(MemoryStore::new()),
    };
    let policy = Policy {
        idle: settings.session.idle_timeout,
        absolute: settings.session.absolute_timeout,
        max_per_user: settings.session.max_per_user,
    };
    Ok((Sessions::new(sessions, policy), Scratch::new(scratch)))
}

/// One store behind both of its traits.
fn both<S: SessionStore + ScratchStore>(
    store: S,
) -> (Arc<dyn SessionStore>, Arc<dyn ScratchStore>) {
    let store = Arc::new(store);
    (Arc::clone(&store) as Arc<dyn SessionStore>, store)
}

fn cors(settings: &Settings) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods([Method::GET, Method::POST, Method::DELETE])
        // `Authorization` for token mode's bearer token, from a page or extension page of an
        // allowed origin that CORS does hold.
        .allowed_headers([
            header::CONTENT_TYPE,
            header::HeaderName::from_static(CSRF_HEADER),
            header::AUTHORIZATION,
        ])
        .supports_credentials()
        .max_age(600);
    for origin in &settings.cors.allowed_origins {
        cors = cors.allowed_origin(origin);
    }
    cors
}

fn run(listener: TcpListener, state: web::Data<AppState>) -> anyhow::Result<Server> {
    let settings = Arc::clone(&state.settings);
    let origins = web::Data::new(AllowedOrigins::new(&settings.cors.allowed_origins));
    let grace = settings.server.shutdown_grace.as_secs();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(origins.clone())
            .app_data(web::PayloadConfig::new(DEFAULT_BODY_LIMIT))
            .app_data(
                web::JsonConfig::default()
                    .limit(DEFAULT_BODY_LIMIT)
                    .error_handler(|err, _| {
                        ApiError::BadRequest {
                            code: "invalid_json",
                            message: format!("The JSON body is invalid: {err}"),
                        }
                        .into()
                    }),
            )
            .configure(api::configure)
            .wrap(from_fn(renew_session_cookie))
            .wrap(cors(&settings))
            .wrap(from_fn(origin_policy))
            .wrap(ErrorHandlers::new().default_handler(envelope_framework_errors))
            .wrap(from_fn(security_headers))
            .wrap(from_fn(observe))
    })
    .listen(listener)?
    .disable_signals()
    .shutdown_timeout(grace)
    .run();
    Ok(server)
}
