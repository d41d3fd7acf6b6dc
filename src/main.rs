use std::io::Write;

use latchkey::cli::{self, Cli};

/// mimalloc instead of glibc's malloc. An authenticated request makes about 50 short-lived
/// allocations (actix-web's request and middleware, the Redis command and reply, the JSON
/// answer), spread over the HTTP workers; mimalloc's per-thread free lists serve them in a
/// fraction of glibc's time, which `make bench` measures (docs/performance.md, "The
/// allocator"). Only the binary sets it: the library, its tests and the bench's peers keep
/// the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let cli = Cli::parse_or_exit();
    let code = match cli::run(cli).await {
        Ok(()) => 0,
        Err(failure) => failure.report(),
    };
    // Exit here rather than by dropping the runtime: a command's work is done and its output
    // written once `run` returns, and joining the pools' background tasks at shutdown (sqlx's
    // SQLite workers, Redis connections) has been seen to spin instead of ending.
    let _ = std::io::stdout().flush();
    std::process::exit(code)
}
