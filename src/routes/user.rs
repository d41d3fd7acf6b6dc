use actix_web::{web, HttpResponse};
use serde::Serialize;

use super::rfc3339;
use crate::http::Authenticated;
use crate::session::now_ms;
use crate::state::AppState;

/// The user as the extension shows it; built from the session store alone (no SQL), so it
/// keeps answering while the database is down.
#[derive(Serialize)]
struct UserInfo<'a> {
    user_id: String,
    name: Option<&'a str>,
    email: Option<&'a str>,
    image: Option<&'a str>,
    plan: &'a str,
    has_subscription: bool,
    subscription_end: Option<String>,
    today_ocr_count: u64,
    /// `None` (JSON null) when the plan is unlimited.
    daily_ocr_limit: Option<u32>,
    /// The existing extension's name for `image`.
    profile: Option<&'a str>,
    /// The existing extension's name for `plan`.
    current_plan: &'a str,
    /// This session's expiry, in Unix seconds.
    exp: i64,
}

pub async fn info(
    Authenticated(current): Authenticated,
    state: web::Data<AppState>,
) -> HttpResponse {
    let profile = &current.profile;
    let now = now_ms();
    let plan = profile.effective_plan(now);
    // A subscription whose period has passed is over, event or not.
    let subscribed = profile.has_subscription && profile.plan_until_ms.is_none_or(|end| end > now);
    let image = non_empty(&profile.image);
    let user = UserInfo {
        user_id: current.user_id.to_string(),
        name: non_empty(&profile.name),
        email: non_empty(&profile.email),
        image,
        plan,
        has_subscription: subscribed,
        subscription_end: profile
            .plan_until_ms
            .filter(|_| subscribed)
            .and_then(rfc3339),
        today_ocr_count: current.today_count,
        daily_ocr_limit: daily_limit(&state, plan),
        profile: image,
        current_plan: plan,
        exp: current.expires_ms.div_euclid(1000),
    };
    HttpResponse::Ok().json(serde_json::json!({ "success": true, "user": user }))
}

/// The daily vision quota of a plan: `pro` is unlimited, every other plan has the free limit.
pub fn daily_limit(state: &AppState, plan: &str) -> Option<u32> {
    (plan != "pro").then_some(state.settings.plans.free.daily_ocr_limit)
}

/// The profile cache stores "" for a missing value; clients get null.
fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}
