//! The failures the layer answers for, with axum's status and response types.

use axum_core::response::{IntoResponse, Response};
use http::StatusCode;
use session_core::web::{Failure, FailureResponse};
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
    fn neutral(&self) -> Failure<'_> {
        match *self {
            Self::Open(error) => Failure::Open(error),
            Self::Save(error) => Failure::Save(error),
            Self::ChangedWhileHeld { session } => Failure::ChangedWhileHeld { session },
        }
    }

    /// The status of the default response.
    pub fn status(&self) -> StatusCode {
        status(self.neutral().status())
    }

    /// The default response: the status and a short sentence for the client, naming no Rust
    /// type and no session id (the server log has the details).
    pub fn default_response(&self) -> Response {
        plain(self.neutral().default_response())
    }
}

/// A status the shared code chose (always a valid one).
fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The plain-text response the shared code described.
pub(crate) fn plain(response: FailureResponse) -> Response {
    (status(response.status), response.body.into_owned()).into_response()
}
