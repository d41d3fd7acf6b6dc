//! Builds the application: the store, the database, the listener and the actix `App`.
//! Tests run exactly this code on port 0.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Instant;

use actix_cors::Cors;
use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::{from_fn, ErrorHandlers, Next};
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use secrecy::ExposeSecret;

use crate::auth::Providers;
use crate::config::{Settings, StoreKind};
use crate::db::{self, MigrateAction};
use crate::http::cookies::CookiePolicy;
use crate::http::error::{envelope_framework_errors, ApiError};
use crate::http::extract::CSRF_HEADER;
use crate::http::origin::{origin_policy, AllowedOrigins};
use crate::proxy::VisionClient;
use crate::routes;
use crate::session::{MemoryStore, Policy, RedisStore, SessionStore, Sessions};
use crate::state::AppState;

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
        let db = db::connect(&settings.database).await?;
        if options.migrate {
            db::migrate(&db, MigrateAction::Up).await?;
        }
        let sessions = build_sessions(&settings)?;
        let state = web::Data::new(AppState {
            cookies: CookiePolicy::new(&settings.session),
            providers: Providers::from_settings(&settings)?,
            vision: VisionClient::new(&settings.vision)?,
            settings: Arc::clone(&settings),
            sessions,
            db,
        });
        let address = format!("{}:{}", settings.server.host, settings.server.port);
        let listener = TcpListener::bind(&address)
            .with_context(|| format!("server.port: cannot listen on {address}"))?;
        let port = listener.local_addr()?.port();
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
}

/// The session store the configuration names, behind the [`Sessions`] policy.
pub fn build_sessions(settings: &Settings) -> anyhow::Result<Sessions> {
    let store: Arc<dyn SessionStore> = match settings.session.store {
        StoreKind::Redis => Arc::new(RedisStore::new(
            settings.redis.url.expose_secret(),
            &settings.redis.key_prefix,
            settings.redis.pool_size,
            settings.redis.timeout,
        )?),
        StoreKind::Memory => Arc::new(MemoryStore::new()),
    };
    let policy = Policy {
        idle: settings.session.idle_timeout,
        absolute: settings.session.absolute_timeout,
    };
    Ok(Sessions::new(store, policy))
}

fn cors(settings: &Settings) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods([Method::GET, Method::POST, Method::DELETE])
        .allowed_headers([
            header::CONTENT_TYPE,
            header::HeaderName::from_static(CSRF_HEADER),
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
            .configure(routes::configure)
            .wrap(cors(&settings))
            .wrap(from_fn(origin_policy))
            .wrap(ErrorHandlers::new().default_handler(envelope_framework_errors))
            .wrap(from_fn(log_request))
    })
    .listen(listener)?
    .shutdown_timeout(grace)
    .run();
    Ok(server)
}

/// One log line per request: method, path (never the query string, which can carry an OAuth
/// code), status and duration.
async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.path().to_owned();
    let res = next.call(req).await?;
    tracing::info!(
        %method,
        path,
        status = res.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    Ok(res)
}
