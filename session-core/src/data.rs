//! The trait `#[derive(Session)]` implements: a session type's fields, keys and defaults.

use std::time::Duration;

use crate::codec::{Codec, CodecError};

/// How a stored field behaves between requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FieldKind {
    /// Kept until changed or removed.
    Plain,
    /// Delivered to the first later request that opens the session, then removed
    /// unless that request wrote a new value (`#[flash]`).
    Flash,
}

/// One stored field of a session type, as the derive describes it.
///
/// Build one with the `const` constructors ([`plain`](Self::plain), [`flash`](Self::flash),
/// then [`with_ttl`](Self::with_ttl)): it is `#[non_exhaustive]`, so a later release can describe
/// fields further without breaking hand-written [`SessionData`] impls.
///
/// ```
/// use std::time::Duration;
/// # use session_core::{FieldKind, FieldSpec};
///
/// const OTP: FieldSpec = FieldSpec::plain("otp").with_ttl(Duration::from_secs(600));
/// assert_eq!(OTP.kind, FieldKind::Plain);
/// assert_eq!(OTP.ttl, Some(Duration::from_secs(600)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FieldSpec {
    /// The storage key (the field name, or its `rename`).
    pub key: &'static str,
    /// Plain or flash.
    pub kind: FieldKind,
    /// Set by `#[session(ttl = "..")]`: the stored value expires this long after it was written.
    pub ttl: Option<Duration>,
}

impl FieldSpec {
    /// A plain field stored under `key`, with no expiry of its own.
    pub const fn plain(key: &'static str) -> Self {
        Self { key, kind: FieldKind::Plain, ttl: None }
    }

    /// A flash field (`#[flash]`) stored under `key`, with no expiry of its own.
    pub const fn flash(key: &'static str) -> Self {
        Self { key, kind: FieldKind::Flash, ttl: None }
    }

    /// This field, expiring `ttl` after each write (`#[session(ttl = "..")]`).
    pub const fn with_ttl(self, ttl: Duration) -> Self {
        Self { ttl: Some(ttl), ..self }
    }
}

/// A typed session: a struct whose stored fields are listed in [`FIELDS`](Self::FIELDS).
///
/// Implement it with `#[derive(Session)]`; writing it by hand is possible but the derive
/// checks the rules (unique keys, flash only on `Option`/`Vec`, valid durations) for you.
/// Field indices passed to the methods are positions in [`FIELDS`](Self::FIELDS); fields marked
/// `#[session(skip)]` are not listed and are never stored.
// Named in every `Session<T>`: a type without the derive gets this message instead of a bare
// "trait bound not satisfied".
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a session type: it does not implement `SessionData`",
    label = "`{Self}` needs `#[derive(Session)]`",
    note = "add `#[derive(Session)]` (from `session_kit`) to the struct `{Self}`; its fields then need `Serialize` and `Deserialize`"
)]
pub trait SessionData: Send + Sync + Sized + 'static {
    /// Default cookie name and store namespace (`#[session(name = "..")]`).
    const NAME: &'static str;

    /// The stored fields, in declaration order.
    const FIELDS: &'static [FieldSpec];

    /// A session with every field at its default (`default = ".."` or `Default::default()`).
    fn fresh() -> Self;

    /// Appends the encoding of stored field `index` to `out`.
    fn encode_field<C: Codec>(&self, index: usize, codec: &C, out: &mut Vec<u8>) -> Result<(), CodecError>;

    /// Replaces stored field `index` with the value decoded from `bytes`.
    ///
    /// On error the field keeps its current value.
    fn decode_field<C: Codec>(&mut self, index: usize, codec: &C, bytes: &[u8]) -> Result<(), CodecError>;

    /// Sets stored field `index` back to its default.
    fn reset_field(&mut self, index: usize);

    /// Whether stored field `index` has a type whose equal values always encode to equal bytes
    /// (integers, strings, `Option`, `Vec`, `BTreeMap`, ...; not `HashMap` or `HashSet`, whose
    /// order differs between equal maps).
    ///
    /// A save compares such a field against the bytes it was loaded from, so taking the session
    /// mutably costs nothing up front; any other field is encoded once more at the first mutable
    /// access, to compare against at save. `false`, the default, is always correct; the derive
    /// answers `true` for the field types it knows.
    fn stable_encoding(index: usize) -> bool {
        let _ = index;
        false
    }
}
