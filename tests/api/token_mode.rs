//! Token mode end to end, as a Firefox or Safari extension drives it: no cookie, no CSRF
//! header, a random origin; a one-time code at the registered redirect URI, exchanged with
//! the PKCE verifier for a bearer session.

use reqwest::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY};
use reqwest::Method;

use crate::support::browser::Browser;
use crate::support::response::{assert_error, json};
use crate::support::token::{
    callback_for, exchange, firefox, location, param, token_login, token_world, Pkce,
    CHROMIUM_REDIRECT, COMPLETE_PAGE, QUERY_REDIRECT,
};

#[tokio::test]
async fn token_mode_signs_in_with_google_and_github_without_cookies() {
    let world = token_world().await;
    for provider in ["google", "github"] {
        let pkce = Pkce::new();
        let mut client = firefox();
        let res = callback_for(
            &world,
            &mut client,
            provider,
            CHROMIUM_REDIRECT,
            &pkce,
            Some("xyz 1&2"),
        )
        .await;
        // No cookie was read or set anywhere in the flow.
        assert!(res.headers().get("set-cookie").is_none());
        assert!(client.cookies.is_empty(), "{:?}", client.cookies);
        assert_eq!(res.headers()[CACHE_CONTROL], "no-store");
        let back = location(&res);
        assert!(back.as_str().starts_with(CHROMIUM_REDIRECT), "{back}");
        assert_eq!(param(&back, "state").as_deref(), Some("xyz 1&2"));
        let code = param(&back, "code").expect("code");
        assert!(code.len() >= 43, "256 bits");

        let res = exchange(&world, &code, &pkce.verifier).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()[CACHE_CONTROL], "no-store");
        let body = json(res).await;
        assert_eq!(body["success"], true);
        assert_eq!(body["token_type"], "Bearer");
        let now = chrono::Utc::now().timestamp();
        let expires = body["expires_at"].as_i64().expect("expires_at");
        assert!(expires > now + 3600, "{expires}");
        let token = body["session_token"].as_str().expect("session_token");

        let mut signed_in = firefox().with_bearer(token);
        let info = json(world.app.user_info(&mut signed_in).await).await;
        assert_eq!(info["success"], true, "{info}");
        let listed = json(world.app.list_sessions(&mut signed_in).await).await;
        let current: Vec<_> = (listed["sessions"].as_array().into_iter().flatten())
            .filter(|s| s["current"] == true)
            .collect();
        assert_eq!(current[0]["transport"], "bearer");
        assert!(current[0]["user_agent"].is_string());
        // A foreign-origin sign-out with the bearer alone.
        let res = world
            .app
            .send(&mut signed_in, Method::POST, "/auth/logout", &[])
            .await;
        assert_eq!(res.status(), 200);
        assert_error(
            world.app.user_info(&mut signed_in).await,
            401,
            "unauthenticated",
        )
        .await;
    }
}

#[tokio::test]
async fn the_code_is_appended_to_a_registered_query_and_state_is_optional() {
    let world = token_world().await;
    let pkce = Pkce::new();
    let res = callback_for(
        &world,
        &mut firefox(),
        "google",
        QUERY_REDIRECT,
        &pkce,
        None,
    )
    .await;
    let back = location(&res);
    assert!(
        back.as_str()
            .starts_with(&format!("{QUERY_REDIRECT}&code=")),
        "{back}"
    );
    assert_eq!(param(&back, "from").as_deref(), Some("latchkey"));
    assert_eq!(param(&back, "state"), None);
    let code = param(&back, "code").expect("code");
    assert_eq!(exchange(&world, &code, &pkce.verifier).await.status(), 200);
}

#[tokio::test]
async fn the_complete_page_is_always_allowed_and_shows_only_known_messages() {
    let world = token_world().await;
    let pkce = Pkce::new();
    let res = callback_for(
        &world,
        &mut firefox(),
        "github",
        COMPLETE_PAGE,
        &pkce,
        Some("s"),
    )
    .await;
    let back = location(&res);
    assert_eq!(back.path(), "/auth/complete");
    let path_and_query = format!("{}?{}", back.path(), back.query().unwrap_or_default());
    let res = world.app.get(&mut firefox(), &path_and_query).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()[CACHE_CONTROL], "no-store");
    assert_eq!(res.headers()[REFERRER_POLICY], "no-referrer");
    let csp = res.headers()[CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap_or_default();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    let page = res.text().await.expect("page");
    assert!(page.contains("You are signed in"), "{page}");
    let code = param(&back, "code").expect("code");
    assert!(!page.contains(&code), "the page does not repeat the code");
    assert_eq!(exchange(&world, &code, &pkce.verifier).await.status(), 200);

    let res = world
        .app
        .get(
            &mut firefox(),
            "/auth/complete?error=consent_denied&state=s",
        )
        .await;
    assert!(res.text().await.expect("page").contains("cancelled"));
    let hostile = "/auth/complete?error=%3Cscript%3Ealert(1)%3C%2Fscript%3E&state=%3Cb%3E";
    let page = world
        .app
        .get(&mut firefox(), hostile)
        .await
        .text()
        .await
        .expect("page");
    assert!(
        !page.contains("<script>") && !page.contains("<b>"),
        "{page}"
    );
    assert!(page.contains("did not complete"), "{page}");
}

#[tokio::test]
async fn a_token_mode_refusal_goes_back_to_the_redirect_uri_with_the_error() {
    let world = token_world().await;
    let pkce = Pkce::new();
    let res = crate::support::token::token_login(
        &world,
        &mut firefox(),
        "google",
        &[
            ("redirect_uri", CHROMIUM_REDIRECT),
            ("code_challenge", &pkce.challenge),
            ("code_challenge_method", "S256"),
            ("state", "mine"),
        ],
    )
    .await;
    let auth_url = json(res).await["authUrl"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let callback = world.google.deny(&auth_url).await.expect("deny");
    let res = world.callback(&mut firefox(), &callback).await;
    let back = location(&res);
    assert!(back.as_str().starts_with(CHROMIUM_REDIRECT));
    assert_eq!(param(&back, "error").as_deref(), Some("consent_denied"));
    assert_eq!(param(&back, "state").as_deref(), Some("mine"));
    assert_eq!(param(&back, "code"), None);

    // The flow is spent: the same callback again knows no flow, so no redirect: the page.
    let res = world.callback(&mut firefox(), &callback).await;
    assert_eq!(res.status(), 400);
    assert!(res.headers().get("location").is_none());
}

/// A token-mode flow is bound to no browser, so the provider is asked to show its account
/// chooser: a flow someone else started cannot finish in the user's browser without a click,
/// even where the provider would approve a returning user silently. Cookie mode's flows are
/// bound to the browser that started them and need no such prompt.
#[tokio::test]
async fn token_mode_asks_the_provider_for_the_account_chooser() {
    let world = token_world().await;
    for provider in ["google", "github"] {
        let pkce = Pkce::new();
        let res = token_login(
            &world,
            &mut firefox(),
            provider,
            &[
                ("redirect_uri", CHROMIUM_REDIRECT),
                ("code_challenge", &pkce.challenge),
                ("code_challenge_method", "S256"),
            ],
        )
        .await;
        assert_eq!(res.status(), 200, "{provider}");
        let auth_url = json(res).await["authUrl"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let auth_url = url::Url::parse(&auth_url).expect("authUrl");
        assert_eq!(
            param(&auth_url, "prompt").as_deref(),
            Some("select_account")
        );

        let cookie_mode = world.start_login(&mut Browser::extension(), provider).await;
        let cookie_mode = url::Url::parse(&cookie_mode).expect("authUrl");
        assert_eq!(param(&cookie_mode, "prompt"), None, "{provider}");
    }
}

/// `response=redirect`: the login answers 302 to the provider's URL, so that a sign-in window
/// can be opened on latchkey's own URL (Firefox's `identity.launchWebAuthFlow` opens only a
/// URL whose `redirect_uri` parameter is the extension's). The flow is the same as with JSON.
#[tokio::test]
async fn response_redirect_sends_the_sign_in_window_to_the_provider() {
    let world = token_world().await;
    let pkce = Pkce::new();
    let mut client = firefox();
    let params = to_chromium(&pkce, &[("state", "window"), ("response", "redirect")]);
    let res = token_login(&world, &mut client, "google", &params).await;
    assert_eq!(res.status(), 302);
    assert_eq!(res.headers()[CACHE_CONTROL], "no-store");
    assert!(res.headers().get("set-cookie").is_none());
    let auth_url = res.headers()["location"]
        .to_str()
        .expect("Location")
        .to_owned();
    assert!(
        auth_url.starts_with(&world.google.authorize_endpoint()),
        "{auth_url}"
    );
    let callback = world.google.approve(&auth_url).await.expect("consent");
    let back = location(&world.callback(&mut client, &callback).await);
    assert!(back.as_str().starts_with(CHROMIUM_REDIRECT), "{back}");
    assert_eq!(param(&back, "state").as_deref(), Some("window"));
    let code = param(&back, "code").expect("code");
    assert_eq!(exchange(&world, &code, &pkce.verifier).await.status(), 200);

    // `json`, named, is the default answer.
    let params = to_chromium(&pkce, &[("response", "json")]);
    let res = token_login(&world, &mut firefox(), "google", &params).await;
    assert_eq!(res.status(), 200);
    assert!(json(res).await["authUrl"].is_string());
}

/// A token-mode login's parameters for [`CHROMIUM_REDIRECT`] and `pkce`, then `extra`.
fn to_chromium<'a>(pkce: &'a Pkce, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut params = vec![
        ("redirect_uri", CHROMIUM_REDIRECT),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    params.extend_from_slice(extra);
    params
}

/// A redirecting login is never an open redirect: whatever is refused is refused with a JSON
/// error and no `Location`, and cookie mode (whose CSRF header a navigation cannot send) does
/// not redirect at all.
#[tokio::test]
async fn response_redirect_refuses_like_json_and_never_redirects_elsewhere() {
    let world = token_world().await;
    let pkce = Pkce::new();
    let good = [
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("response", "redirect"),
    ];
    for (redirect_uri, code) in [
        ("https://evil.example/", "invalid_redirect_uri"),
        (
            "https://abcdefghijklmnopabcdefghijklmnop.chromiumapp.org.evil.example/",
            "invalid_redirect_uri",
        ),
        ("javascript:alert(1)", "invalid_redirect_uri"),
    ] {
        let mut params = vec![("redirect_uri", redirect_uri)];
        params.extend(good);
        let res = token_login(&world, &mut firefox(), "google", &params).await;
        assert!(res.headers().get("location").is_none(), "{redirect_uri}");
        assert_error(res, 400, code).await;
    }
    // A plain challenge, an unknown answer, an unknown provider.
    let with = |method: &'static str, response: &'static str| {
        vec![
            ("redirect_uri", CHROMIUM_REDIRECT),
            ("code_challenge", pkce.challenge.as_str()),
            ("code_challenge_method", method),
            ("response", response),
        ]
    };
    for (provider, params, status, code) in [
        ("google", with("plain", "redirect"), 400, "invalid_request"),
        (
            "google",
            with("S256", "https://evil.example/"),
            400,
            "invalid_request",
        ),
        (
            "evil",
            with("S256", "redirect"),
            404,
            "provider_not_configured",
        ),
    ] {
        let res = token_login(&world, &mut firefox(), provider, &params).await;
        assert!(res.headers().get("location").is_none(), "{params:?}");
        assert_error(res, status, code).await;
    }
    // Cookie mode (its CSRF header cannot come with a navigation): JSON only.
    let mut browser = Browser::default();
    let res = world
        .app
        .send(
            &mut browser,
            Method::GET,
            "/auth/google/login?response=redirect",
            &[],
        )
        .await;
    assert!(res.headers().get("location").is_none());
    assert_error(res, 400, "invalid_request").await;
}
