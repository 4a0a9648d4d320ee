//! Client-side sessions: the whole [`Record`] travels in the cookie, sealed (encrypted and
//! authenticated) or signed (authenticated only), with no server state.
//!
//! ```
//! use session_core::cookie::{CookieStore, Key, KeyRing};
//! # use session_core::{Meta, Record, Timestamp};
//!
//! // In production: `Key::from_base64(&std::env::var("SESSION_KEY")?)?`, the variable holding
//! // the output of `Key::generate_base64()`.
//! let store = CookieStore::sealed(KeyRing::new(Key::generate()));
//! # let record = Record::new(Meta::new(Timestamp::from_millis(0)));
//! let value = store.seal("app", &record)?;
//! let opened = store.open("app", &value, Timestamp::from_millis(1)).expect("just sealed");
//! assert_eq!(opened.record, record);
//! assert!(store.open("other", &value, Timestamp::from_millis(1)).is_none());
//! # Ok::<(), session_core::Error>(())
//! ```
//!
//! # Threat model
//!
//! The client holds the cookie and may be hostile: it can read it, keep old copies, cut, extend,
//! flip bits, move a value to another cookie name, or send any bytes at all. With this store:
//!
//! - nobody without the key can make a value that opens, or change one that does;
//! - in sealed mode nobody without the key can read the record; its length, the key id and
//!   the expiry show, as does the whole record in signed mode;
//! - a value opens only under the cookie name it was made for, and not after its expiry, which is
//!   authenticated with it; a value claiming to be created more than [`MAX_FUTURE_SKEW`] ahead
//!   of the server's clock does not open either;
//! - hostile input costs little: anything longer than [`MAX_COOKIE_SIZE`] is refused before it is
//!   decoded, and the key is found by its id, never by trying each key.
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
//! # Format, version 2
//!
//! A cookie value is the unpadded URL-safe base64 of these bytes (sizes in bytes):
//!
//! ```text
//! sealed:  0x21 | key id (4) | expiry (8) | nonce (16) | SIV (16) | encrypted payload (n)
//! signed:  0x22 | key id (4) | expiry (8) | payload (n) | HMAC-SHA256 tag (32)
//! ```
//!
//! - the first byte is the format version (high nibble, 2) and the mode (low nibble);
//! - the key id names the [`Key`] that made the value;
//! - the expiry is the record's [`Meta::expires_at`] in ms since the epoch, big-endian, all ones
//!   for none (it must agree with the record's);
//! - the payload is [`Record::to_bytes`]; the nonce is random per value.
//!
//! Let `bind` = the cookie name's length as 8 bytes ‖ the name ‖ the 13 header bytes (format,
//! key id, expiry). Sealed: AES-256-SIV (RFC 5297, AES-CMAC) over the associated data `bind`,
//! then the nonce, then the payload. Signed: HMAC-SHA256 of `bind` ‖ payload. So the format,
//! the key, the expiry and the cookie name are all authenticated with the payload. Decoding is
//! strict: padding, non-zero trailing bits and the standard alphabet are refused, so each value
//! has one spelling. Each store opens its own mode only. A later version gets a new first byte.
//!
//! Version 1 (session-kit 0.1) had no time of last activity in the metadata; its values are
//! refused like any foreign value, so their holders start fresh sessions.
//!
//! [`Meta::expires_at`]: crate::Meta::expires_at

mod format;
mod key;
// The web layers' signed and sealed session ids.
#[cfg(feature = "web")]
pub(crate) mod token;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rand::RngCore;

pub use key::{Key, KeyError, KeyId, KeyRing, MIN_MASTER_LEN};

use crate::error::Error;
use crate::record::Record;
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

/// Keeps the whole session in the cookie, sealed or signed with the keys of a [`KeyRing`].
///
/// Give it to a session layer in place of a server-side store. `Debug` shows the mode and the key
/// ids only. Cheap to clone: clones share the keys (cloning a [`KeyRing`] itself re-derives each
/// key's cipher state).
#[derive(Clone)]
pub struct CookieStore {
    mode: Mode,
    keys: Arc<KeyRing>,
}

impl CookieStore {
    /// A store whose cookies are encrypted and authenticated with AES-256-SIV and a random nonce.
    pub fn sealed(keys: KeyRing) -> Self {
        Self { mode: Mode::Sealed, keys: Arc::new(keys) }
    }

    /// A store whose cookies are authenticated with HMAC-SHA256 but readable by the client: for
    /// data that is no secret (the client may decode the base64) but must not be forged.
    pub fn signed(keys: KeyRing) -> Self {
        Self { mode: Mode::Signed, keys: Arc::new(keys) }
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
    /// key.
    ///
    /// # Errors
    ///
    /// [`Error::CookieTooLarge`] if the cookie, name and value, would exceed [`MAX_COOKIE_SIZE`]:
    /// browsers drop such cookies, so none is made.
    pub fn seal(&self, cookie_name: &str, record: &Record) -> Result<String, Error> {
        let mut nonce = [0; format::NONCE_LEN];
        if self.mode == Mode::Sealed {
            // The thread-local CSPRNG: a system call per cookie would cost more than the sealing.
            // It is not reseeded on fork, so a forked child may repeat nonces; AES-SIV is built
            // for that (a repeated nonce reveals only whether two sealed records are equal).
            rand::rng().fill_bytes(&mut nonce);
        }
        self.seal_with_nonce(cookie_name, record, &nonce)
    }

    /// [`seal`](Self::seal) with a given nonce: for known-answer tests, which need a fixed one.
    fn seal_with_nonce(
        &self,
        cookie_name: &str,
        record: &Record,
        nonce: &[u8; format::NONCE_LEN],
    ) -> Result<String, Error> {
        format::seal(self.mode, self.keys.primary(), cookie_name, record, nonce)
    }

    /// Opens a value of the cookie `cookie_name` at time `now`.
    ///
    /// `None` for anything but a live value this store's mode made for this cookie name with a
    /// key of the ring: malformed, oversized, tampered, truncated, foreign, expired or from an
    /// unknown key. Never panics, whatever the input.
    pub fn open(&self, cookie_name: &str, value: &str, now: Timestamp) -> Option<Opened> {
        format::open(self.mode, &self.keys, cookie_name, value, now)
    }
}

impl fmt::Debug for CookieStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CookieStore").field("mode", &self.mode).field("keys", &self.keys).finish()
    }
}

/// A session read back from its cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The record, including entries this binary does not know, to carry over when re-sealing.
    pub record: Record,
    /// Whether it was opened with an older key of the ring: the cookie should be re-sealed with
    /// the primary key.
    pub stale_key: bool,
}

#[cfg(test)]
mod tests;
