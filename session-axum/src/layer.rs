//! `SessionLayer<T>`: configuration, the tower layer and the service that saves sessions.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use cookie::SameSite;
use http::header::{CACHE_CONTROL, COOKIE, SET_COOKIE, VARY};
use http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode};
use session_core::{
    Clock, Codec, CookieOp, Engine, Error, IdGenerator, IntoStorage, Postcard, SaveError, SessionData, SessionState,
};
use tower_layer::Layer;
use tower_service::Service;

use crate::config::{ConfigError, CookieConfig, Transport};
use crate::failure::SessionFailure;
use crate::slot::{BoxFuture, Finished, Open, Slot, SlotHandle};

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
type FailureResponder = Arc<dyn Fn(&SessionFailure<'_>) -> Response + Send + Sync>;

struct Shared<T: SessionData, C: Codec> {
    engine: Engine<T, C>,
    cookie: CookieConfig,
    transport: Transport,
    on_failure: Option<FailureResponder>,
}

impl<T: SessionData, C: Codec> Clone for Shared<T, C> {
    fn clone(&self) -> Self {
        Self {
            engine: self.engine.clone(),
            cookie: self.cookie.clone(),
            transport: self.transport.clone(),
            on_failure: self.on_failure.clone(),
        }
    }
}

impl<T: SessionData, C: Codec> Clone for SessionLayer<T, C> {
    fn clone(&self) -> Self {
        Self { shared: self.shared.clone() }
    }
}

impl<T: SessionData, C: Codec> std::fmt::Debug for SessionLayer<T, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionLayer")
            .field("session", &T::NAME)
            .field("engine", &self.shared.engine)
            .field("cookie", &self.shared.cookie)
            .field("transport", &self.shared.transport)
            .finish()
    }
}

impl<T: SessionData> SessionLayer<T> {
    /// Sessions of `T` kept in `storage`: any [`Store`](session_core::Store), or a cookie store.
    ///
    /// Defaults: cookie named after `#[session(name)]`, `Path=/`, `Secure`, `HttpOnly`,
    /// `SameSite=Lax`, browser-session lifetime, 24 h idle timeout, no absolute timeout,
    /// 30-day remember-me lifetime, postcard field encoding.
    pub fn new(storage: impl IntoStorage) -> Self {
        let engine = Engine::<T>::new(storage);
        let cookie = CookieConfig::new(T::NAME);
        Self { shared: Arc::new(Shared { engine, cookie, transport: Transport::Cookie, on_failure: None }) }
    }
}

impl<T: SessionData, C: Codec> SessionLayer<T, C> {
    fn edit(mut self, f: impl FnOnce(&mut Shared<T, C>)) -> Self {
        f(Arc::make_mut(&mut self.shared));
        self
    }

    /// Encodes field values with `codec` (e.g. `Json`) instead of postcard.
    pub fn codec<C2: Codec>(self, codec: C2) -> SessionLayer<T, C2> {
        let shared = Arc::unwrap_or_clone(self.shared);
        SessionLayer {
            shared: Arc::new(Shared {
                engine: shared.engine.with_codec(codec),
                cookie: shared.cookie,
                transport: shared.transport,
                on_failure: shared.on_failure,
            }),
        }
    }

    /// The cookie name (default: the session type's `#[session(name)]`). Client-side sessions
    /// authenticate it with the value, so renaming invalidates existing cookies.
    pub fn cookie_name(self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.edit(|s| {
            s.engine.set_cookie_name(name.clone());
            s.cookie.name = name;
        })
    }

    /// Prefixes the cookie name with `__Host-`: the browser then only accepts it over HTTPS,
    /// for this exact host, with `Path=/` — rules checked when the layer is built.
    pub fn host_prefix(self) -> Self {
        let name = format!("__Host-{}", self.shared.cookie.name.trim_start_matches("__Host-"));
        self.cookie_name(name)
    }

    /// The cookie `Path` (default `/`).
    pub fn path(self, path: impl Into<String>) -> Self {
        let path = path.into();
        self.edit(|s| s.cookie.path = path)
    }

    /// The cookie `Domain` (default: none, the cookie goes to this host only).
    pub fn domain(self, domain: impl Into<String>) -> Self {
        let domain = domain.into();
        self.edit(|s| s.cookie.domain = Some(domain))
    }

    /// Whether the cookie is `Secure` (default `true`; turn off only for plain-HTTP development).
    pub fn secure(self, secure: bool) -> Self {
        self.edit(|s| s.cookie.secure = secure)
    }

    /// Whether the cookie is `HttpOnly`, hidden from scripts (default `true`).
    pub fn http_only(self, http_only: bool) -> Self {
        self.edit(|s| s.cookie.http_only = http_only)
    }

    /// The cookie's `SameSite` (default `Lax`; `None` requires `Secure`).
    pub fn same_site(self, same_site: SameSite) -> Self {
        self.edit(|s| s.cookie.same_site = same_site)
    }

    /// Whether the cookie is `Partitioned` (CHIPS; requires `Secure`).
    pub fn partitioned(self, partitioned: bool) -> Self {
        self.edit(|s| s.cookie.partitioned = partitioned)
    }

    /// Sessions end this long after their last request (default 24 hours).
    pub fn idle_timeout(self, timeout: Duration) -> Self {
        self.edit(|s| s.engine.policy_mut().idle_timeout = timeout)
    }

    /// Sessions end this long after they were created, however active (default: never).
    pub fn absolute_timeout(self, timeout: Duration) -> Self {
        self.edit(|s| s.engine.policy_mut().absolute_timeout = Some(timeout))
    }

    /// Whether every session cookie outlives the browser session (`Max-Age` until the session
    /// expires). Default `false`: only `remember_me(true)` sessions get persistent cookies.
    pub fn persistent(self, persistent: bool) -> Self {
        self.edit(|s| s.engine.policy_mut().persistent = persistent)
    }

    /// The idle timeout and cookie lifetime of remember-me sessions (default 30 days).
    pub fn remember_me_lifetime(self, lifetime: Duration) -> Self {
        self.edit(|s| s.engine.policy_mut().remember_me_lifetime = lifetime)
    }

    /// Reads the token from this request header instead of a cookie, and sends a new one back
    /// in the same response header.
    pub fn id_from_header(self, header: HeaderName) -> Self {
        self.edit(|s| s.transport = Transport::Header(header))
    }

    /// Reads the token from this URL query parameter instead of a cookie, and sends a new one
    /// back in a response header of the same name. Tokens in URLs leak through logs and
    /// `Referer`: prefer cookies or headers.
    pub fn id_from_query(self, param: impl Into<String>) -> Self {
        let param = param.into();
        self.edit(|s| s.transport = Transport::Query(param))
    }

    /// Makes and checks session ids with `ids` instead of 128 random bits.
    pub fn id_generator(self, ids: impl IdGenerator + Clone) -> Self {
        self.edit(|s| s.engine.set_id_generator(ids.clone()))
    }

    /// Reads the time from `clock` (tests use a shared `ManualClock`).
    pub fn clock(self, clock: impl Clock + Clone) -> Self {
        self.edit(|s| s.engine.set_clock(clock.clone()))
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
    pub fn on_failure(self, respond: impl Fn(&SessionFailure<'_>) -> Response + Send + Sync + 'static) -> Self {
        let respond: FailureResponder = Arc::new(respond);
        self.edit(|s| s.on_failure = Some(respond.clone()))
    }

    /// Checks the configuration against the rules browsers enforce.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.shared.cookie.validate()?;
        self.shared.transport.validate()
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

impl<T: SessionData, C: Codec> Open<T> for Shared<T, C> {
    fn open<'a>(&'a self, token: Option<&'a str>) -> BoxFuture<'a, Result<SessionState<T>, Error>> {
        Box::pin(self.engine.open(token))
    }

    fn save(&self, state: SessionState<T>) -> BoxFuture<'_, Result<CookieOp, SaveError>> {
        Box::pin(self.engine.save(state))
    }

    fn failure_response(&self, failure: &SessionFailure<'_>) -> Option<Response> {
        self.on_failure.as_ref().map(|respond| respond(failure))
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
        let token = shared.read_token(&request);
        let slot = Arc::new(Slot::new(shared.clone() as Arc<dyn Open<T>>, token));
        request.extensions_mut().insert(SlotHandle(slot.clone()));
        // Called here, on the service `poll_ready` readied, so that the boxed future below holds
        // neither the request nor a clone of the service: a large box costs every request.
        let responding = self.inner.call(request);
        Box::pin(async move {
            let mut response = responding.await?;
            if let Some((saving, pending)) = shared.start_save(&slot) {
                let saved = match saving {
                    Some(saving) => saving.await,
                    None => Ok(CookieOp::Keep),
                };
                shared.respond(saved, pending, &mut response);
            }
            Ok(response)
        })
    }
}

impl<T: SessionData, C: Codec> Shared<T, C> {
    fn read_token<B>(&self, request: &Request<B>) -> Option<String> {
        match &self.transport {
            Transport::Cookie => cookie_value(request.headers(), &self.cookie.name),
            Transport::Header(name) => request.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned),
            Transport::Query(param) => request.uri().query().and_then(|query| {
                form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == param).map(|(_, v)| v.into_owned())
            }),
        }
    }

    /// Starts saving what the handles of `slot` gave back, once the inner service has answered:
    /// the save (none if no handle was given back) and the token an explicit save decided;
    /// `None` if no handle opened the session.
    ///
    /// Not async, and the save boxed: the layer's own future (one allocation per request) then
    /// holds neither the session nor the save's state, and stays small enough for the
    /// allocator's fast path; the save, boxed on its own, holds only the store calls left to make
    /// (`Engine::save` takes the state before its future starts).
    #[allow(clippy::type_complexity)]
    fn start_save(
        &self,
        slot: &Slot<T>,
    ) -> Option<(Option<BoxFuture<'_, Result<CookieOp, SaveError>>>, Option<CookieOp>)> {
        let Finished { state, pending, still_held } = slot.finish()?;
        if still_held > 0 {
            tracing::debug!(
                session = T::NAME,
                handles = still_held,
                "a Session outlived its handler (moved into a task?); it is saved when dropped"
            );
        }
        Some((state.map(|state| Box::pin(self.engine.save(state)) as BoxFuture<'_, _>), pending))
    }

    /// Gives the response what a save decided: the token, `Vary`, `Cache-Control`, or the
    /// failure response. `pending` is what an explicit save earlier in the request decided.
    fn respond(&self, saved: Result<CookieOp, SaveError>, pending: Option<CookieOp>, response: &mut Response) {
        let op = match saved {
            Ok(op) => op,
            Err(SaveError { error, token }) => {
                tracing::error!(session = T::NAME, %error, "could not save the session");
                let failure = SessionFailure::Save(&error);
                *response = self.failure_response(&failure).unwrap_or_else(|| failure.default_response());
                // Still sent: after a `cycle_id` that went through, only the new id opens the
                // session.
                token
            }
        };
        // An explicit `save()` earlier in the request decided the token unless this save did.
        let op = match (op, pending) {
            (CookieOp::Keep, Some(pending)) => pending,
            (op, _) => op,
        };
        // The response depends on the token the request carried: shared caches must key on it.
        match &self.transport {
            Transport::Cookie => add_vary(response.headers_mut(), "cookie"),
            Transport::Header(name) => add_vary(response.headers_mut(), name.as_str()),
            // The token is part of the URL, which caches key on already.
            Transport::Query(_) => {}
        }
        let header_value = match (&op, &self.transport) {
            (CookieOp::Keep, _) => return,
            (CookieOp::Set { value, max_age }, Transport::Cookie) => self.cookie.set_cookie(value, *max_age),
            (CookieOp::Remove, Transport::Cookie) => self.cookie.removal(),
            (CookieOp::Set { value, .. }, _) => value.clone(),
            (CookieOp::Remove, _) => String::new(),
        };
        let Ok(header_value) = HeaderValue::try_from(header_value) else {
            tracing::error!(session = T::NAME, "session token is not a valid header value");
            *response = (StatusCode::INTERNAL_SERVER_ERROR, "the session token could not be sent").into_response();
            return;
        };
        let headers = response.headers_mut();
        match &self.transport {
            Transport::Cookie => {
                headers.append(SET_COOKIE, header_value);
            }
            Transport::Header(name) => {
                headers.insert(name.clone(), header_value);
            }
            Transport::Query(param) => {
                if let Ok(name) = HeaderName::try_from(param.as_str()) {
                    headers.insert(name, header_value);
                }
            }
        }
        // A response that hands out a session token must never be served to someone else.
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

/// The first cookie called `name` in the request's `Cookie` headers.
///
/// Read as `cookie::Cookie::split_parse` reads them (pairs split on `;`, name and value
/// trimmed, pairs without `=` or without a name skipped, values not decoded), without building a
/// `Cookie` for every pair on every request.
fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|header| header.split(';'))
        .filter_map(|pair| pair.split_once('='))
        .find(|(n, _)| n.trim() == name)
        .map(|(_, value)| value.trim().to_owned())
}

/// Adds `name` (a lowercase header name) to `Vary`, unless it or `*` is there already.
fn add_vary(headers: &mut HeaderMap, name: &str) {
    let already = headers.get_all(VARY).iter().any(|v| {
        v.to_str().is_ok_and(|v| v.split(',').any(|part| part.trim().eq_ignore_ascii_case(name) || part.trim() == "*"))
    });
    if !already {
        // The usual name without copying it into a new header value.
        let value = if name == "cookie" { Ok(HeaderValue::from_static("cookie")) } else { HeaderValue::from_str(name) };
        if let Ok(value) = value {
            headers.append(VARY, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scan finds what the `cookie` crate's parser finds, on the shapes browsers and odd
    /// clients send.
    #[test]
    fn cookie_value_reads_as_the_cookie_crate_does() {
        let headers = [
            "app=abc",
            "other=1; app=abc; app=second",
            "  app = abc ;x=y",
            "x=1;;app=abc",
            "x;app=abc",
            "=nameless; app=abc",
            "app=\"quoted\"",
            "app=a=b",
            "app=",
            "application=no; ap=no",
            "x=1",
            "",
        ];
        for header in headers {
            let mut map = HeaderMap::new();
            map.insert(COOKIE, HeaderValue::from_static(header));
            let expected = cookie::Cookie::split_parse(header)
                .filter_map(Result::ok)
                .find(|c| c.name() == "app")
                .map(|c| c.value().to_owned());
            assert_eq!(cookie_value(&map, "app"), expected, "{header:?}");
        }
        let mut two = HeaderMap::new();
        two.append(COOKIE, HeaderValue::from_static("x=1"));
        two.append(COOKIE, HeaderValue::from_static("app=later"));
        assert_eq!(cookie_value(&two, "app").as_deref(), Some("later"), "a second Cookie header");
    }
}
