//! `#[derive(Session)]` for [session-kit](https://docs.rs/session-kit).
//!
//! Use it through the facade (`use session_kit::Session;`), which re-exports it under the same
//! name as the axum extractor, the way serde's `Serialize` names both a trait and a derive.
//!
//! The crate is laid out after `serde_derive`: this entry point only dispatches; `ast` reads
//! the input into a model and `attr` parses the attributes, `check` applies the rules that span
//! several fields, and `expand` writes the `impl SessionData`. Every mistake found on the way
//! is collected (`ctxt`) and reported at once, spanned on the tokens at fault.

mod ast;
mod attr;
mod check;
mod ctxt;
mod expand;
mod tag;

/// Implements `SessionData` for a struct with named fields, making it a typed session.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use session_kit::Session;
///
/// #[derive(Session)]
/// #[session(name = "app")]                  // cookie name and store namespace
/// struct App {
///     user_id: Option<u64>,                 // stored under "user_id"
///     #[flash]                              // read by the next request, then gone
///     notice: Option<String>,
///     #[session(ttl = "10m")]               // expires 10 minutes after it was written
///     otp: Option<String>,
///     #[session(skip)]                      // never stored; `Default` on every request
///     scratch: u32,
///     #[session(rename = "t", default = "Theme::light")]
///     theme: Theme,
/// }
/// # #[derive(Serialize, Deserialize)] struct Theme;
/// # impl Theme { fn light() -> Self { Theme } }
/// ```
///
/// (The trybuild suite compiles it too, in `trybuild/pass/design_example.rs`, with asserts.)
///
/// # Field attributes
///
/// | attribute | meaning | rule checked at compile time |
/// |---|---|---|
/// | none | stored under the field name; absent or undecodable reads as the default | the type is `Serialize + DeserializeOwned` and `Default` |
/// | `#[flash]` or `#[session(flash)]` | kept until the first later request that opens the session, then removed | the type is `Option<_>` or `Vec<_>` |
/// | `#[session(skip)]` | never stored; starts at `Default::default()` on every request | the type is `Default`; no other attribute on the field |
/// | `#[session(ttl = "10m")]` | the stored value expires on its own (`30s`, `10m`, `12h`, `7d`, ...) | a valid duration of at least 1 ms |
/// | `#[session(rename = "k")]` | stored under `k` instead of the field name | storage keys are unique and non-empty, and so are their cookie tags (16-bit hashes of the keys, see `FieldSpec::tag`) |
/// | `#[session(default = "path")]` | `path()` gives the value when none is stored; the type need not be `Default` | `path` resolves to a function returning the field type |
/// | `#[session(owner)]` | the session's owner (e.g. the user id): its sessions can be listed and ended through `Sessions` | one such field, not `skip` or `#[flash]`, no arguments; the type implements `OwnerKey` (integers, `String`, `Box<str>`, `Option` of one) |
///
/// # Container attributes
///
/// | attribute | meaning |
/// |---|---|
/// | `#[session(name = "app")]` | cookie name and store namespace; a valid cookie name (RFC 6265 token). Default: the struct name in snake_case |
/// | `#[session(crate = "path")]` | where the `session-kit` facade is, for crates that re-export it. Default: `::session_kit` |
///
/// Enums, unions, tuple and unit structs, generic structs, unknown, duplicate and conflicting
/// attributes are compile errors. The struct itself need not implement `Default`.
#[proc_macro_derive(Session, attributes(session, flash))]
pub fn derive_session(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    expand::derive(&input).into()
}
