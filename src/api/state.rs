//! What the handlers share.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::audit::Journal;
use crate::auth::Providers;
use crate::config::Settings;
use crate::http::cookies::CookiePolicy;
use crate::metrics::Metrics;
use crate::session::{Scratch, Sessions};
use crate::vision::VisionClient;

pub struct AppState {
    pub settings: Arc<Settings>,
    pub sessions: Sessions,
    /// Rate-limit windows, quota counters and login flows, on the sessions' backend.
    pub scratch: Scratch,
    pub db: DatabaseConnection,
    pub cookies: CookiePolicy,
    pub providers: Providers,
    pub vision: VisionClient,
    pub metrics: Metrics,
    /// Security events and usage records, written to SQL off the request's path.
    pub journal: Journal,
    /// Set on SIGTERM: `/readyz` answers 503 so that traffic moves elsewhere before we stop.
    pub draining: std::sync::atomic::AtomicBool,
}
