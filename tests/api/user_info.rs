use latchkey::session::{now_ms, Profile};
use uuid::Uuid;

use crate::support::app::{spawn_app, spawn_app_with};
use crate::support::browser::{Browser, SESSION_COOKIE};
use crate::support::response::{assert_error, json};
use crate::support::users::profile;

#[tokio::test]
async fn user_info_without_a_session_is_401() {
    let app = spawn_app().await;
    assert_error(
        app.user_info(&mut Browser::new()).await,
        401,
        "unauthenticated",
    )
    .await;
    let mut forged = Browser::new().with_cookie(
        SESSION_COOKIE,
        &format!("{}.{}", Uuid::new_v4().simple(), "A".repeat(43)),
    );
    assert_error(app.user_info(&mut forged).await, 401, "unauthenticated").await;
}

#[tokio::test]
async fn user_info_answers_the_extension_shape() {
    let app = spawn_app().await;
    let mut browser = Browser::extension();
    let user = Uuid::new_v4();
    let before = now_ms() / 1000;
    app.sign_in(&mut browser, user, profile("Ada", "free"))
        .await;

    let res = app.user_info(&mut browser).await;
    assert_eq!(res.status(), 200);
    let body = json(res).await;
    assert_eq!(body["success"], true);
    let u = &body["user"];
    assert_eq!(u["user_id"], user.to_string());
    assert_eq!(u["name"], "Ada");
    assert_eq!(u["email"], "ada@example.com");
    assert_eq!(u["image"], "https://img.example.com/Ada.png");
    assert_eq!(u["profile"], u["image"]);
    assert_eq!(u["plan"], "free");
    assert_eq!(u["current_plan"], "free");
    assert_eq!(u["has_subscription"], false);
    assert!(u["subscription_end"].is_null());
    assert_eq!(u["today_ocr_count"], 0);
    assert_eq!(u["daily_ocr_limit"], 20);
    // Default idle timeout is 7 days.
    let exp = u["exp"].as_i64().expect("exp");
    assert!(
        exp >= before + 7 * 86_400 && exp <= before + 7 * 86_400 + 60,
        "{exp}"
    );
}

#[tokio::test]
async fn pro_is_unlimited_and_the_limit_comes_from_configuration() {
    let app = spawn_app_with(|c| c.set("LATCHKEY__PLANS__FREE__DAILY_OCR_LIMIT", "3")).await;
    let mut free = Browser::new();
    app.sign_in(&mut free, Uuid::new_v4(), profile("Ada", "free"))
        .await;
    assert_eq!(
        json(app.user_info(&mut free).await).await["user"]["daily_ocr_limit"],
        3
    );

    let mut pro = Browser::new();
    let until = now_ms() + 86_400_000;
    let paying = Profile {
        plan_until_ms: Some(until),
        has_subscription: true,
        ..profile("Bea", "pro")
    };
    app.sign_in(&mut pro, Uuid::new_v4(), paying).await;
    let u = json(app.user_info(&mut pro).await).await["user"].clone();
    assert_eq!(u["plan"], "pro");
    assert!(u["daily_ocr_limit"].is_null());
    assert_eq!(u["has_subscription"], true);
    assert!(
        u["subscription_end"]
            .as_str()
            .is_some_and(|s| s.ends_with('Z')),
        "{u}"
    );
}

#[tokio::test]
async fn a_lapsed_plan_reads_as_free_without_any_event() {
    let app = spawn_app().await;
    let mut browser = Browser::new();
    let lapsed = Profile {
        plan_until_ms: Some(now_ms() - 1000),
        has_subscription: true,
        ..profile("Ada", "pro")
    };
    app.sign_in(&mut browser, Uuid::new_v4(), lapsed).await;
    let u = json(app.user_info(&mut browser).await).await["user"].clone();
    assert_eq!(u["plan"], "free");
    assert_eq!(u["daily_ocr_limit"], 20);
    assert_eq!(u["has_subscription"], false);
    assert!(u["subscription_end"].is_null());
}

#[tokio::test]
async fn a_profile_change_is_seen_on_the_next_request() {
    let app = spawn_app().await;
    let (mut browser, user) = app.signed_in_browser("Ada").await;
    assert_eq!(
        json(app.user_info(&mut browser).await).await["user"]["plan"],
        "free"
    );
    let updated = app
        .sessions
        .refresh_profile(user, &profile("Ada", "pro"))
        .await
        .expect("store answers");
    assert!(updated);
    assert_eq!(
        json(app.user_info(&mut browser).await).await["user"]["plan"],
        "pro"
    );
}
