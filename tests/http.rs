//! The HTTP suite: session behaviour through a real axum router and a real actix-web server,
//! asserted on status, body and `Set-Cookie`. One set of behaviours, two harnesses
//! (`http/axum_app.rs`, `http/actix_app.rs`) serving the same routes with sessions configured
//! the same way ([`Settings`]): every server-side store runs the whole suite on each framework,
//! the cookie store the behaviours that hold for any storage (`http_suite!` at the bottom).

#![allow(clippy::unwrap_used)] // test fixtures: a failed unwrap is a failed test

mod support;

#[path = "http/axum_app.rs"]
mod axum_app;

#[cfg(feature = "actix")]
#[path = "http/actix_app.rs"]
mod actix_app;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use serde::Deserialize;
use session_kit::clock::{ManualClock, Timestamp};
use session_kit::id::{IdGenerator, RandomIds, SessionId};
use session_kit::integration::{IntoStorage, Storage};
use session_kit::store::{async_trait, Applied, Change, Created, Record, Renamed, Store, StoreKey};
use session_kit::token::TokenTransform;
use session_kit::{ConfigError, Key, KeyRing, SameSite, Session, StoreError};
use support::{Client, Req, Server};

#[derive(Session)]
#[session(name = "app")]
pub(crate) struct App {
    name: Option<String>,
    count: u64,
    #[flash]
    notice: Option<String>,
}

#[derive(Session)]
#[session(name = "cart")]
pub(crate) struct Cart {
    items: Vec<String>,
}

/// The sessions of one user: `user` is the owner.
#[derive(Session)]
#[session(name = "account")]
pub(crate) struct Account {
    #[session(owner)]
    user: Option<String>,
    device: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct Params {
    name: Option<String>,
    msg: Option<String>,
    remember: Option<bool>,
}

/// A framework's server with the suite's routes, which every harness serves alike:
///
/// | route | does (with `Session<App>` unless said) | answers |
/// |---|---|---|
/// | `/untouched` | nothing: no session | `untouched` |
/// | `/read` | reads | `name={name:?} count={count}` |
/// | `/set?name=&remember=` | sets `name` (none if absent), `remember_me` if given | `set` |
/// | `/incr` | `count += 1` | the count |
/// | `/remove` | `name = None` | `removed` |
/// | `/destroy`, `/cycle` | `destroy()`, `cycle_id()` | `destroyed`, `cycled` |
/// | `/login?name=` | `cycle_id()`, sets `name` | `logged in` |
/// | `/flash?msg=`, `/show`, `/keep` | sets the flash `notice`; shows it; `keep_flash()` and shows it | `flashed`, `{notice:?}` |
/// | `/cart` (`Session<Cart>`) | shows, then pushes `intruder` | `new={is_new} items={items:?}` |
/// | `/guarded` | behind a guard middleware redirecting (303 to `/login-page`) sessions without a name; `count += 1` | `{name} {count}` |
/// | `/stamped` | `count += 1`, then a middleware sets `notice = "stamped"` after it | `counted` |
/// | `/kept`, `/released` | a middleware sets `name = "from the middleware"`, keeps its handle (or drops it) and calls the handler | `{name:?}` |
/// | `/save-now` | `name = "saved early"`, `save().await`, then looks for the record in the store | `stored before the response` or what failed |
/// | `/later`, `/read-later` | moves the session into a task that waits for [`Probe::gate`], then sets `count = 99` (or sends the `notice` to [`Probe::shown`]) | `spawned` |
/// | `/lifetime/{secs}` | `set_lifetime` (0: none) | `{lifetime():?}` |
/// | `/both` (`App` and `Cart`) | `count += 1`, pushes `item{count}` | `{count} {items:?}` |
/// | `/wide/{i}`, `/wide`, `/init` (`Session<Wide>`) | sets field `i` to `i + 1`; shows all; sets field 0 to 999 | `ok`, `{all:?}` |
/// | `/maybe` | `Option<Session<App>>` | `no layer` or `{name:?}` |
/// | `/explain` | `Result<Session<App>, SessionRejection>` | the rejection's message |
/// | `/account/device?msg=` (`Session<Account>`) | sets `device` | `device set` |
/// | `/account/login?name=` (`Session<Account>`) | `cycle_id()`, sets the owner `user` | `logged in` |
/// | `/account/whoami`, `/account/count` (`Session<Account>`) | shows; counts the user's sessions | `{user:?} {device:?}`, the count |
/// | `/account/end-others` (`Session<Account>`) | `sessions().end_others(user)` | `ended {n}` or the error |
///
/// `App`'s layer follows the [`Settings`]; `Cart`, `Wide` and `Account` are layered on the same
/// storage with `secure(false)`.
pub(crate) trait Framework {
    /// A server with those routes.
    fn serve(settings: Settings) -> Arc<dyn Server>;
    /// What `App`'s layer or middleware says of `settings` when asked.
    fn validate(settings: &Settings) -> Result<(), ConfigError>;
    /// Whether an app with `App`'s layer or middleware built from `settings` starts.
    fn builds(settings: Settings) -> bool;
}

/// How a test configures `App`'s sessions; every harness applies it with [`configure!`].
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) storage: Storage,
    /// Whether `App` has a layer at all.
    pub(crate) app_layer: bool,
    pub(crate) secure: bool,
    pub(crate) cookie_name: Option<&'static str>,
    pub(crate) host_prefix: bool,
    pub(crate) path: Option<&'static str>,
    pub(crate) domain: Option<&'static str>,
    pub(crate) http_only: Option<bool>,
    pub(crate) same_site: Option<SameSite>,
    pub(crate) partitioned: bool,
    pub(crate) persistent: bool,
    pub(crate) idle: Option<Duration>,
    pub(crate) absolute: Option<Duration>,
    pub(crate) remember_me_lifetime: Option<Duration>,
    pub(crate) clock: Option<Arc<ManualClock>>,
    pub(crate) ids: Option<ScriptedIds>,
    pub(crate) header: Option<&'static str>,
    pub(crate) query: Option<&'static str>,
    pub(crate) token: Option<TokenTransform>,
    /// Failures answered with HTML pages by `on_failure` (see `failures_can_be_answered_by_the_layer`).
    pub(crate) html_failures: bool,
    pub(crate) probe: Arc<Probe>,
}

impl Settings {
    /// The defaults on `storage`, but for `secure(false)`: the suite speaks plain HTTP.
    pub(crate) fn on(storage: Storage) -> Self {
        Self {
            storage,
            app_layer: true,
            secure: false,
            cookie_name: None,
            host_prefix: false,
            path: None,
            domain: None,
            http_only: None,
            same_site: None,
            partitioned: false,
            persistent: false,
            idle: None,
            absolute: None,
            remember_me_lifetime: None,
            clock: None,
            ids: None,
            header: None,
            query: None,
            token: None,
            html_failures: false,
            probe: Arc::new(Probe::default()),
        }
    }

    fn memory() -> Self {
        Self::on(IntoStorage::into_storage(session_kit::MemoryStore::new()))
    }
}

/// Applies [`Settings`] to a `SessionLayer` or a `SessionMiddleware`: the same builder methods
/// on both, which this macro checks at compile time.
macro_rules! configure {
    ($layer:expr, $settings:expr) => {{
        let s: &Settings = $settings;
        let mut layer = $layer.secure(s.secure).persistent(s.persistent).partitioned(s.partitioned);
        if let Some(name) = s.cookie_name {
            layer = layer.cookie_name(name);
        }
        if s.host_prefix {
            layer = layer.host_prefix();
        }
        if let Some(path) = s.path {
            layer = layer.path(path);
        }
        if let Some(domain) = s.domain {
            layer = layer.domain(domain);
        }
        if let Some(http_only) = s.http_only {
            layer = layer.http_only(http_only);
        }
        if let Some(same_site) = s.same_site {
            layer = layer.same_site(same_site);
        }
        if let Some(idle) = s.idle {
            layer = layer.idle_timeout(idle);
        }
        if let Some(absolute) = s.absolute {
            layer = layer.absolute_timeout(absolute);
        }
        if let Some(lifetime) = s.remember_me_lifetime {
            layer = layer.remember_me_lifetime(lifetime);
        }
        if let Some(clock) = &s.clock {
            layer = layer.clock(clock.clone());
        }
        if let Some(ids) = &s.ids {
            layer = layer.id_generator(ids.clone());
        }
        if let Some(header) = s.header {
            layer = layer.id_from_header(header.try_into().unwrap());
        }
        if let Some(param) = s.query {
            layer = layer.id_from_query(param);
        }
        if let Some(token) = &s.token {
            layer = layer.token_transform(token.clone());
        }
        layer
    }};
}
pub(crate) use configure;

/// What the `/later` and `/read-later` tasks wait for and report to.
#[derive(Default)]
pub(crate) struct Probe {
    /// Released by the test once the response is in.
    pub(crate) gate: tokio::sync::Notify,
    shown: std::sync::Mutex<Option<tokio::sync::oneshot::Sender<String>>>,
    seen: std::sync::Mutex<Option<tokio::sync::oneshot::Receiver<String>>>,
}

impl Probe {
    /// Sends what a task saw (once).
    pub(crate) fn show(&self, seen: String) {
        if let Some(tx) = self.shown.lock().unwrap().take() {
            let _ = tx.send(seen);
        }
    }

    /// Arms [`show`](Self::show) and waits for what it is given.
    async fn shown(&self) -> String {
        let rx = self.seen.lock().unwrap().take().expect("armed once");
        rx.await.unwrap()
    }

    fn arm(&self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        *self.shown.lock().unwrap() = Some(tx);
        *self.seen.lock().unwrap() = Some(rx);
    }
}

/// Counts store calls: malformed ids never reach the store; a request saves once.
pub(crate) struct Counting {
    inner: Arc<dyn Store>,
    loads: AtomicUsize,
    writes: AtomicUsize,
}

impl Counting {
    fn new(inner: Arc<dyn Store>) -> Self {
        Self { inner, loads: AtomicUsize::new(0), writes: AtomicUsize::new(0) }
    }
}

#[async_trait]
impl Store for Counting {
    async fn load(&self, key: &StoreKey, now: Timestamp) -> Result<Option<Record>, StoreError> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        self.inner.load(key, now).await
    }
    async fn create(&self, key: &StoreKey, record: &Record, now: Timestamp) -> Result<Created, StoreError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.create(key, record, now).await
    }
    async fn apply(&self, key: &StoreKey, change: &Change, now: Timestamp) -> Result<Applied, StoreError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
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

/// Where [`Faulty`] fails.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fault {
    None,
    /// `rename` fails and does nothing.
    Rename,
    /// `rename` does nothing, then reports an unknown outcome.
    RenameLostBeforeDoing,
    /// `rename` moves the record, then reports an unknown outcome (its reply was lost).
    RenameLostAfterDoing,
    /// `apply` fails and does nothing.
    Apply,
    /// `apply` writes the change, then reports an unknown outcome.
    ApplyLostAfterDoing,
    /// `create` fails and does nothing.
    Create,
}

/// A store that fails one step of a request, as a real store fails when its server goes away.
struct Faulty {
    inner: Arc<dyn Store>,
    fault: std::sync::Mutex<Fault>,
}

impl Faulty {
    fn set(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
    }

    fn fault(&self) -> Fault {
        *self.fault.lock().unwrap()
    }
}

fn down() -> StoreError {
    StoreError::backend("faulty", "the server went away")
}

fn lost() -> StoreError {
    StoreError::outcome_unknown("faulty", "the connection broke before the reply")
}

#[async_trait]
impl Store for Faulty {
    async fn load(&self, key: &StoreKey, now: Timestamp) -> Result<Option<Record>, StoreError> {
        self.inner.load(key, now).await
    }
    async fn create(&self, key: &StoreKey, record: &Record, now: Timestamp) -> Result<Created, StoreError> {
        if self.fault() == Fault::Create {
            return Err(down());
        }
        self.inner.create(key, record, now).await
    }
    async fn apply(&self, key: &StoreKey, change: &Change, now: Timestamp) -> Result<Applied, StoreError> {
        match self.fault() {
            Fault::Apply => Err(down()),
            Fault::ApplyLostAfterDoing => {
                self.inner.apply(key, change, now).await?;
                Err(lost())
            }
            _ => self.inner.apply(key, change, now).await,
        }
    }
    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        self.inner.delete(key).await
    }
    async fn rename(&self, from: &StoreKey, to: &StoreKey, now: Timestamp) -> Result<Renamed, StoreError> {
        match self.fault() {
            Fault::Rename => Err(down()),
            Fault::RenameLostBeforeDoing => Err(lost()),
            Fault::RenameLostAfterDoing => {
                self.inner.rename(from, to, now).await?;
                Err(lost())
            }
            _ => self.inner.rename(from, to, now).await,
        }
    }
    async fn collect_expired(&self, now: Timestamp) -> Result<u64, StoreError> {
        self.inner.collect_expired(now).await
    }
    async fn count_live(&self, now: Timestamp) -> Result<u64, StoreError> {
        self.inner.count_live(now).await
    }
}

/// Hands out the ids it is given, then random ones: to make a new id collide with a live one.
#[derive(Clone, Default)]
pub(crate) struct ScriptedIds(Arc<std::sync::Mutex<std::collections::VecDeque<String>>>);

impl ScriptedIds {
    fn next_is(&self, id: &str) {
        self.0.lock().unwrap().push_back(id.to_owned());
    }
}

impl IdGenerator for ScriptedIds {
    fn generate(&self) -> SessionId {
        match self.0.lock().unwrap().pop_front() {
            Some(id) => SessionId::new(id).unwrap(),
            None => RandomIds.generate(),
        }
    }
}

pub(crate) fn server_store(storage: &Storage) -> Arc<dyn Store> {
    match storage {
        Storage::Server(store) => store.clone(),
        _ => panic!("the HTTP suite runs on server-side stores"),
    }
}

/// The suite, one function per behaviour; each store runs all of them on each framework (the
/// cookie store those of [`any_storage`]).
mod suite {
    use super::*;

    pub(crate) async fn untouched_and_read_only_get_no_cookie<F: Framework>(storage: Storage) {
        let mut client = Client::on(F::serve(Settings::on(storage)));
        let r = client.get("/untouched").await;
        assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "untouched"));
        assert!(r.set_cookies().is_empty());
        assert_eq!(r.header("vary"), None, "a response that never read the session does not vary");

        let r = client.get("/read").await;
        assert_eq!(r.body, "name=None count=0");
        assert!(r.set_cookies().is_empty(), "reading an empty session stores nothing");
        assert_eq!(r.header("vary"), Some("cookie"));

        client.get("/set?name=ada").await;
        let r = client.get("/read").await;
        assert_eq!(r.body, r#"name=Some("ada") count=0"#);
        assert!(r.set_cookies().is_empty(), "reading an unchanged session sends no cookie: {:?}", r.set_cookies());
        let r = client.get("/set?name=ada").await;
        assert!(r.set_cookies().is_empty(), "writing the same value changes nothing");
    }

    pub(crate) async fn bad_ids_give_a_fresh_session_and_never_reach_the_store<F: Framework>(storage: Storage) {
        let counting = Arc::new(Counting::new(server_store(&storage)));
        let app = F::serve(Settings::on(Storage::Server(counting.clone())));
        let junk = "x".repeat(10 * 1024);
        for (bad, well_formed) in [
            ("AAAAAAAAAAAAAAAAAAAAAA", true),
            ("not-an-id", false),
            ("..%2F..%2Fetc%2Fpasswd", false),
            ("../../../../etc/passwd", false),
            (junk.as_str(), false),
        ] {
            let before = counting.loads.load(Ordering::SeqCst);
            let r = app.send(Req::get("/set?name=eve").header("cookie", &format!("app={bad}"))).await;
            assert_eq!(r.status, StatusCode::OK, "{bad:.20}");
            let new = r.cookie_value("app").expect("a fresh session gets a new id");
            assert_ne!(new, bad, "a client-chosen id is never adopted");
            assert_eq!(new.len(), 22);
            let loads = counting.loads.load(Ordering::SeqCst) - before;
            assert_eq!(loads, usize::from(well_formed), "store loads for {bad:.20}");
        }
    }

    pub(crate) async fn insert_read_remove<F: Framework>(storage: Storage) {
        let mut client = Client::on(F::serve(Settings::on(storage)));
        let r = client.get("/set?name=grace").await;
        let cookie = r.set_cookie("app").expect("first write sets the cookie");
        assert!(!cookie.contains("Max-Age"), "browser-session cookie by default: {cookie}");
        assert_eq!(r.header("cache-control"), Some("no-store"));
        assert_eq!(client.get("/incr").await.body, "1");
        assert_eq!(client.get("/incr").await.body, "2");
        assert_eq!(client.get("/read").await.body, r#"name=Some("grace") count=2"#);
        let r = client.get("/remove").await;
        assert!(r.set_cookies().is_empty(), "a browser-session cookie is not resent for a data change");
        assert_eq!(client.get("/read").await.body, "name=None count=2");
    }

    pub(crate) async fn destroy_sends_a_removal_with_the_same_attributes<F: Framework>(storage: Storage) {
        let settings =
            Settings { secure: true, path: Some("/"), domain: Some("example.test"), ..Settings::on(storage) };
        let mut client = Client::on(F::serve(settings));
        client.get("/set?name=x").await;
        let id = client.jar["app"].clone();
        let r = client.get("/destroy").await;
        let removal = r.set_cookie("app").expect("removal cookie");
        for attr in ["app=;", "Max-Age=0", "Path=/", "Domain=example.test", "Secure", "HttpOnly", "SameSite=Lax"] {
            assert!(removal.contains(attr), "{removal} lacks {attr}");
        }
        let r = client.app.send(Req::get("/read").header("cookie", &format!("app={id}"))).await;
        assert_eq!(r.body, "name=None count=0", "the destroyed id opens nothing");
    }

    pub(crate) async fn cycle_id_keeps_data_and_kills_the_old_id<F: Framework>(storage: Storage) {
        let mut client = Client::on(F::serve(Settings::on(storage)));
        client.get("/set?name=lin").await;
        let old = client.jar["app"].clone();
        let r = client.get("/cycle").await;
        let new = r.cookie_value("app").expect("a new id is sent");
        assert_ne!(new, old);
        assert_eq!(client.get("/read").await.body, r#"name=Some("lin") count=0"#);
        let r = client.app.send(Req::get("/read").header("cookie", &format!("app={old}"))).await;
        assert_eq!(r.body, "name=None count=0", "the old id is dead at once");
    }

    pub(crate) async fn a_failure_at_any_step_of_a_login_leaves_a_usable_session<F: Framework>(storage: Storage) {
        let faulty = Arc::new(Faulty { inner: server_store(&storage), fault: std::sync::Mutex::new(Fault::None) });
        let app = F::serve(Settings::on(Storage::Server(faulty.clone())));
        // (fault, status, whether a new id is sent, the name the client's token then opens)
        let cases = [
            (Fault::Rename, StatusCode::SERVICE_UNAVAILABLE, false, "before"),
            (Fault::RenameLostBeforeDoing, StatusCode::SERVICE_UNAVAILABLE, false, "before"),
            (Fault::RenameLostAfterDoing, StatusCode::OK, true, "after"),
            (Fault::Apply, StatusCode::SERVICE_UNAVAILABLE, true, "before"),
            (Fault::ApplyLostAfterDoing, StatusCode::SERVICE_UNAVAILABLE, true, "after"),
        ];
        for (fault, status, new_id, name) in cases {
            faulty.set(Fault::None);
            let mut client = Client::on(app.clone());
            client.get("/set?name=before").await;
            let old = client.jar["app"].clone();
            faulty.set(fault);
            let r = client.get("/login?name=after").await;
            faulty.set(Fault::None);
            assert_eq!(r.status, status, "{fault:?}: {}", r.body);
            assert_eq!(r.cookie_value("app").is_some(), new_id, "{fault:?}: {:?}", r.set_cookies());
            if fault == Fault::ApplyLostAfterDoing {
                assert!(!r.body.contains("not saved"), "an unknown outcome is not reported as a failure: {}", r.body);
            }
            assert_eq!(
                client.get("/read").await.body,
                format!("name=Some({name:?}) count=0"),
                "{fault:?}: the client's token still opens the session"
            );
            if new_id {
                let r = app.send(Req::get("/read").header("cookie", &format!("app={old}"))).await;
                assert_eq!(r.body, "name=None count=0", "{fault:?}: the old id is dead once the new one is sent");
            }
        }
    }

    pub(crate) async fn log_out_everywhere_else_ends_the_other_sessions_at_their_next_request<F: Framework>(
        storage: Storage,
    ) {
        let app = F::serve(Settings::on(storage));
        // Names of this run: persistent stores keep the sessions of earlier runs.
        let (user, other) = (RandomIds.generate(), RandomIds.generate());
        let (user, other) = (user.as_str(), other.as_str());
        let mut first = Client::on(app.clone());
        let mut second = Client::on(app.clone());
        let mut stranger = Client::on(app);
        for (client, name, device) in
            [(&mut first, user, "laptop"), (&mut second, user, "phone"), (&mut stranger, other, "desk")]
        {
            assert_eq!(client.get(&format!("/account/device?msg={device}")).await.body, "device set");
            let anonymous = client.jar["account"].clone();
            // The usual login: `cycle_id`, so the owner's index must find the new id.
            assert_eq!(client.get(&format!("/account/login?name={name}")).await.body, "logged in");
            assert_ne!(client.jar["account"], anonymous, "the login moved the session to a new id");
        }
        assert_eq!(first.get("/account/count").await.body, "2", "the user's two sessions are listed");
        assert_eq!(stranger.get("/account/count").await.body, "1", "the other user's session");
        assert_eq!(first.get("/account/end-others").await.body, "ended 1");
        assert_eq!(
            second.get("/account/whoami").await.body,
            "None None",
            "the other session is logged out at its next request"
        );
        assert_eq!(
            first.get("/account/whoami").await.body,
            format!("Some({user:?}) Some(\"laptop\")"),
            "the current one stays"
        );
        assert_eq!(
            stranger.get("/account/whoami").await.body,
            format!("Some({other:?}) Some(\"desk\")"),
            "another user's session stays"
        );
        assert_eq!(first.get("/account/count").await.body, "1", "the user's list after ending the others");
    }

    /// The same for sealed cookie sessions on a store made
    /// [`revocable`](session_kit::CookieStore::revocable): they cannot be listed or counted, but
    /// "log out everywhere else" refuses the owner's other cookies from their next request on.
    pub(crate) async fn log_out_everywhere_else_ends_the_other_cookie_sessions_at_their_next_request<F: Framework>(
        storage: Storage,
    ) {
        let clock = Arc::new(ManualClock::starting_now());
        let app = F::serve(Settings { clock: Some(clock.clone()), ..Settings::on(storage) });
        let (user, other) = (RandomIds.generate(), RandomIds.generate());
        let (user, other) = (user.as_str(), other.as_str());
        let mut first = Client::on(app.clone());
        let mut second = Client::on(app.clone());
        let mut stranger = Client::on(app.clone());
        let mut late = Client::on(app);
        // Anonymous before the owner logs out everywhere, logged in after it.
        assert_eq!(late.get("/account/device?msg=tablet").await.body, "device set");
        clock.advance(Duration::from_secs(1));
        for (client, name, device) in
            [(&mut first, user, "laptop"), (&mut second, user, "phone"), (&mut stranger, other, "desk")]
        {
            assert_eq!(client.get(&format!("/account/device?msg={device}")).await.body, "device set");
            assert_eq!(client.get(&format!("/account/login?name={name}")).await.body, "logged in");
            // A cookie session is told from the owner's others by its creation time.
            clock.advance(Duration::from_secs(1));
        }
        assert_eq!(first.get("/account/end-others").await.body, "ended 0", "cookie sessions cannot be counted");
        clock.advance(Duration::from_secs(1));
        assert_eq!(second.get("/account/whoami").await.body, "None None", "the other cookie is refused");
        assert_eq!(second.get("/account/whoami").await.body, "None None", "and stays refused");
        let me = |device: &str| format!("Some({user:?}) Some(\"{device}\")");
        assert_eq!(first.get("/account/whoami").await.body, me("laptop"), "the current one stays");
        assert_eq!(
            stranger.get("/account/whoami").await.body,
            format!("Some({other:?}) Some(\"desk\")"),
            "another user's session stays"
        );
        // A login restarts the session, so an earlier "log out everywhere" does not refuse it.
        assert_eq!(late.get(&format!("/account/login?name={user}")).await.body, "logged in");
        assert_eq!(late.get("/account/whoami").await.body, me("tablet"), "logged in after the revocation");
        // And "log out everywhere else" from it ends the first.
        clock.advance(Duration::from_secs(1));
        assert_eq!(late.get("/account/end-others").await.body, "ended 0");
        clock.advance(Duration::from_secs(1));
        assert_eq!(first.get("/account/whoami").await.body, "None None", "the first is refused now");
        assert_eq!(late.get("/account/whoami").await.body, me("tablet"), "the current one stays");
    }

    pub(crate) async fn cycle_id_onto_a_live_id_takes_another<F: Framework>(storage: Storage) {
        let ids = ScriptedIds::default();
        let app = F::serve(Settings { ids: Some(ids.clone()), ..Settings::on(storage) });
        // A fresh id per run: persistent stores keep the records of earlier runs.
        let taken = RandomIds.generate();
        let taken = taken.as_str();
        ids.next_is(taken);
        let mut alice = Client::on(app.clone());
        alice.get("/set?name=alice").await;
        assert_eq!(alice.jar["app"], taken);
        let mut bob = Client::on(app);
        bob.get("/set?name=bob").await;
        ids.next_is(taken);
        let r = bob.get("/cycle").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let cycled = r.cookie_value("app").expect("a new id");
        assert_ne!(cycled, taken, "a live session's id is never handed to another client");
        assert_eq!(bob.get("/read").await.body, r#"name=Some("bob") count=0"#);
        assert_eq!(alice.get("/read").await.body, r#"name=Some("alice") count=0"#, "alice keeps her session");
    }

    pub(crate) async fn a_token_moved_to_another_session_type_opens_a_fresh_session<F: Framework>(storage: Storage) {
        let app = F::serve(Settings::on(storage));
        let mut client = Client::on(app.clone());
        client.get("/set?name=app's").await;
        client.get("/incr").await;
        let app_id = client.jar["app"].clone();
        let r = app.send(Req::get("/cart").header("cookie", &format!("cart={app_id}"))).await;
        assert_eq!(r.body, "new=true items=[]", "App's id in the Cart cookie opens no record");
        assert_ne!(r.cookie_value("cart").as_deref(), Some(app_id.as_str()), "the moved token is not adopted");
        assert_eq!(client.get("/read").await.body, r#"name=Some("app's") count=1"#, "App's record is untouched");
    }

    pub(crate) async fn shorter_timeouts_reach_sessions_stored_before<F: Framework>(storage: Storage) {
        let clock = Arc::new(ManualClock::starting_now());
        let layer = |idle: u64, absolute: Option<u64>| {
            F::serve(Settings {
                idle: Some(Duration::from_secs(idle)),
                absolute: absolute.map(Duration::from_secs),
                clock: Some(clock.clone()),
                ..Settings::on(storage.clone())
            })
        };
        let before = layer(24 * 3600, None);
        // After the redeploy: 30 minutes idle, 1 hour absolute.
        let after = layer(30 * 60, Some(3600));

        // Left alone for 40 minutes under a 24-hour idle timeout, then the timeout is 30 minutes.
        let mut idle = Client::on(before.clone());
        idle.get("/set?name=idle").await;
        // And one left alone for 10 minutes is still fine.
        let mut recent = Client::on(before.clone());
        clock.advance(Duration::from_secs(30 * 60));
        recent.get("/set?name=recent").await;
        clock.advance(Duration::from_secs(10 * 60));
        idle.app = after.clone();
        recent.app = after.clone();
        assert_eq!(idle.get("/read").await.body, "name=None count=0", "idle for 40 minutes under a 30-minute timeout");
        assert_eq!(recent.get("/read").await.body, r#"name=Some("recent") count=0"#, "active 10 minutes ago");

        // Created without an absolute timeout and kept busy for 70 minutes (under a 20-minute idle
        // timeout, so every request is recent activity); now the limit is 1 hour.
        let mut busy = Client::on(layer(20 * 60, None));
        busy.get("/set?name=busy").await;
        for _ in 0..7 {
            clock.advance(Duration::from_secs(10 * 60));
            assert_eq!(busy.get("/read").await.body, r#"name=Some("busy") count=0"#);
        }
        busy.app = after;
        assert_eq!(busy.get("/read").await.body, "name=None count=0", "past the new absolute timeout");
    }

    pub(crate) async fn an_auth_guard_middleware_and_its_handler_share_the_session<F: Framework>(storage: Storage) {
        let counting = Arc::new(Counting::new(server_store(&storage)));
        let app = F::serve(Settings::on(Storage::Server(counting.clone())));
        let mut client = Client::on(app);
        let r = client.get("/guarded").await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "not logged in: {}", r.body);
        assert_eq!(r.header("location"), Some("/login-page"));

        client.get("/set?name=ada").await;
        for count in 1..=2 {
            let writes = counting.writes.load(Ordering::SeqCst);
            let r = client.get("/guarded").await;
            assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, format!("ada {count}").as_str()));
            assert_eq!(counting.writes.load(Ordering::SeqCst) - writes, 1, "the handler's change is saved once");
        }
        assert_eq!(client.get("/read").await.body, r#"name=Some("ada") count=2"#);
    }

    pub(crate) async fn a_middleware_may_change_the_session_after_its_handler<F: Framework>(storage: Storage) {
        let mut client = Client::on(F::serve(Settings::on(storage)));
        client.get("/set?name=bo").await;
        assert_eq!(client.get("/stamped").await.body, "counted");
        assert_eq!(client.get("/show").await.body, r#"Some("stamped")"#, "the middleware's change after the handler");
        assert_eq!(client.get("/read").await.body, r#"name=Some("bo") count=1"#, "and the handler's");
    }

    pub(crate) async fn a_middleware_change_reaches_the_handler_once_given_back<F: Framework>(storage: Storage) {
        let mut client = Client::on(F::serve(Settings::on(storage)));
        let r = client.get("/released").await;
        assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, r#"Some("from the middleware")"#));
        let r = client.get("/kept").await;
        assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "a change the handler could not see is refused");
        assert!(!r.body.contains("App"), "no Rust type reaches the client: {}", r.body);
    }

    pub(crate) async fn save_stores_before_the_response_and_reports_failure<F: Framework>(storage: Storage) {
        let faulty = Arc::new(Faulty { inner: server_store(&storage), fault: std::sync::Mutex::new(Fault::None) });
        let mut client = Client::on(F::serve(Settings::on(Storage::Server(faulty.clone()))));
        let r = client.get("/save-now").await;
        assert_eq!(r.body, "stored before the response");
        assert!(r.cookie_value("app").is_some(), "the new session's id goes out with the response");
        assert_eq!(client.get("/read").await.body, r#"name=Some("saved early") count=0"#);

        faulty.set(Fault::Create);
        let r = client.app.send(Req::get("/save-now")).await;
        assert!(
            r.body.starts_with("not saved: ") && r.body.contains("went away"),
            "the handler gets the error: {}",
            r.body
        );
    }

    pub(crate) async fn a_session_moved_into_a_task_is_saved<F: Framework>(storage: Storage) {
        let store = server_store(&storage);
        let settings = Settings::on(storage);
        let probe = settings.probe.clone();
        probe.arm();
        let mut client = Client::on(F::serve(settings));
        client.get("/set?name=task").await;
        assert_eq!(client.get("/later").await.body, "spawned");
        probe.gate.notify_one();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let body = client.get("/read").await.body;
            if body == r#"name=Some("task") count=99"# {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "the task's change was never saved: {body}");
            tokio::task::yield_now().await;
        }

        // A task that only reads still delivers the flash it was handed: shown once.
        client.get("/flash?msg=once").await;
        assert_eq!(client.get("/read-later").await.body, "spawned");
        probe.gate.notify_one();
        assert_eq!(probe.shown().await, r#"Some("once")"#);
        // Watched in the store, as a request would deliver the flash itself.
        let id = session_kit::id::SessionId::new(client.jar["app"].clone()).unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let now = session_kit::clock::Clock::now(&session_kit::clock::SystemClock);
            let record = store.load(&id.store_key("app"), now).await.unwrap().expect("the session lives");
            if record.get("notice").is_none() {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "the flash the task was handed is still stored");
            tokio::task::yield_now().await;
        }
        assert_eq!(client.get("/show").await.body, "None");
    }

    pub(crate) async fn a_session_lifetime_sticks_and_overrides_the_idle_timeout<F: Framework>(storage: Storage) {
        let clock = Arc::new(ManualClock::starting_now());
        let settings =
            Settings { idle: Some(Duration::from_secs(600)), clock: Some(clock.clone()), ..Settings::on(storage) };
        let mut client = Client::on(F::serve(settings));
        client.get("/set?name=day").await;
        let r = client.get("/lifetime/86400").await;
        let cookie = r.set_cookie("app").expect("a persistent cookie is sent");
        assert!(cookie.contains("Max-Age=86400"), "{cookie}");
        // Two hours idle: far past the layer's ten minutes, within the session's day.
        clock.advance(Duration::from_secs(2 * 3600));
        assert_eq!(client.get("/read").await.body, r#"name=Some("day") count=0"#, "the lifetime is stored");
        clock.advance(Duration::from_secs(86_400 + 1));
        assert_eq!(client.get("/read").await.body, "name=None count=0", "a day without a request ends it");

        client.get("/set?name=back").await;
        client.get("/lifetime/86400").await;
        let r = client.get("/lifetime/0").await;
        let cookie = r.set_cookie("app").expect("going back resends the cookie");
        assert!(!cookie.contains("Max-Age"), "back to a browser-session cookie: {cookie}");
        clock.advance(Duration::from_secs(601));
        assert_eq!(client.get("/read").await.body, "name=None count=0", "back to the layer's idle timeout");
    }

    pub(crate) async fn remember_me_is_persistent_and_sticks<F: Framework>(storage: Storage) {
        let clock = Arc::new(ManualClock::starting_now());
        let settings = Settings {
            idle: Some(Duration::from_secs(600)),
            remember_me_lifetime: Some(Duration::from_secs(7 * 24 * 3600)),
            clock: Some(clock.clone()),
            ..Settings::on(storage)
        };
        let mut client = Client::on(F::serve(settings));
        let r = client.get("/set?name=kim&remember=true").await;
        let cookie = r.set_cookie("app").unwrap();
        assert!(cookie.contains("Max-Age=604800"), "{cookie}");
        // A day on, far past the ordinary idle timeout, the remember-me session lives on, and
        // its deadline slides (slides are throttled to a tenth of the lifetime, 16.8 hours).
        clock.advance(Duration::from_secs(24 * 3600));
        let r = client.get("/read").await;
        assert_eq!(r.body, r#"name=Some("kim") count=0"#);
        let cookie = r.set_cookie("app").expect("the persistent cookie's lifetime slides");
        assert!(cookie.contains("Max-Age=604800"), "still remembered without asking again: {cookie}");
        let r = client.get("/set?name=kim2").await;
        assert!(r.set_cookies().is_empty(), "a data change alone does not move the lifetime (throttled)");
        assert_eq!(client.get("/read").await.body, r#"name=Some("kim2") count=0"#);
        let r = client.get("/set?name=kim3&remember=false").await;
        let cookie = r.set_cookie("app").expect("forgetting resends the cookie");
        assert!(!cookie.contains("Max-Age"), "back to a browser-session cookie: {cookie}");
    }

    pub(crate) async fn idle_and_absolute_timeouts<F: Framework>(storage: Storage) {
        let clock = Arc::new(ManualClock::starting_now());
        let settings = Settings {
            idle: Some(Duration::from_secs(60)),
            clock: Some(clock.clone()),
            ..Settings::on(storage.clone())
        };
        let mut client = Client::on(F::serve(settings));
        client.get("/set?name=idle").await;
        for _ in 0..5 {
            clock.advance(Duration::from_secs(50));
            assert_eq!(client.get("/read").await.body, r#"name=Some("idle") count=0"#, "activity keeps it alive");
        }
        clock.advance(Duration::from_secs(61));
        assert_eq!(client.get("/read").await.body, "name=None count=0", "idle timeout");

        let clock = Arc::new(ManualClock::starting_now());
        let settings = Settings {
            idle: Some(Duration::from_secs(60)),
            absolute: Some(Duration::from_secs(120)),
            clock: Some(clock.clone()),
            ..Settings::on(storage)
        };
        let mut client = Client::on(F::serve(settings));
        client.get("/set?name=abs").await;
        clock.advance(Duration::from_secs(50));
        assert_eq!(client.get("/incr").await.body, "1");
        clock.advance(Duration::from_secs(50));
        assert_eq!(client.get("/incr").await.body, "2");
        clock.advance(Duration::from_secs(21));
        assert_eq!(client.get("/read").await.body, "name=None count=0", "absolute timeout despite activity");
    }

    pub(crate) async fn flash_is_shown_once<F: Framework>(storage: Storage) {
        let mut client = Client::on(F::serve(Settings::on(storage)));
        client.get("/flash?msg=saved").await;
        assert_eq!(client.get("/show").await.body, r#"Some("saved")"#);
        assert_eq!(client.get("/show").await.body, "None");

        client.get("/flash?msg=again").await;
        assert_eq!(client.get("/keep").await.body, r#"Some("again")"#);
        assert_eq!(client.get("/show").await.body, r#"Some("again")"#, "keep_flash extends by one request");
        assert_eq!(client.get("/show").await.body, "None");
    }

    pub(crate) async fn two_session_types_in_one_handler<F: Framework>(storage: Storage) {
        let mut client = Client::on(F::serve(Settings::on(storage)));
        let r = client.get("/both").await;
        assert!(r.set_cookie("app").is_some() && r.set_cookie("cart").is_some(), "{:?}", r.set_cookies());
        assert_eq!(client.get("/both").await.body, r#"2 ["item1", "item2"]"#);
    }

    pub(crate) async fn concurrent_requests_lose_no_field<F: Framework>(storage: Storage) {
        let app = F::serve(Settings::on(storage));
        for round in 0..50 {
            let mut client = Client::on(app.clone());
            client.get("/init").await;
            let cookie = format!("wide={}", client.jar["wide"]);
            let tasks: Vec<_> = (0..16)
                .map(|i| {
                    let app = app.clone();
                    let cookie = cookie.clone();
                    tokio::spawn(
                        async move { app.send(Req::get(format!("/wide/{i}")).header("cookie", &cookie)).await },
                    )
                })
                .collect();
            for task in tasks {
                assert_eq!(task.await.unwrap().status, StatusCode::OK);
            }
            let expected: Vec<u32> = (1..=16).collect();
            assert_eq!(client.get("/wide").await.body, format!("{expected:?}"), "round {round}");
        }
    }

    pub(crate) async fn signed_and_sealed_ids_round_trip_and_refuse_what_they_did_not_make<F: Framework>(
        storage: Storage,
    ) {
        let keys = || KeyRing::new(Key::derive(&[9; 32]).unwrap());
        // Every server of the test lives until its end. The store outlives each, and an
        // actix-web worker's runtime ends with its server, taking the pooled connections it
        // opened with it: the first write on each such connection is then `OutcomeUnknown`
        // (see the SQL stores' docs), which this test is not about.
        let mut servers = Vec::new();
        for (mode, transform) in
            [("signed", TokenTransform::signed(keys())), ("sealed", TokenTransform::sealed(keys()))]
        {
            let counting = Arc::new(Counting::new(server_store(&storage)));
            let settings = Settings { token: Some(transform), ..Settings::on(Storage::Server(counting.clone())) };
            let app = F::serve(settings);
            let mut client = Client::on(app.clone());
            let r = client.get("/set?name=kit").await;
            assert_eq!(r.status, StatusCode::OK, "{mode}: {}", r.body);
            let wire = client.jar["app"].clone();
            assert_eq!(client.get("/read").await.body, r#"name=Some("kit") count=0"#, "{mode}");
            let r = client.get("/cycle").await;
            let cycled = r.cookie_value("app").expect("a new id is sent");
            assert_ne!(cycled, wire, "{mode}");
            assert_eq!(client.get("/read").await.body, r#"name=Some("kit") count=0"#, "{mode}: after cycle_id");
            match mode {
                "signed" => {
                    let (id, tag) = cycled.rsplit_once('.').expect("<id>.<tag>");
                    assert_eq!(id.len(), 22, "{cycled}");
                    assert_eq!(tag.len(), 48, "key id and HMAC-SHA256 tag: {cycled}");
                }
                _ => assert!(!cycled.contains('.') && cycled.len() > 60, "sealed: {cycled}"),
            }

            // Bare ids, forged tags, other keys' tokens, junk: fresh sessions, no store access.
            let plain_id = match mode {
                "signed" => cycled.rsplit_once('.').unwrap().0.to_owned(),
                _ => RandomIds.generate().as_str().to_owned(),
            };
            let other_key = Settings {
                token: Some(match mode {
                    "signed" => TokenTransform::signed(KeyRing::new(Key::generate())),
                    _ => TokenTransform::sealed(KeyRing::new(Key::generate())),
                }),
                ..Settings::on(storage.clone())
            };
            let mut stranger = Client::on(F::serve(other_key));
            stranger.get("/set?name=stranger").await;
            let foreign = stranger.jar["app"].clone();
            let mut flipped = cycled.clone().into_bytes();
            let at = flipped.len() - 3;
            flipped[at] = if flipped[at] == b'A' { b'B' } else { b'A' };
            let loads = counting.loads.load(Ordering::SeqCst);
            for (what, bad) in [
                ("the bare id", plain_id),
                ("a changed character", String::from_utf8(flipped).unwrap()),
                ("another key's token", foreign),
                ("junk", "x".repeat(5000)),
                ("empty", String::new()),
            ] {
                let r = app.send(Req::get("/read").header("cookie", &format!("app={bad}"))).await;
                assert_eq!(
                    (r.status, r.body.as_str()),
                    (StatusCode::OK, "name=None count=0"),
                    "{mode}, {what}: an unknown session"
                );
                let r = app.send(Req::get("/destroy").header("cookie", &format!("app={bad}"))).await;
                assert_eq!(r.status, StatusCode::OK, "{mode}, {what}");
                assert!(
                    r.set_cookie("app").is_some_and(|c| c.contains("Max-Age=0")),
                    "{mode}, {what}: destroying it removes what the client holds: {:?}",
                    r.set_cookies()
                );
            }
            assert_eq!(counting.loads.load(Ordering::SeqCst), loads, "{mode}: refused tokens never reach the store");
            servers.extend([app, stranger.app]);
        }
    }

    pub(crate) async fn a_custom_token_encoding_round_trips_and_its_refusals_are_fresh_sessions<F: Framework>(
        storage: Storage,
    ) {
        let transform =
            TokenTransform::custom(|token| format!("v1~{token}"), |wire| wire.strip_prefix("v1~").map(str::to_owned));
        let settings = Settings { token: Some(transform), ..Settings::on(storage) };
        let app = F::serve(settings);
        let mut client = Client::on(app.clone());
        let r = client.get("/set?name=enc").await;
        let wire = r.cookie_value("app").expect("a cookie");
        let id = wire.strip_prefix("v1~").expect("encoded on the way out");
        assert_eq!(id.len(), 22);
        assert_eq!(client.get("/read").await.body, r#"name=Some("enc") count=0"#, "decoded on the way in");
        let r = app.send(Req::get("/read").header("cookie", &format!("app={id}"))).await;
        assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "name=None count=0"), "refused by decode");
    }
}

#[derive(Session)]
#[session(name = "wide")]
pub(crate) struct Wide {
    f0: u32,
    f1: u32,
    f2: u32,
    f3: u32,
    f4: u32,
    f5: u32,
    f6: u32,
    f7: u32,
    f8: u32,
    f9: u32,
    f10: u32,
    f11: u32,
    f12: u32,
    f13: u32,
    f14: u32,
    f15: u32,
}

impl Wide {
    fn fields(&mut self) -> [&mut u32; 16] {
        let Wide { f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15 } = self;
        [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15]
    }

    pub(crate) fn set(&mut self, i: usize, v: u32) {
        *self.fields()[i] = v;
    }

    pub(crate) fn all(&self) -> [u32; 16] {
        let Wide { f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15 } = self;
        [*f0, *f1, *f2, *f3, *f4, *f5, *f6, *f7, *f8, *f9, *f10, *f11, *f12, *f13, *f14, *f15]
    }
}

/// The tests of one store on one framework: `$suite` lists the behaviours.
macro_rules! framework_tests {
    ($framework:ident, $make:expr, [$($test:ident),* $(,)?]) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                suite::$test::<crate::$framework>($make.await).await
            }
        )*
    };
}

/// The behaviours that hold whatever keeps the session, the cookie store included.
macro_rules! any_storage {
    ($callback:ident!($($args:tt)*)) => {
        $callback!($($args)* [
            untouched_and_read_only_get_no_cookie,
            a_token_moved_to_another_session_type_opens_a_fresh_session,
            shorter_timeouts_reach_sessions_stored_before,
            a_middleware_may_change_the_session_after_its_handler,
            a_middleware_change_reaches_the_handler_once_given_back,
            a_session_lifetime_sticks_and_overrides_the_idle_timeout,
            idle_and_absolute_timeouts,
            flash_is_shown_once,
            two_session_types_in_one_handler,
        ]);
    };
}

/// Every behaviour, for a server-side store.
macro_rules! server_storage {
    ($callback:ident!($($args:tt)*)) => {
        $callback!($($args)* [
            untouched_and_read_only_get_no_cookie,
            bad_ids_give_a_fresh_session_and_never_reach_the_store,
            insert_read_remove,
            destroy_sends_a_removal_with_the_same_attributes,
            cycle_id_keeps_data_and_kills_the_old_id,
            a_failure_at_any_step_of_a_login_leaves_a_usable_session,
            cycle_id_onto_a_live_id_takes_another,
            a_token_moved_to_another_session_type_opens_a_fresh_session,
            shorter_timeouts_reach_sessions_stored_before,
            an_auth_guard_middleware_and_its_handler_share_the_session,
            a_middleware_may_change_the_session_after_its_handler,
            a_middleware_change_reaches_the_handler_once_given_back,
            save_stores_before_the_response_and_reports_failure,
            a_session_moved_into_a_task_is_saved,
            a_session_lifetime_sticks_and_overrides_the_idle_timeout,
            remember_me_is_persistent_and_sticks,
            idle_and_absolute_timeouts,
            flash_is_shown_once,
            two_session_types_in_one_handler,
            concurrent_requests_lose_no_field,
            log_out_everywhere_else_ends_the_other_sessions_at_their_next_request,
            signed_and_sealed_ids_round_trip_and_refuse_what_they_did_not_make,
            a_custom_token_encoding_round_trips_and_its_refusals_are_fresh_sessions,
        ]);
    };
}

/// The behaviours of a cookie store made `revocable`.
macro_rules! revocable_cookie_storage {
    ($callback:ident!($($args:tt)*)) => {
        $callback!($($args)* [
            untouched_and_read_only_get_no_cookie,
            flash_is_shown_once,
            log_out_everywhere_else_ends_the_other_cookie_sessions_at_their_next_request,
        ]);
    };
}

/// One `#[tokio::test]` per behaviour of `$kind` (`server_storage` or `any_storage`), per
/// framework, for the store `$make` (an async block giving a `Storage`).
macro_rules! http_suite {
    ($store:ident, $kind:ident, $make:expr) => {
        mod $store {
            use super::*;

            mod axum {
                use super::*;
                $kind!(framework_tests!(Axum, $make,));
            }

            #[cfg(feature = "actix")]
            mod actix {
                use super::*;
                $kind!(framework_tests!(Actix, $make,));
            }
        }
    };
}

#[cfg(feature = "actix")]
pub(crate) use actix_app::Actix;
pub(crate) use axum_app::Axum;

http_suite!(memory, server_storage, async { IntoStorage::into_storage(session_kit::MemoryStore::new()) });

http_suite!(cookie, any_storage, async {
    IntoStorage::into_storage(session_kit::CookieStore::sealed(KeyRing::new(Key::generate())))
});

http_suite!(cookie_revocable, revocable_cookie_storage, async {
    let cookies = session_kit::CookieStore::sealed(KeyRing::new(Key::generate()));
    IntoStorage::into_storage(cookies.revocable(session_kit::MemoryStore::new()))
});

#[cfg(feature = "sqlite")]
http_suite!(sqlite, server_storage, async {
    let store = session_kit::SqliteStore::open("sqlite::memory:").await.expect("open SQLite in memory");
    IntoStorage::into_storage(store)
});

#[cfg(feature = "file")]
http_suite!(file, server_storage, async {
    // Under target/: the directory outlives the test, as the router holds the store.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("a temporary directory").keep();
    let store = session_kit::FileStore::open(&dir).await.expect("open a file store");
    IntoStorage::into_storage(store)
});

// ---- Behaviour that does not depend on the store, on each framework ----

/// The behaviours that do not depend on the store, one function each; `framework_suite!`
/// runs them on each framework.
mod any_store {
    use super::*;

    pub(crate) async fn cookie_attributes_follow_the_configuration<F: Framework>() {
        let cases: Vec<(Settings, &[&str], &[&str])> = vec![
            (
                Settings { secure: true, ..Settings::memory() },
                &["app=", "Path=/", "Secure", "HttpOnly", "SameSite=Lax"],
                &["Max-Age", "Domain", "Partitioned"],
            ),
            (
                Settings {
                    cookie_name: Some("sid"),
                    path: Some("/admin"),
                    domain: Some("example.test"),
                    http_only: Some(false),
                    same_site: Some(SameSite::Strict),
                    ..Settings::memory()
                },
                &["sid=", "Path=/admin", "Domain=example.test", "SameSite=Strict"],
                &["Secure", "HttpOnly", "Max-Age"],
            ),
            (
                Settings { secure: true, same_site: Some(SameSite::None), partitioned: true, ..Settings::memory() },
                &["SameSite=None", "Secure", "Partitioned"],
                &[],
            ),
            (
                Settings { secure: true, host_prefix: true, ..Settings::memory() },
                &["__Host-app=", "Path=/", "Secure"],
                &["Domain"],
            ),
            (
                Settings { persistent: true, idle: Some(Duration::from_secs(1800)), ..Settings::memory() },
                &["Max-Age=1800"],
                &[],
            ),
        ];
        for (settings, present, absent) in cases {
            let r = F::serve(settings).send(Req::get("/set?name=a")).await;
            let cookie = r.set_cookies().into_iter().next().expect("a cookie is set");
            for attr in present {
                assert!(cookie.contains(attr), "{cookie} lacks {attr}");
            }
            for attr in absent {
                assert!(!cookie.contains(attr), "{cookie} has {attr}");
            }
        }
    }

    pub(crate) fn invalid_cookie_configurations_are_refused_when_built<F: Framework>() {
        let bad = [
            Settings { secure: false, same_site: Some(SameSite::None), ..Settings::memory() },
            Settings { secure: true, host_prefix: true, domain: Some("example.test"), ..Settings::memory() },
            Settings { secure: true, host_prefix: true, path: Some("/admin"), ..Settings::memory() },
            Settings { secure: false, partitioned: true, ..Settings::memory() },
            Settings { cookie_name: Some("bad name"), ..Settings::memory() },
            Settings { query: Some("session id"), ..Settings::memory() },
        ];
        for settings in bad {
            assert!(F::validate(&settings).is_err(), "validate");
            assert!(!F::builds(settings), "a bad configuration must not build");
        }
        assert!(F::builds(Settings::memory()), "the harness itself builds");
    }

    pub(crate) fn a_bad_query_parameter_is_refused_by_its_name<F: Framework>() {
        let settings = Settings { query: Some("session id"), ..Settings::memory() };
        let message = F::validate(&settings).expect_err("a space is no header name").to_string();
        assert!(message.contains("`session id` cannot be the session's query parameter"), "{message}");
        assert!(!message.contains("cookie"), "the cookie is not in use: {message}");
    }

    pub(crate) fn signed_or_sealed_tokens_are_refused_on_a_cookie_store<F: Framework>() {
        let cookie_store =
            || IntoStorage::into_storage(session_kit::CookieStore::sealed(KeyRing::new(Key::generate())));
        for token in [
            TokenTransform::signed(KeyRing::new(Key::generate())),
            TokenTransform::sealed(KeyRing::new(Key::generate())),
        ] {
            let settings = Settings { token: Some(token), ..Settings::on(cookie_store()) };
            assert_eq!(F::validate(&settings), Err(ConfigError::KeyedTokenOnCookieStore));
            assert!(!F::builds(settings));
        }
        let custom = TokenTransform::custom(str::to_owned, |wire| Some(wire.to_owned()));
        assert!(
            F::builds(Settings { token: Some(custom), ..Settings::on(cookie_store()) }),
            "an encoding of one's own"
        );
    }

    pub(crate) async fn missing_layer_is_a_clear_rejection<F: Framework>(layer_name: &str) {
        let app = F::serve(Settings { app_layer: false, ..Settings::memory() });
        let r = app.send(Req::get("/read")).await;
        assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!r.body.contains("App") && !r.body.contains("::"), "no Rust type reaches the client: {}", r.body);
        // The rejection itself (logged, and in hand with `Result<Session<T>, _>`) says how to fix it.
        let r = app.send(Req::get("/explain")).await;
        assert!(r.body.contains(&format!("needs `{layer_name}::<")) && r.body.contains("App"), "{}", r.body);
    }

    pub(crate) async fn optional_session_is_none_only_without_a_layer<F: Framework>() {
        let r = F::serve(Settings { app_layer: false, ..Settings::memory() }).send(Req::get("/maybe")).await;
        assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "no layer"));
        let r = F::serve(Settings::memory()).send(Req::get("/maybe")).await;
        assert_eq!(r.body, "None", "no cookie is a new session, not no session");
    }

    pub(crate) async fn failures_can_be_answered_by_the_layer<F: Framework>() {
        let app = F::serve(Settings { html_failures: true, ..Settings::on(Storage::Server(Arc::new(Broken))) });
        let r = app.send(Req::get("/read").header("cookie", "app=AAAAAAAAAAAAAAAAAAAAAA")).await;
        assert_eq!((r.status, r.body.as_str()), (StatusCode::SERVICE_UNAVAILABLE, "<h1>Cannot load your session</h1>"));
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        let r = app.send(Req::get("/set?name=x")).await;
        assert_eq!((r.status, r.body.as_str()), (StatusCode::SERVICE_UNAVAILABLE, "<h1>Cannot save your session</h1>"));
    }

    pub(crate) async fn header_and_query_transports<F: Framework>() {
        let app = F::serve(Settings { header: Some("x-session"), ..Settings::memory() });
        let r = app.send(Req::get("/set?name=api")).await;
        assert!(r.set_cookies().is_empty(), "header transport sets no cookie");
        let token = r.header("x-session").expect("token in the response header").to_owned();
        assert_eq!(r.header("cache-control"), Some("no-store"));
        let r = app.send(Req::get("/read").header("x-session", &token)).await;
        assert_eq!(r.body, r#"name=Some("api") count=0"#);
        assert_eq!(r.header("vary"), Some("x-session"), "caches must key on the header carrying the token");

        let app = F::serve(Settings { query: Some("sid"), ..Settings::memory() });
        let r = app.send(Req::get("/set?name=q")).await;
        let token = r.header("sid").expect("token in the response header").to_owned();
        let r = app.send(Req::get(format!("/read?sid={token}"))).await;
        assert_eq!(r.body, r#"name=Some("q") count=0"#);
        assert_eq!(r.header("vary"), None, "the token is in the URL, which caches key on already");

        // With a signed token, on the header transport too.
        let keys = KeyRing::new(Key::generate());
        let app = F::serve(Settings {
            header: Some("x-session"),
            token: Some(TokenTransform::signed(keys)),
            ..Settings::memory()
        });
        let r = app.send(Req::get("/set?name=signed")).await;
        let token = r.header("x-session").expect("token in the response header").to_owned();
        assert!(token.contains('.'), "{token}");
        let r = app.send(Req::get("/read").header("x-session", &token)).await;
        assert_eq!(r.body, r#"name=Some("signed") count=0"#);
        let bare = token.rsplit_once('.').unwrap().0;
        let r = app.send(Req::get("/read").header("x-session", bare)).await;
        assert_eq!(r.body, "name=None count=0", "an unsigned id is an unknown session");
    }

    pub(crate) async fn store_failures_are_clear_errors<F: Framework>() {
        let app = F::serve(Settings::on(Storage::Server(Arc::new(Broken))));
        let r = app.send(Req::get("/set?name=x")).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "a new session fails at save: {}", r.body);
        assert!(r.set_cookies().is_empty());
        let r = app.send(Req::get("/read").header("cookie", "app=AAAAAAAAAAAAAAAAAAAAAA")).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "loading fails: {}", r.body);
        let r = app.send(Req::get("/untouched").header("cookie", "app=AAAAAAAAAAAAAAAAAAAAAA")).await;
        assert_eq!(r.status, StatusCode::OK, "a handler that does not use the session is unaffected");
    }
}

/// The store-independent behaviours on one framework.
macro_rules! framework_suite {
    ($module:ident, $framework:ident, $layer_name:literal) => {
        mod $module {
            use super::*;

            #[tokio::test]
            async fn cookie_attributes_follow_the_configuration() {
                any_store::cookie_attributes_follow_the_configuration::<$framework>().await
            }
            #[test]
            fn invalid_cookie_configurations_are_refused_when_built() {
                any_store::invalid_cookie_configurations_are_refused_when_built::<$framework>()
            }
            #[test]
            fn a_bad_query_parameter_is_refused_by_its_name() {
                any_store::a_bad_query_parameter_is_refused_by_its_name::<$framework>()
            }
            #[test]
            fn signed_or_sealed_tokens_are_refused_on_a_cookie_store() {
                any_store::signed_or_sealed_tokens_are_refused_on_a_cookie_store::<$framework>()
            }
            #[tokio::test]
            async fn missing_layer_is_a_clear_rejection() {
                any_store::missing_layer_is_a_clear_rejection::<$framework>($layer_name).await
            }
            #[tokio::test]
            async fn optional_session_is_none_only_without_a_layer() {
                any_store::optional_session_is_none_only_without_a_layer::<$framework>().await
            }
            #[tokio::test]
            async fn failures_can_be_answered_by_the_layer() {
                any_store::failures_can_be_answered_by_the_layer::<$framework>().await
            }
            #[tokio::test]
            async fn header_and_query_transports() {
                any_store::header_and_query_transports::<$framework>().await
            }
            #[tokio::test]
            async fn store_failures_are_clear_errors() {
                any_store::store_failures_are_clear_errors::<$framework>().await
            }
        }
    };
}

framework_suite!(axum_any_store, Axum, "SessionLayer");
#[cfg(feature = "actix")]
framework_suite!(actix_any_store, Actix, "SessionMiddleware");
/// A store that always fails: requests get a clear 503, never a panic or a lost save reported
/// as success.
pub(crate) struct Broken;

#[async_trait]
impl Store for Broken {
    async fn load(&self, _: &StoreKey, _: Timestamp) -> Result<Option<Record>, StoreError> {
        Err(down())
    }
    async fn create(&self, _: &StoreKey, _: &Record, _: Timestamp) -> Result<Created, StoreError> {
        Err(down())
    }
    async fn apply(&self, _: &StoreKey, _: &Change, _: Timestamp) -> Result<Applied, StoreError> {
        Err(down())
    }
    async fn delete(&self, _: &StoreKey) -> Result<(), StoreError> {
        Err(down())
    }
    async fn rename(&self, _: &StoreKey, _: &StoreKey, _: Timestamp) -> Result<Renamed, StoreError> {
        Err(down())
    }
    async fn collect_expired(&self, _: Timestamp) -> Result<u64, StoreError> {
        Err(down())
    }
}

/// The server named by the variable `var`; a missing variable fails the test rather than
/// skipping it.
#[cfg(any(feature = "redis", feature = "memcached", feature = "postgres", feature = "mysql"))]
fn server_url(var: &str, what: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| panic!("{var} is not set: point it at {what}, or run `bash scripts/test.sh`"))
}

/// A key prefix of its own for each test, on servers shared by every test.
#[cfg(feature = "redis")]
fn test_prefix() -> String {
    format!("session-kit-test:{}:", RandomIds.generate().as_str())
}

#[cfg(feature = "redis")]
http_suite!(redis, server_storage, async {
    let url = server_url("SESSION_KIT_REDIS_URL", "a Redis server");
    let store = session_kit::RedisStore::connect(&url).await.expect("connect to SESSION_KIT_REDIS_URL");
    IntoStorage::into_storage(store.with_prefix(test_prefix()))
});

// With the client-side cache: a request reads what the previous one wrote, a destroyed
// session stays destroyed.
#[cfg(feature = "redis")]
http_suite!(redis_cached, server_storage, async {
    let url = server_url("SESSION_KIT_REDIS_URL", "a Redis server");
    let store = session_kit::RedisStore::builder(url).prefix(test_prefix()).client_cache(1000).connect().await;
    IntoStorage::into_storage(store.expect("connect to SESSION_KIT_REDIS_URL"))
});

#[cfg(feature = "redis-cluster")]
http_suite!(redis_cluster, server_storage, async {
    let urls = server_url("SESSION_KIT_REDIS_CLUSTER_URLS", "Redis Cluster nodes");
    let urls: Vec<&str> = urls.split(',').collect();
    let store = session_kit::RedisStore::cluster(&urls).await.expect("connect to the Redis Cluster");
    IntoStorage::into_storage(store.with_prefix(test_prefix()))
});

#[cfg(feature = "memcached")]
http_suite!(memcached, server_storage, async {
    let url = server_url("SESSION_KIT_MEMCACHED_URL", "a Memcached server");
    let store = session_kit::MemcachedStore::connect(&url).await.expect("connect to SESSION_KIT_MEMCACHED_URL");
    IntoStorage::into_storage(store)
});

#[cfg(feature = "postgres")]
http_suite!(postgres, server_storage, async {
    let url = server_url("SESSION_KIT_POSTGRES_URL", "a PostgreSQL database");
    let store = session_kit::PostgresStore::open(&url).await.expect("open SESSION_KIT_POSTGRES_URL");
    IntoStorage::into_storage(store)
});

#[cfg(feature = "mysql")]
http_suite!(mysql, server_storage, async {
    let url = server_url("SESSION_KIT_MYSQL_URL", "a MySQL or MariaDB database");
    let store = session_kit::MysqlStore::open(&url).await.expect("open SESSION_KIT_MYSQL_URL");
    IntoStorage::into_storage(store)
});
