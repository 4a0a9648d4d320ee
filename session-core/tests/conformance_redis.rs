//! The store conformance suite on a real Redis server, named by `SESSION_KIT_REDIS_URL`
//! (`bash scripts/test.sh` sets it). Each check uses its own random key prefix, and removes
//! its keys when it is done, so runs never touch other data on that server.

#![cfg(all(feature = "redis", feature = "conformance"))]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test fixtures: a failed unwrap is a failed test

use session_core::store::{RedisLayout, RedisStoreBuilder};

/// The server's URL; a missing variable fails the test rather than skipping it.
fn url() -> String {
    std::env::var("SESSION_KIT_REDIS_URL").unwrap_or_else(|_| {
        panic!(
            "SESSION_KIT_REDIS_URL is not set: point it at a Redis server (e.g. redis://127.0.0.1:6379), \
             or run `bash scripts/test.sh`, which sets it"
        )
    })
}

/// Deletes every key under `prefix` when dropped (after the check).
struct Cleanup {
    url: String,
    prefix: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let Ok(mut conn) = redis::Client::open(self.url.as_str()).and_then(|c| c.get_connection()) else { return };
        let keys: Vec<String> = match redis::Commands::scan_match(&mut conn, format!("{}*", self.prefix)) {
            Ok(iter) => iter.filter_map(Result::ok).collect(),
            Err(_) => return,
        };
        for k in keys {
            let _ = redis::cmd("DEL").arg(k).query::<()>(&mut conn);
        }
    }
}

/// A store under a random prefix of its own, set up by `configure`, and the cleanup of that
/// prefix.
async fn store_under_own_prefix(
    configure: impl FnOnce(RedisStoreBuilder) -> RedisStoreBuilder,
) -> (session_core::store::RedisStore, Cleanup) {
    let url = url();
    let prefix = format!("session-kit-test:{:016x}:", rand::random::<u64>());
    let builder = session_core::store::RedisStore::builder(url.clone()).prefix(prefix.clone());
    let store = configure(builder)
        .connect()
        .await
        .unwrap_or_else(|e| panic!("cannot reach Redis at SESSION_KIT_REDIS_URL={url}: {e}"));
    (store, Cleanup { url, prefix })
}

session_core::store_conformance!(redis_single, store_under_own_prefix(|builder| builder));

// The same checks with the client-side cache on: what the cache serves must be what Redis holds.
session_core::store_conformance!(redis_single_cached, store_under_own_prefix(|builder| builder.client_cache(1000)));

// The same checks on sessions created in the layout of 0.2 (one hash field per session field).
session_core::store_conformance!(
    redis_single_per_field,
    store_under_own_prefix(|builder| builder.layout(RedisLayout::PerField))
);

/// Clones share the connection and so the sessions.
#[tokio::test]
async fn clones_share_sessions() {
    let url = url();
    let prefix = format!("session-kit-test:{:016x}:", rand::random::<u64>());
    let _cleanup = Cleanup { url: url.clone(), prefix: prefix.clone() };
    let store = session_core::store::RedisStore::builder(url.clone())
        .prefix(prefix)
        .connect()
        .await
        .unwrap_or_else(|e| panic!("cannot reach Redis at SESSION_KIT_REDIS_URL={url}: {e}"));
    session_core::conformance::clones_share_sessions(store).await;
}

/// `count_live` counts sessions only: not a rename's tombstone (a hash with only `t`), nor a
/// key under the prefix that is no store key.
#[tokio::test]
async fn counting_skips_keys_that_are_no_live_session() {
    use session_core::{Meta, Record, Store, StoreKey, Timestamp};

    let url = url();
    let prefix = format!("session-kit-test:{:016x}:", rand::random::<u64>());
    let _cleanup = Cleanup { url: url.clone(), prefix: prefix.clone() };
    let store = session_core::store::RedisStore::builder(url.clone())
        .prefix(prefix.clone())
        .connect()
        .await
        .unwrap_or_else(|e| panic!("cannot reach Redis at SESSION_KIT_REDIS_URL={url}: {e}"));
    let now = Timestamp::from_millis(1_700_000_000_000);
    let live = StoreKey::parse(&format!("{:032x}", rand::random::<u128>())).unwrap();
    store.create(&live, &Record::new(Meta::new(now)), now).await.unwrap();

    let mut conn = redis::Client::open(url.as_str()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let tombstone = format!("{prefix}{:032x}", rand::random::<u128>());
    redis::cmd("HSET").arg(&tombstone).arg("t").arg("0123456789abcdef").query_async::<()>(&mut conn).await.unwrap();
    redis::cmd("SET").arg(format!("{prefix}not-a-session")).arg("x").query_async::<()>(&mut conn).await.unwrap();
    assert_eq!(store.count_live(now).await.unwrap(), 1);
}

/// A store of either layout reads and changes sessions the other created, so instances with
/// different layouts (a rolling upgrade) share one Redis; a removal leaves a marker only for an
/// entry packed at creation, so a record whose keys come and go (an owner's index) does not
/// grow with every key it ever had.
#[tokio::test]
async fn either_layout_reads_and_changes_sessions_of_the_other() {
    use session_core::{Applied, Change, Entry, Meta, Record, Store, StoreKey, Timestamp};

    let url = url();
    let prefix = format!("session-kit-test:{:016x}:", rand::random::<u64>());
    let _cleanup = Cleanup { url: url.clone(), prefix: prefix.clone() };
    let connect = |layout| {
        let builder = session_core::store::RedisStore::builder(url.clone()).prefix(prefix.clone()).layout(layout);
        async move { builder.connect().await.unwrap_or_else(|e| panic!("cannot reach Redis: {e}")) }
    };
    let packed = connect(RedisLayout::Packed).await;
    let per_field = connect(RedisLayout::PerField).await;
    let mut raw = redis::Client::open(url.as_str()).unwrap().get_multiplexed_async_connection().await.unwrap();

    let now = Timestamp::from_millis(1_700_000_000_000);
    let entry = |v: &[u8]| Entry { value: v.to_vec(), expires_at: None };
    let mut record = Record::new(Meta::new(now));
    record.entries = vec![("user".into(), entry(b"ada")), ("otp".into(), entry(b"123")), ("theme".into(), entry(b"x"))];
    let change = Change {
        set: vec![("user".into(), entry(b"bob")), ("lang".into(), entry(b"fr"))],
        remove: vec!["otp".into(), "never-stored".into()],
        meta: None,
    };
    let mut expected = record.clone();
    expected.apply(&change);

    for (creator, changer) in
        [(&packed, &per_field), (&per_field, &packed), (&packed, &packed), (&per_field, &per_field)]
    {
        let key = StoreKey::parse(&format!("{:032x}", rand::random::<u128>())).unwrap();
        let hash = format!("{prefix}{}", key.as_str());
        creator.create(&key, &record, now).await.unwrap();
        assert_eq!(changer.apply(&key, &change, now).await.unwrap(), Applied::Done);
        for reader in [&packed, &per_field] {
            let mut loaded = reader.load(&key, now).await.unwrap().expect("the session is live");
            loaded.entries.sort_by(|a, b| a.0.cmp(&b.0));
            let mut want = expected.clone();
            want.entries.sort_by(|a, b| a.0.cmp(&b.0));
            assert_eq!(loaded, want, "created {creator:?}, changed {changer:?}, read {reader:?}");
        }
        let fields: Vec<String> = redis::cmd("HKEYS").arg(&hash).query_async(&mut raw).await.unwrap();
        let created_packed = std::ptr::eq(creator, &packed);
        // `otp` was packed: its removal is a marker; without `d` it is simply gone.
        assert_eq!(fields.contains(&"e:otp".to_owned()), created_packed, "{fields:?}");
        assert!(!fields.contains(&"e:never-stored".to_owned()), "{fields:?}");

        // Set again after its removal, the packed entry is back.
        let again = Change { set: vec![("otp".into(), entry(b"456"))], ..Change::default() };
        changer.apply(&key, &again, now).await.unwrap();
        let loaded = creator.load(&key, now).await.unwrap().unwrap();
        assert_eq!(loaded.get("otp"), Some(&entry(b"456")));
    }
}
