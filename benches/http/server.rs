//! latchkey's server under load: the `latchkey` binary itself, in a process of its own
//! (`testkit::server`), so that the bench measures what ships (its allocator, its runtime
//! set-up), not the library linked into the bench, whose allocator would also be the peers'.

use std::collections::BTreeMap;
use std::path::PathBuf;

use testkit::server::{Serve, Served};

/// Starts the binary Cargo built beside this bench (or `LATCHKEY_BIN`, to compare another
/// build in the same run conditions) with `vars` as its only `LATCHKEY…` variables (the
/// bench chose these), and waits until it answers.
pub(crate) async fn start(vars: &BTreeMap<String, String>) -> anyhow::Result<Served> {
    let binary: PathBuf = std::env::var_os("LATCHKEY_BIN")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_latchkey").into())
        .into();
    Ok(Served::start(Serve {
        binary: &binary,
        args: &[],
        config_dir: concat!(env!("CARGO_MANIFEST_DIR"), "/config").as_ref(),
        vars,
        log: None,
    })
    .await?)
}
