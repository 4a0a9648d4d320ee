//! The store conformance suite on a real Redis server, named by `SESSION_KIT_REDIS_URL`
//! (`bash scripts/test.sh` sets it). Each check uses its own random key prefix, and removes
//! its keys when it is done, so runs never touch other data on that server.

#![cfg(all(feature = "redis", feature = "conformance"))]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test fixtures: a failed unwrap is a failed test

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

session_core::store_conformance!(redis_single, async {
    let url = url();
    let prefix = format!("session-kit-test:{:016x}:", rand::random::<u64>());
    let store = session_core::store::RedisStore::builder(url.clone())
        .prefix(prefix.clone())
        .connect()
        .await
        .unwrap_or_else(|e| panic!("cannot reach Redis at SESSION_KIT_REDIS_URL={url}: {e}"));
    (store, Cleanup { url, prefix })
});

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
