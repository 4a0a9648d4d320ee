//! `SessionMiddleware<T>`: configuration, the actix-web middleware and the service that saves
//! sessions.

use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::{HttpMessage, HttpResponse};
use session_core::web::{ConfigError, HttpEngine, RequestHead, ResponseHead, SameSite, TokenTransform, Transport};
use session_core::{Clock, Codec, IdGenerator, IntoStorage, Postcard, SessionData};

use crate::extract::SlotHandle;
use crate::failure::{plain, SessionFailure};

/// The actix-web middleware that gives handlers `Session<T>`: it reads the client's token,
/// opens the session when a handler asks for it, and saves what changed after the handler
/// returns.
///
/// Configure it with the builder methods (the same as axum's `SessionLayer`); cookie rules
/// (`__Host-` prefix, `SameSite=None` needs `Secure`, ...) are checked when the app is built,
/// which then fails with the reason in the log. Call [`validate`](Self::validate) to check
/// first.
///
/// ```
/// # use session_kit::{Session, MemoryStore};
/// # use session_kit::actix::SessionMiddleware;
/// use actix_web::{web, App};
///
/// #[derive(Session)]
/// struct Visits {
///     count: u64,
/// }
///
/// async fn count(mut session: session_kit::actix::Session<Visits>) -> String {
///     session.count += 1;
///     format!("visit number {}", session.count)
/// }
///
/// // Built once, cloned into each worker's `App` by the `HttpServer::new` closure.
/// let sessions = SessionMiddleware::<Visits>::new(MemoryStore::new());
/// let app = App::new().route("/", web::get().to(count)).wrap(sessions.clone());
/// ```
pub struct SessionMiddleware<T: SessionData, C: Codec = Postcard> {
    shared: Arc<Shared<T, C>>,
}

/// A function answering session failures its own way (see [`SessionMiddleware::on_failure`]).
pub(crate) type FailureResponder = Arc<dyn Fn(&SessionFailure<'_>) -> HttpResponse + Send + Sync>;

struct Shared<T: SessionData, C: Codec> {
    /// In its own `Arc`: every request's slot holds it.
    web: Arc<HttpEngine<T, C>>,
    on_failure: Option<FailureResponder>,
}

impl<T: SessionData, C: Codec> Clone for Shared<T, C> {
    fn clone(&self) -> Self {
        Self { web: self.web.clone(), on_failure: self.on_failure.clone() }
    }
}

impl<T: SessionData, C: Codec> Clone for SessionMiddleware<T, C> {
    fn clone(&self) -> Self {
        Self { shared: self.shared.clone() }
    }
}

impl<T: SessionData, C: Codec> std::fmt::Debug for SessionMiddleware<T, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionMiddleware").field("session", &T::NAME).field("web", &self.shared.web).finish()
    }
}

impl<T: SessionData> SessionMiddleware<T> {
    /// Sessions of `T` kept in `storage`: any [`Store`](session_core::Store), or a cookie store.
    ///
    /// Defaults: cookie named after `#[session(name)]`, `Path=/`, `Secure`, `HttpOnly`,
    /// `SameSite=Lax`, browser-session lifetime, 24 h idle timeout, no absolute timeout,
    /// 30-day remember-me lifetime, postcard field encoding.
    pub fn new(storage: impl IntoStorage) -> Self {
        Self { shared: Arc::new(Shared { web: Arc::new(HttpEngine::new(storage)), on_failure: None }) }
    }
}

impl<T: SessionData, C: Codec> SessionMiddleware<T, C> {
    fn edit(mut self, f: impl FnOnce(&mut HttpEngine<T, C>)) -> Self {
        f(Arc::make_mut(&mut Arc::make_mut(&mut self.shared).web));
        self
    }

    /// Encodes field values with `codec` (e.g. `Json`) instead of postcard.
    pub fn codec<C2: Codec>(self, codec: C2) -> SessionMiddleware<T, C2> {
        let shared = Arc::unwrap_or_clone(self.shared);
        let web = Arc::unwrap_or_clone(shared.web).with_codec(codec);
        SessionMiddleware { shared: Arc::new(Shared { web: Arc::new(web), on_failure: shared.on_failure }) }
    }

    /// The cookie name (default: the session type's `#[session(name)]`). Client-side sessions
    /// authenticate it with the value, so renaming invalidates existing cookies.
    pub fn cookie_name(self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.edit(|s| s.set_cookie_name(name))
    }

    /// Prefixes the cookie name with `__Host-`: the browser then only accepts it over HTTPS,
    /// for this exact host, with `Path=/` — rules checked when the app is built.
    pub fn host_prefix(self) -> Self {
        let name = format!("__Host-{}", self.shared.web.cookie().name().trim_start_matches("__Host-"));
        self.cookie_name(name)
    }

    /// The cookie `Path` (default `/`).
    pub fn path(self, path: impl Into<String>) -> Self {
        let path = path.into();
        self.edit(|s| s.cookie_mut().path = path)
    }

    /// The cookie `Domain` (default: none, the cookie goes to this host only).
    pub fn domain(self, domain: impl Into<String>) -> Self {
        let domain = domain.into();
        self.edit(|s| s.cookie_mut().domain = Some(domain))
    }

    /// Whether the cookie is `Secure` (default `true`; turn off only for plain-HTTP development).
    pub fn secure(self, secure: bool) -> Self {
        self.edit(|s| s.cookie_mut().secure = secure)
    }

    /// Whether the cookie is `HttpOnly`, hidden from scripts (default `true`).
    pub fn http_only(self, http_only: bool) -> Self {
        self.edit(|s| s.cookie_mut().http_only = http_only)
    }

    /// The cookie's `SameSite` (default `Lax`; `None` requires `Secure`).
    pub fn same_site(self, same_site: SameSite) -> Self {
        self.edit(|s| s.cookie_mut().same_site = same_site)
    }

    /// Whether the cookie is `Partitioned` (CHIPS; requires `Secure`).
    pub fn partitioned(self, partitioned: bool) -> Self {
        self.edit(|s| s.cookie_mut().partitioned = partitioned)
    }

    /// Sessions end this long after their last request (default 24 hours).
    pub fn idle_timeout(self, timeout: Duration) -> Self {
        self.edit(|s| s.engine_mut().policy_mut().idle_timeout = timeout)
    }

    /// Sessions end this long after they were created, however active (default: never).
    pub fn absolute_timeout(self, timeout: Duration) -> Self {
        self.edit(|s| s.engine_mut().policy_mut().absolute_timeout = Some(timeout))
    }

    /// Whether every session cookie outlives the browser session (`Max-Age` until the session
    /// expires). Default `false`: only `remember_me(true)` sessions get persistent cookies.
    pub fn persistent(self, persistent: bool) -> Self {
        self.edit(|s| s.engine_mut().policy_mut().persistent = persistent)
    }

    /// The idle timeout and cookie lifetime of remember-me sessions (default 30 days).
    pub fn remember_me_lifetime(self, lifetime: Duration) -> Self {
        self.edit(|s| s.engine_mut().policy_mut().remember_me_lifetime = lifetime)
    }

    /// Reads the token from this request header instead of a cookie, and sends a new one back
    /// in the same response header.
    pub fn id_from_header(self, header: HeaderName) -> Self {
        self.edit(|s| s.set_transport(Transport::Header(header.as_str().to_owned())))
    }

    /// Reads the token from this URL query parameter instead of a cookie, and sends a new one
    /// back in a response header of the same name. Tokens in URLs leak through logs and
    /// `Referer`: prefer cookies or headers.
    pub fn id_from_query(self, param: impl Into<String>) -> Self {
        let param = param.into();
        self.edit(|s| s.set_transport(Transport::Query(param)))
    }

    /// Changes the token on its way out and back in: signed or sealed with a key ring (for
    /// server-side stores, like tower-sessions' signed and private id cookies) or encoded your
    /// own way. A token that does not decode is an unknown session: the request gets a fresh
    /// one, never an error page.
    ///
    /// ```
    /// # use session_kit::{Session, MemoryStore, Key, KeyRing};
    /// # use session_kit::token::TokenTransform;
    /// # #[derive(Session)]
    /// # struct App { user: Option<u64> }
    /// # let keys = KeyRing::new(Key::generate());
    /// // `Set-Cookie: app=<id>.<signature>`: a client can only present ids this application made.
    /// let middleware = session_kit::actix::SessionMiddleware::<App>::new(MemoryStore::new()).token_transform(TokenTransform::signed(keys));
    /// ```
    ///
    /// The check that a signed or sealed token is not given to a cookie store runs when the
    /// app is built (and in [`validate`](Self::validate)).
    pub fn token_transform(self, transform: TokenTransform) -> Self {
        self.edit(|s| s.set_token_transform(transform))
    }

    /// Makes and checks session ids with `ids` instead of 128 random bits.
    pub fn id_generator(self, ids: impl IdGenerator + Clone) -> Self {
        self.edit(|s| s.engine_mut().set_id_generator(ids.clone()))
    }

    /// Reads the time from `clock` (tests use a shared `ManualClock`).
    pub fn clock(self, clock: impl Clock + Clone) -> Self {
        self.edit(|s| s.engine_mut().set_clock(clock.clone()))
    }

    /// Answers session failures with `respond` instead of the default short text responses:
    /// the store failing to open or save a session, a session used twice in one request. The
    /// failure is logged either way. A route with no `SessionMiddleware<T>` at all cannot reach
    /// this function: its rejection keeps the default response.
    ///
    /// ```
    /// # use session_kit::{Session, MemoryStore};
    /// use actix_web::http::header::ContentType;
    /// use actix_web::HttpResponse;
    /// use session_kit::actix::{SessionFailure, SessionMiddleware};
    /// # #[derive(Session)]
    /// # struct App { user: Option<u64> }
    /// let sessions = SessionMiddleware::<App>::new(MemoryStore::new()).on_failure(|failure: &SessionFailure<'_>| {
    ///     HttpResponse::build(failure.status())
    ///         .content_type(ContentType::html())
    ///         .body("<h1>Sorry, we could not load your session.</h1>")
    /// });
    /// ```
    pub fn on_failure(mut self, respond: impl Fn(&SessionFailure<'_>) -> HttpResponse + Send + Sync + 'static) -> Self {
        Arc::make_mut(&mut self.shared).on_failure = Some(Arc::new(respond));
        self
    }

    /// Checks the configuration against the rules browsers enforce.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.shared.web.validate()
    }

    /// The sessions of `T` by owner (the field marked `#[session(owner)]`), in this
    /// middleware's store with its codec, expiry policy and clock: for an admin task or a CLI,
    /// outside requests. Configure the middleware first: the handle copies its settings.
    pub fn sessions(&self) -> session_core::Sessions<T> {
        self.shared.web.engine().sessions()
    }
}

impl<S, B, T, C> Transform<S, ServiceRequest> for SessionMiddleware<T, C>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
    T: SessionData,
    C: Codec,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = SessionService<S, T, C>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        // actix-web builds each worker's app here: a bad configuration fails the build, with
        // the reason in the log (an init error carries no message).
        if let Err(error) = self.validate() {
            tracing::error!(%error, "invalid SessionMiddleware<{}>", std::any::type_name::<T>());
            return ready(Err(()));
        }
        ready(Ok(SessionService { service, shared: self.shared.clone() }))
    }
}

/// The service [`SessionMiddleware`] wraps around an app, scope or resource.
pub struct SessionService<S, T: SessionData, C: Codec = Postcard> {
    service: S,
    shared: Arc<Shared<T, C>>,
}

impl<S, T: SessionData, C: Codec> std::fmt::Debug for SessionService<S, T, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionService").field("session", &T::NAME).finish_non_exhaustive()
    }
}

type LocalBoxFuture<T> = Pin<Box<dyn Future<Output = T>>>;

impl<S, B, T, C> Service<ServiceRequest> for SessionService<S, T, C>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
    T: SessionData,
    C: Codec,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<Result<Self::Response, actix_web::Error>>;

    forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        let shared = self.shared.clone();
        let slot = shared.web.slot(&Head(&request));
        request.extensions_mut().insert(SlotHandle { slot: slot.clone(), on_failure: shared.on_failure.clone() });
        let response = self.service.call(request);
        Box::pin(async move {
            let mut response = match response.await {
                Ok(response) => response.map_into_left_body(),
                Err(error) => {
                    // An inner middleware's error: actix-web makes its response further out,
                    // where no token can be added. The changes are saved all the same.
                    if let Some(saved) = shared.web.save_request(&slot).await {
                        if saved.error().is_none() && saved.sends_token() {
                            tracing::warn!(
                                session = T::NAME,
                                "a new session token could not be sent with an error returned by an inner service"
                            );
                        }
                    }
                    return Err(error);
                }
            };
            let Some(saved) = shared.web.save_request(&slot).await else {
                return Ok(response);
            };
            if let Some(error) = saved.error() {
                let failure = SessionFailure::Save(error);
                let replaced = match &shared.on_failure {
                    Some(respond) => respond(&failure),
                    None => failure.default_response(),
                };
                response = response.into_response(replaced).map_into_right_body();
            }
            if let Err(unsendable) = shared.web.write_headers(&saved, &mut Head(response.headers_mut())) {
                response = response.into_response(plain(unsendable)).map_into_right_body();
            }
            Ok(response)
        })
    }
}

/// A request or a response's headers, as the shared code reads and writes them.
struct Head<R>(R);

impl RequestHead for Head<&ServiceRequest> {
    fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.0.headers().get_all(name).map(HeaderValue::as_bytes)
    }

    fn query(&self) -> Option<&str> {
        Some(self.0.query_string())
    }
}

impl ResponseHead for Head<&mut HeaderMap> {
    fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.0.get_all(name).map(HeaderValue::as_bytes)
    }

    fn append_header(&mut self, name: &str, value: &str) {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            self.0.append(name, value);
        }
    }

    fn insert_header(&mut self, name: &str, value: &str) {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            self.0.insert(name, value);
        }
    }

    // Static values are borrowed, not copied (the trait promises visible ASCII, which
    // `from_static` takes); the names are standard ones, which parse without allocating.
    fn append_static(&mut self, name: &'static str, value: &'static str) {
        if let Ok(name) = HeaderName::try_from(name) {
            self.0.append(name, HeaderValue::from_static(value));
        }
    }

    fn insert_static(&mut self, name: &'static str, value: &'static str) {
        if let Ok(name) = HeaderName::try_from(name) {
            self.0.insert(name, HeaderValue::from_static(value));
        }
    }
}
