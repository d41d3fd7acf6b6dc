//! The `latchkey` command line (contract §1). Each subcommand is a small function; the
//! `///` docs are the `--help` text. The operator commands (`sessions`, `users`, `plan`) call
//! [`crate::admin`] and print its results; they load the configuration exactly as `serve`
//! does and talk to Redis and the database directly, so they work while no server runs.

use std::borrow::Cow;
use std::io::{self, BufRead, IsTerminal, Write};
use std::path::PathBuf;

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use clap::error::ErrorKind;
use clap::{ArgGroup, Args, Parser, Subcommand};
use comfy_table::{presets, Table};
use sea_orm::DatabaseConnection;
use serde::Serialize;

use crate::admin::{self, AdminError, SessionRow, SessionWalk, UserPages, UserSummary};
use crate::config::{Environment, Settings, Sources, StoreKind};
use crate::db::{self, MigrateAction, Migrated};
use crate::session::Sessions;
use crate::startup::{self, Application, Options};
use crate::{dev, telemetry};

#[derive(Debug, Parser)]
#[command(
    name = "latchkey",
    version,
    about = "Login and session server for browser extensions"
)]
pub struct Cli {
    /// A TOML file layered over config/default.toml and config/<LATCHKEY_ENV>.toml.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Parses the process's arguments. `--help` and `--version` print and exit 0; a usage
    /// error is one line on stderr and exit status 2.
    pub fn parse_or_exit() -> Self {
        match Self::try_parse() {
            Ok(cli) => cli,
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::DisplayHelp
                        | ErrorKind::DisplayVersion
                        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
                ) =>
            {
                e.exit()
            }
            Err(e) => {
                eprintln!("{}", usage_error_line(&e.render().to_string()));
                std::process::exit(2)
            }
        }
    }
}

/// clap's message without the usage block and tips, on one line.
fn usage_error_line(rendered: &str) -> String {
    let text = rendered
        .lines()
        .take_while(|line| !line.starts_with("Usage:"))
        .map(str::trim)
        .filter(|line| {
            !line.is_empty() && !line.starts_with("tip:") && !line.starts_with("For more")
        })
        .collect::<Vec<_>>()
        .join(" ");
    format!("{text} (see --help)")
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server, applying pending migrations first.
    ///
    /// Example: LATCHKEY_ENV=production latchkey serve
    Serve {
        /// Do not apply pending migrations (when a separate job runs `latchkey migrate`).
        #[arg(long)]
        no_migrate: bool,
        /// Development only: use the Redis at redis.url if it answers, else start a
        /// redis-server under data/, else the memory store (what `make run` uses).
        /// Refused when LATCHKEY_ENV=production.
        #[arg(long)]
        dev_store: bool,
    },
    /// Apply, roll back or inspect database migrations.
    ///
    /// `down` and `fresh` destroy data: on a terminal they ask first unless --yes; off a
    /// terminal they need --yes; with LATCHKEY_ENV=production they need --yes always.
    ///
    /// Examples:
    ///   latchkey migrate status
    ///   latchkey migrate down --yes
    #[command(verbatim_doc_comment)]
    Migrate {
        #[arg(value_enum, default_value_t = MigrateAction::Up)]
        action: MigrateAction,
        /// Confirm `down` or `fresh` without being asked.
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// List and revoke live sessions.
    ///
    /// Example: latchkey sessions list --user ada@example.com
    Sessions {
        #[command(subcommand)]
        command: SessionsCommand,
    },
    /// List, show, disable, enable and delete users.
    ///
    /// Example: latchkey users show ada@example.com
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Change a user's plan.
    ///
    /// Example: latchkey plan set ada@example.com pro --until 2027-01-01T00:00:00Z
    Plan {
        #[command(subcommand)]
        command: PlanCommand,
    },
    /// Check the configuration before deploying it.
    ///
    /// Example: LATCHKEY_ENV=production latchkey config check
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Load and validate the configuration as `serve` would, print the effective settings
    /// with every secret redacted, and check that Redis and the database answer.
    ///
    /// Exit status 0 when all is well; 2, with one line on stderr, when the configuration is
    /// invalid or Redis or the database does not answer.
    ///
    /// Example: LATCHKEY_ENV=production latchkey --config /etc/latchkey.toml config check
    Check,
}

#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// List live sessions: public id, user, created, last seen, expires, user agent, IP.
    ///
    /// Without --user, every session of the deployment, read from Redis in pages with SCAN
    /// (never KEYS), so listing a large deployment does not hold Redis up.
    ///
    /// Example: latchkey sessions list --user ada@example.com --json
    List {
        /// Only this user's sessions (an email, or a user id).
        #[arg(long, value_name = "EMAIL_OR_ID")]
        user: Option<String>,
        #[command(flatten)]
        output: JsonFlag,
    },
    /// Revoke sessions: one by its public id, all of a user's, or all of them; prints how many.
    ///
    /// The next request with a revoked cookie gets 401 on every replica. When nothing
    /// matched it prints "revoked 0 session(s)" and exits 1. --all asks for confirmation on a
    /// terminal only, so it works from `kubectl exec` without -t.
    ///
    /// Examples:
    ///   latchkey sessions revoke 3f2a9c0d41b7e855
    ///   latchkey sessions revoke --user ada@example.com
    ///   latchkey sessions revoke --all
    #[command(
        verbatim_doc_comment,
        group(ArgGroup::new("which").required(true).multiple(true).args(["id", "user", "all"]))
    )]
    Revoke {
        /// The public id of one session, as `sessions list` shows it.
        #[arg(value_name = "SESSION_ID", conflicts_with = "all")]
        id: Option<String>,
        /// Every session of this user (an email, or a user id); with SESSION_ID, look for
        /// that session among this user's only. A user id no longer in the database reaches
        /// the sessions left behind, and drops that id's profile cache too.
        #[arg(long, value_name = "EMAIL_OR_ID", conflicts_with = "all")]
        user: Option<String>,
        /// Every session of the deployment: signs every user out.
        #[arg(long)]
        all: bool,
        /// Do not ask for confirmation of --all on a terminal (off a terminal it is not asked).
        #[arg(long, short = 'y')]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// List users with their plan, subscription end and live session count.
    ///
    /// Example: latchkey users list --json
    List {
        #[command(flatten)]
        output: JsonFlag,
    },
    /// Show one user: plan, subscription, identities and live session count.
    ///
    /// Example: latchkey users show ada@example.com
    Show {
        /// An email, or a user id.
        #[arg(value_name = "EMAIL_OR_ID")]
        user: String,
        #[command(flatten)]
        output: JsonFlag,
    },
    /// Disable a user: every session ends now and their logins are refused
    /// (403 account_disabled) until `users enable`.
    ///
    /// Example: latchkey users disable ada@example.com
    Disable {
        /// An email, or a user id.
        #[arg(value_name = "EMAIL_OR_ID")]
        user: String,
    },
    /// Let a disabled user log in again.
    ///
    /// Example: latchkey users enable ada@example.com
    Enable {
        /// An email, or a user id.
        #[arg(value_name = "EMAIL_OR_ID")]
        user: String,
    },
    /// Erase a user (an erasure request): sessions, the user, identities and usage.
    /// Subscriptions' billing records are kept, detached from the user.
    ///
    /// The user is disabled first and their sessions end before any row goes; if Redis or the
    /// database fails half-way, the error names the command to run again (with the user id),
    /// which finishes the erasure.
    ///
    /// Example: latchkey users delete ada@example.com --yes
    Delete {
        /// An email, or a user id.
        #[arg(value_name = "EMAIL_OR_ID")]
        user: String,
        /// Confirm the erasure; nothing is deleted without it.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum PlanCommand {
    /// Set a user's plan; every live session of the user sees it on its next request.
    ///
    /// An active subscription keeps a user on pro whatever is set here.
    ///
    /// Example: latchkey plan set ada@example.com pro --until 2027-01-01T00:00:00Z
    Set {
        /// An email, or a user id.
        #[arg(value_name = "EMAIL_OR_ID")]
        user: String,
        /// A plan of the plans table (free, pro).
        plan: String,
        /// When the plan ends (RFC 3339); after it the user is on free. No end when omitted.
        #[arg(long, value_name = "RFC3339", value_parser = parse_rfc3339)]
        until: Option<DateTime<FixedOffset>>,
    },
}

#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print one JSON document instead of a table.
    #[arg(long)]
    json: bool,
}

fn parse_rfc3339(raw: &str) -> Result<DateTime<FixedOffset>, String> {
    DateTime::parse_from_rfc3339(raw)
        .map_err(|e| format!("not an RFC 3339 time such as 2027-01-01T00:00:00Z ({e})"))
}

/// Exit status of contract §1: 0 done, 1 nothing matched or a domain error, 2 bad usage or
/// configuration.
pub enum Failure {
    Domain(anyhow::Error),
    Usage(anyhow::Error),
}

impl Failure {
    /// Prints the error as one line on stderr; the process exit status.
    pub fn report(self) -> i32 {
        let (error, code) = match self {
            Self::Domain(e) => (e, 1),
            Self::Usage(e) => (e, 2),
        };
        // The error can quote what a provider sent (an email), so it is made printable too.
        eprintln!("error: {}", printable(&one_line(&error)));
        code
    }
}

fn one_line(error: &anyhow::Error) -> String {
    // Some causes repeat their source's text in their own (sqlx does); say each thing once.
    let mut parts: Vec<String> = Vec::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if !parts.last().is_some_and(|last| last.contains(&text)) {
            parts.push(text);
        }
    }
    parts
        .join(": ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

pub async fn run(cli: Cli) -> Result<(), Failure> {
    let mut settings = Settings::load(&Sources::from_process(cli.config.clone()))
        .map_err(|e| Failure::Usage(e.into()))?;
    telemetry::init(&settings.log);
    match cli.command {
        Command::Serve {
            no_migrate,
            dev_store,
        } => {
            let _dev_redis = if dev_store {
                Some(
                    dev::choose_store(&mut settings)
                        .await
                        .map_err(|e| Failure::Usage(e.into()))?,
                )
            } else {
                None
            };
            serve(settings, !no_migrate).await
        }
        Command::Migrate { action, yes } => migrate(&settings, action, yes).await,
        Command::Sessions { command } => {
            let ops = Ops::connect(&settings).await?;
            match command {
                SessionsCommand::List { user, output } => {
                    sessions_list(&ops, user.as_deref(), output.json).await
                }
                SessionsCommand::Revoke { id, user, all, yes } => {
                    sessions_revoke(&ops, id.as_deref(), user.as_deref(), all, yes).await
                }
            }
        }
        Command::Users { command } => {
            let ops = Ops::connect(&settings).await?;
            match command {
                UsersCommand::List { output } => users_list(&ops, output.json).await,
                UsersCommand::Show { user, output } => users_show(&ops, &user, output.json).await,
                UsersCommand::Disable { user } => users_disable(&ops, &user).await,
                UsersCommand::Enable { user } => users_enable(&ops, &user).await,
                UsersCommand::Delete { user, yes } => users_delete(&ops, &user, yes).await,
            }
        }
        Command::Plan {
            command: PlanCommand::Set { user, plan, until },
        } => {
            let ops = Ops::connect(&settings).await?;
            plan_set(&ops, &user, &plan, until.map(|t| t.with_timezone(&Utc))).await
        }
        Command::Config {
            command: ConfigCommand::Check,
        } => config_check(&settings).await,
    }
}

async fn serve(settings: Settings, migrate: bool) -> Result<(), Failure> {
    let app = Application::build(settings, Options { migrate })
        .await
        .map_err(Failure::Usage)?;
    tracing::info!(port = app.port(), "latchkey is listening");
    app.run_until_terminated()
        .await
        .map_err(|e| Failure::Domain(e.into()))
}

async fn migrate(settings: &Settings, action: MigrateAction, yes: bool) -> Result<(), Failure> {
    if let Some(what) = destroys(action) {
        let consent = if settings.environment == Environment::Production {
            Consent::YesOnly(" (always, with LATCHKEY_ENV=production)")
        } else {
            Consent::AskElseRefuse
        };
        confirm(yes, what, "the database was not changed", consent)?;
    }
    let conn = db::connect(&settings.database)
        .await
        .map_err(Failure::Usage)?;
    let done = db::migrate(&conn, action).await.map_err(Failure::Domain)?;
    finish(print_migrated(io::stdout().lock(), &done))
}

/// What a migrate action destroys, for its confirmation; `None` for those that keep all data.
fn destroys(action: MigrateAction) -> Option<&'static str> {
    match action {
        MigrateAction::Up | MigrateAction::Status => None,
        MigrateAction::Down => Some(
            "`migrate down` rolls back the latest migration, dropping what it created and the \
             data in it",
        ),
        MigrateAction::Fresh => Some(
            "`migrate fresh` drops every table of the database and all their data, then applies \
             every migration",
        ),
    }
}

/// What `migrate` did, on stdout whatever the log level: one line per migration for `status`
/// (`<name>  applied|pending`), one summary line for the others.
fn print_migrated(mut out: impl Write, done: &Migrated) -> io::Result<()> {
    match done {
        Migrated::Status(all) => {
            let width = all.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
            for (name, applied) in all {
                let status = if *applied { "applied" } else { "pending" };
                writeln!(out, "{name:<width$}  {status}")?;
            }
            Ok(())
        }
        Migrated::Applied(names) if names.is_empty() => {
            writeln!(out, "applied 0 migration(s): the database is up to date")
        }
        Migrated::Applied(names) => writeln!(
            out,
            "applied {}: {}",
            plural(names.len() as u64, "migration"),
            names.join(", ")
        ),
        Migrated::RolledBack(Some(name)) => writeln!(out, "rolled back {name}"),
        Migrated::RolledBack(None) => {
            writeln!(out, "rolled back nothing: no migration is applied")
        }
        Migrated::Recreated(count) => writeln!(
            out,
            "database recreated, {} applied",
            plural(*count as u64, "migration")
        ),
    }
}

impl From<AdminError> for Failure {
    fn from(e: AdminError) -> Self {
        if e.is_usage() {
            Self::Usage(e.into())
        } else {
            Self::Domain(e.into())
        }
    }
}

/// A failed write to stdout. A closed pipe (`latchkey sessions list | head`) is not an error:
/// the reader has what it wanted.
fn output(e: io::Error) -> Failure {
    Failure::Domain(anyhow::Error::new(e).context("cannot write the output"))
}

fn finish(result: io::Result<()>) -> Result<(), Failure> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map_err(output),
    }
}

/// What the operator commands work with: the database and the session store of the
/// configuration, as the server would open them.
struct Ops {
    db: DatabaseConnection,
    sessions: Sessions,
}

impl Ops {
    async fn connect(settings: &Settings) -> Result<Self, Failure> {
        if settings.session.store == StoreKind::Memory {
            return Err(Failure::Usage(anyhow::anyhow!(
                "session.store: `memory` keeps sessions inside the server process, where this \
                 command cannot reach them; point session.store and redis.url at the servers' Redis"
            )));
        }
        let db = db::connect(&settings.database)
            .await
            .map_err(Failure::Usage)?;
        let sessions = startup::build_sessions(settings).map_err(Failure::Usage)?;
        Ok(Self { db, sessions })
    }
}

fn when(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn when_opt(t: Option<DateTime<Utc>>) -> String {
    t.map(when).unwrap_or_else(|| "-".to_owned())
}

/// A table for the operator's terminal. Every cell goes through [`printable`] in [`row`]:
/// names, emails and user agents come from providers and browsers, and a control sequence in
/// one must be shown, not obeyed by the terminal.
///
/// [`row`]: TextTable::row
struct TextTable(Table);

impl TextTable {
    fn new(header: &[&str]) -> Self {
        let mut table = Self::plain();
        table.0.set_header(header.iter().copied());
        table
    }

    /// A table without a header (`users show`'s key and value pairs).
    fn plain() -> Self {
        let mut table = Table::new();
        table.load_preset(presets::UTF8_FULL_CONDENSED);
        Self(table)
    }

    fn row<S: AsRef<str>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.0.add_row(
            cells
                .into_iter()
                .map(|c| printable(c.as_ref()).into_owned()),
        );
    }
}

impl std::fmt::Display for TextTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// `text` safe to print on a terminal: every character that a terminal would act on rather
/// than show is written as an escape. These are the C0 controls (ESC starts the sequences that
/// clear the screen, move the cursor or set the window title; CR rewrites a line), DEL, the C1
/// controls U+0080–U+009F (CSI and OSC in one byte on some terminals), and the bidirectional
/// overrides and isolates U+202A–U+202E and U+2066–U+2069, which reorder the text shown after
/// them. Tab, newline and CR read `\t`, `\n`, `\r`, the others their code point (ESC reads
/// `\u{1b}`), and a backslash is doubled, so that no text can pose as an escape.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\\' => shown.push_str("\\\\"),
            '\t' => shown.push_str("\\t"),
            '\n' => shown.push_str("\\n"),
            '\r' => shown.push_str("\\r"),
            c if needs_escape(c) => shown.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => shown.push(c),
        }
    }
    Cow::Owned(shown)
}

fn needs_escape(c: char) -> bool {
    // `is_control` is the Cc category: C0, DEL and C1.
    c == '\\' || c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn plural(n: impl Into<u64>, what: &str) -> String {
    format!("{} {what}(s)", n.into())
}

fn session_table(rows: &[SessionRow]) -> TextTable {
    let mut t = TextTable::new(&[
        "ID",
        "USER",
        "CREATED",
        "LAST SEEN",
        "EXPIRES",
        "USER AGENT",
        "IP",
    ]);
    for r in rows {
        t.row([
            r.id.to_string(),
            r.email.clone().unwrap_or_else(|| r.user_id.to_string()),
            when(r.created_at),
            when(r.last_seen_at),
            when(r.expires_at),
            r.user_agent.clone(),
            r.ip.clone(),
        ]);
    }
    t
}

/// Writes `{"<key>":[…],"count":n}` one element per line, page by page, so that a listing of
/// any size is one JSON document printed in constant memory.
struct JsonArray<W: Write> {
    out: W,
    count: u64,
}

impl<W: Write> JsonArray<W> {
    fn start(mut out: W, key: &str) -> io::Result<Self> {
        write!(out, "{{\"{key}\":[")?;
        Ok(Self { out, count: 0 })
    }

    fn push(&mut self, item: &impl Serialize) -> io::Result<()> {
        self.out
            .write_all(if self.count == 0 { b"\n" } else { b",\n" })?;
        serde_json::to_writer(&mut self.out, item)?;
        self.count += 1;
        Ok(())
    }

    fn end(mut self) -> io::Result<()> {
        writeln!(self.out, "\n],\"count\":{}}}", self.count)?;
        self.out.flush()
    }
}

async fn sessions_list(ops: &Ops, user: Option<&str>, json: bool) -> Result<(), Failure> {
    let mut rows = match user {
        Some(who) => {
            let owner = admin::find_owner(&ops.db, who).await?;
            admin::user_sessions(&ops.sessions, &owner).await?
        }
        None if json => return stream_all_sessions(ops).await,
        None => {
            let mut walk = SessionWalk::new(&ops.db, &ops.sessions);
            let mut rows = Vec::new();
            while let Some(page) = walk.next_page().await? {
                rows.extend(page);
            }
            rows.sort_by_key(|r| r.created_at);
            rows
        }
    };
    let out = io::stdout().lock();
    if json {
        let mut array = JsonArray::start(io::BufWriter::new(out), "sessions").map_err(output)?;
        for row in rows.drain(..) {
            array.push(&row).map_err(output)?;
        }
        return finish(array.end());
    }
    finish(print_sessions(out, &rows))
}

fn print_sessions(mut out: impl Write, rows: &[SessionRow]) -> io::Result<()> {
    if !rows.is_empty() {
        writeln!(out, "{}", session_table(rows))?;
    }
    writeln!(out, "{}", plural(rows.len() as u64, "session"))
}

/// Every session of the deployment as JSON, printed page by page as the walk goes. Nothing
/// is printed until the first page is read, so a store that does not answer prints no
/// half document.
async fn stream_all_sessions(ops: &Ops) -> Result<(), Failure> {
    let mut walk = SessionWalk::new(&ops.db, &ops.sessions);
    let mut page = walk.next_page().await?;
    let mut array =
        JsonArray::start(io::BufWriter::new(io::stdout().lock()), "sessions").map_err(output)?;
    while let Some(rows) = page {
        for row in &rows {
            if let Err(e) = array.push(row) {
                return finish(Err(e));
            }
        }
        page = walk.next_page().await?;
    }
    finish(array.end())
}

async fn sessions_revoke(
    ops: &Ops,
    id: Option<&str>,
    user: Option<&str>,
    all: bool,
    yes: bool,
) -> Result<(), Failure> {
    let revoked = if all {
        confirm(
            yes,
            "This revokes every session of the deployment and signs every user out",
            "nothing was revoked",
            Consent::AskElseGo,
        )?;
        admin::revoke_all(&ops.sessions).await
    } else {
        // A user id need not be in the database: an erasure that stopped half-way leaves
        // sessions in Redis whose user no longer has a row.
        let owner = match user {
            Some(who) => Some(admin::find_owner(&ops.db, who).await?),
            None => None,
        };
        match (id, owner) {
            (Some(id), owner) => {
                let id = admin::parse_session_id(id)?;
                admin::revoke_session(&ops.sessions, &id, owner.as_ref()).await
            }
            (None, Some(owner)) => admin::revoke_user(&ops.sessions, &owner).await,
            (None, None) => {
                return Err(Failure::Usage(anyhow::anyhow!(
                    "name a session id, --user or --all"
                )))
            }
        }
    };
    // The count is printed also when nothing matched, which then exits 1 (contract §1).
    match revoked {
        Ok(n) => {
            println!("revoked {}", plural(n, "session"));
            Ok(())
        }
        Err(e) if e.nothing_revoked() => {
            println!("revoked {}", plural(0u64, "session"));
            Err(e.into())
        }
        Err(e) => Err(e.into()),
    }
}

/// When a command that destroys or ends something may go ahead without `--yes`.
enum Consent {
    /// Ask on a terminal; off one (`kubectl exec` without `-t`, a Job, a script) there is no
    /// one to ask, and the command goes ahead.
    AskElseGo,
    /// Ask on a terminal; off one, refuse.
    AskElseRefuse,
    /// Refuse, terminal or not: only `--yes` will do. Says why, after "add --yes to confirm".
    YesOnly(&'static str),
}

/// The one confirmation of every destructive command: `Ok` to go ahead. Without `--yes`,
/// `consent` says whether to ask on a terminal or to refuse (bad usage, exit status 2); an
/// answer other than `yes` is exit status 1 and `untouched` says what was left alone.
fn confirm(yes: bool, what: &str, untouched: &str, consent: Consent) -> Result<(), Failure> {
    if yes {
        return Ok(());
    }
    let on_terminal = io::stdin().is_terminal();
    match consent {
        Consent::YesOnly(why) => {
            return Err(Failure::Usage(anyhow::anyhow!(
                "{what}; add --yes to confirm{why}"
            )))
        }
        Consent::AskElseRefuse if !on_terminal => {
            return Err(Failure::Usage(anyhow::anyhow!(
                "{what}; add --yes to confirm (there is no terminal to ask on)"
            )))
        }
        Consent::AskElseGo if !on_terminal => return Ok(()),
        Consent::AskElseGo | Consent::AskElseRefuse => {}
    }
    eprint!("{what}. Type yes to continue: ");
    let _ = io::stderr().flush();
    let mut answer = String::new();
    io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Failure::Usage(e.into()))?;
    if answer.trim().eq_ignore_ascii_case("yes") {
        Ok(())
    } else {
        Err(Failure::Domain(anyhow::anyhow!(
            "not confirmed: {untouched}"
        )))
    }
}

fn user_row(t: &mut TextTable, u: &UserSummary) {
    t.row([
        u.id.to_string(),
        u.email.clone().unwrap_or_default(),
        u.name.clone().unwrap_or_default(),
        u.plan.clone(),
        when_opt(u.plan_until),
        when_opt(u.subscription_end),
        u.sessions.to_string(),
        when_opt(u.disabled_at),
    ]);
}

const USER_HEADER: [&str; 8] = [
    "ID",
    "EMAIL",
    "NAME",
    "PLAN",
    "PLAN UNTIL",
    "SUBSCRIPTION END",
    "SESSIONS",
    "DISABLED",
];

async fn users_list(ops: &Ops, json: bool) -> Result<(), Failure> {
    let mut pages = UserPages::new(&ops.db, &ops.sessions);
    if json {
        let mut page = pages.next_page().await?;
        let mut array =
            JsonArray::start(io::BufWriter::new(io::stdout().lock()), "users").map_err(output)?;
        while let Some(users) = page {
            for user in &users {
                if let Err(e) = array.push(user) {
                    return finish(Err(e));
                }
            }
            page = pages.next_page().await?;
        }
        return finish(array.end());
    }
    let mut t = TextTable::new(&USER_HEADER);
    let mut count: u64 = 0;
    while let Some(page) = pages.next_page().await? {
        for user in &page {
            user_row(&mut t, user);
            count += 1;
        }
    }
    let mut out = io::stdout().lock();
    finish((|| {
        if count > 0 {
            writeln!(out, "{t}")?;
        }
        writeln!(out, "{}", plural(count, "user"))
    })())
}

async fn users_show(ops: &Ops, who: &str, json: bool) -> Result<(), Failure> {
    let user = admin::find_user(&ops.db, who).await?;
    let detail = admin::show_user(&ops.db, &ops.sessions, &user).await?;
    let mut out = io::stdout().lock();
    if json {
        #[derive(Serialize)]
        struct Shown<'a> {
            user: &'a admin::UserDetail,
        }
        return finish(
            serde_json::to_writer_pretty(&mut out, &Shown { user: &detail })
                .map_err(io::Error::from)
                .and_then(|()| writeln!(out)),
        );
    }
    let u = &detail.summary;
    let mut about = TextTable::plain();
    for (k, v) in [
        ("id", u.id.to_string()),
        ("email", u.email.clone().unwrap_or_default()),
        ("name", u.name.clone().unwrap_or_default()),
        ("plan", u.plan.clone()),
        ("plan until", when_opt(u.plan_until)),
        ("subscription end", when_opt(u.subscription_end)),
        (
            "assigned plan",
            match detail.assigned_plan_until {
                Some(until) => format!("{} until {}", detail.assigned_plan, when(until)),
                None => detail.assigned_plan.clone(),
            },
        ),
        ("live sessions", u.sessions.to_string()),
        ("disabled", when_opt(u.disabled_at)),
        ("created", when(u.created_at)),
    ] {
        about.row([k.to_owned(), v]);
    }
    let mut identities =
        TextTable::new(&["PROVIDER", "SUBJECT", "EMAIL", "VERIFIED", "LAST LOGIN"]);
    for i in &detail.identities {
        identities.row([
            i.provider.clone(),
            i.subject.clone(),
            i.email.clone().unwrap_or_default(),
            i.email_verified.to_string(),
            when(i.updated_at),
        ]);
    }
    let mut subscriptions = TextTable::new(&["SUBSCRIPTION", "CUSTOMER", "STATUS", "PERIOD END"]);
    for s in &detail.subscriptions {
        subscriptions.row([
            s.id.clone(),
            s.customer_id.clone(),
            s.status.clone(),
            when_opt(s.current_period_end),
        ]);
    }
    finish((|| {
        writeln!(out, "{about}")?;
        if detail.identities.is_empty() {
            writeln!(out, "no identities")?;
        } else {
            writeln!(out, "{identities}")?;
        }
        if detail.subscriptions.is_empty() {
            writeln!(out, "no subscriptions")
        } else {
            writeln!(out, "{subscriptions}")
        }
    })())
}

/// How a user is named in messages: their email and id, or the id alone. The email came
/// from a provider, so it is made [`printable`] as table cells are.
fn who(user: &entity::users::Model) -> String {
    match &user.email {
        Some(email) => format!("{} ({})", printable(email), user.id),
        None => user.id.to_string(),
    }
}

async fn users_disable(ops: &Ops, who_arg: &str) -> Result<(), Failure> {
    let user = admin::find_user(&ops.db, who_arg).await?;
    let name = who(&user);
    let done = admin::disable_user(&ops.db, &ops.sessions, user).await?;
    if done.already {
        println!(
            "{name} was already disabled since {}; revoked {}",
            when(done.since),
            plural(done.revoked, "session")
        );
    } else {
        println!(
            "disabled {name}: revoked {}; their logins are refused until `latchkey users enable`",
            plural(done.revoked, "session")
        );
    }
    Ok(())
}

async fn users_enable(ops: &Ops, who_arg: &str) -> Result<(), Failure> {
    let user = admin::find_user(&ops.db, who_arg).await?;
    let name = who(&user);
    if admin::enable_user(&ops.db, user).await? {
        println!("enabled {name}: they can log in again");
    } else {
        println!("{name} was not disabled; nothing changed");
    }
    Ok(())
}

/// Erases a user, or finishes the erasure of a user id whose rows are already gone (a run
/// that stopped half-way tells the operator to run it again with the id).
async fn users_delete(ops: &Ops, who_arg: &str, yes: bool) -> Result<(), Failure> {
    confirm(
        yes,
        "`users delete` erases a user for good",
        "nothing was erased",
        Consent::YesOnly(""),
    )?;
    let user = match admin::find_owner(&ops.db, who_arg).await? {
        admin::Owner::User(user) => user,
        admin::Owner::Gone(id) => {
            let revoked = admin::erase_leftovers(&ops.sessions, id).await?;
            println!(
                "no user {id} in the database; ended what was left in the session store: \
                 revoked {}, dropped the profile cache",
                plural(revoked, "session")
            );
            return Ok(());
        }
    };
    let name = who(&user);
    let done = admin::delete_user(&ops.db, &ops.sessions, user).await?;
    println!(
        "deleted {name}: revoked {}, erased {} and {}, kept {} detached",
        plural(done.revoked, "session"),
        plural(done.identities, "identity"),
        plural(done.usage_events, "usage record"),
        plural(done.detached_subscriptions, "subscription"),
    );
    Ok(())
}

async fn plan_set(
    ops: &Ops,
    who_arg: &str,
    plan: &str,
    until: Option<DateTime<Utc>>,
) -> Result<(), Failure> {
    let user = admin::find_user(&ops.db, who_arg).await?;
    let change = admin::set_plan(&ops.db, &ops.sessions, user, plan, until).await?;
    let name = who(&change.user);
    let until = until
        .map(|t| format!(" until {}", when(t)))
        .unwrap_or_default();
    println!("set the plan of {name} to {plan}{until}");
    let now = Utc::now().timestamp_millis();
    let effective = change.profile.effective_plan(now);
    if change.profile.has_subscription && effective != plan {
        println!(
            "note: an active subscription keeps them on {effective} until {}",
            when_opt(
                change
                    .profile
                    .plan_until_ms
                    .and_then(DateTime::from_timestamp_millis)
            )
        );
    }
    if change.cache_updated {
        println!("their live sessions see {effective} on their next request");
    } else {
        println!("they have no live session; their next login reads {effective}");
    }
    Ok(())
}

/// What `config check` found for one dependency.
enum Check {
    Answers,
    NotUsed(&'static str),
    Fails(String),
}

/// `config check`: by the time it runs the configuration has loaded and validated as for
/// `serve` (an invalid one never gets here: one line, exit 2). It prints the effective
/// settings with every secret redacted, then whether Redis and the database answer.
async fn config_check(settings: &Settings) -> Result<(), Failure> {
    let listing = settings
        .redacted_listing()
        .map_err(|e| Failure::Usage(e.into()))?;
    finish((|| {
        let mut out = io::stdout().lock();
        for (key, value) in &listing {
            writeln!(out, "{key} = {value}")?;
        }
        writeln!(out)?;
        out.flush()
    })())?;
    let (redis, database) = tokio::join!(check_redis(settings), check_database(settings));
    let redis_key = if settings.redis.is_cluster() {
        "redis.cluster_nodes"
    } else {
        "redis.url"
    };
    let mut failures = Vec::new();
    for (name, what, key, check) in [
        ("redis", "Redis", redis_key, redis),
        ("database", "the database", "database.url", database),
    ] {
        let line = match check {
            Check::Answers => format!("{name}: answers"),
            Check::NotUsed(why) => format!("{name}: not used ({why})"),
            Check::Fails(reason) => {
                // The database's own errors already start with the key.
                let reason = reason.strip_prefix(&format!("{key}: ")).unwrap_or(&reason);
                failures.push(format!("{key}: {what} does not answer ({reason})"));
                format!("{name}: does not answer ({reason})")
            }
        };
        finish(writeln!(io::stdout().lock(), "{line}"))?;
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Failure::Usage(anyhow::anyhow!(failures.join("; "))))
    }
}

/// Redis answers a PING (a cluster: `CLUSTER INFO` says it is ok), within `redis.timeout`,
/// as `/readyz` asks it.
async fn check_redis(settings: &Settings) -> Check {
    if settings.session.store == StoreKind::Memory {
        return Check::NotUsed("session.store is memory");
    }
    let result = match startup::build_sessions(settings) {
        Ok(sessions) => sessions.ping().await.map_err(anyhow::Error::new),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Check::Answers,
        Err(e) => Check::Fails(settings.redact_text(&one_line(&e))),
    }
}

/// The database accepts a connection and answers a ping, as `serve` would connect to it.
async fn check_database(settings: &Settings) -> Check {
    const BOUND: std::time::Duration = std::time::Duration::from_secs(15);
    let attempt = async {
        let conn = db::connect(&settings.database).await?;
        conn.ping().await?;
        anyhow::Ok(())
    };
    match tokio::time::timeout(BOUND, attempt).await {
        Ok(Ok(())) => Check::Answers,
        Ok(Err(e)) => Check::Fails(settings.redact_text(&one_line(&e))),
        Err(_) => Check::Fails(format!("no answer within {}s", BOUND.as_secs())),
    }
}
