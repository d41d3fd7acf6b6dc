use std::io::Write;

use latchkey::cli::{self, Cli};

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
