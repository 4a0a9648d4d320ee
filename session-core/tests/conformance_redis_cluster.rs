//! The store conformance suite on a real Redis Cluster, whose nodes
//! `SESSION_KIT_REDIS_CLUSTER_URLS` lists, comma-separated (`bash scripts/test.sh` starts a
//! 3-node cluster with `scripts/services/redis-cluster.sh` and sets it). Each check uses its
//! own random key prefix and removes its keys when done.

#![cfg(all(feature = "redis-cluster", feature = "conformance"))]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test fixtures: a failed unwrap is a failed test

/// The node URLs; a missing variable fails the test rather than skipping it.
fn urls() -> Vec<String> {
    let urls = std::env::var("SESSION_KIT_REDIS_CLUSTER_URLS").unwrap_or_else(|_| {
        panic!(
            "SESSION_KIT_REDIS_CLUSTER_URLS is not set: list the nodes of a Redis Cluster \
             (e.g. redis://127.0.0.1:7100,redis://127.0.0.1:7101,redis://127.0.0.1:7102), \
             or run `bash scripts/test.sh`, which starts one and sets it"
        )
    });
    urls.split(',').map(str::trim).filter(|u| !u.is_empty()).map(str::to_owned).collect()
}

/// Deletes every key under `prefix` on every listed node when dropped (after the check).
struct Cleanup {
    urls: Vec<String>,
    prefix: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for url in &self.urls {
            let Ok(mut conn) = redis::Client::open(url.as_str()).and_then(|c| c.get_connection()) else { continue };
            let keys: Vec<String> = match redis::Commands::scan_match(&mut conn, format!("{}*", self.prefix)) {
                Ok(iter) => iter.filter_map(Result::ok).collect(),
                Err(_) => continue,
            };
            for k in keys {
                // Keys a node lists are in its own slots (a replica's DEL fails harmlessly).
                let _ = redis::cmd("DEL").arg(k).query::<()>(&mut conn);
            }
        }
    }
}

session_core::store_conformance!(redis_cluster, async {
    let urls = urls();
    let prefix = format!("session-kit-test:{:016x}:", rand::random::<u64>());
    let connected = session_core::store::RedisStore::cluster_builder(&urls).prefix(prefix.clone()).connect().await;
    let store = connected
        .unwrap_or_else(|e| panic!("cannot reach the Redis Cluster at SESSION_KIT_REDIS_CLUSTER_URLS={urls:?}: {e}"));
    (store, Cleanup { urls, prefix })
});

// The same checks with the client-side cache on (tracking on every primary).
session_core::store_conformance!(redis_cluster_cached, async {
    let urls = urls();
    let prefix = format!("session-kit-test:{:016x}:", rand::random::<u64>());
    let connected = session_core::store::RedisStore::cluster_builder(&urls)
        .prefix(prefix.clone())
        .client_cache(1000)
        .connect()
        .await;
    let store = connected
        .unwrap_or_else(|e| panic!("cannot reach the Redis Cluster at SESSION_KIT_REDIS_CLUSTER_URLS={urls:?}: {e}"));
    (store, Cleanup { urls, prefix })
});

/// Clones share the cluster connection and so the sessions.
#[tokio::test]
async fn clones_share_sessions() {
    let urls = urls();
    let prefix = format!("session-kit-test:{:016x}:", rand::random::<u64>());
    let _cleanup = Cleanup { urls: urls.clone(), prefix: prefix.clone() };
    let connected = session_core::store::RedisStore::cluster_builder(&urls).prefix(prefix).connect().await;
    let store = connected
        .unwrap_or_else(|e| panic!("cannot reach the Redis Cluster at SESSION_KIT_REDIS_CLUSTER_URLS={urls:?}: {e}"));
    session_core::conformance::clones_share_sessions(store).await;
}
