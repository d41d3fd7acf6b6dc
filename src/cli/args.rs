//! The grammar of the `latchkey` command line: every subcommand, flag and `--help` text
//! (the `///` docs are the help), and how a usage error is reported. Parsing gives the command
//! bodies typed values, so none of them decides again what the grammar decided.

use std::path::PathBuf;

use chrono::{DateTime, FixedOffset, Utc};
use clap::error::ErrorKind;
use clap::{ArgMatches, Args, FromArgMatches, Parser, Subcommand};

use crate::admin::EventKind;
use crate::db::MigrateAction;

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

/// clap's message on one line, without the usage block, keeping its tips ("a similar
/// subcommand exists: 'sessions'", the "did you mean" of a misspelt command or flag).
fn usage_error_line(rendered: &str) -> String {
    let mut message = Vec::new();
    let mut tips = Vec::new();
    for line in rendered
        .lines()
        .take_while(|line| !line.starts_with("Usage:"))
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("For more"))
    {
        if line.starts_with("tip:") {
            tips.push(line);
        } else {
            message.push(line);
        }
    }
    let mut text = message.join(" ");
    for tip in tips {
        text.push_str("; ");
        text.push_str(tip);
    }
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
        #[command(flatten)]
        output: JsonFlag,
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
    /// Read the security events, newest first: sign-ins and refused sign-ins, sign-outs,
    /// revocations, plan changes, operators' actions.
    ///
    /// Examples:
    ///   latchkey audit --user ada@example.com --since 24h
    ///   latchkey audit --kind login_failed --since 2026-12-01T00:00:00Z --json
    #[command(verbatim_doc_comment)]
    Audit {
        /// Only this user's events (an email, or a user id; an erased user's id still names
        /// their `account_deleted` event).
        #[arg(long, value_name = "EMAIL_OR_ID")]
        user: Option<String>,
        /// Only events since this time: RFC 3339, or a duration back from now (24h, 7d).
        #[arg(long, value_name = "TIME_OR_DURATION", value_parser = parse_since)]
        since: Option<DateTime<Utc>>,
        /// Only events of this kind: login, login_failed, logout, session_revoked,
        /// sessions_revoked, plan_changed, account_disabled, account_enabled, account_deleted.
        #[arg(long, value_name = "KIND", value_parser = parse_kind)]
        kind: Option<EventKind>,
        /// At most this many events (1 to 100000).
        #[arg(long, value_name = "N", default_value_t = 100,
            value_parser = clap::value_parser!(u64).range(1..=100_000))]
        limit: u64,
        #[command(flatten)]
        output: JsonFlag,
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
    Check {
        #[command(flatten)]
        output: JsonFlag,
    },
}

#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// List live sessions: public id, user, created, last seen, expires, user agent, IP.
    ///
    /// Without --user, every session of the deployment, read from Redis in pages with SCAN
    /// (never KEYS), so listing a large deployment does not hold Redis up.
    ///
    /// Examples:
    ///   latchkey sessions list --user ada@example.com --json
    ///   latchkey sessions list --since 1h --limit 20
    #[command(verbatim_doc_comment)]
    List {
        /// Only this user's sessions (an email, or a user id).
        #[arg(long, value_name = "EMAIL_OR_ID")]
        user: Option<String>,
        /// Only sessions started at or after this time: a duration ago (`1h`, `7d`) or an
        /// RFC 3339 time.
        #[arg(long, value_name = "DURATION_OR_TIME", value_parser = parse_since)]
        since: Option<DateTime<Utc>>,
        #[command(flatten)]
        limit: Limit,
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
    #[command(verbatim_doc_comment)]
    Revoke {
        #[command(flatten)]
        which: Revocation,
        /// Do not ask for confirmation of --all on a terminal (off a terminal it is not asked).
        #[arg(long, short = 'y')]
        yes: bool,
        #[command(flatten)]
        output: JsonFlag,
    },
    /// Put every user back in the indexed layout, for a release that reads only that one.
    ///
    /// With redis.layout = "compact", a user with one session keeps its index entry in the
    /// profile; 0.1.0 reads only the index. Run this after every replica was rolled to
    /// redis.layout = "indexed" and before any 0.1.0 replica starts: it walks every profile
    /// (SCAN, in pages) and moves each entry it holds into the user's index, then prints how
    /// many moved. Running it again moves nothing. Refused where redis.layout is "compact".
    ///
    /// Example:
    ///   LATCHKEY__REDIS__LAYOUT=indexed latchkey sessions reindex
    #[command(verbatim_doc_comment)]
    Reindex {
        #[command(flatten)]
        output: JsonFlag,
    },
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// List users with their plan, subscription end and live session count.
    ///
    /// Examples:
    ///   latchkey users list --json
    ///   latchkey users list --plan pro --limit 50
    #[command(verbatim_doc_comment)]
    List {
        /// Only users on this plan now (free, pro).
        #[arg(long)]
        plan: Option<String>,
        /// Only disabled users.
        #[arg(long)]
        disabled: bool,
        #[command(flatten)]
        limit: Limit,
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
        #[command(flatten)]
        output: JsonFlag,
    },
    /// Let a disabled user log in again.
    ///
    /// Example: latchkey users enable ada@example.com
    Enable {
        /// An email, or a user id.
        #[arg(value_name = "EMAIL_OR_ID")]
        user: String,
        #[command(flatten)]
        output: JsonFlag,
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
        #[command(flatten)]
        output: JsonFlag,
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
        #[command(flatten)]
        output: JsonFlag,
    },
}

#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct Limit {
    /// Print at most N: the N oldest, oldest first.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,
}

fn parse_kind(raw: &str) -> Result<EventKind, String> {
    EventKind::parse(raw).ok_or_else(|| {
        let kinds: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
        format!("not an event kind ({})", kinds.join(", "))
    })
}

fn parse_rfc3339(raw: &str) -> Result<DateTime<FixedOffset>, String> {
    DateTime::parse_from_rfc3339(raw)
        .map_err(|e| format!("not an RFC 3339 time such as 2027-01-01T00:00:00Z ({e})"))
}

/// `1h`, `30m`, `7d` ago, or an RFC 3339 time.
fn parse_since(raw: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(time) = DateTime::parse_from_rfc3339(raw) {
        return Ok(time.with_timezone(&Utc));
    }
    let ago = humantime_serde::re::humantime::parse_duration(raw).map_err(|_| {
        "not a duration such as 1h or 7d, nor an RFC 3339 time such as 2027-01-01T00:00:00Z"
            .to_owned()
    })?;
    chrono::Duration::from_std(ago)
        .ok()
        .and_then(|ago| Utc::now().checked_sub_signed(ago))
        .ok_or_else(|| "too long ago".to_owned())
}

/// Which sessions `sessions revoke` ends, as the grammar decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// The session with this public id; looked for among this user's sessions only when a
    /// user is named.
    One { id: String, user: Option<String> },
    /// Every session of this user.
    User(String),
    /// Every session of the deployment.
    All,
}

/// The arguments of `sessions revoke` that say which sessions, as clap reads them: the group
/// requires at least one, and `--all` stands alone. [`Revocation`] is what they mean.
#[derive(Debug, Args)]
#[group(id = "which", required = true, multiple = true)]
struct RevokeArgs {
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
}

impl FromArgMatches for Revocation {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        match RevokeArgs::from_arg_matches(matches)? {
            RevokeArgs { all: true, .. } => Ok(Self::All),
            RevokeArgs {
                id: Some(id), user, ..
            } => Ok(Self::One { id, user }),
            RevokeArgs {
                user: Some(user), ..
            } => Ok(Self::User(user)),
            // The group requires one of the three, so clap refused this before; should it
            // ever let it through, it is still a usage error.
            RevokeArgs { .. } => Err(clap::Error::raw(
                ErrorKind::MissingRequiredArgument,
                "name a session id, --user or --all",
            )),
        }
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl Args for Revocation {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        RevokeArgs::augment_args(cmd)
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        RevokeArgs::augment_args_for_update(cmd)
    }
}
