//! `make demo`: latchkey in development on http://localhost:8080 with fake Google, GitHub and
//! vision API on loopback (the dev-only `testkit` crate's, never in the release binary), the
//! example extension's origin and redirect URI allowed, and a free quota of a few captures.
//! The fake providers approve every sign-in at once. It prints what to open, then serves
//! until Ctrl-C, which stops the server and the fakes together.
//!
//! ```sh
//! make demo            # or: cargo run --example demo
//! ```
//!
//! The configuration is `examples/demo.toml` over the embedded defaults, the fakes' URLs
//! over that, and any `LATCHKEY__…` variable of the shell last (say, another port), but for
//! the database and Redis ones (`testkit::demo::PINNED_VARS`), which the demo ignores and
//! names: its fakes sign anyone in, so it keeps to its own SQLite file and key prefix. The
//! session store is chosen as for `make run`: the default Redis when it answers, else a
//! `redis-server` under `data/`, else the in-process memory store.

use std::path::PathBuf;
use std::process::ExitCode;

use latchkey::config::{Settings, Sources};
use latchkey::startup::{Application, Options};
use testkit::demo::{pin_storage, DemoFakes, CONFIG_FILE, EXTENSION_ID};

#[tokio::main]
async fn main() -> ExitCode {
    let fakes = DemoFakes::start().await;
    match run(&fakes).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(fakes: &DemoFakes) -> anyhow::Result<()> {
    let mut settings = Settings::load(&sources(fakes))?;
    latchkey::telemetry::init(&settings.log);
    let _dev_redis = latchkey::dev::choose_store(&mut settings).await?;
    let public_url = settings.server.public_url.to_string();
    let app = Application::build(settings, Options { migrate: true }).await?;
    print_welcome(public_url.trim_end_matches('/'));
    app.run_until_terminated().await?;
    Ok(())
}

/// The demo's layers: development, `examples/demo.toml`, the fakes, then the shell's own
/// `LATCHKEY__…` variables, except those that would point a provider or the vision API
/// elsewhere than the fakes, or the demo at another database or Redis.
fn sources(fakes: &DemoFakes) -> Sources {
    let mut sources = Sources::from_process(Some(PathBuf::from(CONFIG_FILE)));
    sources.environment = Some("development".to_owned());
    let ignored = pin_storage(&mut sources.env_vars);
    if !ignored.is_empty() {
        eprintln!(
            "make demo ignores {}: its fake providers sign anyone in, so it keeps to its own \
             database (data/demo.db) and Redis key prefix (latchkey-demo:).",
            ignored.join(", ")
        );
    }
    for (key, value) in fakes.config_vars() {
        sources.env_vars.insert(key, value);
    }
    sources
}

fn print_welcome(base: &str) {
    let lines = [
        String::new(),
        format!("latchkey demo on {base}: fake Google and GitHub approve every sign-in; 3 free captures a day."),
        String::new(),
        "  In Chrome: chrome://extensions, turn on Developer mode, \"Load unpacked\", pick".to_owned(),
        format!("    examples/extension (id {EXTENSION_ID}); click its icon, then \"Sign in with Google\"."),
        "  Without a browser: scripts/demo-curl.sh signs in with curl, as the extension's token".to_owned(),
        format!("    mode does, and ends with `curl -H \"Authorization: Bearer …\" {base}/api/user/info`."),
        String::new(),
        "Ctrl-C stops the server and the fakes.".to_owned(),
    ];
    println!("{}", lines.join("\n"));
}
