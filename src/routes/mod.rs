//! The routes of contract §3, one module per area.

mod csrf;
mod health;
mod login;
mod logout;
mod sessions;
mod user;
mod vision;
mod webhooks;

use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig) {
    // Each path is a resource, so a wrong method answers 405 rather than 404.
    cfg.service(web::resource("/healthz").get(health::healthz))
        .service(web::resource("/readyz").get(health::readyz))
        .service(web::resource("/metrics").get(health::metrics))
        .service(web::resource("/auth/csrf-token").get(csrf::csrf_token))
        .service(web::resource("/auth/logout").post(logout::logout))
        .service(web::resource("/auth/{provider}/login").get(login::login))
        .service(web::resource("/auth/{provider}/callback").get(login::callback))
        .service(web::resource("/api/user/info").get(user::info))
        .service(web::resource("/api/openai/extract-subtitles").post(vision::extract_subtitles))
        .service(
            web::resource("/api/sessions")
                .get(sessions::list)
                .delete(sessions::revoke_others),
        )
        .service(web::resource("/api/sessions/{id}").delete(sessions::revoke_one))
        .service(webhooks::resource());
}

/// A time in Unix milliseconds as RFC 3339, for JSON answers.
fn rfc3339(ms: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}
