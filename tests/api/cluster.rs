//! Redis Cluster (docs/sessions.md): a real three-master cluster of `redis-server` processes on
//! loopback. The store suite runs on it (`store::cluster_backend`), and so do the revoke-all
//! race, a sign-in over HTTP and a walk over many users' keys that watches every command the
//! masters run (`MONITOR`) and checks that none touches more than one hash slot.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use latchkey::session::{
    Hold, NewSession, Profile, RedisLayout, RedisStore, Reserved, Revoke, ScratchStore,
    SessionStore, SessionToken, Sessions, TouchParams, Trace,
};
use redis::cluster_routing::Slot;
use uuid::Uuid;

use crate::support::browser::Browser;
use crate::support::redis::{
    command_calls, fresh_prefix, redis_store_on, sent_by_clients, shared_cluster, start_cluster,
};
use crate::support::response::{assert_error, json};
use crate::support::stores;
use crate::support::users::profile;
use crate::support::world::World;
use testkit::redis::RedisCluster;

/// `redis-cli -p <port> <args>`'s output.
fn cli(port: u16, args: &[&str]) -> String {
    testkit::redis::cli(port, args).expect("redis-cli runs")
}

/// `MONITOR` on every master, each into a file: every command the node runs, including the
/// ones a script runs (`[0 lua]`), with its arguments.
struct Monitor {
    watchers: Vec<(Child, PathBuf)>,
}

impl Monitor {
    fn start(cluster: &RedisCluster, dir: &Path) -> Self {
        let watchers = cluster
            .ports
            .iter()
            .map(|port| {
                let path = dir.join(format!("monitor-{port}.log"));
                let child = Command::new("redis-cli")
                    .args(["-p", &port.to_string(), "MONITOR"])
                    .stdin(Stdio::null())
                    .stdout(std::fs::File::create(&path).expect("monitor log"))
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("redis-cli MONITOR");
                // MONITOR answers OK once it watches.
                testkit::wait_until("MONITOR to start", || {
                    std::fs::read_to_string(&path).is_ok_and(|s| s.starts_with("OK"))
                })
                .expect("MONITOR starts");
                (child, path)
            })
            .collect();
        Self { watchers }
    }

    /// Stops watching; every node's commands, in the order it ran them.
    fn stop(mut self) -> Vec<Vec<Logged>> {
        // Let the last replies reach the watchers before they stop.
        std::thread::sleep(Duration::from_millis(300));
        self.watchers
            .drain(..)
            .map(|(mut child, path)| {
                let _ = child.kill();
                let _ = child.wait();
                let file = std::fs::File::open(&path).expect("monitor log");
                BufReader::new(file)
                    .lines()
                    .map_while(Result::ok)
                    .filter_map(|line| parse_monitor_line(&line))
                    .collect()
            })
            .collect()
    }
}

/// One command as `MONITOR` shows it.
#[derive(Debug, Clone)]
struct Logged {
    /// Run by a script (`[0 lua]`) rather than sent by a client.
    by_script: bool,
    name: String,
    args: Vec<Vec<u8>>,
}

/// Parses `1795541482.121658 [0 127.0.0.1:39050] "get" "key"` (quoted as redis-cli quotes:
/// `\"`, `\\`, `\n`, `\r`, `\t`, `\a`, `\b`, `\xHH`).
fn parse_monitor_line(line: &str) -> Option<Logged> {
    let open = line.find('[')?;
    let close = open + line[open..].find(']')?;
    let source = &line[open + 1..close];
    let mut words = Vec::new();
    let bytes = &line.as_bytes()[close + 1..];
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'"' {
            i += 1;
            continue;
        }
        i += 1;
        let mut word = Vec::new();
        while i < bytes.len() && bytes[i] != b'"' {
            if bytes[i] == b'\\' && i + 1 < bytes.len() {
                i += 1;
                match bytes[i] {
                    b'n' => word.push(b'\n'),
                    b'r' => word.push(b'\r'),
                    b't' => word.push(b'\t'),
                    b'a' => word.push(7),
                    b'b' => word.push(8),
                    b'x' if i + 2 < bytes.len() => {
                        let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
                        word.push(u8::from_str_radix(hex, 16).ok()?);
                        i += 2;
                    }
                    other => word.push(other),
                }
            } else {
                word.push(bytes[i]);
            }
            i += 1;
        }
        i += 1;
        words.push(word);
    }
    let mut words = words.into_iter();
    let name = String::from_utf8(words.next()?).ok()?.to_ascii_uppercase();
    Some(Logged {
        by_script: source.ends_with(" lua"),
        name,
        args: words.collect(),
    })
}

/// The keys a command names. Unknown commands fail the check, so that a command nobody
/// thought about cannot pass as keyless.
fn keys_of(cmd: &Logged) -> Result<Vec<&[u8]>, String> {
    let args = &cmd.args;
    let keys = match cmd.name.as_str() {
        "EVAL" | "EVALSHA" | "EVAL_RO" | "EVALSHA_RO" => {
            let n: usize = args
                .get(1)
                .and_then(|n| std::str::from_utf8(n).ok()?.parse().ok())
                .ok_or("a script call without a key count")?;
            args.iter().skip(2).take(n).map(Vec::as_slice).collect()
        }
        "DEL" | "EXISTS" | "UNLINK" | "TOUCH" | "MGET" | "WATCH" => {
            args.iter().map(Vec::as_slice).collect()
        }
        "GET" | "SET" | "GETDEL" | "INCR" | "DECR" | "HSET" | "HGET" | "HMGET" | "HGETALL"
        | "PEXPIRE" | "PEXPIREAT" | "PTTL" | "TTL" | "ZADD" | "ZRANGE" | "ZREM"
        | "ZREMRANGEBYSCORE" | "ZCARD" | "ZCOUNT" | "ZSCORE" | "TYPE" => {
            args.iter().take(1).map(Vec::as_slice).collect()
        }
        "PING" | "SCAN" | "CLUSTER" | "SCRIPT" | "INFO" | "CLIENT" | "HELLO" | "READONLY"
        | "READWRITE" | "COMMAND" | "CONFIG" | "SELECT" | "AUTH" | "ECHO" | "TIME" => Vec::new(),
        other => return Err(format!("unknown command {other}: teach keys_of its keys")),
    };
    Ok(keys)
}

/// What [`check_one_slot_each`] looked at.
#[derive(Debug, Default)]
struct SlotReport {
    client_commands: usize,
    script_calls: usize,
    script_commands: usize,
    keyed_commands: usize,
}

/// Checks one node's log: every client command names keys of one slot at most, and all the
/// commands one script runs (a run of `lua` lines: a script is atomic, so nothing
/// interleaves with it) touch one slot at most, declared keys or not.
fn check_one_slot_each(log: &[Logged], report: &mut SlotReport) -> Result<(), String> {
    let mut block: Vec<&Logged> = Vec::new();
    let check = |cmds: &[&Logged], what: &str| -> Result<(), String> {
        let mut slots = HashSet::new();
        for cmd in cmds {
            for key in keys_of(cmd)? {
                slots.insert(Slot::for_key(key));
            }
        }
        if slots.len() > 1 {
            let shown: Vec<String> = cmds
                .iter()
                .map(|c| {
                    let args: Vec<_> = c.args.iter().map(|a| String::from_utf8_lossy(a)).collect();
                    format!("{} {}", c.name, args.join(" "))
                })
                .collect();
            return Err(format!("{what} crosses slots: {shown:?}"));
        }
        Ok(())
    };
    for cmd in log {
        if cmd.by_script {
            block.push(cmd);
            report.script_commands += 1;
            continue;
        }
        if !block.is_empty() {
            check(&block, "a script")?;
            block.clear();
        }
        check(&[cmd], "a command")?;
        report.client_commands += 1;
        report.script_calls += usize::from(cmd.name.starts_with("EVAL"));
        report.keyed_commands += usize::from(!keys_of(cmd)?.is_empty());
    }
    if !block.is_empty() {
        check(&block, "a script")?;
    }
    Ok(())
}

/// The node's own word: no CROSSSLOT error, and no command that failed or was refused
/// except `EVALSHA`s answered NOSCRIPT (a script's first call on a node, which the client
/// follows with SCRIPT LOAD). A script that touched a key of another node would count as a
/// failed EVALSHA here. (`errorstat_ERR` is not asked: Redis 7.0 answers the client's
/// `CLIENT SETINFO`, a 7.2 command, with ERR before it counts as any command.)
fn refused_by_node(port: u16) -> Result<(), String> {
    let errors = cli(port, &["INFO", "errorstats"]);
    if errors.contains("errorstat_CROSSSLOT") {
        return Err(format!("CROSSSLOT refusals: {errors}"));
    }
    let noscript: u64 = stat(&errors, "errorstat_NOSCRIPT:", "count").unwrap_or(0);
    let commands = cli(port, &["INFO", "commandstats"]);
    for line in commands.lines().filter(|l| l.starts_with("cmdstat_")) {
        let failed = stat(line, "", "failed_calls").unwrap_or(0);
        let rejected = stat(line, "", "rejected_calls").unwrap_or(0);
        let allowed = if line.starts_with("cmdstat_evalsha:") {
            noscript
        } else {
            0
        };
        if rejected > 0 || failed > allowed {
            return Err(format!("{line} (NOSCRIPT answers: {noscript})"));
        }
    }
    Ok(())
}

/// `field=<n>` in the line of `text` that starts with `line`.
fn stat(text: &str, line: &str, field: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(line))?;
    line.split([':', ',']).find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == field).then(|| v.trim().parse().ok())?
    })
}

const IDLE: i64 = 600_000;
const ABSOLUTE: i64 = 3_600_000;

/// A session whose user agent and profile name say `name`, so a read can be matched to its
/// user.
fn new_session(user_id: Uuid, now: i64, name: &str) -> (SessionToken, NewSession) {
    let (token, mut new) = stores::new_session(user_id, now, IDLE, ABSOLUTE);
    new.record.user_agent = format!("cluster \"{name}\"");
    new.profile = profile(name, "free");
    (token, new)
}

/// The user id in a key of ours: `<prefix>{u:<id>}:…`.
fn user_of(key: &str) -> Option<&str> {
    let start = key.find("{u:")? + 3;
    let end = start + key[start..].find('}')?;
    Some(&key[start..end])
}

/// Many users, so that their keys land on all three masters; every store operation for each
/// of them, and a walk over all sessions. Every command the masters run is watched, and none
/// touches two slots; the cluster's own error and command counters agree. Then a script that does cross
/// slots on one node, which Redis 7.0 runs without complaint, is caught by the same check.
/// Last, with a master gone for good, the health check fails.
#[tokio::test]
async fn every_operation_on_many_users_stays_in_one_slot() {
    const USERS: usize = 48;
    let mut cluster = start_cluster(Duration::from_millis(1_000));
    let logs = tempfile::tempdir().expect("tempdir");
    let prefix = fresh_prefix();
    // The compact layout: a user's first session keeps its entry in the profile, the second
    // moves it to the index (lua/index.lua); from two entries on, both layouts run the same.
    let store = RedisStore::cluster(&cluster.nodes(), &prefix, Duration::from_secs(5))
        .expect("cluster store")
        .with_layout(RedisLayout::Compact);
    assert!(store.is_cluster());
    store.ping().await.expect("the cluster answers");

    let monitor = Monitor::start(&cluster, logs.path());
    let now = latchkey::session::now_ms();
    let users: Vec<Uuid> = (0..USERS).map(|_| Uuid::new_v4()).collect();
    let mut tokens: BTreeMap<Uuid, Vec<SessionToken>> = BTreeMap::new();
    let hold = Hold {
        name: "ocr:20270115",
        id: "h1",
    };
    for (i, user) in users.iter().enumerate() {
        let name = format!("user{i}");
        for n in 0..3 {
            let (token, new) = new_session(*user, now, &name);
            assert!(store.create(&new).await.expect("create").stored());
            if n == 0 {
                // A session held in the profile: why it ended is read from there.
                let trace = store.trace(*user, &token.hash(), now).await.expect("trace");
                assert!(matches!(trace, Some(Trace::Started { .. })), "{trace:?}");
            }
            tokens.entry(*user).or_default().push(token);
        }
        let first = &tokens[user][0];
        let params = TouchParams {
            now_ms: now + 1,
            idle_ms: IDLE,
            refresh_after_ms: 0,
            counter: "ocr:20270115",
        };
        let touched = store
            .touch(*user, &first.hash(), params)
            .await
            .expect("touch");
        assert_eq!(touched.expect("live").profile.name, name);
        assert_eq!(store.list(*user, now, IDLE).await.expect("list").len(), 3);
        assert_eq!(
            store
                .reserve(*user, &hold, Some(5), now, 60_000)
                .await
                .expect("reserve"),
            Reserved::Held
        );
        store.release(*user, &hold).await.expect("release");
        let pro = Profile {
            plan: "pro".into(),
            ..profile(&name, "pro")
        };
        assert!(store
            .update_profile(*user, &pro)
            .await
            .expect("update profile"));
        assert_eq!(
            store
                .hit(&format!("rl:{user}"), now, 60_000)
                .await
                .expect("hit"),
            1
        );
        store
            .stash(&format!("flow:{user}"), "state", now, 60_000)
            .await
            .expect("stash");
        assert_eq!(
            store
                .take(&format!("flow:{user}"), now)
                .await
                .expect("take")
                .as_deref(),
            Some("state")
        );
    }

    // The users' keys are on all three masters, and each user's keys in one slot of one.
    let by_node = cluster
        .keys_by_node(&format!("{prefix}*"))
        .expect("redis-cli --scan");
    let mut user_slots: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut user_nodes: BTreeMap<String, BTreeSet<u16>> = BTreeMap::new();
    for (port, keys) in &by_node {
        let users_here: BTreeSet<_> = keys.iter().filter_map(|k| user_of(k)).collect();
        assert!(
            !users_here.is_empty(),
            "master {port} holds no user's keys: {USERS} users did not spread"
        );
        for key in keys {
            let Some(user) = user_of(key) else { continue };
            user_slots
                .entry(user.to_owned())
                .or_default()
                .insert(format!("{:?}", Slot::for_key(key)));
            user_nodes.entry(user.to_owned()).or_default().insert(*port);
        }
    }
    assert_eq!(user_slots.len(), USERS);
    for (user, slots) in &user_slots {
        assert_eq!(slots.len(), 1, "user {user}'s keys are in slots {slots:?}");
        assert_eq!(user_nodes[user].len(), 1);
    }

    // The walk over every session visits every master, a few keys per page.
    let mut seen = BTreeSet::new();
    let mut cursor = 0;
    let mut pages = 0;
    loop {
        let page = store.scan(cursor, 10, now, IDLE).await.expect("scan");
        for (user, hash, record) in page.sessions {
            assert!(record.user_agent.starts_with("cluster"));
            seen.insert((user, hash.encode()));
        }
        pages += 1;
        cursor = page.cursor;
        if cursor == 0 {
            break;
        }
    }
    let expected: BTreeSet<_> = tokens
        .iter()
        .flat_map(|(u, ts)| ts.iter().map(move |t| (*u, t.hash().encode())))
        .collect();
    assert_eq!(seen, expected, "the walk finds every session once or more");
    assert!(pages >= 3, "one page per master at least ({pages})");

    // Users with one session each hold it in their profile; the walk that puts every user
    // back in the indexed layout (`sessions reindex`) visits every master and moves each.
    let singles: Vec<Uuid> = (0..12).map(|_| Uuid::new_v4()).collect();
    for user in &singles {
        let (_, new) = new_session(*user, now, "single");
        assert!(store.create(&new).await.expect("create").stored());
    }
    let (mut moved, mut cursor) = (0, 0);
    loop {
        let page = store.reindex(cursor, 10).await.expect("reindex");
        moved += page.moved;
        cursor = page.cursor;
        if cursor == 0 {
            break;
        }
    }
    assert_eq!(moved, 12);
    for user in &singles {
        assert_eq!(store.list(*user, now, IDLE).await.expect("list").len(), 1);
        assert_eq!(
            store.revoke(*user, &Revoke::All).await.expect("revoke all"),
            1
        );
    }

    // Revocation in all its forms, then the profile goes.
    for user in &users {
        let ts = &tokens[user];
        let by_id = Revoke::ByPublicId(ts[1].hash().public_id());
        assert_eq!(store.revoke(*user, &by_id).await.expect("revoke by id"), 1);
        assert_eq!(
            store
                .revoke(*user, &Revoke::AllExcept(ts[0].hash()))
                .await
                .expect("revoke others"),
            1
        );
        assert_eq!(
            store.revoke(*user, &Revoke::All).await.expect("revoke all"),
            1
        );
        store.delete_profile(*user).await.expect("delete profile");
    }
    let page = store.scan(0, 10_000, now, IDLE).await.expect("scan");
    assert!(page.sessions.is_empty());

    let logs_by_node = monitor.stop();
    let mut report = SlotReport::default();
    for log in &logs_by_node {
        check_one_slot_each(log, &mut report).unwrap_or_else(|e| panic!("{e}"));
    }
    // Every operation above was a script or a single-key command the masters really ran:
    // 3 creates, touch, list, reserve, release, update, 3 revokes (+1 list for the public
    // id) per user.
    assert!(
        report.script_calls >= USERS * 12,
        "scripts seen by MONITOR: {report:?}"
    );
    assert!(report.script_commands > report.script_calls, "{report:?}");
    eprintln!("cluster slot check: {USERS} users, {report:?}");
    for port in &cluster.ports {
        refused_by_node(*port).unwrap_or_else(|e| panic!("master {port}: {e}"));
    }

    // The check has teeth: two users whose slots are on one master, and a script that reads
    // both. Redis 7.0 runs it (undeclared keys of another slot on the same node pass), and
    // the check above refuses it.
    let (port, keys) = by_node
        .iter()
        .find(|(_, keys)| {
            let slots: HashSet<_> = keys.iter().map(Slot::for_key).collect();
            slots.len() > 1
        })
        .expect("a master with two users' slots");
    let a = keys[0].clone();
    let b = keys
        .iter()
        .find(|k| Slot::for_key(k) != Slot::for_key(&a))
        .expect("another slot")
        .clone();
    let monitor = Monitor::start(&cluster, logs.path());
    let ran = cli(
        *port,
        &[
            "EVAL",
            "redis.call('EXISTS', KEYS[1]); return redis.call('EXISTS', ARGV[1])",
            "1",
            &a,
            &b,
        ],
    );
    assert!(
        !ran.contains("ERR"),
        "Redis ran the cross-slot script: {ran}"
    );
    let logs_by_node = monitor.stop();
    let caught = logs_by_node
        .iter()
        .map(|log| check_one_slot_each(log, &mut SlotReport::default()))
        .find_map(Result::err)
        .expect("the cross-slot script is caught");
    assert!(caught.contains("a script crosses slots"), "{caught}");
    // And a script that declares keys of two slots is refused by Redis, which the node's
    // counters then show.
    let refused = cli(*port, &["EVAL", "return 1", "2", &a, &b]);
    assert!(refused.contains("CROSSSLOT"), "{refused}");
    assert!(refused_by_node(*port).is_err());

    // Health asks the cluster's own state: once its nodes agree a master is gone (no replica
    // here to take over), it fails, although the other masters still answer.
    cluster.stop_node(2);
    let mut failed = false;
    for _ in 0..150 {
        if store.ping().await.is_err() {
            failed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(failed, "ping fails with a master down");
}

/// The revoke-all race of `race.rs`, through [`Sessions`] on the shared cluster.
#[tokio::test]
async fn revoke_all_racing_50_logins_on_a_cluster() {
    let cluster = shared_cluster();
    let store: Arc<dyn SessionStore> = Arc::new(redis_store_on(cluster));
    let sessions = Sessions::new(
        Arc::clone(&store),
        latchkey::session::Policy {
            idle: Duration::from_secs(600),
            absolute: Duration::from_secs(3600),
            max_per_user: 50,
        },
    );
    let user = Uuid::new_v4();
    crate::race::race_revoke_all_against_50_logins(&sessions, user).await;
    // No session key is left on any master.
    let tag = format!("*{{u:{}}}:s:*", user.simple());
    let left: usize = cluster
        .keys_by_node(&tag)
        .expect("redis-cli --scan")
        .values()
        .map(Vec::len)
        .sum();
    assert_eq!(left, 0);
}

/// The whole app on the shared cluster: a Google sign-in (stash, take and the rate limiter's
/// counters too), `/api/user/info`, the session list, revocation, logout and `/readyz`.
#[tokio::test]
async fn the_app_signs_in_and_revokes_on_a_cluster() {
    let nodes = shared_cluster().nodes_env();
    let world = World::start_with(|c| c.set("LATCHKEY__REDIS__CLUSTER_NODES", &nodes)).await;
    let app = &world.app;
    assert_eq!(app.get(&mut Browser::new(), "/readyz").await.status(), 200);

    let mut laptop = Browser::extension();
    assert_eq!(world.sign_in_with_google(&mut laptop).await.status(), 200);
    let res = app.user_info(&mut laptop).await;
    assert_eq!(res.status(), 200);
    let user_id = json(res).await["user"]["user_id"]
        .as_str()
        .expect("user_id")
        .to_owned();
    let mut phone = Browser::extension();
    assert_eq!(world.sign_in_with_google(&mut phone).await.status(), 200);
    assert_eq!(world.user_id(&mut phone).await, user_id);

    let body = json(app.list_sessions(&mut laptop).await).await;
    let sessions = body["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 2);
    let phone_id = sessions
        .iter()
        .find(|s| s["current"] == false)
        .and_then(|s| s["id"].as_str())
        .expect("the other session")
        .to_owned();
    assert_eq!(
        app.revoke_session(&mut laptop, &phone_id).await.status(),
        200
    );
    assert_error(app.user_info(&mut phone).await, 401, "unauthenticated").await;

    let mut tablet = Browser::extension();
    assert_eq!(world.sign_in_with_google(&mut tablet).await.status(), 200);
    assert_eq!(app.revoke_other_sessions(&mut laptop).await.status(), 200);
    assert_error(app.user_info(&mut tablet).await, 401, "unauthenticated").await;
    assert_eq!(app.user_info(&mut laptop).await.status(), 200);

    assert_eq!(app.logout(&mut laptop).await.status(), 200);
    assert_error(app.user_info(&mut laptop).await, 401, "unauthenticated").await;
    assert_eq!(app.get(&mut Browser::new(), "/readyz").await.status(), 200);
}

/// On a cluster too, an authenticated request is one `MGET` on one master and nothing
/// else: the shared cluster connection sends no per-request check (a pool's recycle `PING`).
/// On a cluster of its own, so that no other test's commands are counted.
#[tokio::test]
async fn an_authenticated_request_costs_one_round_trip_on_a_cluster() {
    let cluster = start_cluster(Duration::from_secs(15));
    let nodes = cluster.nodes_env();
    let app =
        crate::support::app::spawn_app_with(|c| c.set("LATCHKEY__REDIS__CLUSTER_NODES", &nodes))
            .await;
    let (mut browser, _) = app.signed_in_browser("Ada").await;
    // Warm up: the first call also opens the connections to the masters.
    assert_eq!(app.user_info(&mut browser).await.status(), 200);

    let urls = cluster.nodes();
    let mut before = Vec::new();
    for url in &urls {
        before.push(command_calls(url).await);
    }
    for _ in 0..20 {
        assert_eq!(app.user_info(&mut browser).await.status(), 200);
    }
    let mut sent = BTreeMap::new();
    for (url, before) in urls.iter().zip(&before) {
        let after = command_calls(url).await;
        for (name, n) in sent_by_clients(before, &after) {
            *sent.entry(name).or_insert(0) += n;
        }
    }
    assert_eq!(
        sent,
        BTreeMap::from([("mget".to_owned(), 20)]),
        "one MGET per authenticated request on the cluster, nothing else"
    );
}

#[test]
fn cluster_nodes_are_configured_and_validated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let load = |vars: &[(&str, &str)]| {
        latchkey::config::Settings::load(&latchkey::config::Sources {
            environment: None,
            config_dir: dir.path().to_owned(),
            config_file: None,
            env_vars: vars
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        })
        .map_err(|e| e.to_string())
    };
    let key = "LATCHKEY__REDIS__CLUSTER_NODES";
    let s = load(&[]).expect("defaults");
    assert!(!s.redis.is_cluster());
    let s = load(&[(key, "")]).expect("empty means none");
    assert!(!s.redis.is_cluster());
    let s = load(&[(key, "redis://10.0.0.1:6379,redis://:pw@10.0.0.2:6379")]).expect("two");
    assert_eq!(
        s.redis.cluster_node_urls(),
        ["redis://10.0.0.1:6379", "redis://:pw@10.0.0.2:6379"]
    );
    assert!(!format!("{s:?}").contains("pw@"), "node URLs are secret");
    for (value, expected) in [
        ("http://10.0.0.1:6379", "entry 1: unsupported scheme `http`"),
        ("redis://10.0.0.1:6379,nonsense", "entry 2 is not a URL"),
        ("redis://10.0.0.1:6379/3", "entry 1 names a database"),
        ("redis://a:1,rediss://b:2", "mixes redis:// and rediss://"),
    ] {
        let message = load(&[(key, value)]).expect_err(value);
        assert!(message.starts_with("redis.cluster_nodes: "), "{message}");
        assert!(message.contains(expected), "{value}: {message}");
        assert!(!message.contains('\n'));
    }
    let message = load(&[(key, "redis://:hunter2@a:1/9")]).expect_err("db");
    assert!(!message.contains("hunter2"), "{message}");
}

/// A master killed for good: its users' requests fail, and once its node is known down they
/// fail at once instead of each waiting `redis.timeout` (which piles clients up); the other
/// masters' users are served throughout. The store reports which slots it fails fast and how
/// many commands it failed so, which is what this checks (no clock in the assertions).
#[tokio::test]
async fn a_dead_master_s_users_fail_fast_and_the_others_are_served() {
    let mut cluster = start_cluster(Duration::from_secs(15));
    let store = redis_store_on(&cluster);
    let now = latchkey::session::now_ms();
    let mut users = Vec::new();
    for i in 0..30 {
        let user = Uuid::new_v4();
        let (token, new) = new_session(user, now, &format!("user{i}"));
        assert!(store.create(&new).await.expect("create").stored());
        users.push((user, token));
    }
    let touch = |now: i64| TouchParams {
        now_ms: now,
        idle_ms: IDLE,
        refresh_after_ms: 0,
        counter: "ocr:20270115",
    };
    cluster.stop_node(0);

    let mut failed = Vec::new();
    let mut served = Vec::new();
    for (user, token) in &users {
        match store.touch(*user, &token.hash(), touch(now + 1)).await {
            Ok(found) => {
                assert!(found.is_some());
                served.push(*user);
            }
            Err(latchkey::session::StoreError::Unavailable(_)) => failed.push(*user),
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert!(
        !failed.is_empty() && !served.is_empty(),
        "{failed:?} {served:?}"
    );
    let (down, _) = store.known_down();
    let is_down = |user: &Uuid| {
        let slot = Slot::for_key(format!("{{u:{}}}", user.simple()));
        down.iter()
            .any(|r| r.clone().any(|n| Slot::new(n) == Some(slot)))
    };
    for user in &failed {
        assert!(is_down(user), "{down:?}");
    }
    for user in &served {
        assert!(!is_down(user), "{down:?}");
    }

    // Known down: a second round of the dead master's users is failed at once, but for at
    // most the one request now and then that tries the node again.
    let (_, before) = store.known_down();
    for user in &failed {
        let token = &users.iter().find(|(u, _)| u == user).expect("user").1;
        assert!(store
            .touch(*user, &token.hash(), touch(now + 2))
            .await
            .is_err());
    }
    let (_, after) = store.known_down();
    assert!(
        after - before >= (failed.len() as u64).div_ceil(2),
        "{} of {} failed fast",
        after - before,
        failed.len()
    );
    for user in &served {
        let token = &users.iter().find(|(u, _)| u == user).expect("user").1;
        assert!(store
            .touch(*user, &token.hash(), touch(now + 3))
            .await
            .is_ok());
    }
}
