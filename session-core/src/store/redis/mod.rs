//! The Redis store: one hash per session, changed by Lua scripts, expired natively.
//!
//! Layout: the session under key `{prefix}{store key}` is a hash with
//! - `m`: the [`Meta`] (postcard),
//! - `x`: the record's deadline in Unix milliseconds as decimal text, absent when it has none
//!   (the scripts read it to tell live from expired at the caller's `now`),
//! - `e:{entry key}`: one [`Entry`] (postcard: value and own deadline) per field.
//!
//! Round trips: `load` is one `HGETALL`; `create` and `apply` are one `EVALSHA` each (the
//! script checks liveness against `x` at the caller's `now`, writes, and sets the native TTL
//! to `x - now`); `delete` is one `DEL`; `rename` is two scripts (take the old hash, create the
//! new one), since in a cluster the two keys live in different slots. A script that Redis does
//! not know yet costs one extra `SCRIPT LOAD` the first time.

use std::collections::HashMap;
use std::sync::LazyLock;

use async_trait::async_trait;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Script, Value};
use serde::Serialize;

use super::{Applied, Created, Renamed, Store};
use crate::error::StoreError;
use crate::id::StoreKey;
use crate::record::{Change, Entry, Meta, Record};
use crate::time::Timestamp;

const STORE: &str = "redis";

/// Hash field of the metadata.
const META: &str = "m";
/// Hash field of the record's deadline, read by the scripts.
const EXPIRES: &str = "x";
/// Prefix of entry fields, so entry keys never clash with `m` and `x`.
const ENTRY: &str = "e:";

/// Shared by every script: liveness at the caller's clock and the native TTL that follows it.
/// Deadlines more than ten years out are kept without a native TTL (the record still expires
/// at its deadline for `load`; Redis refuses absurdly large expiry times).
const LUA_COMMON: &str = include_str!("common.lua");

/// `KEYS[1]` session; `ARGV[1]` now; `ARGV[2..]` field/value pairs of the whole hash.
/// Returns 1 when stored, 0 when a live record holds the key.
const LUA_CREATE: &str = include_str!("create.lua");

/// `KEYS[1]` session; `ARGV[1]` now; `ARGV[2]` n; `ARGV[3..2+n]` fields to remove; then
/// field/value pairs to set. Removals go first, so a field both removed and set ends set.
/// Returns 1 when applied, 0 when there is no live record (nothing written).
const LUA_APPLY: &str = include_str!("apply.lua");

/// `KEYS[1]` session; `ARGV[1]` now. Removes a live record and returns its hash; nil when
/// there is none.
const LUA_TAKE: &str = include_str!("take.lua");

/// `KEYS[1]` session; `ARGV[1]` now. Deletes the record if it has expired; returns 1 if so.
const LUA_COLLECT: &str = include_str!("collect.lua");

struct Scripts {
    create: Script,
    apply: Script,
    take: Script,
    collect: Script,
}

static SCRIPTS: LazyLock<Scripts> = LazyLock::new(|| {
    let with_common = |body: &str| Script::new(&format!("{LUA_COMMON}{body}"));
    Scripts {
        create: with_common(LUA_CREATE),
        apply: with_common(LUA_APPLY),
        take: with_common(LUA_TAKE),
        collect: Script::new(LUA_COLLECT),
    }
});

/// How many collection scripts run at once during [`Store::collect_expired`].
const COLLECT_CONCURRENCY: usize = 32;

/// A connection to one Redis server or to a cluster; cheap to clone (both multiplex).
#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    #[cfg(feature = "redis-cluster")]
    Cluster(redis::cluster_async::ClusterConnection),
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
/// The connection reconnects by itself: while Redis is down, operations fail with
/// [`StoreError::Backend`] (requests get a 503), and work again once it is back.
///
/// Still start a [`Collector`](crate::Collector) if you want expired records gone at the
/// app's clock rather than Redis's; native expiry alone keeps memory bounded.
#[derive(Clone)]
pub struct RedisStore {
    conn: Conn,
    prefix: String,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.conn {
            Conn::Single(_) => "single",
            #[cfg(feature = "redis-cluster")]
            Conn::Cluster(_) => "cluster",
        };
        f.debug_struct("RedisStore").field("connection", &kind).field("prefix", &self.prefix).finish()
    }
}

fn backend(e: impl Into<crate::error::BoxError>) -> StoreError {
    StoreError::backend(STORE, e)
}

/// Bounded waits so a dead or hung server gives an error rather than a stuck request.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);
const RESPONSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

impl RedisStore {
    /// The key prefix [`connect`](Self::connect) and [`cluster`](Self::cluster) use.
    pub const DEFAULT_PREFIX: &'static str = "session:";

    /// Connects to one Redis server, e.g. `redis://127.0.0.1:6379` (`rediss://` for TLS needs
    /// a TLS feature of the `redis` crate). The connection reconnects by itself.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(backend)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            // Each failed request starts a reconnection of its own; do not stall it retrying.
            .set_number_of_retries(1);
        let manager = client.get_connection_manager_with_config(config).await.map_err(backend)?;
        Ok(Self { conn: Conn::Single(manager), prefix: Self::DEFAULT_PREFIX.to_owned() })
    }

    /// Connects to a Redis Cluster through any of its nodes, e.g.
    /// `["redis://127.0.0.1:7000", "redis://127.0.0.1:7001"]` (feature `redis-cluster`).
    ///
    /// A session is one key, so all of it lives in one hash slot.
    #[cfg(feature = "redis-cluster")]
    pub async fn cluster<S: AsRef<str>>(nodes: &[S]) -> Result<Self, StoreError> {
        let nodes: Vec<&str> = nodes.iter().map(AsRef::as_ref).collect();
        let client = redis::cluster::ClusterClient::builder(nodes)
            .connection_timeout(CONNECT_TIMEOUT)
            .response_timeout(RESPONSE_TIMEOUT)
            .build()
            .map_err(backend)?;
        let conn = client.get_async_connection().await.map_err(backend)?;
        Ok(Self { conn: Conn::Cluster(conn), prefix: Self::DEFAULT_PREFIX.to_owned() })
    }

    /// Files sessions under keys starting with `prefix` instead of `"session:"`, e.g. to
    /// share one Redis among apps. [`collect_expired`](Store::collect_expired) only looks at
    /// keys with this prefix.
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

    /// The keys under the prefix, on every node that holds data.
    async fn scan_keys(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        let pattern = self.pattern();
        match &self.conn {
            Conn::Single(c) => scan_node(&mut c.clone(), &pattern, |conn, cmd| Box::pin(cmd.query_async(conn))).await,
            #[cfg(feature = "redis-cluster")]
            Conn::Cluster(c) => {
                use redis::cluster_routing::{MultipleNodeRoutingInfo, RoutingInfo, SingleNodeRoutingInfo};
                let mut conn = c.clone();
                // Without a response policy, the answers of all primaries come back as a map
                // keyed by each node's `host:port`: that is the list of primaries to scan.
                let pings = conn
                    .route_command(
                        redis::cmd("PING"),
                        RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None)),
                    )
                    .await
                    .map_err(backend)?;
                let Value::Map(answers) = pings else {
                    return Err(backend(format!("unexpected answer listing cluster primaries: {pings:?}")));
                };
                let mut keys = Vec::new();
                for (address, _) in answers {
                    let address: String = redis::from_redis_value(address).map_err(backend)?;
                    let (host, port) = address
                        .rsplit_once(':')
                        .and_then(|(h, p)| Some((h.to_owned(), p.parse::<u16>().ok()?)))
                        .ok_or_else(|| backend(format!("unexpected cluster node address {address:?}")))?;
                    let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host, port });
                    let found = scan_node(&mut conn, &pattern, |conn, cmd| {
                        let route = route.clone();
                        Box::pin(async move { conn.route_command(cmd.clone(), route).await })
                    })
                    .await?;
                    keys.extend(found);
                }
                Ok(keys)
            }
        }
    }
}

/// A full `SCAN ... MATCH pattern` on one node, through `send`.
async fn scan_node<C>(
    conn: &mut C,
    pattern: &str,
    send: impl for<'a> Fn(&'a mut C, &'a Cmd) -> RedisFuture<'a, Value>,
) -> Result<Vec<Vec<u8>>, StoreError> {
    let mut keys = Vec::new();
    let mut cursor = String::from("0");
    loop {
        let mut cmd = redis::cmd("SCAN");
        cmd.arg(&cursor).arg("MATCH").arg(pattern).arg("COUNT").arg(1000);
        let answer = send(conn, &cmd).await.map_err(backend)?;
        let (next, batch): (String, Vec<Vec<u8>>) = redis::from_redis_value(answer).map_err(backend)?;
        keys.extend(batch);
        if next == "0" {
            return Ok(keys);
        }
        cursor = next;
    }
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    postcard::to_allocvec(value).map_err(backend)
}

fn decode_exact<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8]) -> Option<T> {
    match postcard::take_from_bytes::<T>(bytes) {
        Ok((value, [])) => Some(value),
        _ => None,
    }
}

/// The fields `m` and `x` for `meta`.
fn meta_fields(meta: &Meta, pairs: &mut Vec<Vec<u8>>, removals: &mut Vec<Vec<u8>>) -> Result<(), StoreError> {
    pairs.push(META.into());
    pairs.push(encode(meta)?);
    match meta.expires_at() {
        Some(at) => {
            pairs.push(EXPIRES.into());
            pairs.push(at.as_millis().to_string().into_bytes());
        }
        None => removals.push(EXPIRES.into()),
    }
    Ok(())
}

fn entry_field(key: &str) -> Vec<u8> {
    let mut field = Vec::with_capacity(ENTRY.len() + key.len());
    field.extend_from_slice(ENTRY.as_bytes());
    field.extend_from_slice(key.as_bytes());
    field
}

/// Reads a session hash; `Err` names what is wrong with a corrupt one.
fn decode_hash(fields: HashMap<Vec<u8>, Vec<u8>>) -> Result<Option<Record>, &'static str> {
    if fields.is_empty() {
        return Ok(None);
    }
    let meta = fields.get(META.as_bytes()).ok_or("no metadata field")?;
    let meta: Meta = decode_exact(meta).ok_or("undecodable metadata")?;
    let mut record = Record::new(meta);
    for (field, value) in fields {
        let Some(key) = field.strip_prefix(ENTRY.as_bytes()) else { continue };
        let key = String::from_utf8(key.to_vec()).map_err(|_| "entry key is not UTF-8")?;
        let entry: Entry = decode_exact(&value).ok_or("undecodable entry")?;
        record.entries.push((key, entry));
    }
    Ok(Some(record))
}

#[async_trait]
impl Store for RedisStore {
    async fn load(&self, key: &StoreKey, now: Timestamp) -> Result<Option<Record>, StoreError> {
        let fields: HashMap<Vec<u8>, Vec<u8>> = redis::cmd("HGETALL")
            .arg(self.redis_key(key))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(backend)?;
        match decode_hash(fields) {
            Ok(Some(mut record)) if !record.meta.is_expired(now) => {
                record.drop_expired_entries(now);
                Ok(Some(record))
            }
            Ok(_) => Ok(None),
            Err(reason) => {
                tracing::warn!(?key, reason, "unreadable session in redis; treating it as absent");
                Ok(None)
            }
        }
    }

    async fn create(&self, key: &StoreKey, record: &Record, now: Timestamp) -> Result<Created, StoreError> {
        let mut pairs = Vec::with_capacity(4 + 2 * record.entries.len());
        // A new record has no `x` to remove: the script deletes the old hash first.
        meta_fields(&record.meta, &mut pairs, &mut Vec::new())?;
        for (k, entry) in &record.entries {
            pairs.push(entry_field(k));
            pairs.push(encode(entry)?);
        }
        let stored: i64 = SCRIPTS
            .create
            .key(self.redis_key(key))
            .arg(now.as_millis())
            .arg(pairs)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(backend)?;
        Ok(if stored == 1 { Created::Stored } else { Created::KeyTaken })
    }

    async fn apply(&self, key: &StoreKey, change: &Change, now: Timestamp) -> Result<Applied, StoreError> {
        let mut removals: Vec<Vec<u8>> = change.remove.iter().map(|k| entry_field(k)).collect();
        let mut pairs = Vec::with_capacity(4 + 2 * change.set.len());
        if let Some(meta) = &change.meta {
            meta_fields(meta, &mut pairs, &mut removals)?;
        }
        for (k, entry) in &change.set {
            pairs.push(entry_field(k));
            pairs.push(encode(entry)?);
        }
        let applied: i64 = SCRIPTS
            .apply
            .key(self.redis_key(key))
            .arg(now.as_millis())
            .arg(removals.len())
            .arg(removals)
            .arg(pairs)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(backend)?;
        Ok(if applied == 1 { Applied::Done } else { Applied::Gone })
    }

    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        redis::cmd("DEL").arg(self.redis_key(key)).query_async::<()>(&mut self.conn.clone()).await.map_err(backend)
    }

    /// Two scripts: one takes the old hash (atomically: it is dead from then on), one creates
    /// the new key from it. If the second fails, the old hash is put back.
    async fn rename(&self, from: &StoreKey, to: &StoreKey, now: Timestamp) -> Result<Renamed, StoreError> {
        let mut conn = self.conn.clone();
        let old_key = self.redis_key(from);
        let taken: Option<HashMap<Vec<u8>, Vec<u8>>> =
            SCRIPTS.take.key(&old_key).arg(now.as_millis()).invoke_async(&mut conn).await.map_err(backend)?;
        let Some(fields) = taken else { return Ok(Renamed::Gone) };
        let pairs: Vec<Vec<u8>> = fields.into_iter().flat_map(|(f, v)| [f, v]).collect();
        let put = |redis_key: String, mut conn: Conn| {
            let pairs = &pairs;
            async move { SCRIPTS.create.key(redis_key).arg(now.as_millis()).arg(pairs).invoke_async::<i64>(&mut conn).await }
        };
        let outcome: Result<Renamed, StoreError> = match put(self.redis_key(to), conn.clone()).await {
            Ok(1) => return Ok(Renamed::Done),
            Ok(_) => Ok(Renamed::KeyTaken),
            Err(e) => Err(backend(e)),
        };
        // Put the old record back, so a failed rename leaves it as it was.
        let restored: RedisResult<i64> = put(old_key, conn).await;
        if restored.as_ref().map_or(true, |&n| n != 1) {
            tracing::error!(?from, ?restored, "rename failed and the old session could not be put back");
        }
        outcome
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
            removed += done.map_err(backend)?.map_err(backend)?.unsigned_abs();
        }
        Ok(removed)
    }
}
