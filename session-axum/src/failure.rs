//! The failures the layer answers for, and how their default responses read.

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use session_core::Error;

/// A session failure the layer answers for; a function set with
/// [`SessionLayer::on_failure`](crate::SessionLayer::on_failure) can answer it its own way
/// (an HTML error page, say).
#[derive(Debug)]
#[non_exhaustive]
pub enum SessionFailure<'a> {
    /// The store could not open the session (503 by default).
    Open(&'a Error),
    /// The session could not be saved after the handler (503 for a store failure, 500 otherwise).
    Save(&'a Error),
    /// A handle that was still out (a middleware's) changed the session before another handle
    /// was extracted (the handler's), which would not have seen the change (500 by default).
    /// Give the first handle back (`drop(session)`) before calling the next service.
    ChangedWhileHeld {
        /// The session type's `#[session(name)]`.
        session: &'static str,
    },
}

impl SessionFailure<'_> {
    /// The status of the default response.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Open(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Save(Error::Store(_)) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Save(_) | Self::ChangedWhileHeld { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The default response: the status and a short sentence for the client, naming no Rust
    /// type and no session id (the server log has the details).
    pub fn default_response(&self) -> Response {
        let message = match self {
            Self::Open(_) => "the session store is unavailable; try again shortly",
            // The write may have gone through: do not tell the client it did not.
            Self::Save(Error::Store(e)) if e.is_outcome_unknown() => {
                "the session store did not confirm your changes; they may or may not have been saved"
            }
            Self::Save(Error::Store(_)) => {
                "the session store is unavailable; your changes were not saved, try again shortly"
            }
            // Its sizes help whoever reads it, and it names no type.
            Self::Save(too_large @ Error::CookieTooLarge { .. }) => {
                return (self.status(), format!("the session could not be saved: {too_large}")).into_response();
            }
            Self::Save(_) => "the session could not be saved",
            Self::ChangedWhileHeld { .. } => "internal error: the session was used twice in one request",
        };
        (self.status(), message).into_response()
    }
}
