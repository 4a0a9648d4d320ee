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
    /// The tag of `key`, computed once here: see [`tag`](Self::tag).
    tag: u16,
}

impl FieldSpec {
    /// A plain field stored under `key`, with no expiry of its own.
    pub const fn plain(key: &'static str) -> Self {
        Self { key, kind: FieldKind::Plain, ttl: None, tag: field_tag(key) }
    }

    /// A flash field (`#[flash]`) stored under `key`, with no expiry of its own.
    pub const fn flash(key: &'static str) -> Self {
        Self { key, kind: FieldKind::Flash, ttl: None, tag: field_tag(key) }
    }

    /// This field, expiring `ttl` after each write (`#[session(ttl = "..")]`).
    pub const fn with_ttl(self, ttl: Duration) -> Self {
        Self { ttl: Some(ttl), ..self }
    }

    /// The tag a cookie session stores this field under instead of its key: two bytes in place
    /// of the key's name.
    ///
    /// A 16-bit hash of [`key`](Self::key) (FNV-1a with a 64-bit finalizer, folded into `1..=0xffff`), so every binary
    /// computes the same tag for the same key without a shared table, and a field keeps its tag
    /// in every deploy. `#[derive(Session)]` refuses two fields of one struct with the same tag
    /// at compile time (a hand-written [`SessionData`] with such a pair still works: the cookie
    /// store then writes those two entries with their keys in full).
    pub const fn tag(&self) -> u16 {
        self.tag
    }
}

/// The tag of the entry stored under `key`: see [`FieldSpec::tag`].
///
/// One exception to the hash: a key that names a tag itself, a zero byte followed by four
/// lowercase hex digits (`"\0" + "1a2b"`, made by [`tag_key`]), has that tag. That is how a
/// cookie session files an entry whose tag this binary does not know, so that saving writes it
/// back under the same tag.
pub(crate) const fn field_tag(key: &str) -> u16 {
    if let Some(tag) = named_tag(key.as_bytes()) {
        return tag;
    }
    // FNV-1a (64 bits), then MurmurHash3's finalizer so that similar keys spread evenly.
    let bytes = key.as_bytes();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^= hash >> 33;
    // Below 0xffff, so the sum fits and is never 0.
    ((hash >> 32) % 0xffff) as u16 + 1
}

/// The key that stands for an entry known only by its `tag` (not 0): see [`field_tag`].
#[cfg_attr(not(feature = "cookie"), allow(dead_code))]
pub(crate) fn tag_key(tag: u16) -> String {
    format!("\0{tag:04x}")
}

/// The tag a key of the form `"\0" + 4 lowercase hex digits` names, if it is of that form and
/// the tag is not 0.
const fn named_tag(key: &[u8]) -> Option<u16> {
    if key.len() != 5 || key[0] != 0 {
        return None;
    }
    let mut tag: u16 = 0;
    let mut i = 1;
    while i < 5 {
        let digit = match key[i] {
            b @ b'0'..=b'9' => b - b'0',
            b @ b'a'..=b'f' => b - b'a' + 10,
            _ => return None,
        };
        tag = tag << 4 | digit as u16;
        i += 1;
    }
    if tag == 0 {
        None
    } else {
        Some(tag)
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

    /// The position in [`FIELDS`](Self::FIELDS) of the field marked `#[session(owner)]`, whose
    /// value names the session's owner (see [`Sessions`](crate::Sessions)); `None` if no
    /// field is.
    const OWNER: Option<usize> = None;

    /// The key of the session's owner: the [`OwnerKey`](crate::OwnerKey) of the owner field's
    /// value; `None` if it holds no owner or there is no owner field.
    fn owner_key(&self) -> Option<Vec<u8>> {
        None
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    /// Pinned: a tag is stored in cookies, so the function may never change. `session-derive`
    /// pins the same values for its copy (its collision check).
    #[test]
    fn tags_are_pinned() {
        let pinned =
            [("", 0x0f32), ("a", 0x2bfc), ("user_id", 0x352e), ("seen_at", 0xaf0a), ("t", 0x72ad), ("pw", 0x1b47)];
        let computed: Vec<(&str, u16)> = pinned.iter().map(|&(key, _)| (key, field_tag(key))).collect();
        assert_eq!(computed, pinned);
        assert_eq!(FieldSpec::plain("user_id").tag(), 0x352e);
        assert_eq!(FieldSpec::flash("user_id").with_ttl(Duration::from_secs(1)).tag(), 0x352e);
        // The pair the derive's compile-fail case `tag_collision` uses.
        assert_eq!(field_tag("pw"), field_tag("tp"));
    }

    #[test]
    fn keys_that_name_a_tag_have_that_tag() {
        for tag in [1, 0x1a2b, 0xffff] {
            assert_eq!(field_tag(&tag_key(tag)), tag);
        }
        // Anything else is hashed: uppercase, other lengths, tag 0, no leading zero byte.
        for key in ["\x001A2B", "\x001a2", "\x001a2b3", "\x000000", "01a2b", " 1a2b"] {
            assert_eq!(named_tag(key.as_bytes()), None, "{key:?}");
        }
    }
}
