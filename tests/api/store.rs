//! One suite, run against every store: what the traits promise (`SessionStore` for sessions
//! and the profile cache, `ScratchStore` for counters and one-time values) must hold for
//! Redis (writing either layout, `compact_layout.rs`), a Redis Cluster (`cluster.rs`) and
//! memory alike. Times are passed in, so expiry is tested without sleeping.

use std::sync::Arc;

use latchkey::session::{
    Created, Ending, Hold, MemoryStore, NewSession, Profile, PublicId, RedisLayout, RedisStore,
    Reserved, Revoke, ScratchStore, SessionRecord, SessionStore, SessionToken, TouchParams, Trace,
    REMEMBERED_MS,
};
use uuid::Uuid;

use crate::support::redis::{
    fresh_prefix, redis_store_on, redis_store_under, redis_url, shared_cluster,
};
use crate::support::stores;
use crate::support::users::profile;

const IDLE: i64 = 60_000;
const ABSOLUTE: i64 = 600_000;
const REFRESH: i64 = 6_000;

/// The suite's clock starts now, so that the expiries Redis keeps are real ones and the
/// suite's keys disappear within `ABSOLUTE` of the run.
fn t0() -> i64 {
    static START: std::sync::LazyLock<i64> = std::sync::LazyLock::new(latchkey::session::now_ms);
    *START
}

/// Every backend is both stores on one connection; the suite holds each to both traits.
trait Backend: SessionStore + ScratchStore {}
impl<T: SessionStore + ScratchStore> Backend for T {}

type Store = Arc<dyn Backend>;

fn redis_store() -> Store {
    Arc::new(redis_store_under(&fresh_prefix(), RedisLayout::Indexed))
}

/// A Redis store writing the compact layout: a user with one session keeps its index entry in
/// the profile string (`compact_layout.rs` tests the moves between the two layouts).
fn compact_store() -> Store {
    Arc::new(redis_store_under(&fresh_prefix(), RedisLayout::Compact))
}

/// A store on the Redis Cluster shared by the cluster tests (started once per test binary).
fn cluster_store() -> Store {
    Arc::new(redis_store_on(shared_cluster()))
}

fn memory_store() -> Store {
    Arc::new(MemoryStore::new())
}

fn new_session(user_id: Uuid, now: i64) -> (SessionToken, NewSession) {
    stores::new_session(user_id, now, IDLE, ABSOLUTE)
}

fn at(now: i64) -> TouchParams<'static> {
    stores::touch_at(now, IDLE, REFRESH)
}

/// Declares one test per store for each suite function.
macro_rules! store_suite {
    ($($name:ident),* $(,)?) => {
        mod redis_backend {
            $(#[tokio::test] async fn $name() { super::$name(super::redis_store()).await; })*
        }
        mod memory_backend {
            $(#[tokio::test] async fn $name() { super::$name(super::memory_store()).await; })*
        }
        mod cluster_backend {
            $(#[tokio::test] async fn $name() { super::$name(super::cluster_store()).await; })*
        }
        mod compact_backend {
            $(#[tokio::test] async fn $name() { super::$name(super::compact_store()).await; })*
        }
    };
}

store_suite!(
    create_then_touch_returns_record_and_profile,
    create_never_overwrites_an_existing_session,
    unknown_session_or_user_is_none,
    touch_slides_idle_expiry_only_after_refresh_step,
    idle_timeout_ends_an_unused_session,
    absolute_timeout_ends_a_used_session,
    list_returns_live_sessions_oldest_first,
    revoke_one_by_hash_and_by_public_id,
    revoke_all_and_all_except,
    revoke_is_scoped_to_the_user,
    profile_update_is_seen_by_every_session,
    profile_update_without_profile_does_nothing,
    deleted_profile_ends_every_session,
    stashed_values_are_taken_once,
    reservations_never_pass_the_limit,
    a_hold_nobody_ends_comes_back_by_itself,
    hits_add_up_per_key,
    a_login_beyond_the_cap_ends_the_oldest_session,
    sessions_that_already_ended_do_not_count_towards_the_cap,
    why_a_session_ended_is_remembered,
    sessions_ended_by_a_hand_do_not_count_towards_the_cap,
    the_oldest_session_is_the_earliest_login_whatever_its_absolute_expiry,
);

async fn create_then_touch_returns_record_and_profile(store: Store) {
    let user = Uuid::new_v4();
    let (token, new) = new_session(user, t0());
    assert!(store.create(&new).await.unwrap().stored());
    let touched = store
        .touch(user, &token.hash(), at(t0() + 1))
        .await
        .unwrap()
        .expect("live");
    assert_eq!(touched.record, new.record);
    assert_eq!(touched.profile, new.profile);
    assert_eq!(touched.counter, 0);
}

async fn create_never_overwrites_an_existing_session(store: Store) {
    let user = Uuid::new_v4();
    let (token, new) = new_session(user, t0());
    assert!(store.create(&new).await.unwrap().stored());
    let mut again = new.clone();
    again.record.user_agent = "intruder".into();
    assert!(!store.create(&again).await.unwrap().stored());
    let touched = store
        .touch(user, &token.hash(), at(t0()))
        .await
        .unwrap()
        .expect("live");
    assert_eq!(touched.record.user_agent, new.record.user_agent);
}

async fn unknown_session_or_user_is_none(store: Store) {
    let user = Uuid::new_v4();
    let (token, new) = new_session(user, t0());
    assert!(store
        .touch(user, &token.hash(), at(t0()))
        .await
        .unwrap()
        .is_none());
    assert!(store.create(&new).await.unwrap().stored());
    // The same hash under another user's id finds nothing: keys are per user.
    assert!(store
        .touch(Uuid::new_v4(), &token.hash(), at(t0()))
        .await
        .unwrap()
        .is_none());
    let other = SessionToken::generate(user);
    assert!(store
        .touch(user, &other.hash(), at(t0()))
        .await
        .unwrap()
        .is_none());
}

async fn touch_slides_idle_expiry_only_after_refresh_step(store: Store) {
    let user = Uuid::new_v4();
    let (token, new) = new_session(user, t0());
    store.create(&new).await.unwrap();
    // Within the refresh step nothing is written back.
    let early = store
        .touch(user, &token.hash(), at(t0() + REFRESH - 1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(early.record, new.record);
    assert_eq!(early.profile, new.profile);
    // After it, last_seen moves and the idle expiry with it; nothing else changes.
    let later = t0() + REFRESH;
    let slid = store
        .touch(user, &token.hash(), at(later))
        .await
        .unwrap()
        .unwrap();
    let expected = SessionRecord {
        last_seen_ms: later,
        ..new.record.clone()
    };
    assert_eq!(slid.record, expected);
    let reread = store
        .touch(user, &token.hash(), at(later + 1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        reread.record, expected,
        "the rewritten record reads back whole"
    );
    assert_eq!(reread.profile, new.profile);
    // Alive past the first idle deadline because it was used.
    assert!(store
        .touch(user, &token.hash(), at(t0() + IDLE + 1))
        .await
        .unwrap()
        .is_some());
}

async fn idle_timeout_ends_an_unused_session(store: Store) {
    let user = Uuid::new_v4();
    let (token, new) = new_session(user, t0());
    store.create(&new).await.unwrap();
    assert!(store
        .touch(user, &token.hash(), at(t0() + IDLE))
        .await
        .unwrap()
        .is_none());
    // Gone for good, even at an earlier clock.
    assert!(store
        .touch(user, &token.hash(), at(t0()))
        .await
        .unwrap()
        .is_none());
}

async fn absolute_timeout_ends_a_used_session(store: Store) {
    let user = Uuid::new_v4();
    let (token, new) = new_session(user, t0());
    store.create(&new).await.unwrap();
    let mut now = t0();
    while now + IDLE / 2 < t0() + ABSOLUTE {
        now += IDLE / 2;
        assert!(store
            .touch(user, &token.hash(), at(now))
            .await
            .unwrap()
            .is_some());
    }
    assert!(store
        .touch(user, &token.hash(), at(t0() + ABSOLUTE))
        .await
        .unwrap()
        .is_none());
}

async fn list_returns_live_sessions_oldest_first(store: Store) {
    let user = Uuid::new_v4();
    let mut hashes = Vec::new();
    for i in 0..3 {
        let (token, new) = new_session(user, t0() + i * 1000);
        store.create(&new).await.unwrap();
        hashes.push(token.hash());
    }
    let listed = store.list(user, t0() + 5000, IDLE).await.unwrap();
    assert_eq!(listed.iter().map(|(h, _)| *h).collect::<Vec<_>>(), hashes);
    // Past the idle deadline of all three, none is listed.
    assert!(store
        .list(user, t0() + 2000 + IDLE, IDLE)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .list(Uuid::new_v4(), t0(), IDLE)
        .await
        .unwrap()
        .is_empty());
}

async fn revoke_one_by_hash_and_by_public_id(store: Store) {
    let user = Uuid::new_v4();
    let (a, new_a) = new_session(user, t0());
    let (b, new_b) = new_session(user, t0());
    store.create(&new_a).await.unwrap();
    store.create(&new_b).await.unwrap();
    assert_eq!(store.revoke(user, &Revoke::One(a.hash())).await.unwrap(), 1);
    assert_eq!(store.revoke(user, &Revoke::One(a.hash())).await.unwrap(), 0);
    assert!(store
        .touch(user, &a.hash(), at(t0()))
        .await
        .unwrap()
        .is_none());
    let id = b.hash().public_id();
    assert_eq!(
        store.revoke(user, &Revoke::ByPublicId(id)).await.unwrap(),
        1
    );
    assert!(store
        .touch(user, &b.hash(), at(t0()))
        .await
        .unwrap()
        .is_none());
    let unknown = PublicId::parse("0123456789abcdef").unwrap();
    assert_eq!(
        store
            .revoke(user, &Revoke::ByPublicId(unknown))
            .await
            .unwrap(),
        0
    );
}

async fn revoke_all_and_all_except(store: Store) {
    let user = Uuid::new_v4();
    let mut tokens = Vec::new();
    for _ in 0..4 {
        let (token, new) = new_session(user, t0());
        store.create(&new).await.unwrap();
        tokens.push(token);
    }
    let keep = tokens[0].hash();
    assert_eq!(
        store.revoke(user, &Revoke::AllExcept(keep)).await.unwrap(),
        3
    );
    let left = store.list(user, t0(), IDLE).await.unwrap();
    assert_eq!(left.len(), 1);
    assert!(left[0].0 == keep);
    assert_eq!(store.revoke(user, &Revoke::All).await.unwrap(), 1);
    for token in &tokens {
        assert!(store
            .touch(user, &token.hash(), at(t0()))
            .await
            .unwrap()
            .is_none());
    }
    assert!(store.list(user, t0(), IDLE).await.unwrap().is_empty());
}

async fn revoke_is_scoped_to_the_user(store: Store) {
    let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
    let (a, new_a) = new_session(alice, t0());
    store.create(&new_a).await.unwrap();
    let (_, new_b) = new_session(bob, t0());
    store.create(&new_b).await.unwrap();
    assert_eq!(store.revoke(bob, &Revoke::One(a.hash())).await.unwrap(), 0);
    assert_eq!(
        store
            .revoke(bob, &Revoke::ByPublicId(a.hash().public_id()))
            .await
            .unwrap(),
        0
    );
    assert_eq!(store.revoke(bob, &Revoke::All).await.unwrap(), 1);
    assert!(store
        .touch(alice, &a.hash(), at(t0()))
        .await
        .unwrap()
        .is_some());
}

async fn profile_update_is_seen_by_every_session(store: Store) {
    let user = Uuid::new_v4();
    let (a, new_a) = new_session(user, t0());
    let (b, new_b) = new_session(user, t0());
    store.create(&new_a).await.unwrap();
    store.create(&new_b).await.unwrap();
    let pro = Profile {
        plan: "pro".into(),
        plan_until_ms: Some(t0() + 1000),
        has_subscription: true,
        ..profile("Ada", "pro")
    };
    assert!(store.update_profile(user, &pro).await.unwrap());
    for token in [&a, &b] {
        let touched = store
            .touch(user, &token.hash(), at(t0()))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(touched.profile, pro);
        assert_eq!(touched.profile.effective_plan(t0()), "pro");
        assert_eq!(touched.profile.effective_plan(t0() + 1000), "free");
    }
}

async fn profile_update_without_profile_does_nothing(store: Store) {
    let user = Uuid::new_v4();
    assert!(!store
        .update_profile(user, &profile("Ada", "pro"))
        .await
        .unwrap());
    let (token, new) = new_session(user, t0());
    store.create(&new).await.unwrap();
    let touched = store
        .touch(user, &token.hash(), at(t0()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(touched.profile.plan, "free");
}

async fn deleted_profile_ends_every_session(store: Store) {
    let user = Uuid::new_v4();
    let (token, new) = new_session(user, t0());
    store.create(&new).await.unwrap();
    store.delete_profile(user).await.unwrap();
    assert!(store
        .touch(user, &token.hash(), at(t0()))
        .await
        .unwrap()
        .is_none());
}

async fn stashed_values_are_taken_once(store: Store) {
    let key = format!("suite:{}", Uuid::new_v4().simple());
    assert_eq!(store.take(&key, t0()).await.unwrap(), None);
    store.stash(&key, "flow", t0(), 60_000).await.unwrap();
    let (a, b) = tokio::join!(store.take(&key, t0() + 1), store.take(&key, t0() + 1));
    let taken: Vec<_> = [a.unwrap(), b.unwrap()].into_iter().flatten().collect();
    assert_eq!(
        taken,
        ["flow"],
        "exactly one concurrent take gets the value"
    );
    assert_eq!(store.take(&key, t0() + 2).await.unwrap(), None);
}

/// Hits on one key add up, each counted once however many arrive together; other keys count
/// apart.
async fn hits_add_up_per_key(store: Store) {
    const WINDOW: i64 = 60_000;
    let key = format!("rl:suite:{}", Uuid::new_v4().simple());
    let other = format!("rl:suite:{}", Uuid::new_v4().simple());
    assert_eq!(store.hit(&key, t0(), WINDOW).await.unwrap(), 1);
    let hits =
        futures_util::future::join_all((0..9).map(|_| store.hit(&key, t0() + 1, WINDOW))).await;
    let mut counts: Vec<u64> = hits.into_iter().map(|h| h.unwrap()).collect();
    counts.sort_unstable();
    assert_eq!(
        counts,
        (2..=10).collect::<Vec<u64>>(),
        "every hit is counted once"
    );
    assert_eq!(store.hit(&other, t0() + 1, WINDOW).await.unwrap(), 1);
}

/// A hold of its own id on the counter.
fn hold<'a>(name: &'a str, id: &'a str) -> Hold<'a> {
    Hold { name, id }
}

async fn reservations_never_pass_the_limit(store: Store) {
    const HOLD: i64 = 60_000;
    let user = Uuid::new_v4();
    let counter = "ocr:20270115";
    let ids: Vec<String> = (0..30).map(|i| format!("h{i}")).collect();
    let holds: Vec<Hold> = ids.iter().map(|id| hold(counter, id)).collect();
    let attempts = futures_util::future::join_all(
        holds
            .iter()
            .map(|h| store.reserve(user, h, Some(20), t0(), HOLD)),
    )
    .await;
    let outcomes: Vec<Reserved> = attempts.into_iter().map(|r| r.unwrap()).collect();
    let held: Vec<&String> = ids
        .iter()
        .zip(&outcomes)
        .filter(|(_, r)| **r == Reserved::Held)
        .map(|(id, _)| id)
        .collect();
    assert_eq!(held.len(), 20, "{outcomes:?}");
    // The others were refused because of the holds, not because anything was used.
    assert!(outcomes
        .iter()
        .all(|r| matches!(r, Reserved::Held | Reserved::Busy { used: 0, .. })));
    assert_eq!(
        store
            .reserve(user, &hold(counter, "late"), Some(20), t0(), HOLD)
            .await
            .unwrap(),
        Reserved::Busy {
            used: 0,
            pending: 20
        }
    );
    // A confirmed hold is counted; a released one comes back; releasing twice does nothing.
    assert_eq!(
        store
            .confirm(user, &hold(counter, held[0]), t0(), 60_000)
            .await
            .unwrap(),
        1
    );
    store.release(user, &hold(counter, held[1])).await.unwrap();
    store.release(user, &hold(counter, held[1])).await.unwrap();
    assert_eq!(
        store
            .reserve(user, &hold(counter, "again"), Some(20), t0(), HOLD)
            .await
            .unwrap(),
        Reserved::Held
    );
    for id in &held[2..] {
        store
            .confirm(user, &hold(counter, id), t0(), 60_000)
            .await
            .unwrap();
    }
    assert_eq!(
        store
            .confirm(user, &hold(counter, "again"), t0(), 60_000)
            .await
            .unwrap(),
        20
    );
    assert_eq!(
        store
            .reserve(user, &hold(counter, "over"), Some(20), t0(), HOLD)
            .await
            .unwrap(),
        Reserved::UsedUp { used: 20 }
    );
    // No limit: always held; another counter is independent.
    assert_eq!(
        store
            .reserve(user, &hold(counter, "pro"), None, t0(), HOLD)
            .await
            .unwrap(),
        Reserved::Held
    );
    assert_eq!(
        store
            .reserve(user, &hold("ocr:20270116", "other"), Some(1), t0(), HOLD)
            .await
            .unwrap(),
        Reserved::Held
    );
    // The counter is what the hot path reads as today's count: units used, not held.
    let (token, new) = new_session(user, t0());
    store.create(&new).await.unwrap();
    let touched = store
        .touch(user, &token.hash(), at(t0()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(touched.counter, 20);
}

/// A hold that is neither confirmed nor released (its call died) ends by itself: the unit
/// comes back once the hold's time is over. Redis counts that time on its own clock, so the
/// check waits (a bounded poll); the memory store reads the caller's, so it is asked later.
async fn a_hold_nobody_ends_comes_back_by_itself(store: Store) {
    let user = Uuid::new_v4();
    let counter = "ocr:20270115";
    assert_eq!(
        store
            .reserve(user, &hold(counter, "dies"), Some(1), t0(), 100)
            .await
            .unwrap(),
        Reserved::Held
    );
    let mut outcome = None;
    for attempt in 1..=100 {
        let now = t0() + attempt * 100;
        let r = store
            .reserve(user, &hold(counter, "next"), Some(1), now, 60_000)
            .await
            .unwrap();
        if r == Reserved::Held {
            outcome = Some(r);
            break;
        }
        assert_eq!(
            r,
            Reserved::Busy {
                used: 0,
                pending: 1
            }
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        outcome,
        Some(Reserved::Held),
        "the expired hold was dropped"
    );
}

/// A Redis store under a fresh prefix, its prefix, and a connection of the test's own to look
/// at what the store wrote.
async fn redis_store_and_connection() -> (RedisStore, String, redis::aio::MultiplexedConnection) {
    let prefix = fresh_prefix();
    let store = redis_store_under(&prefix, RedisLayout::Indexed);
    let conn = redis::Client::open(redis_url())
        .expect("Redis URL")
        .get_multiplexed_async_connection()
        .await
        .expect("Redis answers");
    (store, prefix, conn)
}

/// Keys of the layout before packed strings (Redis hashes under the same names) meet every
/// store operation without an error: the hot path reads them as no session (its `MGET` reads
/// a hash as nil), the list reads them as no session and deletes them, the walk passes over
/// them, and a revoke-all still deletes them.
#[tokio::test]
async fn redis_keys_of_the_hash_layout_are_no_session_and_no_error() {
    let (store, prefix, mut conn) = redis_store_and_connection().await;
    let user = Uuid::new_v4();
    let tag = format!("{prefix}{{u:{}}}", user.simple());
    let old_session = |token: &SessionToken| format!("{tag}:s:{}", token.hash().encode());
    let write_old = |key: String| {
        let now = t0();
        let mut pipe = redis::pipe();
        pipe.hset_multiple(
            &key,
            &[
                ("c", now.to_string()),
                ("s", now.to_string()),
                ("a", (now + ABSOLUTE).to_string()),
                ("ua", "old".to_owned()),
                ("ip", "192.0.2.1".to_owned()),
            ],
        )
        .pexpire_at(&key, now + ABSOLUTE)
        .zadd(
            format!("{tag}:i"),
            key.rsplit(':').next().unwrap_or_default(),
            now + ABSOLUTE,
        );
        pipe
    };
    // Two sessions and a profile as the previous release wrote them.
    let (a, b) = (SessionToken::generate(user), SessionToken::generate(user));
    let _: () = write_old(old_session(&a))
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: () = write_old(old_session(&b))
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: () = redis::cmd("HSET")
        .arg(format!("{tag}:p"))
        .arg(&["n", "Ada", "e", "ada@example.com", "pl", "free", "hs", "0"])
        .query_async(&mut conn)
        .await
        .unwrap();

    assert!(store
        .touch(user, &a.hash(), at(t0()))
        .await
        .unwrap()
        .is_none());
    // The walk over every session (the CLI's) passes the old keys by, whichever page they
    // would be on.
    let mut cursor = 0;
    loop {
        let page = store.scan(cursor, 1_000, t0(), IDLE).await.unwrap();
        assert!(page.sessions.iter().all(|(u, _, _)| *u != user));
        match page.cursor {
            0 => break,
            next => cursor = next,
        }
    }

    // A login next to them replaces the old profile; the old sessions a and b are still keys
    // in the index (the hot path leaves a hash it meets to its TTL), and revoke-all reaches
    // them.
    let (c, new_c) = new_session(user, t0());
    assert!(store.create(&new_c).await.unwrap().stored());
    assert_eq!(
        store
            .touch(user, &c.hash(), at(t0()))
            .await
            .unwrap()
            .map(|t| t.profile),
        Some(new_c.profile.clone())
    );
    assert_eq!(store.revoke(user, &Revoke::All).await.unwrap(), 3);
    let left: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*:s:*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(left.is_empty(), "{left:?}");

    // The list deletes an old session it meets, with its index entry.
    let (d, new_d) = new_session(user, t0());
    assert!(store.create(&new_d).await.unwrap().stored());
    let _: () = write_old(old_session(&b))
        .query_async(&mut conn)
        .await
        .unwrap();
    let listed = store.list(user, t0(), IDLE).await.unwrap();
    assert_eq!(
        listed.iter().map(|(h, _)| *h).collect::<Vec<_>>(),
        [d.hash()]
    );
    let exists: bool = redis::cmd("EXISTS")
        .arg(old_session(&b))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(!exists);
    // Started entries (positive scores): d's. The others are remembered as ended.
    let index: u64 = redis::cmd("ZCOUNT")
        .arg(format!("{tag}:i"))
        .arg("(0")
        .arg("+inf")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(index, 1);
    // Updating an old profile replaces it with the packed one, keeping its expiry.
    let other = Uuid::new_v4();
    let other_profile = format!("{prefix}{{u:{}}}:p", other.simple());
    let _: () = redis::pipe()
        .hset(&other_profile, "pl", "free")
        .pexpire(&other_profile, 60_000)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(store
        .update_profile(other, &profile("Bo", "pro"))
        .await
        .unwrap());
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&other_profile)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(ttl > 0 && ttl <= 60_000, "{ttl}");
    store.revoke(user, &Revoke::All).await.unwrap();
    store.delete_profile(user).await.unwrap();
    store.delete_profile(other).await.unwrap();
}

/// A sliding refresh moves the key's expiry to `min(now + idle, absolute)`: a session used
/// just before its absolute expiry does not outlive it in Redis either.
#[tokio::test]
async fn redis_a_refresh_never_moves_the_key_past_the_absolute_expiry() {
    let (store, prefix, mut conn) = redis_store_and_connection().await;
    let user = Uuid::new_v4();
    let (token, new) = new_session(user, t0());
    store.create(&new).await.unwrap();
    let key = format!(
        "{prefix}{{u:{}}}:s:{}",
        user.simple(),
        token.hash().encode()
    );
    let expire_time = |conn: &mut redis::aio::MultiplexedConnection| {
        let mut conn = conn.clone();
        let key = key.clone();
        async move {
            redis::cmd("PEXPIRETIME")
                .arg(&key)
                .query_async::<i64>(&mut conn)
                .await
                .unwrap()
        }
    };
    assert_eq!(expire_time(&mut conn).await, t0() + IDLE);

    // Used in the middle of its life: the idle window slides.
    let middle = t0() + ABSOLUTE / 2;
    for step in 0..=(middle - t0()) / (IDLE / 2) {
        let now = t0() + step * (IDLE / 2);
        assert!(store
            .touch(user, &token.hash(), at(now))
            .await
            .unwrap()
            .is_some());
    }
    // The refresh is sent after the touch's one round trip, without the touch waiting for
    // it; an answered command on the store's own connection comes after it, so once the
    // ping is answered, Redis has run every refresh (this test reads on another connection).
    store.ping().await.unwrap();
    assert!(expire_time(&mut conn).await <= new.record.absolute_expiry_ms);

    // Used a moment before the absolute expiry: the key ends with it, not idle later.
    let late = new.record.absolute_expiry_ms - IDLE / 4;
    let mut now = middle;
    while now < late {
        now = (now + IDLE / 2).min(late);
        assert!(store
            .touch(user, &token.hash(), at(now))
            .await
            .unwrap()
            .is_some());
    }
    store.ping().await.unwrap();
    assert_eq!(expire_time(&mut conn).await, new.record.absolute_expiry_ms);
}

/// `new_session` with a cap of `max` sessions per user.
fn capped(user: Uuid, now: i64, max: u32) -> (SessionToken, NewSession) {
    let (token, mut new) = new_session(user, now);
    new.max_per_user = max;
    (token, new)
}

async fn is_live(store: &dyn SessionStore, user: Uuid, token: &SessionToken, now: i64) -> bool {
    store
        .touch(user, &token.hash(), at(now))
        .await
        .unwrap()
        .is_some()
}

async fn a_login_beyond_the_cap_ends_the_oldest_session(store: Store) {
    let user = Uuid::new_v4();
    let other_user = Uuid::new_v4();
    let (other, new) = capped(other_user, t0(), 2);
    store.create(&new).await.unwrap();
    let mut tokens = Vec::new();
    for i in 0..3 {
        let (token, new) = capped(user, t0() + i * 1000, 3);
        let created = store.create(&new).await.unwrap();
        assert_eq!(created, Created::Stored { evicted: vec![] });
        tokens.push(token);
    }
    let (fourth, new) = capped(user, t0() + 3000, 3);
    let created = store.create(&new).await.unwrap();
    assert_eq!(
        created,
        Created::Stored {
            evicted: vec![tokens[0].hash()]
        }
    );
    let now = t0() + 4000;
    assert!(!is_live(store.as_ref(), user, &tokens[0], now).await);
    for token in [&tokens[1], &tokens[2], &fourth] {
        assert!(is_live(store.as_ref(), user, token, now).await);
    }
    let listed = store.list(user, now, IDLE).await.unwrap();
    assert_eq!(listed.len(), 3);
    // A lower cap at the next login brings the user down to it at once, oldest first.
    let (fifth, new) = capped(user, t0() + 5000, 2);
    let created = store.create(&new).await.unwrap();
    assert_eq!(
        created,
        Created::Stored {
            evicted: vec![tokens[1].hash(), tokens[2].hash()]
        }
    );
    let listed = store.list(user, now + 2000, IDLE).await.unwrap();
    let listed: Vec<_> = listed.iter().map(|(h, _)| *h).collect();
    assert_eq!(listed, vec![fourth.hash(), fifth.hash()]);
    // Another user's sessions are not theirs to evict.
    assert!(is_live(store.as_ref(), other_user, &other, now).await);
}

async fn sessions_that_already_ended_do_not_count_towards_the_cap(store: Store) {
    let user = Uuid::new_v4();
    let mut tokens = Vec::new();
    for i in 0..3 {
        let (token, new) = capped(user, t0() + i * 1000, 3);
        store.create(&new).await.unwrap();
        tokens.push(token);
    }
    // The first and third are used half-way through the idle timeout; the second is not,
    // and its idle timeout passes: it ends, though its index entry is still there.
    for token in [&tokens[0], &tokens[2]] {
        assert!(is_live(store.as_ref(), user, token, t0() + IDLE / 2).await);
    }
    let later = t0() + 1000 + IDLE;
    assert!(!is_live(store.as_ref(), user, &tokens[1], later).await);
    // A new login finds room where the ended session was: nobody is evicted.
    let (fourth, new) = capped(user, later, 3);
    let created = store.create(&new).await.unwrap();
    assert_eq!(created, Created::Stored { evicted: vec![] });
    for token in [&tokens[0], &tokens[2], &fourth] {
        assert!(is_live(store.as_ref(), user, token, later).await);
    }
}

/// Every way a session ends leaves what its 401's reason needs: a hand's ending for a day, or
/// only that it started (a timeout, or a revocation without a reason) until a day past its
/// absolute expiry.
async fn why_a_session_ended_is_remembered(store: Store) {
    let user = Uuid::new_v4();
    let mut tokens = Vec::new();
    for i in 0..4 {
        let (token, new) = capped(user, t0() + i, 4);
        assert!(store.create(&new).await.unwrap().stored());
        tokens.push(token);
    }
    let started = |i: i64| {
        Some(Trace::Started {
            absolute_ms: t0() + i + ABSOLUTE,
        })
    };
    let trace = |token: &SessionToken, now: i64| {
        let store = store.clone();
        let hash = token.hash();
        async move { store.trace(user, &hash, now).await.unwrap() }
    };
    assert_eq!(trace(&tokens[0], t0()).await, started(0));
    let ended = store
        .end(
            user,
            &Revoke::One(tokens[0].hash()),
            Ending::SignedOut,
            t0() + 5,
        )
        .await;
    assert_eq!(ended.unwrap(), 1);
    assert_eq!(
        store
            .revoke(user, &Revoke::One(tokens[1].hash()))
            .await
            .unwrap(),
        1
    );
    let ended = store
        .end(
            user,
            &Revoke::AllExcept(tokens[3].hash()),
            Ending::Revoked,
            t0() + 6,
        )
        .await;
    assert_eq!(ended.unwrap(), 1, "only the third was still live");
    // Beyond the cap: the oldest live session is evicted.
    let (_, new) = capped(user, t0() + 10, 1);
    let created = store.create(&new).await.unwrap();
    assert_eq!(
        created,
        Created::Stored {
            evicted: vec![tokens[3].hash()]
        }
    );

    let last = t0() + ABSOLUTE - 1;
    let signed_out = Some(Trace::Ended(Ending::SignedOut));
    assert_eq!(trace(&tokens[0], last).await, signed_out);
    assert_eq!(trace(&tokens[1], last).await, started(1));
    assert_eq!(
        trace(&tokens[2], last).await,
        Some(Trace::Ended(Ending::Revoked))
    );
    assert_eq!(
        trace(&tokens[3], last).await,
        Some(Trace::Ended(Ending::Evicted))
    );
    // A list or a login after them keeps what it does not walk.
    assert_eq!(store.list(user, last, IDLE).await.unwrap().len(), 0);
    let (_, new) = capped(user, last, 50);
    assert!(store.create(&new).await.unwrap().stored());
    assert_eq!(trace(&tokens[0], last).await, signed_out);
    let stranger = SessionToken::generate(user);
    assert_eq!(trace(&stranger, t0()).await, None);
    // A day past the absolute expiry, a login forgets them all (the hands' endings a day
    // after they came).
    let much_later = t0() + ABSOLUTE + REMEMBERED_MS + 10;
    let (_, new) = capped(user, much_later, 50);
    assert!(store.create(&new).await.unwrap().stored());
    for token in &tokens {
        assert_eq!(trace(token, much_later).await, None);
    }
}

/// Sessions a hand ended are remembered in the store but are not sessions: they take no room
/// under the cap.
async fn sessions_ended_by_a_hand_do_not_count_towards_the_cap(store: Store) {
    let user = Uuid::new_v4();
    let mut tokens = Vec::new();
    for i in 0..2 {
        let (token, new) = capped(user, t0() + i * 1000, 2);
        assert!(store.create(&new).await.unwrap().stored());
        tokens.push(token);
    }
    let ended = store
        .end(
            user,
            &Revoke::One(tokens[0].hash()),
            Ending::SignedOut,
            t0() + 1500,
        )
        .await;
    assert_eq!(ended.unwrap(), 1);
    let (third, new) = capped(user, t0() + 2000, 2);
    let created = store.create(&new).await.unwrap();
    assert_eq!(created, Created::Stored { evicted: vec![] });
    let (fourth, new) = capped(user, t0() + 3000, 2);
    let created = store.create(&new).await.unwrap();
    assert_eq!(
        created,
        Created::Stored {
            evicted: vec![tokens[1].hash()]
        }
    );
    let listed = store.list(user, t0() + 4000, IDLE).await.unwrap();
    let listed: Vec<_> = listed.iter().map(|(h, _)| *h).collect();
    assert_eq!(listed, vec![third.hash(), fourth.hash()]);
    // A revoke-all reaches the live ones, and leaves the ended ones as they were.
    assert_eq!(store.revoke(user, &Revoke::All).await.unwrap(), 2);
    let signed_out = store.trace(user, &tokens[0].hash(), t0()).await.unwrap();
    assert_eq!(signed_out, Some(Trace::Ended(Ending::SignedOut)));
}

/// The session a login beyond the cap ends is the earliest login, also after the absolute
/// timeout was shortened (say, after an incident): a session started under the longer one
/// expires after newer sessions, and is still the oldest, the one to end first.
async fn the_oldest_session_is_the_earliest_login_whatever_its_absolute_expiry(store: Store) {
    let user = Uuid::new_v4();
    let (first, mut new) = capped(user, t0(), 2);
    new.record.absolute_expiry_ms = t0() + 2 * ABSOLUTE;
    assert!(store.create(&new).await.unwrap().stored());
    let (second, new) = capped(user, t0() + 1000, 2);
    assert!(store.create(&new).await.unwrap().stored());
    let (third, new) = capped(user, t0() + 2000, 2);
    let created = store.create(&new).await.unwrap();
    assert_eq!(
        created,
        Created::Stored {
            evicted: vec![first.hash()]
        }
    );
    let now = t0() + 3000;
    assert!(!is_live(store.as_ref(), user, &first, now).await);
    for token in [&second, &third] {
        assert!(is_live(store.as_ref(), user, token, now).await);
    }
}

// The memory store counts scratch lifetimes from the caller's `now_ms` (Redis counts them
// itself from the write, see `ScratchStore`), so their ends are tested here by moving the clock.

/// A value stashed so long ago that its end has passed is gone; a value within its time is
/// there.
#[tokio::test]
async fn memory_a_stashed_value_ends_at_the_callers_time() {
    const TTL: i64 = 60_000;
    let store = MemoryStore::new();
    store
        .stash("flow:a", "flow", t0() - 2 * TTL, TTL)
        .await
        .unwrap();
    assert_eq!(store.take("flow:a", t0()).await.unwrap(), None);
    store.stash("flow:b", "flow", t0(), TTL).await.unwrap();
    assert_eq!(store.take("flow:b", t0() + TTL).await.unwrap(), None);
    store.stash("flow:c", "flow", t0(), TTL).await.unwrap();
    assert_eq!(
        store
            .take("flow:c", t0() + TTL - 1)
            .await
            .unwrap()
            .as_deref(),
        Some("flow")
    );
}

/// A counter ends `ttl` after its first unit was counted: the next one starts from zero, and
/// the hot path reads it as such. A hold ends at the caller's time too.
#[tokio::test]
async fn memory_a_counter_ends_at_the_callers_time() {
    const TTL: i64 = 60_000;
    let store = MemoryStore::new();
    let user = Uuid::new_v4();
    let counter = "ocr:20270115";
    let long_ago = t0() - 2 * TTL;
    for (expected, id) in [(1, "a"), (2, "b")] {
        let h = hold(counter, id);
        assert_eq!(
            store.reserve(user, &h, None, long_ago, TTL).await.unwrap(),
            Reserved::Held
        );
        let counted = store.confirm(user, &h, long_ago, TTL).await;
        assert_eq!(counted.unwrap(), expected);
    }
    let h = hold(counter, "c");
    let reserved = store.reserve(user, &h, Some(5), t0(), TTL).await;
    assert_eq!(reserved.unwrap(), Reserved::Held);
    assert_eq!(store.confirm(user, &h, t0(), TTL).await.unwrap(), 1);
    // A hold past its end no longer counts against the limit.
    let stale = hold("ocr:20270116", "stale");
    assert_eq!(
        store
            .reserve(user, &stale, Some(1), long_ago, TTL)
            .await
            .unwrap(),
        Reserved::Held
    );
    let fresh = hold("ocr:20270116", "fresh");
    assert_eq!(
        store
            .reserve(user, &fresh, Some(1), t0(), TTL)
            .await
            .unwrap(),
        Reserved::Held
    );
    let (token, new) = new_session(user, t0());
    store.create(&new).await.unwrap();
    let touched = store.touch(user, &token.hash(), at(t0() + 1)).await;
    assert_eq!(touched.unwrap().expect("live").counter, 1);
}

/// A rate-limit window's count starts over once the window has ended.
#[tokio::test]
async fn memory_a_window_starts_over_after_it_ends() {
    const WINDOW: i64 = 60_000;
    let store = MemoryStore::new();
    assert_eq!(store.hit("rl:a", t0(), WINDOW).await.unwrap(), 1);
    assert_eq!(
        store.hit("rl:a", t0() + WINDOW - 1, WINDOW).await.unwrap(),
        2
    );
    assert_eq!(store.hit("rl:a", t0() + WINDOW, WINDOW).await.unwrap(), 1);
}

/// An index written before the cap existed (here 2,500 logins of one user, which the cap of
/// today would never let stand) is listed from its newest entries and revoked in bounded
/// steps: no single script walks it whole.
#[tokio::test]
async fn redis_an_index_from_before_the_cap_is_walked_in_bounded_steps() {
    let (store, prefix, mut conn) = redis_store_and_connection().await;
    let user = Uuid::new_v4();
    let mut tokens = Vec::new();
    for i in 0..2500 {
        let (token, new) = capped(user, t0() + i, 10_000);
        assert!(store.create(&new).await.unwrap().stored());
        tokens.push(token);
    }
    let listed = store.list(user, t0() + 2500, IDLE).await.unwrap();
    assert_eq!(listed.len(), 1000, "the newest 1,000");
    assert_eq!(
        listed.last().map(|(h, _)| *h),
        tokens.last().map(SessionToken::hash)
    );

    let keep = tokens[10].hash();
    let revoked = store.revoke(user, &Revoke::AllExcept(keep)).await.unwrap();
    assert_eq!(revoked, 2499);
    let index = format!("{prefix}{{u:{}}}:i", user.simple());
    // Started entries: the one kept. The others are remembered as revoked, and no walk
    // reads them.
    let left: Vec<String> = redis::cmd("ZRANGE")
        .arg(&index)
        .arg("(0")
        .arg("+inf")
        .arg("BYSCORE")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(left, vec![keep.encode()]);
    assert!(store
        .touch(user, &keep, at(t0() + 2500))
        .await
        .unwrap()
        .is_some());
    assert_eq!(store.revoke(user, &Revoke::All).await.unwrap(), 1);
}

/// A session the previous release started has a trace key that says only when it would
/// expire (`P{u:U}:t:H`, kept until a day past that). When this release ends the session by a
/// hand, that key must not outlive the ending: once the ending is forgotten (a day after it,
/// as the previous release forgot its own), the session is unknown, not a timeout, which it
/// never was. The eviction at the cap is a hand too.
#[tokio::test]
async fn redis_a_previous_releases_trace_key_does_not_outlive_a_hands_ending() {
    let (store, prefix, mut conn) = redis_store_and_connection().await;
    let user = Uuid::new_v4();
    let tag = format!("{prefix}{{u:{}}}", user.simple());
    let mut tokens = Vec::new();
    for i in 0..2 {
        let (token, new) = capped(user, t0() + i, 2);
        assert!(store.create(&new).await.unwrap().stored());
        // What the previous release's note_start.lua wrote after each login.
        let absolute = new.record.absolute_expiry_ms;
        let _: () = redis::cmd("SET")
            .arg(format!("{tag}:t:{}", token.hash().encode()))
            .arg(absolute)
            .arg("PXAT")
            .arg(absolute + REMEMBERED_MS)
            .query_async(&mut conn)
            .await
            .unwrap();
        tokens.push(token);
    }
    let ended = store
        .end(
            user,
            &Revoke::One(tokens[1].hash()),
            Ending::Revoked,
            t0() + 5,
        )
        .await;
    assert_eq!(ended.unwrap(), 1);
    let (_, new) = capped(user, t0() + 10, 1);
    let created = store.create(&new).await.unwrap();
    assert_eq!(
        created,
        Created::Stored {
            evicted: vec![tokens[0].hash()]
        }
    );
    let trace = |token: &SessionToken, now: i64| {
        let hash = token.hash();
        let store = &store;
        async move { store.trace(user, &hash, now).await.unwrap() }
    };
    assert_eq!(
        trace(&tokens[0], t0() + 20).await,
        Some(Trace::Ended(Ending::Evicted))
    );
    assert_eq!(
        trace(&tokens[1], t0() + 20).await,
        Some(Trace::Ended(Ending::Revoked))
    );
    // A day later a list drops both endings from the index: nothing is left of either.
    let day_after = t0() + 10 + REMEMBERED_MS + 1;
    assert!(store.list(user, day_after, IDLE).await.unwrap().is_empty());
    for token in &tokens {
        assert_eq!(trace(token, day_after).await, None);
    }
}
