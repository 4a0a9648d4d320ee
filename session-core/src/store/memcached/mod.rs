//! The Memcached store: one item per session, changed by compare-and-swap.
//!
//! Speaks Memcached's meta text protocol (`mg`/`ms`/`md`, Memcached 1.6+) over a small pool
//! of tokio TCP connections. The meta commands give what the classic ones lack: a
//! compare-and-swap delete (so `rename` refuses to drop a record changed under it) and one
//! command per step. Each concurrent request takes its own pooled connection, so requests do
//! not queue behind one socket.
//!
//! Item: `[FORMAT] ++ Record::to_bytes()`, under `{prefix}{store key}`, with a Memcached
//! expiry derived from the record's deadline as the caller's clock sees it.
//!
//! Why a small client of our own rather than a crate: the async clients on crates.io speak the
//! classic protocol only; `memcache-async` (the maintained one) has no compare-and-swap delete,
//! cannot list keys (expired-session collection needs `lru_crawler metadump`), and misreads the
//! `NOT_FOUND` reply of `cas`. The meta protocol needed here is a few line-based commands.

mod pool;
mod protocol;

use std::io;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use tokio::io::AsyncWriteExt;

use self::pool::Pool;
use self::protocol::{protocol, url_decode, Conn, Mode, Outcome};

use super::{Applied, Created, Renamed, Store};
use crate::error::StoreError;
use crate::id::StoreKey;
use crate::record::{Change, Record};
use crate::time::Timestamp;

const STORE: &str = "memcached";

/// First byte of every item, so the layout can change later without misreading old items.
const FORMAT: u8 = 1;

/// Bounded waits so a dead or hung server gives an error rather than a stuck request.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const OP_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections kept open between operations.
const MAX_IDLE: usize = 32;

/// Compare-and-swap attempts before a change gives up with [`CasContention`].
const MAX_CAS_ATTEMPTS: u32 = 100;

/// Memcached reads an expiry above 30 days as an absolute Unix time.
const RELATIVE_EXPIRY_LIMIT: u64 = 30 * 86_400;

/// A change to one session lost the compare-and-swap race this many times in a row: other
/// writers kept changing the same session. Returned inside [`StoreError::Backend`]; find it
/// with `std::error::Error::source` and `downcast_ref`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("gave up after {attempts} compare-and-swap conflicts on one session")]
pub struct CasContention {
    /// How many times the change was tried.
    pub attempts: u32,
}

fn backend(e: impl Into<crate::error::BoxError>) -> StoreError {
    StoreError::backend(STORE, e)
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
/// Needs Memcached 1.6 or later (meta commands).
pub struct MemcachedStore {
    pool: Pool,
    prefix: String,
}

impl std::fmt::Debug for MemcachedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemcachedStore").field("addr", &self.pool.addr).field("prefix", &self.prefix).finish()
    }
}

impl MemcachedStore {
    /// The key prefix [`connect`](Self::connect) uses.
    pub const DEFAULT_PREFIX: &'static str = "session:";

    /// Connects to the Memcached at `addr`: `host:port`, optionally written as
    /// `tcp://host:port` or `memcache://host:port`. Checks the server answers (and is new
    /// enough to speak the meta protocol) before returning.
    pub async fn connect(addr: &str) -> Result<Self, StoreError> {
        let bare = ["tcp://", "memcache://", "memcached://"]
            .iter()
            .find_map(|scheme| addr.strip_prefix(scheme))
            .unwrap_or(addr)
            .trim_end_matches('/');
        if bare.is_empty() || bare.contains('/') {
            return Err(StoreError::Config(format!("not a memcached address (host:port): {addr:?}")));
        }
        let store = Self {
            pool: Pool { addr: bare.to_owned(), idle: Mutex::new(Vec::new()) },
            prefix: Self::DEFAULT_PREFIX.into(),
        };
        let mut conn = store.pool.get().await?;
        // `mn` (meta no-op) answers `MN` on 1.6+; older servers answer `ERROR`.
        let (head, _) = conn.exchange(b"mn\r\n").await.map_err(backend)?;
        if head != "MN" {
            return Err(backend(protocol(format!("memcached 1.6 or later needed (meta commands); got {head:?}"))));
        }
        drop(conn);
        Ok(store)
    }

    /// Files sessions under keys starting with `prefix` instead of `"session:"`, e.g. to
    /// share one Memcached among apps. Memcached keys cannot hold spaces or control
    /// characters and are at most 250 bytes, so the prefix is limited to 200 printable ASCII
    /// characters.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Result<Self, StoreError> {
        let prefix = prefix.into();
        if prefix.len() > 200 || !prefix.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(StoreError::Config(format!(
                "memcached key prefix must be at most 200 printable ASCII characters without spaces: {prefix:?}"
            )));
        }
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

    /// The keys under the prefix, from `lru_crawler metadump all`.
    async fn list_keys(&self) -> Result<Vec<String>, StoreError> {
        // A connection of its own: the dump is long and ends the connection's reuse.
        let mut conn = Conn::open(&self.pool.addr).await.map_err(backend)?;
        let deadline = tokio::time::Instant::now() + OP_TIMEOUT;
        loop {
            conn.io.get_mut().write_all(b"lru_crawler metadump all\r\n").await.map_err(backend)?;
            let mut keys = Vec::new();
            loop {
                let line = tokio::time::timeout(OP_TIMEOUT, conn.line())
                    .await
                    .map_err(|_| backend(io::Error::new(io::ErrorKind::TimedOut, "metadump stalled")))?
                    .map_err(backend)?;
                if line == "END" {
                    return Ok(keys);
                }
                if line.starts_with("BUSY") && tokio::time::Instant::now() < deadline {
                    // Another crawl is running; ask again shortly.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    break;
                }
                if line.starts_with("ERROR") || line.starts_with("CLIENT_ERROR") || line.starts_with("BUSY") {
                    return Err(backend(io::Error::other(format!(
                        "memcached cannot list keys (`lru_crawler metadump all`: {line}); is the LRU crawler disabled?"
                    ))));
                }
                let Some(encoded) = line.split(' ').next().and_then(|f| f.strip_prefix("key=")) else { continue };
                if let Some(key) = url_decode(encoded).filter(|k| k.starts_with(&self.prefix)) {
                    keys.push(key);
                }
            }
        }
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
    backend(CasContention { attempts: MAX_CAS_ATTEMPTS })
}

#[async_trait]
impl Store for MemcachedStore {
    async fn load(&self, key: &StoreKey, now: Timestamp) -> Result<Option<Record>, StoreError> {
        let mut conn = self.pool.get().await?;
        let Some((bytes, _)) = conn.get(&self.item_key(key)).await.map_err(backend)? else { return Ok(None) };
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
            if conn.set(&item, &bytes, ttl, Mode::Add).await.map_err(backend)? == Outcome::Done {
                return Ok(Created::Stored);
            }
            // An item is there; it only counts if it is a session live at the caller's clock.
            let Some((old, cas)) = conn.get(&item).await.map_err(backend)? else { continue };
            if decode(key, &old).is_some_and(|r| !r.meta.is_expired(now)) {
                return Ok(Created::KeyTaken);
            }
            if conn.set(&item, &bytes, ttl, Mode::Cas(cas)).await.map_err(backend)? == Outcome::Done {
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
            let Some((bytes, cas)) = conn.get(&item).await.map_err(backend)? else { return Ok(Applied::Gone) };
            let Some(mut record) = decode(key, &bytes).filter(|r| !r.meta.is_expired(now)) else {
                return Ok(Applied::Gone);
            };
            record.apply(change);
            record.drop_expired_entries(now);
            let ttl = exptime(record.meta.expires_at(), now);
            match conn.set(&item, &encode(&record), ttl, Mode::Cas(cas)).await.map_err(backend)? {
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
        conn.delete(&self.item_key(key), None).await.map_err(backend)?;
        Ok(())
    }

    /// Adds the record under `to`, then deletes `from` only if it is unchanged since it was
    /// read (CAS); if it changed meanwhile, the copy is dropped and the move starts over, so
    /// the concurrent change is carried along.
    async fn rename(&self, from: &StoreKey, to: &StoreKey, now: Timestamp) -> Result<Renamed, StoreError> {
        let (old, new) = (self.item_key(from), self.item_key(to));
        let mut conn = self.pool.get().await?;
        for attempt in 0..MAX_CAS_ATTEMPTS {
            let Some((bytes, cas)) = conn.get(&old).await.map_err(backend)? else { return Ok(Renamed::Gone) };
            let Some(record) = decode(from, &bytes).filter(|r| !r.meta.is_expired(now)) else {
                return Ok(Renamed::Gone);
            };
            let ttl = exptime(record.meta.expires_at(), now);
            match conn.set(&new, &bytes, ttl, Mode::Add).await.map_err(backend)? {
                Outcome::Done => {}
                _ => return Ok(Renamed::KeyTaken),
            }
            let deleted = conn.delete(&old, Some(cas)).await;
            let undo = match deleted {
                Ok(Outcome::Done) => return Ok(Renamed::Done),
                Ok(Outcome::NotFound) => Ok(Renamed::Gone),
                Ok(_) => Ok(Renamed::Done), // changed meanwhile: undo the copy and try again
                Err(e) => Err(backend(e)),
            };
            // Drop the copy; the connection may be broken, so on a fresh one.
            let mut fresh = self.pool.get().await?;
            fresh.delete(&new, None).await.map_err(backend)?;
            match undo {
                Ok(Renamed::Done) => back_off(attempt).await,
                other => return other,
            }
        }
        Err(contention())
    }

    /// Memcached evicts expired items by itself on its own clock; this removes, on the
    /// caller's clock, every session under the prefix whose deadline is at or before `now`.
    /// Memcached cannot list keys by prefix, so this walks all of its keys with
    /// `lru_crawler metadump all` (cheap for a session cache of moderate size; needs the LRU
    /// crawler, on by default), then deletes each expired one with a CAS check so a session
    /// refreshed meanwhile stays.
    async fn collect_expired(&self, now: Timestamp) -> Result<u64, StoreError> {
        let keys = self.list_keys().await?;
        let mut conn = self.pool.get().await?;
        let mut removed = 0;
        for item in keys {
            for _ in 0..MAX_CAS_ATTEMPTS {
                let Some((bytes, cas)) = conn.get(&item).await.map_err(backend)? else { break };
                let expired = match bytes.split_first() {
                    Some((&FORMAT, rest)) => Record::from_bytes(rest).is_some_and(|r| r.meta.is_expired(now)),
                    _ => false,
                };
                if !expired {
                    break;
                }
                match conn.delete(&item, Some(cas)).await.map_err(backend)? {
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

    #[test]
    fn metadump_keys_decode() {
        assert_eq!(url_decode("session%3Aab").as_deref(), Some("session:ab"));
        assert_eq!(url_decode("plain").as_deref(), Some("plain"));
        assert_eq!(url_decode("bad%4"), None);
    }
}
