//! The store conformance suite on a real Memcached, named by `SESSION_KIT_MEMCACHED_URL`
//! (`bash scripts/test.sh` starts one with `scripts/services/memcached.sh` and sets it). Each
//! check uses its own random key prefix, so runs never touch other data on that server.
//! Items left behind expire on their own or are evicted; no check flushes the server.

#![cfg(all(feature = "memcached", feature = "conformance"))]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test fixtures: a failed unwrap is a failed test

/// The server's address; a missing variable fails the test rather than skipping it.
fn url() -> String {
    std::env::var("SESSION_KIT_MEMCACHED_URL").unwrap_or_else(|_| {
        panic!(
            "SESSION_KIT_MEMCACHED_URL is not set: point it at a Memcached 1.6+ (e.g. tcp://127.0.0.1:11311), \
             or run `bash scripts/test.sh`, which starts one and sets it"
        )
    })
}

session_core::store_conformance!(memcached, async {
    let url = url();
    session_core::store::MemcachedStore::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("cannot reach Memcached at SESSION_KIT_MEMCACHED_URL={url}: {e}"))
        .with_prefix(format!("session-kit-test:{:016x}:", rand::random::<u64>()))
        .expect("a valid prefix")
});

// With a single connection every operation waits its turn, and one that took a second
// connection while holding the first would wait for itself until the acquire timeout.
session_core::store_conformance!(memcached_one_connection, async {
    let url = url();
    session_core::store::MemcachedStore::builder(&url)
        .pool_size(1)
        .prefix(format!("session-kit-test:{:016x}:", rand::random::<u64>()))
        .connect()
        .await
        .unwrap_or_else(|e| panic!("cannot reach Memcached at SESSION_KIT_MEMCACHED_URL={url}: {e}"))
});

/// Clones share the connection pool and so the sessions.
#[tokio::test]
async fn clones_share_sessions() {
    let url = url();
    let store = session_core::store::MemcachedStore::builder(&url)
        .prefix(format!("session-kit-test:{:016x}:", rand::random::<u64>()))
        .connect()
        .await
        .unwrap_or_else(|e| panic!("cannot reach Memcached at SESSION_KIT_MEMCACHED_URL={url}: {e}"));
    session_core::conformance::clones_share_sessions(store).await;
}
