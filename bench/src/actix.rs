//! The actix-web contenders (feature `actix`): session-kit's `SessionMiddleware` beside
//! actix-session, with a cookie store and (with the `redis` feature) a Redis store, doing the
//! same `/seed`, `/read` and `/write` work as the axum contenders, driven in-process through
//! `actix_web::test::call_service` with the session cookie fed back.

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header::{HeaderValue, COOKIE, SET_COOKIE};
use actix_web::http::StatusCode;
use actix_web::{test, web, App, HttpResponse};
use bytes::Bytes;
use session_kit::actix::{Session, SessionMiddleware};
use session_kit::{CookieStore, Key, KeyRing};

use crate::{expected_read_body, render, sample_peer, sample_profile, PeerProfile, Profile, COOKIE_NAME, PEER_KEY};

/// An actix app as `test::init_service` makes it.
pub trait ActixService:
    Service<actix_http::Request, Response = ServiceResponse<Self::Body>, Error = actix_web::Error>
{
    /// Its response body.
    type Body: MessageBody;
}

impl<S, B> ActixService for S
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    type Body = B;
}

/// Drives an actix app in-process, like a browser: the last `Set-Cookie` it received goes back
/// in the `Cookie` header. Runs on an actix system (`actix_web::rt::System`).
pub struct ActixClient<S> {
    service: S,
    cookie: Option<HeaderValue>,
}

impl<S: ActixService> ActixClient<S> {
    /// The `name=value` the client sends, if any.
    pub fn cookie(&self) -> Option<&HeaderValue> {
        self.cookie.as_ref()
    }

    /// `GET path`, returning the status and the collected body.
    pub async fn get(&mut self, path: &'static str) -> (StatusCode, Bytes) {
        let mut request = test::TestRequest::get().uri(path);
        if let Some(cookie) = &self.cookie {
            request = request.insert_header((COOKIE, cookie.clone()));
        }
        let response = test::call_service(&self.service, request.to_request()).await;
        if let Some(set) = response.headers().get(SET_COOKIE) {
            let pair = set.as_bytes().split(|&b| b == b';').next().unwrap_or_default();
            self.cookie = HeaderValue::from_bytes(pair).ok();
        }
        let status = response.status();
        (status, test::read_body(response).await)
    }

    /// Creates the session (`/seed`) and checks that `/read` returns the seeded data.
    ///
    /// # Panics
    ///
    /// If the contender does not return the seeded data: its benchmark would measure nothing.
    pub async fn seed(&mut self) {
        let (status, _) = self.get("/seed").await;
        assert_eq!(status, StatusCode::OK, "seed failed");
        let (status, body) = self.get("/read").await;
        assert_eq!(status, StatusCode::OK, "read after seed failed");
        assert_eq!(body, expected_read_body().as_bytes(), "read after seed returned other data");
    }
}

/// A client of `app`, built as a worker builds it.
pub async fn actix_client<T, B>(app: App<T>) -> ActixClient<impl ActixService>
where
    T: actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Response = ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
    B: MessageBody + 'static,
{
    ActixClient { service: test::init_service(app).await, cookie: None }
}

// ---------------------------------------------------------------------------------------------
// Bare handler.

/// The baseline: the same routes and rendering, no session at all.
pub fn actix_bare_app() -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    async fn read() -> String {
        expected_read_body()
    }
    App::new()
        .route("/seed", web::get().to(read))
        .route("/read", web::get().to(read))
        .route("/write", web::get().to(read))
}

// ---------------------------------------------------------------------------------------------
// session-kit.

async fn kit_seed(mut session: Session<Profile>) -> &'static str {
    *session = sample_profile();
    "seeded"
}

async fn kit_read(session: Session<Profile>) -> String {
    render(session.user_id, &session.name, &session.role, &session.tags, session.seen_at)
}

async fn kit_write(mut session: Session<Profile>) -> String {
    session.seen_at += 1;
    render(session.user_id, &session.name, &session.role, &session.tags, session.seen_at)
}

/// session-kit's routes behind `middleware`.
pub fn actix_kit_app(
    middleware: SessionMiddleware<Profile>,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .route("/seed", web::get().to(kit_seed))
        .route("/read", web::get().to(kit_read))
        .route("/write", web::get().to(kit_write))
        .wrap(middleware)
}

/// session-kit's middleware with the whole session sealed (AES-SIV) into the cookie.
pub fn actix_kit_sealed() -> SessionMiddleware<Profile> {
    SessionMiddleware::<Profile>::new(CookieStore::sealed(KeyRing::new(Key::generate()))).secure(false)
}

/// session-kit's middleware with its Redis store, sessions under `prefix`.
#[cfg(feature = "redis")]
pub async fn actix_kit_redis(prefix: &str) -> Result<SessionMiddleware<Profile>, session_kit::StoreError> {
    Ok(SessionMiddleware::<Profile>::new(crate::kit_redis_store(prefix).await?).secure(false))
}

// ---------------------------------------------------------------------------------------------
// actix-session.

async fn peer_seed(session: actix_session::Session) -> HttpResponse {
    match session.insert(PEER_KEY, sample_peer()) {
        Ok(()) => HttpResponse::Ok().body("seeded"),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}

fn peer_load(session: &actix_session::Session) -> Option<PeerProfile> {
    session.get::<PeerProfile>(PEER_KEY).ok().flatten()
}

async fn peer_read(session: actix_session::Session) -> HttpResponse {
    match peer_load(&session) {
        Some(p) => HttpResponse::Ok().body(render(p.user_id, &p.name, &p.role, &p.tags, p.seen_at)),
        None => HttpResponse::Unauthorized().finish(),
    }
}

async fn peer_write(session: actix_session::Session) -> HttpResponse {
    let Some(mut p) = peer_load(&session) else {
        return HttpResponse::Unauthorized().finish();
    };
    p.seen_at += 1;
    let body = render(p.user_id, &p.name, &p.role, &p.tags, p.seen_at);
    match session.insert(PEER_KEY, p) {
        Ok(()) => HttpResponse::Ok().body(body),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}

/// actix-session's routes on `store`, cookie `bench`, not `Secure` (the bench speaks plain HTTP).
pub fn actix_session_app<S: actix_session::storage::SessionStore + 'static>(
    store: S,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let middleware = actix_session::SessionMiddleware::builder(store, actix_web::cookie::Key::generate())
        .cookie_name(COOKIE_NAME.to_owned())
        .cookie_secure(false)
        .build();
    App::new()
        .route("/seed", web::get().to(peer_seed))
        .route("/read", web::get().to(peer_read))
        .route("/write", web::get().to(peer_write))
        .wrap(middleware)
}

/// actix-session's cookie store: the session as JSON in a private (encrypted) cookie, its
/// default.
pub fn actix_session_cookie() -> actix_session::storage::CookieSessionStore {
    actix_session::storage::CookieSessionStore::default()
}

/// actix-session's Redis store on [`redis_url`](crate::redis_url), its keys under `prefix`.
#[cfg(feature = "redis")]
pub async fn actix_session_redis(prefix: &str) -> Result<actix_session::storage::RedisSessionStore, String> {
    let prefix = prefix.to_owned();
    actix_session::storage::RedisSessionStore::builder(crate::redis_url())
        .cache_keygen(move |key| format!("{prefix}{key}"))
        .build()
        .await
        .map_err(|e| e.to_string())
}
