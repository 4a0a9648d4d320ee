//! `SessionLayer<T>`: configuration, the tower layer and the service that saves sessions.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum_core::response::Response;
use http::{HeaderMap, HeaderName, HeaderValue, Request};
use session_core::web::{ConfigError, HttpEngine, RequestHead, ResponseHead, SameSite, TokenTransform, Transport};
use session_core::{Clock, Codec, IdGenerator, IntoStorage, Postcard, SessionData};
use tower_layer::Layer;
use tower_service::Service;

use crate::extract::SlotHandle;
use crate::failure::{plain, SessionFailure};

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The tower layer that gives handlers `Session<T>`: it reads the client's token, opens the
/// session when a handler asks for it, and saves what changed after the handler returns.
///
/// Configure it with the builder methods; cookie rules (`__Host-` prefix, `SameSite=None`
/// needs `Secure`, ...) are checked when the router applies the layer, which panics with the
/// reason on a bad configuration, like axum's own router does. Call
/// [`validate`](Self::validate) to check without panicking.
pub struct SessionLayer<T: SessionData, C: Codec = Postcard> {
    shared: Arc<Shared<T, C>>,
}

/// A function answering session failures its own way (see [`SessionLayer::on_failure`]).
pub(crate) type FailureResponder = Arc<dyn Fn(&SessionFailure<'_>) -> Response + Send + Sync>;

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

impl<T: SessionData, C: Codec> Clone for SessionLayer<T, C> {
    fn clone(&self) -> Self {
        Self { shared: self.shared.clone() }
    }
}

impl<T: SessionData, C: Codec> std::fmt::Debug for SessionLayer<T, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionLayer").field("session", &T::NAME).field("web", &self.shared.web).finish()
    }
}

impl<T: SessionData> SessionLayer<T> {
    /// Sessions of `T` kept in `storage`: any [`Store`](session_core::Store), or a cookie store.
    ///
    /// Defaults: cookie named after `#[session(name)]`, `Path=/`, `Secure`, `HttpOnly`,
    /// `SameSite=Lax`, browser-session lifetime, 24 h idle timeout, no absolute timeout,
    /// 30-day remember-me lifetime, postcard field encoding.
    pub fn new(storage: impl IntoStorage) -> Self {
        Self { shared: Arc::new(Shared { web: Arc::new(HttpEngine::new(storage)), on_failure: None }) }
    }
}

impl<T: SessionData, C: Codec> SessionLayer<T, C> {
    fn edit(mut self, f: impl FnOnce(&mut HttpEngine<T, C>)) -> Self {
        f(Arc::make_mut(&mut Arc::make_mut(&mut self.shared).web));
        self
    }

    /// Encodes field values with `codec` (e.g. `Json`) instead of postcard.
    pub fn codec<C2: Codec>(self, codec: C2) -> SessionLayer<T, C2> {
        let shared = Arc::unwrap_or_clone(self.shared);
        let web = Arc::unwrap_or_clone(shared.web).with_codec(codec);
        SessionLayer { shared: Arc::new(Shared { web: Arc::new(web), on_failure: shared.on_failure }) }
    }

    /// The cookie name (default: the session type's `#[session(name)]`). Client-side sessions
    /// authenticate it with the value, so renaming invalidates existing cookies.
    pub fn cookie_name(self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.edit(|s| s.set_cookie_name(name))
    }

    /// Prefixes the cookie name with `__Host-`: the browser then only accepts it over HTTPS,
    /// for this exact host, with `Path=/` — rules checked when the layer is built.
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
    /// let layer = session_kit::SessionLayer::<App>::new(MemoryStore::new()).token_transform(TokenTransform::signed(keys));
    /// ```
    ///
    /// The check that a signed or sealed token is not given to a cookie store runs when the
    /// router applies the layer (and in [`validate`](Self::validate)).
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
    /// failure is logged either way. A route with no `SessionLayer<T>` at all cannot reach
    /// this function: its rejection keeps the default response.
    ///
    /// ```
    /// # use session_kit::{Session, SessionFailure, SessionLayer, MemoryStore};
    /// # use axum::response::{Html, IntoResponse};
    /// # #[derive(Session)]
    /// # struct App { user: Option<u64> }
    /// let layer = SessionLayer::<App>::new(MemoryStore::new()).on_failure(|failure: &SessionFailure<'_>| {
    ///     (failure.status(), Html("<h1>Sorry, we could not load your session.</h1>")).into_response()
    /// });
    /// ```
    pub fn on_failure(mut self, respond: impl Fn(&SessionFailure<'_>) -> Response + Send + Sync + 'static) -> Self {
        Arc::make_mut(&mut self.shared).on_failure = Some(Arc::new(respond));
        self
    }

    /// Checks the configuration against the rules browsers enforce.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.shared.web.validate()
    }

    /// The sessions of `T` by owner (the field marked `#[session(owner)]`), in this layer's
    /// store with its codec, expiry policy and clock: for an admin task or a CLI, outside
    /// requests. In a handler, [`Session::sessions`](crate::Session::sessions) also knows the
    /// current session. Configure the layer first: the handle copies its settings.
    ///
    /// ```
    /// # use session_kit::{MemoryStore, Session, SessionLayer};
    /// #[derive(Session)]
    /// struct App {
    ///     #[session(owner)]
    ///     user_id: Option<u64>,
    /// }
    ///
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let layer = SessionLayer::<App>::new(MemoryStore::new());
    /// let sessions = layer.sessions();
    /// // e.g. an admin ending every session of user 7 after a password reset
    /// assert_eq!(sessions.end_all(&7u64).await?, 0);
    /// # Ok::<(), session_kit::Error>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sessions(&self) -> session_core::Sessions<T> {
        self.shared.web.engine().sessions()
    }
}

impl<S, T: SessionData, C: Codec> Layer<S> for SessionLayer<T, C> {
    type Service = SessionService<S, T, C>;

    fn layer(&self, inner: S) -> Self::Service {
        if let Err(error) = self.validate() {
            panic!("invalid SessionLayer<{}>: {error}", std::any::type_name::<T>());
        }
        SessionService { inner, shared: self.shared.clone() }
    }
}

/// The service [`SessionLayer`] wraps around a router or handler.
pub struct SessionService<S, T: SessionData, C: Codec = Postcard> {
    inner: S,
    shared: Arc<Shared<T, C>>,
}

impl<S: Clone, T: SessionData, C: Codec> Clone for SessionService<S, T, C> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone(), shared: self.shared.clone() }
    }
}

impl<S, T: SessionData, C: Codec> std::fmt::Debug for SessionService<S, T, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionService").field("session", &T::NAME).finish_non_exhaustive()
    }
}

impl<S, B, T, C> Service<Request<B>> for SessionService<S, T, C>
where
    S: Service<Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    T: SessionData,
    C: Codec,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let shared = self.shared.clone();
        let slot = shared.web.slot(&Head(&request));
        request.extensions_mut().insert(SlotHandle { slot: slot.clone(), on_failure: shared.on_failure.clone() });
        // The clone is ready only after poll_ready; keep the ready one for this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        // Called now, so the future below holds the inner service's future, not the service and
        // the request as well: it stays small, and it is moved and allocated on every request.
        let answer = inner.call(request);
        Box::pin(async move {
            let mut response = answer.await?;
            if let Some(saved) = shared.web.save_request(&slot).await {
                if let Some(error) = saved.error() {
                    let failure = SessionFailure::Save(error);
                    response = shared.failure_response(&failure).unwrap_or_else(|| failure.default_response());
                }
                if let Err(unsendable) = shared.web.write_headers(&saved, &mut Head(response.headers_mut())) {
                    response = plain(unsendable);
                }
            }
            Ok(response)
        })
    }
}

impl<T: SessionData, C: Codec> Shared<T, C> {
    fn failure_response(&self, failure: &SessionFailure<'_>) -> Option<Response> {
        self.on_failure.as_ref().map(|respond| respond(failure))
    }
}

/// A request or a response's headers, as the shared code reads and writes them.
struct Head<R>(R);

impl<B> RequestHead for Head<&Request<B>> {
    fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.0.headers().get_all(name).into_iter().map(HeaderValue::as_bytes)
    }

    fn query(&self) -> Option<&str> {
        self.0.uri().query()
    }
}

impl ResponseHead for Head<&mut HeaderMap> {
    fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.0.get_all(name).into_iter().map(HeaderValue::as_bytes)
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
