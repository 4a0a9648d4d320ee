//! The HTTP half of a session layer that belongs to no framework: cookie configuration and its
//! rules, reading the token from a cookie, header or query parameter, writing `Set-Cookie`,
//! removals, `Vary` and `Cache-Control`, the lazy per-request [`Slot`], the [`SessionHandle`]
//! an extractor wraps, and the failure responses.
//!
//! A framework integration (`session-axum`, `session-actix`) is then its plumbing only: a
//! layer or middleware that makes a [`Slot`] per request with [`HttpEngine::slot`] and saves it
//! with [`HttpEngine::save_request`], an extractor wrapping [`SessionHandle::take`], and the
//! conversions between its request and response types and [`RequestHead`] / [`ResponseHead`].
//!
//! It lives here, beside the [`Engine`](crate::Engine), rather than in a crate of its own: the
//! token transforms seal and sign with the cookie keys' cipher states, which stay private to
//! this crate, and both integrations already depend on this crate alone. Nothing here names an
//! `http` crate type, as actix-web 4 and axum use different major versions of it: headers are
//! names and bytes, statuses numbers.

mod config;
mod engine;
mod failure;
mod handle;
mod response;
mod slot;
mod token;

pub use ::cookie::SameSite;
pub use config::{ConfigError, CookieConfig, Transport};
pub use engine::{HttpEngine, SaveOutcome};
pub use failure::{Failure, FailureResponse};
pub use handle::SessionHandle;
pub use response::ResponseHead;
pub use slot::{Slot, TakeError};
pub use token::{ClientToken, RequestHead, TokenTransform};
