//! The typed session model end to end, without HTTP: structs deriving `Session` opened and saved
//! by an `Engine` over a memory store that records every write, across simulated requests.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use session_kit::clock::{Clock, ManualClock, Timestamp};
use session_kit::codec::{Codec, Json, Postcard};
use session_kit::id::SessionId;
use session_kit::integration::{CookieOp, Engine, SessionState};
use session_kit::store::{async_trait, Applied, Change, Created, Entry, Record, Renamed, Store, StoreKey};
use session_kit::{MemoryStore, Session, SessionData, StoreError};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
enum Theme {
    // Deliberately not what `default = "Theme::light"` gives, so the tests can tell them apart.
    #[default]
    System,
    Light,
    Dark,
}

impl Theme {
    fn light() -> Self {
        Theme::Light
    }
}

/// The session of DESIGN.md, every attribute once.
#[derive(Session, Debug)]
#[session(name = "app")]
struct App {
    user_id: Option<u64>,
    #[flash]
    notice: Option<String>,
    #[flash]
    alerts: Vec<String>,
    #[session(ttl = "10m")]
    otp: Option<String>,
    #[session(skip)]
    scratch: u32,
    #[session(rename = "t", default = "Theme::light")]
    theme: Theme,
}

/// A write the store received.
#[derive(Debug, Clone)]
enum Write {
    Create(Record),
    Apply(Change),
}

/// A memory store that logs every write, so tests can check what was (not) written.
#[derive(Clone, Default)]
struct Recorder {
    inner: Arc<MemoryStore>,
    writes: Arc<Mutex<Vec<Write>>>,
}

impl Recorder {
    fn take_writes(&self) -> Vec<Write> {
        std::mem::take(&mut *self.writes.lock().expect("not poisoned"))
    }

    /// The record a client holding `token` points at, as the store has it at `now`.
    async fn record(&self, token: &str, now: Timestamp) -> Option<Record> {
        let key = SessionId::new(token.to_owned()).expect("a token the engine issued").store_key("app");
        self.inner.load(&key, now).await.expect("the memory store does not fail")
    }
}

#[async_trait]
impl Store for Recorder {
    async fn load(&self, key: &StoreKey, now: Timestamp) -> Result<Option<Record>, StoreError> {
        self.inner.load(key, now).await
    }
    async fn create(&self, key: &StoreKey, record: &Record, now: Timestamp) -> Result<Created, StoreError> {
        self.writes.lock().expect("not poisoned").push(Write::Create(record.clone()));
        self.inner.create(key, record, now).await
    }
    async fn apply(&self, key: &StoreKey, change: &Change, now: Timestamp) -> Result<Applied, StoreError> {
        self.writes.lock().expect("not poisoned").push(Write::Apply(change.clone()));
        self.inner.apply(key, change, now).await
    }
    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        self.inner.delete(key).await
    }
    async fn rename(&self, from: &StoreKey, to: &StoreKey, now: Timestamp) -> Result<Renamed, StoreError> {
        self.inner.rename(from, to, now).await
    }
    async fn collect_expired(&self, now: Timestamp) -> Result<u64, StoreError> {
        self.inner.collect_expired(now).await
    }
    async fn count_live(&self, now: Timestamp) -> Result<u64, StoreError> {
        self.inner.count_live(now).await
    }
}

/// One browser: a token carried from response to request, against one store and clock.
struct Browser {
    store: Recorder,
    clock: Arc<ManualClock>,
    token: Option<String>,
}

impl Browser {
    fn new() -> Self {
        let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_700_000_000_000)));
        Self { store: Recorder::default(), clock, token: None }
    }

    fn engine<T: SessionData>(&self) -> Engine<T> {
        let mut engine = Engine::<T>::new(self.store.clone());
        engine.set_clock(self.clock.clone());
        engine
    }

    /// One request: opens the session of type `T`, lets `handler` use it, saves it and keeps
    /// the token the response carries.
    async fn request<T: SessionData, R>(&mut self, handler: impl FnOnce(&mut SessionState<T>) -> R) -> R {
        self.request_with(&self.engine::<T>(), handler).await
    }

    async fn request_with<T: SessionData, C: Codec, R>(
        &mut self,
        engine: &Engine<T, C>,
        handler: impl FnOnce(&mut SessionState<T>) -> R,
    ) -> R {
        let mut state = engine.open(self.token.as_deref()).await.expect("open");
        let out = handler(&mut state);
        match engine.save(state).await.expect("save") {
            CookieOp::Set { value, .. } => self.token = Some(value),
            CookieOp::Remove => self.token = None,
            CookieOp::Keep => {}
        }
        out
    }

    /// Reads the session without writing to it.
    async fn read<T: SessionData, R>(&mut self, read: impl FnOnce(&T) -> R) -> R {
        self.request(|s: &mut SessionState<T>| read(s.data())).await
    }

    async fn record(&self) -> Record {
        let token = self.token.as_deref().expect("the session was saved");
        self.store.record(token, Clock::now(&*self.clock)).await.expect("the record exists")
    }

    async fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.record().await.entries.into_iter().map(|(k, _)| k).collect();
        keys.sort();
        keys
    }
}

fn postcard<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    Postcard.encode(value, &mut out).expect("postcard encodes plain values");
    out
}

#[tokio::test]
async fn every_attribute_round_trips_across_requests() {
    let mut b = Browser::new();
    b.request(|s: &mut SessionState<App>| {
        let app = s.data_mut();
        app.user_id = Some(7);
        app.notice = Some("saved".into());
        app.alerts.push("one".into());
        app.otp = Some("123456".into());
        app.scratch = 99;
        app.theme = Theme::Dark;
    })
    .await;
    let app = b.request(|s: &mut SessionState<App>| format!("{:?}", s.data())).await;
    assert_eq!(
        app,
        "App { user_id: Some(7), notice: Some(\"saved\"), alerts: [\"one\"], otp: Some(\"123456\"), scratch: 0, \
         theme: Dark }"
    );
}

#[tokio::test]
async fn renamed_field_is_stored_under_its_new_key() {
    let mut b = Browser::new();
    b.request(|s: &mut SessionState<App>| s.data_mut().theme = Theme::Dark).await;
    let record = b.record().await;
    assert_eq!(b.keys().await, ["t"]);
    assert_eq!(record.get("t").unwrap().value, postcard(&Theme::Dark));
    assert!(record.get("theme").is_none());
}

#[tokio::test]
async fn default_path_gives_the_value_when_nothing_is_stored() {
    let mut b = Browser::new();
    assert_eq!(App::fresh().theme, Theme::Light);
    // A stored session without the key reads the `default = ".."` value, not `Theme::default()`.
    b.request(|s: &mut SessionState<App>| s.data_mut().user_id = Some(1)).await;
    assert_eq!(b.read(|a: &App| a.theme.clone()).await, Theme::Light);
    // Setting a field back to its default removes its entry: it reads the same and costs nothing.
    b.request(|s: &mut SessionState<App>| s.data_mut().theme = Theme::Dark).await;
    assert_eq!(b.keys().await, ["t", "user_id"]);
    b.request(|s: &mut SessionState<App>| s.data_mut().theme = Theme::light()).await;
    assert_eq!(b.keys().await, ["user_id"]);
    assert_eq!(b.read(|a: &App| a.theme.clone()).await, Theme::Light);
}

#[tokio::test]
async fn skipped_field_is_never_stored_and_starts_at_default_each_request() {
    let mut b = Browser::new();
    // Only a skipped field changed: nothing to store, so no session is created.
    b.request(|s: &mut SessionState<App>| s.data_mut().scratch = 5).await;
    assert!(b.token.is_none());
    assert!(b.store.take_writes().is_empty());
    b.request(|s: &mut SessionState<App>| {
        let app = s.data_mut();
        app.scratch = 5;
        app.user_id = Some(1);
    })
    .await;
    assert_eq!(b.keys().await, ["user_id"]);
    let seen = b
        .request(|s: &mut SessionState<App>| {
            let seen = s.data().scratch;
            s.data_mut().scratch = 6;
            seen
        })
        .await;
    assert_eq!(seen, 0);
    assert_eq!(b.read(|a: &App| a.scratch).await, 0);
    assert!(App::FIELDS.iter().all(|f| f.key != "scratch"));
}

mod v1 {
    use super::*;

    #[derive(Session, Debug)]
    #[session(name = "app")]
    pub(crate) struct App {
        pub(crate) user_id: Option<u64>,
        pub(crate) visits: u64,
    }
}

mod v2 {
    use super::*;

    fn english() -> String {
        "en".into()
    }

    /// `v1::App` with a field added.
    #[derive(Session, Debug)]
    #[session(name = "app")]
    pub(crate) struct App {
        pub(crate) user_id: Option<u64>,
        pub(crate) visits: u64,
        #[session(default = "english")]
        pub(crate) locale: String,
    }

    /// `v1::App` with `visits` changed from a count to a flag.
    #[derive(Session, Debug)]
    #[session(name = "app")]
    pub(crate) struct Retyped {
        pub(crate) user_id: Option<u64>,
        pub(crate) visits: bool,
    }
}

#[tokio::test]
async fn newer_struct_reads_older_data_with_defaults_for_new_fields() {
    let mut b = Browser::new();
    b.request(|s: &mut SessionState<v1::App>| s.data_mut().user_id = Some(3)).await;
    let (user_id, locale) = b.read(|a: &v2::App| (a.user_id, a.locale.clone())).await;
    assert_eq!((user_id, locale.as_str()), (Some(3), "en"));
}

#[tokio::test]
async fn older_struct_saving_keeps_keys_only_a_newer_struct_knows() {
    let mut b = Browser::new();
    b.request(|s: &mut SessionState<v2::App>| {
        let app = s.data_mut();
        app.user_id = Some(1);
        app.locale = "fr".into();
    })
    .await;
    // A rolling deploy: an older binary serves the next request and changes a field it knows.
    b.request(|s: &mut SessionState<v1::App>| s.data_mut().user_id = Some(2)).await;
    assert_eq!(b.keys().await, ["locale", "user_id"]);
    let (user_id, locale) = b.read(|a: &v2::App| (a.user_id, a.locale.clone())).await;
    assert_eq!((user_id, locale.as_str()), (Some(2), "fr"));
}

#[tokio::test]
async fn field_whose_type_changed_reads_as_default_and_keeps_its_bytes_unless_written() {
    let mut b = Browser::new();
    b.request(|s: &mut SessionState<v1::App>| {
        let app = s.data_mut();
        app.user_id = Some(1);
        app.visits = 300;
    })
    .await;
    // 300 is not a postcard bool: `visits` reads as `false`, the rest of the session is intact.
    let (user_id, visits) = b
        .request(|s: &mut SessionState<v2::Retyped>| {
            let seen = (s.data().user_id, s.data().visits);
            s.data_mut().user_id = Some(2);
            seen
        })
        .await;
    assert_eq!((user_id, visits), (Some(1), false));
    assert_eq!(b.record().await.get("visits").unwrap().value, postcard(&300u64));
    // The older binary still reads what it wrote.
    assert_eq!(b.read(|a: &v1::App| (a.user_id, a.visits)).await, (Some(2), 300));
    // Once the new binary writes the field, the new type's bytes replace the old ones.
    b.request(|s: &mut SessionState<v2::Retyped>| s.data_mut().visits = true).await;
    assert!(b.read(|a: &v2::Retyped| a.visits).await);
}

#[tokio::test]
async fn flash_is_delivered_to_the_next_request_then_gone() {
    let mut b = Browser::new();
    b.request(|s: &mut SessionState<App>| {
        let app = s.data_mut();
        app.user_id = Some(1);
        app.notice = Some("welcome".into());
        app.alerts.push("a".into());
    })
    .await;
    let seen = b.read(|a: &App| (a.notice.clone(), a.alerts.clone())).await;
    assert_eq!(seen, (Some("welcome".into()), vec!["a".to_string()]));
    assert_eq!(b.keys().await, ["user_id"]);
    let seen = b.read(|a: &App| (a.notice.clone(), a.alerts.clone())).await;
    assert_eq!(seen, (None, vec![]));
}

#[tokio::test]
async fn keep_flash_extends_delivery_by_one_request() {
    let mut b = Browser::new();
    b.request(|s: &mut SessionState<App>| s.data_mut().notice = Some("hi".into())).await;
    let seen = b
        .request(|s: &mut SessionState<App>| {
            s.keep_flash();
            s.data().notice.clone()
        })
        .await;
    assert_eq!(seen.as_deref(), Some("hi"));
    assert_eq!(b.read(|a: &App| a.notice.clone()).await.as_deref(), Some("hi"));
    assert_eq!(b.read(|a: &App| a.notice.clone()).await, None);
}

#[tokio::test]
async fn flash_written_anew_by_the_delivering_request_is_kept() {
    let mut b = Browser::new();
    b.request(|s: &mut SessionState<App>| s.data_mut().notice = Some("first".into())).await;
    let seen = b
        .request(|s: &mut SessionState<App>| {
            let seen = s.data().notice.clone();
            s.data_mut().notice = Some("second".into());
            seen
        })
        .await;
    assert_eq!(seen.as_deref(), Some("first"));
    assert_eq!(b.read(|a: &App| a.notice.clone()).await.as_deref(), Some("second"));
    assert_eq!(b.read(|a: &App| a.notice.clone()).await, None);
}

#[tokio::test]
async fn flash_taken_by_the_delivering_request_is_gone() {
    let mut b = Browser::new();
    b.request(|s: &mut SessionState<App>| s.data_mut().alerts.push("x".into())).await;
    let taken = b.request(|s: &mut SessionState<App>| std::mem::take(&mut s.data_mut().alerts)).await;
    assert_eq!(taken, ["x"]);
    assert_eq!(b.read(|a: &App| a.alerts.clone()).await, Vec::<String>::new());
}

#[tokio::test]
async fn ttl_field_expires_on_its_own() {
    let mut b = Browser::new();
    b.request(|s: &mut SessionState<App>| {
        let app = s.data_mut();
        app.user_id = Some(1);
        app.otp = Some("111".into());
    })
    .await;
    let entry = b.record().await.get("otp").cloned().unwrap();
    let written = Clock::now(&*b.clock);
    assert_eq!(entry.expires_at, Some(written.after(Duration::from_secs(600))));
    b.clock.advance(Duration::from_secs(600) - Duration::from_millis(1));
    assert_eq!(b.read(|a: &App| a.otp.clone()).await.as_deref(), Some("111"));
    b.clock.advance(Duration::from_millis(1));
    assert_eq!(b.read(|a: &App| (a.user_id, a.otp.clone())).await, (Some(1), None));
}

#[tokio::test]
async fn ttl_runs_from_the_latest_write() {
    let mut b = Browser::new();
    b.request(|s: &mut SessionState<App>| s.data_mut().otp = Some("111".into())).await;
    b.clock.advance(Duration::from_secs(300));
    b.request(|s: &mut SessionState<App>| s.data_mut().otp = Some("222".into())).await;
    b.clock.advance(Duration::from_secs(420));
    assert_eq!(b.read(|a: &App| a.otp.clone()).await.as_deref(), Some("222"));
    b.clock.advance(Duration::from_secs(180));
    assert_eq!(b.read(|a: &App| a.otp.clone()).await, None);
}

#[tokio::test]
async fn ttl_field_rewritten_after_expiry_is_stored_again() {
    let mut b = Browser::new();
    b.request(|s: &mut SessionState<App>| {
        let app = s.data_mut();
        app.user_id = Some(1);
        app.otp = Some("111".into());
    })
    .await;
    b.clock.advance(Duration::from_secs(601));
    b.request(|s: &mut SessionState<App>| {
        assert_eq!(s.data().otp, None);
        s.data_mut().otp = Some("222".into());
    })
    .await;
    assert_eq!(b.read(|a: &App| a.otp.clone()).await.as_deref(), Some("222"));
}

#[tokio::test]
async fn only_changed_fields_are_written() {
    let mut b = Browser::new();
    b.request(|s: &mut SessionState<App>| {
        let app = s.data_mut();
        app.user_id = Some(1);
        app.theme = Theme::Dark;
    })
    .await;
    let writes = b.store.take_writes();
    let [Write::Create(record)] = writes.as_slice() else { panic!("expected one create, got {writes:?}") };
    let mut keys: Vec<&str> = record.entries.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["t", "user_id"]);

    b.request(|s: &mut SessionState<App>| s.data_mut().user_id = Some(2)).await;
    let writes = b.store.take_writes();
    let [Write::Apply(change)] = writes.as_slice() else { panic!("expected one apply, got {writes:?}") };
    let set: Vec<&str> = change.set.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(set, ["user_id"]);
    assert_eq!(change.set[0].1.value, postcard(&Some(2u64)));
    assert!(change.remove.is_empty());

    // Mutable access that changes nothing, a value written back unchanged, or only reading:
    // no write at all.
    b.request(|s: &mut SessionState<App>| {
        let app = s.data_mut();
        app.theme = Theme::Dark;
        app.scratch += 1;
    })
    .await;
    b.read(|a: &App| a.user_id).await;
    assert!(b.store.take_writes().is_empty());
}

#[tokio::test]
async fn a_session_never_written_creates_no_record() {
    let mut b = Browser::new();
    let op = {
        let engine = b.engine::<App>();
        let mut state = engine.open(None).await.unwrap();
        let _ = state.data_mut();
        let _ = state.data().user_id;
        engine.save(state).await.unwrap()
    };
    assert_eq!(op, CookieOp::Keep);
    // Setting a field to the value it already has is no write either.
    b.request(|s: &mut SessionState<App>| s.data_mut().theme = Theme::Light).await;
    assert!(b.token.is_none());
    assert!(b.store.take_writes().is_empty());
    assert!(b.store.inner.is_empty());
}

#[tokio::test]
async fn json_codec_stores_readable_values() {
    let mut b = Browser::new();
    let engine = b.engine::<App>().with_codec(Json);
    b.request_with(&engine, |s| {
        let app = s.data_mut();
        app.user_id = Some(42);
        app.theme = Theme::Dark;
    })
    .await;
    let record = b.record().await;
    assert_eq!(record.get("user_id").unwrap().value, b"42");
    assert_eq!(record.get("t").unwrap().value, br#""Dark""#);
    let seen = b.request_with(&engine, |s| (s.data().user_id, s.data().theme.clone())).await;
    assert_eq!(seen, (Some(42), Theme::Dark));
}

#[test]
fn field_methods_follow_fields_and_never_panic_on_a_bad_index() {
    let mut app = App::fresh();
    app.user_id = Some(9);
    app.theme = Theme::Dark;
    let keys: Vec<&str> = App::FIELDS.iter().map(|f| f.key).collect();
    assert_eq!(keys, ["user_id", "notice", "alerts", "otp", "t"]);

    let mut out = Vec::new();
    app.encode_field(4, &Postcard, &mut out).unwrap();
    assert_eq!(out, postcard(&Theme::Dark));
    assert!(app.encode_field(5, &Postcard, &mut out).is_err());
    assert!(app.decode_field(usize::MAX, &Postcard, &out).is_err());
    app.reset_field(5);

    app.decode_field(0, &Postcard, &postcard(&Some(11u64))).unwrap();
    assert_eq!(app.user_id, Some(11));
    // A value that does not decode leaves the field as it was.
    assert!(app.decode_field(0, &Postcard, &[7, 7, 7]).is_err());
    assert_eq!(app.user_id, Some(11));

    // Reset uses the same defaults as `fresh`: `default = ".."` included.
    app.reset_field(4);
    app.reset_field(0);
    assert_eq!((app.user_id, app.theme), (None, Theme::Light));
}

#[tokio::test]
async fn clear_empties_every_field() {
    let mut b = Browser::new();
    b.request(|s: &mut SessionState<v2::App>| {
        let app = s.data_mut();
        app.user_id = Some(1);
        app.locale = "fr".into();
    })
    .await;
    // An older binary clears (say, on logout): keys it does not know go too.
    b.request(|s: &mut SessionState<v1::App>| s.clear()).await;
    let (user_id, locale) = b.read(|a: &v2::App| (a.user_id, a.locale.clone())).await;
    assert_eq!((user_id, locale.as_str()), (None, "en"));
}

#[tokio::test]
async fn clear_removes_a_field_whose_type_changed() {
    let mut b = Browser::new();
    b.request(|s: &mut SessionState<v1::App>| {
        let app = s.data_mut();
        app.user_id = Some(1);
        app.visits = 300;
    })
    .await;
    // The newer binary cannot decode `visits` (it reads `false`) and clears the session...
    b.request(|s: &mut SessionState<v2::Retyped>| s.clear()).await;
    // ...yet an older binary still finds the old value: the clear did not reach it.
    assert_eq!(b.read(|a: &v1::App| (a.user_id, a.visits)).await, (None, 0));
}

/// A log sink for one test: what the `fmt` subscriber writes, kept in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("not poisoned").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn an_undecodable_field_is_logged_without_its_value() {
    use tracing_subscriber::util::SubscriberInitExt as _;
    let logs = Captured::default();
    let sink = logs.clone();
    let _guard = tracing_subscriber::fmt().with_ansi(false).with_writer(move || sink.clone()).finish().set_default();

    let mut b = Browser::new();
    // JSON's message for a value of the wrong type quotes the value: here a secret number.
    let v1 = b.engine::<v1::App>().with_codec(Json);
    b.request_with(&v1, |s| s.data_mut().visits = 271_828).await;
    let retyped = b.engine::<v2::Retyped>().with_codec(Json);
    assert!(!b.request_with(&retyped, |s| s.data().visits).await, "reads as its default");

    let logs = String::from_utf8(logs.0.lock().expect("not poisoned").clone()).expect("UTF-8 logs");
    assert!(logs.contains("does not decode") && logs.contains("visits"), "the warning names the field: {logs}");
    assert!(!logs.contains("271828"), "the stored value never reaches the logs: {logs}");
}

#[test]
fn cookie_op_debug_hides_the_token() {
    let op = CookieOp::Set { value: "SecretSessionId0000000".into(), max_age: None };
    let shown = format!("{op:?}");
    assert!(!shown.contains("SecretSessionId"), "{shown}");
    assert!(shown.contains("redacted"), "{shown}");
}

/// Fields of every kind of encoding: types whose equal values encode alike, hash-ordered
/// collections, whose equal values may not, and an application type the derive cannot vouch for.
#[derive(Session, Debug)]
#[session(name = "app")]
struct Mixed {
    count: u64,
    name: String,
    tags: Vec<String>,
    scores: HashMap<String, u32>,
    seen: HashSet<String>,
    theme: Theme,
    pairs: BTreeMap<String, (u8, Option<String>)>,
}

/// The keys a single apply wrote and removed, sorted.
fn applied(writes: Vec<Write>) -> (Vec<String>, Vec<String>) {
    let [Write::Apply(change)] = writes.as_slice() else { panic!("expected one apply, got {writes:?}") };
    let mut set: Vec<String> = change.set.iter().map(|(k, _)| k.clone()).collect();
    set.sort();
    (set, change.remove.clone())
}

#[test]
fn the_derive_knows_which_field_types_encode_equal_values_alike() {
    let stable: Vec<bool> = (0..Mixed::FIELDS.len()).map(Mixed::stable_encoding).collect();
    assert_eq!(stable, [true, true, true, false, false, false, true]);
    assert!(!Mixed::stable_encoding(Mixed::FIELDS.len()), "past the last field");
}

#[tokio::test]
async fn hash_ordered_fields_are_written_only_when_they_change() {
    let mut b = Browser::new();
    b.request(|s: &mut SessionState<Mixed>| {
        let m = s.data_mut();
        m.count = 1;
        m.scores = (0..16).map(|i| (format!("k{i}"), i)).collect();
        m.seen = (0..16).map(|i| format!("s{i}")).collect();
    })
    .await;
    b.store.take_writes();
    // A map decoded afresh iterates in another order than the one that wrote the stored bytes:
    // that is not a change of the map.
    b.request(|s: &mut SessionState<Mixed>| s.data_mut().count = 2).await;
    assert_eq!(applied(b.store.take_writes()), (vec!["count".to_owned()], vec![]));
    b.request(|s: &mut SessionState<Mixed>| {
        let _ = s.data_mut();
    })
    .await;
    assert!(b.store.take_writes().is_empty(), "mutable access that changes nothing writes nothing");
    b.request(|s: &mut SessionState<Mixed>| s.data_mut().scores.insert("new".into(), 1)).await;
    assert_eq!(applied(b.store.take_writes()), (vec!["scores".to_owned()], vec![]));
    let scores = b.read(|m: &Mixed| m.scores.clone()).await;
    assert_eq!((scores.len(), scores.get("new"), scores.get("k15")), (17, Some(&1), Some(&15)));
}

#[tokio::test]
async fn stored_bytes_written_differently_are_not_taken_for_a_change() {
    let mut b = Browser::new();
    let engine = b.engine::<Mixed>().with_codec(Json);
    b.request_with(&engine, |s| {
        let m = s.data_mut();
        m.count = 1;
        m.name = "x".into();
        m.tags = vec!["a".into()];
    })
    .await;
    // Another writer stored the same values in another JSON form: an escape, spaces.
    let key = SessionId::new(b.token.clone().expect("saved")).expect("a token the engine issued").store_key("app");
    let odd = |bytes: &[u8]| Entry { value: bytes.to_vec(), expires_at: None };
    let change = Change {
        set: vec![("name".into(), odd(br#""\u0078""#)), ("tags".into(), odd(br#"[ "a" ]"#))],
        ..Change::default()
    };
    let now = Clock::now(&*b.clock);
    assert_eq!(b.store.inner.apply(&key, &change, now).await.expect("apply"), Applied::Done);
    b.store.take_writes();
    let seen = b
        .request_with(&engine, |s| {
            let seen = (s.data().name.clone(), s.data().tags.clone());
            s.data_mut().count = 2;
            seen
        })
        .await;
    assert_eq!(seen, ("x".to_owned(), vec!["a".to_owned()]));
    assert_eq!(applied(b.store.take_writes()), (vec!["count".to_owned()], vec![]));
    assert_eq!(b.record().await.get("name").expect("kept").value, br#""\u0078""#, "left as the other writer put it");
    // A real change to such a field is written, in this codec's form.
    b.request_with(&engine, |s| s.data_mut().name = "y".into()).await;
    assert_eq!(applied(b.store.take_writes()), (vec!["name".to_owned()], vec![]));
    assert_eq!(b.record().await.get("name").expect("written").value, br#""y""#);
}
