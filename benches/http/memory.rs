//! Redis memory per session: sessions started through the session store, `INFO memory`
//! before and after, and where the bytes of one user go.

use std::time::{Duration, Instant};

use anyhow::Context;
use latchkey::session::{ClientInfo, Profile, RedisLayout, SessionToken, Sessions, Transport};
use redis::aio::MultiplexedConnection;
use testkit::redis::stats;
use uuid::Uuid;

pub(crate) const SESSIONS: usize = 50_000;
pub(crate) const SESSIONS_PER_USER: usize = 5;
/// Sessions are started by this many tasks at once (each user's sessions one after another).
pub(crate) const CREATE_CONCURRENCY: usize = 64;

/// A current desktop Chrome's user agent (111 characters), as the store records it.
const USER_AGENT: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
                          (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
const CLIENT_IP: &str = "203.0.113.7";

pub(crate) struct Memory {
    /// What the store wrote (`redis.layout`).
    pub(crate) layout: RedisLayout,
    pub(crate) users: usize,
    pub(crate) per_user: usize,
    pub(crate) before: u64,
    pub(crate) after: u64,
    pub(crate) keys: u64,
    pub(crate) elapsed: Duration,
}

impl Memory {
    pub(crate) fn sessions(&self) -> usize {
        self.users * self.per_user
    }

    pub(crate) fn per_session(&self) -> f64 {
        self.after.saturating_sub(self.before) as f64 / self.sessions() as f64
    }
}

/// Redis memory taken by `users` x `per_user` sessions, from an empty database.
pub(crate) async fn measure_memory(
    sessions: &Sessions,
    layout: RedisLayout,
    conn: &mut MultiplexedConnection,
    users: usize,
    per_user: usize,
) -> anyhow::Result<(Memory, String)> {
    redis::cmd("FLUSHALL")
        .arg("SYNC")
        .query_async::<()>(&mut *conn)
        .await?;
    let before = used_memory(conn).await?;
    let started = Instant::now();
    let token = create_sessions(sessions, users, per_user).await?;
    let elapsed = started.elapsed();
    let after = used_memory(conn).await?;
    let keys: u64 = redis::cmd("DBSIZE").query_async(&mut *conn).await?;
    let memory = Memory {
        layout,
        users,
        per_user,
        before,
        after,
        keys,
        elapsed,
    };
    Ok((memory, token))
}

/// Starts `per_user` sessions for each of `users` new users, `CREATE_CONCURRENCY` at a time.
/// Returns the cookie value of one of them.
pub(crate) async fn create_sessions(
    sessions: &Sessions,
    users: usize,
    per_user: usize,
) -> anyhow::Result<String> {
    let client = ClientInfo {
        user_agent: USER_AGENT.to_owned(),
        ip: CLIENT_IP.to_owned(),
    };
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..CREATE_CONCURRENCY.min(users) {
        let sessions = sessions.clone();
        let client = client.clone();
        tasks.spawn(async move {
            let mut token = None;
            for n in (worker..users).step_by(CREATE_CONCURRENCY) {
                let user = Uuid::new_v4();
                for _ in 0..per_user {
                    let started = sessions
                        .start(user, profile(user, n), &client, Transport::Cookie)
                        .await?;
                    token.get_or_insert_with(|| started.token.expose().to_owned());
                }
            }
            anyhow::Ok(token)
        });
    }
    let mut token = None;
    while let Some(done) = tasks.join_next().await {
        if let Some(t) = done.context("a session task panicked")?? {
            token = Some(t);
        }
    }
    token.context("no session was started")
}

/// A profile of realistic size: a Google account's name, address and picture URL (99
/// characters), on the free plan.
fn profile(user: Uuid, n: usize) -> Profile {
    Profile {
        name: format!("Bench User {n:05}"),
        email: format!("bench.user.{n:05}@example.com"),
        image: format!(
            "https://lh3.googleusercontent.com/a/ACg8oc{}{n:019}=s96-c",
            user.simple()
        ),
        plan: Profile::FREE.to_owned(),
        plan_until_ms: None,
        has_subscription: false,
    }
}

async fn used_memory(conn: &mut MultiplexedConnection) -> anyhow::Result<u64> {
    let raw = stats::info_field(conn, "memory", "used_memory")
        .await?
        .context("INFO memory has no used_memory")?;
    raw.parse()
        .with_context(|| format!("used_memory is {raw:?}"))
}

/// One Redis key of the sampled user, as Redis stores it.
pub(crate) struct KeySample {
    pub(crate) name: String,
    pub(crate) kind: String,
    pub(crate) encoding: String,
    pub(crate) bytes: u64,
}

/// Every key of the user whose session the load uses (its sessions, index and profile), with
/// its type, encoding and `MEMORY USAGE`: where the bytes per session go.
pub(crate) async fn sample_keys(
    conn: &mut MultiplexedConnection,
    prefix: &str,
    token: &str,
) -> anyhow::Result<Vec<KeySample>> {
    let user = SessionToken::parse(token)
        .context("the bench's token does not parse")?
        .user_id();
    let pattern = format!("{prefix}*{}*", user.simple());
    let mut names = stats::keys_matching(&mut *conn, &pattern).await?;
    names.sort();
    let mut keys = Vec::with_capacity(names.len());
    for name in names {
        let kind: String = redis::cmd("TYPE")
            .arg(&name)
            .query_async(&mut *conn)
            .await?;
        let encoding: String = redis::cmd("OBJECT")
            .arg("ENCODING")
            .arg(&name)
            .query_async(&mut *conn)
            .await?;
        let bytes: u64 = redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(&name)
            .arg("SAMPLES")
            .arg(0)
            .query_async(&mut *conn)
            .await?;
        keys.push(KeySample {
            name: name.replace(&user.simple().to_string(), "<user>"),
            kind,
            encoding,
            bytes,
        });
    }
    Ok(keys)
}
