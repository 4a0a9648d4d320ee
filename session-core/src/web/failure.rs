//! The failures a session layer answers for, and how their default responses read.
//!
//! Described without a framework's types (a status as a number, a body as text): each
//! integration turns a [`FailureResponse`] into its own response, and hands its users a failure
//! type of its own whose `status()` is its framework's status code.

use std::borrow::Cow;

use crate::error::Error;

/// A session failure a layer answers for.
#[derive(Debug)]
#[non_exhaustive]
pub enum Failure<'a> {
    /// The store could not open the session (503 by default).
    Open(&'a Error),
    /// The session could not be saved after the handler (503 for a store failure, 500 otherwise).
    Save(&'a Error),
    /// A handle that was still out (a middleware's) changed the session before another handle
    /// was extracted (the handler's), which would not have seen the change (500 by default).
    ChangedWhileHeld {
        /// The session type's `#[session(name)]`.
        session: &'static str,
    },
}

impl Failure<'_> {
    /// The status of the default response.
    pub fn status(&self) -> u16 {
        match self {
            Self::Open(_) | Self::Save(Error::Store(_)) => 503,
            Self::Save(_) | Self::ChangedWhileHeld { .. } => 500,
        }
    }

    /// The default response: the status and a short sentence for the client, naming no Rust
    /// type and no session id (the server log has the details).
    pub fn default_response(&self) -> FailureResponse {
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
                return FailureResponse::new(self.status(), format!("the session could not be saved: {too_large}"));
            }
            Self::Save(_) => "the session could not be saved",
            Self::ChangedWhileHeld { .. } => "internal error: the session was used twice in one request",
        };
        FailureResponse::new(self.status(), message)
    }
}

/// A plain-text response, described for any framework to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureResponse {
    /// The status code.
    pub status: u16,
    /// The body, plain text for the client.
    pub body: Cow<'static, str>,
}

impl FailureResponse {
    pub(crate) fn new(status: u16, body: impl Into<Cow<'static, str>>) -> Self {
        Self { status, body: body.into() }
    }
}
