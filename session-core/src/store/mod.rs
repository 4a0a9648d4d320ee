//! The contract every server-side store keeps, and the stores session-kit ships.
//!
//! | store | feature | pick it when |
//! |---|---|---|
//! | [`MemoryStore`] | `memory` (default) | one process, sessions may vanish on restart (tests, small apps) |
//! | [`FileStore`] | `file` (default) | one machine, a few processes, sessions survive restarts, nothing to run or install |
//! | `SqliteStore` | `sqlite` | one machine, sessions survive restarts, many sessions or heavy writes: the embedded persistent default |
//! | `PostgresStore` | `postgres` | several app servers, PostgreSQL already runs: one statement per load or change, durable, expired sessions found through an index |
//! | `MysqlStore` | `mysql` | several app servers, MySQL or MariaDB already runs: one statement per load or change, expired sessions found through an index |
//! | `RedisStore` | `redis`, `redis-cluster` | several app servers, Redis already runs: one round trip per load or change, native expiry, Redis Cluster for scale |
//! | `MemcachedStore` | `memcached` | several app servers and a Memcached to spare; sessions are a cache there and may be evicted under memory pressure |
//!
//! Between the two persistent ones: the file store rewrites a whole record per change and
//! scans its directory to collect expired sessions, which suits thousands of sessions;
//! SQLite sends only the changed fields, merged into the session by the database, and finds
//! expired sessions through an index, which suits millions. Whatever the store, start a [`Collector`](crate::Collector) so expired
//! sessions do not pile up.
//!
//! Client-side sessions (sealed or signed cookies) need no store at all: see the `cookie`
//! module.

use std::sync::Arc;

use async_trait::async_trait;

use crate::data::SessionData;
use crate::error::StoreError;
use crate::id::{SessionId, StoreKey};
use crate::record::{Change, Record};
use crate::time::Timestamp;

#[cfg(feature = "memory")]
mod memory;
#[cfg(feature = "memory")]
pub use memory::MemoryStore;

#[cfg(feature = "file")]
pub mod file;
#[cfg(feature = "file")]
pub use file::{FileStore, FileStoreBuilder};

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod sql;
#[cfg(feature = "mysql")]
pub use sql::mysql::{MysqlStore, MysqlStoreBuilder};
#[cfg(feature = "postgres")]
pub use sql::postgres::{PostgresStore, PostgresStoreBuilder};
#[cfg(feature = "sqlite")]
pub use sql::sqlite::{SqliteStore, SqliteStoreBuilder};
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub use sql::WriteConflict;

#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
pub use self::redis::{RedisLayout, RedisStore, RedisStoreBuilder};

#[cfg(feature = "memcached")]
mod memcached;
#[cfg(feature = "memcached")]
pub use memcached::{CasContention, MemcachedStore, MemcachedStoreBuilder};

/// A timeout a store's builder was given, refused with [`StoreError::Config`] when zero: every
/// builder checks its timeouts alike.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql", feature = "redis", feature = "memcached"))]
pub(crate) fn positive(
    store: &'static str,
    what: &str,
    d: std::time::Duration,
) -> Result<std::time::Duration, StoreError> {
    if d.is_zero() {
        return Err(StoreError::Config(format!("{store} store: the {what} must be longer than zero")));
    }
    Ok(d)
}

/// The outcome of [`Store::create`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// The record was stored under the key.
    Stored,
    /// A live record already has this key; nothing was written. Try another id.
    KeyTaken,
}

/// The outcome of [`Store::apply`] and [`Store::rename`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Done.
    Done,
    /// There is no live record under the key (destroyed, expired or never stored); nothing was
    /// written. A change must never bring a destroyed session back.
    Gone,
}

/// The outcome of [`Store::rename`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renamed {
    /// The record now lives under the new key only.
    Done,
    /// There is no live record under the old key; nothing was written.
    Gone,
    /// A live record already has the new key; nothing was written (the old record is intact).
    /// Try another id.
    KeyTaken,
}

/// A server-side session store: records filed under [`StoreKey`]s (hashes of session ids).
///
/// Object-safe, so layers hold an `Arc<dyn Store>`. Every method takes the caller's `now` so
/// expiry follows the layer's clock; stores that also expire records natively must not expire
/// them before the record's own [`Meta::expires_at`](crate::record::Meta::expires_at).
///
/// Check an implementation with the conformance suite (`conformance` feature).
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The live record under `key`, without entries whose own ttl has run out at `now`.
    /// Not found, expired or unreadable (corrupt) is `Ok(None)`; log corruption as a warning.
    async fn load(&self, key: &StoreKey, now: Timestamp) -> Result<Option<Record>, StoreError>;

    /// The live record under `key`, as [`load`](Self::load) gives it but possibly shared with
    /// the store rather than copied, and possibly still holding entries whose own ttl has run out
    /// at `now` (the caller skips them). What the engine calls on every request.
    ///
    /// The default wraps [`load`](Self::load); a store that keeps records in memory hands out
    /// the one it holds (the memory store does), saving a copy of every entry per request.
    async fn load_shared(&self, key: &StoreKey, now: Timestamp) -> Result<Option<Arc<Record>>, StoreError> {
        Ok(self.load(key, now).await?.map(Arc::new))
    }

    /// Stores a new record, unless a live one already has `key`.
    async fn create(&self, key: &StoreKey, record: &Record, now: Timestamp) -> Result<Created, StoreError>;

    /// Merges `change` into the live record under `key`, atomically: entries not named in the
    /// change keep whatever value they have in the store now, even if another request wrote
    /// them after this one loaded.
    async fn apply(&self, key: &StoreKey, change: &Change, now: Timestamp) -> Result<Applied, StoreError>;

    /// Removes the record under `key`, if any.
    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError>;

    /// Moves the live record from `from` to `to` (for `cycle_id`), refusing with `KeyTaken`
    /// when a live record already has `to`. When it returns `Done` the old key is dead.
    ///
    /// Whatever fails in between, a complete copy of the record stays under `from` or `to`: on
    /// an error the old record is intact, except for [`StoreError::OutcomeUnknown`], after
    /// which the record is whole under one of the two keys (the engine looks).
    async fn rename(&self, from: &StoreKey, to: &StoreKey, now: Timestamp) -> Result<Renamed, StoreError>;

    /// Removes every record expired at `now`; returns how many went.
    async fn collect_expired(&self, now: Timestamp) -> Result<u64, StoreError>;

    /// How many sessions are live at `now`: stored and not expired at `now` (expired records
    /// not yet collected do not count), of every session type this store holds: keys are
    /// hashes of type and id together, so types cannot be told apart.
    ///
    /// For operators and tests, not for requests: most stores read every record to answer
    /// (each store's docs say what it costs). Sessions created, renamed or deleted while it
    /// runs may or may not be counted.
    ///
    /// The default answers [`StoreError::Unsupported`]: a store that cannot count says so
    /// rather than guess. Every store of session-kit counts.
    async fn count_live(&self, now: Timestamp) -> Result<u64, StoreError> {
        let _ = now;
        Err(StoreError::Unsupported { operation: "count_live" })
    }
}

#[async_trait]
impl<S: Store + ?Sized> Store for Arc<S> {
    async fn load(&self, key: &StoreKey, now: Timestamp) -> Result<Option<Record>, StoreError> {
        (**self).load(key, now).await
    }
    async fn load_shared(&self, key: &StoreKey, now: Timestamp) -> Result<Option<Arc<Record>>, StoreError> {
        (**self).load_shared(key, now).await
    }
    async fn create(&self, key: &StoreKey, record: &Record, now: Timestamp) -> Result<Created, StoreError> {
        (**self).create(key, record, now).await
    }
    async fn apply(&self, key: &StoreKey, change: &Change, now: Timestamp) -> Result<Applied, StoreError> {
        (**self).apply(key, change, now).await
    }
    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        (**self).delete(key).await
    }
    async fn rename(&self, from: &StoreKey, to: &StoreKey, now: Timestamp) -> Result<Renamed, StoreError> {
        (**self).rename(from, to, now).await
    }
    async fn collect_expired(&self, now: Timestamp) -> Result<u64, StoreError> {
        (**self).collect_expired(now).await
    }
    async fn count_live(&self, now: Timestamp) -> Result<u64, StoreError> {
        (**self).count_live(now).await
    }
}

/// Ends the session of type `T` whose id is `id`: deletes its record from `store`, so that a
/// request still carrying the id gets a fresh session. Sessions of other types under the same
/// id (in the same store) are left alone. Deleting a session that is not there is no error.
///
/// For operators and tests that know a session id, e.g. an admin endpoint ending a user's
/// session. The record is the one the layer files under `id.store_key(T::NAME)`; this computes
/// that key and calls [`Store::delete`]. Cookie sessions keep no server state, so there is
/// nothing to delete for them.
///
/// ```
/// # use session_core::{Codec, CodecError, FieldSpec, SessionData};
/// # struct App;
/// # impl SessionData for App {
/// #     const NAME: &'static str = "app";
/// #     const FIELDS: &'static [FieldSpec] = &[];
/// #     fn fresh() -> Self { App }
/// #     fn encode_field<C: Codec>(&self, _: usize, _: &C, _: &mut Vec<u8>) -> Result<(), CodecError> { Ok(()) }
/// #     fn decode_field<C: Codec>(&mut self, _: usize, _: &C, _: &[u8]) -> Result<(), CodecError> { Ok(()) }
/// #     fn reset_field(&mut self, _: usize) {}
/// # }
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// use session_core::store::delete_session;
/// use session_core::{Meta, MemoryStore, Record, SessionId, Store, Timestamp};
///
/// // `App` is a `#[derive(Session)]` type; `store` the store its layer uses.
/// let store = MemoryStore::new();
/// let id = SessionId::new("nXq3mE0cVb9TzL1wYp7RuA".to_owned())?;
/// # let now = Timestamp::from_millis(1_700_000_000_000);
/// # store.create(&id.store_key("app"), &Record::new(Meta::new(now)), now).await?;
/// delete_session::<App>(&store, &id).await?;
/// assert_eq!(store.count_live(now).await?, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn delete_session<T: SessionData>(store: &(impl Store + ?Sized), id: &SessionId) -> Result<(), StoreError> {
    store.delete(&id.store_key(T::NAME)).await
}
