//! Configuration layers and validation, through `Settings::load` with explicit sources.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use latchkey::config::{Settings, Sources, StoreKind};
use secrecy::ExposeSecret;

fn sources(dir: &Path, env: Option<&str>, file: Option<&Path>, vars: &[(&str, &str)]) -> Sources {
    Sources {
        environment: env.map(str::to_owned),
        config_dir: dir.to_owned(),
        config_file: file.map(Path::to_owned),
        env_vars: vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<BTreeMap<_, _>>(),
    }
}

fn load(vars: &[(&str, &str)]) -> Result<Settings, String> {
    let dir = tempfile::tempdir().expect("tempdir");
    Settings::load(&sources(dir.path(), None, None, vars)).map_err(|e| e.to_string())
}

fn load_err(vars: &[(&str, &str)]) -> String {
    let message = load(vars).expect_err("configuration is refused");
    assert!(!message.contains('\n'), "one line: {message}");
    message
}

#[test]
fn embedded_defaults_match_the_documented_ones() {
    let s = load(&[]).expect("defaults load");
    assert_eq!(s.server.host, "127.0.0.1");
    assert_eq!(s.server.port, 8080);
    assert_eq!(s.server.public_url.as_str(), "http://localhost:8080/");
    assert_eq!(
        s.database.url.expose_secret(),
        "sqlite://data/latchkey.db?mode=rwc"
    );
    assert_eq!(s.redis.url.expose_secret(), "redis://127.0.0.1:6379");
    assert_eq!(s.redis.key_prefix, "latchkey:");
    assert_eq!(s.session.store, StoreKind::Redis);
    assert_eq!(s.session.cookie_name, "__Host-latchkey_session");
    assert_eq!(s.session.csrf_cookie_name, "__Host-latchkey_csrf");
    assert_eq!(s.session.idle_timeout, Duration::from_secs(7 * 86_400));
    assert_eq!(s.session.absolute_timeout, Duration::from_secs(30 * 86_400));
    assert!(!s.session.partitioned);
    assert!(s.cors.allowed_origins.is_empty());
    assert!(s.extensions.redirect_uris.is_empty());
    assert_eq!(s.vision.base_url.as_str(), "https://api.openai.com/v1");
    assert_eq!(s.vision.model, "gpt-4o-mini");
    assert_eq!(s.vision.max_image_bytes, 5_242_880);
    assert_eq!(s.vision.timeout, Duration::from_secs(30));
    assert_eq!(s.plans.free.daily_ocr_limit, 20);
    assert!(s.billing.stripe_webhook_secret.is_none());
    assert!(s.login.success_redirect.is_none());
    assert!(!s.providers["google"].is_enabled());
    assert_eq!(
        s.providers["google"].issuer.as_deref(),
        Some("https://accounts.google.com")
    );
    let github = &s.providers["github"];
    assert!(!github.is_enabled());
    let url = |u: &Option<url::Url>| u.as_ref().map(url::Url::to_string);
    assert_eq!(
        url(&github.auth_url).as_deref(),
        Some("https://github.com/login/oauth/authorize")
    );
    assert_eq!(
        url(&github.token_url).as_deref(),
        Some("https://github.com/login/oauth/access_token")
    );
    assert_eq!(
        url(&github.api_url).as_deref(),
        Some("https://api.github.com/")
    );
}

#[test]
fn each_layer_overrides_the_one_before() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("default.toml"),
        "[server]\nport = 1001\nhost = \"10.0.0.1\"\n[redis]\nkey_prefix = \"disk:\"\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("development.toml"),
        "[server]\nport = 1002\n",
    )
    .expect("write");
    let extra = dir.path().join("extra.toml");
    std::fs::write(
        &extra,
        "[server]\nport = 1003\n[session]\nidle_timeout = \"10m\"\n",
    )
    .expect("write");

    let only_files = Settings::load(&sources(dir.path(), None, None, &[])).expect("loads");
    assert_eq!(
        only_files.server.port, 1002,
        "environment file over default file"
    );
    assert_eq!(
        only_files.server.host, "10.0.0.1",
        "default file over embedded default"
    );
    assert_eq!(only_files.redis.key_prefix, "disk:");

    let with_file = Settings::load(&sources(dir.path(), None, Some(&extra), &[])).expect("loads");
    assert_eq!(
        with_file.server.port, 1003,
        "--config over environment file"
    );
    assert_eq!(with_file.session.idle_timeout, Duration::from_secs(600));

    let with_env = Settings::load(&sources(
        dir.path(),
        None,
        Some(&extra),
        &[
            ("LATCHKEY__SERVER__PORT", "1004"),
            ("LATCHKEY__SESSION__IDLE_TIMEOUT", "30s"),
        ],
    ))
    .expect("loads");
    assert_eq!(
        with_env.server.port, 1004,
        "environment variables over everything"
    );
    assert_eq!(with_env.session.idle_timeout, Duration::from_secs(30));
}

#[test]
fn the_environment_file_is_chosen_by_latchkey_env() {
    let dir = tempfile::tempdir().expect("tempdir");
    let vars = [
        ("LATCHKEY__VISION__API_KEY", "sk-test"),
        ("LATCHKEY__SERVER__PUBLIC_URL", "https://auth.example.com"),
    ];
    let prod =
        Settings::load(&sources(dir.path(), Some("production"), None, &vars)).expect("loads");
    assert_eq!(prod.server.host, "0.0.0.0");
    let test = Settings::load(&sources(dir.path(), Some("test"), None, &[])).expect("loads");
    assert_eq!(test.server.port, 0);
    let err = Settings::load(&sources(dir.path(), Some("staging"), None, &[]))
        .expect_err("refused")
        .to_string();
    assert!(err.starts_with("LATCHKEY_ENV:"), "{err}");
}

#[test]
fn lists_in_the_environment_are_comma_separated() {
    let s = load(&[(
        "LATCHKEY__CORS__ALLOWED_ORIGINS",
        "chrome-extension://abcdef,moz-extension://1234-5678,https://app.example.com,http://localhost:3000",
    )])
    .expect("loads");
    assert_eq!(
        s.cors.allowed_origins,
        [
            "chrome-extension://abcdef",
            "moz-extension://1234-5678",
            "https://app.example.com",
            "http://localhost:3000"
        ]
    );
}

#[test]
fn token_mode_redirect_uris_are_a_list_kept_exactly_as_written() {
    let s = load(&[(
        "LATCHKEY__EXTENSIONS__REDIRECT_URIS",
        "https://abc.chromiumapp.org/,https://d41d8cd9.extensions.allizom.org/,https://App.example/cb?x=1",
    )])
    .expect("loads");
    assert_eq!(
        s.extensions.redirect_uris,
        [
            "https://abc.chromiumapp.org/",
            "https://d41d8cd9.extensions.allizom.org/",
            "https://App.example/cb?x=1"
        ]
    );
}

#[test]
fn a_loopback_redirect_uri_may_be_plain_http() {
    let uris = "http://localhost:8123/cb,http://127.0.0.1/cb,http://[::1]:9/cb";
    let s = load(&[("LATCHKEY__EXTENSIONS__REDIRECT_URIS", uris)]).expect("loads");
    assert_eq!(s.extensions.redirect_uris.len(), 3);
}

#[test]
fn durations_are_human() {
    for (text, secs) in [
        ("30s", 30),
        ("10m", 600),
        ("7d", 7 * 86_400),
        ("1h 30m", 5400),
    ] {
        let s = load(&[("LATCHKEY__SESSION__IDLE_TIMEOUT", text)]).expect("loads");
        assert_eq!(s.session.idle_timeout, Duration::from_secs(secs), "{text}");
    }
}

#[test]
fn each_bad_value_stops_start_up_with_one_line_naming_the_key() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("LATCHKEY__CORS__ALLOWED_ORIGINS", "*")],
            "cors.allowed_origins",
        ),
        (
            &[("LATCHKEY__CORS__ALLOWED_ORIGINS", "https://a.example/path")],
            "cors.allowed_origins",
        ),
        (
            &[("LATCHKEY__CORS__ALLOWED_ORIGINS", "https://a.example/")],
            "cors.allowed_origins",
        ),
        (
            &[("LATCHKEY__CORS__ALLOWED_ORIGINS", "not an origin")],
            "cors.allowed_origins",
        ),
        (
            &[(
                "LATCHKEY__EXTENSIONS__REDIRECT_URIS",
                "https://abc.chromiumapp.org/#x",
            )],
            "extensions.redirect_uris",
        ),
        (
            &[(
                "LATCHKEY__EXTENSIONS__REDIRECT_URIS",
                "https://*.chromiumapp.org/",
            )],
            "extensions.redirect_uris",
        ),
        (
            &[("LATCHKEY__EXTENSIONS__REDIRECT_URIS", "/auth/complete")],
            "extensions.redirect_uris",
        ),
        (
            &[(
                "LATCHKEY__EXTENSIONS__REDIRECT_URIS",
                "http://app.example/cb",
            )],
            "extensions.redirect_uris",
        ),
        (
            &[(
                "LATCHKEY__EXTENSIONS__REDIRECT_URIS",
                "ftp://app.example/cb",
            )],
            "extensions.redirect_uris",
        ),
        (
            &[("LATCHKEY__EXTENSIONS__REDIRECT_URIS", "com.example.app:/cb")],
            "extensions.redirect_uris",
        ),
        (
            &[(
                "LATCHKEY__EXTENSIONS__REDIRECT_URIS",
                "https://app.example/cb?state=x",
            )],
            "extensions.redirect_uris",
        ),
        (
            &[(
                "LATCHKEY__EXTENSIONS__REDIRECT_URIS",
                "https://app.example/cb?a=1&code=2",
            )],
            "extensions.redirect_uris",
        ),
        (
            &[("LATCHKEY__DATABASE__URL", "mysql://db/x")],
            "database.url",
        ),
        (
            &[("LATCHKEY__DATABASE__URL", "::not a url::")],
            "database.url",
        ),
        (&[("LATCHKEY__REDIS__URL", "http://cache")], "redis.url"),
        (
            &[("LATCHKEY__REDIS__KEY_PREFIX", "{tag}")],
            "redis.key_prefix",
        ),
        (
            &[("LATCHKEY__SESSION__IDLE_TIMEOUT", "soon")],
            "session.idle_timeout",
        ),
        (
            &[("LATCHKEY__SESSION__IDLE_TIMEOUT", "0s")],
            "session.idle_timeout",
        ),
        (
            &[("LATCHKEY__SESSION__ABSOLUTE_TIMEOUT", "1h")],
            "session.absolute_timeout",
        ),
        (
            &[("LATCHKEY__SESSION__SAME_SITE", "sometimes")],
            "session.same_site",
        ),
        (&[("LATCHKEY__SESSION__STORE", "disk")], "session.store"),
        (
            &[("LATCHKEY__SESSION__COOKIE_NAME", "bad name;")],
            "session.cookie_name",
        ),
        (&[("LATCHKEY__SERVER__PORT", "eighty")], "server.port"),
        (
            &[("LATCHKEY__SERVER__PUBLIC_URL", "nowhere")],
            "server.public_url",
        ),
        (
            &[("LATCHKEY__PROVIDERS__GOOGLE__CLIENT_ID", "id")],
            "providers.google.client_secret",
        ),
        (
            &[("LATCHKEY__PROVIDERS__KEYCLOAK__CLIENT_ID", "id")],
            "providers.keycloak.kind",
        ),
    ];
    for (vars, key) in cases {
        let message = load_err(vars);
        assert!(message.contains(key), "expected {key} in: {message}");
    }
}

#[test]
fn production_refuses_what_is_only_safe_in_development() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = [
        ("LATCHKEY__VISION__API_KEY", "sk-test"),
        ("LATCHKEY__SERVER__PUBLIC_URL", "https://auth.example.com"),
    ];
    let prod = |extra: &[(&str, &str)]| {
        let mut vars = good.to_vec();
        vars.extend_from_slice(extra);
        Settings::load(&sources(dir.path(), Some("production"), None, &vars))
            .map_err(|e| e.to_string())
    };
    assert!(prod(&[]).is_ok());
    let memory = prod(&[("LATCHKEY__SESSION__STORE", "memory")]).expect_err("refused");
    assert!(memory.starts_with("session.store:"), "{memory}");
    let http =
        prod(&[("LATCHKEY__SERVER__PUBLIC_URL", "http://auth.example.com")]).expect_err("refused");
    assert!(http.starts_with("server.public_url:"), "{http}");
    let no_key = Settings::load(&sources(
        dir.path(),
        Some("production"),
        None,
        &[("LATCHKEY__SERVER__PUBLIC_URL", "https://auth.example.com")],
    ))
    .expect_err("refused")
    .to_string();
    assert!(no_key.starts_with("vision.api_key:"), "{no_key}");
}

#[test]
fn secrets_never_appear_in_debug_output() {
    let s = load(&[
        ("LATCHKEY__VISION__API_KEY", "sk-very-secret"),
        ("LATCHKEY__PROVIDERS__GOOGLE__CLIENT_ID", "google-id"),
        (
            "LATCHKEY__PROVIDERS__GOOGLE__CLIENT_SECRET",
            "google-very-secret",
        ),
        (
            "LATCHKEY__BILLING__STRIPE_WEBHOOK_SECRET",
            "whsec_very_secret",
        ),
        (
            "LATCHKEY__DATABASE__URL",
            "postgres://user:db-very-secret@db/latchkey",
        ),
        (
            "LATCHKEY__REDIS__URL",
            "redis://:redis-very-secret@cache:6379",
        ),
    ])
    .expect("loads");
    let debug = format!("{s:?}");
    for secret in [
        "sk-very-secret",
        "google-very-secret",
        "whsec_very_secret",
        "db-very-secret",
        "redis-very-secret",
    ] {
        assert!(!debug.contains(secret), "{secret} leaked into Debug output");
    }
}

/// A password with an unescaped `/`, `?` or `#` would be read as no password and another
/// host or path: refused, with a line that says to percent-encode and never echoes the URL.
#[test]
fn a_url_whose_password_would_be_misread_is_refused_without_echoing_it() {
    for (key, var, raw) in [
        (
            "database.url",
            "LATCHKEY__DATABASE__URL",
            "postgres://app:/Xy9secret@db:5432/app",
        ),
        (
            "database.url",
            "LATCHKEY__DATABASE__URL",
            "postgres://app:2024/Spring!@db/app",
        ),
        (
            "database.url",
            "LATCHKEY__DATABASE__URL",
            "postgres://app:#Xy9secret@db/app",
        ),
        (
            "redis.url",
            "LATCHKEY__REDIS__URL",
            "redis://:s3/cret@cache:6379/0",
        ),
        (
            "redis.cluster_nodes",
            "LATCHKEY__REDIS__CLUSTER_NODES",
            "redis://:s3?cret@a:7000",
        ),
    ] {
        let message = load_err(&[(var, raw)]);
        assert!(message.starts_with(&format!("{key}:")), "{message}");
        assert!(message.contains("percent-encode"), "{message}");
        for part in ["Xy9secret", "Spring", "s3/cret", "s3?cret", "@db"] {
            assert!(!message.contains(part), "{raw} echoed: {message}");
        }
    }
    // Percent-encoded, the same password is fine.
    load(&[(
        "LATCHKEY__DATABASE__URL",
        "postgres://app:%2FXy9secret@db:5432/app",
    )])
    .expect("an encoded password loads");
}

/// The vision API's base and the providers' endpoints are not secrets, but an operator may put
/// one in them (a gateway's user and password, a `?key=`): neither the start-up line nor
/// `config check`'s listing shows it.
#[test]
fn urls_that_may_carry_a_credential_are_shown_redacted() {
    let s = load(&[
        ("LATCHKEY__VISION__API_KEY", "sk-x"),
        (
            "LATCHKEY__VISION__BASE_URL",
            "https://gw:gw-pass-1@gw.example/v1?key=gw-key-2",
        ),
        ("LATCHKEY__PROVIDERS__GITHUB__CLIENT_ID", "id"),
        ("LATCHKEY__PROVIDERS__GITHUB__CLIENT_SECRET", "cs"),
        (
            "LATCHKEY__PROVIDERS__GITHUB__TOKEN_URL",
            "https://gh.example/token?auth=gh-auth-3",
        ),
        (
            "LATCHKEY__PROVIDERS__GITHUB__API_URL",
            "https://u:gh-pass-4@gh.example/api",
        ),
    ])
    .expect("loads");
    let summary = format!("{:?}", s.summary());
    let listing = format!("{:?}", s.redacted_listing().expect("listing"));
    for secret in ["gw-pass-1", "gw-key-2", "gh-auth-3", "gh-pass-4"] {
        assert!(!summary.contains(secret), "{secret} in {summary}");
        assert!(!listing.contains(secret), "{secret} in {listing}");
    }
    assert!(summary.contains("gw.example"), "{summary}");
    assert!(listing.contains("gh.example/token"), "{listing}");
}

#[test]
fn a_missing_config_file_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nope.toml");
    let err = Settings::load(&sources(dir.path(), None, Some(&missing), &[]))
        .expect_err("refused")
        .to_string();
    assert!(err.starts_with("--config:"), "{err}");
}

/// The message for a configuration that names `key` as unknown.
#[track_caller]
fn assert_unknown(message: &str, key: &str) {
    assert!(!message.contains('\n'), "one line: {message}");
    assert!(
        message.starts_with(&format!("{key}: unknown key")),
        "expected {key} named as unknown: {message}"
    );
}

/// Environment variables of one case.
type Vars = &'static [(&'static str, &'static str)];

#[test]
fn a_misspelt_environment_variable_stops_start_up_naming_the_key() {
    let cases: &[(Vars, &str, Option<&str>)] = &[
        (
            &[("LATCHKEY__SESSION__IDLE_TIMOUT", "1d")],
            "session.idle_timout",
            Some("session.idle_timeout"),
        ),
        (&[("LATCHKEY__SESION__X", "1")], "sesion", Some("session")),
        (
            &[("LATCHKEY__SESSION_IDLE_TIMEOUT", "1d")],
            "session_idle_timeout",
            None,
        ),
        (
            &[("LATCHKEY__PROVIDERS__GOOGLE__CLIENT_SECRT", "s")],
            "providers.google.client_secrt",
            Some("providers.google.client_secret"),
        ),
        (
            &[
                ("LATCHKEY__PROVIDERS__KEYCLOAK__KIND", "oidc"),
                ("LATCHKEY__PROVIDERS__KEYCLOAK__ISSUER_URL", "https://kc"),
            ],
            "providers.keycloak.issuer_url",
            Some("providers.keycloak.issuer"),
        ),
        (
            &[("LATCHKEY__PLANS__FREE__DAILY_OCR_LIMT", "5")],
            "plans.free.daily_ocr_limt",
            Some("plans.free.daily_ocr_limit"),
        ),
        (
            &[("LATCHKEY__LIMITS__AUTH_PER_USER", "5")],
            "limits.auth_per_user",
            None,
        ),
        // Chosen by LATCHKEY_ENV alone, never by a key.
        (
            &[("LATCHKEY__ENVIRONMENT", "production")],
            "environment",
            None,
        ),
    ];
    for (vars, key, suggestion) in cases {
        let message = load_err(vars);
        assert_unknown(&message, key);
        let variable = format!("set by {}", vars[vars.len() - 1].0);
        assert!(message.contains(&variable), "{variable} in: {message}");
        if let Some(known) = suggestion {
            assert!(
                message.contains(&format!("did you mean {known}?")),
                "{known} suggested in: {message}"
            );
        }
    }
}

#[test]
fn a_misspelt_key_in_a_file_stops_start_up_naming_the_key_and_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        ("[session]\nidle_timout = \"1d\"\n", "session.idle_timout"),
        ("[sesion]\nidle_timeout = \"1d\"\n", "sesion"),
        ("port = 8081\n", "port"),
        (
            "[providers.github]\napi_uri = \"https://ghe.example.com/api\"\n",
            "providers.github.api_uri",
        ),
        (
            "[providers.keycloak]\nkind = \"oidc\"\nissuer = \"https://kc.example.com\"\nsecret = \"s\"\n",
            "providers.keycloak.secret",
        ),
        ("[plans.free]\ndaily_limit = 5\n", "plans.free.daily_limit"),
    ];
    let file = dir.path().join("extra.toml");
    for (text, key) in cases {
        std::fs::write(&file, text).expect("write");
        let message = Settings::load(&sources(dir.path(), None, Some(&file), &[]))
            .expect_err("refused")
            .to_string();
        assert_unknown(&message, key);
        assert!(message.contains("extra.toml"), "the file in: {message}");
    }
}

#[test]
fn a_misspelt_key_in_the_config_directory_is_refused_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("development.toml"),
        "[redis]\nkey_prefx = \"x:\"\n",
    )
    .expect("write");
    let message = Settings::load(&sources(dir.path(), None, None, &[]))
        .expect_err("refused")
        .to_string();
    assert_unknown(&message, "redis.key_prefx");
    assert!(
        message.contains("did you mean redis.key_prefix?"),
        "{message}"
    );
    assert!(message.contains("development.toml"), "{message}");
}

#[test]
fn every_unknown_key_is_named_on_the_one_line() {
    let message = load_err(&[
        ("LATCHKEY__SESSION__IDLE_TIMOUT", "1d"),
        ("LATCHKEY__VISION__APIKEY", "sk"),
    ]);
    assert_unknown(&message, "session.idle_timout");
    assert!(message.contains("also unknown: vision.apikey"), "{message}");
}

#[test]
fn every_documented_key_is_known() {
    // A provider of any name, with the keys a provider has; `redis.pool_size`, not used but
    // still accepted so that existing configuration loads.
    let s = load(&[
        ("LATCHKEY__PROVIDERS__KEYCLOAK__KIND", "oidc"),
        (
            "LATCHKEY__PROVIDERS__KEYCLOAK__ISSUER",
            "https://kc.example.com/realms/x",
        ),
        ("LATCHKEY__PROVIDERS__KEYCLOAK__CLIENT_ID", "kc"),
        ("LATCHKEY__PROVIDERS__KEYCLOAK__CLIENT_SECRET", "kc-secret"),
        ("LATCHKEY__REDIS__POOL_SIZE", "8"),
        (
            "LATCHKEY__LOGIN__SUCCESS_REDIRECT",
            "https://app.example.com/ok",
        ),
        ("LATCHKEY__BILLING__STRIPE_WEBHOOK_SECRET", "whsec_x"),
        ("LATCHKEY__REDIS__CLUSTER_NODES", ""),
    ])
    .expect("loads");
    assert!(s.providers["keycloak"].is_enabled());
    assert_eq!(s.redis.pool_size, 8);
}

#[test]
fn log_level_takes_a_filter_and_refuses_anything_else() {
    for good in [
        "debug",
        "WARN",
        "off",
        "info,latchkey=debug",
        "latchkey=trace",
        "warn,actix_web=info,",
    ] {
        let s = load(&[("LATCHKEY__LOG__LEVEL", good)])
            .unwrap_or_else(|e| panic!("{good} is a filter: {e}"));
        assert_eq!(s.log.level, good);
    }
    for bad in [
        "verbose",
        "warning",
        "",
        " , ",
        "info,chatty",
        "latchkey=loud",
    ] {
        let message = load_err(&[("LATCHKEY__LOG__LEVEL", bad)]);
        assert!(message.starts_with("log.level:"), "{bad:?}: {message}");
    }
}

/// Every `LATCHKEY__…` setting of a Kubernetes manifest that is not commented out: the
/// `KEY=value` lines of a kustomize env file (`config.env`, which the configMapGenerator
/// reads as written, quotes included), or the `KEY: "value"` lines of a YAML manifest.
fn manifest_vars(path: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    let env_file = path.ends_with(".env");
    text.lines()
        .map(str::trim)
        .filter(|l| l.starts_with("LATCHKEY__"))
        .filter_map(|l| l.split_once(if env_file { '=' } else { ':' }))
        .map(|(k, v)| {
            let v = if env_file {
                v
            } else {
                v.trim().trim_matches('"')
            };
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

#[test]
fn every_shipped_environment_and_the_kubernetes_configuration_load() {
    let config_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut environments: Vec<String> = std::fs::read_dir(&config_dir)
        .expect("config/")
        .filter_map(|e| e.ok()?.path().file_stem()?.to_str().map(str::to_owned))
        .filter(|name| name != "default")
        .collect();
    environments.sort();
    assert_eq!(environments, ["development", "production", "test"]);
    // Production, as deploy/kubernetes configures it: the generated ConfigMap's env file, the
    // overlay's that replaces some of its values, then the Secret (its example, with
    // placeholders).
    let mut deployed: BTreeMap<String, String> = BTreeMap::new();
    for manifest in [
        "deploy/kubernetes/base/config.env",
        "deploy/kubernetes/overlays/production/config.env",
        "deploy/kubernetes/base/secret.example.yaml",
    ] {
        let vars = manifest_vars(manifest);
        assert!(!vars.is_empty(), "{manifest} sets LATCHKEY__ variables");
        deployed.extend(vars);
    }
    for environment in &environments {
        let vars = if environment == "production" {
            deployed.clone()
        } else {
            BTreeMap::new()
        };
        let loaded = Settings::load(&Sources {
            environment: Some(environment.clone()),
            config_dir: config_dir.clone(),
            config_file: None,
            env_vars: vars,
        });
        if let Err(e) = loaded {
            panic!("the {environment} environment does not load: {e}");
        }
    }
}
