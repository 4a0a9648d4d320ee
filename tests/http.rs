//! The HTTP suite: session behaviour through a real axum router, asserted on status, body and
//! `Set-Cookie`. Every server-side store runs the same suite (`http_suite!` at the bottom).

#![allow(clippy::unwrap_used)] // test fixtures: a failed unwrap is a failed test

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use http::{Request, StatusCode};
use serde::Deserialize;
use session_kit::clock::{ManualClock, Timestamp};
use session_kit::id::{IdGenerator, RandomIds, SessionId};
use session_kit::integration::{IntoStorage, Storage};
use session_kit::store::{async_trait, Applied, Change, Created, Record, Renamed, Store, StoreKey};
use session_kit::{SameSite, Session, SessionLayer, StoreError};
use support::{send, with_cookie, Client};

#[derive(Session)]
#[session(name = "app")]
struct App {
    name: Option<String>,
    count: u64,
    #[flash]
    notice: Option<String>,
}

#[derive(Session)]
#[session(name = "cart")]
struct Cart {
    items: Vec<String>,
}

#[derive(Deserialize)]
struct Params {
    name: Option<String>,
    msg: Option<String>,
    remember: Option<bool>,
}

async fn read(session: Session<App>) -> String {
    format!("name={:?} count={}", session.name, session.count)
}

async fn set(mut session: Session<App>, Query(p): Query<Params>) -> &'static str {
    session.name = p.name;
    if let Some(remember) = p.remember {
        session.remember_me(remember);
    }
    "set"
}

fn app_router(storage: Storage) -> Router {
    app_routes().layer(SessionLayer::<App>::new(storage).secure(false))
}

fn app_routes() -> Router {
    Router::new()
        .route("/untouched", get(|| async { "untouched" }))
        .route("/read", get(read))
        .route("/set", get(set))
        .route(
            "/incr",
            get(|mut s: Session<App>| async move {
                s.count += 1;
                s.count.to_string()
            }),
        )
        .route(
            "/remove",
            get(|mut s: Session<App>| async move {
                s.name = None;
                "removed"
            }),
        )
        .route(
            "/destroy",
            get(|mut s: Session<App>| async move {
                s.destroy();
                "destroyed"
            }),
        )
        .route(
            "/cycle",
            get(|mut s: Session<App>| async move {
                s.cycle_id();
                "cycled"
            }),
        )
        .route(
            "/login",
            get(|mut s: Session<App>, Query(p): Query<Params>| async move {
                s.cycle_id();
                s.name = p.name;
                "logged in"
            }),
        )
        .route(
            "/flash",
            get(|mut s: Session<App>, Query(p): Query<Params>| async move {
                s.notice = p.msg;
                "flashed"
            }),
        )
        .route("/show", get(|s: Session<App>| async move { format!("{:?}", s.notice) }))
        .route(
            "/keep",
            get(|mut s: Session<App>| async move {
                s.keep_flash();
                format!("{:?}", s.notice)
            }),
        )
}

/// Counts store calls: malformed ids never reach the store; a request saves once.
struct Counting {
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

/// The auth guard of the `guard` example: lets logged-in requests through to the handler.
async fn require_login(session: Session<App>, request: Request<axum::body::Body>, next: Next) -> Response {
    if session.name.is_none() {
        return Redirect::to("/login-page").into_response();
    }
    next.run(request).await
}

/// Changes the session after its handler has run.
async fn stamp_after(mut session: Session<App>, request: Request<axum::body::Body>, next: Next) -> Response {
    let response = next.run(request).await;
    session.notice = Some("stamped".into());
    response
}

/// Changes the session, then calls the handler while still holding it.
async fn rename_and_keep(mut session: Session<App>, request: Request<axum::body::Body>, next: Next) -> Response {
    session.name = Some("from the middleware".into());
    next.run(request).await
}

/// Changes the session and gives it back before calling the handler.
async fn rename_and_release(mut session: Session<App>, request: Request<axum::body::Body>, next: Next) -> Response {
    session.name = Some("from the middleware".into());
    drop(session);
    next.run(request).await
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
struct ScriptedIds(Arc<std::sync::Mutex<std::collections::VecDeque<String>>>);

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

fn server_store(storage: &Storage) -> Arc<dyn Store> {
    match storage {
        Storage::Server(store) => store.clone(),
        _ => panic!("the HTTP suite runs on server-side stores"),
    }
}

/// The suite, one function per behaviour; each store runs all of them.
mod suite {
    use super::*;

    pub(crate) async fn untouched_and_read_only_get_no_cookie(storage: Storage) {
        let mut client = Client::new(app_router(storage));
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

    pub(crate) async fn bad_ids_give_a_fresh_session_and_never_reach_the_store(storage: Storage) {
        let counting = Arc::new(Counting::new(server_store(&storage)));
        let app = app_router(Storage::Server(counting.clone()));
        let junk = "x".repeat(10 * 1024);
        for (bad, well_formed) in [
            ("AAAAAAAAAAAAAAAAAAAAAA", true),
            ("not-an-id", false),
            ("..%2F..%2Fetc%2Fpasswd", false),
            ("../../../../etc/passwd", false),
            (junk.as_str(), false),
        ] {
            let before = counting.loads.load(Ordering::SeqCst);
            let r = send(&app, with_cookie("/set?name=eve", &format!("app={bad}"))).await;
            assert_eq!(r.status, StatusCode::OK, "{bad:.20}");
            let new = r.cookie_value("app").expect("a fresh session gets a new id");
            assert_ne!(new, bad, "a client-chosen id is never adopted");
            assert_eq!(new.len(), 22);
            let loads = counting.loads.load(Ordering::SeqCst) - before;
            assert_eq!(loads, usize::from(well_formed), "store loads for {bad:.20}");
        }
    }

    pub(crate) async fn insert_read_remove(storage: Storage) {
        let mut client = Client::new(app_router(storage));
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

    pub(crate) async fn destroy_sends_a_removal_with_the_same_attributes(storage: Storage) {
        let layer = SessionLayer::<App>::new(storage).path("/").domain("example.test");
        let mut client = Client::new(app_routes().layer(layer));
        client.get("/set?name=x").await;
        let id = client.jar["app"].clone();
        let r = client.get("/destroy").await;
        let removal = r.set_cookie("app").expect("removal cookie");
        for attr in ["app=;", "Max-Age=0", "Path=/", "Domain=example.test", "Secure", "HttpOnly", "SameSite=Lax"] {
            assert!(removal.contains(attr), "{removal} lacks {attr}");
        }
        let r = send(&client.app, with_cookie("/read", &format!("app={id}"))).await;
        assert_eq!(r.body, "name=None count=0", "the destroyed id opens nothing");
    }

    pub(crate) async fn cycle_id_keeps_data_and_kills_the_old_id(storage: Storage) {
        let mut client = Client::new(app_router(storage));
        client.get("/set?name=lin").await;
        let old = client.jar["app"].clone();
        let r = client.get("/cycle").await;
        let new = r.cookie_value("app").expect("a new id is sent");
        assert_ne!(new, old);
        assert_eq!(client.get("/read").await.body, r#"name=Some("lin") count=0"#);
        let r = send(&client.app, with_cookie("/read", &format!("app={old}"))).await;
        assert_eq!(r.body, "name=None count=0", "the old id is dead at once");
    }

    pub(crate) async fn a_failure_at_any_step_of_a_login_leaves_a_usable_session(storage: Storage) {
        let faulty = Arc::new(Faulty { inner: server_store(&storage), fault: std::sync::Mutex::new(Fault::None) });
        let app = app_router(Storage::Server(faulty.clone()));
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
            let mut client = Client::new(app.clone());
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
                let r = send(&app, with_cookie("/read", &format!("app={old}"))).await;
                assert_eq!(r.body, "name=None count=0", "{fault:?}: the old id is dead once the new one is sent");
            }
        }
    }

    pub(crate) async fn cycle_id_onto_a_live_id_takes_another(storage: Storage) {
        let ids = ScriptedIds::default();
        let app = app_routes().layer(SessionLayer::<App>::new(storage).secure(false).id_generator(ids.clone()));
        // A fresh id per run: persistent stores keep the records of earlier runs.
        let taken = RandomIds.generate();
        let taken = taken.as_str();
        ids.next_is(taken);
        let mut alice = Client::new(app.clone());
        alice.get("/set?name=alice").await;
        assert_eq!(alice.jar["app"], taken);
        let mut bob = Client::new(app);
        bob.get("/set?name=bob").await;
        ids.next_is(taken);
        let r = bob.get("/cycle").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let cycled = r.cookie_value("app").expect("a new id");
        assert_ne!(cycled, taken, "a live session's id is never handed to another client");
        assert_eq!(bob.get("/read").await.body, r#"name=Some("bob") count=0"#);
        assert_eq!(alice.get("/read").await.body, r#"name=Some("alice") count=0"#, "alice keeps her session");
    }

    pub(crate) async fn a_token_moved_to_another_session_type_opens_a_fresh_session(storage: Storage) {
        let app = Router::new()
            .route(
                "/app",
                get(|mut s: Session<App>| async move {
                    s.name = Some("app's".into());
                    s.count = 7;
                    "ok"
                }),
            )
            .route("/app/read", get(read))
            .route(
                "/cart",
                get(|mut cart: Session<Cart>| async move {
                    let seen = format!("new={} items={:?}", cart.is_new(), cart.items);
                    cart.items.push("intruder".into());
                    seen
                }),
            )
            .layer(SessionLayer::<App>::new(storage.clone()).secure(false))
            .layer(SessionLayer::<Cart>::new(storage).secure(false));
        let mut client = Client::new(app.clone());
        client.get("/app").await;
        let app_id = client.jar["app"].clone();
        let r = send(&app, with_cookie("/cart", &format!("cart={app_id}"))).await;
        assert_eq!(r.body, "new=true items=[]", "App's id in the Cart cookie opens no record");
        assert_ne!(r.cookie_value("cart").as_deref(), Some(app_id.as_str()), "the moved token is not adopted");
        assert_eq!(client.get("/app/read").await.body, r#"name=Some("app's") count=7"#, "App's record is untouched");
    }

    pub(crate) async fn shorter_timeouts_reach_sessions_stored_before(storage: Storage) {
        let clock = Arc::new(ManualClock::starting_now());
        let layer = |idle: u64, absolute: Option<u64>| {
            let layer = SessionLayer::<App>::new(storage.clone())
                .secure(false)
                .idle_timeout(Duration::from_secs(idle))
                .clock(clock.clone());
            match absolute {
                Some(secs) => layer.absolute_timeout(Duration::from_secs(secs)),
                None => layer,
            }
        };
        let before = app_routes().layer(layer(24 * 3600, None));
        // After the redeploy: 30 minutes idle, 1 hour absolute.
        let after = app_routes().layer(layer(30 * 60, Some(3600)));

        // Left alone for 40 minutes under a 24-hour idle timeout, then the timeout is 30 minutes.
        let mut idle = Client::new(before.clone());
        idle.get("/set?name=idle").await;
        // And one left alone for 10 minutes is still fine.
        let mut recent = Client::new(before.clone());
        clock.advance(Duration::from_secs(30 * 60));
        recent.get("/set?name=recent").await;
        clock.advance(Duration::from_secs(10 * 60));
        idle.app = after.clone();
        recent.app = after.clone();
        assert_eq!(idle.get("/read").await.body, "name=None count=0", "idle for 40 minutes under a 30-minute timeout");
        assert_eq!(recent.get("/read").await.body, r#"name=Some("recent") count=0"#, "active 10 minutes ago");

        // Created without an absolute timeout and kept busy for 70 minutes (under a 20-minute idle
        // timeout, so every request is recent activity); now the limit is 1 hour.
        let mut busy = Client::new(app_routes().layer(layer(20 * 60, None)));
        busy.get("/set?name=busy").await;
        for _ in 0..7 {
            clock.advance(Duration::from_secs(10 * 60));
            assert_eq!(busy.get("/read").await.body, r#"name=Some("busy") count=0"#);
        }
        busy.app = after;
        assert_eq!(busy.get("/read").await.body, "name=None count=0", "past the new absolute timeout");
    }

    pub(crate) async fn an_auth_guard_middleware_and_its_handler_share_the_session(storage: Storage) {
        let counting = Arc::new(Counting::new(server_store(&storage)));
        let guarded = Router::new()
            .route(
                "/guarded",
                get(|mut s: Session<App>| async move {
                    s.count += 1;
                    format!("{} {}", s.name.clone().unwrap_or_default(), s.count)
                }),
            )
            .route_layer(axum::middleware::from_fn(require_login));
        let app = app_routes()
            .merge(guarded)
            .layer(SessionLayer::<App>::new(Storage::Server(counting.clone())).secure(false));
        let mut client = Client::new(app);
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

    pub(crate) async fn a_middleware_may_change_the_session_after_its_handler(storage: Storage) {
        let app = app_routes()
            .route(
                "/stamped",
                get(|mut s: Session<App>| async move {
                    s.count += 1;
                    "counted"
                })
                .route_layer(axum::middleware::from_fn(stamp_after)),
            )
            .layer(SessionLayer::<App>::new(storage).secure(false));
        let mut client = Client::new(app);
        client.get("/set?name=bo").await;
        assert_eq!(client.get("/stamped").await.body, "counted");
        assert_eq!(client.get("/show").await.body, r#"Some("stamped")"#, "the middleware's change after the handler");
        assert_eq!(client.get("/read").await.body, r#"name=Some("bo") count=1"#, "and the handler's");
    }

    pub(crate) async fn a_middleware_change_reaches_the_handler_once_given_back(storage: Storage) {
        let handler = get(|s: Session<App>| async move { format!("{:?}", s.name) });
        let app = Router::new()
            .route("/kept", handler.clone().route_layer(axum::middleware::from_fn(rename_and_keep)))
            .route("/released", handler.route_layer(axum::middleware::from_fn(rename_and_release)))
            .layer(SessionLayer::<App>::new(storage).secure(false));
        let mut client = Client::new(app);
        let r = client.get("/released").await;
        assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, r#"Some("from the middleware")"#));
        let r = client.get("/kept").await;
        assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "a change the handler could not see is refused");
        assert!(!r.body.contains("App"), "no Rust type reaches the client: {}", r.body);
    }

    pub(crate) async fn save_stores_before_the_response_and_reports_failure(storage: Storage) {
        let store = server_store(&storage);
        let faulty = Arc::new(Faulty { inner: store.clone(), fault: std::sync::Mutex::new(Fault::None) });
        let app = Router::new()
            .route(
                "/save-now",
                get(move |mut s: Session<App>| {
                    let store = store.clone();
                    async move {
                        s.name = Some("saved early".into());
                        if let Err(error) = s.save().await {
                            return format!("not saved: {error}");
                        }
                        let id = s.id().expect("a saved session has an id").clone();
                        let record = store
                            .load(
                                &id.store_key("app"),
                                session_kit::clock::Clock::now(&session_kit::clock::SystemClock),
                            )
                            .await;
                        match record {
                            Ok(Some(_)) => "stored before the response".to_owned(),
                            other => format!("not in the store: {other:?}"),
                        }
                    }
                }),
            )
            .route("/read", get(read))
            .layer(SessionLayer::<App>::new(Storage::Server(faulty.clone())).secure(false));
        let mut client = Client::new(app);
        let r = client.get("/save-now").await;
        assert_eq!(r.body, "stored before the response");
        assert!(r.cookie_value("app").is_some(), "the new session's id goes out with the response");
        assert_eq!(client.get("/read").await.body, r#"name=Some("saved early") count=0"#);

        faulty.set(Fault::Create);
        let r = send(&client.app, Request::get("/save-now").body(axum::body::Body::empty()).unwrap()).await;
        assert!(
            r.body.starts_with("not saved: ") && r.body.contains("went away"),
            "the handler gets the error: {}",
            r.body
        );
    }

    pub(crate) async fn a_session_moved_into_a_task_is_saved(storage: Storage) {
        let gate = Arc::new(tokio::sync::Notify::new());
        let (shown_tx, shown_rx) = tokio::sync::oneshot::channel();
        let shown_tx = Arc::new(std::sync::Mutex::new(Some(shown_tx)));
        let (write_gate, read_gate) = (gate.clone(), gate.clone());
        let store = server_store(&storage);
        let app = app_routes()
            .route(
                "/later",
                get(move |mut s: Session<App>| {
                    let gate = write_gate.clone();
                    async move {
                        tokio::spawn(async move {
                            // Changed only after the response has gone out.
                            gate.notified().await;
                            s.count = 99;
                        });
                        "spawned"
                    }
                }),
            )
            .route(
                "/read-later",
                get(move |s: Session<App>| {
                    let (gate, shown_tx) = (read_gate.clone(), shown_tx.clone());
                    async move {
                        tokio::spawn(async move {
                            gate.notified().await;
                            if let Some(tx) = shown_tx.lock().unwrap().take() {
                                let _ = tx.send(format!("{:?}", s.notice));
                            }
                        });
                        "spawned"
                    }
                }),
            )
            .layer(SessionLayer::<App>::new(storage).secure(false));
        let mut client = Client::new(app);
        client.get("/set?name=task").await;
        assert_eq!(client.get("/later").await.body, "spawned");
        gate.notify_one();
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
        gate.notify_one();
        assert_eq!(shown_rx.await.unwrap(), r#"Some("once")"#);
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

    pub(crate) async fn a_session_lifetime_sticks_and_overrides_the_idle_timeout(storage: Storage) {
        let clock = Arc::new(ManualClock::starting_now());
        let layer =
            SessionLayer::<App>::new(storage).secure(false).idle_timeout(Duration::from_secs(600)).clock(clock.clone());
        let app = app_routes()
            .route(
                "/lifetime/{secs}",
                get(|mut s: Session<App>, Path(secs): Path<u64>| async move {
                    s.set_lifetime((secs > 0).then(|| Duration::from_secs(secs)));
                    format!("{:?}", s.lifetime())
                }),
            )
            .layer(layer);
        let mut client = Client::new(app);
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

    pub(crate) async fn remember_me_is_persistent_and_sticks(storage: Storage) {
        let clock = Arc::new(ManualClock::starting_now());
        let layer = SessionLayer::<App>::new(storage)
            .secure(false)
            .idle_timeout(Duration::from_secs(600))
            .remember_me_lifetime(Duration::from_secs(7 * 24 * 3600))
            .clock(clock.clone());
        let mut client = Client::new(app_routes().layer(layer));
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

    pub(crate) async fn idle_and_absolute_timeouts(storage: Storage) {
        let clock = Arc::new(ManualClock::starting_now());
        let layer = SessionLayer::<App>::new(storage.clone())
            .secure(false)
            .idle_timeout(Duration::from_secs(60))
            .clock(clock.clone());
        let mut client = Client::new(app_routes().layer(layer));
        client.get("/set?name=idle").await;
        for _ in 0..5 {
            clock.advance(Duration::from_secs(50));
            assert_eq!(client.get("/read").await.body, r#"name=Some("idle") count=0"#, "activity keeps it alive");
        }
        clock.advance(Duration::from_secs(61));
        assert_eq!(client.get("/read").await.body, "name=None count=0", "idle timeout");

        let clock = Arc::new(ManualClock::starting_now());
        let layer = SessionLayer::<App>::new(storage)
            .secure(false)
            .idle_timeout(Duration::from_secs(60))
            .absolute_timeout(Duration::from_secs(120))
            .clock(clock.clone());
        let mut client = Client::new(app_routes().layer(layer));
        client.get("/set?name=abs").await;
        clock.advance(Duration::from_secs(50));
        assert_eq!(client.get("/incr").await.body, "1");
        clock.advance(Duration::from_secs(50));
        assert_eq!(client.get("/incr").await.body, "2");
        clock.advance(Duration::from_secs(21));
        assert_eq!(client.get("/read").await.body, "name=None count=0", "absolute timeout despite activity");
    }

    pub(crate) async fn flash_is_shown_once(storage: Storage) {
        let mut client = Client::new(app_router(storage));
        client.get("/flash?msg=saved").await;
        assert_eq!(client.get("/show").await.body, r#"Some("saved")"#);
        assert_eq!(client.get("/show").await.body, "None");

        client.get("/flash?msg=again").await;
        assert_eq!(client.get("/keep").await.body, r#"Some("again")"#);
        assert_eq!(client.get("/show").await.body, r#"Some("again")"#, "keep_flash extends by one request");
        assert_eq!(client.get("/show").await.body, "None");
    }

    pub(crate) async fn two_session_types_in_one_handler(storage: Storage) {
        let app = Router::new()
            .route(
                "/both",
                get(|mut app: Session<App>, mut cart: Session<Cart>| async move {
                    app.count += 1;
                    cart.items.push(format!("item{}", app.count));
                    format!("{} {:?}", app.count, cart.items)
                }),
            )
            .layer(SessionLayer::<App>::new(storage.clone()).secure(false))
            .layer(SessionLayer::<Cart>::new(storage).secure(false));
        let mut client = Client::new(app);
        let r = client.get("/both").await;
        assert!(r.set_cookie("app").is_some() && r.set_cookie("cart").is_some(), "{:?}", r.set_cookies());
        assert_eq!(client.get("/both").await.body, r#"2 ["item1", "item2"]"#);
    }

    pub(crate) async fn concurrent_requests_lose_no_field(storage: Storage) {
        let app = Router::new()
            .route(
                "/wide/{i}",
                get(|mut s: Session<Wide>, Path(i): Path<usize>| async move {
                    s.set(i, i as u32 + 1);
                    "ok"
                }),
            )
            .route("/wide", get(|s: Session<Wide>| async move { format!("{:?}", s.all()) }))
            .route(
                "/init",
                get(|mut s: Session<Wide>| async move {
                    s.set(0, 999);
                    "ok"
                }),
            )
            .layer(SessionLayer::<Wide>::new(storage).secure(false));
        for round in 0..50 {
            let mut client = Client::new(app.clone());
            client.get("/init").await;
            let cookie = format!("wide={}", client.jar["wide"]);
            let tasks: Vec<_> = (0..16)
                .map(|i| {
                    let app = app.clone();
                    let cookie = cookie.clone();
                    tokio::spawn(async move { send(&app, with_cookie(&format!("/wide/{i}"), &cookie)).await })
                })
                .collect();
            for task in tasks {
                assert_eq!(task.await.unwrap().status, StatusCode::OK);
            }
            let expected: Vec<u32> = (1..=16).collect();
            assert_eq!(client.get("/wide").await.body, format!("{expected:?}"), "round {round}");
        }
    }
}

#[derive(Session)]
#[session(name = "wide")]
struct Wide {
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

    fn set(&mut self, i: usize, v: u32) {
        *self.fields()[i] = v;
    }

    fn all(&self) -> [u32; 16] {
        let Wide { f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15 } = self;
        [*f0, *f1, *f2, *f3, *f4, *f5, *f6, *f7, *f8, *f9, *f10, *f11, *f12, *f13, *f14, *f15]
    }
}

/// One `#[tokio::test]` per suite function, for the store `$make` (an async block giving a
/// `Storage`).
macro_rules! http_suite {
    ($store:ident, $make:expr) => {
        mod $store {
            use super::*;

            async fn storage() -> Storage {
                $make.await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn untouched_and_read_only_get_no_cookie() {
                suite::untouched_and_read_only_get_no_cookie(storage().await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn bad_ids_give_a_fresh_session_and_never_reach_the_store() {
                suite::bad_ids_give_a_fresh_session_and_never_reach_the_store(storage().await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn insert_read_remove() {
                suite::insert_read_remove(storage().await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn destroy_sends_a_removal_with_the_same_attributes() {
                suite::destroy_sends_a_removal_with_the_same_attributes(storage().await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn cycle_id_keeps_data_and_kills_the_old_id() {
                suite::cycle_id_keeps_data_and_kills_the_old_id(storage().await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_failure_at_any_step_of_a_login_leaves_a_usable_session() {
                suite::a_failure_at_any_step_of_a_login_leaves_a_usable_session(storage().await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn cycle_id_onto_a_live_id_takes_another() {
                suite::cycle_id_onto_a_live_id_takes_another(storage().await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_token_moved_to_another_session_type_opens_a_fresh_session() {
                suite::a_token_moved_to_another_session_type_opens_a_fresh_session(storage().await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn shorter_timeouts_reach_sessions_stored_before() {
                suite::shorter_timeouts_reach_sessions_stored_before(storage().await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn an_auth_guard_middleware_and_its_handler_share_the_session() {
                suite::an_auth_guard_middleware_and_its_handler_share_the_session(storage().await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_middleware_may_change_the_session_after_its_handler() {
                suite::a_middleware_may_change_the_session_after_its_handler(storage().await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_middleware_change_reaches_the_handler_once_given_back() {
                suite::a_middleware_change_reaches_the_handler_once_given_back(storage().await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn save_stores_before_the_response_and_reports_failure() {
                suite::save_stores_before_the_response_and_reports_failure(storage().await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_session_moved_into_a_task_is_saved() {
                suite::a_session_moved_into_a_task_is_saved(storage().await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_session_lifetime_sticks_and_overrides_the_idle_timeout() {
                suite::a_session_lifetime_sticks_and_overrides_the_idle_timeout(storage().await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn remember_me_is_persistent_and_sticks() {
                suite::remember_me_is_persistent_and_sticks(storage().await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn idle_and_absolute_timeouts() {
                suite::idle_and_absolute_timeouts(storage().await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn flash_is_shown_once() {
                suite::flash_is_shown_once(storage().await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn two_session_types_in_one_handler() {
                suite::two_session_types_in_one_handler(storage().await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn concurrent_requests_lose_no_field() {
                suite::concurrent_requests_lose_no_field(storage().await).await
            }
        }
    };
}

http_suite!(memory, async { IntoStorage::into_storage(session_kit::MemoryStore::new()) });

#[cfg(feature = "sqlite")]
http_suite!(sqlite, async {
    let store = session_kit::SqliteStore::open("sqlite::memory:").await.expect("open SQLite in memory");
    IntoStorage::into_storage(store)
});

#[cfg(feature = "file")]
http_suite!(file, async {
    // Under target/: the directory outlives the test, as the router holds the store.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("a temporary directory").keep();
    let store = session_kit::FileStore::open(&dir).await.expect("open a file store");
    IntoStorage::into_storage(store)
});

// ---- Behaviour that does not depend on the store ----

#[tokio::test]
async fn cookie_attributes_follow_the_configuration() {
    let cases: Vec<(SessionLayer<App>, &[&str], &[&str])> = vec![
        (
            SessionLayer::new(session_kit::MemoryStore::new()),
            &["app=", "Path=/", "Secure", "HttpOnly", "SameSite=Lax"],
            &["Max-Age", "Domain", "Partitioned"],
        ),
        (
            SessionLayer::new(session_kit::MemoryStore::new())
                .cookie_name("sid")
                .path("/admin")
                .domain("example.test")
                .secure(false)
                .http_only(false)
                .same_site(SameSite::Strict),
            &["sid=", "Path=/admin", "Domain=example.test", "SameSite=Strict"],
            &["Secure", "HttpOnly", "Max-Age"],
        ),
        (
            SessionLayer::new(session_kit::MemoryStore::new()).same_site(SameSite::None).partitioned(true),
            &["SameSite=None", "Secure", "Partitioned"],
            &[],
        ),
        (
            SessionLayer::new(session_kit::MemoryStore::new()).host_prefix(),
            &["__Host-app=", "Path=/", "Secure"],
            &["Domain"],
        ),
        (
            SessionLayer::new(session_kit::MemoryStore::new()).persistent(true).idle_timeout(Duration::from_secs(1800)),
            &["Max-Age=1800"],
            &[],
        ),
    ];
    for (layer, present, absent) in cases {
        let app = Router::new().route("/set", get(set)).layer(layer);
        let r = send(&app, Request::get("/set?name=a").body(axum::body::Body::empty()).unwrap()).await;
        let cookie = r.set_cookies().pop().expect("a cookie is set");
        for attr in present {
            assert!(cookie.contains(attr), "{cookie} lacks {attr}");
        }
        for attr in absent {
            assert!(!cookie.contains(attr), "{cookie} has {attr}");
        }
    }
}

#[test]
fn invalid_cookie_configurations_are_refused_when_built() {
    let store = || session_kit::MemoryStore::new();
    let bad = [
        SessionLayer::<App>::new(store()).same_site(SameSite::None).secure(false),
        SessionLayer::<App>::new(store()).host_prefix().domain("example.test"),
        SessionLayer::<App>::new(store()).host_prefix().path("/admin"),
        SessionLayer::<App>::new(store()).partitioned(true).secure(false),
        SessionLayer::<App>::new(store()).cookie_name("bad name"),
    ];
    for layer in bad {
        assert!(layer.validate().is_err(), "{layer:?}");
        let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            Router::<()>::new().route("/", get(read)).layer(layer.clone())
        }));
        assert!(built.is_err(), "applying {layer:?} must fail");
    }
}

#[test]
fn a_bad_query_parameter_is_refused_by_its_name() {
    let layer = SessionLayer::<App>::new(session_kit::MemoryStore::new()).id_from_query("session id");
    let message = layer.validate().expect_err("a space is no header name").to_string();
    assert!(message.contains("`session id` cannot be the session's query parameter"), "{message}");
    assert!(!message.contains("cookie"), "the cookie is not in use: {message}");
    let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Router::<()>::new().route("/", get(read)).layer(layer.clone())
    }));
    assert!(built.is_err(), "applying {layer:?} must fail");
}

#[tokio::test]
async fn missing_layer_is_a_clear_rejection() {
    let app = Router::new().route("/read", get(read)).route(
        "/explain",
        get(|s: Result<Session<App>, session_kit::SessionRejection>| async move {
            s.err().map(|rejection| rejection.to_string()).unwrap_or_default()
        }),
    );
    let r = send(&app, Request::get("/read").body(axum::body::Body::empty()).unwrap()).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!r.body.contains("App") && !r.body.contains("::"), "no Rust type reaches the client: {}", r.body);
    // The rejection itself (logged, and in hand with `Result<Session<T>, _>`) says how to fix it.
    let r = send(&app, Request::get("/explain").body(axum::body::Body::empty()).unwrap()).await;
    assert!(r.body.contains("needs `SessionLayer::<") && r.body.contains("App"), "{}", r.body);
    assert!(r.body.contains("routes added before it"), "{}", r.body);
}

#[tokio::test]
async fn optional_session_is_none_only_without_a_layer() {
    async fn maybe(s: Option<Session<App>>) -> String {
        s.map_or_else(|| "no layer".to_owned(), |s| format!("{:?}", s.name))
    }
    let bare = Router::new().route("/maybe", get(maybe));
    let r = send(&bare, Request::get("/maybe").body(axum::body::Body::empty()).unwrap()).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "no layer"));
    let layered =
        Router::new().route("/maybe", get(maybe)).layer(SessionLayer::<App>::new(session_kit::MemoryStore::new()));
    let r = send(&layered, Request::get("/maybe").body(axum::body::Body::empty()).unwrap()).await;
    assert_eq!(r.body, "None", "no cookie is a new session, not no session");
}

#[tokio::test]
async fn failures_can_be_answered_by_the_layer() {
    let layer = SessionLayer::<App>::new(Broken).on_failure(|failure: &session_kit::SessionFailure<'_>| {
        let page = match failure {
            session_kit::SessionFailure::Open(_) => "<h1>Cannot load your session</h1>",
            session_kit::SessionFailure::Save(_) => "<h1>Cannot save your session</h1>",
            _ => "<h1>Session error</h1>",
        };
        axum::response::IntoResponse::into_response((failure.status(), axum::response::Html(page)))
    });
    let app = app_routes().layer(layer);
    let r = send(&app, with_cookie("/read", "app=AAAAAAAAAAAAAAAAAAAAAA")).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::SERVICE_UNAVAILABLE, "<h1>Cannot load your session</h1>"));
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let r = send(&app, Request::get("/set?name=x").body(axum::body::Body::empty()).unwrap()).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::SERVICE_UNAVAILABLE, "<h1>Cannot save your session</h1>"));
}

#[tokio::test]
async fn header_and_query_transports() {
    let app = app_routes().layer(
        SessionLayer::<App>::new(session_kit::MemoryStore::new())
            .id_from_header(http::HeaderName::from_static("x-session")),
    );
    let r = send(&app, Request::get("/set?name=api").body(axum::body::Body::empty()).unwrap()).await;
    assert!(r.set_cookies().is_empty(), "header transport sets no cookie");
    let token = r.header("x-session").expect("token in the response header").to_owned();
    let r =
        send(&app, Request::get("/read").header("x-session", &token).body(axum::body::Body::empty()).unwrap()).await;
    assert_eq!(r.body, r#"name=Some("api") count=0"#);
    assert_eq!(r.header("vary"), Some("x-session"), "caches must key on the header carrying the token");

    let app = app_routes().layer(SessionLayer::<App>::new(session_kit::MemoryStore::new()).id_from_query("sid"));
    let r = send(&app, Request::get("/set?name=q").body(axum::body::Body::empty()).unwrap()).await;
    let token = r.header("sid").expect("token in the response header").to_owned();
    let r = send(&app, Request::get(format!("/read?sid={token}")).body(axum::body::Body::empty()).unwrap()).await;
    assert_eq!(r.body, r#"name=Some("q") count=0"#);
    assert_eq!(r.header("vary"), None, "the token is in the URL, which caches key on already");
}

/// A store that always fails: requests get a clear 503, never a panic or a lost save reported
/// as success.
struct Broken;

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

#[tokio::test]
async fn store_failures_are_clear_errors() {
    let app = app_routes().layer(SessionLayer::<App>::new(Broken));
    let r = send(&app, Request::get("/set?name=x").body(axum::body::Body::empty()).unwrap()).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "a new session fails at save: {}", r.body);
    assert!(r.set_cookies().is_empty());
    let r = send(&app, with_cookie("/read", "app=AAAAAAAAAAAAAAAAAAAAAA")).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "loading fails: {}", r.body);
    let r = send(&app, with_cookie("/untouched", "app=AAAAAAAAAAAAAAAAAAAAAA")).await;
    assert_eq!(r.status, StatusCode::OK, "a handler that does not use the session is unaffected");
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
http_suite!(redis, async {
    let url = server_url("SESSION_KIT_REDIS_URL", "a Redis server");
    let store = session_kit::RedisStore::connect(&url).await.expect("connect to SESSION_KIT_REDIS_URL");
    IntoStorage::into_storage(store.with_prefix(test_prefix()))
});

// With the client-side cache: a request reads what the previous one wrote, a destroyed
// session stays destroyed.
#[cfg(feature = "redis")]
http_suite!(redis_cached, async {
    let url = server_url("SESSION_KIT_REDIS_URL", "a Redis server");
    let store = session_kit::RedisStore::builder(url).prefix(test_prefix()).client_cache(1000).connect().await;
    IntoStorage::into_storage(store.expect("connect to SESSION_KIT_REDIS_URL"))
});

#[cfg(feature = "redis-cluster")]
http_suite!(redis_cluster, async {
    let urls = server_url("SESSION_KIT_REDIS_CLUSTER_URLS", "Redis Cluster nodes");
    let urls: Vec<&str> = urls.split(',').collect();
    let store = session_kit::RedisStore::cluster(&urls).await.expect("connect to the Redis Cluster");
    IntoStorage::into_storage(store.with_prefix(test_prefix()))
});

#[cfg(feature = "memcached")]
http_suite!(memcached, async {
    let url = server_url("SESSION_KIT_MEMCACHED_URL", "a Memcached server");
    let store = session_kit::MemcachedStore::connect(&url).await.expect("connect to SESSION_KIT_MEMCACHED_URL");
    IntoStorage::into_storage(store)
});

#[cfg(feature = "postgres")]
http_suite!(postgres, async {
    let url = server_url("SESSION_KIT_POSTGRES_URL", "a PostgreSQL database");
    let store = session_kit::PostgresStore::open(&url).await.expect("open SESSION_KIT_POSTGRES_URL");
    IntoStorage::into_storage(store)
});

#[cfg(feature = "mysql")]
http_suite!(mysql, async {
    let url = server_url("SESSION_KIT_MYSQL_URL", "a MySQL or MariaDB database");
    let store = session_kit::MysqlStore::open(&url).await.expect("open SESSION_KIT_MYSQL_URL");
    IntoStorage::into_storage(store)
});
