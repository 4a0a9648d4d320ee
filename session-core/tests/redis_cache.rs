//! The Redis store's client-side cache against a real Redis (and a real Redis Cluster): what
//! another store instance (another app server) changes, destroys or renames is seen here once
//! the invalidation arrives; this instance's own writes are read back at once; a cached load
//! sends nothing to Redis; the layout older releases wrote still loads and changes.
//!
//! Single-node tests use `SESSION_KIT_REDIS_URL`, cluster tests `SESSION_KIT_REDIS_CLUSTER_URLS`
//! (`bash scripts/test.sh` sets both); each test files its keys under a prefix of its own and
//! removes them afterwards.

#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test fixtures: a failed unwrap is a failed test

use std::future::Future;
use std::time::Duration;

use session_core::store::RedisStore;
use session_core::{Applied, Change, Clock, Entry, Meta, Record, Store, StoreKey, SystemClock, Timestamp};
use tokio::time::Instant;

/// How long another instance's change may take to show before the test fails: far above the
/// measured delay (well under a millisecond on loopback), so only a cache that never learns
/// of the change fails it.
const SEEN_WITHIN: Duration = Duration::from_secs(5);

fn url() -> String {
    std::env::var("SESSION_KIT_REDIS_URL").unwrap_or_else(|_| {
        panic!("SESSION_KIT_REDIS_URL is not set: point it at a Redis server, or run `bash scripts/test.sh`")
    })
}

fn prefix() -> String {
    format!("session-kit-test:{:016x}:", rand::random::<u64>())
}

fn key() -> StoreKey {
    StoreKey::parse(&format!("{:032x}", rand::random::<u128>())).unwrap()
}

fn entry(value: &[u8]) -> Entry {
    Entry { value: value.to_vec(), expires_at: None }
}

/// A live session with one field, deadlines an hour and a day ahead of `now`.
fn session(now: Timestamp, user: &[u8]) -> Record {
    let mut meta = Meta::new(now);
    meta.idle_deadline = Some(now.after(Duration::from_secs(3600)));
    meta.absolute_deadline = Some(now.after(Duration::from_secs(86_400)));
    let mut record = Record::new(meta);
    record.entries.push(("user".to_owned(), entry(user)));
    record
}

fn user_of(record: &Option<Record>) -> Option<Vec<u8>> {
    record.as_ref().and_then(|r| r.get("user")).map(|e| e.value.clone())
}

/// Polls `load` until `seen` holds for what it returns; fails after [`SEEN_WITHIN`].
async fn eventually<F, Fut>(what: &str, mut load: F, seen: impl Fn(&Option<Record>) -> bool)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<Record>>,
{
    let deadline = Instant::now() + SEEN_WITHIN;
    loop {
        let found = load().await;
        if seen(&found) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not seen within {SEEN_WITHIN:?}, the cache still answers {found:?}"
        );
        tokio::task::yield_now().await;
    }
}

/// The checks every deployment runs: `here` caches, `there` is another app server.
async fn another_instance_is_seen(here: &RedisStore, there: &RedisStore) {
    let now = SystemClock.now();
    let k = key();
    there.create(&k, &session(now, b"ada"), now).await.unwrap();
    // Read twice: the second load is served from the cache.
    assert_eq!(user_of(&here.load(&k, now).await.unwrap()), Some(b"ada".to_vec()));
    assert_eq!(user_of(&here.load(&k, now).await.unwrap()), Some(b"ada".to_vec()));

    let change = Change { set: vec![("user".to_owned(), entry(b"bob"))], ..Change::default() };
    assert_eq!(there.apply(&k, &change, now).await.unwrap(), Applied::Done);
    eventually(
        "a change made by another instance",
        || async { here.load(&k, now).await.unwrap() },
        |r| user_of(r) == Some(b"bob".to_vec()),
    )
    .await;

    // A rename by the other instance (a login there): the old key opens nothing here.
    let moved = key();
    here.load(&k, now).await.unwrap();
    assert_eq!(there.rename(&k, &moved, now).await.unwrap(), session_core::Renamed::Done);
    eventually("a rename made by another instance", || async { here.load(&k, now).await.unwrap() }, Option::is_none)
        .await;
    assert_eq!(user_of(&here.load(&moved, now).await.unwrap()), Some(b"bob".to_vec()));

    // A destroy (a logout there): the session is gone here too, and a change made here on the
    // strength of a cached read is refused by Redis.
    here.load(&moved, now).await.unwrap();
    there.delete(&moved).await.unwrap();
    assert_eq!(here.apply(&moved, &change, now).await.unwrap(), Applied::Gone, "a change resurrected a session");
    eventually(
        "a destroy made by another instance",
        || async { here.load(&moved, now).await.unwrap() },
        Option::is_none,
    )
    .await;
}

/// This instance's writes are read back by its next load, without waiting for anything.
async fn own_writes_are_read_back_at_once(store: &RedisStore) {
    let now = SystemClock.now();
    let k = key();
    store.create(&k, &session(now, b"ada"), now).await.unwrap();
    for round in 0..20u8 {
        assert!(store.load(&k, now).await.unwrap().is_some());
        let value = [b'v', round];
        let change = Change { set: vec![("user".to_owned(), entry(&value))], ..Change::default() };
        assert_eq!(store.apply(&k, &change, now).await.unwrap(), Applied::Done);
        assert_eq!(user_of(&store.load(&k, now).await.unwrap()), Some(value.to_vec()), "round {round}");
    }
    store.delete(&k).await.unwrap();
    assert!(store.load(&k, now).await.unwrap().is_none(), "a deleted session was served from the cache");
    // Expiry follows the caller's clock on cached sessions as on read ones.
    let k = key();
    store.create(&k, &session(now, b"ada"), now).await.unwrap();
    assert!(store.load(&k, now).await.unwrap().is_some());
    assert!(store.load(&k, now.after(Duration::from_secs(3600))).await.unwrap().is_none(), "served past its deadline");
}

mod single {
    use super::*;

    /// Deletes every key under `prefix` when dropped.
    struct Cleanup(String);

    impl Drop for Cleanup {
        fn drop(&mut self) {
            let Ok(mut conn) = redis::Client::open(url()).and_then(|c| c.get_connection()) else { return };
            let keys: Vec<String> = match redis::Commands::scan_match(&mut conn, format!("{}*", self.0)) {
                Ok(iter) => iter.filter_map(Result::ok).collect(),
                Err(_) => return,
            };
            for k in keys {
                let _ = redis::cmd("DEL").arg(k).query::<()>(&mut conn);
            }
        }
    }

    async fn cached(prefix: &str) -> RedisStore {
        RedisStore::builder(url()).prefix(prefix).client_cache(1000).connect().await.unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn another_instance_is_seen_whether_it_caches_or_not() {
        let prefix = prefix();
        let _cleanup = Cleanup(prefix.clone());
        let here = cached(&prefix).await;
        let plain = RedisStore::builder(url()).prefix(&prefix).connect().await.unwrap();
        another_instance_is_seen(&here, &plain).await;
        let other_cache = cached(&prefix).await;
        another_instance_is_seen(&here, &other_cache).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn own_writes_are_read_back() {
        let prefix = prefix();
        let _cleanup = Cleanup(prefix.clone());
        own_writes_are_read_back_at_once(&cached(&prefix).await).await;
    }

    /// Counts, through `MONITOR`, the `HGETALL`s of `key` Redis runs while `work` runs. A
    /// marker command sent after the work closes the count: everything before it has been
    /// seen once it shows.
    async fn hgetalls_of<F: Future<Output = ()>>(redis_key: &str, work: F) -> usize {
        let mut monitor = redis::Client::open(url()).unwrap().get_connection().unwrap();
        monitor.send_packed_command(&redis::cmd("MONITOR").get_packed_command()).unwrap();
        assert_eq!(monitor.recv_response().unwrap(), redis::Value::Okay);
        work.await;
        let marker = format!("{redis_key}:marker");
        let mut conn = redis::Client::open(url()).unwrap().get_multiplexed_async_connection().await.unwrap();
        redis::cmd("EXISTS").arg(&marker).query_async::<()>(&mut conn).await.unwrap();
        let mut seen = 0;
        loop {
            let line: String = redis::from_redis_value(monitor.recv_response().unwrap()).unwrap();
            if line.contains(&marker) {
                return seen;
            }
            if line.contains("\"HGETALL\"") && line.contains(redis_key) {
                seen += 1;
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cached_load_sends_nothing_to_redis() {
        let prefix = prefix();
        let _cleanup = Cleanup(prefix.clone());
        let store = cached(&prefix).await;
        let now = SystemClock.now();
        let k = key();
        store.create(&k, &session(now, b"ada"), now).await.unwrap();
        let redis_key = format!("{prefix}{}", k.as_str());
        // A heartbeat late on a loaded machine switches the cache off for a moment (and the
        // loads meanwhile go to Redis): one of a few rounds must show a single read.
        let mut rounds = Vec::new();
        for _ in 0..3 {
            let loads = hgetalls_of(&redis_key, async {
                // A write through the store drops its cached copy: the first load reads Redis.
                assert_eq!(store.apply(&k, &Change::default(), now).await.unwrap(), Applied::Done);
                for _ in 0..50 {
                    assert!(store.load(&k, now).await.unwrap().is_some());
                }
            })
            .await;
            rounds.push(loads);
            if loads == 1 {
                break;
            }
        }
        assert_eq!(
            rounds.last(),
            Some(&1),
            "50 loads of one session read Redis this often, round by round: {rounds:?}"
        );
        // Without the cache, every load is a round trip.
        let plain = RedisStore::builder(url()).prefix(&prefix).connect().await.unwrap();
        let loads = hgetalls_of(&redis_key, async {
            for _ in 0..5 {
                assert!(plain.load(&k, now).await.unwrap().is_some());
            }
        })
        .await;
        assert_eq!(loads, 5);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cache_of_zero_sessions_is_a_config_error() {
        let refused = RedisStore::builder(url()).client_cache(0).connect().await;
        assert!(matches!(refused, Err(session_core::StoreError::Config(_))), "{refused:?}");
    }

    /// The native TTL follows the record's deadline as the caller's clock sees it: set by a
    /// create, left alone by a change that does not move the deadline, moved by one that does,
    /// removed with the deadline.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_native_ttl_follows_the_deadline() {
        let prefix = prefix();
        let _cleanup = Cleanup(prefix.clone());
        let store = RedisStore::builder(url()).prefix(&prefix).connect().await.unwrap();
        let mut conn = redis::Client::open(url()).unwrap().get_multiplexed_async_connection().await.unwrap();
        let k = key();
        let redis_key = format!("{prefix}{}", k.as_str());
        let pttl = |conn: &mut redis::aio::MultiplexedConnection| {
            let mut conn = conn.clone();
            let redis_key = redis_key.clone();
            async move { redis::cmd("PTTL").arg(&redis_key).query_async::<i64>(&mut conn).await.unwrap() }
        };
        // The caller's clock is an hour behind Redis's: the TTL is the deadline minus the caller's now.
        let now = Timestamp::from_millis(SystemClock.now().as_millis() - 3_600_000);
        let record = session(now, b"ada"); // idle deadline: now + 1 h
        store.create(&k, &record, now).await.unwrap();
        let ttl = pttl(&mut conn).await;
        assert!((3_590_000..=3_600_000).contains(&ttl), "after create: {ttl} ms");

        let change = Change { set: vec![("user".to_owned(), entry(b"bob"))], ..Change::default() };
        store.apply(&k, &change, now.after(Duration::from_secs(1800))).await.unwrap();
        let kept = pttl(&mut conn).await;
        assert!(kept <= ttl && kept > ttl - 10_000, "a change that keeps the deadline moved the TTL: {ttl} -> {kept}");

        let mut meta = record.meta;
        meta.idle_deadline = Some(now.after(Duration::from_secs(7200)));
        store.apply(&k, &Change { meta: Some(meta), ..Change::default() }, now).await.unwrap();
        let moved = pttl(&mut conn).await;
        assert!((7_190_000..=7_200_000).contains(&moved), "after moving the deadline: {moved} ms");

        meta.idle_deadline = None;
        meta.absolute_deadline = None;
        store.apply(&k, &Change { meta: Some(meta), ..Change::default() }, now).await.unwrap();
        assert_eq!(pttl(&mut conn).await, -1, "a session without a deadline keeps no TTL");
        let x: Option<String> = redis::cmd("HGET").arg(&redis_key).arg("x").query_async(&mut conn).await.unwrap();
        assert_eq!(x, None, "the deadline field of a session without one");
    }

    /// A session hash exactly as session-kit 0.2 stored it (field bytes written by hand: the
    /// postcard `Meta` and `Entry`, the deadline as text, a call id) loads and takes changes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_session_stored_by_the_previous_release_loads_and_changes() {
        let prefix = prefix();
        let _cleanup = Cleanup(prefix.clone());
        let k = key();
        let redis_key = format!("{prefix}{}", k.as_str());
        let mut conn = redis::Client::open(url()).unwrap().get_multiplexed_async_connection().await.unwrap();
        // Meta { created_at: 1_700_000_000_000, idle_deadline: Some(4_102_444_800_000),
        // absolute_deadline: None, remember_me: true, last_active: 1_700_000_000_000, lifetime: None }
        #[rustfmt::skip]
        let meta: &[u8] = &[0x80, 0xd0, 0x95, 0xff, 0xbc, 0x31, 0x01, 0x80, 0xb0, 0x8f, 0xe6, 0xb2, 0x77, 0x00, 0x01, 0x80, 0xd0, 0x95, 0xff, 0xbc, 0x31, 0x00];
        // Entry { value: b"ada", expires_at: None }
        let user: &[u8] = &[0x03, b'a', b'd', b'a', 0x00];
        redis::cmd("HSET")
            .arg(&redis_key)
            .arg("m")
            .arg(meta)
            .arg("x")
            .arg("4102444800000")
            .arg("w")
            .arg("0123456789abcdef")
            .arg("e:user")
            .arg(user)
            .query_async::<()>(&mut conn)
            .await
            .unwrap();
        let now = Timestamp::from_millis(1_700_000_100_000);
        for store in [
            RedisStore::builder(url()).prefix(&prefix).connect().await.unwrap(),
            RedisStore::builder(url()).prefix(&prefix).client_cache(10).connect().await.unwrap(),
        ] {
            let found = store.load(&k, now).await.unwrap().expect("the stored session");
            assert_eq!(found.meta.created_at, Timestamp::from_millis(1_700_000_000_000));
            assert_eq!(found.meta.idle_deadline, Some(Timestamp::from_millis(4_102_444_800_000)));
            assert!(found.meta.remember_me);
            assert_eq!(found.get("user"), Some(&entry(b"ada")));
        }
        let store = RedisStore::builder(url()).prefix(&prefix).connect().await.unwrap();
        let change = Change { set: vec![("cart".to_owned(), entry(b"3"))], ..Change::default() };
        assert_eq!(store.apply(&k, &change, now).await.unwrap(), Applied::Done);
        let found = store.load(&k, now).await.unwrap().unwrap();
        assert_eq!((found.get("user"), found.get("cart")), (Some(&entry(b"ada")), Some(&entry(b"3"))));
    }
}

#[cfg(feature = "redis-cluster")]
mod cluster {
    use super::*;

    fn urls() -> Vec<String> {
        let urls = std::env::var("SESSION_KIT_REDIS_CLUSTER_URLS").unwrap_or_else(|_| {
            panic!("SESSION_KIT_REDIS_CLUSTER_URLS is not set: list a Redis Cluster's nodes, or run `bash scripts/test.sh`")
        });
        urls.split(',').map(str::trim).filter(|u| !u.is_empty()).map(str::to_owned).collect()
    }

    /// Deletes every key under the prefix on every listed node when dropped.
    struct Cleanup(String);

    impl Drop for Cleanup {
        fn drop(&mut self) {
            for url in urls() {
                let Ok(mut conn) = redis::Client::open(url.as_str()).and_then(|c| c.get_connection()) else { continue };
                let keys: Vec<String> = match redis::Commands::scan_match(&mut conn, format!("{}*", self.0)) {
                    Ok(iter) => iter.filter_map(Result::ok).collect(),
                    Err(_) => continue,
                };
                for k in keys {
                    let _ = redis::cmd("DEL").arg(k).query::<()>(&mut conn);
                }
            }
        }
    }

    async fn store(prefix: &str, cache: bool) -> RedisStore {
        let builder = RedisStore::cluster_builder(&urls()).prefix(prefix);
        let builder = if cache { builder.client_cache(1000) } else { builder };
        builder.connect().await.unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn another_instance_is_seen_on_every_node() {
        let prefix = prefix();
        let _cleanup = Cleanup(prefix.clone());
        let here = store(&prefix, true).await;
        let plain = store(&prefix, false).await;
        // Random keys land in every node's slots over the rounds.
        for _ in 0..6 {
            another_instance_is_seen(&here, &plain).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn own_writes_are_read_back() {
        let prefix = prefix();
        let _cleanup = Cleanup(prefix.clone());
        own_writes_are_read_back_at_once(&store(&prefix, true).await).await;
    }
}
