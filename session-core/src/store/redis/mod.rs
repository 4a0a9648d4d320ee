//! The Redis store: one hash per session, changed by Lua scripts, expired natively.
//!
//! Layout (`layout.rs`): the session under key `{prefix}{store key}` is a hash with
//! - `m`: the [`Meta`](crate::record::Meta) (postcard),
//! - `x`: the record's deadline in Unix milliseconds as decimal text, absent when it has none
//!   (the scripts read it to tell live from expired at the caller's `now`),
//! - `w`: a random id of the `create` (or cluster `rename`) call that wrote the hash, so a
//!   call the cluster client sends again after losing its reply knows its own record,
//! - `d`: the entries the session was created with, as one postcard list of (key,
//!   [`Entry`](crate::record::Entry)) pairs (value and own deadline), written once by `create`
//!   and never rewritten ([`RedisLayout::Packed`], the default; absent with
//!   [`RedisLayout::PerField`], the layout of 0.1 and 0.2),
//! - `e:{entry key}`: an entry written by a change (or, per field, every entry), overriding
//!   `d`'s entry of that key; empty, it marks an entry of `d` as removed.
//!
//! A cluster `rename` leaves a tombstone at the old key: a hash with only `t` (the id of the
//! rename call) that expires natively after a minute (or twice the response timeout, if that
//! is longer); every operation takes it for "no session".
//!
//! A hash of fields is what lets concurrent requests that change different fields both win
//! without a read before each write: `apply` writes only the changed fields, in one script
//! that first checks the session is live (so a change never brings a destroyed session back).
//! Packing the created entries into `d` keeps that (changes never touch `d`) while a load reads
//! a few hash fields rather than one per session field: Redis answers an `HGETALL` of 50
//! fields in 7.3 µs against 1.2 µs for one blob, and the client parses each reply element
//! (about 1,500 instructions apiece in the `redis` crate).
//! An owner's sessions (`#[session(owner)]`) are listed through an index that is a record of
//! its own, in another hash slot than the sessions in a cluster, so no script updates both:
//! the index is a hint, and a listing checks each member's record (live, owner field still
//! naming the owner) and prunes the rest (see `session_core::owner`; the conformance suite
//! races listings against logins, logouts and owner changes on a cluster too).
//!
//! Round trips: `load` is one `HGETALL`, read straight from the reply; `create` and `apply`
//! are one `EVALSHA` each; `delete` is one `DEL`. A script that Redis does not know yet costs
//! one extra `SCRIPT LOAD` the first time. The scripts are the `.lua` files beside this one;
//! `apply` reads the two liveness fields once, writes the changed fields, and sets the native
//! TTL only when the deadline moved (to `x - now`, computed by the caller from its own clock).
//!
//! With the client-side cache ([`RedisStoreBuilder::client_cache`], `cache.rs`), a `load` of a
//! session this process read before, and that nobody changed since, costs no round trip.
//!
//! `rename` (for `cycle_id`) must leave a complete copy of the session under the old or the
//! new key whatever fails:
//! - On one server it is one `EVALSHA` of one script over both keys (`rename.lua`): the old
//!   record must be live and the new key free, then `RENAME` moves the hash. Redis runs a
//!   script whole or not at all, so the record is under exactly one key, also when the reply
//!   is lost.
//! - In a cluster the two keys live in different hash slots, where no script may touch both,
//!   so the move is three scripts, each on one key, writing the new key before releasing the
//!   old one: `snapshot.lua` reads the old hash and a digest of it; `create.lua` stores the
//!   copy under the new key (refused if a live record is there); `release.lua` replaces the
//!   old hash by a tombstone only if its digest is unchanged. If it changed meanwhile, the
//!   copy is deleted and the move starts over (up to five times), so a concurrent change is
//!   not lost; if the session was destroyed meanwhile, the copy is deleted and the answer is
//!   `Gone`. Up to the release there is always the old record; after it, the copy. If the
//!   release's reply is lost, both may exist and the error is
//!   [`StoreError::OutcomeUnknown`]: the engine then finds the copy and deletes the old key.
//!   A failure before the release deletes the copy again and is a plain error (the old
//!   record is untouched); if even that fails, it is unknown.
//!
//! Errors of writes: when a command was sent and its reply never came (connection dropped,
//! response timeout), the write may have happened and the error is
//! [`StoreError::OutcomeUnknown`]; a write that surely did not run (a refused connection or an
//! error reply on one server) is [`StoreError::Backend`]. The cluster client sends a command
//! again when its connection broke (a bounded number of times), so in a cluster the last
//! error says nothing about the earlier attempts: a failed write there is reported as
//! unknown (but for the rename case above), and every script answers a resend as it
//! answered the first send (`apply` and `DEL` by nature, `create` through `w`, the release
//! through its tombstone).

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, ErrorKind, Pipeline, RedisError, RedisFuture, Script, Value};

use super::{Applied, Created, Renamed, Store};
use crate::error::StoreError;
use crate::id::StoreKey;
use crate::record::{Change, Record};
use crate::time::Timestamp;

mod cache;
mod layout;

use cache::{Lookup, Tracked};
pub use layout::RedisLayout;
use layout::{decode_reply, encode, entry_field, meta_fields, record_fields, ttl_arg, EXPIRES, META};

const STORE: &str = "redis";

/// Liveness at the caller's clock, the native TTL that follows it, the digest of a hash: for
/// the rename scripts.
const LUA_COMMON: &str = include_str!("common.lua");

struct Scripts {
    create: Script,
    apply: Script,
    rename: Script,
    #[cfg(feature = "redis-cluster")]
    snapshot: Script,
    #[cfg(feature = "redis-cluster")]
    release: Script,
    collect: Script,
}

static SCRIPTS: LazyLock<Scripts> = LazyLock::new(|| {
    let with_common = |body: &str| Script::new(&format!("{LUA_COMMON}{body}"));
    Scripts {
        create: Script::new(include_str!("create.lua")),
        apply: Script::new(include_str!("apply.lua")),
        rename: with_common(include_str!("rename.lua")),
        #[cfg(feature = "redis-cluster")]
        snapshot: with_common(include_str!("snapshot.lua")),
        #[cfg(feature = "redis-cluster")]
        release: with_common(include_str!("release.lua")),
        collect: Script::new(include_str!("collect.lua")),
    }
});

/// How many collection scripts run at once during [`Store::collect_expired`].
const COLLECT_CONCURRENCY: usize = 32;

/// How often a cluster `rename` starts over because the session changed under it before
/// giving up (the old record is then left as it is).
#[cfg(feature = "redis-cluster")]
const RENAME_ATTEMPTS: usize = 5;

/// The shortest life of a rename's tombstone: it must outlive every resend of the release
/// by the cluster client, which all happen within one response timeout.
#[cfg(feature = "redis-cluster")]
const TOMBSTONE_MIN_TTL: Duration = Duration::from_secs(60);

const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);
#[cfg(feature = "redis-cluster")]
const DEFAULT_CLUSTER_RETRIES: u32 = 3;

/// A connection to one Redis server or to a cluster; cheap to clone (both multiplex).
#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    #[cfg(feature = "redis-cluster")]
    Cluster(redis::cluster_async::ClusterConnection),
}

impl Conn {
    /// Whether a failed command surely did not run, so its error may say "not done".
    fn surely_not_run(&self, e: &RedisError) -> bool {
        // Refused by the client itself: nothing was sent.
        if matches!(e.kind(), ErrorKind::Client | ErrorKind::InvalidClientConfig) {
            return true;
        }
        match self {
            // One attempt per command: no connection, or an error reply, means it did not run
            // (the scripts fail, if ever, before they write).
            Self::Single(_) => {
                e.is_connection_refusal()
                    || matches!(e.kind(), ErrorKind::Server(_) | ErrorKind::Extension | ErrorKind::AuthenticationFailed)
            }
            // The client resends a command whose connection broke; the error is the last
            // attempt's, and an earlier one may have run.
            #[cfg(feature = "redis-cluster")]
            Self::Cluster(_) => false,
        }
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            #[cfg(feature = "redis-cluster")]
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(pipeline, offset, count),
            #[cfg(feature = "redis-cluster")]
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            #[cfg(feature = "redis-cluster")]
            Self::Cluster(c) => c.get_db(),
        }
    }
}

/// Sessions in Redis (feature `redis`), or in a Redis Cluster (feature `redis-cluster`).
///
/// Pick it when several app servers share sessions and you run Redis anyway: loads and
/// changes cost one round trip each, concurrent changes to different fields merge inside
/// Redis (a Lua script per change), and records vanish on their own through Redis's native
/// expiry, set from the record's deadline as the app's clock sees it. For sessions that must
/// survive a Redis restart, configure Redis persistence, or pick an SQL store.
///
/// Connect with [`connect`](Self::connect) or [`cluster`](Self::cluster), or set timeouts
/// first with [`builder`](Self::builder) or [`cluster_builder`](Self::cluster_builder).
///
/// Timeouts (defaults): connecting 2 s per attempt, each operation's answer 5 s; in a
/// cluster, 3 retries per request, tens of milliseconds apart. Change them with the builders.
///
/// The connection reconnects by itself: while Redis is down, operations fail with
/// [`StoreError::Backend`] (requests get a 503), and work again once it is back. A write whose
/// reply was lost or timed out fails with [`StoreError::OutcomeUnknown`] instead: it may have
/// been done. (In a cluster the client resends failed requests, so every failed write there
/// is unknown.) `rename` (`cycle_id` at login) keeps a whole copy of the session under the
/// old or the new key whatever fails: one script on one server; in a cluster, where the two
/// keys live on different nodes, a copy written before the old record is released.
///
/// Still start a [`Collector`](crate::Collector) if you want expired records gone at the
/// app's clock rather than Redis's; native expiry alone keeps memory bounded.
///
/// [`count_live`](Store::count_live) is O(sessions), like a collection: it `SCAN`s the prefix
/// (on every primary of a cluster) and reads each record's deadline, a round trip per
/// thousand keys.
///
/// Reads without a round trip: see [`RedisStoreBuilder::client_cache`].
///
/// Cheap to clone: clones share the connection (and the client-side cache).
#[derive(Clone)]
pub struct RedisStore {
    conn: Conn,
    prefix: String,
    #[cfg(feature = "redis-cluster")]
    tombstone_ttl: Duration,
    cache: Option<Arc<Tracked>>,
    layout: RedisLayout,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.conn {
            Conn::Single(_) => "single",
            #[cfg(feature = "redis-cluster")]
            Conn::Cluster(_) => "cluster",
        };
        f.debug_struct("RedisStore")
            .field("connection", &kind)
            .field("prefix", &self.prefix)
            .field("client_cache", &self.cache.is_some())
            .field("layout", &self.layout)
            .finish()
    }
}

fn backend(e: impl Into<crate::error::BoxError>) -> StoreError {
    StoreError::backend(STORE, e)
}

/// Where a [`RedisStoreBuilder`] connects.
#[derive(Clone)]
enum Target {
    Single(String),
    #[cfg(feature = "redis-cluster")]
    Cluster(Vec<String>),
}

/// Settings of a [`RedisStore`] before it connects: from [`RedisStore::builder`] or
/// [`RedisStore::cluster_builder`], finished by [`connect`](Self::connect).
///
/// ```no_run
/// # async fn demo() -> Result<(), session_core::StoreError> {
/// use std::time::Duration;
/// use session_core::RedisStore;
///
/// let store = RedisStore::builder("redis://127.0.0.1:6379")
///     .connect_timeout(Duration::from_secs(1))
///     .response_timeout(Duration::from_secs(2))
///     .prefix("shop-session:")
///     .connect()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
#[must_use = "a builder does nothing until `connect` is called"]
pub struct RedisStoreBuilder {
    target: Target,
    connect_timeout: Duration,
    response_timeout: Duration,
    prefix: String,
    #[cfg(feature = "redis-cluster")]
    cluster_retries: u32,
    client_cache: Option<usize>,
    layout: RedisLayout,
}

impl std::fmt::Debug for RedisStoreBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // URLs may carry a password: show only what kind of target it is.
        let target = match &self.target {
            Target::Single(_) => "single".to_owned(),
            #[cfg(feature = "redis-cluster")]
            Target::Cluster(nodes) => format!("cluster of {} listed nodes", nodes.len()),
        };
        let mut d = f.debug_struct("RedisStoreBuilder");
        d.field("target", &target)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("prefix", &self.prefix);
        #[cfg(feature = "redis-cluster")]
        d.field("cluster_retries", &self.cluster_retries);
        d.field("client_cache", &self.client_cache).field("layout", &self.layout);
        d.finish()
    }
}

impl RedisStoreBuilder {
    fn new(target: Target) -> Self {
        Self {
            target,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            response_timeout: DEFAULT_RESPONSE_TIMEOUT,
            prefix: RedisStore::DEFAULT_PREFIX.to_owned(),
            #[cfg(feature = "redis-cluster")]
            cluster_retries: DEFAULT_CLUSTER_RETRIES,
            client_cache: None,
            layout: RedisLayout::default(),
        }
    }

    /// How long one attempt to open a connection may take (default 2 s). Must not be zero.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one operation may wait for Redis's answer (default 5 s); in a cluster this
    /// bounds the operation including the client's retries. Must not be zero.
    ///
    /// A write that times out fails with [`StoreError::OutcomeUnknown`]: Redis may still
    /// have done it.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// Files sessions under keys starting with `prefix` (default `"session:"`), e.g. to share
    /// one Redis among apps. [`collect_expired`](Store::collect_expired) and
    /// [`count_live`](Store::count_live) only look at keys with this prefix.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How often the cluster client retries a request that failed (default 3), e.g. after a
    /// `MOVED` redirection or a broken connection, waiting a random 10 to 80 ms (growing with
    /// each try) between tries.
    ///
    /// Kept low so that with a node lost, requests for its slots fail within a fraction of a
    /// second rather than each waiting out the response timeout (the `redis` crate's own
    /// default, 16 retries from 1.28 s apart, does that). Only used by
    /// [`RedisStore::cluster_builder`].
    #[cfg(feature = "redis-cluster")]
    pub fn cluster_retries(mut self, retries: u32) -> Self {
        self.cluster_retries = retries;
        self
    }

    /// Keeps up to `max_sessions` sessions this process has read in a client-side cache, kept
    /// exact by Redis (server-assisted client-side caching, Redis 6 or later): a read-only
    /// request for a cached session costs no round trip. Off by default.
    ///
    /// How it stays exact: the store opens one more connection to the server (in a cluster,
    /// to each primary), speaking RESP3, on which it asks Redis to push the name of every key
    /// under the prefix that anyone changes, deletes or lets expire (`CLIENT TRACKING ON BCAST
    /// PREFIX`); the cached copy is dropped when the name arrives. A read's answer that such a
    /// message overtook is not kept. Writes are unchanged: every change still runs its script
    /// on the server, which checks the session is live and merges it field by field, so the
    /// cache can never make a change resurrect a destroyed session or lose a concurrent
    /// update; and a write through this store drops its own cached copy first, so the next
    /// load in this process reads what it wrote.
    ///
    /// How stale a cached session can be: another app server's change or destroy is seen here
    /// once its invalidation message arrives, one message on the network after Redis runs the
    /// change. Measured with two store instances on one loopback Redis (`redis_staleness` in
    /// the bench member, 2,000 rounds, on a 2-core machine running a dozen other jobs), from
    /// the writer's reply to the other instance's load showing the write: p50 25 µs, p99
    /// 3.5–4 ms, max 16 ms (the tail is the loaded machine's scheduling; on an idle one it
    /// stays well under a millisecond). If a tracking connection fails, the cache is dropped
    /// and off (every load goes to Redis) until tracking is set up again; if one dies
    /// silently (a partition without a reset), a heartbeat every 0.5 s stops the cache within
    /// 1.5 s. Within those bounds a request on this server may still open a session another
    /// server destroyed an instant before, as it could have had it arrived an instant
    /// earlier; its writes are refused all the same.
    ///
    /// Costs: memory for up to `max_sessions` decoded sessions (least recently used ones are
    /// dropped first), one connection per server, a `PING` per server every 0.5 s, and one
    /// invalidation message per change of any session under the prefix, to every app server
    /// with the cache on. Set the prefix with [`prefix`](Self::prefix) here: a store moved to
    /// another prefix later (`with_prefix`) does not use the cache.
    ///
    /// `connect` fails if the server refuses tracking (Redis before 6, or a proxy that does
    /// not pass RESP3 through). `max_sessions` must not be zero.
    pub fn client_cache(mut self, max_sessions: usize) -> Self {
        self.client_cache = Some(max_sessions);
        self
    }

    /// How the sessions this store creates lay out their fields (default
    /// [`RedisLayout::Packed`]). Sessions of either layout are read and changed alike; set
    /// [`RedisLayout::PerField`] only while instances of session-kit 0.2 share the Redis (see
    /// the README, "Upgrading from 0.2").
    pub fn layout(mut self, layout: RedisLayout) -> Self {
        self.layout = layout;
        self
    }

    /// Connects. One server: the connection reconnects by itself later. A cluster: the slot
    /// map is read from the listed nodes. With the client-side cache, tracking is set up on
    /// every server before this returns.
    pub async fn connect(self) -> Result<RedisStore, StoreError> {
        super::positive(STORE, "connect_timeout", self.connect_timeout)?;
        super::positive(STORE, "response_timeout", self.response_timeout)?;
        if self.client_cache == Some(0) {
            return Err(StoreError::Config(format!("{STORE} store: the client cache must hold at least one session")));
        }
        // The connection, and where the client cache's tracking connections go.
        let (conn, servers) = match &self.target {
            Target::Single(url) => {
                let client = redis::Client::open(url.as_str()).map_err(backend)?;
                let servers = cache::Servers::Single(client.get_connection_info().clone());
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.connect_timeout))
                    .set_response_timeout(Some(self.response_timeout))
                    // Each failed request starts a reconnection of its own; do not stall it
                    // retrying.
                    .set_number_of_retries(1);
                (Conn::Single(client.get_connection_manager_with_config(config).await.map_err(backend)?), servers)
            }
            #[cfg(feature = "redis-cluster")]
            Target::Cluster(nodes) => {
                let client = redis::cluster::ClusterClient::builder(nodes.iter().map(String::as_str))
                    .connection_timeout(self.connect_timeout)
                    // Per attempt and, by default, for the whole request with its retries.
                    .response_timeout(self.response_timeout)
                    .retries(self.cluster_retries)
                    // The crate's defaults (16 retries, waits from 1.28 s) make every request for
                    // a lost node's slots wait out the response timeout.
                    .min_retry_wait(10)
                    .max_retry_wait(100)
                    .build()
                    .map_err(backend)?;
                let conn = client.get_async_connection().await.map_err(backend)?;
                let first = nodes
                    .first()
                    .ok_or_else(|| StoreError::Config(format!("{STORE} store: no cluster node listed")))?;
                let template = redis::IntoConnectionInfo::into_connection_info(first.as_str()).map_err(backend)?;
                let servers = cache::Servers::Cluster { template, conn: conn.clone() };
                (Conn::Cluster(conn), servers)
            }
        };
        let cache = match self.client_cache {
            None => None,
            Some(max_sessions) => {
                let settings =
                    cache::Settings { connect_timeout: self.connect_timeout, response_timeout: self.response_timeout };
                let tracked = Tracked::start(&self.prefix, max_sessions, servers, settings).await.map_err(|e| {
                    backend(format!("the client cache could not set up tracking (it needs Redis 6 or later): {e}"))
                })?;
                Some(Arc::new(tracked))
            }
        };
        Ok(RedisStore {
            conn,
            prefix: self.prefix,
            #[cfg(feature = "redis-cluster")]
            tombstone_ttl: TOMBSTONE_MIN_TTL.max(self.response_timeout.saturating_mul(2)),
            cache,
            layout: self.layout,
        })
    }
}

impl RedisStore {
    /// The key prefix used unless `RedisStoreBuilder::prefix` says otherwise.
    pub const DEFAULT_PREFIX: &'static str = "session:";

    /// Connects to one Redis server, e.g. `redis://127.0.0.1:6379` (`rediss://` for TLS needs
    /// a TLS feature of the `redis` crate), with the default timeouts (connect 2 s, response
    /// 5 s). The connection reconnects by itself.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::builder(url).connect().await
    }

    /// Settings for a store on one Redis server at `url`: timeouts and key prefix, then
    /// `connect`.
    pub fn builder(url: impl Into<String>) -> RedisStoreBuilder {
        RedisStoreBuilder::new(Target::Single(url.into()))
    }

    /// Connects to a Redis Cluster through any of its nodes, e.g.
    /// `["redis://127.0.0.1:7000", "redis://127.0.0.1:7001"]` (feature `redis-cluster`), with
    /// the default timeouts and retries (see [`cluster_builder`](Self::cluster_builder)).
    ///
    /// A session is one key, so all of it lives in one hash slot.
    #[cfg(feature = "redis-cluster")]
    pub async fn cluster<S: AsRef<str>>(nodes: &[S]) -> Result<Self, StoreError> {
        Self::cluster_builder(nodes).connect().await
    }

    /// Settings for a store on the Redis Cluster that `nodes` belong to: timeouts, retries
    /// and key prefix, then `connect` (feature `redis-cluster`).
    #[cfg(feature = "redis-cluster")]
    pub fn cluster_builder<S: AsRef<str>>(nodes: &[S]) -> RedisStoreBuilder {
        RedisStoreBuilder::new(Target::Cluster(nodes.iter().map(|n| n.as_ref().to_owned()).collect()))
    }

    /// Files sessions under keys starting with `prefix` instead of `"session:"`, e.g. to
    /// share one Redis among apps. [`collect_expired`](Store::collect_expired) and
    /// [`count_live`](Store::count_live) only look at keys with this prefix.
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The key prefix in use.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn redis_key(&self, key: &StoreKey) -> String {
        format!("{}{}", self.prefix, key.as_str())
    }

    /// A failed write: unknown outcome unless it surely did not run.
    fn write_error(&self, e: RedisError) -> StoreError {
        if self.conn.surely_not_run(&e) {
            backend(e)
        } else {
            StoreError::outcome_unknown(STORE, e)
        }
    }

    /// `SCAN` pattern matching exactly the keys under the prefix.
    fn pattern(&self) -> String {
        let mut p = String::with_capacity(self.prefix.len() + 1);
        for c in self.prefix.chars() {
            if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                p.push('\\');
            }
            p.push(c);
        }
        p.push('*');
        p
    }

    /// The servers that hold keys: the one server, or every primary of the cluster.
    async fn nodes(&self) -> Result<Vec<Node>, StoreError> {
        match &self.conn {
            Conn::Single(c) => Ok(vec![Node::Single(c.clone())]),
            #[cfg(feature = "redis-cluster")]
            Conn::Cluster(c) => Ok(primaries(c)
                .await
                .map_err(backend)?
                .into_iter()
                .map(|(host, port)| {
                    Node::Primary(c.clone(), redis::cluster_routing::SingleNodeRoutingInfo::ByAddress { host, port })
                })
                .collect()),
        }
    }

    /// The keys under the prefix, on every node that holds data.
    async fn scan_keys(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        let pattern = self.pattern();
        let mut keys = Vec::new();
        for mut node in self.nodes().await? {
            let mut cursor = String::from("0");
            loop {
                let (next, batch) = node.scan(&cursor, &pattern).await?;
                keys.extend(batch);
                if next == "0" {
                    break;
                }
                cursor = next;
            }
        }
        Ok(keys)
    }
}

/// The `(host, port)` of every primary of the cluster.
#[cfg(feature = "redis-cluster")]
async fn primaries(conn: &redis::cluster_async::ClusterConnection) -> Result<Vec<(String, u16)>, RedisError> {
    use redis::cluster_routing::{MultipleNodeRoutingInfo, RoutingInfo};
    // Without a response policy, the answers of all primaries come back as a map keyed by each
    // node's `host:port`: that is the list of primaries.
    let pings = conn
        .clone()
        .route_command(redis::cmd("PING"), RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None)))
        .await?;
    let Value::Map(answers) = pings else {
        return Err(RedisError::from((ErrorKind::Client, "unexpected answer listing cluster primaries")));
    };
    let mut nodes = Vec::with_capacity(answers.len());
    for (address, _) in answers {
        let address: String = redis::from_redis_value(address)?;
        let node = address.rsplit_once(':').and_then(|(h, p)| Some((h.to_owned(), p.parse::<u16>().ok()?)));
        nodes.push(
            node.ok_or_else(|| RedisError::from((ErrorKind::Client, "unexpected cluster node address", address)))?,
        );
    }
    Ok(nodes)
}

/// How many keys one `SCAN` step asks a node for; counting reads about that many records per
/// round trip.
const SCAN_COUNT: usize = 1000;

/// One server holding keys of the store, with the connection that reaches it.
enum Node {
    Single(ConnectionManager),
    /// A cluster primary: commands go to it by address, whatever slots their keys are in.
    #[cfg(feature = "redis-cluster")]
    Primary(redis::cluster_async::ClusterConnection, redis::cluster_routing::SingleNodeRoutingInfo),
}

impl Node {
    async fn command(&mut self, cmd: Cmd) -> Result<Value, RedisError> {
        match self {
            Self::Single(c) => c.req_packed_command(&cmd).await,
            #[cfg(feature = "redis-cluster")]
            Self::Primary(c, route) => {
                c.route_command(cmd, redis::cluster_routing::RoutingInfo::SingleNode(route.clone())).await
            }
        }
    }

    /// The answers to a (non-atomic) pipeline of `count` commands, in one round trip.
    async fn pipeline(&mut self, pipeline: Pipeline, count: usize) -> Result<Vec<Value>, RedisError> {
        match self {
            Self::Single(c) => c.req_packed_commands(&pipeline, 0, count).await,
            #[cfg(feature = "redis-cluster")]
            Self::Primary(c, route) => c.route_pipeline(pipeline, 0, count, route.clone()).await,
        }
    }

    /// One `SCAN ... MATCH pattern` step from `cursor`: the next cursor (`"0"` at the end) and
    /// the keys found.
    async fn scan(&mut self, cursor: &str, pattern: &str) -> Result<(String, Vec<Vec<u8>>), StoreError> {
        let mut cmd = redis::cmd("SCAN");
        cmd.arg(cursor).arg("MATCH").arg(pattern).arg("COUNT").arg(SCAN_COUNT);
        let answer = self.command(cmd).await.map_err(backend)?;
        redis::from_redis_value(answer).map_err(backend)
    }

    /// How many of `keys` (all on this node) hold a session live at `now`, in one round trip:
    /// `m` tells a session from a tombstone, `x` is its deadline, as the scripts read them.
    async fn count_live(&mut self, keys: &[Vec<u8>], now: Timestamp) -> Result<u64, StoreError> {
        if keys.is_empty() {
            return Ok(0);
        }
        let mut pipeline = redis::pipe();
        for key in keys {
            pipeline.cmd("HMGET").arg(key).arg(META).arg(EXPIRES);
        }
        let mut live = 0;
        for answer in self.pipeline(pipeline, keys.len()).await.map_err(backend)? {
            // Both nil when the key went away after the scan listed it.
            let (meta, deadline): (Option<Vec<u8>>, Option<String>) =
                redis::from_redis_value(answer).map_err(backend)?;
            let deadline = match deadline.map(|x| x.parse::<u64>()) {
                None => None,
                Some(Ok(ms)) => Some(ms),
                Some(Err(e)) => return Err(backend(format!("a session's deadline field is not a number: {e}"))),
            };
            if meta.is_some() && deadline.is_none_or(|ms| ms > now.as_millis()) {
                live += 1;
            }
        }
        Ok(live)
    }
}

/// A fresh id for one `create` or `rename` call, so a resent script knows its own writes.
fn call_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

impl RedisStore {
    /// One server: one script moves the hash, so it is under exactly one key whatever fails.
    async fn rename_atomic(&self, old: &str, new: &str, now: Timestamp) -> Result<Renamed, StoreError> {
        let moved: i64 = SCRIPTS
            .rename
            .key(old)
            .key(new)
            .arg(now.as_millis())
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| self.write_error(e))?;
        Ok(match moved {
            1 => Renamed::Done,
            2 => Renamed::KeyTaken,
            _ => Renamed::Gone,
        })
    }

    /// A cluster: copy to the new key, then release the old one if it is unchanged since it
    /// was read (else drop the copy and start over). See the module docs.
    #[cfg(feature = "redis-cluster")]
    async fn rename_by_copy(&self, old: &str, new: &str, now: Timestamp) -> Result<Renamed, StoreError> {
        let mut conn = self.conn.clone();
        let call = call_id();
        for _ in 0..RENAME_ATTEMPTS {
            let snapshot: Option<(String, Vec<Vec<u8>>)> =
                SCRIPTS.snapshot.key(old).arg(now.as_millis()).invoke_async(&mut conn).await.map_err(backend)?;
            let Some((digest, fields)) = snapshot else { return Ok(Renamed::Gone) };
            // The copy's own `w` (this call's id) replaces the one in `fields`.
            let copied = SCRIPTS
                .create
                .key(new)
                .arg(now.as_millis())
                .arg(&call)
                .arg(ttl_arg(layout::deadline_in(&fields), now))
                .arg(&fields)
                .invoke_async::<i64>(&mut conn)
                .await;
            match copied {
                Ok(1) => {}
                Ok(_) => return Ok(Renamed::KeyTaken),
                Err(e) if self.conn.surely_not_run(&e) => return Err(backend(e)),
                // The copy may be there: drop it, and the old record is the only one again.
                Err(e) => {
                    return Err(match self.drop_copy(new).await {
                        Ok(()) => backend(e),
                        Err(_) => StoreError::outcome_unknown(STORE, e),
                    });
                }
            }
            let released = SCRIPTS
                .release
                .key(old)
                .arg(now.as_millis())
                .arg(&digest)
                .arg(&call)
                .arg(u64::try_from(self.tombstone_ttl.as_millis()).unwrap_or(u64::MAX))
                .invoke_async::<i64>(&mut conn)
                .await;
            match released {
                Ok(1) => return Ok(Renamed::Done),
                // Changed since the snapshot: a copy of the old state must not win.
                Ok(2) => {
                    if let Err(e) = self.drop_copy(new).await {
                        return Err(backend(format!(
                            "the session changed during a rename, and its outdated copy could not be removed: {e}"
                        )));
                    }
                }
                // Destroyed or expired meanwhile: the copy must not bring it back.
                Ok(_) => {
                    if let Err(e) = self.drop_copy(new).await {
                        tracing::warn!(
                            %e,
                            "a session destroyed during a rename left a copy under a key no client knows; \
                             it expires with the session's deadline"
                        );
                    }
                    return Ok(Renamed::Gone);
                }
                Err(e) if self.conn.surely_not_run(&e) => {
                    return Err(match self.drop_copy(new).await {
                        Ok(()) => backend(e),
                        Err(_) => StoreError::outcome_unknown(STORE, e),
                    });
                }
                // The old record, the copy, or both, are there.
                Err(e) => return Err(StoreError::outcome_unknown(STORE, e)),
            }
        }
        Err(backend(format!("the session changed during each of {RENAME_ATTEMPTS} attempts to rename it")))
    }

    /// Deletes the copy a cluster rename wrote under `new`; no client knows that key yet.
    #[cfg(feature = "redis-cluster")]
    async fn drop_copy(&self, new: &str) -> Result<(), RedisError> {
        redis::cmd("DEL").arg(new).query_async::<()>(&mut self.conn.clone()).await
    }
}

impl RedisStore {
    /// Reads the session hash under `redis_key` in one `HGETALL`, decoding the reply in place.
    ///
    /// (A script packing the hash into one string spares the client most of its parsing, but
    /// costs Redis 3 µs more at 5 fields and 27 µs more at 50: a plain `HGETALL` is faster.)
    async fn fetch(&self, redis_key: &str) -> Result<Option<Record>, StoreError> {
        let mut cmd = redis::cmd("HGETALL");
        cmd.arg(redis_key);
        let reply = self.conn.clone().req_packed_command(&cmd).await.map_err(backend)?;
        match decode_reply(&reply) {
            Ok(record) => Ok(record),
            Err(reason) => {
                let key = redis_key.get(self.prefix.len()..).and_then(StoreKey::parse);
                tracing::warn!(?key, reason, "unreadable session in redis; treating it as absent");
                Ok(None)
            }
        }
    }

    /// Drops `redis_key` from the client cache: this process is about to change it, or has.
    fn forget(&self, redis_key: &str) {
        if let Some(tracked) = &self.cache {
            tracked.cache.forget(redis_key);
        }
    }
}

/// `record` as a load at `now` returns it: `None` once expired, without expired entries.
fn live_at(mut record: Record, now: Timestamp) -> Option<Record> {
    if record.meta.is_expired(now) {
        return None;
    }
    record.drop_expired_entries(now);
    Some(record)
}

#[async_trait]
impl Store for RedisStore {
    async fn load(&self, key: &StoreKey, now: Timestamp) -> Result<Option<Record>, StoreError> {
        let redis_key = self.redis_key(key);
        let Some(tracked) = &self.cache else {
            return Ok(self.fetch(&redis_key).await?.and_then(|record| live_at(record, now)));
        };
        match tracked.cache.lookup(&redis_key) {
            Lookup::Hit(record) => {
                let live = live_at(Record::clone(&record), now);
                if live.is_none() {
                    tracked.cache.forget(&redis_key);
                }
                Ok(live)
            }
            Lookup::Bypass => Ok(self.fetch(&redis_key).await?.and_then(|record| live_at(record, now))),
            Lookup::Fill(ticket) => {
                let found = self.fetch(&redis_key).await;
                let found = match found {
                    Ok(found) => found.filter(|record| !record.meta.is_expired(now)),
                    Err(e) => {
                        tracked.cache.fill(&redis_key, ticket, None);
                        return Err(e);
                    }
                };
                tracked.cache.fill(&redis_key, ticket, found.as_ref());
                Ok(found.and_then(|record| live_at(record, now)))
            }
        }
    }

    async fn create(&self, key: &StoreKey, record: &Record, now: Timestamp) -> Result<Created, StoreError> {
        let pairs = record_fields(record, self.layout)?;
        let redis_key = self.redis_key(key);
        self.forget(&redis_key);
        let stored = SCRIPTS
            .create
            .key(&redis_key)
            .arg(now.as_millis())
            .arg(call_id())
            .arg(ttl_arg(record.meta.expires_at(), now))
            .arg(pairs)
            .invoke_async::<i64>(&mut self.conn.clone())
            .await;
        self.forget(&redis_key);
        let stored = stored.map_err(|e| self.write_error(e))?;
        Ok(if stored == 1 { Created::Stored } else { Created::KeyTaken })
    }

    async fn apply(&self, key: &StoreKey, change: &Change, now: Timestamp) -> Result<Applied, StoreError> {
        let mut removals: Vec<Vec<u8>> = change.remove.iter().map(|k| entry_field(k)).collect();
        let mut pairs = Vec::with_capacity(4 + 2 * change.set.len());
        // The native TTL moves only with the deadline: '' keeps it.
        let ttl = match &change.meta {
            Some(meta) => {
                meta_fields(meta, &mut pairs, &mut removals)?;
                ttl_arg(meta.expires_at(), now)
            }
            None => String::new(),
        };
        for (k, entry) in &change.set {
            pairs.push(entry_field(k));
            pairs.push(encode(entry)?);
        }
        let redis_key = self.redis_key(key);
        self.forget(&redis_key);
        let applied = SCRIPTS
            .apply
            .key(&redis_key)
            .arg(now.as_millis())
            .arg(removals.len())
            .arg(ttl)
            .arg(removals)
            .arg(pairs)
            .invoke_async::<i64>(&mut self.conn.clone())
            .await;
        self.forget(&redis_key);
        let applied = applied.map_err(|e| self.write_error(e))?;
        Ok(if applied == 1 { Applied::Done } else { Applied::Gone })
    }

    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        let redis_key = self.redis_key(key);
        self.forget(&redis_key);
        let deleted = redis::cmd("DEL").arg(&redis_key).query_async::<()>(&mut self.conn.clone()).await;
        self.forget(&redis_key);
        deleted.map_err(|e| self.write_error(e))
    }

    /// One script on one server; copy, then release, in a cluster (see the module docs).
    async fn rename(&self, from: &StoreKey, to: &StoreKey, now: Timestamp) -> Result<Renamed, StoreError> {
        let (old, new) = (self.redis_key(from), self.redis_key(to));
        self.forget(&old);
        self.forget(&new);
        let renamed = match &self.conn {
            Conn::Single(_) => self.rename_atomic(&old, &new, now).await,
            #[cfg(feature = "redis-cluster")]
            Conn::Cluster(_) => self.rename_by_copy(&old, &new, now).await,
        };
        self.forget(&old);
        self.forget(&new);
        renamed
    }

    /// Native expiry removes records on Redis's clock; this removes, on the caller's clock,
    /// every record under the prefix whose deadline is at or before `now`: a `SCAN` of the
    /// prefix on the server (on every primary of a cluster), then one small script per key,
    /// 32 at a time, that deletes it only if it is still expired.
    async fn collect_expired(&self, now: Timestamp) -> Result<u64, StoreError> {
        let keys = self.scan_keys().await?;
        let mut removed = 0;
        let mut tasks = tokio::task::JoinSet::new();
        let mut keys = keys.into_iter();
        loop {
            while tasks.len() < COLLECT_CONCURRENCY {
                let Some(k) = keys.next() else { break };
                let mut conn = self.conn.clone();
                tasks.spawn(
                    async move { SCRIPTS.collect.key(k).arg(now.as_millis()).invoke_async::<i64>(&mut conn).await },
                );
            }
            let Some(done) = tasks.join_next().await else { break };
            removed += done.map_err(backend)?.map_err(|e| self.write_error(e))?.unsigned_abs();
        }
        Ok(removed)
    }

    /// O(sessions): a `SCAN` of the prefix on the server (on every primary of a cluster), and
    /// for each page of up to a thousand keys one pipelined round trip that reads each record's
    /// deadline. Remembers each session's key (32 bytes) while it runs, as `SCAN` may list a key
    /// twice (while Redis resizes its table, or a cluster slot moves).
    async fn count_live(&self, now: Timestamp) -> Result<u64, StoreError> {
        let pattern = self.pattern();
        let mut seen = std::collections::HashSet::new();
        let mut live = 0;
        for mut node in self.nodes().await? {
            let mut cursor = String::from("0");
            loop {
                let (next, mut keys) = node.scan(&cursor, &pattern).await?;
                // Only `{prefix}{store key}` is a session; each counts once.
                keys.retain(|k| {
                    let hex = k.get(self.prefix.len()..).and_then(|h| std::str::from_utf8(h).ok());
                    hex.and_then(StoreKey::parse).is_some_and(|key| seen.insert(key))
                });
                live += node.count_live(&keys, now).await?;
                if next == "0" {
                    break;
                }
                cursor = next;
            }
        }
        Ok(live)
    }
}
