//! The in-process store: a bounded concurrent map.

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
/// then the records closest to expiry are evicted, a sixteenth of the capacity at a time so
/// the cost is paid rarely.
#[derive(Debug)]
pub struct MemoryStore {
    map: DashMap<StoreKey, Record>,
    capacity: usize,
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
        Self { map: DashMap::new(), capacity: capacity.max(1) }
    }

    /// How many records are held, expired ones included until they are reclaimed.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    fn make_room(&self, now: Timestamp) {
        if self.map.len() < self.capacity {
            return;
        }
        self.map.retain(|_, r| !r.meta.is_expired(now));
        let len = self.map.len();
        if len < self.capacity {
            return;
        }
        let excess = len + 1 - self.capacity;
        let batch = excess.max(self.capacity / 16).max(1);
        let mut by_expiry: Vec<(u64, StoreKey)> =
            self.map.iter().map(|r| (r.meta.expires_at().map_or(u64::MAX, Timestamp::as_millis), *r.key())).collect();
        let batch = batch.min(by_expiry.len());
        by_expiry.select_nth_unstable(batch.saturating_sub(1));
        for (_, key) in &by_expiry[..batch] {
            self.map.remove(key);
        }
        tracing::debug!(
            evicted = batch,
            capacity = self.capacity,
            "memory store full: evicted sessions closest to expiry"
        );
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn load(&self, key: &StoreKey, now: Timestamp) -> Result<Option<Record>, StoreError> {
        let Some(found) = self.map.get(key) else { return Ok(None) };
        if found.meta.is_expired(now) {
            drop(found);
            self.map.remove_if(key, |_, r| r.meta.is_expired(now));
            return Ok(None);
        }
        let mut record = found.clone();
        drop(found);
        record.drop_expired_entries(now);
        Ok(Some(record))
    }

    async fn create(&self, key: &StoreKey, record: &Record, now: Timestamp) -> Result<Created, StoreError> {
        self.make_room(now);
        match self.map.entry(*key) {
            MapEntry::Occupied(o) if !o.get().meta.is_expired(now) => Ok(Created::KeyTaken),
            MapEntry::Occupied(mut o) => {
                o.insert(record.clone());
                Ok(Created::Stored)
            }
            MapEntry::Vacant(v) => {
                v.insert(record.clone());
                Ok(Created::Stored)
            }
        }
    }

    async fn apply(&self, key: &StoreKey, change: &Change, now: Timestamp) -> Result<Applied, StoreError> {
        match self.map.get_mut(key) {
            Some(mut record) if !record.meta.is_expired(now) => {
                record.apply(change);
                record.drop_expired_entries(now);
                Ok(Applied::Done)
            }
            _ => Ok(Applied::Gone),
        }
    }

    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        self.map.remove(key);
        Ok(())
    }

    async fn rename(&self, from: &StoreKey, to: &StoreKey, now: Timestamp) -> Result<Renamed, StoreError> {
        if self.map.get(to).is_some_and(|r| !r.meta.is_expired(now)) {
            return Ok(Renamed::KeyTaken);
        }
        let Some((_, record)) = self.map.remove_if(from, |_, r| !r.meta.is_expired(now)) else {
            return Ok(Renamed::Gone);
        };
        // One shard lock at a time (dashmap's locks are not reentrant and both keys may share
        // a shard): the check above is repeated under the new key's lock, and in the rare race
        // where a live session took it meanwhile, the record goes back where it was.
        match self.map.entry(*to) {
            MapEntry::Occupied(o) if !o.get().meta.is_expired(now) => {
                drop(o);
                self.map.insert(*from, record);
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
        let before = self.map.len();
        self.map.retain(|_, r| !r.meta.is_expired(now));
        Ok(before.saturating_sub(self.map.len()) as u64)
    }
}
