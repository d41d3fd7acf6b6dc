//! What the handlers share.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::auth::Providers;
use crate::config::Settings;
use crate::http::cookies::CookiePolicy;
use crate::proxy::VisionClient;
use crate::session::Sessions;

pub struct AppState {
    pub settings: Arc<Settings>,
    pub sessions: Sessions,
    pub db: DatabaseConnection,
    pub cookies: CookiePolicy,
    pub providers: Providers,
    pub vision: VisionClient,
}
