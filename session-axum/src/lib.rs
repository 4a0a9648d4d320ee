//! [axum](https://docs.rs/axum) integration of session-kit: [`SessionLayer<T>`] and the
//! [`Session<T>`] extractor. Most users reach these through the `session-kit` facade.

mod config;
mod extract;
mod failure;
mod layer;
mod slot;

pub use config::{ConfigError, Transport};
pub use cookie::SameSite;
pub use extract::{RejectionKind, Session, SessionRejection};
pub use failure::SessionFailure;
pub use layer::{SessionLayer, SessionService};
