use actix_web::http::header::ContentType;
use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::extract::Authenticated;
use crate::api::responses::{rfc3339, Succeeded};
use crate::api::responses::{StoreUnavailable, Unauthenticated};
use crate::api::state::AppState;
use crate::http::error::Flag;
use crate::plan;
use crate::session::now_ms;

/// The user as the extension shows it; built from the session store alone (no SQL), so it
/// keeps answering while the database is down.
#[derive(Serialize, ToSchema)]
#[schema(as = UserInfo)]
pub struct UserInfo<'a> {
    /// The latchkey user id (a UUID); Stripe's `client_reference_id`.
    #[schema(format = "uuid")]
    user_id: String,
    /// Null when the provider gave none.
    #[schema(required = true)]
    name: Option<&'a str>,
    /// Null when the provider gave none.
    #[schema(required = true, format = Email)]
    email: Option<&'a str>,
    /// The picture's URL; null when the provider gave none.
    #[schema(required = true)]
    image: Option<&'a str>,
    /// `free` or `pro` (or a plan an operator set).
    #[schema(example = "free")]
    plan: &'a str,
    /// A subscription makes the user `pro` now.
    has_subscription: bool,
    /// The end of that subscription's period, RFC 3339 in UTC; null without one.
    #[schema(required = true, format = DateTime)]
    subscription_end: Option<String>,
    /// Successful vision calls today (UTC).
    #[schema(minimum = 0)]
    today_ocr_count: u64,
    /// `None` (JSON null) when the plan is unlimited.
    #[schema(required = true, minimum = 0)]
    daily_ocr_limit: Option<u32>,
    /// The existing extension's name for `image`.
    #[schema(required = true)]
    profile: Option<&'a str>,
    /// The existing extension's name for `plan`.
    current_plan: &'a str,
    /// This session's expiry, in Unix seconds.
    exp: i64,
}

/// `GET /api/user/info`'s answer.
#[derive(Serialize, ToSchema)]
#[schema(as = UserInfoAnswer)]
pub struct UserInfoAnswer<'a> {
    success: Succeeded,
    user: UserInfo<'a>,
}

/// The signed-in user, from the session store alone.
#[utoipa::path(
    get,
    path = "/api/user/info",
    tag = "user",
    summary = "The signed-in user",
    description = "The user of this session, with plan and today's vision usage. Read from the \
        session store alone, so it answers while the database is down.",
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The user.", body = UserInfoAnswer),
        (status = 401, response = Unauthenticated),
        (status = 503, response = StoreUnavailable),
    )
)]
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
        daily_ocr_limit: plan::daily_limit(plan, state.settings.plans.free.daily_ocr_limit),
        profile: image,
        current_plan: plan,
        exp: current.expires_ms.div_euclid(1000),
    };
    json(&UserInfoAnswer {
        success: Flag,
        user,
    })
}

/// The answer as JSON, written into a buffer sized for it: `HttpResponse::json` starts from
/// 128 bytes and grows twice on the way to the ~450 of this answer.
fn json(answer: &UserInfoAnswer<'_>) -> HttpResponse {
    let mut body = Vec::with_capacity(512);
    match serde_json::to_writer(&mut body, answer) {
        Ok(()) => HttpResponse::Ok()
            .content_type(ContentType::json())
            .body(body),
        // Only strings and numbers of ours: serializing cannot fail; were it to, the
        // framework's own path reports it the same way.
        Err(e) => HttpResponse::from_error(actix_web::error::JsonPayloadError::Serialize(e)),
    }
}

/// The profile cache stores "" for a missing value; clients get null.
fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}
