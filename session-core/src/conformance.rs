//! The store conformance suite: one set of checks every [`Store`] must pass.
//!
//! Run it on a store of your own with [`store_conformance!`](crate::store_conformance), which
//! writes one `#[test]` per check into a module:
//!
//! ```no_run
//! # mod demo {
//! use session_core::MemoryStore;
//!
//! session_core::store_conformance!(memory_store, async { MemoryStore::new() });
//! # }
//! ```
//!
//! The expression is evaluated once per check, on the check's own multi-threaded tokio runtime,
//! and must give a store or a `(store, guard)` pair; the guard (a temporary directory, a
//! database handle, ...) is dropped only after the check has finished:
//!
//! ```no_run
//! # mod demo {
//! # async fn open(_: &std::path::Path) -> session_core::MemoryStore { session_core::MemoryStore::new() }
//! session_core::store_conformance!(my_store, async {
//!     let dir = tempfile::tempdir().expect("temporary directory");
//!     let store = open(dir.path()).await;
//!     (store, dir)
//! });
//! # }
//! ```
//!
//! The checks use explicit [`Timestamp`](crate::Timestamp)s, so expiry is tested without waiting. Each check
//! uses fresh random keys and, except [`checks::collect_expired_removes_expired_and_keeps_live`],
//! only timestamps far above the ones that check collects at, so the checks may run in
//! parallel against one shared database or server. [`checks::count_live_counts_live_records_only`]
//! counts at a time after every deadline the other checks write, and waits while another
//! check of the process writes a record without deadlines (live at every time). The two
//! checks that expect exact numbers need the backend to themselves: run one process of the
//! suite per database or key prefix at a time.
//!
//! The checks named `owner_*` drive an [`Engine`](crate::Engine) of a session type with an owner
//! field over the store, and check the owner's list ([`Sessions`](crate::Sessions)): concurrent
//! logins, listings raced against logouts, owner changes, ending by reference. They need nothing
//! beyond the [`Store`] trait.

use std::any::Any;
use std::future::Future;
use std::sync::Arc;

use crate::store::Store;

/// What a [`store_conformance!`](crate::store_conformance) factory may give: a store, or a
/// store with a guard that must outlive the check.
pub trait StoreUnderTest: Send + 'static {
    /// The store as the checks use it, and whatever must be kept alive beside it.
    fn into_parts(self) -> (Arc<dyn Store>, Box<dyn Any + Send>);
}

impl<S: Store> StoreUnderTest for S {
    fn into_parts(self) -> (Arc<dyn Store>, Box<dyn Any + Send>) {
        (Arc::new(self), Box::new(()))
    }
}

impl<S: Store, G: Send + 'static> StoreUnderTest for (S, G) {
    fn into_parts(self) -> (Arc<dyn Store>, Box<dyn Any + Send>) {
        (Arc::new(self.0), Box::new(self.1))
    }
}

/// Runs one check on a store made by `make`, on a fresh multi-threaded tokio runtime.
///
/// [`store_conformance!`](crate::store_conformance) calls this; call it yourself to run a
/// single check.
///
/// # Panics
///
/// When the check fails (that is how a test fails), or when no tokio runtime can be built.
pub fn run<F, Fut, T, C, CFut>(make: F, check: C)
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = T>,
    T: StoreUnderTest,
    C: FnOnce(Arc<dyn Store>) -> CFut,
    CFut: Future<Output = ()>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("the conformance suite needs a tokio runtime");
    runtime.block_on(async move {
        let (store, guard) = make().await.into_parts();
        check(store).await;
        drop(guard);
    });
}

/// Checks that clones of `store` are handles on the same sessions, as every store of this
/// crate is (a layer and a [`Collector`](crate::Collector) each hold one): a record created
/// through one clone loads, changes and goes away through the others, also after a clone was
/// dropped.
///
/// Not part of [`store_conformance!`](crate::store_conformance), which sees stores only as
/// `Arc<dyn Store>`: call it from a test of your own on a freshly opened store. It uses a
/// random key and deletes its record.
///
/// # Panics
///
/// When a clone misses what another wrote, or an operation fails.
pub async fn clones_share_sessions<S: Store + Clone>(store: S) {
    checks::clones_share_sessions(store).await;
}

/// Writes a module `$name` with one `#[test]` per conformance check, each running on a store
/// made by `$make` (an expression giving a future of a store or of a `(store, guard)` pair).
///
/// Needs the `conformance` feature of `session-core`; the tests need no other dependency.
/// See the [`conformance`](crate::conformance) module for what is checked.
#[macro_export]
macro_rules! store_conformance {
    ($name:ident, $make:expr $(,)?) => {
        #[allow(unused_imports)]
        mod $name {
            use super::*;

            $crate::__store_conformance_tests!(
                $make;
                load_of_unknown_key_is_none,
                create_then_load_round_trips,
                create_on_live_key_is_key_taken_and_keeps_the_original,
                create_over_expired_key_replaces_it,
                apply_sets_replaces_and_removes_entries_and_meta,
                apply_keeps_entries_it_does_not_name,
                apply_to_missing_key_is_gone_and_creates_nothing,
                entry_ttl_expires_on_its_own,
                load_shared_gives_what_load_gives,
                absolute_deadline_ends_the_record,
                idle_deadline_ends_the_record_and_slides,
                collect_expired_removes_expired_and_keeps_live,
                rename_moves_the_record,
                rename_of_missing_or_expired_key_is_gone,
                rename_onto_a_live_key_is_key_taken_and_keeps_both,
                delete_then_load_is_none,
                no_resurrection_after_delete,
                concurrent_applies_to_different_fields_lose_nothing,
                concurrent_applies_to_one_field_leave_one_whole_value,
                count_live_counts_live_records_only,
                delete_session_removes_that_session_only,
                owner_concurrent_logins_are_all_listed,
                owner_listing_raced_against_logouts_and_logins_is_exact,
                owner_change_moves_the_session_between_lists,
                owner_end_takes_only_the_owners_own_references,
                owner_ended_sessions_refuse_in_flight_changes,
            );
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_tests {
    ($make:expr; $($check:ident),* $(,)?) => {
        $(
            #[test]
            fn $check() {
                $crate::conformance::run(|| $make, $crate::conformance::checks::$check);
            }
        )*
    };
}

/// The checks, one `async fn` each; every one asserts, so a broken store fails it.
pub mod checks {
    use std::sync::Arc;
    use std::time::Duration;

    use crate::codec::{Codec, CodecError};
    use crate::data::{FieldSpec, SessionData};
    use crate::engine::{CookieOp, Engine};
    use crate::id::{SessionId, StoreKey};
    use crate::owner::{index_key, SessionRef, Sessions};
    use crate::record::{Change, Entry, Meta, Record};
    use crate::store::{delete_session, Applied, Created, Renamed, Store};
    use crate::time::Timestamp;
    use crate::time::{Clock, ManualClock};

    /// The time most checks happen around (November 2023).
    const BASE: Timestamp = Timestamp::from_millis(1_700_000_000_000);
    /// The time the garbage-collection check happens around: years before every deadline the
    /// other checks write, so its exact counts hold even when checks share one backend.
    const GC_BASE: Timestamp = Timestamp::from_millis(1_000_000_000_000);

    /// The time the counting check happens around (2096): after every deadline the other
    /// checks write, so of their records only those without deadlines are live then.
    const COUNT_BASE: Timestamp = Timestamp::from_millis(4_000_000_000_000);

    /// Records without deadlines are live at every time, so a count would see those another
    /// check creates meanwhile: checks create them holding this for reading, and the counting
    /// check counts holding it for writing.
    static UNDATED: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

    fn at(base: Timestamp, secs: u64) -> Timestamp {
        base.after(Duration::from_secs(secs))
    }

    fn key() -> StoreKey {
        // Random keys keep checks apart when they share a backend (and across reruns).
        StoreKey::parse(&format!("{:032x}", rand::random::<u128>())).expect("32 hex digits are a store key")
    }

    fn entry(value: &[u8]) -> Entry {
        Entry { value: value.to_vec(), expires_at: None }
    }

    fn entry_until(value: &[u8], expires_at: Timestamp) -> Entry {
        Entry { value: value.to_vec(), expires_at: Some(expires_at) }
    }

    /// A session created at `base` that lives for a day (idle) and a week (absolute), last
    /// active a minute after it was created.
    fn meta(base: Timestamp) -> Meta {
        Meta {
            created_at: base,
            idle_deadline: Some(at(base, 86_400)),
            absolute_deadline: Some(at(base, 7 * 86_400)),
            remember_me: false,
            last_active: at(base, 60),
            lifetime: None,
        }
    }

    fn record(meta: Meta, entries: &[(&str, Entry)]) -> Record {
        Record { meta, entries: entries.iter().map(|(k, e)| ((*k).to_owned(), e.clone())).collect() }
    }

    fn set(entries: &[(&str, Entry)]) -> Change {
        Change { set: entries.iter().map(|(k, e)| ((*k).to_owned(), e.clone())).collect(), ..Change::default() }
    }

    /// Entries in key order: stores need not keep the order they were written in.
    fn sorted(mut record: Record) -> Record {
        record.entries.sort_by(|a, b| a.0.cmp(&b.0));
        record
    }

    #[track_caller]
    fn assert_record(found: Option<Record>, expected: &Record, what: &str) {
        let found = found.unwrap_or_else(|| panic!("{what}: expected a record, the store returned none"));
        assert_eq!(sorted(found), sorted(expected.clone()), "{what}");
    }

    async fn load(store: &dyn Store, key: &StoreKey, now: Timestamp) -> Option<Record> {
        store.load(key, now).await.expect("load failed")
    }

    async fn create(store: &dyn Store, key: &StoreKey, record: &Record, now: Timestamp) {
        let created = store.create(key, record, now).await.expect("create failed");
        assert_eq!(created, Created::Stored, "create of a fresh key");
    }

    async fn apply(store: &dyn Store, key: &StoreKey, change: &Change, now: Timestamp) -> Applied {
        store.apply(key, change, now).await.expect("apply failed")
    }

    /// See [`super::clones_share_sessions`].
    pub(super) async fn clones_share_sessions<S: Store + Clone>(store: S) {
        let (original, clone) = (store.clone(), store);
        let k = key();
        let r = record(meta(BASE), &[("a", entry(b"1"))]);
        create(&original, &k, &r, BASE).await;
        assert_record(load(&clone, &k, at(BASE, 1)).await, &r, "a clone loads what the original created");
        assert_eq!(
            apply(&clone, &k, &set(&[("b", entry(b"2"))]), at(BASE, 2)).await,
            Applied::Done,
            "apply via a clone"
        );
        let changed = record(meta(BASE), &[("a", entry(b"1")), ("b", entry(b"2"))]);
        assert_record(load(&original, &k, at(BASE, 3)).await, &changed, "the original sees a clone's change");
        // A handle that outlives the others still reaches the sessions.
        let later = original.clone();
        drop(original);
        drop(clone);
        assert_record(load(&later, &k, at(BASE, 4)).await, &changed, "a clone after the others were dropped");
        let last = later.clone();
        last.delete(&k).await.expect("delete failed");
        assert_eq!(load(&later, &k, at(BASE, 5)).await, None, "a clone still loads what another deleted");
    }

    /// A key never stored loads as `None`.
    pub async fn load_of_unknown_key_is_none(store: Arc<dyn Store>) {
        assert_eq!(load(&*store, &key(), BASE).await, None, "load of a key never stored");
    }

    /// What `create` stores, `load` gives back: every entry (empty values and entry deadlines
    /// included) and every field of the metadata; also a record with no entries or deadlines.
    pub async fn create_then_load_round_trips(store: Arc<dyn Store>) {
        let k = key();
        let full = record(
            Meta { remember_me: true, lifetime: Some(Duration::from_millis(3 * 86_400_000 + 1)), ..meta(BASE) },
            &[
                ("user_id", entry(&[7])),
                ("empty", entry(&[])),
                ("otp", entry_until(b"123456", at(BASE, 600))),
                ("bytes", entry(&(0..=255).collect::<Vec<u8>>())),
                ("unicode key \u{e9}\u{1f600}", entry(b"v")),
            ],
        );
        create(&*store, &k, &full, BASE).await;
        assert_record(load(&*store, &k, at(BASE, 1)).await, &full, "round trip");

        let bare_key = key();
        let bare = Record::new(Meta::new(BASE));
        let undated = UNDATED.read().await;
        create(&*store, &bare_key, &bare, BASE).await;
        drop(undated);
        assert_record(load(&*store, &bare_key, at(BASE, 1)).await, &bare, "record without entries or deadlines");
        assert_record(
            load(&*store, &bare_key, Timestamp::from_millis(i64::MAX as u64 - 1)).await,
            &bare,
            "a record without deadlines never expires",
        );
    }

    /// `create` on a key a live record has returns `KeyTaken` and writes nothing.
    pub async fn create_on_live_key_is_key_taken_and_keeps_the_original(store: Arc<dyn Store>) {
        let k = key();
        let original = record(meta(BASE), &[("a", entry(b"original"))]);
        create(&*store, &k, &original, BASE).await;
        let intruder = record(Meta { remember_me: true, ..meta(at(BASE, 5)) }, &[("b", entry(b"intruder"))]);
        let created = store.create(&k, &intruder, at(BASE, 5)).await.expect("create failed");
        assert_eq!(created, Created::KeyTaken, "create on a live key");
        assert_record(load(&*store, &k, at(BASE, 6)).await, &original, "the original after a refused create");
    }

    /// `create` over a record that has expired stores the new record, with nothing of the old.
    pub async fn create_over_expired_key_replaces_it(store: Arc<dyn Store>) {
        let k = key();
        let short = Meta { idle_deadline: Some(at(BASE, 10)), ..meta(BASE) };
        create(&*store, &k, &record(short, &[("old", entry(b"old")), ("shared", entry(b"old"))]), BASE).await;
        let later = at(BASE, 20);
        let fresh = record(meta(later), &[("shared", entry(b"new"))]);
        let created = store.create(&k, &fresh, later).await.expect("create failed");
        assert_eq!(created, Created::Stored, "create over an expired record");
        assert_record(load(&*store, &k, at(later, 1)).await, &fresh, "the new record, without the old entries");
    }

    /// `apply` sets new entries, replaces and removes existing ones and replaces the metadata.
    pub async fn apply_sets_replaces_and_removes_entries_and_meta(store: Arc<dyn Store>) {
        let k = key();
        let start = record(meta(BASE), &[("keep", entry(b"k")), ("replace", entry(b"r1")), ("remove", entry(b"x"))]);
        create(&*store, &k, &start, BASE).await;
        let new_meta = Meta {
            created_at: BASE,
            idle_deadline: Some(at(BASE, 2 * 86_400)),
            absolute_deadline: Some(at(BASE, 30 * 86_400)),
            remember_me: true,
            last_active: at(BASE, 86_400),
            lifetime: Some(Duration::from_secs(5 * 86_400)),
        };
        let change = Change {
            set: vec![
                ("replace".into(), entry_until(b"r2", at(BASE, 3600))),
                ("added".into(), entry(b"a")),
                // Set wins over remove of the same key, as in `Record::apply`.
                ("removed then set".into(), entry(b"s")),
            ],
            remove: vec!["remove".into(), "removed then set".into(), "never there".into()],
            meta: Some(new_meta),
        };
        assert_eq!(apply(&*store, &k, &change, at(BASE, 1)).await, Applied::Done, "apply to a live record");
        let mut expected = start.clone();
        expected.apply(&change);
        assert_record(load(&*store, &k, at(BASE, 2)).await, &expected, "after apply");
        assert!(expected.meta.remember_me && expected.get("remove").is_none(), "the expectation itself changed");

        let only_meta = Change { meta: Some(Meta { remember_me: false, ..new_meta }), ..Change::default() };
        assert_eq!(apply(&*store, &k, &only_meta, at(BASE, 3)).await, Applied::Done, "apply of metadata alone");
        expected.apply(&only_meta);
        assert_record(load(&*store, &k, at(BASE, 4)).await, &expected, "after a metadata-only apply");

        let only_remove = Change { remove: vec!["keep".into()], ..Change::default() };
        assert_eq!(apply(&*store, &k, &only_remove, at(BASE, 5)).await, Applied::Done, "apply of a removal alone");
        expected.apply(&only_remove);
        assert_record(load(&*store, &k, at(BASE, 6)).await, &expected, "after a removal-only apply");
    }

    /// Entries a change does not name keep their stored value, including keys the writer does
    /// not know (written by a newer deploy) and values written after the writer loaded.
    pub async fn apply_keeps_entries_it_does_not_name(store: Arc<dyn Store>) {
        let k = key();
        let start = record(meta(BASE), &[("mine", entry(b"1")), ("from_newer_deploy", entry(b"future"))]);
        create(&*store, &k, &start, BASE).await;
        // Another request writes `theirs` after this one loaded `start`.
        assert_eq!(apply(&*store, &k, &set(&[("theirs", entry(b"t"))]), at(BASE, 1)).await, Applied::Done);
        // This request only ever knew `mine`.
        assert_eq!(apply(&*store, &k, &set(&[("mine", entry(b"2"))]), at(BASE, 2)).await, Applied::Done);
        let expected = record(
            meta(BASE),
            &[("mine", entry(b"2")), ("from_newer_deploy", entry(b"future")), ("theirs", entry(b"t"))],
        );
        assert_record(load(&*store, &k, at(BASE, 3)).await, &expected, "entries not named by a change");
    }

    /// A change to a key with no record is refused and stores nothing.
    pub async fn apply_to_missing_key_is_gone_and_creates_nothing(store: Arc<dyn Store>) {
        let k = key();
        let change = Change { meta: Some(meta(BASE)), ..set(&[("a", entry(b"a"))]) };
        assert_eq!(apply(&*store, &k, &change, BASE).await, Applied::Gone, "apply to a key never stored");
        assert_eq!(load(&*store, &k, at(BASE, 1)).await, None, "a refused apply stored something");
    }

    /// An entry with its own deadline is not returned once it has passed, while the session
    /// and its other entries live on; an entry expiring exactly at `now` is already gone.
    pub async fn entry_ttl_expires_on_its_own(store: Arc<dyn Store>) {
        let k = key();
        let r = record(
            meta(BASE),
            &[
                ("plain", entry(b"p")),
                ("otp", entry_until(b"o", at(BASE, 600))),
                ("flash", entry_until(b"f", at(BASE, 60))),
            ],
        );
        create(&*store, &k, &r, BASE).await;
        assert_record(load(&*store, &k, at(BASE, 59)).await, &r, "before any entry deadline");
        let without_flash = record(meta(BASE), &[("plain", entry(b"p")), ("otp", entry_until(b"o", at(BASE, 600)))]);
        assert_record(load(&*store, &k, at(BASE, 60)).await, &without_flash, "an entry at its deadline");
        assert_record(load(&*store, &k, at(BASE, 601)).await, &record(meta(BASE), &[("plain", entry(b"p"))]), "later");

        // An entry written with a deadline already past is not returned either.
        let stale = set(&[("stale", entry_until(b"s", at(BASE, 640)))]);
        assert_eq!(apply(&*store, &k, &stale, at(BASE, 650)).await, Applied::Done);
        assert_record(load(&*store, &k, at(BASE, 651)).await, &record(meta(BASE), &[("plain", entry(b"p"))]), "stale");
        // And a fresh value for an expired entry counts again.
        let renewed = set(&[("otp", entry_until(b"o2", at(BASE, 2000)))]);
        assert_eq!(apply(&*store, &k, &renewed, at(BASE, 800)).await, Applied::Done);
        assert_record(
            load(&*store, &k, at(BASE, 801)).await,
            &record(meta(BASE), &[("plain", entry(b"p")), ("otp", entry_until(b"o2", at(BASE, 2000)))]),
            "an expired entry written again",
        );
    }

    /// `load_shared` gives what `load` gives, entries whose ttl ran out aside (it may keep
    /// them), and a record it handed out stays as it was when the session changes afterwards.
    pub async fn load_shared_gives_what_load_gives(store: Arc<dyn Store>) {
        let shared = |found: Option<Arc<Record>>, now: Timestamp| {
            found.map(|record| {
                let mut record = Arc::unwrap_or_clone(record);
                record.drop_expired_entries(now);
                record
            })
        };
        let load_shared = |k: StoreKey, now: Timestamp| {
            let store = store.clone();
            async move { store.load_shared(&k, now).await.expect("load_shared failed") }
        };
        assert_eq!(load_shared(key(), BASE).await, None, "a key never stored");
        let k = key();
        let r = record(meta(BASE), &[("plain", entry(b"p")), ("otp", entry_until(b"o", at(BASE, 600)))]);
        create(&*store, &k, &r, BASE).await;
        for now in [at(BASE, 1), at(BASE, 600), at(BASE, 86_400 + 60)] {
            assert_eq!(
                shared(load_shared(k, now).await, now),
                load(&*store, &k, now).await,
                "at {now:?} (before the entry's deadline, at it, at the session's)"
            );
        }

        let k = key();
        create(&*store, &k, &r, BASE).await;
        let held = load_shared(k, at(BASE, 1)).await.expect("live");
        let before = (*held).clone();
        assert_eq!(apply(&*store, &k, &set(&[("plain", entry(b"changed"))]), at(BASE, 2)).await, Applied::Done);
        assert_eq!(*held, before, "a record handed out does not change under its holder");
        let now = at(BASE, 3);
        let changed = record(meta(BASE), &[("plain", entry(b"changed")), ("otp", entry_until(b"o", at(BASE, 600)))]);
        assert_record(shared(load_shared(k, now).await, now), &changed, "loaded again after the change");
        drop(held);
        assert_eq!(apply(&*store, &k, &set(&[("plain", entry(b"again"))]), at(BASE, 4)).await, Applied::Done);
        let again = record(meta(BASE), &[("plain", entry(b"again")), ("otp", entry_until(b"o", at(BASE, 600)))]);
        assert_record(load(&*store, &k, at(BASE, 5)).await, &again, "a change once no request holds the record");
    }

    /// At its absolute deadline a record is gone for load, apply and rename, and its key may
    /// be created anew, however recent its last request.
    pub async fn absolute_deadline_ends_the_record(store: Arc<dyn Store>) {
        let k = key();
        let m = Meta { absolute_deadline: Some(at(BASE, 100)), ..meta(BASE) };
        create(&*store, &k, &record(m, &[("a", entry(b"a"))]), BASE).await;
        assert!(load(&*store, &k, at(BASE, 99)).await.is_some(), "a record before its absolute deadline");
        let end = at(BASE, 100);
        assert_eq!(load(&*store, &k, end).await, None, "load at the absolute deadline");
        assert_eq!(apply(&*store, &k, &set(&[("b", entry(b"b"))]), end).await, Applied::Gone, "apply when expired");
        let to = key();
        assert_eq!(store.rename(&k, &to, end).await.expect("rename failed"), Renamed::Gone, "rename when expired");
        assert_eq!(load(&*store, &to, end).await, None, "a refused rename stored something");
        // The store may have reclaimed the expired record already; if it has not, the refused
        // apply must not have touched it.
        if let Some(old) = load(&*store, &k, at(BASE, 50)).await {
            assert_eq!(old.get("b"), None, "a refused apply wrote an entry");
        }
        let fresh = record(meta(end), &[("c", entry(b"c"))]);
        assert_eq!(store.create(&k, &fresh, end).await.expect("create failed"), Created::Stored, "create over it");
        assert_record(load(&*store, &k, at(end, 1)).await, &fresh, "the record created over an expired one");
    }

    /// At its idle deadline a record is gone; a change that moves the idle deadline keeps it.
    pub async fn idle_deadline_ends_the_record_and_slides(store: Arc<dyn Store>) {
        let k = key();
        let m = Meta { idle_deadline: Some(at(BASE, 100)), ..meta(BASE) };
        let r = record(m, &[("a", entry(b"a"))]);
        create(&*store, &k, &r, BASE).await;
        // Slide: a request at +90 s moves the idle deadline to +190 s.
        let slid = Meta { idle_deadline: Some(at(BASE, 190)), ..m };
        let touch = Change { meta: Some(slid), ..Change::default() };
        assert_eq!(apply(&*store, &k, &touch, at(BASE, 90)).await, Applied::Done, "sliding the idle deadline");
        assert_record(load(&*store, &k, at(BASE, 150)).await, &record(slid, &[("a", entry(b"a"))]), "after sliding");
        let end = at(BASE, 190);
        assert_eq!(load(&*store, &k, end).await, None, "load at the idle deadline");
        assert_eq!(apply(&*store, &k, &touch, end).await, Applied::Gone, "apply when idle-expired");
        let to = key();
        assert_eq!(store.rename(&k, &to, end).await.expect("rename failed"), Renamed::Gone, "rename when expired");
        assert_eq!(load(&*store, &to, end).await, None, "a refused rename stored something");
        let fresh = record(meta(end), &[("b", entry(b"b"))]);
        assert_eq!(store.create(&k, &fresh, end).await.expect("create failed"), Created::Stored, "create over it");
        assert_record(load(&*store, &k, at(end, 1)).await, &fresh, "the record created over an expired one");
    }

    /// `collect_expired` removes exactly the records expired at `now`, says how many, and
    /// keeps live ones (and records without deadlines) intact.
    pub async fn collect_expired_removes_expired_and_keeps_live(store: Arc<dyn Store>) {
        let now = at(GC_BASE, 1000);
        // Leftovers of an interrupted earlier run on a shared backend would skew the count.
        store.collect_expired(now).await.expect("collect_expired failed");

        let mut expired = Vec::new();
        for (i, deadlines) in
            [(Some(10), Some(5000)), (Some(5000), Some(999)), (Some(1000), None)].into_iter().enumerate()
        {
            let m = Meta {
                created_at: GC_BASE,
                idle_deadline: deadlines.0.map(|s| at(GC_BASE, s)),
                absolute_deadline: deadlines.1.map(|s| at(GC_BASE, s)),
                remember_me: false,
                last_active: GC_BASE,
                lifetime: None,
            };
            let k = key();
            create(&*store, &k, &record(m, &[("i", entry(&[i as u8]))]), GC_BASE).await;
            expired.push(k);
        }
        let mut live = Vec::new();
        // One of them has no deadline.
        let undated = UNDATED.read().await;
        for deadlines in [(Some(1001), Some(5000)), (None, Some(2000)), (None, None)] {
            let m = Meta {
                created_at: GC_BASE,
                idle_deadline: deadlines.0.map(|s| at(GC_BASE, s)),
                absolute_deadline: deadlines.1.map(|s| at(GC_BASE, s)),
                remember_me: true,
                last_active: GC_BASE,
                lifetime: None,
            };
            let r = record(m, &[("live", entry(b"yes")), ("short", entry_until(b"s", at(GC_BASE, 1)))]);
            let k = key();
            create(&*store, &k, &r, GC_BASE).await;
            live.push((k, m));
        }
        drop(undated);

        assert_eq!(store.collect_expired(now).await.expect("collect_expired failed"), 3, "records collected");
        for k in &expired {
            // Loading as of before the deadline tells a removed record from a merely expired one.
            assert_eq!(load(&*store, k, GC_BASE).await, None, "an expired record survived collection");
        }
        for (k, m) in &live {
            assert_record(load(&*store, k, now).await, &record(*m, &[("live", entry(b"yes"))]), "a live record");
        }
        assert_eq!(store.collect_expired(now).await.expect("collect_expired failed"), 0, "a second collection");
    }

    /// `rename` moves the record whole: the new key loads it and takes changes, the old key is
    /// dead at once.
    pub async fn rename_moves_the_record(store: Arc<dyn Store>) {
        let from = key();
        let to = key();
        let r = record(
            Meta { remember_me: true, ..meta(BASE) },
            &[("user_id", entry(&[1])), ("otp", entry_until(b"o", at(BASE, 600)))],
        );
        create(&*store, &from, &r, BASE).await;
        assert_eq!(store.rename(&from, &to, at(BASE, 1)).await.expect("rename failed"), Renamed::Done, "rename");
        assert_eq!(load(&*store, &from, at(BASE, 1)).await, None, "the old key after rename");
        assert_record(load(&*store, &to, at(BASE, 1)).await, &r, "the new key after rename");
        let change = set(&[("after", entry(b"a"))]);
        assert_eq!(apply(&*store, &from, &change, at(BASE, 2)).await, Applied::Gone, "apply to the old key");
        assert_eq!(apply(&*store, &to, &change, at(BASE, 2)).await, Applied::Done, "apply to the new key");
        let mut expected = r.clone();
        expected.apply(&change);
        assert_record(load(&*store, &to, at(BASE, 3)).await, &expected, "the new key after apply");
        assert_eq!(load(&*store, &from, at(BASE, 3)).await, None, "the old key after apply to the new one");
        let again = record(meta(at(BASE, 4)), &[("new", entry(b"n"))]);
        assert_eq!(
            store.create(&from, &again, at(BASE, 4)).await.expect("create failed"),
            Created::Stored,
            "create on the old key after rename"
        );
    }

    /// `rename` of a key with no live record is `Gone` and creates nothing at either key.
    pub async fn rename_of_missing_or_expired_key_is_gone(store: Arc<dyn Store>) {
        let (from, to) = (key(), key());
        assert_eq!(
            store.rename(&from, &to, BASE).await.expect("rename failed"),
            Renamed::Gone,
            "rename of a missing key"
        );
        assert_eq!(load(&*store, &to, BASE).await, None, "the target of a refused rename");
        assert_eq!(load(&*store, &from, BASE).await, None, "the source of a refused rename");

        let deleted = key();
        create(&*store, &deleted, &record(meta(BASE), &[("a", entry(b"a"))]), BASE).await;
        store.delete(&deleted).await.expect("delete failed");
        let to2 = key();
        assert_eq!(
            store.rename(&deleted, &to2, at(BASE, 1)).await.expect("rename failed"),
            Renamed::Gone,
            "rename of a deleted key"
        );
        assert_eq!(load(&*store, &to2, at(BASE, 1)).await, None, "the target of a rename of a deleted key");
    }

    /// `rename` onto a key a live record has is `KeyTaken` and changes neither record (the
    /// engine then tries another id); onto a key whose record has expired, it goes through.
    pub async fn rename_onto_a_live_key_is_key_taken_and_keeps_both(store: Arc<dyn Store>) {
        let (from, to) = (key(), key());
        let mover = record(meta(BASE), &[("who", entry(b"mover"))]);
        let owner = record(Meta { remember_me: true, ..meta(BASE) }, &[("who", entry(b"owner"))]);
        create(&*store, &from, &mover, BASE).await;
        create(&*store, &to, &owner, BASE).await;
        assert_eq!(
            store.rename(&from, &to, at(BASE, 1)).await.expect("rename failed"),
            Renamed::KeyTaken,
            "rename onto a live key"
        );
        assert_record(load(&*store, &to, at(BASE, 1)).await, &owner, "the live record a rename was refused onto");
        assert_record(load(&*store, &from, at(BASE, 1)).await, &mover, "the source of a refused rename");

        let (from2, expired) = (key(), key());
        let short = Meta { idle_deadline: Some(at(BASE, 10)), ..meta(BASE) };
        create(&*store, &expired, &record(short, &[("old", entry(b"o"))]), BASE).await;
        create(&*store, &from2, &mover, BASE).await;
        assert_eq!(
            store.rename(&from2, &expired, at(BASE, 20)).await.expect("rename failed"),
            Renamed::Done,
            "rename onto an expired key"
        );
        assert_record(load(&*store, &expired, at(BASE, 21)).await, &mover, "the record renamed onto an expired key");
        assert_eq!(load(&*store, &from2, at(BASE, 21)).await, None, "the old key after rename");
    }

    /// After `delete` the key loads as `None`; deleting a missing key is not an error.
    pub async fn delete_then_load_is_none(store: Arc<dyn Store>) {
        let k = key();
        create(&*store, &k, &record(meta(BASE), &[("a", entry(b"a"))]), BASE).await;
        assert!(load(&*store, &k, at(BASE, 1)).await.is_some(), "the record before delete");
        store.delete(&k).await.expect("delete failed");
        assert_eq!(load(&*store, &k, at(BASE, 1)).await, None, "load after delete");
        // Even as of a time the record was live: it is gone, not merely hidden.
        assert_eq!(load(&*store, &k, BASE).await, None, "load after delete, as of before it");
        store.delete(&k).await.expect("a second delete failed");
        store.delete(&key()).await.expect("delete of a key never stored failed");
        let r = record(meta(at(BASE, 2)), &[("b", entry(b"b"))]);
        create(&*store, &k, &r, at(BASE, 2)).await;
        assert_record(load(&*store, &k, at(BASE, 3)).await, &r, "a record created after delete");
    }

    /// A change arriving after the session was deleted is refused and never brings it back.
    pub async fn no_resurrection_after_delete(store: Arc<dyn Store>) {
        let k = key();
        create(&*store, &k, &record(meta(BASE), &[("a", entry(b"a"))]), BASE).await;
        store.delete(&k).await.expect("delete failed");
        let change = Change { meta: Some(meta(BASE)), ..set(&[("a", entry(b"again")), ("b", entry(b"b"))]) };
        assert_eq!(apply(&*store, &k, &change, at(BASE, 1)).await, Applied::Gone, "apply after delete");
        assert_eq!(load(&*store, &k, at(BASE, 2)).await, None, "load after a refused apply");
        let meta_only = Change { meta: Some(meta(at(BASE, 3))), ..Change::default() };
        assert_eq!(apply(&*store, &k, &meta_only, at(BASE, 3)).await, Applied::Gone, "metadata apply after delete");
        assert_eq!(load(&*store, &k, at(BASE, 4)).await, None, "load after a refused metadata apply");
    }

    /// 16 concurrent changes to 16 different fields of one record all survive; 50 rounds, each
    /// on a fresh record.
    pub async fn concurrent_applies_to_different_fields_lose_nothing(store: Arc<dyn Store>) {
        const WRITERS: usize = 16;
        for round in 0..50u8 {
            let k = key();
            let start = record(meta(BASE), &[("untouched", entry(&[round]))]);
            create(&*store, &k, &start, BASE).await;
            let barrier = Arc::new(tokio::sync::Barrier::new(WRITERS));
            let mut tasks = Vec::with_capacity(WRITERS);
            for i in 0..WRITERS {
                let (store, barrier) = (store.clone(), barrier.clone());
                tasks.push(tokio::spawn(async move {
                    barrier.wait().await;
                    let change = set(&[(&format!("field{i}"), entry(&[round, i as u8]))]);
                    store.apply(&k, &change, at(BASE, 1)).await
                }));
            }
            for (i, task) in tasks.into_iter().enumerate() {
                let applied = task.await.expect("an apply task panicked").expect("apply failed");
                assert_eq!(applied, Applied::Done, "round {round}: apply of field{i}");
            }
            let found =
                load(&*store, &k, at(BASE, 2)).await.unwrap_or_else(|| panic!("round {round}: record vanished"));
            assert_eq!(found.get("untouched"), Some(&entry(&[round])), "round {round}: an untouched entry changed");
            for i in 0..WRITERS {
                assert_eq!(
                    found.get(&format!("field{i}")),
                    Some(&entry(&[round, i as u8])),
                    "round {round}: the write to field{i} was lost"
                );
            }
            assert_eq!(found.entries.len(), WRITERS + 1, "round {round}: unexpected entries");
        }
    }

    /// Two concurrent changes to one field leave one of the two values whole (value and
    /// deadline from the same writer), never a mix; 50 rounds.
    pub async fn concurrent_applies_to_one_field_leave_one_whole_value(store: Arc<dyn Store>) {
        let a = entry_until(&[0xaa; 40], at(BASE, 3600));
        let b = entry(&[0xbb; 24]);
        for round in 0..50 {
            let k = key();
            create(&*store, &k, &record(meta(BASE), &[("field", entry(b"initial"))]), BASE).await;
            let barrier = Arc::new(tokio::sync::Barrier::new(2));
            let tasks: Vec<_> = [a.clone(), b.clone()]
                .into_iter()
                .map(|value| {
                    let (store, barrier) = (store.clone(), barrier.clone());
                    tokio::spawn(async move {
                        barrier.wait().await;
                        store.apply(&k, &set(&[("field", value)]), at(BASE, 1)).await
                    })
                })
                .collect();
            for task in tasks {
                let applied = task.await.expect("an apply task panicked").expect("apply failed");
                assert_eq!(applied, Applied::Done, "round {round}");
            }
            let found =
                load(&*store, &k, at(BASE, 2)).await.unwrap_or_else(|| panic!("round {round}: record vanished"));
            let value = found.get("field").unwrap_or_else(|| panic!("round {round}: the field vanished"));
            assert!(value == &a || value == &b, "round {round}: the field holds a mix of two writes: {value:?}");
            assert_eq!(found.entries.len(), 1, "round {round}: unexpected entries");
        }
    }

    async fn count(store: &dyn Store, now: Timestamp) -> u64 {
        store.count_live(now).await.expect("count_live failed")
    }

    /// `count_live` counts the records live at `now`, whatever their deadlines, and none that
    /// has expired by then (at its deadline included), was deleted, or was moved away by a
    /// rename (counted once, under its new key).
    pub async fn count_live_counts_live_records_only(store: Arc<dyn Store>) {
        // No other check creates a record without deadlines until this one is done.
        let _alone = UNDATED.write().await;
        let now = at(COUNT_BASE, 7200);
        // Only this check's records make a difference to a count at these times.
        let (before_at_creation, before) = (count(&*store, COUNT_BASE).await, count(&*store, now).await);
        let meta = |idle: Option<u64>, absolute: Option<u64>| Meta {
            created_at: COUNT_BASE,
            idle_deadline: idle.map(|s| at(COUNT_BASE, s)),
            absolute_deadline: absolute.map(|s| at(COUNT_BASE, s)),
            remember_me: false,
            last_active: COUNT_BASE,
            lifetime: None,
        };
        // Expired at `now` by the idle deadline, by the absolute one exactly at `now`, and by
        // the only deadline there is.
        let expired = [meta(Some(3600), Some(86_400)), meta(Some(86_400), Some(7200)), meta(None, Some(5400))];
        // Live by one second, by either deadline alone, and without any.
        let live =
            [meta(Some(7201), Some(86_400)), meta(None, Some(86_400)), meta(Some(86_400), None), meta(None, None)];
        let mut keys = Vec::new();
        for (i, m) in expired.iter().chain(&live).enumerate() {
            let k = key();
            // An expired entry does not make a live session less live.
            let r = record(*m, &[("i", entry(&[i as u8])), ("gone", entry_until(b"g", at(COUNT_BASE, 1)))]);
            create(&*store, &k, &r, COUNT_BASE).await;
            keys.push(k);
        }
        assert_eq!(count(&*store, now).await, before + 4, "records live at the time of the count");
        assert_eq!(count(&*store, COUNT_BASE).await, before_at_creation + 7, "records live when they were created");

        let (deleted, renamed, moved_to) = (keys[3], keys[4], key());
        store.delete(&deleted).await.expect("delete failed");
        assert_eq!(store.rename(&renamed, &moved_to, now).await.expect("rename failed"), Renamed::Done, "rename");
        assert_eq!(count(&*store, now).await, before + 3, "after a delete and a rename");

        // Leaves the backend as it found it.
        for k in keys.iter().chain([&moved_to]) {
            store.delete(k).await.expect("delete failed");
        }
        assert_eq!(count(&*store, now).await, before, "after the check's records were deleted");
    }

    /// Two session types for [`delete_session_removes_that_session_only`]: only their names
    /// matter.
    macro_rules! session_type {
        ($name:ident, $namespace:literal) => {
            struct $name;

            impl SessionData for $name {
                const NAME: &'static str = $namespace;
                const FIELDS: &'static [FieldSpec] = &[];
                fn fresh() -> Self {
                    Self
                }
                fn encode_field<C: Codec>(&self, _: usize, _: &C, _: &mut Vec<u8>) -> Result<(), CodecError> {
                    Ok(())
                }
                fn decode_field<C: Codec>(&mut self, _: usize, _: &C, _: &[u8]) -> Result<(), CodecError> {
                    Ok(())
                }
                fn reset_field(&mut self, _: usize) {}
            }
        };
    }
    session_type!(Cart, "cart");
    session_type!(Auth, "auth");

    /// [`delete_session`] ends one session: that type's record under that id, not the other
    /// session types' records under the same id, nor other ids' records.
    pub async fn delete_session_removes_that_session_only(store: Arc<dyn Store>) {
        let id = || SessionId::new(format!("{:032x}", rand::random::<u128>())).expect("a well-formed id");
        let (id, other) = (id(), id());
        let cart = id.store_key(Cart::NAME);
        let survivors = [
            (id.store_key(Auth::NAME), "another session type's session under the same id"),
            (other.store_key(Cart::NAME), "another id's session of the same type"),
        ];
        let r = record(meta(BASE), &[("a", entry(b"a"))]);
        for k in std::iter::once(&cart).chain(survivors.iter().map(|(k, _)| k)) {
            create(&*store, k, &r, BASE).await;
        }
        delete_session::<Cart>(&*store, &id).await.expect("delete_session failed");
        assert_eq!(load(&*store, &cart, at(BASE, 1)).await, None, "the deleted session");
        for (k, what) in &survivors {
            assert_record(load(&*store, k, at(BASE, 1)).await, &r, what);
        }
        delete_session::<Cart>(&*store, &id).await.expect("deleting a deleted session failed");
    }

    /// The session type of the owner checks: `user` is the owner field, `device` tells the
    /// sessions apart.
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Account {
        user: Option<u64>,
        device: Option<String>,
    }

    impl SessionData for Account {
        const NAME: &'static str = "conformance_account";
        const FIELDS: &'static [FieldSpec] = &[FieldSpec::plain("user"), FieldSpec::plain("device")];
        const OWNER: Option<usize> = Some(0);

        fn fresh() -> Self {
            Self { user: None, device: None }
        }
        fn encode_field<C: Codec>(&self, index: usize, codec: &C, out: &mut Vec<u8>) -> Result<(), CodecError> {
            match index {
                0 => codec.encode(&self.user, out),
                _ => codec.encode(&self.device, out),
            }
        }
        fn decode_field<C: Codec>(&mut self, index: usize, codec: &C, bytes: &[u8]) -> Result<(), CodecError> {
            match index {
                0 => self.user = codec.decode(bytes)?,
                _ => self.device = codec.decode(bytes)?,
            }
            Ok(())
        }
        fn reset_field(&mut self, index: usize) {
            match index {
                0 => self.user = None,
                _ => self.device = None,
            }
        }
        fn owner_key(&self) -> Option<Vec<u8>> {
            self.user.map(|user| user.to_be_bytes().to_vec())
        }
    }

    /// An engine of [`Account`] sessions on `store`, its clock at [`BASE`].
    fn accounts(store: &Arc<dyn Store>) -> (Engine<Account>, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(BASE));
        let mut engine = Engine::<Account>::new(store.clone());
        engine.set_clock(clock.clone());
        (engine, clock)
    }

    /// A random owner, so checks sharing a backend (and reruns) keep apart.
    fn owner() -> u64 {
        rand::random()
    }

    /// The token a save sent.
    #[track_caller]
    fn sent(op: CookieOp, what: &str) -> String {
        match op {
            CookieOp::Set { value, .. } => value,
            other => panic!("{what}: expected a token, the save answered {other:?}"),
        }
    }

    /// Logs in a new session as `user` on `device`: an anonymous session first, then the login
    /// with `cycle_id` when `cycle` (the usual login), else the owner set on creation. Returns
    /// the session's token.
    async fn log_in(engine: &Engine<Account>, user: u64, device: &str, cycle: bool) -> String {
        let mut state = engine.open(None).await.expect("open failed");
        state.data_mut().device = Some(device.to_owned());
        if !cycle {
            state.data_mut().user = Some(user);
            return sent(engine.save(state).await.expect("save failed"), "a login");
        }
        let anonymous = sent(engine.save(state).await.expect("save failed"), "an anonymous session");
        let mut state = engine.open(Some(&anonymous)).await.expect("open failed");
        assert!(!state.is_new(), "the anonymous session opens");
        state.data_mut().user = Some(user);
        state.cycle_id();
        sent(engine.save(state).await.expect("save failed"), "a login with cycle_id")
    }

    /// The session `token` opens, if it is live.
    async fn open(engine: &Engine<Account>, token: &str) -> Option<Account> {
        let state = engine.open(Some(token)).await.expect("open failed");
        (!state.is_new()).then(|| state.data().clone())
    }

    /// The devices listed for `user`, sorted.
    async fn devices(sessions: &Sessions<Account>, user: u64) -> Vec<String> {
        let listed = sessions.list(&user).await.expect("list failed");
        for session in &listed {
            assert_eq!(session.value.user, Some(user), "a listed session of another owner");
        }
        let mut devices: Vec<String> = listed.into_iter().filter_map(|s| s.value.device).collect();
        devices.sort();
        devices
    }

    /// Owner indexes never expire: a check that makes them holds [`UNDATED`] for reading, and
    /// deletes them when done.
    async fn delete_index(store: &dyn Store, user: u64) {
        store.delete(&index_key(Account::NAME, &user.to_be_bytes())).await.expect("delete failed");
    }

    /// 16 concurrent logins of one owner (half with `cycle_id`, the usual login, half setting
    /// the owner on a new session) are all listed, each once, with a distinct reference, its
    /// metadata and value; the current session is marked.
    pub async fn owner_concurrent_logins_are_all_listed(store: Arc<dyn Store>) {
        const LOGINS: usize = 16;
        let _undated = UNDATED.read().await;
        let (engine, _clock) = accounts(&store);
        let user = owner();
        let barrier = Arc::new(tokio::sync::Barrier::new(LOGINS));
        let tasks: Vec<_> = (0..LOGINS)
            .map(|i| {
                let (engine, barrier) = (engine.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    log_in(&engine, user, &format!("device{i:02}"), i % 2 == 0).await
                })
            })
            .collect();
        let mut tokens = Vec::new();
        for task in tasks {
            tokens.push(task.await.expect("a login task panicked"));
        }
        let expected: Vec<String> = (0..LOGINS).map(|i| format!("device{i:02}")).collect();
        let sessions = engine.sessions();
        assert_eq!(devices(&sessions, user).await, expected, "every concurrent login is listed");
        assert_eq!(sessions.count(&user).await.expect("count failed"), LOGINS, "count");
        assert_eq!(sessions.count(&owner()).await.expect("count failed"), 0, "another owner's count");

        let current = SessionId::new(tokens[3].clone()).expect("a token is an id").store_key(Account::NAME);
        let listed = sessions.clone().with_current(Some(current)).list(&user).await.expect("list failed");
        let mut references: Vec<SessionRef> = listed.iter().map(|s| s.reference).collect();
        references.sort();
        references.dedup();
        assert_eq!(references.len(), LOGINS, "references are distinct");
        let marked: Vec<_> = listed.iter().filter(|s| s.is_current).map(|s| s.value.device.clone()).collect();
        assert_eq!(marked, [Some("device03".to_owned())], "the current session is marked, alone");
        for session in &listed {
            assert_eq!(session.created_at, BASE, "created_at");
            assert!(!session.remember_me, "remember_me");
            assert!(!session.reference.to_string().contains(&tokens[3]), "a reference shows no id");
        }
        assert_eq!(engine.sessions().end_all(&user).await.expect("end_all failed"), LOGINS as u64, "end_all");
        for token in &tokens {
            assert_eq!(open(&engine, token).await, None, "a session after end_all");
        }
        assert_eq!(sessions.count(&user).await.expect("count failed"), 0, "count after end_all");
        delete_index(&*store, user).await;
    }

    /// Listings raced against logouts (destroy, owner cleared) and logins never list a session
    /// ended before the listing started, never miss one live from before it started to after
    /// it ended; once the grace period has passed, a listing prunes the index to the live ones.
    pub async fn owner_listing_raced_against_logouts_and_logins_is_exact(store: Arc<dyn Store>) {
        use std::sync::atomic::{AtomicBool, Ordering};
        const STAYING: usize = 6;
        const LEAVING: usize = 8;
        const JOINING: usize = 6;
        let _undated = UNDATED.read().await;
        let (engine, clock) = accounts(&store);
        let user = owner();
        let mut leaving = Vec::new();
        for i in 0..STAYING {
            log_in(&engine, user, &format!("stay{i}"), i % 2 == 0).await;
        }
        for i in 0..LEAVING {
            leaving.push(log_in(&engine, user, &format!("leave{i}"), i % 2 == 1).await);
        }
        let left: Arc<Vec<AtomicBool>> = Arc::new((0..LEAVING).map(|_| AtomicBool::new(false)).collect());
        let joined: Arc<Vec<AtomicBool>> = Arc::new((0..JOINING).map(|_| AtomicBool::new(false)).collect());
        let mut writers = Vec::new();
        for (i, token) in leaving.into_iter().enumerate() {
            let (engine, left) = (engine.clone(), left.clone());
            writers.push(tokio::spawn(async move {
                let mut state = engine.open(Some(&token)).await.expect("open failed");
                if i % 2 == 0 {
                    state.destroy();
                } else {
                    state.data_mut().user = None;
                }
                engine.save(state).await.expect("a logout failed");
                left[i].store(true, Ordering::SeqCst);
            }));
        }
        for i in 0..JOINING {
            let (engine, joined) = (engine.clone(), joined.clone());
            writers.push(tokio::spawn(async move {
                log_in(&engine, user, &format!("join{i}"), i % 2 == 0).await;
                joined[i].store(true, Ordering::SeqCst);
            }));
        }
        let sessions = engine.sessions();
        let mut listings = 0;
        loop {
            let done = writers.iter().all(|w| w.is_finished());
            let left_before: Vec<bool> = left.iter().map(|f| f.load(Ordering::SeqCst)).collect();
            let joined_before: Vec<bool> = joined.iter().map(|f| f.load(Ordering::SeqCst)).collect();
            let listed = devices(&sessions, user).await;
            listings += 1;
            for i in 0..STAYING {
                assert!(listed.contains(&format!("stay{i}")), "listing {listings}: a live session is missing");
            }
            for (i, _) in left_before.iter().enumerate().filter(|(_, left)| **left) {
                assert!(!listed.contains(&format!("leave{i}")), "listing {listings}: a logged-out session is listed");
            }
            for (i, _) in joined_before.iter().enumerate().filter(|(_, joined)| **joined) {
                assert!(listed.contains(&format!("join{i}")), "listing {listings}: a finished login is missing");
            }
            if done {
                break;
            }
        }
        for writer in writers {
            writer.await.expect("a writer panicked");
        }
        let mut expected: Vec<String> =
            (0..STAYING).map(|i| format!("stay{i}")).chain((0..JOINING).map(|i| format!("join{i}"))).collect();
        expected.sort();
        assert_eq!(devices(&sessions, user).await, expected, "after the race");

        // Past the grace period a listing prunes the ended sessions (and the old keys of the
        // cycled ones) from the index.
        clock.advance(Duration::from_secs(120));
        assert_eq!(devices(&sessions, user).await, expected, "after the grace period");
        let index = load(&*store, &index_key(Account::NAME, &user.to_be_bytes()), clock.now()).await;
        let members = index.expect("the owner's index").entries.len();
        assert_eq!(members, STAYING + JOINING, "the index holds the live sessions only, once pruned");
        sessions.end_all(&user).await.expect("end_all failed");
        delete_index(&*store, user).await;
    }

    /// Changing a session's owner (with and without `cycle_id`) moves it from the old owner's
    /// list to the new owner's; clearing it takes it off every list.
    pub async fn owner_change_moves_the_session_between_lists(store: Arc<dyn Store>) {
        let _undated = UNDATED.read().await;
        let (engine, _clock) = accounts(&store);
        let (alice, bob) = (owner(), owner());
        let sessions = engine.sessions();
        let mut token = log_in(&engine, alice, "laptop", true).await;
        assert_eq!(devices(&sessions, alice).await, ["laptop"], "alice's list after her login");
        for (cycle, from, to) in [(false, alice, bob), (true, bob, alice), (true, alice, bob)] {
            let mut state = engine.open(Some(&token)).await.expect("open failed");
            state.data_mut().user = Some(to);
            if cycle {
                state.cycle_id();
            }
            let op = engine.save(state).await.expect("save failed");
            if cycle {
                token = sent(op, "an owner change with cycle_id");
            }
            assert_eq!(devices(&sessions, from).await, Vec::<String>::new(), "the old owner's list (cycle {cycle})");
            assert_eq!(devices(&sessions, to).await, ["laptop"], "the new owner's list (cycle {cycle})");
        }
        let mut state = engine.open(Some(&token)).await.expect("open failed");
        state.data_mut().user = None;
        engine.save(state).await.expect("save failed");
        assert_eq!(devices(&sessions, bob).await, Vec::<String>::new(), "bob's list after the owner was cleared");
        assert!(open(&engine, &token).await.is_some(), "the session itself lives on");
        let key = SessionId::new(token).expect("a token is an id").store_key(Account::NAME);
        store.delete(&key).await.expect("delete failed");
        delete_index(&*store, alice).await;
        delete_index(&*store, bob).await;
    }

    /// `end` ends a session only by a reference listed for the owner given: another owner's
    /// reference, a reference replayed after its session ended, or a made-up one end nothing.
    pub async fn owner_end_takes_only_the_owners_own_references(store: Arc<dyn Store>) {
        let _undated = UNDATED.read().await;
        let (engine, _clock) = accounts(&store);
        let (alice, bob) = (owner(), owner());
        let sessions = engine.sessions();
        let alices = log_in(&engine, alice, "alice", true).await;
        let bobs = log_in(&engine, bob, "bob", false).await;
        let bob_ref = sessions.list(&bob).await.expect("list failed")[0].reference;
        let made_up: SessionRef = "0123456789abcdef0123456789abcdef".parse().expect("a reference");
        for reference in [&bob_ref, &made_up] {
            assert!(!sessions.end(&alice, reference).await.expect("end failed"), "end with a foreign reference");
        }
        assert!(open(&engine, &bobs).await.is_some(), "bob's session after alice tried to end it");
        assert!(open(&engine, &alices).await.is_some(), "alice's session after a foreign reference");
        assert!(sessions.end(&bob, &bob_ref).await.expect("end failed"), "bob ends his own session");
        assert_eq!(open(&engine, &bobs).await, None, "bob's ended session");
        assert!(!sessions.end(&bob, &bob_ref).await.expect("end failed"), "a replayed reference");
        assert_eq!(sessions.end_others(&alice).await.expect("end_others failed"), 1, "end_others without a current");
        delete_index(&*store, alice).await;
        delete_index(&*store, bob).await;
    }

    /// A request in flight for a session ended meanwhile (by `end_others` from another
    /// session of its owner) cannot bring it back: its save is refused, and the session stays
    /// off the owner's list.
    pub async fn owner_ended_sessions_refuse_in_flight_changes(store: Arc<dyn Store>) {
        let _undated = UNDATED.read().await;
        let (engine, _clock) = accounts(&store);
        let user = owner();
        let here = log_in(&engine, user, "here", true).await;
        let there = log_in(&engine, user, "there", true).await;
        let mut in_flight = engine.open(Some(&there)).await.expect("open failed");
        let current = engine.open(Some(&here)).await.expect("open failed");
        let sessions = engine.sessions().with_current(current.store_key());
        assert_eq!(sessions.end_others(&user).await.expect("end_others failed"), 1, "end_others");
        in_flight.data_mut().device = Some("there, changed".to_owned());
        let op = engine.save(in_flight).await.expect("save failed");
        assert_eq!(op, CookieOp::Remove, "the in-flight save of an ended session");
        assert_eq!(open(&engine, &there).await, None, "the ended session stays ended");
        assert_eq!(devices(&sessions, user).await, ["here"], "the list after end_others");
        sessions.end_all(&user).await.expect("end_all failed");
        delete_index(&*store, user).await;
    }
}
