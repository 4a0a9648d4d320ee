//! Client-side sessions: the whole [`Record`] travels in the cookie, sealed (encrypted and
//! authenticated) or signed (authenticated only), with no server state.
//!
//! ```
//! use session_core::cookie::{CookieStore, Key, KeyRing};
//! use session_core::FieldSpec;
//! # use session_core::{Meta, Record, Timestamp};
//!
//! // In production: `Key::from_base64(&std::env::var("SESSION_KEY")?)?`, the variable holding
//! // the output of `Key::generate_base64()`.
//! let store = CookieStore::sealed(KeyRing::new(Key::generate()));
//! // The session type's fields: `<App as SessionData>::FIELDS` for a `#[derive(Session)] App`.
//! const FIELDS: &[FieldSpec] = &[FieldSpec::plain("user_id")];
//! # let record = Record::new(Meta::new(Timestamp::from_millis(0)));
//! let value = store.seal("app", &record, FIELDS)?;
//! let opened = store.open("app", &value, FIELDS, Timestamp::from_millis(1)).expect("just sealed");
//! assert_eq!(opened.record, record);
//! assert!(store.open("other", &value, FIELDS, Timestamp::from_millis(1)).is_none());
//! # Ok::<(), session_core::Error>(())
//! ```
//!
//! # Threat model
//!
//! The client holds the cookie and may be hostile: it can read it, keep old copies, cut, extend,
//! flip bits, move a value to another cookie name, or send any bytes at all. With this store:
//!
//! - nobody without the key can make a value that opens, or change one that does;
//! - in sealed mode nobody without the key can read the record; its length and 3 bits of the
//!   key id show, as does the whole record in signed mode;
//! - a value opens only under the cookie name it was made for, and not after its expiry, which is
//!   authenticated with it; a value claiming to be created more than [`MAX_FUTURE_SKEW`] ahead
//!   of the server's clock does not open either;
//! - hostile input costs little: anything longer than [`MAX_COOKIE_SIZE`] is refused before it is
//!   decoded, and the key is found by bits of its id, never by trying each key of a ring (only
//!   keys whose ids share those bits, rarely more than one, are tried).
//!
//! What a stateless store cannot do: revoke a value before its expiry. A client may present any
//! earlier value it kept while that value is still live (an older cart, a flash message seen
//! again). Use a server-side store for sessions that must end for sure at logout.
//!
//! # Keys
//!
//! A [`Key`] is derived from a master secret of at least 32 random bytes with HKDF-SHA256 (no
//! salt), one subkey per purpose: `info` = `session-kit cookie v1: aes-256-siv key` (64 bytes),
//! `session-kit cookie v1: hmac-sha256 key` (64 bytes) and `session-kit cookie v1: key id`
//! (4 bytes, public). A [`KeyRing`] holds the primary key, which seals, and older keys, which
//! still open: a value opened with an older key comes back with [`Opened::stale_key`] set, and
//! the engine re-seals it with the primary in the same response.
//!
//! # Format, version 3
//!
//! A cookie value is the unpadded URL-safe base64 of these bytes (sizes in bytes):
//!
//! ```text
//! sealed:  header | nonce (1) | SIV (16) | encrypted payload (n)
//! signed:  header | payload (n) | HMAC-SHA256 tag, first 16 bytes
//! ```
//!
//! - the header byte holds the format version (high nibble, 3), the mode, and 3 bits of the id
//!   of the [`Key`] that made the value;
//! - the payload is the record in a compact form: times as deltas from the last activity, each
//!   entry under a 2-byte tag ([`FieldSpec::tag`](crate::FieldSpec::tag)) instead of its key,
//!   entries of tags the session type does not know kept and written back;
//! - the cookie name, the header and the key's whole id are authenticated with the payload
//!   (AES-256-SIV associated data, or HMAC input), and the payload holds the expiry, so none of
//!   them can be changed or moved.
//!
//! The 5-field session of the benchmarks takes 110 characters (192 in version 2). Version 2
//! values (session-kit 0.2) still open, with [`Opened::stale_format`] set, and the engine
//! re-seals them in version 3 in the same response; a store may also make version 2 values,
//! for a rolling upgrade ([`CookieStore::with_format`]). Version 1 (session-kit 0.1) values are
//! refused like any foreign value, so their holders start fresh sessions. The source of the
//! `format` module says, byte by byte, what version 3 dropped from version 2 and why that is safe.

mod format;
mod key;
mod legacy;
mod payload;
mod siv;
// The web layers' signed and sealed session ids.
#[cfg(feature = "web")]
pub(crate) mod token;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rand::RngCore;

pub use key::{Key, KeyError, KeyId, KeyRing, MIN_MASTER_LEN};

use crate::data::FieldSpec;
use crate::error::Error;
use crate::record::Record;
use crate::store::Store;
use crate::time::Timestamp;

/// The largest cookie, name and value together, that browsers are required to keep (RFC 6265).
pub const MAX_COOKIE_SIZE: usize = 4096;

/// How far in the future of the server's clock a session may claim to have been created.
pub const MAX_FUTURE_SKEW: Duration = Duration::from_secs(5 * 60);

/// How a [`CookieStore`] protects the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Mode {
    /// AES-256-SIV: the client can neither read nor change the record.
    Sealed,
    /// HMAC-SHA256: the client can read the record but not change it.
    Signed,
}

/// The format of the values a [`CookieStore`] makes. Every store opens values of both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Format {
    /// Version 2, the format of session-kit 0.2, which reads no other: for the first step of a
    /// rolling upgrade from 0.2, while instances of 0.2 still serve requests. See
    /// [`CookieStore::with_format`].
    V2,
    /// Version 3, the default: about half the size of version 2 for a typical session.
    #[default]
    V3,
}

/// Keeps the whole session in the cookie, sealed or signed with the keys of a [`KeyRing`].
///
/// Give it to a session layer in place of a server-side store. `Debug` shows the mode and the key
/// ids only. Cheap to clone: clones share the keys.
#[derive(Clone)]
pub struct CookieStore {
    mode: Mode,
    keys: Arc<KeyRing>,
    format: Format,
    /// Where the owners' "not before" times live, if sessions can be ended ([`revocable`](Self::revocable)).
    revocations: Option<Arc<dyn Store>>,
}

impl CookieStore {
    /// A store whose cookies are encrypted and authenticated with AES-256-SIV and a random nonce.
    pub fn sealed(keys: KeyRing) -> Self {
        Self { mode: Mode::Sealed, keys: Arc::new(keys), format: Format::default(), revocations: None }
    }

    /// A store whose cookies are authenticated with HMAC-SHA256 but readable by the client: for
    /// data that is no secret (the client may decode the base64) but must not be forged.
    pub fn signed(keys: KeyRing) -> Self {
        Self { mode: Mode::Signed, keys: Arc::new(keys), format: Format::default(), revocations: None }
    }

    /// This store, making values in `format` (the default is [`Format::V3`]).
    ///
    /// For a rolling upgrade from session-kit 0.2, whose instances cannot open version 3 values:
    /// first deploy with [`Format::V2`], so that every instance, old or new, opens every value;
    /// once no instance of 0.2 is left, deploy without it. Values are re-sealed in the format
    /// the store makes when they are opened, so each step converts the cookies of active users
    /// as they come by.
    pub fn with_format(self, format: Format) -> Self {
        Self { format, ..self }
    }

    /// This store, with the sessions of an owner endable: "log out everywhere" and "log out
    /// everywhere else" ([`Sessions::end_all`](crate::Sessions::end_all),
    /// [`end_others`](crate::Sessions::end_others)) for a session type with an owner field
    /// (`#[session(owner)]`).
    ///
    /// A cookie session lives in the browser, so it cannot be listed or deleted; instead `store`
    /// keeps, per owner, a time before which that owner's sessions were created are refused
    /// (and, for "everywhere else", the one session spared). Every request of a session that
    /// names an owner then costs one load from `store`; sessions without an owner, and types
    /// without an owner field, cost nothing. Keep the load small: a [`MemoryStore`] for one
    /// process, a Redis store with its client cache (no round trip while the owner's record
    /// is unchanged) for several. A refused session opens as a fresh one.
    ///
    /// A session restarts its creation time when a save sets its owner (a login), so a
    /// browser that was anonymous before an owner's "log out everywhere" and logs in after it
    /// is not refused; its absolute deadline stays what it was.
    ///
    /// [`MemoryStore`]: crate::MemoryStore
    pub fn revocable(self, store: impl Store) -> Self {
        Self { revocations: Some(Arc::new(store)), ..self }
    }

    /// The store of the owners' "not before" times, if [`revocable`](Self::revocable).
    pub(crate) fn revocations(&self) -> Option<&dyn Store> {
        self.revocations.as_deref()
    }

    /// The format of the values this store makes.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The keys.
    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// Sealed or signed.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The cookie value that carries `record` in the cookie `cookie_name`, made with the primary
    /// key. `fields` are the stored fields of the session type
    /// ([`SessionData::FIELDS`](crate::SessionData::FIELDS)): they tell the rare entries that
    /// must be written with their keys in full (see [`FieldSpec::tag`]).
    ///
    /// # Errors
    ///
    /// [`Error::CookieTooLarge`] if the cookie, name and value, would exceed [`MAX_COOKIE_SIZE`]:
    /// browsers drop such cookies, so none is made.
    pub fn seal(&self, cookie_name: &str, record: &Record, fields: &[FieldSpec]) -> Result<String, Error> {
        // The thread-local CSPRNG: a system call per cookie would cost more than the sealing. It
        // is not reseeded on fork, so a forked child may repeat nonces; AES-SIV is built for that
        // (a repeated nonce reveals only whether two sealed records are equal).
        match self.format {
            Format::V3 => {
                let mut nonce = [0; format::NONCE_LEN];
                if self.mode == Mode::Sealed {
                    rand::rng().fill_bytes(&mut nonce);
                }
                self.seal_with_nonce(cookie_name, record, fields, nonce)
            }
            Format::V2 => {
                let mut nonce = [0; legacy::NONCE_LEN];
                if self.mode == Mode::Sealed {
                    rand::rng().fill_bytes(&mut nonce);
                }
                legacy::seal(self.mode, self.keys.primary(), cookie_name, record, &nonce)
            }
        }
    }

    /// [`seal`](Self::seal) with a given nonce: for known-answer tests, which need a fixed one.
    fn seal_with_nonce(
        &self,
        cookie_name: &str,
        record: &Record,
        fields: &[FieldSpec],
        nonce: [u8; format::NONCE_LEN],
    ) -> Result<String, Error> {
        format::seal(self.mode, self.keys.primary(), cookie_name, record, fields, nonce)
    }

    /// Opens a value of the cookie `cookie_name` at time `now`; `fields` are the stored fields of
    /// the session type ([`SessionData::FIELDS`](crate::SessionData::FIELDS)), under whose keys
    /// the entries come back.
    ///
    /// `None` for anything but a live value this store's mode made for this cookie name with a
    /// key of the ring: malformed, oversized, tampered, truncated, foreign, expired or from an
    /// unknown key. Never panics, whatever the input. Values of either [`Format`] open, those of
    /// the format this store does not make marked [`stale_format`](Opened::stale_format).
    pub fn open(&self, cookie_name: &str, value: &str, fields: &[FieldSpec], now: Timestamp) -> Option<Opened> {
        let (record, stale_key, made_in) = format::open(self.mode, &self.keys, cookie_name, value, fields, now)?;
        Some(Opened { record, stale_key, stale_format: made_in != self.format })
    }
}

impl fmt::Debug for CookieStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CookieStore")
            .field("mode", &self.mode)
            .field("keys", &self.keys)
            .field("format", &self.format)
            .field("revocable", &self.revocations.is_some())
            .finish()
    }
}

/// A session read back from its cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Opened {
    /// The record, including entries this binary does not know (under placeholder keys that
    /// [`seal`](CookieStore::seal) writes back as they were), to carry over when re-sealing.
    pub record: Record,
    /// Whether it was opened with an older key of the ring: the cookie should be re-sealed with
    /// the primary key.
    pub stale_key: bool,
    /// Whether it was in another [`Format`] than the store makes (version 2, from session-kit
    /// 0.2, unless the store makes that): the cookie should be re-sealed in the store's format.
    pub stale_format: bool,
}

impl Opened {
    /// Whether the cookie should be re-sealed even if the session did not change: it was made
    /// with an older key or in another format.
    pub fn needs_reseal(&self) -> bool {
        self.stale_key || self.stale_format
    }
}

#[cfg(test)]
mod tests;
