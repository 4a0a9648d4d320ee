//! The Memcached store: one item per session, changed by compare-and-swap.
//!
//! Speaks Memcached's meta text protocol (`mg`/`ms`/`md`, Memcached 1.6+) over a bounded pool
//! of tokio TCP connections. The meta commands give what the classic ones lack: a
//! compare-and-swap delete (so `rename` refuses to drop a record changed under it) and one
//! command per step. Each concurrent request takes its own pooled connection, so requests do
//! not queue behind one socket.
//!
//! - `protocol`: one connection; commands, replies read with bounds, timeouts.
//! - `pool`: at most `pool_size` connections, an acquire timeout, reuse only of clean ones.
//! - here: items, expiry, the [`Store`] operations and their compare-and-swap loops.
//!
//! Item: `[FORMAT] ++ Record::to_bytes()`, under `{prefix}{store key}`, with a Memcached
//! expiry derived from the record's deadline as the caller's clock sees it.
//!
//! Memcached has no multi-key operation, so an owner's index (`#[session(owner)]`) is a record
//! of its own, written beside the session's: a listing checks each member's record (live,
//! owner field still naming the owner) and prunes the rest, so the index never has to be exact
//! (see `session_core::owner`; the conformance suite races listings against logins, logouts
//! and owner changes here too). Like sessions, an index may be evicted under memory pressure.
//!
//! Why a small client of our own rather than a crate: the async clients on crates.io speak the
//! classic protocol only; `memcache-async` (the maintained one) has no compare-and-swap delete,
//! cannot list keys (expired-session collection needs `lru_crawler metadump`), and misreads the
//! `NOT_FOUND` reply of `cas`. The meta protocol needed here is a few line-based commands.

mod pool;
mod protocol;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;

use self::pool::Pool;
use self::protocol::{Failure, Limits, Mode, Outcome};
use super::{Applied, Created, Renamed, Store};
use crate::error::StoreError;
use crate::id::StoreKey;
use crate::record::{Change, Record};
use crate::time::Timestamp;

const STORE: &str = "memcached";

/// First byte of every item, so the layout can change later without misreading old items.
const FORMAT: u8 = 1;

/// Compare-and-swap attempts before a change gives up with [`CasContention`].
const MAX_CAS_ATTEMPTS: u32 = 100;

/// Memcached reads an expiry above 30 days as an absolute Unix time.
const RELATIVE_EXPIRY_LIMIT: u64 = 30 * 86_400;

/// Keys one collection pass examines at most, so a huge (or hostile, endless) key listing
/// cannot exhaust memory; the rest wait for the next pass. Memcached expires items on its
/// own in any case.
const MAX_KEYS_PER_COLLECTION: usize = 1_000_000;

/// A change to one session lost the compare-and-swap race this many times in a row: other
/// writers kept changing the same session. Returned inside [`StoreError::Backend`]; find it
/// with `std::error::Error::source` and `downcast_ref`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("gave up after {attempts} compare-and-swap conflicts on one session")]
pub struct CasContention {
    /// How many times the change was tried.
    pub attempts: u32,
}

/// Sessions in Memcached (feature `memcached`).
///
/// Pick it when several app servers share sessions and a Memcached is at hand, and losing a
/// session now and then is acceptable: Memcached is a cache and evicts items under memory
/// pressure (that user logs in again). For sessions that must stay, pick Redis with
/// persistence or an SQL store.
///
/// A session is one item; changes read it with its CAS value, merge, and write it back only
/// if nobody wrote in between (retrying otherwise), so concurrent requests that change
/// different fields both survive. Items expire on their own at the record's deadline.
/// Needs Memcached 1.6 or later (meta commands). Cheap to clone: clones share the
/// connection pool.
///
/// [`collect_expired`](Store::collect_expired) and [`count_live`](Store::count_live) walk
/// every key in the Memcached (`lru_crawler metadump all`; Memcached cannot list a prefix)
/// and read each session under the prefix: fine for a session cache of moderate size, at most
/// a million sessions.
///
/// Every wait is bounded (see [`MemcachedStoreBuilder`] for the timeouts and their defaults),
/// and the server's replies are treated as untrusted input: a reply that breaks the protocol,
/// or announces a value over [`max_value_size`](MemcachedStoreBuilder::max_value_size), is a
/// [`StoreError::BadReply`] (or, for a write, [`StoreError::OutcomeUnknown`]) and its
/// connection is dropped. A write whose reply never came is
/// [`StoreError::OutcomeUnknown`]: it may have been applied.
///
/// ```no_run
/// # async fn demo() -> Result<(), session_core::StoreError> {
/// use std::time::Duration;
/// use session_core::MemcachedStore;
///
/// // The defaults:
/// let store = MemcachedStore::connect("tcp://127.0.0.1:11211").await?;
/// // Or set some:
/// let store = MemcachedStore::builder("tcp://127.0.0.1:11211")
///     .operation_timeout(Duration::from_secs(1))
///     .pool_size(64)
///     .connect()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct MemcachedStore {
    pool: Arc<Pool>,
    prefix: String,
}

impl std::fmt::Debug for MemcachedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemcachedStore")
            .field("addr", &self.pool.addr)
            .field("prefix", &self.prefix)
            .field("connect_timeout", &self.pool.limits.connect_timeout)
            .field("operation_timeout", &self.pool.limits.operation_timeout)
            .field("acquire_timeout", &self.pool.acquire_timeout)
            .field("max_value_size", &self.pool.limits.max_value_size)
            .field("pool_size", &self.pool.size)
            .finish()
    }
}

/// How a [`MemcachedStore`] connects and what it accepts; made by [`MemcachedStore::builder`],
/// finished by [`connect`](Self::connect).
///
/// | setting | default |
/// |---|---|
/// | [`connect_timeout`](Self::connect_timeout) | 2 s ([`MemcachedStore::DEFAULT_CONNECT_TIMEOUT`]) |
/// | [`operation_timeout`](Self::operation_timeout) | 5 s ([`MemcachedStore::DEFAULT_OPERATION_TIMEOUT`]) |
/// | [`acquire_timeout`](Self::acquire_timeout) | 5 s ([`MemcachedStore::DEFAULT_ACQUIRE_TIMEOUT`]) |
/// | [`max_value_size`](Self::max_value_size) | 1 MiB ([`MemcachedStore::DEFAULT_MAX_VALUE_SIZE`]) |
/// | [`pool_size`](Self::pool_size) | 32 ([`MemcachedStore::DEFAULT_POOL_SIZE`]) |
/// | [`prefix`](Self::prefix) | `"session:"` ([`MemcachedStore::DEFAULT_PREFIX`]) |
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `connect` is called"]
pub struct MemcachedStoreBuilder {
    addr: String,
    prefix: String,
    limits: Limits,
    acquire_timeout: Duration,
    pool_size: usize,
}

impl MemcachedStoreBuilder {
    /// How long opening a connection may take (name resolution included) before it fails
    /// with [`StoreError::Backend`]. Default 2 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.limits.connect_timeout = timeout;
        self
    }

    /// How long one command may take, from sending it to reading its whole reply. A read
    /// that runs out of time fails with [`StoreError::Backend`]; a write, once sent, with
    /// [`StoreError::OutcomeUnknown`]. A store operation is one to a few commands (more
    /// under compare-and-swap conflicts). Default 5 s.
    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.limits.operation_timeout = timeout;
        self
    }

    /// How long an operation waits for a connection when all [`pool_size`](Self::pool_size)
    /// are busy before it fails with [`StoreError::Backend`]. Default 5 s.
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// The largest item value, in bytes, sent or accepted. A session over it is refused
    /// before anything is sent ([`StoreError::Backend`]); a reply announcing more is a
    /// [`StoreError::BadReply`], read no further. Default 1 MiB, Memcached's own default item
    /// limit; raise both together (`memcached -I`).
    pub fn max_value_size(mut self, bytes: usize) -> Self {
        self.limits.max_value_size = bytes;
        self
    }

    /// The most connections open at once (each concurrent operation uses one). Default 32.
    pub fn pool_size(mut self, connections: usize) -> Self {
        self.pool_size = connections;
        self
    }

    /// Files sessions under keys starting with `prefix` instead of `"session:"`, e.g. to
    /// share one Memcached among apps: see [`MemcachedStore::with_prefix`].
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Checks the settings, connects and checks the server answers (and is new enough to
    /// speak the meta protocol).
    ///
    /// Fails with [`StoreError::Config`] for a bad address or prefix or a zero timeout or
    /// size, with [`StoreError::Backend`] when the server cannot be reached or is older than
    /// Memcached 1.6, and with [`StoreError::BadReply`] when it answers nonsense.
    pub async fn connect(self) -> Result<MemcachedStore, StoreError> {
        let Self { addr, prefix, limits, acquire_timeout, pool_size } = self;
        let bare = ["tcp://", "memcache://", "memcached://"]
            .iter()
            .find_map(|scheme| addr.strip_prefix(scheme))
            .unwrap_or(&addr)
            .trim_end_matches('/');
        if bare.is_empty() || bare.contains('/') {
            return Err(StoreError::Config(format!("not a memcached address (host:port): {addr:?}")));
        }
        super::positive(STORE, "connect_timeout", limits.connect_timeout)?;
        super::positive(STORE, "operation_timeout", limits.operation_timeout)?;
        super::positive(STORE, "acquire_timeout", acquire_timeout)?;
        if limits.max_value_size == 0 || pool_size == 0 {
            return Err(StoreError::Config(
                "memcached store: max_value_size and pool_size must be more than zero".into(),
            ));
        }
        check_prefix(&prefix)?;
        let store =
            MemcachedStore { pool: Arc::new(Pool::new(bare.to_owned(), limits, acquire_timeout, pool_size)), prefix };
        store.pool.get().await?.noop().await.map_err(|failure| match failure {
            // What servers before 1.6 answer to a meta command.
            Failure::Refused(line) => StoreError::backend(
                STORE,
                std::io::Error::other(format!("memcached 1.6 or later needed (meta commands); got {line:?}")),
            ),
            other => other.on_read(),
        })?;
        Ok(store)
    }
}

fn check_prefix(prefix: &str) -> Result<(), StoreError> {
    if prefix.len() > 200 || !prefix.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(StoreError::Config(format!(
            "memcached key prefix must be at most 200 printable ASCII characters without spaces: {prefix:?}"
        )));
    }
    Ok(())
}

impl MemcachedStore {
    /// The key prefix [`connect`](Self::connect) uses.
    pub const DEFAULT_PREFIX: &'static str = "session:";
    /// The default [`connect_timeout`](MemcachedStoreBuilder::connect_timeout).
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
    /// The default [`operation_timeout`](MemcachedStoreBuilder::operation_timeout).
    pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(5);
    /// The default [`acquire_timeout`](MemcachedStoreBuilder::acquire_timeout).
    pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
    /// The default [`max_value_size`](MemcachedStoreBuilder::max_value_size): 1 MiB,
    /// Memcached's own default item size limit.
    pub const DEFAULT_MAX_VALUE_SIZE: usize = 1024 * 1024;
    /// The default [`pool_size`](MemcachedStoreBuilder::pool_size).
    pub const DEFAULT_POOL_SIZE: usize = 32;

    /// Settings for a store on the Memcached at `addr` (`host:port`, optionally written as
    /// `tcp://host:port` or `memcache://host:port`), all at their defaults until changed.
    pub fn builder(addr: impl Into<String>) -> MemcachedStoreBuilder {
        MemcachedStoreBuilder {
            addr: addr.into(),
            prefix: Self::DEFAULT_PREFIX.into(),
            limits: Limits {
                connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
                operation_timeout: Self::DEFAULT_OPERATION_TIMEOUT,
                max_value_size: Self::DEFAULT_MAX_VALUE_SIZE,
            },
            acquire_timeout: Self::DEFAULT_ACQUIRE_TIMEOUT,
            pool_size: Self::DEFAULT_POOL_SIZE,
        }
    }

    /// Connects to the Memcached at `addr` with the default settings: `host:port`, optionally
    /// written as `tcp://host:port` or `memcache://host:port`. Checks the server answers (and
    /// is new enough to speak the meta protocol) before returning. Shorthand for
    /// `MemcachedStore::builder(addr).connect()`.
    pub async fn connect(addr: &str) -> Result<Self, StoreError> {
        Self::builder(addr).connect().await
    }

    /// Files sessions under keys starting with `prefix` instead of `"session:"`, e.g. to
    /// share one Memcached among apps. Memcached keys cannot hold spaces or control
    /// characters and are at most 250 bytes, so the prefix is limited to 200 printable ASCII
    /// characters.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Result<Self, StoreError> {
        let prefix = prefix.into();
        check_prefix(&prefix)?;
        self.prefix = prefix;
        Ok(self)
    }

    /// The key prefix in use.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn item_key(&self, key: &StoreKey) -> String {
        format!("{}{}", self.prefix, key.as_str())
    }
}

fn encode(record: &Record) -> Vec<u8> {
    let mut bytes = vec![FORMAT];
    bytes.extend_from_slice(&record.to_bytes());
    bytes
}

/// The record in an item; `None` (with a warning) for anything else.
fn decode(key: &StoreKey, bytes: &[u8]) -> Option<Record> {
    let record = match bytes.split_first() {
        Some((&FORMAT, rest)) => Record::from_bytes(rest),
        _ => None,
    };
    if record.is_none() {
        tracing::warn!(?key, "unreadable session in memcached; treating it as absent");
    }
    record
}

/// Memcached's expiry for a record ending at `expires_at`, as seen from `now` (the caller's
/// clock): seconds from now, rounded up plus one so Memcached's one-second clock never drops
/// an item before its deadline; as an absolute Unix time (by this machine's clock) past the
/// 30 days Memcached takes as relative; 0 (no expiry) when there is no deadline or it lies
/// beyond what Memcached can represent. `load` checks the deadline itself in any case.
fn exptime(expires_at: Option<Timestamp>, now: Timestamp) -> u32 {
    let Some(at) = expires_at else { return 0 };
    let secs = at.as_millis().saturating_sub(now.as_millis()).div_ceil(1000).saturating_add(1);
    if secs <= RELATIVE_EXPIRY_LIMIT {
        return u32::try_from(secs).unwrap_or(0);
    }
    let wall = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    // Memcached parses the expiry as a signed 32-bit number.
    wall.checked_add(secs).filter(|&abs| abs <= i32::MAX as u64).map_or(0, |abs| abs as u32)
}

/// Waits a little, more with each conflict, with jitter so racing writers spread out.
async fn back_off(attempt: u32) {
    if attempt < 2 {
        tokio::task::yield_now().await;
    } else {
        let max = u64::from(attempt.min(20));
        tokio::time::sleep(Duration::from_millis(rand::random::<u64>() % (max + 1))).await;
    }
}

fn contention() -> StoreError {
    StoreError::backend(STORE, CasContention { attempts: MAX_CAS_ATTEMPTS })
}

#[async_trait]
impl Store for MemcachedStore {
    async fn load(&self, key: &StoreKey, now: Timestamp) -> Result<Option<Record>, StoreError> {
        let mut conn = self.pool.get().await?;
        let Some((bytes, _)) = conn.get(&self.item_key(key)).await.map_err(Failure::on_read)? else { return Ok(None) };
        drop(conn);
        Ok(decode(key, &bytes).filter(|r| !r.meta.is_expired(now)).map(|mut r| {
            r.drop_expired_entries(now);
            r
        }))
    }

    async fn create(&self, key: &StoreKey, record: &Record, now: Timestamp) -> Result<Created, StoreError> {
        let item = self.item_key(key);
        let bytes = encode(record);
        let ttl = exptime(record.meta.expires_at(), now);
        let mut conn = self.pool.get().await?;
        for attempt in 0..MAX_CAS_ATTEMPTS {
            if conn.set(&item, &bytes, ttl, Mode::Add).await.map_err(Failure::on_write)? == Outcome::Done {
                return Ok(Created::Stored);
            }
            // An item is there; it only counts if it is a session live at the caller's clock.
            let Some((old, cas)) = conn.get(&item).await.map_err(Failure::on_read)? else { continue };
            if decode(key, &old).is_some_and(|r| !r.meta.is_expired(now)) {
                return Ok(Created::KeyTaken);
            }
            if conn.set(&item, &bytes, ttl, Mode::Cas(cas)).await.map_err(Failure::on_write)? == Outcome::Done {
                return Ok(Created::Stored);
            }
            back_off(attempt).await;
        }
        Err(contention())
    }

    async fn apply(&self, key: &StoreKey, change: &Change, now: Timestamp) -> Result<Applied, StoreError> {
        let item = self.item_key(key);
        let mut conn = self.pool.get().await?;
        for attempt in 0..MAX_CAS_ATTEMPTS {
            let Some((bytes, cas)) = conn.get(&item).await.map_err(Failure::on_read)? else {
                return Ok(Applied::Gone);
            };
            let Some(mut record) = decode(key, &bytes).filter(|r| !r.meta.is_expired(now)) else {
                return Ok(Applied::Gone);
            };
            record.apply(change);
            record.drop_expired_entries(now);
            let ttl = exptime(record.meta.expires_at(), now);
            match conn.set(&item, &encode(&record), ttl, Mode::Cas(cas)).await.map_err(Failure::on_write)? {
                Outcome::Done => return Ok(Applied::Done),
                // Deleted since it was read: refuse, never recreate.
                Outcome::NotFound => return Ok(Applied::Gone),
                Outcome::Exists | Outcome::NotStored => back_off(attempt).await,
            }
        }
        Err(contention())
    }

    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        let mut conn = self.pool.get().await?;
        conn.delete(&self.item_key(key), None).await.map_err(Failure::on_write)?;
        Ok(())
    }

    /// Copies the record to `to` first, then deletes `from` only if it is unchanged since it
    /// was read (CAS), so a complete copy exists under one key or both at every step:
    ///
    /// - `to` holds an item: a record live at `now` makes this `KeyTaken` with nothing
    ///   written; an expired or unreadable one (Memcached's clock may not have dropped it yet)
    ///   is replaced, by CAS.
    /// - `from` changed after it was read: the copy is dropped and the move starts over, so
    ///   the concurrent change is carried along. `from` deleted meanwhile: the copy is dropped
    ///   and the answer is `Gone`.
    /// - the outcome of the copy or of the delete of `from` is unknown (no reply):
    ///   [`StoreError::OutcomeUnknown`], with the copy left in place, as `from` may already
    ///   be gone; the caller looks at `to`. Any other error leaves `from` as it was.
    async fn rename(&self, from: &StoreKey, to: &StoreKey, now: Timestamp) -> Result<Renamed, StoreError> {
        let (old, new) = (self.item_key(from), self.item_key(to));
        for attempt in 0..MAX_CAS_ATTEMPTS {
            let mut conn = self.pool.get().await?;
            let Some((bytes, cas)) = conn.get(&old).await.map_err(Failure::on_read)? else { return Ok(Renamed::Gone) };
            let Some(record) = decode(from, &bytes).filter(|r| !r.meta.is_expired(now)) else {
                return Ok(Renamed::Gone);
            };
            let ttl = exptime(record.meta.expires_at(), now);
            if conn.set(&new, &bytes, ttl, Mode::Add).await.map_err(Failure::on_write)? != Outcome::Done {
                // Something is under `to`: it only counts if it is a session live at `now`.
                let Some((taken, taken_cas)) = conn.get(&new).await.map_err(Failure::on_read)? else { continue };
                if decode(to, &taken).is_some_and(|r| !r.meta.is_expired(now)) {
                    return Ok(Renamed::KeyTaken);
                }
                if conn.set(&new, &bytes, ttl, Mode::Cas(taken_cas)).await.map_err(Failure::on_write)? != Outcome::Done
                {
                    back_off(attempt).await;
                    continue;
                }
            }
            // The copy is in place.
            let deleted = conn.delete(&old, Some(cas)).await;
            // Back to the pool (if still clean) before `drop_copy` takes a connection: the pool
            // may have only this one.
            drop(conn);
            let retry = match deleted {
                Ok(Outcome::Done) => return Ok(Renamed::Done),
                // Changed meanwhile: the copy is stale.
                Ok(Outcome::Exists | Outcome::NotStored) => true,
                // Destroyed meanwhile: the copy must not outlive it.
                Ok(Outcome::NotFound) => false,
                // `from` may be gone already, so the copy may be the only one left: keep it.
                Err(failure @ (Failure::NoReply(_) | Failure::BadReply(_))) => return Err(failure.on_write()),
                // A definite refusal: `from` is intact, and the copy goes.
                Err(failure @ (Failure::NotSent(_) | Failure::Refused(_))) => {
                    self.drop_copy(&new).await;
                    return Err(failure.on_write());
                }
            };
            self.drop_copy(&new).await;
            if !retry {
                return Ok(Renamed::Gone);
            }
            back_off(attempt).await;
        }
        Err(contention())
    }

    /// Memcached evicts expired items by itself on its own clock; this removes, on the
    /// caller's clock, every session under the prefix whose deadline is at or before `now`.
    /// Memcached cannot list keys by prefix, so this walks all of its keys with
    /// `lru_crawler metadump all` (cheap for a session cache of moderate size; needs the LRU
    /// crawler, on by default; at most a million sessions per pass), then deletes each
    /// expired one with a CAS check so a session refreshed meanwhile stays.
    async fn collect_expired(&self, now: Timestamp) -> Result<u64, StoreError> {
        // A connection of its own: the dump is long and ends the connection's reuse.
        let dump = self.pool.dedicated().await?.metadump(&self.prefix, MAX_KEYS_PER_COLLECTION).await?;
        if dump.skipped > 0 {
            tracing::warn!(
                skipped = dump.skipped,
                max_keys = MAX_KEYS_PER_COLLECTION,
                "memcached store: more sessions than one collection pass examines; the rest wait for the next"
            );
        }
        let mut conn = self.pool.get().await?;
        let mut removed = 0;
        for item in dump.keys {
            for _ in 0..MAX_CAS_ATTEMPTS {
                let Some((bytes, cas)) = conn.get(&item).await.map_err(Failure::on_read)? else { break };
                let expired = match bytes.split_first() {
                    Some((&FORMAT, rest)) => Record::from_bytes(rest).is_some_and(|r| r.meta.is_expired(now)),
                    _ => false,
                };
                if !expired {
                    break;
                }
                match conn.delete(&item, Some(cas)).await.map_err(Failure::on_write)? {
                    Outcome::Done => {
                        removed += 1;
                        break;
                    }
                    Outcome::Exists => continue,
                    _ => break,
                }
            }
        }
        Ok(removed)
    }

    /// O(every item in Memcached): walks all keys with `lru_crawler metadump all`, as
    /// [`collect_expired`](Store::collect_expired) does, then reads each session under the
    /// prefix (one round trip each) to check its deadline. Fails rather than answer a partial
    /// count past a million sessions.
    async fn count_live(&self, now: Timestamp) -> Result<u64, StoreError> {
        let dump = self.pool.dedicated().await?.metadump(&self.prefix, MAX_KEYS_PER_COLLECTION).await?;
        if dump.skipped > 0 {
            return Err(StoreError::backend(
                STORE,
                std::io::Error::other(format!(
                    "more than {MAX_KEYS_PER_COLLECTION} sessions under the prefix: too many to count"
                )),
            ));
        }
        // The crawler may meet an item twice if it moves between LRU queues during the walk.
        let keys: std::collections::HashSet<String> = dump.keys.into_iter().collect();
        let mut conn = self.pool.get().await?;
        let mut live = 0;
        for item in &keys {
            // Gone since the dump (deleted, expired, evicted): not live.
            let Some((bytes, _)) = conn.get(item).await.map_err(Failure::on_read)? else { continue };
            // Read as `collect_expired` does: an unreadable item is no session, without a warning each.
            if bytes.split_first().is_some_and(|(&format, rest)| {
                format == FORMAT && Record::from_bytes(rest).is_some_and(|r| !r.meta.is_expired(now))
            }) {
                live += 1;
            }
        }
        Ok(live)
    }
}

impl MemcachedStore {
    /// Deletes a copy `rename` made and no longer wants. Best effort: `from` is intact or
    /// gone for good, so a copy left behind is only an orphan under a key no client knows,
    /// which expires with the session's deadline.
    async fn drop_copy(&self, new: &str) {
        let deleted = match self.pool.get().await {
            Ok(mut conn) => conn.delete(new, None).await.map_err(Failure::on_write),
            Err(e) => Err(e),
        };
        if let Err(error) = deleted {
            tracing::warn!(%error, "memcached store: could not delete the copy of an abandoned rename");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_relative_up_to_30_days_then_absolute_and_never_early() {
        let now = Timestamp::from_millis(1_000_000);
        assert_eq!(exptime(None, now), 0);
        assert_eq!(exptime(Some(Timestamp::from_millis(1_000_001)), now), 2);
        assert_eq!(exptime(Some(Timestamp::from_millis(1_010_000)), now), 11);
        let month = now.after(Duration::from_secs(RELATIVE_EXPIRY_LIMIT + 10));
        let abs = u64::from(exptime(Some(month), now));
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        assert!(abs > wall + RELATIVE_EXPIRY_LIMIT && abs <= wall + RELATIVE_EXPIRY_LIMIT + 20, "{abs}");
        assert_eq!(exptime(Some(Timestamp::from_millis(u64::MAX)), now), 0, "beyond 2038: no native expiry");
    }
}
