//! A store written outside session-kit, with nothing but `session_kit::...` paths (no
//! `session_core`, no `async_trait` of its own), passes the conformance suite and plugs into a
//! layer: proof that the facade exports all a store writer needs.

#![cfg(feature = "conformance")]

use std::collections::HashMap;
use std::sync::Mutex;

use session_kit::store::{
    async_trait, Applied, Change, Created, Record, Renamed, Store, StoreError, StoreKey, Timestamp,
};

/// Every record in one map behind one lock: each method is atomic, which is all the suite's
/// concurrency checks ask of a store.
#[derive(Default)]
struct HashMapStore {
    records: Mutex<HashMap<StoreKey, Record>>,
}

impl HashMapStore {
    fn records(&self) -> Result<std::sync::MutexGuard<'_, HashMap<StoreKey, Record>>, StoreError> {
        // A poisoned lock means a panic mid-write: report it rather than serve a torn record.
        self.records.lock().map_err(|_| StoreError::backend("hash map", "the lock is poisoned"))
    }
}

fn is_live(record: Option<&Record>, now: Timestamp) -> bool {
    record.is_some_and(|record| !record.meta.is_expired(now))
}

#[async_trait]
impl Store for HashMapStore {
    async fn load(&self, key: &StoreKey, now: Timestamp) -> Result<Option<Record>, StoreError> {
        let records = self.records()?;
        let Some(record) = records.get(key).filter(|record| !record.meta.is_expired(now)) else {
            return Ok(None);
        };
        let mut record = record.clone();
        record.drop_expired_entries(now);
        Ok(Some(record))
    }

    async fn create(&self, key: &StoreKey, record: &Record, now: Timestamp) -> Result<Created, StoreError> {
        let mut records = self.records()?;
        if is_live(records.get(key), now) {
            return Ok(Created::KeyTaken);
        }
        records.insert(*key, record.clone());
        Ok(Created::Stored)
    }

    async fn apply(&self, key: &StoreKey, change: &Change, now: Timestamp) -> Result<Applied, StoreError> {
        let mut records = self.records()?;
        match records.get_mut(key) {
            Some(record) if !record.meta.is_expired(now) => {
                record.apply(change);
                record.drop_expired_entries(now);
                Ok(Applied::Done)
            }
            _ => Ok(Applied::Gone),
        }
    }

    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        self.records()?.remove(key);
        Ok(())
    }

    async fn rename(&self, from: &StoreKey, to: &StoreKey, now: Timestamp) -> Result<Renamed, StoreError> {
        let mut records = self.records()?;
        if !is_live(records.get(from), now) {
            return Ok(Renamed::Gone);
        }
        if is_live(records.get(to), now) {
            return Ok(Renamed::KeyTaken);
        }
        if let Some(record) = records.remove(from) {
            records.insert(*to, record);
        }
        Ok(Renamed::Done)
    }

    async fn collect_expired(&self, now: Timestamp) -> Result<u64, StoreError> {
        let mut records = self.records()?;
        let before = records.len();
        records.retain(|_, record| !record.meta.is_expired(now));
        Ok((before - records.len()) as u64)
    }

    async fn count_live(&self, now: Timestamp) -> Result<u64, StoreError> {
        Ok(self.records()?.values().filter(|record| !record.meta.is_expired(now)).count() as u64)
    }
}

session_kit::store::store_conformance!(hash_map_store, async { HashMapStore::default() });

/// The store goes where the built-in ones go.
#[test]
fn plugs_into_a_layer() {
    use session_kit::{Session, SessionLayer};

    #[derive(Session)]
    struct App {
        user_id: Option<u64>,
    }

    let layer = SessionLayer::<App>::new(HashMapStore::default());
    assert!(layer.validate().is_ok());
}

/// What this file proves holds only while it names nothing but the facade.
#[test]
fn uses_only_the_facade() {
    let source = include_str!("external_store.rs");
    let code: String = source.lines().filter(|line| !line.trim_start().starts_with("//")).collect();
    for (forbidden, why) in [
        (concat!("session", "_core"), "the store must be written against the facade alone"),
        (concat!("async", "_trait::"), "`async_trait` must come from `session_kit::store`"),
    ] {
        assert!(!code.contains(forbidden), "{forbidden} appears in tests/external_store.rs: {why}");
    }
}
