//! The `Session<T>` extractor and its rejection.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::StatusCode;
use session_core::{Error, SaveError, SessionData, SessionId, SessionState, Timestamp};

use crate::failure::SessionFailure;
use crate::slot::{Slot, SlotHandle, TakeError};

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
    /// `Some` until dropped, when the state goes back to the layer for saving.
    state: Option<SessionState<T>>,
    slot: Arc<Slot<T>>,
    /// Whether this handle has told the slot it changed the session.
    marked: bool,
}

impl<T: SessionData> Session<T> {
    fn state(&self) -> &SessionState<T> {
        self.state.as_ref().expect("the state is only taken in drop and during save")
    }

    fn state_mut(&mut self) -> &mut SessionState<T> {
        if !self.marked {
            // Once per handle: a second handle extracted while this one is out must not miss
            // a change it cannot see.
            self.slot.mark_changed();
            self.marked = true;
        }
        self.state.as_mut().expect("the state is only taken in drop and during save")
    }

    /// The session id, for a stored server-side session; `None` for a new session (the id is
    /// chosen at save) and for cookie sessions, which have none.
    pub fn id(&self) -> Option<&SessionId> {
        self.state().id()
    }

    /// Whether this request started a new session.
    pub fn is_new(&self) -> bool {
        self.state().is_new()
    }

    /// Moves the session to a new id when the response is sent; the old id stops working at
    /// once. Call it on login, against session fixation. (A cookie session is re-sealed; its
    /// old cookie stays valid until it expires, as there is no server state to revoke.)
    pub fn cycle_id(&mut self) {
        self.state_mut().cycle_id();
    }

    /// Deletes the session: server state removed, a removal cookie sent.
    pub fn destroy(&mut self) {
        self.state_mut().destroy();
    }

    /// Sets every field back to its default.
    pub fn clear(&mut self) {
        self.state_mut().clear();
    }

    /// Makes the cookie persistent with the layer's remember-me lifetime (or back to a
    /// browser-session cookie). The choice is stored and holds on later requests.
    pub fn remember_me(&mut self, remember: bool) {
        self.state_mut().remember_me(remember);
    }

    /// Whether this is (or will be, once saved) a remember-me session.
    pub fn is_remembered(&self) -> bool {
        self.state().is_remembered()
    }

    /// Gives this session its own lifetime, e.g. "this session lasts a day": it ends after
    /// `lifetime` without a request (sliding, instead of the layer's idle timeout or remember-me
    /// lifetime) and its cookie persists that long. `None` goes back to the layer's settings.
    /// Stored with the session, so it holds on later requests; the layer's absolute timeout
    /// still applies.
    pub fn set_lifetime(&mut self, lifetime: Option<std::time::Duration>) {
        self.state_mut().set_lifetime(lifetime);
    }

    /// This session's own lifetime, if it has one (see [`set_lifetime`](Self::set_lifetime)).
    pub fn lifetime(&self) -> Option<std::time::Duration> {
        self.state().lifetime()
    }

    /// Keeps the flash values this request received for one more request.
    pub fn keep_flash(&mut self) {
        self.state_mut().keep_flash();
    }

    /// When the session ends if no further request comes (as loaded; `None` for a new one).
    pub fn expires_at(&self) -> Option<Timestamp> {
        self.state().expires_at()
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
        let state = self.state.take().expect("the state is only taken in drop and during save");
        let (op, outcome) = match self.slot.opener.save(state).await {
            Ok(op) => (op, Ok(())),
            Err(SaveError { error, token }) => (token, Err(error)),
        };
        let token = self.slot.saved(op);
        // Carry on with the session as stored now, under the token the client will hold.
        let reopened = match self.slot.opener.open(token.as_deref()).await {
            Ok(state) => state,
            Err(error) => {
                tracing::error!(session = T::NAME, %error, "could not reopen the session after saving it");
                let fresh = self.slot.opener.open(None).await;
                self.state = fresh.ok();
                return Err(outcome.err().unwrap_or(error));
            }
        };
        self.state = Some(reopened);
        outcome
    }
}

impl<T: SessionData> Deref for Session<T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.state().data()
    }
}

impl<T: SessionData> DerefMut for Session<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.state_mut().data_mut()
    }
}

impl<T: SessionData> Drop for Session<T> {
    fn drop(&mut self) {
        if let Some(state) = self.state.take() {
            self.slot.give_back(state);
        }
    }
}

impl<T: SessionData + std::fmt::Debug> std::fmt::Debug for Session<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.state {
            Some(state) => f.debug_struct("Session").field("data", state.data()).finish_non_exhaustive(),
            None => f.write_str("Session(<being saved>)"),
        }
    }
}

impl<T: SessionData> Session<T> {
    async fn extract(slot: Arc<Slot<T>>) -> Result<Self, SessionRejection> {
        match slot.take().await {
            Ok(state) => Ok(Session { state: Some(state), slot, marked: false }),
            Err(TakeError::ChangedWhileHeld) => {
                let failure = SessionFailure::ChangedWhileHeld { session: T::NAME };
                Err(SessionRejection::new(
                    RejectionKind::ChangedWhileHeld { session_type: type_name::<T>() },
                    &slot,
                    &failure,
                ))
            }
            Err(TakeError::Open(error)) => {
                let response = slot.opener.failure_response(&SessionFailure::Open(&error));
                Err(SessionRejection::with_response(RejectionKind::Unavailable(error), response))
            }
        }
    }
}

impl<T: SessionData, S: Send + Sync> FromRequestParts<S> for Session<T> {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(SlotHandle(slot)) = parts.extensions.get::<SlotHandle<T>>().cloned() else {
            return Err(SessionRejection::logged(RejectionKind::MissingLayer { session_type: type_name::<T>() }, None));
        };
        Self::extract(slot).await
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
            Some(SlotHandle(slot)) => Self::extract(slot).await.map(Some),
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
    fn with_response(kind: RejectionKind, response: Option<Response>) -> Self {
        Self::logged(kind, response)
    }

    fn new<T: SessionData>(kind: RejectionKind, slot: &Slot<T>, failure: &SessionFailure<'_>) -> Self {
        Self::logged(kind, slot.opener.failure_response(failure))
    }

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
