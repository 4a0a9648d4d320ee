//! The `Session<T>` extractor and its rejection.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::StatusCode;
use session_core::{SessionData, SessionId, SessionState, Timestamp};

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
pub struct Session<T: SessionData> {
    /// `Some` until dropped, when the state goes back to the layer for saving.
    state: Option<SessionState<T>>,
    slot: Arc<Slot<T>>,
}

impl<T: SessionData> Session<T> {
    fn state(&self) -> &SessionState<T> {
        self.state.as_ref().expect("the state is only taken in drop")
    }

    fn state_mut(&mut self) -> &mut SessionState<T> {
        self.state.as_mut().expect("the state is only taken in drop")
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

    /// Keeps the flash values this request received for one more request.
    pub fn keep_flash(&mut self) {
        self.state_mut().keep_flash();
    }

    /// When the session ends if no further request comes (as loaded; `None` for a new one).
    pub fn expires_at(&self) -> Option<Timestamp> {
        self.state().expires_at()
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
            self.slot.put_back(state);
        }
    }
}

impl<T: SessionData + std::fmt::Debug> std::fmt::Debug for Session<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("data", self.state().data()).finish_non_exhaustive()
    }
}

impl<T: SessionData, S: Send + Sync> FromRequestParts<S> for Session<T> {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(SlotHandle(slot)) = parts.extensions.get::<SlotHandle<T>>().cloned() else {
            return Err(SessionRejection::MissingLayer { session_type: std::any::type_name::<T>() });
        };
        match slot.take().await {
            Ok(state) => Ok(Session { state: Some(state), slot }),
            Err(TakeError::AlreadyHeld) => {
                Err(SessionRejection::AlreadyExtracted { session_type: std::any::type_name::<T>() })
            }
            Err(TakeError::Open(error)) => {
                tracing::error!(session = T::NAME, %error, "could not open the session");
                Err(SessionRejection::Unavailable(error))
            }
        }
    }
}

/// Why a handler could not get its `Session<T>`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionRejection {
    /// The router has no `SessionLayer<T>` for this session type.
    #[error("`Session<{session_type}>` needs `SessionLayer::<{session_type}>` on this router: add `.layer(SessionLayer::<{session_type}>::new(store))`")]
    MissingLayer {
        /// The session type's name.
        session_type: &'static str,
    },
    /// The session is already held by another extractor in this request.
    #[error("`Session<{session_type}>` was extracted twice in one request: extract it once and pass it on")]
    AlreadyExtracted {
        /// The session type's name.
        session_type: &'static str,
    },
    /// The store failed to load the session.
    #[error("the session store is unavailable; try again shortly")]
    Unavailable(#[source] session_core::Error),
}

impl SessionRejection {
    /// The status code this rejection answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::MissingLayer { .. } | Self::AlreadyExtracted { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for SessionRejection {
    fn into_response(self) -> Response {
        (self.status(), self.to_string()).into_response()
    }
}
