//! `cargo run -p migration -- [up|down|status|fresh|refresh|reset]`, reading `DATABASE_URL`
//! (or `-u <url>`). The server runs the same migrations through `latchkey migrate`.

use sea_orm_migration::prelude::*;

#[tokio::main]
async fn main() {
    cli::run_cli(migration::Migrator).await;
}
