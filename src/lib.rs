//! Typed web sessions for Rust.
//!
//! Placeholder crate docs; written with the axum integration.

#[doc(hidden)]
pub mod __private {
    //! What `#[derive(Session)]` expands to; not a public API.
    pub use core::default::Default;
    pub use core::option::Option::{self, None, Some};
    pub use core::result::Result::{self, Err, Ok};
    pub use core::time::Duration;
    pub use session_core::{Codec, CodecError, FieldKind, FieldSpec, SessionData};
}

pub use session_derive::Session;
