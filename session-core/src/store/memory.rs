//! The in-process store: a bounded concurrent map.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use dashmap::mapref::entry::Entry as MapEntry;
use dashmap::DashMap;

use super::{Applied, Created, Renamed, Store};
use crate::error::StoreError;
use crate::id::StoreKey;
use crate::record::{Change, Record};
use crate::time::Timestamp;

/// Sessions in this process's memory, gone on restart.
///
/// Built on [`dashmap`] (sharded locks, so requests for different sessions rarely contend).
/// Bounded: when a new session would pass the capacity, expired records are reclaimed first,
/// then sessions are evicted, a sixteenth of the capacity at a time so the cost is paid
/// rarely. Eviction is segmented: sessions no request has come back to yet (one-shot sessions:
/// a crawler, a CSRF token for a form never sent) go first, the earliest to expire first, and
/// sessions that came back are evicted only when one-shot ones do not make enough room. So a
/// flood of anonymous requests that each create a session cannot log the regular users out.
///
/// A request reads the stored record itself ([`load_shared`](Store::load_shared)): a load
/// copies nothing, and a change updates the record in place unless a request still holds it.
///
/// Cheap to clone: clones share the sessions (give one to the layer and one to a
/// [`Collector`](crate::Collector)). [`count_live`](Store::count_live) looks at every record.
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

struct Inner {
    map: DashMap<StoreKey, Held>,
    capacity: usize,
}

impl fmt::Debug for MemoryStore {
    // Not the map: it holds every session's data.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore").field("len", &self.len()).field("capacity", &self.inner.capacity).finish()
    }
}

/// A record, and whether a request came back to it after the one that created it.
#[derive(Debug)]
struct Held {
    /// Shared with the requests that loaded it, which read it without copying; a change
    /// updates it in place once they are done with it, or a copy while one still holds it.
    record: Arc<Record>,
    /// Set by the first `load`: an atomic, so marking needs only the shard's read lock.
    returned: AtomicBool,
}

impl Held {
    fn new(record: Record) -> Self {
        Self { record: Arc::new(record), returned: AtomicBool::new(false) }
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// The capacity [`new`](Self::new) uses.
    pub const DEFAULT_CAPACITY: usize = 100_000;

    /// A store holding up to [`DEFAULT_CAPACITY`](Self::DEFAULT_CAPACITY) sessions.
    pub fn new() -> Self {
        Self::with_capacity(Self::DEFAULT_CAPACITY)
    }

    /// A store holding up to `capacity` sessions (at least one).
    pub fn with_capacity(capacity: usize) -> Self {
        Self { inner: Arc::new(Inner { map: DashMap::new(), capacity: capacity.max(1) }) }
    }

    /// How many records are held, expired ones included until they are reclaimed.
    pub fn len(&self) -> usize {
        self.inner.map.len()
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.inner.map.is_empty()
    }

    /// The live record under `key`, marked as returned to; an expired one is removed.
    fn live(&self, key: &StoreKey, now: Timestamp) -> Option<Arc<Record>> {
        let found = self.inner.map.get(key)?;
        if found.record.meta.is_expired(now) {
            drop(found);
            self.inner.map.remove_if(key, |_, held| held.record.meta.is_expired(now));
            return None;
        }
        // A plain load first: most loads find it set, and a store would dirty the cache line.
        if !found.returned.load(Ordering::Relaxed) {
            found.returned.store(true, Ordering::Relaxed);
        }
        Some(Arc::clone(&found.record))
    }

    fn make_room(&self, now: Timestamp) {
        let Inner { map, capacity } = &*self.inner;
        let capacity = *capacity;
        if map.len() < capacity {
            return;
        }
        map.retain(|_, held| !held.record.meta.is_expired(now));
        let len = map.len();
        if len < capacity {
            return;
        }
        let excess = len + 1 - capacity;
        let batch = excess.max(capacity / 16).max(1);
        // One-shot sessions sort first (`false < true`), then by expiry.
        let mut candidates: Vec<(bool, u64, StoreKey)> = map
            .iter()
            .map(|held| {
                let expiry = held.record.meta.expires_at().map_or(u64::MAX, Timestamp::as_millis);
                (held.returned.load(Ordering::Relaxed), expiry, *held.key())
            })
            .collect();
        let batch = batch.min(candidates.len());
        candidates.select_nth_unstable(batch.saturating_sub(1));
        for (_, _, key) in &candidates[..batch] {
            map.remove(key);
        }
        tracing::debug!(evicted = batch, capacity = capacity, "memory store full: evicted one-shot sessions first");
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn load(&self, key: &StoreKey, now: Timestamp) -> Result<Option<Record>, StoreError> {
        Ok(self.live(key, now).map(|shared| {
            let mut record = Arc::unwrap_or_clone(shared);
            record.drop_expired_entries(now);
            record
        }))
    }

    /// The record itself, not a copy: the engine's load costs no allocation.
    async fn load_shared(&self, key: &StoreKey, now: Timestamp) -> Result<Option<Arc<Record>>, StoreError> {
        Ok(self.live(key, now))
    }

    async fn create(&self, key: &StoreKey, record: &Record, now: Timestamp) -> Result<Created, StoreError> {
        self.make_room(now);
        match self.inner.map.entry(*key) {
            MapEntry::Occupied(o) if !o.get().record.meta.is_expired(now) => Ok(Created::KeyTaken),
            MapEntry::Occupied(mut o) => {
                o.insert(Held::new(record.clone()));
                Ok(Created::Stored)
            }
            MapEntry::Vacant(v) => {
                v.insert(Held::new(record.clone()));
                Ok(Created::Stored)
            }
        }
    }

    async fn apply(&self, key: &StoreKey, change: &Change, now: Timestamp) -> Result<Applied, StoreError> {
        match self.inner.map.get_mut(key) {
            Some(mut held) if !held.record.meta.is_expired(now) => {
                let record = Arc::make_mut(&mut held.record);
                record.apply(change);
                record.drop_expired_entries(now);
                Ok(Applied::Done)
            }
            _ => Ok(Applied::Gone),
        }
    }

    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        self.inner.map.remove(key);
        Ok(())
    }

    async fn rename(&self, from: &StoreKey, to: &StoreKey, now: Timestamp) -> Result<Renamed, StoreError> {
        if self.inner.map.get(to).is_some_and(|held| !held.record.meta.is_expired(now)) {
            return Ok(Renamed::KeyTaken);
        }
        // The session keeps its standing: a login is not a one-shot session.
        let Some((_, record)) = self.inner.map.remove_if(from, |_, held| !held.record.meta.is_expired(now)) else {
            return Ok(Renamed::Gone);
        };
        // One shard lock at a time (dashmap's locks are not reentrant and both keys may share
        // a shard): the check above is repeated under the new key's lock, and in the rare race
        // where a live session took it meanwhile, the record goes back where it was.
        match self.inner.map.entry(*to) {
            MapEntry::Occupied(o) if !o.get().record.meta.is_expired(now) => {
                drop(o);
                self.inner.map.insert(*from, record);
                Ok(Renamed::KeyTaken)
            }
            MapEntry::Occupied(mut o) => {
                o.insert(record);
                Ok(Renamed::Done)
            }
            MapEntry::Vacant(v) => {
                v.insert(record);
                Ok(Renamed::Done)
            }
        }
    }

    async fn collect_expired(&self, now: Timestamp) -> Result<u64, StoreError> {
        let before = self.inner.map.len();
        self.inner.map.retain(|_, held| !held.record.meta.is_expired(now));
        Ok(before.saturating_sub(self.inner.map.len()) as u64)
    }

    /// Looks at every record, holding one shard's read lock at a time.
    async fn count_live(&self, now: Timestamp) -> Result<u64, StoreError> {
        Ok(self.inner.map.iter().filter(|held| !held.record.meta.is_expired(now)).count() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Meta;

    /// A session created at `at` with a day of idle time.
    fn record(at: u64) -> Record {
        let created = Timestamp::from_millis(at);
        Record::new(Meta {
            idle_deadline: Some(created.after(std::time::Duration::from_secs(86_400))),
            ..Meta::new(created)
        })
    }

    fn key(i: u64) -> StoreKey {
        StoreKey::parse(&format!("{i:032x}")).expect("32 hex digits")
    }

    /// Sessions used on two requests survive a flood of twice the capacity in one-shot
    /// sessions, which are younger and so would be the last to go by expiry alone.
    #[tokio::test]
    async fn returning_sessions_survive_a_flood_of_one_shot_sessions() {
        const CAPACITY: u64 = 1_000;
        let store = MemoryStore::with_capacity(CAPACITY as usize);
        let regulars: Vec<StoreKey> = (0..CAPACITY / 2).map(key).collect();
        for (i, k) in regulars.iter().enumerate() {
            store.create(k, &record(i as u64), Timestamp::from_millis(i as u64)).await.expect("create");
            assert!(store.load(k, Timestamp::from_millis(i as u64)).await.expect("load").is_some());
        }
        for i in 0..2 * CAPACITY {
            let at = 1_000_000 + i;
            store.create(&key(CAPACITY + i), &record(at), Timestamp::from_millis(at)).await.expect("create");
        }
        let now = Timestamp::from_millis(2_000_000);
        let mut kept = 0;
        for k in &regulars {
            kept += usize::from(store.load(k, now).await.expect("load").is_some());
        }
        assert!(store.len() <= CAPACITY as usize, "bounded: {}", store.len());
        assert!(kept * 100 >= regulars.len() * 95, "only {kept} of {} returning sessions kept", regulars.len());
    }

    /// When returning sessions alone pass the capacity, they are evicted too: the bound holds.
    #[tokio::test]
    async fn the_bound_holds_when_every_session_returns() {
        let store = MemoryStore::with_capacity(64);
        for i in 0..200 {
            let now = Timestamp::from_millis(i);
            store.create(&key(i), &record(i), now).await.expect("create");
            store.load(&key(i), now).await.expect("load");
        }
        assert!(store.len() <= 64, "{}", store.len());
        assert!(store.load(&key(199), Timestamp::from_millis(200)).await.expect("load").is_some(), "the newest stays");
    }
}
