//! Client-side sessions through a real router: sealed and signed cookies, bad input, key
//! rotation, unknown fields and the size limit.

#![allow(clippy::unwrap_used)] // test fixtures: a failed unwrap is a failed test

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Query;
use axum::routing::get;
use axum::Router;
use http::StatusCode;
use serde::Deserialize;
use session_kit::clock::{ManualClock, Timestamp};
use session_kit::store::{async_trait, Applied, Change, Created, Record, Renamed, Store, StoreError, StoreKey};
use session_kit::{CookieStore, Key, KeyRing, Session, SessionLayer};
use support::{send, with_cookie, Client};

#[derive(Session)]
#[session(name = "app")]
struct App {
    name: Option<String>,
    count: u64,
}

/// A newer deploy's view of the same cookie, with a field the older one does not know.
#[derive(Session)]
#[session(name = "app")]
struct AppV2 {
    name: Option<String>,
    count: u64,
    theme: Option<String>,
}

#[derive(Deserialize)]
struct Params {
    name: Option<String>,
    theme: Option<String>,
    big: Option<usize>,
}

fn master(byte: u8) -> Key {
    Key::derive(&[byte; 32]).unwrap()
}

fn router(store: CookieStore, clock: Option<Arc<ManualClock>>) -> Router {
    let mut layer = SessionLayer::<App>::new(store).secure(false).idle_timeout(Duration::from_secs(3600));
    if let Some(clock) = clock {
        layer = layer.clock(clock);
    }
    Router::new()
        .route("/read", get(|s: Session<App>| async move { format!("{:?} {}", s.name, s.count) }))
        .route(
            "/set",
            get(|mut s: Session<App>, Query(p): Query<Params>| async move {
                s.name = p.name;
                if let Some(n) = p.big {
                    s.name = Some("x".repeat(n));
                }
                "set"
            }),
        )
        .route(
            "/incr",
            get(|mut s: Session<App>| async move {
                s.count += 1;
                s.count.to_string()
            }),
        )
        .route(
            "/cycle",
            get(|mut s: Session<App>| async move {
                s.cycle_id();
                "cycled"
            }),
        )
        .layer(layer)
}

fn router_v2(store: CookieStore) -> Router {
    Router::new()
        .route(
            "/theme",
            get(|mut s: Session<AppV2>, Query(p): Query<Params>| async move {
                if p.theme.is_some() {
                    s.theme = p.theme;
                }
                format!("{:?} {:?} {}", s.theme, s.name, s.count)
            }),
        )
        .layer(SessionLayer::<AppV2>::new(store).secure(false))
}

async fn seeded(app: &Router) -> String {
    let r = send(app, http::Request::get("/set?name=ada").body(axum::body::Body::empty()).unwrap()).await;
    r.cookie_value("app").expect("a cookie session sets its cookie")
}

#[tokio::test]
async fn round_trip_in_both_modes() {
    for store in [CookieStore::sealed(KeyRing::new(master(1))), CookieStore::signed(KeyRing::new(master(1)))] {
        let mut client = Client::new(router(store, None));
        client.get("/set?name=ada").await;
        assert_eq!(client.get("/incr").await.body, "1");
        assert_eq!(client.get("/incr").await.body, "2");
        let r = client.get("/read").await;
        assert_eq!(r.body, r#"Some("ada") 2"#);
        assert!(r.set_cookies().is_empty(), "an unchanged cookie session is not resent");
    }
}

#[tokio::test]
async fn bad_cookies_open_as_fresh_sessions() {
    let clock = Arc::new(ManualClock::starting_now());
    let app = router(CookieStore::sealed(KeyRing::new(master(1))), Some(clock.clone()));
    let good = seeded(&app).await;

    let mut flipped = good.clone().into_bytes();
    flipped[good.len() / 2] = if flipped[good.len() / 2] == b'A' { b'B' } else { b'A' };
    let other_key = seeded(&router(CookieStore::sealed(KeyRing::new(master(2))), None)).await;
    let other_mode = seeded(&router(CookieStore::signed(KeyRing::new(master(1))), None)).await;
    let cases = [
        ("one character changed", String::from_utf8(flipped).unwrap()),
        ("truncated", good[..good.len() - 5].to_owned()),
        ("extended", format!("{good}AAAA")),
        ("empty", String::new()),
        ("not base64", "!!!not*base64!!!".to_owned()),
        ("100 KB", "A".repeat(100 * 1024)),
        ("unknown key", other_key),
        ("other mode", other_mode),
    ];
    for (what, value) in cases {
        let r = send(&app, with_cookie("/read", &format!("app={value}"))).await;
        assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "None 0"), "{what}");
    }

    // A value sealed for another cookie name does not open under this one.
    let other_name = Router::new()
        .route(
            "/set",
            get(|mut s: Session<App>| async move {
                s.name = Some("moved".into());
            }),
        )
        .layer(SessionLayer::<App>::new(CookieStore::sealed(KeyRing::new(master(1)))).cookie_name("other"));
    let r = send(&other_name, http::Request::get("/set").body(axum::body::Body::empty()).unwrap()).await;
    let moved = r.cookie_value("other").unwrap();
    let r = send(&app, with_cookie("/read", &format!("app={moved}"))).await;
    assert_eq!(r.body, "None 0", "a value moved to another cookie name");

    // Replayed after its expiry.
    clock.advance(Duration::from_secs(3601));
    let r = send(&app, with_cookie("/read", &format!("app={good}"))).await;
    assert_eq!(r.body, "None 0", "an expired value");
}

#[tokio::test]
async fn a_value_from_the_far_future_is_refused() {
    let future = Arc::new(ManualClock::starting_now());
    future.advance(Duration::from_secs(365 * 24 * 3600));
    let from_future = seeded(&router(CookieStore::sealed(KeyRing::new(master(1))), Some(future))).await;
    let app = router(CookieStore::sealed(KeyRing::new(master(1))), None);
    let r = send(&app, with_cookie("/read", &format!("app={from_future}"))).await;
    assert_eq!(r.body, "None 0");
}

#[tokio::test]
async fn key_rotation_reseals_with_the_new_primary() {
    let old_app = router(CookieStore::sealed(KeyRing::new(master(1))), None);
    let old_cookie = seeded(&old_app).await;

    // The new primary first, the old key kept: the old cookie still opens and is re-sealed.
    let rotated = router(CookieStore::sealed(KeyRing::new(master(1)).rotate(master(2))), None);
    let r = send(&rotated, with_cookie("/read", &format!("app={old_cookie}"))).await;
    assert_eq!(r.body, r#"Some("ada") 0"#);
    let resealed = r.cookie_value("app").expect("opened with an older key: re-sealed in the same response");
    assert_ne!(resealed, old_cookie);

    // Only the new key left: the re-sealed cookie opens, the old one is a fresh session.
    let new_only = router(CookieStore::sealed(KeyRing::new(master(2))), None);
    let r = send(&new_only, with_cookie("/read", &format!("app={resealed}"))).await;
    assert_eq!(r.body, r#"Some("ada") 0"#);
    assert!(r.set_cookies().is_empty(), "sealed by the primary: nothing to re-seal");
    let r = send(&new_only, with_cookie("/read", &format!("app={old_cookie}"))).await;
    assert_eq!(r.body, "None 0");

    // Order matters: with the old key listed as older, the new one seals.
    let ring = KeyRing::new(master(2)).with_older(master(1));
    let app = router(CookieStore::sealed(ring), None);
    let fresh = seeded(&app).await;
    let r = send(&new_only, with_cookie("/read", &format!("app={fresh}"))).await;
    assert_eq!(r.body, r#"Some("ada") 0"#, "the primary, not the first key found, seals");
}

#[tokio::test]
async fn unknown_fields_survive_an_older_deploy() {
    let store = || CookieStore::sealed(KeyRing::new(master(3)));
    let mut v2 = Client::new(router_v2(store()));
    v2.get("/theme?theme=dark").await;
    let mut v1 = Client::new(router(store(), None));
    v1.jar = v2.jar.clone();
    assert_eq!(v1.get("/incr").await.body, "1", "the older binary changes its own field");
    v2.jar = v1.jar.clone();
    assert_eq!(v2.get("/theme").await.body, r#"Some("dark") None 1"#, "and the newer one's field is still there");
}

#[tokio::test]
async fn an_oversized_session_is_a_clear_error_not_a_truncated_cookie() {
    let app = router(CookieStore::sealed(KeyRing::new(master(1))), None);
    let r = send(&app, http::Request::get("/set?big=5000").body(axum::body::Body::empty()).unwrap()).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(r.body.contains("4096") && r.body.contains("bytes"), "{}", r.body);
    assert!(r.set_cookies().is_empty(), "nothing truncated is sent");
}

#[tokio::test]
async fn cycle_id_reseals() {
    let mut client = Client::new(router(CookieStore::sealed(KeyRing::new(master(1))), None));
    client.get("/set?name=ada").await;
    let before = client.jar["app"].clone();
    let r = client.get("/cycle").await;
    assert_ne!(r.cookie_value("app").unwrap(), before);
    assert_eq!(client.get("/read").await.body, r#"Some("ada") 0"#);
}

#[tokio::test]
async fn a_shorter_idle_timeout_reaches_cookies_sealed_before_it() {
    let clock = Arc::new(ManualClock::starting_now());
    // Sealed under a one-hour idle timeout, then left alone for 40 minutes.
    let mut client = Client::new(router(CookieStore::sealed(KeyRing::new(master(1))), Some(clock.clone())));
    client.get("/set?name=ada").await;
    clock.advance(Duration::from_secs(40 * 60));
    let layer = SessionLayer::<App>::new(CookieStore::sealed(KeyRing::new(master(1))))
        .secure(false)
        .idle_timeout(Duration::from_secs(30 * 60))
        .clock(clock.clone());
    client.app = Arc::new(
        Router::new()
            .route("/read", get(|s: Session<App>| async move { format!("{:?} {}", s.name, s.count) }))
            .layer(layer),
    );
    assert_eq!(client.get("/read").await.body, "None 0", "idle for 40 minutes under a 30-minute timeout");
}

/// A user upgrading from session-kit 0.2 keeps the cookie sessions it made (format version 2):
/// they open, are re-sealed in the current format in the same response, and the new value
/// opens alone.
#[tokio::test]
async fn cookies_of_the_previous_format_open_and_are_resealed() {
    // Made by session-kit 0.2 with `master(1)` for `App { name: Some("ada"), count: 5 }`,
    // active at 2026-01-01T00:00:00Z with a one-hour idle timeout.
    let sealed_v2 = "IU3HfjMAAAGbdxGWgAcHBwcHBwcHBwcHBwcHBwefVHdbq3H8mk-qYPVUvD2YqE2EE2XM9-gsAWOgfHGRUQOVQUjzNGt4nnmvPrV_OvlugK4FYOu0FMvKtlA";
    let signed_v2 = "Ik3HfjMAAAGbdxGWgIDQ6ra3MwGArca4tzMAAIDQ6ra3MwACBG5hbWUFAQNhZGEABWNvdW50AQUAiYfDrBUwCEtUpkJkNu9U0cgEOyg8k0C-mFVGfJkDJi8";
    for (store, value) in [
        (CookieStore::sealed(KeyRing::new(master(1))), sealed_v2),
        (CookieStore::signed(KeyRing::new(master(1))), signed_v2),
    ] {
        let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_767_225_600_000)));
        clock.advance(Duration::from_secs(60));
        let app = router(store, Some(clock.clone()));
        let r = send(&app, with_cookie("/read", &format!("app={value}"))).await;
        assert_eq!(r.body, r#"Some("ada") 5"#);
        let resealed = r.cookie_value("app").expect("a value of the previous format is re-sealed at once");
        assert!(resealed.len() < value.len() * 2 / 3, "{} characters, from {}", resealed.len(), value.len());
        let r = send(&app, with_cookie("/read", &format!("app={resealed}"))).await;
        assert_eq!(r.body, r#"Some("ada") 5"#);
        assert!(r.set_cookies().is_empty(), "the current format: nothing to re-seal");
        // Written to, it keeps what it had.
        let r = send(&app, with_cookie("/incr", &format!("app={resealed}"))).await;
        assert_eq!(r.body, "6");
        let incremented = r.cookie_value("app").unwrap();
        let r = send(&app, with_cookie("/read", &format!("app={incremented}"))).await;
        assert_eq!(r.body, r#"Some("ada") 6"#);
        // Past its idle deadline, the old value opens as a fresh session, like any other.
        clock.advance(Duration::from_secs(3600));
        let r = send(&app, with_cookie("/read", &format!("app={value}"))).await;
        assert_eq!(r.body, "None 0");
    }
}

/// A client-side session's unknown fields survive any number of saves by an older deploy, in
/// both modes, and a value tampered with in any way opens as a fresh session, never an error.
#[tokio::test]
async fn unknown_fields_survive_repeated_saves_and_tampering_is_a_fresh_session() {
    for store in [CookieStore::sealed(KeyRing::new(master(4))), CookieStore::signed(KeyRing::new(master(4)))] {
        let mut newer = Client::new(router_v2(store.clone()));
        newer.get("/theme?theme=dark").await;
        let mut older = Client::new(router(store.clone(), None));
        older.jar = newer.jar.clone();
        for n in 1..=3 {
            assert_eq!(older.get("/incr").await.body, n.to_string());
        }
        older.get("/set?name=ada").await;
        newer.jar = older.jar.clone();
        assert_eq!(newer.get("/theme").await.body, r#"Some("dark") Some("ada") 3"#);

        let value = newer.jar["app"].clone();
        let app = router(store, None);
        for cut in [1, 2, 3, 10, value.len() / 2, value.len() - 1] {
            let r = send(&app, with_cookie("/read", &format!("app={}", &value[..value.len() - cut]))).await;
            assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "None 0"), "cut by {cut}");
        }
        for at in 0..value.len() {
            let mut changed = value.clone().into_bytes();
            changed[at] = if changed[at] == b'x' { b'y' } else { b'x' };
            let r = send(&app, with_cookie("/read", &format!("app={}", String::from_utf8(changed).unwrap()))).await;
            assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "None 0"), "character {at} changed");
        }
    }
}

// ---- Revocable cookie stores: a failing store, and "log out everywhere else" at once ----

/// A session type with an owner, for the revocable cookie store.
#[derive(Session)]
#[session(name = "acct")]
struct Acct {
    #[session(owner)]
    user: Option<String>,
}

/// A memory store that fails every call while `broken` is set: the "not before" store below.
#[derive(Default)]
struct Breakable {
    inner: session_kit::MemoryStore,
    broken: AtomicBool,
}

impl Breakable {
    fn check(&self) -> Result<(), StoreError> {
        match self.broken.load(Ordering::SeqCst) {
            true => Err(StoreError::backend("breakable", "the test broke this store")),
            false => Ok(()),
        }
    }
}

#[async_trait]
impl Store for Breakable {
    async fn load(&self, key: &StoreKey, now: Timestamp) -> Result<Option<Record>, StoreError> {
        self.check()?;
        self.inner.load(key, now).await
    }
    async fn create(&self, key: &StoreKey, record: &Record, now: Timestamp) -> Result<Created, StoreError> {
        self.check()?;
        self.inner.create(key, record, now).await
    }
    async fn apply(&self, key: &StoreKey, change: &Change, now: Timestamp) -> Result<Applied, StoreError> {
        self.check()?;
        self.inner.apply(key, change, now).await
    }
    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        self.check()?;
        self.inner.delete(key).await
    }
    async fn rename(&self, from: &StoreKey, to: &StoreKey, now: Timestamp) -> Result<Renamed, StoreError> {
        self.check()?;
        self.inner.rename(from, to, now).await
    }
    async fn collect_expired(&self, now: Timestamp) -> Result<u64, StoreError> {
        self.check()?;
        self.inner.collect_expired(now).await
    }
}

/// `/login?name=` sets the owner, `/whoami` shows it, `/end-others` logs out everywhere else.
fn revocable_router(revocations: Arc<Breakable>, clock: Arc<ManualClock>) -> Router {
    let store = CookieStore::sealed(KeyRing::new(master(7))).revocable(revocations);
    Router::new()
        .route(
            "/login",
            get(|mut s: Session<Acct>, Query(p): Query<Params>| async move {
                s.user = p.name;
                "logged in"
            }),
        )
        .route("/whoami", get(|s: Session<Acct>| async move { format!("{:?}", s.user) }))
        .route(
            "/end-others",
            get(|s: Session<Acct>| async move {
                let Some(user) = s.user.clone() else { return "anonymous".to_owned() };
                s.sessions().end_others(&user).await.map_or_else(|e| e.to_string(), |n| format!("ended {n}"))
            }),
        )
        .layer(SessionLayer::<Acct>::new(store).secure(false).clock(clock))
}

#[tokio::test]
async fn a_failing_revocation_store_fails_the_owners_requests_and_spares_the_others() {
    let (revocations, clock) = (Arc::new(Breakable::default()), Arc::new(ManualClock::starting_now()));
    let app = revocable_router(revocations.clone(), clock);
    let mut ann = Client::new(app.clone());
    let mut anonymous = Client::new(app);
    assert_eq!(ann.get("/login?name=ann").await.body, "logged in");
    assert_eq!(anonymous.get("/login").await.body, "logged in");
    assert_eq!(anonymous.get("/whoami").await.body, "None");

    revocations.broken.store(true, Ordering::SeqCst);
    // Whether ann's sessions were ended cannot be known: her request fails, closed.
    let r = ann.get("/whoami").await;
    assert!(r.status.is_server_error(), "{}: {}", r.status, r.body);
    assert!(!r.body.contains("ann"), "{}", r.body);
    // A session without an owner needs no look-up.
    assert_eq!(anonymous.get("/whoami").await.body, "None");

    revocations.broken.store(false, Ordering::SeqCst);
    assert_eq!(ann.get("/whoami").await.body, "Some(\"ann\")", "served again once the store answers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logging_out_everywhere_else_from_two_sessions_at_once_leaves_one() {
    let (revocations, clock) = (Arc::new(Breakable::default()), Arc::new(ManualClock::starting_now()));
    let app = revocable_router(revocations, clock.clone());
    let mut first = Client::new(app.clone());
    let mut second = Client::new(app);
    assert_eq!(first.get("/login?name=ann").await.body, "logged in");
    clock.advance(Duration::from_secs(1));
    assert_eq!(second.get("/login?name=ann").await.body, "logged in");
    clock.advance(Duration::from_secs(1));
    // Both at once: each either writes the owner's record (creating it, or over the other's)
    // or was already refused by the other's when it opened.
    let (a, b) = tokio::join!(first.get("/end-others"), second.get("/end-others"));
    for reply in [&a, &b] {
        assert!(["ended 0", "anonymous"].contains(&reply.body.as_str()), "{}: {}", reply.status, reply.body);
    }
    clock.advance(Duration::from_secs(1));
    let still: Vec<String> = [first.get("/whoami").await.body, second.get("/whoami").await.body].into();
    let logged_in = still.iter().filter(|who| who.as_str() == "Some(\"ann\")").count();
    assert_eq!(logged_in, 1, "the last one to log out everywhere else stays, the other does not: {still:?}");
}
