//! The `Session<T>` extractor and its rejection.

use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::header::ContentType;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use session_core::web::{SessionHandle, Slot, TakeError};
use session_core::{Error, SessionData, SessionId, Timestamp};

use crate::failure::SessionFailure;
use crate::middleware::FailureResponder;

/// The extension the middleware inserts; one per session type.
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
/// returns, the middleware saves only the fields whose value changed. Needs a
/// [`SessionMiddleware<T>`](crate::SessionMiddleware) wrapping the route.
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
/// let app = App::new()
///     .route("/", web::get().to(count))
///     .wrap(SessionMiddleware::<Visits>::new(MemoryStore::new()));
/// ```
///
/// # In middleware
///
/// A middleware may extract the session too, e.g. an auth guard, and its handler extracts it
/// again: the handler gets the session as stored, and the middleware saves what both changed,
/// once, after the handler (where both changed a field, the later change wins). A middleware
/// that changes the session *before* calling the handler gives its handle back first
/// (`drop(session)`), so the handler sees the change; if it does not, the handler's extraction
/// is refused with a 500 and a logged message saying so. Changing it after the handler returned
/// works as is. `SessionMiddleware` goes outside the guard, so it is `wrap`ped after it:
///
/// ```
/// # use session_kit::{Session, MemoryStore};
/// # use session_kit::actix::SessionMiddleware;
/// use actix_web::body::MessageBody;
/// use actix_web::dev::{ServiceRequest, ServiceResponse};
/// use actix_web::http::header::LOCATION;
/// use actix_web::middleware::{from_fn, Next};
/// use actix_web::{web, App, HttpResponse};
///
/// #[derive(Session)]
/// struct Auth {
///     user: Option<String>,
/// }
///
/// async fn require_login(
///     mut request: ServiceRequest,
///     next: Next<impl MessageBody + 'static>,
/// ) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
///     let session = request.extract::<session_kit::actix::Session<Auth>>().await?;
///     if session.user.is_none() {
///         let redirect = HttpResponse::SeeOther().insert_header((LOCATION, "/login")).finish();
///         return Ok(request.into_response(redirect).map_into_right_body());
///     }
///     drop(session);
///     Ok(next.call(request).await?.map_into_left_body())
/// }
///
/// async fn account(session: session_kit::actix::Session<Auth>) -> String {
///     format!("Hello {}", session.user.as_deref().unwrap_or_default())
/// }
///
/// let app = App::new()
///     .service(web::resource("/account").route(web::get().to(account)).wrap(from_fn(require_login)))
///     // Last, so it wraps the guard as well as the handlers.
///     .wrap(SessionMiddleware::<Auth>::new(MemoryStore::new()));
/// ```
///
/// # Without a middleware, or with a failure in hand
///
/// Extract `Result<Session<T>, SessionRejection>` to answer a failure yourself (its
/// [`kind`](SessionRejection::kind) tells a missing middleware from a store failure), or set
/// [`SessionMiddleware::on_failure`](crate::SessionMiddleware::on_failure) once for every route.
/// actix-web's own `Option<Session<T>>` is `None` whenever the extraction fails, the store
/// being down included, not only without a middleware (a request without a cookie gets a new
/// session either way).
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
    /// session as the current one: list them, end one, end all but this one
    /// ([`end_others`](session_core::Sessions::end_others)).
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

    /// Makes the cookie persistent with the middleware's remember-me lifetime (or back to a
    /// browser-session cookie). The choice is stored and holds on later requests.
    pub fn remember_me(&mut self, remember: bool) {
        self.handle.remember_me(remember);
    }

    /// Whether this is (or will be, once saved) a remember-me session.
    pub fn is_remembered(&self) -> bool {
        self.handle.is_remembered()
    }

    /// Gives this session its own lifetime, e.g. "this session lasts a day": it ends after
    /// `lifetime` without a request (sliding, instead of the middleware's idle timeout or
    /// remember-me lifetime) and its cookie persists that long. `None` goes back to the
    /// middleware's settings. Stored with the session, so it holds on later requests; the
    /// absolute timeout still applies.
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
    /// async fn pay(mut session: session_kit::actix::Session<Checkout>) -> Result<&'static str, actix_web::Error> {
    ///     session.order = Some(42);
    ///     session.save().await.map_err(actix_web::error::ErrorServiceUnavailable)?;
    ///     // ... the order is in the store before anyone is told about it ...
    ///     Ok("paid")
    /// }
    /// ```
    ///
    /// A `Session` is `Send` and can be moved into a task (`actix_web::rt::spawn` or
    /// `tokio::spawn`); changes made there after the response was sent are still saved when it
    /// is dropped, but a token they need (a new session, `cycle_id`, a cookie session) can no
    /// longer reach the client, which is logged as an error: call `save().await` in the task
    /// before the handler returns, or keep such changes in the handler.
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

impl<T: SessionData> FromRequest for Session<T> {
    type Error = SessionRejection;
    type Future = Pin<Box<dyn Future<Output = Result<Self, SessionRejection>>>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let handle = request.extensions().get::<SlotHandle<T>>().cloned();
        Box::pin(async move {
            let Some(SlotHandle { slot, on_failure }) = handle else {
                let kind = RejectionKind::MissingMiddleware { session_type: type_name::<T>() };
                return Err(SessionRejection::logged(kind, T::NAME, None));
            };
            match SessionHandle::take(slot).await {
                Ok(handle) => Ok(Session { handle }),
                Err(TakeError::Open(error)) => {
                    Err(SessionRejection::logged(RejectionKind::Unavailable(error), T::NAME, on_failure))
                }
                // `ChangedWhileHeld`, and what a later version may add.
                Err(_) => {
                    let kind = RejectionKind::ChangedWhileHeld { session_type: type_name::<T>() };
                    Err(SessionRejection::logged(kind, T::NAME, on_failure))
                }
            }
        })
    }
}

fn type_name<T>() -> &'static str {
    std::any::type_name::<T>()
}

/// Why a handler could not get its `Session<T>`.
///
/// Its response is the middleware's own (see
/// [`SessionMiddleware::on_failure`](crate::SessionMiddleware::on_failure)) or a short default
/// that names no Rust type; its `Display` has the details for logs and tests, and every
/// rejection is logged where it happens. Extract `Result<Session<T>, SessionRejection>` to
/// handle it yourself.
pub struct SessionRejection {
    kind: RejectionKind,
    /// The session type's `#[session(name)]`, for the failure handed to `on_failure`.
    session: &'static str,
    on_failure: Option<FailureResponder>,
}

/// What went wrong, for [`SessionRejection::kind`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RejectionKind {
    /// The route has no `SessionMiddleware<T>` for this session type.
    #[error(
        "`Session<{session_type}>` needs `SessionMiddleware::<{session_type}>` around this route: add \
         `.wrap(SessionMiddleware::<{session_type}>::new(store))` to the `App` (or the scope or resource \
         holding the route)"
    )]
    MissingMiddleware {
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
    fn logged(kind: RejectionKind, session: &'static str, on_failure: Option<FailureResponder>) -> Self {
        // The kind names the session type, never an id.
        tracing::error!(rejection = %kind, "a handler could not get its session");
        Self { kind, session, on_failure }
    }

    /// What went wrong.
    pub fn kind(&self) -> &RejectionKind {
        &self.kind
    }

    /// The failure the middleware's `on_failure` answers; `None` without a middleware.
    fn failure(&self) -> Option<SessionFailure<'_>> {
        match &self.kind {
            RejectionKind::MissingMiddleware { .. } => None,
            RejectionKind::ChangedWhileHeld { .. } => Some(SessionFailure::ChangedWhileHeld { session: self.session }),
            RejectionKind::Unavailable(error) => Some(SessionFailure::Open(error)),
        }
    }
}

impl std::fmt::Debug for SessionRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRejection").field("kind", &self.kind).finish_non_exhaustive()
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

impl ResponseError for SessionRejection {
    fn status_code(&self) -> StatusCode {
        match &self.kind {
            RejectionKind::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            RejectionKind::MissingMiddleware { .. } | RejectionKind::ChangedWhileHeld { .. } => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let (Some(respond), Some(failure)) = (&self.on_failure, self.failure()) {
            return respond(&failure);
        }
        let message = match &self.kind {
            RejectionKind::MissingMiddleware { .. } => "internal error: this route has no session middleware",
            RejectionKind::ChangedWhileHeld { .. } => "internal error: the session was used twice in one request",
            RejectionKind::Unavailable(_) => "the session store is unavailable; try again shortly",
        };
        HttpResponse::build(self.status_code()).insert_header(ContentType::plaintext()).body(message)
    }
}
