//! Sign-in end to end against fake Google and GitHub servers on loopback, as an extension
//! drives it: CSRF token, `authUrl`, consent in a tab, the callback, then `/api/user/info`.

use std::time::Duration;

use entity::{identities, users};
use latchkey::auth::flow::{self, Flow, BINDING_COOKIE};
use reqwest::header::{CACHE_CONTROL, LOCATION, REFERRER_POLICY};
use reqwest::{Method, Response};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use testkit::fakes::{GitHubEmail, GitHubUser, GoogleUser, Tamper};
use url::Url;

use crate::support::browser::{Browser, SESSION_COOKIE};
use crate::support::response::{assert_error, json, set_cookies_named};
use crate::support::token::{
    callback_for, exchange, firefox, location, param, Pkce, COMPLETE_PAGE,
};
use crate::support::world::World;

/// Asserts a refused callback: the status, the code (asked as JSON), and no session.
async fn assert_refused(res: Response, status: u16, code: &str, browser: &Browser) {
    assert!(
        !browser.cookies.contains_key(SESSION_COOKIE),
        "no session after {code}"
    );
    assert_error(res, status, code).await;
}

fn json_browser() -> Browser {
    Browser::extension()
}

async fn callback_json(world: &World, browser: &mut Browser, callback: &Url) -> Response {
    let path = format!(
        "{}?{}",
        callback.path(),
        callback.query().unwrap_or_default()
    );
    world
        .app
        .send(
            browser,
            Method::GET,
            &path,
            &[("Accept", "application/json")],
        )
        .await
}

#[tokio::test]
async fn google_sign_in_end_to_end() {
    let world = World::start().await;
    let mut browser = Browser::extension();
    let auth_url = world.start_login(&mut browser, "google").await;

    let url = Url::parse(&auth_url).expect("authUrl is a URL");
    let params: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert!(auth_url.starts_with(&world.google.authorize_endpoint()));
    assert_eq!(params["code_challenge_method"], "S256");
    assert!(
        params["state"].len() >= 22,
        "state carries at least 128 bits"
    );
    assert!(params["nonce"].len() >= 22);
    assert!(params["code_challenge"].len() >= 43);
    assert!(params["redirect_uri"].ends_with("/auth/google/callback"));
    assert!(browser.cookies.contains_key(BINDING_COOKIE));

    let callback = world.google.approve(&auth_url).await.expect("consent");
    let res = world.callback(&mut browser, &callback).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()[CACHE_CONTROL], "no-store");
    assert_eq!(res.headers()[REFERRER_POLICY], "no-referrer");
    // Contract §4: HttpOnly, Secure, SameSite=None, Path=/, no Domain, Max-Age = idle timeout
    // (the default 7 days; a second may pass between the start and the header).
    let session_cookie = set_cookie(&res, SESSION_COOKIE);
    for attribute in ["HttpOnly", "Secure", "SameSite=None", "Path=/"] {
        assert!(
            session_cookie.contains(attribute),
            "{attribute}: {session_cookie}"
        );
    }
    assert!(!session_cookie.contains("Domain"), "{session_cookie}");
    let idle = 7 * 24 * 3600;
    assert!(
        [idle, idle - 1]
            .iter()
            .any(|s| session_cookie.contains(&format!("Max-Age={s}"))),
        "{session_cookie}"
    );
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    let page = res.text().await.expect("page");
    assert!(page.contains("Signed in"));
    assert!(
        !page.contains("http"),
        "the page loads nothing from elsewhere"
    );
    assert!(browser.cookies.contains_key(SESSION_COOKIE));
    assert!(
        !browser.cookies.contains_key(BINDING_COOKIE),
        "binding cleared"
    );

    let user = json(world.app.user_info(&mut browser).await).await["user"].clone();
    assert_eq!(user["name"], "Alice Example");
    assert_eq!(user["email"], "alice@example.com");
    assert_eq!(user["image"], "https://lh3.example.com/a/alice.png");
    assert_eq!(user["plan"], "free");
    assert_eq!(world.count_users().await, 1);
}

/// With `session.same_site = "strict"` the session cookie is `Strict`, but the login binding
/// is `Lax`: a `Strict` one would be withheld on the provider's cross-site redirect to the
/// callback, and every sign-in would fail with `binding_mismatch`.
#[tokio::test]
async fn a_strict_session_cookie_keeps_the_login_binding_lax() {
    let world = World::start_with(|c| c.set("LATCHKEY__SESSION__SAME_SITE", "strict")).await;
    let mut browser = Browser::extension();
    let res = world.login_request(&mut browser, "google").await;
    assert_eq!(res.status(), 200);
    let binding = set_cookie(&res, BINDING_COOKIE);
    assert!(binding.contains("SameSite=Lax"), "{binding}");
    let auth_url = json(res).await["authUrl"]
        .as_str()
        .expect("authUrl")
        .to_owned();
    let callback = world.google.approve(&auth_url).await.expect("consent");
    let res = world.callback(&mut browser, &callback).await;
    assert_eq!(res.status(), 200);
    assert!(set_cookie(&res, SESSION_COOKIE).contains("SameSite=Strict"));
    assert!(set_cookie(&res, BINDING_COOKIE).contains("SameSite=Lax"));
}

/// The `Set-Cookie` header of `res` for cookie `name`.
fn set_cookie(res: &Response, name: &str) -> String {
    set_cookies_named(res, name)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("{name} is set"))
}

#[tokio::test]
async fn login_answers_are_not_cached_and_need_csrf() {
    let world = World::start().await;
    let mut browser = Browser::extension();
    let res = world.login_request(&mut browser, "google").await;
    assert_eq!(res.headers()[CACHE_CONTROL], "no-store");
    assert_eq!(res.headers()[REFERRER_POLICY], "no-referrer");
    let binding = set_cookie(&res, BINDING_COOKIE);
    for attribute in ["HttpOnly", "Secure", "Path=/", "Max-Age=600"] {
        assert!(binding.contains(attribute), "{attribute} in {binding}");
    }

    let res = world
        .app
        .send(
            &mut Browser::extension(),
            Method::GET,
            "/auth/google/login",
            &[],
        )
        .await;
    assert_error(res, 403, "csrf_failed").await;
}

#[tokio::test]
async fn github_sign_in_end_to_end() {
    let world = World::start().await;
    world.github.set_user(GitHubUser {
        id: 4242,
        login: "octo".into(),
        name: None,
        avatar_url: "https://avatars.example.com/u/4242".into(),
        public_email: Some("public@example.com".into()),
        emails: vec![
            GitHubEmail::new("old@example.com", false, true),
            GitHubEmail::new("octo@example.com", true, true),
        ],
    });
    let mut browser = Browser::extension();
    let auth_url = world.start_login(&mut browser, "github").await;
    let params: std::collections::HashMap<_, _> = Url::parse(&auth_url)
        .expect("URL")
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(params["code_challenge_method"], "S256");
    let callback = world.github.approve(&auth_url).await.expect("consent");
    assert_eq!(world.callback(&mut browser, &callback).await.status(), 200);

    let user = json(world.app.user_info(&mut browser).await).await["user"].clone();
    assert_eq!(
        user["email"], "octo@example.com",
        "the primary verified address"
    );
    assert_eq!(user["name"], "octo", "the login when no name is set");
    assert_eq!(user["image"], "https://avatars.example.com/u/4242");
    let db = world.app.db().await;
    let identity = identities::Entity::find()
        .filter(identities::Column::Provider.eq("github"))
        .one(&db)
        .await
        .expect("query")
        .expect("identity");
    assert_eq!(identity.subject, "4242");
}

#[tokio::test]
async fn github_without_a_verified_primary_email_is_refused() {
    let world = World::start().await;
    world.github.set_user(GitHubUser {
        id: 7,
        emails: vec![GitHubEmail::new("unverified@example.com", true, false)],
        ..Default::default()
    });
    let mut browser = json_browser();
    let auth_url = world.start_login(&mut browser, "github").await;
    let callback = world.github.approve(&auth_url).await.expect("consent");
    let res = callback_json(&world, &mut browser, &callback).await;
    assert_refused(res, 403, "email_not_verified", &browser).await;
    assert_eq!(world.count_users().await, 0);
}

#[tokio::test]
async fn a_verified_email_links_accounts_and_an_unverified_one_does_not() {
    let world = World::start().await;
    world.github.set_user(GitHubUser {
        id: 1,
        login: "alice".into(),
        emails: vec![GitHubEmail::new("Alice@Example.com", true, true)],
        ..Default::default()
    });
    let mut via_github = Browser::extension();
    assert_eq!(
        world.sign_in_with_github(&mut via_github).await.status(),
        200
    );
    let github_user = world.user_id(&mut via_github).await;

    // Google asserts the same address, verified: the same user.
    let mut via_google = Browser::extension();
    assert_eq!(
        world.sign_in_with_google(&mut via_google).await.status(),
        200
    );
    assert_eq!(world.user_id(&mut via_google).await, github_user);

    // Another Google account claiming the address without verifying it: a new user.
    world.google.set_user(GoogleUser {
        sub: "999".into(),
        email_verified: false,
        ..GoogleUser::default()
    });
    let mut impostor = Browser::extension();
    assert_eq!(world.sign_in_with_google(&mut impostor).await.status(), 200);
    assert_ne!(world.user_id(&mut impostor).await, github_user);
    assert_eq!(world.count_users().await, 2);
}

#[tokio::test]
async fn only_ascii_case_is_folded_when_emails_link_accounts() {
    let world = World::start().await;
    let sign_in_as = |sub: &str, email: &str, name: &str| GoogleUser {
        sub: sub.into(),
        email: email.into(),
        name: name.into(),
        ..GoogleUser::default()
    };
    world
        .google
        .set_user(sign_in_as("1", "ken@example.com", "Ken"));
    let mut ken = Browser::extension();
    assert_eq!(world.sign_in_with_google(&mut ken).await.status(), 200);
    let ken_id = world.user_id(&mut ken).await;

    // ASCII case is not a different address: the same user.
    world
        .google
        .set_user(sign_in_as("2", "KEN@Example.COM", "Ken"));
    let mut upper = Browser::extension();
    assert_eq!(world.sign_in_with_google(&mut upper).await.status(), 200);
    assert_eq!(world.user_id(&mut upper).await, ken_id);

    // Addresses that Unicode lowercasing (or look-alikes) would confuse with Ken's, or with
    // each other, are other mailboxes: each a user of its own, and Ken keeps his name.
    let lookalikes = [
        "\u{212A}en@example.com",  // KELVIN SIGN, lowercased by Unicode to `k`
        "\u{FF2B}en@example.com",  // FULL-WIDTH K
        "\u{FF4B}en@example.com",  // full-width k, Unicode's lowercase of the above
        "k\u{0131}d@example.com",  // dotless i
        "K\u{0130}D@example.com",  // capital I with dot, lowercased by Unicode to i + dot
        "ken@example.com\u{3000}", // ideographic space, trimmed by str::trim
        "\u{85}ken@example.com",   // NEXT LINE, trimmed by str::trim
        "ken@example.com\u{A0}",   // no-break space, trimmed by str::trim
    ];
    let mut ids = vec![ken_id];
    for (n, email) in lookalikes.into_iter().enumerate() {
        let sub = format!("lookalike-{n}");
        world.google.set_user(sign_in_as(&sub, email, "Mallory"));
        let mut browser = Browser::extension();
        assert_eq!(world.sign_in_with_google(&mut browser).await.status(), 200);
        let id = world.user_id(&mut browser).await;
        assert!(!ids.contains(&id), "{email:?} joined an existing account");
        ids.push(id);
    }
    let user = json(world.app.user_info(&mut ken).await).await["user"].clone();
    assert_eq!(user["name"], "Ken");
    assert_eq!(user["email"], "ken@example.com");
}

#[tokio::test]
async fn name_email_and_picture_are_refreshed_at_each_login() {
    let world = World::start().await;
    let mut browser = Browser::extension();
    world.sign_in_with_google(&mut browser).await;
    world.google.set_user(GoogleUser {
        name: "Alice Renamed".into(),
        picture: "https://lh3.example.com/a/new.png".into(),
        ..GoogleUser::default()
    });
    let mut again = Browser::extension();
    world.sign_in_with_google(&mut again).await;
    let user = json(world.app.user_info(&mut again).await).await["user"].clone();
    assert_eq!(user["name"], "Alice Renamed");
    assert_eq!(user["image"], "https://lh3.example.com/a/new.png");
}

#[tokio::test]
async fn a_replayed_state_finds_nothing() {
    let world = World::start().await;
    let mut browser = Browser::extension();
    let auth_url = world.start_login(&mut browser, "google").await;
    let callback = world.google.approve(&auth_url).await.expect("consent");
    let mut attacker = browser.clone();
    assert_eq!(world.callback(&mut browser, &callback).await.status(), 200);

    attacker.cookies.remove(SESSION_COOKIE);
    let res = callback_json(&world, &mut attacker, &callback).await;
    assert_refused(res, 400, "invalid_state", &attacker).await;
}

#[tokio::test]
async fn an_expired_state_finds_nothing() {
    let world = World::start().await;
    let binding = "b".repeat(43);
    let state = flow::new_state();
    let mut old = Flow::new("google", "v".repeat(43), &binding);
    old.created_ms -= flow::FLOW_TTL_MS + 1000;
    // Stashed through scratch values of the app's own Redis prefix.
    let (_, scratch) =
        latchkey::startup::build_stores(&world.app.config.settings()).expect("stores");
    flow::save(&scratch, &state, &old).await.expect("store");
    let mut browser = json_browser().with_cookie(BINDING_COOKIE, &binding);
    let callback = Url::parse(&format!(
        "http://latchkey/auth/google/callback?code=abc&state={state}"
    ))
    .expect("URL");
    let res = callback_json(&world, &mut browser, &callback).await;
    assert_refused(res, 400, "invalid_state", &browser).await;
    assert_eq!(world.google.token_requests(), 0);
}

#[tokio::test]
async fn a_missing_or_foreign_binding_cookie_is_refused() {
    let world = World::start().await;
    // Missing: the tab lost the cookie the flow was started with.
    let mut browser = json_browser();
    let auth_url = world.start_login(&mut browser, "google").await;
    let callback = world.google.approve(&auth_url).await.expect("consent");
    browser.cookies.remove(BINDING_COOKIE);
    let res = callback_json(&world, &mut browser, &callback).await;
    assert_refused(res, 400, "binding_mismatch", &browser).await;

    // Foreign: a victim's browser (with its own flow) is made to land on the attacker's
    // callback URL; its binding is not the attacker's.
    let mut attacker = json_browser();
    let attackers_url = world.start_login(&mut attacker, "google").await;
    let attackers_callback = world.google.approve(&attackers_url).await.expect("consent");
    let mut victim = json_browser();
    world.start_login(&mut victim, "google").await;
    let res = callback_json(&world, &mut victim, &attackers_callback).await;
    assert_refused(res, 400, "binding_mismatch", &victim).await;
    assert_eq!(world.google.token_requests(), 0, "no code was exchanged");
}

#[tokio::test]
async fn denied_consent_ends_on_a_page_without_a_session() {
    let world = World::start().await;
    let mut browser = Browser::extension();
    let auth_url = world.start_login(&mut browser, "google").await;
    let callback = world.google.deny(&auth_url).await.expect("deny");
    let res = world.callback(&mut browser, &callback).await;
    assert_eq!(res.status(), 400);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap_or_default()
        .starts_with("text/html"));
    let page = res.text().await.expect("page");
    assert!(page.contains("cancelled"), "{page}");
    assert!(!browser.cookies.contains_key(SESSION_COOKIE));

    let mut browser = json_browser();
    let auth_url = world.start_login(&mut browser, "github").await;
    let callback = world.github.deny(&auth_url).await.expect("deny");
    let res = callback_json(&world, &mut browser, &callback).await;
    assert_refused(res, 400, "consent_denied", &browser).await;
}

#[tokio::test]
async fn each_bad_id_token_is_refused_without_a_session() {
    let world = World::start().await;
    for tamper in Tamper::ALL.into_iter().filter(|t| t.is_defect()) {
        world.google.set_id_token_tamper(tamper);
        let mut browser = json_browser();
        let auth_url = world.start_login(&mut browser, "google").await;
        let callback = world.google.approve(&auth_url).await.expect("consent");
        let res = callback_json(&world, &mut browser, &callback).await;
        assert_eq!(res.status(), 502, "{tamper:?}");
        assert_refused(res, 502, "provider_error", &browser).await;
    }
    assert_eq!(world.count_users().await, 0);
}

#[tokio::test]
async fn an_unknown_key_id_makes_one_jwks_refetch_and_no_fallback() {
    let world = World::start().await;
    let mut warm = Browser::extension();
    assert_eq!(world.sign_in_with_google(&mut warm).await.status(), 200);
    let fetched = world.google.jwks_requests();

    world.google.set_id_token_tamper(Tamper::UnknownKid);
    for _ in 0..3 {
        let mut browser = json_browser();
        let auth_url = world.start_login(&mut browser, "google").await;
        let callback = world.google.approve(&auth_url).await.expect("consent");
        let res = callback_json(&world, &mut browser, &callback).await;
        assert_refused(res, 502, "provider_error", &browser).await;
    }
    assert_eq!(
        world.google.jwks_requests(),
        fetched + 1,
        "one refetch, rate-limited"
    );
}

#[tokio::test]
async fn a_token_without_kid_is_verified_with_the_one_published_key() {
    let world = World::start().await;
    world.google.set_id_token_tamper(Tamper::NoKid);
    let mut browser = Browser::extension();
    assert_eq!(world.sign_in_with_google(&mut browser).await.status(), 200);
}

#[tokio::test]
async fn callbacks_meeting_a_key_rotation_together_all_succeed() {
    let world = World::start().await;
    let mut warm = Browser::extension();
    assert_eq!(world.sign_in_with_google(&mut warm).await.status(), 200);
    let fetched = world.google.jwks_requests();
    world.google.rotate_keys();

    let mut flows = world.consented_google_flows(4).await;
    for res in world.callbacks_together(&mut flows).await {
        assert_eq!(res.status(), 200);
    }
    assert_eq!(world.google.jwks_requests(), fetched + 1, "one refetch");
}

#[tokio::test]
async fn rotated_signing_keys_are_followed() {
    let world = World::start().await;
    let mut first = Browser::extension();
    assert_eq!(world.sign_in_with_google(&mut first).await.status(), 200);
    world.google.rotate_keys();
    let mut second = Browser::extension();
    assert_eq!(world.sign_in_with_google(&mut second).await.status(), 200);
    assert!(world.google.jwks_requests() >= 2);
}

/// Signs in through `provider` while the fake puts `iss` into its ID tokens; returns the
/// callback's status.
async fn sign_in_with_issuer(world: &World, provider: &str, iss: Option<String>) -> u16 {
    world.google.set_id_token_issuer(iss.clone());
    let mut browser = json_browser();
    let auth_url = world.start_login(&mut browser, provider).await;
    let callback = world.google.approve(&auth_url).await.expect("consent");
    let res = callback_json(world, &mut browser, &callback).await;
    let status = res.status().as_u16();
    if status != 200 {
        assert_refused(res, 502, "provider_error", &browser).await;
    }
    status
}

fn scheme_less(issuer: &str) -> String {
    issuer
        .split_once("://")
        .map(|(_, bare)| bare.to_owned())
        .expect("an issuer URL")
}

#[tokio::test]
async fn google_accepts_its_issuer_with_and_without_the_scheme_and_nothing_else() {
    let world = World::start().await;
    let issuer = world.google.issuer();
    let bare = scheme_less(&issuer);
    // Google documents both `https://accounts.google.com` and `accounts.google.com`.
    for accepted in [None, Some(issuer.clone()), Some(bare.clone())] {
        let status = sign_in_with_issuer(&world, "google", accepted.clone()).await;
        assert_eq!(status, 200, "{accepted:?}");
    }
    // A trailing slash, another scheme, another host or path: each a different issuer.
    for wrong in [
        format!("{issuer}/"),
        format!("https://{bare}"),
        format!("{bare}/"),
        format!("//{bare}"),
        issuer.to_uppercase(),
        format!("{issuer}.evil.example"),
        String::new(),
    ] {
        let status = sign_in_with_issuer(&world, "google", Some(wrong.clone())).await;
        assert_eq!(status, 502, "{wrong:?}");
    }
}

#[tokio::test]
async fn another_oidc_provider_accepts_exactly_its_issuer() {
    let world = World::start_also_as("corp").await;
    let issuer = world.google.issuer();
    assert_eq!(sign_in_with_issuer(&world, "corp", None).await, 200);
    // Google's scheme-less leniency is Google's alone.
    let bare = scheme_less(&issuer);
    assert_eq!(sign_in_with_issuer(&world, "corp", Some(bare)).await, 502);
}

#[tokio::test]
async fn a_discovery_document_naming_another_issuer_is_refused() {
    let world = World::start().await;
    world
        .google
        .set_discovery_issuer(Some("https://accounts.evil.example".into()));
    let res = world
        .login_request(&mut Browser::extension(), "google")
        .await;
    assert_error(res, 502, "provider_error").await;
}

#[tokio::test]
async fn a_github_code_delivered_to_the_google_callback_finds_no_flow() {
    let world = World::start().await;
    let mut browser = json_browser();
    let auth_url = world.start_login(&mut browser, "github").await;
    let callback = world.github.approve(&auth_url).await.expect("consent");
    let res = world
        .callback_at(
            &mut browser,
            "/auth/google/callback",
            callback.query().unwrap_or_default(),
        )
        .await;
    assert_eq!(res.status(), 400);
    assert!(!browser.cookies.contains_key(SESSION_COOKIE));
    assert_eq!(world.google.token_requests(), 0);
    assert_eq!(world.github.token_requests(), 0);
}

#[tokio::test]
async fn provider_failure_and_timeout_are_502() {
    let world = World::start_with(|c| c.set("LATCHKEY__LOGIN__PROVIDER_TIMEOUT", "1s")).await;
    for provider in ["google", "github"] {
        for (failure, delay) in [(Some(500), None), (None, Some(Duration::from_secs(3)))] {
            if provider == "google" {
                world.google.set_token_failure(failure);
                world.google.set_token_delay(delay.unwrap_or_default());
            } else {
                world.github.set_token_failure(failure);
                world.github.set_token_delay(delay.unwrap_or_default());
            }
            let mut browser = json_browser();
            let auth_url = world.start_login(&mut browser, provider).await;
            let callback = if provider == "google" {
                world.google.approve(&auth_url).await
            } else {
                world.github.approve(&auth_url).await
            }
            .expect("consent");
            let res = callback_json(&world, &mut browser, &callback).await;
            assert_refused(res, 502, "provider_error", &browser).await;
        }
    }
    world.github.set_token_failure(None);
    world.github.set_token_delay(Duration::ZERO);
    world.github.set_api_failure(Some(500));
    let mut browser = json_browser();
    let auth_url = world.start_login(&mut browser, "github").await;
    let callback = world.github.approve(&auth_url).await.expect("consent");
    let res = callback_json(&world, &mut browser, &callback).await;
    assert_refused(res, 502, "provider_error", &browser).await;
}

#[tokio::test]
async fn a_login_revokes_the_session_cookie_it_carries() {
    let world = World::start().await;
    let mut browser = Browser::extension();
    world.sign_in_with_google(&mut browser).await;
    let old = browser.clone();
    world.sign_in_with_google(&mut browser).await;
    assert_ne!(old.cookies[SESSION_COOKIE], browser.cookies[SESSION_COOKIE]);
    assert_error(
        world.app.user_info(&mut old.clone()).await,
        401,
        "unauthenticated",
    )
    .await;
    assert_eq!(world.app.user_info(&mut browser).await.status(), 200);
}

#[tokio::test]
async fn concurrent_callbacks_for_one_new_user_create_exactly_one_user() {
    let world = World::start().await;
    let mut pending = world.consented_google_flows(6).await;
    for res in world.callbacks_together(&mut pending).await {
        assert_eq!(res.status(), 200);
    }
    assert_eq!(world.count_users().await, 1);
    let db = world.app.db().await;
    assert_eq!(
        identities::Entity::find().count(&db).await.expect("count"),
        1
    );
}

#[tokio::test]
async fn a_disabled_account_is_refused_with_403() {
    let world = World::start().await;
    let mut browser = Browser::extension();
    world.sign_in_with_google(&mut browser).await;
    let db = world.app.db().await;
    let user = users::Entity::find()
        .one(&db)
        .await
        .expect("query")
        .expect("user");
    let mut active: users::ActiveModel = user.into();
    active.disabled_at = Set(Some(chrono::Utc::now()));
    active.update(&db).await.expect("disable");

    let mut again = json_browser();
    let auth_url = world.start_login(&mut again, "google").await;
    let callback = world.google.approve(&auth_url).await.expect("consent");
    let res = callback_json(&world, &mut again, &callback).await;
    assert_refused(res, 403, "account_disabled", &again).await;
}

#[tokio::test]
async fn success_redirect_is_the_only_redirect() {
    let world = World::start_with(|c| {
        c.set(
            "LATCHKEY__LOGIN__SUCCESS_REDIRECT",
            "https://app.example.com/done",
        )
    })
    .await;
    let mut browser = Browser::extension();
    let auth_url = world.start_login(&mut browser, "google").await;
    let callback = world.google.approve(&auth_url).await.expect("consent");
    // A redirect target smuggled into the callback's query is ignored.
    let query = format!(
        "{}&redirect_uri=https://evil.example&next=https://evil.example",
        callback.query().unwrap_or_default()
    );
    let res = world
        .callback_at(&mut browser, callback.path(), &query)
        .await;
    assert_eq!(res.status(), 302);
    assert_eq!(res.headers()[LOCATION], "https://app.example.com/done");
    assert!(browser.cookies.contains_key(SESSION_COOKIE));
}

#[tokio::test]
async fn unconfigured_providers_and_bad_callbacks() {
    let world = World::start().await;
    let mut browser = json_browser();
    let res = world.login_request(&mut browser, "gitlab").await;
    assert_error(res, 404, "provider_not_configured").await;
    let res = world
        .callback_at(&mut browser, "/auth/gitlab/callback", "code=x&state=y")
        .await;
    assert_error(res, 404, "provider_not_configured").await;

    for query in [
        "",
        "code=abc",
        "state=",
        "state=%ff%fe",
        &format!("state={}", "A".repeat(5000)),
        "code=a&state=b&state=c",
    ] {
        let res = world
            .app
            .send(
                &mut browser,
                Method::GET,
                &format!("/auth/google/callback?{query}"),
                &[("Accept", "application/json")],
            )
            .await;
        assert_eq!(res.status(), 400, "{query}");
        let body = json(res).await;
        assert_eq!(body["success"], false);
    }
}

#[tokio::test]
async fn no_secret_code_token_or_cookie_reaches_the_log() {
    let mut world = World::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("latchkey.log");
    let mut vars = world.app.config.vars.clone();
    vars.insert("LATCHKEY__LOG__LEVEL".into(), "debug".into());
    let mut process = crate::support::process::ServerProcess::start(&vars, Some(&log)).await;
    // Drive the separate process, whose log we read, instead of the in-process app.
    world.app.address = process.address.clone();

    let mut planted: Vec<String> = vec![
        testkit::fakes::google::GOOGLE_CLIENT_SECRET.into(),
        testkit::fakes::github::GITHUB_CLIENT_SECRET.into(),
    ];
    for provider in ["google", "github"] {
        let mut browser = Browser::extension();
        let auth_url = world.start_login(&mut browser, provider).await;
        let callback = match provider {
            "google" => world.google.approve(&auth_url).await,
            _ => world.github.approve(&auth_url).await,
        }
        .expect("consent");
        for (key, value) in callback.query_pairs() {
            if key == "code" || key == "state" {
                planted.push(value.into_owned());
            }
        }
        assert_eq!(world.callback(&mut browser, &callback).await.status(), 200);
        // A replay fails and is logged as a refusal: still nothing secret in it.
        assert_eq!(
            world
                .callback(&mut browser.clone(), &callback)
                .await
                .status(),
            400
        );
        assert_eq!(world.app.user_info(&mut browser).await.status(), 200);
        assert_eq!(world.app.logout(&mut browser).await.status(), 200);
        planted.extend(browser.cookies.values().cloned());
        planted.push(browser.cookies[crate::support::browser::CSRF_COOKIE].clone());
    }
    // Token mode: the one-time code, the verifier and the bearer token stay out of it too.
    let pkce = Pkce::new();
    let mut client = firefox();
    let res = callback_for(&world, &mut client, "google", COMPLETE_PAGE, &pkce, None).await;
    let code = param(&location(&res), "code").expect("code");
    let res = exchange(&world, &code, &pkce.verifier).await;
    let token = json(res).await["session_token"]
        .as_str()
        .expect("session_token")
        .to_owned();
    let mut bearer = firefox().with_bearer(&token);
    assert_eq!(world.app.user_info(&mut bearer).await.status(), 200);
    assert_eq!(exchange(&world, &code, &pkce.verifier).await.status(), 400);
    let secret = token.split_once('.').map(|(_, s)| s.to_owned());
    planted.extend([code, pkce.verifier, token]);
    planted.extend(secret);

    let mut session = Browser::extension();
    world.sign_in_with_google(&mut session).await;
    planted.push(session.cookies[SESSION_COOKIE].clone());
    world.app.user_info(&mut session).await;
    process.stop();

    let text = std::fs::read_to_string(&log).expect("log");
    assert!(text.contains("login succeeded"), "the log was captured");
    assert!(text.contains("bearer session started"), "{text}");
    for secret in planted.iter().filter(|s| s.len() >= 8) {
        assert!(
            !text.contains(secret.as_str()),
            "the log contains a secret: {secret}"
        );
    }
    let secret_part = session.cookies[SESSION_COOKIE]
        .split_once('.')
        .map(|(_, s)| s.to_owned());
    assert!(
        !text.contains(&secret_part.expect("token")),
        "the log contains a session token"
    );
}
