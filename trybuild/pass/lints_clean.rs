//! The generated code passes strict rustc lints in the user's crate and uses no `unsafe`.
#![forbid(unsafe_code)]
#![deny(warnings, missing_docs, unused_qualifications, unused_results, rust_2018_idioms)]

use session_kit::Session;

/// A documented session type.
#[derive(Session)]
pub struct App {
    /// Who is logged in.
    pub user_id: Option<u64>,
    /// Shown once.
    #[flash]
    pub notice: Option<String>,
    /// Request-local.
    #[session(skip)]
    pub scratch: u8,
}

/// Nothing stored at all is allowed too.
#[derive(Session)]
pub struct Empty {}

fn main() {}
