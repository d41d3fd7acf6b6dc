//! `make demo`'s third parties: fake Google and GitHub that approve every sign-in at once, and
//! a fake vision API, plus the configuration that points latchkey at them. `examples/demo.rs`
//! runs latchkey with it for a person; `tests/api/demo.rs` signs in through it, so the demo a
//! newcomer runs is the one the tests check.
//!
//! The rest of the demo's configuration (the example extension's origin and redirect URI, a
//! small free quota) is the file [`CONFIG_FILE`], layered as `--config` would be.

use std::collections::BTreeMap;

use crate::fakes::{FakeGitHub, FakeGoogle, FakeOpenAi};

/// `examples/demo.toml`: what the demo sets besides the fakes' URLs and keys.
pub const CONFIG_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/demo.toml");

/// The example extension's id (`examples/extension/manifest.json`'s `key` fixes it on every
/// install), so its origin and its `identity` redirect URI can be allowed beforehand.
pub const EXTENSION_ID: &str = "jhjjpabepmfealcahngophmkiopjadgf";

/// The settings the demo keeps to itself whatever the shell says: its own SQLite file and
/// Redis key prefix (`examples/demo.toml`), and the Redis `make run` would use. Its fake
/// providers sign anyone in as a verified `alice@example.com` without a click, so pointed at
/// a shared database the demo would sign into, or link to, an existing user of it.
pub const PINNED_VARS: &[&str] = &[
    "LATCHKEY__DATABASE__URL",
    "LATCHKEY__REDIS__URL",
    "LATCHKEY__REDIS__KEY_PREFIX",
    "LATCHKEY__REDIS__CLUSTER_NODES",
];

/// Removes the variables of [`PINNED_VARS`] from the shell's `vars` (their names in any case,
/// as written), and answers the names it removed, for the demo to say so.
pub fn pin_storage(vars: &mut BTreeMap<String, String>) -> Vec<String> {
    let pinned: Vec<String> = vars
        .keys()
        .filter(|name| PINNED_VARS.iter().any(|p| name.eq_ignore_ascii_case(p)))
        .cloned()
        .collect();
    for name in &pinned {
        vars.remove(name);
    }
    pinned
}

/// The fakes of the demo, running on loopback until dropped.
pub struct DemoFakes {
    pub google: FakeGoogle,
    pub github: FakeGitHub,
    pub openai: FakeOpenAi,
}

impl DemoFakes {
    /// Starts the three fakes, the two providers approving every sign-in without a click.
    pub async fn start() -> Self {
        let fakes = Self {
            google: FakeGoogle::start().await,
            github: FakeGitHub::start().await,
            openai: FakeOpenAi::start().await,
        };
        fakes.google.set_auto_approve(true);
        fakes.github.set_auto_approve(true);
        fakes
    }

    /// The `LATCHKEY__…` variables that point latchkey at these fakes.
    pub fn config_vars(&self) -> Vec<(String, String)> {
        self.google
            .config_vars()
            .into_iter()
            .chain(self.github.config_vars())
            .chain(self.openai.config_vars())
            .map(|(k, v)| (k.to_owned(), v))
            .collect()
    }
}
