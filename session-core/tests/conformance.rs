//! The store conformance suite on every store of this crate that needs no server.

#![cfg(feature = "conformance")]

#[cfg(feature = "memory")]
session_core::store_conformance!(memory, async { session_core::MemoryStore::new() });

#[cfg(feature = "file")]
session_core::store_conformance!(file, async {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = session_core::FileStore::open(dir.path()).await.expect("open the file store");
    (store, dir)
});

#[cfg(feature = "sqlite")]
session_core::store_conformance!(sqlite_file, async {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("sessions.db");
    let store = session_core::SqliteStore::open(path.to_str().expect("a UTF-8 path")).await.expect("open SQLite");
    (store, dir)
});

#[cfg(feature = "sqlite")]
session_core::store_conformance!(sqlite_memory, async {
    session_core::SqliteStore::open("sqlite::memory:").await.expect("open SQLite in memory")
});

/// Clones of each store are handles on the same sessions.
mod clones {
    #[cfg(feature = "memory")]
    #[tokio::test]
    async fn memory() {
        session_core::conformance::clones_share_sessions(session_core::MemoryStore::new()).await;
    }

    #[cfg(feature = "file")]
    #[tokio::test]
    async fn file() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = session_core::FileStore::open(dir.path()).await.expect("open the file store");
        session_core::conformance::clones_share_sessions(store).await;
    }

    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn sqlite() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("sessions.db");
        let store = session_core::SqliteStore::open(path.to_str().expect("a UTF-8 path")).await.expect("open SQLite");
        session_core::conformance::clones_share_sessions(store).await;
        let store = session_core::SqliteStore::open("sqlite::memory:").await.expect("open SQLite in memory");
        session_core::conformance::clones_share_sessions(store).await;
    }
}

/// The suite must fail stores that break the contract: each defect below is caught by the
/// check named beside it.
#[cfg(feature = "memory")]
mod the_suite_catches {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::sync::Arc;

    use async_trait::async_trait;
    use session_core::conformance::{checks, clones_share_sessions, run};
    use session_core::{
        Applied, Change, Created, MemoryStore, Record, Renamed, Store, StoreError, StoreKey, Timestamp,
    };

    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    enum Defect {
        LosesEntries,
        IgnoresExpiry,
        Resurrects,
        LosesConcurrentUpdates,
        OverwritesLiveKeys,
        RenameKeepsTheOldKey,
        RenameOverwritesLiveKeys,
        CollectsNothing,
        KeepsEntriesNotNamedOut,
        ClonesCopy,
        CountsExpiredRecords,
        CountsAtTheDeadline,
        CountsNothing,
        DeletesEveryRecord,
    }

    /// The memory store with one defect.
    struct Broken(MemoryStore, Defect);

    impl Clone for Broken {
        fn clone(&self) -> Self {
            // A clone with sessions of its own, as a store owning its map by value would make.
            let store = if self.1 == Defect::ClonesCopy { MemoryStore::new() } else { self.0.clone() };
            Self(store, self.1)
        }
    }

    #[async_trait]
    impl Store for Broken {
        async fn load(&self, key: &StoreKey, now: Timestamp) -> Result<Option<Record>, StoreError> {
            let now = if self.1 == Defect::IgnoresExpiry { Timestamp::from_millis(0) } else { now };
            let mut found = self.0.load(key, now).await?;
            if self.1 == Defect::LosesEntries {
                if let Some(r) = &mut found {
                    r.entries.pop();
                }
            }
            Ok(found)
        }
        async fn create(&self, key: &StoreKey, record: &Record, now: Timestamp) -> Result<Created, StoreError> {
            if self.1 == Defect::OverwritesLiveKeys {
                self.0.delete(key).await?;
            }
            self.0.create(key, record, now).await
        }
        async fn apply(&self, key: &StoreKey, change: &Change, now: Timestamp) -> Result<Applied, StoreError> {
            match self.1 {
                Defect::Resurrects if self.0.load(key, now).await?.is_none() => {
                    let mut record = Record::new(change.meta.unwrap_or(session_core::Meta::new(now)));
                    record.apply(change);
                    self.0.create(key, &record, now).await?;
                    Ok(Applied::Done)
                }
                Defect::LosesConcurrentUpdates => {
                    // Read, think, write the whole record back: the classic lost update.
                    let Some(mut record) = self.0.load(key, now).await? else { return Ok(Applied::Gone) };
                    tokio::task::yield_now().await;
                    record.apply(change);
                    self.0.delete(key).await?;
                    self.0.create(key, &record, now).await?;
                    Ok(Applied::Done)
                }
                Defect::KeepsEntriesNotNamedOut => {
                    let change = Change { remove: Vec::new(), ..change.clone() };
                    self.0.apply(key, &change, now).await
                }
                _ => self.0.apply(key, change, now).await,
            }
        }
        async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
            if self.1 == Defect::DeletesEveryRecord {
                // Every record with a deadline, at least: a delete whose filter went missing.
                return self.0.collect_expired(Timestamp::from_millis(u64::MAX)).await.map(drop);
            }
            self.0.delete(key).await
        }
        async fn rename(&self, from: &StoreKey, to: &StoreKey, now: Timestamp) -> Result<Renamed, StoreError> {
            if self.1 == Defect::RenameKeepsTheOldKey {
                let Some(record) = self.0.load(from, now).await? else { return Ok(Renamed::Gone) };
                self.0.create(to, &record, now).await?;
                return Ok(Renamed::Done);
            }
            if self.1 == Defect::RenameOverwritesLiveKeys {
                // What the memory store once did: move the record, whatever lives at `to`.
                self.0.delete(to).await?;
            }
            self.0.rename(from, to, now).await
        }
        async fn collect_expired(&self, now: Timestamp) -> Result<u64, StoreError> {
            if self.1 == Defect::CollectsNothing {
                return Ok(0);
            }
            self.0.collect_expired(now).await
        }
        async fn count_live(&self, now: Timestamp) -> Result<u64, StoreError> {
            match self.1 {
                // The memory store holds expired records until they are reclaimed.
                Defect::CountsExpiredRecords => Ok(self.0.len() as u64),
                // `expires_at >= now` for `expires_at > now`.
                Defect::CountsAtTheDeadline => self.0.count_live(Timestamp::from_millis(now.as_millis() - 1)).await,
                Defect::CountsNothing => Ok(0),
                _ => self.0.count_live(now).await,
            }
        }
    }

    fn fails<C, F>(defect: Defect, check: C)
    where
        C: FnOnce(Arc<dyn Store>) -> F + std::panic::UnwindSafe,
        F: std::future::Future<Output = ()>,
    {
        let outcome =
            catch_unwind(AssertUnwindSafe(|| run(|| async move { Broken(MemoryStore::new(), defect) }, check)));
        assert!(outcome.is_err(), "the suite passed a store that {defect:?}");
    }

    #[test]
    fn lost_entries() {
        fails(Defect::LosesEntries, checks::create_then_load_round_trips);
    }

    #[test]
    fn ignored_expiry() {
        fails(Defect::IgnoresExpiry, checks::entry_ttl_expires_on_its_own);
        fails(Defect::IgnoresExpiry, checks::absolute_deadline_ends_the_record);
        fails(Defect::IgnoresExpiry, checks::idle_deadline_ends_the_record_and_slides);
    }

    #[test]
    fn resurrection() {
        fails(Defect::Resurrects, checks::no_resurrection_after_delete);
        fails(Defect::Resurrects, checks::apply_to_missing_key_is_gone_and_creates_nothing);
    }

    #[test]
    fn lost_concurrent_updates() {
        fails(Defect::LosesConcurrentUpdates, checks::concurrent_applies_to_different_fields_lose_nothing);
        // The owner's index is merged entry by entry too: concurrent logins would go missing.
        fails(Defect::LosesConcurrentUpdates, checks::owner_concurrent_logins_are_all_listed);
    }

    /// A session ended through its owner's list must stay ended.
    #[test]
    fn resurrection_of_an_ended_session() {
        fails(Defect::Resurrects, checks::owner_ended_sessions_refuse_in_flight_changes);
    }

    #[test]
    fn overwritten_live_keys() {
        fails(Defect::OverwritesLiveKeys, checks::create_on_live_key_is_key_taken_and_keeps_the_original);
    }

    #[test]
    fn rename_that_copies() {
        fails(Defect::RenameKeepsTheOldKey, checks::rename_moves_the_record);
    }

    #[test]
    fn rename_that_overwrites_a_live_session() {
        fails(Defect::RenameOverwritesLiveKeys, checks::rename_onto_a_live_key_is_key_taken_and_keeps_both);
    }

    #[test]
    fn collection_that_collects_nothing() {
        fails(Defect::CollectsNothing, checks::collect_expired_removes_expired_and_keeps_live);
    }

    #[test]
    fn removals_that_do_not_remove() {
        fails(Defect::KeepsEntriesNotNamedOut, checks::apply_sets_replaces_and_removes_entries_and_meta);
    }

    #[test]
    fn counts_of_records_that_are_not_live() {
        fails(Defect::CountsExpiredRecords, checks::count_live_counts_live_records_only);
        fails(Defect::CountsAtTheDeadline, checks::count_live_counts_live_records_only);
        fails(Defect::CountsNothing, checks::count_live_counts_live_records_only);
    }

    /// A store without `count_live` answers `Unsupported`, which fails the check rather than
    /// passing for zero sessions.
    #[test]
    fn a_store_that_cannot_count() {
        struct Uncounting(MemoryStore);

        #[async_trait]
        impl Store for Uncounting {
            async fn load(&self, key: &StoreKey, now: Timestamp) -> Result<Option<Record>, StoreError> {
                self.0.load(key, now).await
            }
            async fn create(&self, key: &StoreKey, record: &Record, now: Timestamp) -> Result<Created, StoreError> {
                self.0.create(key, record, now).await
            }
            async fn apply(&self, key: &StoreKey, change: &Change, now: Timestamp) -> Result<Applied, StoreError> {
                self.0.apply(key, change, now).await
            }
            async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
                self.0.delete(key).await
            }
            async fn rename(&self, from: &StoreKey, to: &StoreKey, now: Timestamp) -> Result<Renamed, StoreError> {
                self.0.rename(from, to, now).await
            }
            async fn collect_expired(&self, now: Timestamp) -> Result<u64, StoreError> {
                self.0.collect_expired(now).await
            }
        }

        let store = Uncounting(MemoryStore::new());
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
        let err = runtime.block_on(store.count_live(Timestamp::from_millis(0))).expect_err("count without count_live");
        assert!(matches!(err, StoreError::Unsupported { operation: "count_live" }), "{err:?}");
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            run(|| async move { store }, checks::count_live_counts_live_records_only);
        }));
        assert!(outcome.is_err(), "the suite passed a store that cannot count");
    }

    #[test]
    fn deletion_of_more_than_one_session() {
        fails(Defect::DeletesEveryRecord, checks::delete_session_removes_that_session_only);
    }

    #[test]
    fn clones_that_do_not_share() {
        let outcome = catch_unwind(|| {
            let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
            runtime.block_on(clones_share_sessions(Broken(MemoryStore::new(), Defect::ClonesCopy)));
        });
        assert!(outcome.is_err(), "clones_share_sessions passed a store whose clones copy");
        // The clone is what fails it: the same wrapper with a defect the check does not look at
        // passes.
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
        runtime.block_on(clones_share_sessions(Broken(MemoryStore::new(), Defect::CollectsNothing)));
    }
}
