//! `latchkey serve`.

use super::Failure;
use crate::config::Settings;
use crate::dev;
use crate::startup::{Application, Options};

/// Runs the HTTP server until it is told to stop. With `dev_store`, the development store is
/// chosen first (and a `redis-server` it started lives as long as the server).
pub(super) async fn run(
    mut settings: Settings,
    no_migrate: bool,
    dev_store: bool,
) -> Result<(), Failure> {
    let _dev_redis = if dev_store {
        Some(
            dev::choose_store(&mut settings)
                .await
                .map_err(|e| Failure::Usage(e.into()))?,
        )
    } else {
        None
    };
    let app = Application::build(
        settings,
        Options {
            migrate: !no_migrate,
        },
    )
    .await
    .map_err(Failure::Usage)?;
    app.run_until_terminated()
        .await
        .map_err(|e| Failure::Domain(e.into()))
}
