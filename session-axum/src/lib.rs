//! [axum](https://docs.rs/axum) integration of session-kit: [`SessionLayer<T>`] and the
//! [`Session<T>`] extractor. Most users reach these through the `session-kit` facade.
//!
//! It is axum's plumbing only: the HTTP that belongs to no framework (cookies, the token's
//! transport, the per-request slot, failure responses) is `session_core::web`'s.

mod extract;
mod failure;
mod layer;

pub use extract::{RejectionKind, Session, SessionRejection};
pub use failure::SessionFailure;
pub use layer::{SessionLayer, SessionService};
pub use session_core::web::{ConfigError, SameSite, Transport};
