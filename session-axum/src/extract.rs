//! The `Session<T>` extractor and its rejection.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;
use http::StatusCode;
use session_core::web::{SessionHandle, Slot, TakeError};
use session_core::{Error, SessionData, SessionId, Timestamp};

use crate::failure::SessionFailure;
use crate::layer::FailureResponder;

/// The extension the layer inserts; one per session type.
pub(crate) struct SlotHandle<T: SessionData> {
    pub(crate) slot: Arc<Slot<T>>,
    pub(crate) on_failure: Option<FailureResponder>,
}

impl<T: SessionData> Clone for SlotHandle<T> {
    fn clone(&self) -> Self {
        Self { slot: self.slot.clone(), on_failure: self.on_failure.clone() }
    }
}

/// The typed session of the current request, for a type that derives `Session`.
///
/// Read fields through `Deref<Target = T>`, write them through `DerefMut`; after the handler
/// returns, the layer saves only the fields whose value changed. Needs a
/// [`SessionLayer<T>`](crate::SessionLayer) on the router.
///
/// ```
/// # use session_kit::{Session, SessionLayer, MemoryStore};
/// # use axum::{Router, routing::get};
/// #[derive(Session)]
/// struct Visits {
///     count: u64,
/// }
///
/// async fn count(mut session: Session<Visits>) -> String {
///     session.count += 1;
///     format!("visit number {}", session.count)
/// }
///
/// let app: Router = Router::new()
///     .route("/", get(count))
///     .layer(SessionLayer::<Visits>::new(MemoryStore::new()));
/// ```
///
/// # In middleware
///
/// A middleware may extract the session too, e.g. an auth guard, and its handler extracts it
/// again: the handler gets the session as stored, and the layer saves what both changed, once,
/// after the handler (where both changed a field, the later change wins). A middleware that
/// changes the session *before* calling the handler gives its handle back first
/// (`drop(session)`), so the handler sees the change; if it does not, the handler's extraction
/// is refused with a 500 and a logged message saying so. Changing it after the handler returned
/// works as is. `cargo run --example guard` runs this:
///
/// ```
/// # use session_kit::{Session, SessionLayer, MemoryStore};
/// use axum::extract::Request;
/// use axum::middleware::{self, Next};
/// use axum::response::{IntoResponse, Redirect, Response};
/// use axum::{routing::get, Router};
///
/// #[derive(Session)]
/// struct Auth {
///     user: Option<String>,
/// }
///
/// async fn require_login(session: Session<Auth>, request: Request, next: Next) -> Response {
///     if session.user.is_none() {
///         return Redirect::to("/login").into_response();
///     }
///     next.run(request).await
/// }
///
/// async fn account(session: Session<Auth>) -> String {
///     format!("Hello {}", session.user.as_deref().unwrap_or_default())
/// }
///
/// let app: Router = Router::new()
///     .route("/account", get(account))
///     .route_layer(middleware::from_fn(require_login))
///     // Last, so it wraps the middleware as well as the handlers.
///     .layer(SessionLayer::<Auth>::new(MemoryStore::new()));
/// ```
///
/// # Without a layer, or with a failure in hand
///
/// Extract `Option<Session<T>>` in a handler shared by routes with and without a
/// `SessionLayer<T>`: it is `None` only when there is no layer (a request without a cookie gets
/// a new session). Extract `Result<Session<T>, SessionRejection>` to answer a failure yourself,
/// or set [`SessionLayer::on_failure`](crate::SessionLayer::on_failure) once for every route.
pub struct Session<T: SessionData> {
    handle: SessionHandle<T>,
}

impl<T: SessionData> Session<T> {
    /// The session id, for a stored server-side session; `None` for a new session (the id is
    /// chosen at save) and for cookie sessions, which have none.
    pub fn id(&self) -> Option<&SessionId> {
        self.handle.id()
    }

    /// The sessions of `T` by owner (the field marked `#[session(owner)]`), with this request's
    /// session as the current one: for an account page listing "where you are signed in",
    /// "log out everywhere else" ([`end_others`](session_core::Sessions::end_others)).
    ///
    /// ```
    /// # use session_kit::Session;
    /// #[derive(Session)]
    /// struct App {
    ///     #[session(owner)]
    ///     user_id: Option<u64>,
    /// }
    ///
    /// async fn log_out_elsewhere(session: Session<App>) -> Result<String, String> {
    ///     let Some(user) = session.user_id else { return Err("not logged in".into()) };
    ///     let ended = session.sessions().end_others(&user).await.map_err(|e| e.to_string())?;
    ///     Ok(format!("ended {ended} other sessions"))
    /// }
    /// ```
    pub fn sessions(&self) -> session_core::Sessions<T> {
        self.handle.sessions()
    }

    /// Whether this request started a new session.
    pub fn is_new(&self) -> bool {
        self.handle.is_new()
    }

    /// Moves the session to a new id when the response is sent; the old id stops working at
    /// once. Call it on login, against session fixation. (A cookie session is re-sealed; its
    /// old cookie stays valid until it expires, as there is no server state to revoke.)
    pub fn cycle_id(&mut self) {
        self.handle.cycle_id();
    }

    /// Deletes the session: server state removed, a removal cookie sent.
    pub fn destroy(&mut self) {
        self.handle.destroy();
    }

    /// Sets every field back to its default.
    pub fn clear(&mut self) {
        self.handle.clear();
    }

    /// Makes the cookie persistent with the layer's remember-me lifetime (or back to a
    /// browser-session cookie). The choice is stored and holds on later requests.
    pub fn remember_me(&mut self, remember: bool) {
        self.handle.remember_me(remember);
    }

    /// Whether this is (or will be, once saved) a remember-me session.
    pub fn is_remembered(&self) -> bool {
        self.handle.is_remembered()
    }

    /// Gives this session its own lifetime, e.g. "this session lasts a day": it ends after
    /// `lifetime` without a request (sliding, instead of the layer's idle timeout or remember-me
    /// lifetime) and its cookie persists that long. `None` goes back to the layer's settings.
    /// Stored with the session, so it holds on later requests; the layer's absolute timeout
    /// still applies.
    pub fn set_lifetime(&mut self, lifetime: Option<std::time::Duration>) {
        self.handle.set_lifetime(lifetime);
    }

    /// This session's own lifetime, if it has one (see [`set_lifetime`](Self::set_lifetime)).
    pub fn lifetime(&self) -> Option<std::time::Duration> {
        self.handle.lifetime()
    }

    /// Keeps the flash values this request received for one more request.
    pub fn keep_flash(&mut self) {
        self.handle.keep_flash();
    }

    /// When the session ends if no further request comes (as loaded; `None` for a new one).
    pub fn expires_at(&self) -> Option<Timestamp> {
        self.handle.expires_at()
    }

    /// Saves the session now, rather than after the handler, and carries on with it as saved.
    ///
    /// For a handler that must know the session is stored before it answers (e.g. before
    /// telling a payment provider to call back), and for a session moved into a spawned task.
    /// The token the save decides (a new session's id, a cycled id, a removal) goes out with
    /// the response if the response has not been sent yet; later changes are saved after the
    /// handler as usual. On error nothing of this save was stored, except for
    /// [`StoreError::OutcomeUnknown`](session_core::StoreError::OutcomeUnknown) (see
    /// [`Error::is_outcome_unknown`]).
    ///
    /// ```
    /// # use session_kit::Session;
    /// #[derive(Session)]
    /// struct Checkout {
    ///     order: Option<u64>,
    /// }
    ///
    /// async fn pay(mut session: Session<Checkout>) -> Result<&'static str, String> {
    ///     session.order = Some(42);
    ///     session.save().await.map_err(|e| e.to_string())?;
    ///     // ... the order is in the store before anyone is told about it ...
    ///     Ok("paid")
    /// }
    /// ```
    ///
    /// A `Session` can be moved into a task (`tokio::spawn(async move { .. })`); changes made
    /// there after the response was sent are still saved when it is dropped, but a token they
    /// need (a new session, `cycle_id`, a cookie session) can no longer reach the client, which
    /// is logged as an error: call `save().await` in the task before the handler returns, or
    /// keep such changes in the handler.
    pub async fn save(&mut self) -> Result<(), Error> {
        self.handle.save().await
    }
}

impl<T: SessionData> Deref for Session<T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.handle.data()
    }
}

impl<T: SessionData> DerefMut for Session<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.handle.data_mut()
    }
}

impl<T: SessionData + std::fmt::Debug> std::fmt::Debug for Session<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.handle.fmt(f)
    }
}

impl<T: SessionData> Session<T> {
    async fn extract(SlotHandle { slot, on_failure }: SlotHandle<T>) -> Result<Self, SessionRejection> {
        let respond = |failure: &SessionFailure<'_>| on_failure.as_ref().map(|respond| respond(failure));
        match SessionHandle::take(slot).await {
            Ok(handle) => Ok(Session { handle }),
            Err(TakeError::Open(error)) => {
                let response = respond(&SessionFailure::Open(&error));
                Err(SessionRejection::logged(RejectionKind::Unavailable(error), response))
            }
            // `ChangedWhileHeld`, and what a later version may add.
            Err(_) => {
                let response = respond(&SessionFailure::ChangedWhileHeld { session: T::NAME });
                Err(SessionRejection::logged(
                    RejectionKind::ChangedWhileHeld { session_type: type_name::<T>() },
                    response,
                ))
            }
        }
    }
}

impl<T: SessionData, S: Send + Sync> FromRequestParts<S> for Session<T> {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(handle) = parts.extensions.get::<SlotHandle<T>>().cloned() else {
            return Err(SessionRejection::logged(RejectionKind::MissingLayer { session_type: type_name::<T>() }, None));
        };
        Self::extract(handle).await
    }
}

/// `Option<Session<T>>`: `None` when no `SessionLayer<T>` is on the route (a handler shared by
/// routes with and without sessions), never because the request had no cookie: a request
/// without one gets a new, empty session.
impl<T: SessionData, S: Send + Sync> OptionalFromRequestParts<S> for Session<T> {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        match parts.extensions.get::<SlotHandle<T>>().cloned() {
            None => Ok(None),
            Some(handle) => Self::extract(handle).await.map(Some),
        }
    }
}

fn type_name<T>() -> &'static str {
    std::any::type_name::<T>()
}

/// Why a handler could not get its `Session<T>`.
///
/// Its response is the layer's own (see [`SessionLayer::on_failure`](crate::SessionLayer::on_failure))
/// or a short default that names no Rust type; its `Display` has the details for logs and
/// tests, and every rejection is logged where it happens. Extract `Result<Session<T>,
/// SessionRejection>` to handle it yourself, or `Option<Session<T>>` for routes that may have
/// no session layer.
#[derive(Debug)]
pub struct SessionRejection {
    kind: RejectionKind,
    response: Option<Response>,
}

/// What went wrong, for [`SessionRejection::kind`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RejectionKind {
    /// The route has no `SessionLayer<T>` for this session type.
    #[error(
        "`Session<{session_type}>` needs `SessionLayer::<{session_type}>` on this router: add \
         `.layer(SessionLayer::<{session_type}>::new(store))`, after the routes that use it \
         (a layer applies to the routes added before it)"
    )]
    MissingLayer {
        /// The session type's Rust name.
        session_type: &'static str,
    },
    /// A handle that is still out changed the session before this extraction.
    #[error(
        "`Session<{session_type}>` was changed by a handle that is still out (a middleware's?) before \
         it was extracted again: give the first one back with `drop(session)` before calling the \
         next service, so the next handler sees the change"
    )]
    ChangedWhileHeld {
        /// The session type's Rust name.
        session_type: &'static str,
    },
    /// The store failed to load the session.
    #[error("the session store is unavailable: {0}")]
    Unavailable(#[source] Error),
}

impl SessionRejection {
    fn logged(kind: RejectionKind, response: Option<Response>) -> Self {
        // The kind names the session type, never an id.
        tracing::error!(rejection = %kind, "a handler could not get its session");
        Self { kind, response }
    }

    /// What went wrong.
    pub fn kind(&self) -> &RejectionKind {
        &self.kind
    }

    /// The status code of the default response.
    pub fn status(&self) -> StatusCode {
        match &self.kind {
            RejectionKind::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            RejectionKind::MissingLayer { .. } | RejectionKind::ChangedWhileHeld { .. } => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }
}

impl std::fmt::Display for SessionRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.kind.fmt(f)
    }
}

impl std::error::Error for SessionRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.kind)
    }
}

impl IntoResponse for SessionRejection {
    fn into_response(self) -> Response {
        if let Some(response) = self.response {
            return response;
        }
        let message = match &self.kind {
            RejectionKind::MissingLayer { .. } => "internal error: this route has no session layer",
            RejectionKind::ChangedWhileHeld { .. } => "internal error: the session was used twice in one request",
            RejectionKind::Unavailable(_) => "the session store is unavailable; try again shortly",
        };
        (self.status(), message).into_response()
    }
}
