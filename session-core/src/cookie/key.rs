//! Cookie keys: a master secret, the subkeys derived from it, and the ring of keys in use.

use std::fmt;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use hkdf::Hkdf;
use hmac::digest::KeyInit;
use hmac::Hmac;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::siv::{Siv, SIV_KEY_LEN};

/// The shortest master secret accepted: 256 bits, the strength of the AES-256-SIV key.
pub const MIN_MASTER_LEN: usize = 32;

/// The length of the master secrets [`Key::generate`] and [`Key::generate_base64`] make.
const GENERATED_MASTER_LEN: usize = 64;

/// The SHA-256 block size: HMAC uses such a key as it is, without hashing it first.
const MAC_KEY_LEN: usize = 64;
const KEY_ID_LEN: usize = 4;

// HKDF `info` strings: one per purpose, so no subkey can stand in for another. Changing any of
// them changes every key id and every cookie: the known-answer tests pin them.
const INFO_SIV: &[u8] = b"session-kit cookie v1: aes-256-siv key";
const INFO_MAC: &[u8] = b"session-kit cookie v1: hmac-sha256 key";
const INFO_ID: &[u8] = b"session-kit cookie v1: key id";

/// Decodes standard base64 (`+/`), padded or not.
const STANDARD_ANY_PAD: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
/// Decodes URL-safe base64 (`-_`), padded or not.
const URL_SAFE_ANY_PAD: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A master secret could not be turned into a [`Key`].
///
/// `Debug` prints the variant and the same sentence as `Display`, so that
/// `Key::from_base64(..).expect(..)` says how to fix the secret.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The master secret is shorter than [`MIN_MASTER_LEN`] bytes.
    #[error(
        "the cookie master secret is {len} bytes, but at least 32 are needed; \
         generate one with `Key::generate_base64()` (64 random bytes)"
    )]
    TooShort {
        /// The length of the secret that was given, in bytes.
        len: usize,
    },
    /// The text given as a master secret is not base64.
    // No source on purpose: base64's error names the offending byte, which is part of the secret,
    // and this error is likely to be logged.
    #[error("the cookie master secret is not valid base64 (standard or URL-safe alphabet, padded or not)")]
    InvalidBase64,
}

impl fmt::Debug for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let variant = match self {
            Self::TooShort { .. } => "TooShort",
            Self::InvalidBase64 => "InvalidBase64",
        };
        write!(f, "KeyError::{variant}: {self}")
    }
}

/// The short public name of a [`Key`], carried in every cookie so that opening it needs no trial
/// decryption. Derived from the master secret, it reveals nothing about it.
///
/// Prints as 8 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId([u8; KEY_ID_LEN]);

impl KeyId {
    /// The id's bytes, as they appear in a cookie.
    pub const fn to_bytes(self) -> [u8; KEY_ID_LEN] {
        self.0
    }

    pub(super) const fn from_bytes(bytes: [u8; KEY_ID_LEN]) -> Self {
        Self(bytes)
    }

    /// The three bits of the id a version 3 cookie carries to name its key.
    pub(super) const fn hint(self) -> u8 {
        self.0[0] & HINT_MASK
    }
}

/// The bits of [`KeyId::hint`].
pub(super) const HINT_MASK: u8 = 0b111;

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// A cookie key: the subkeys derived from one master secret with HKDF-SHA256, one per purpose
/// (AES-256-SIV for sealed cookies, HMAC-SHA256 for signed ones, the [`KeyId`]).
///
/// The ciphers are keyed once, here, and each cookie works on a copy of their state. `Debug`
/// prints the key id only, and `==` compares the key material in constant time.
#[derive(Clone)]
pub struct Key {
    id: KeyId,
    siv: Siv,
    mac: Hmac<Sha256>,
    /// The subkeys, kept for comparison and cloning.
    material: [u8; SIV_KEY_LEN + MAC_KEY_LEN],
}

impl Key {
    /// Derives a key from a master secret of at least [`MIN_MASTER_LEN`] (32) random bytes.
    ///
    /// The same master always gives the same key, so every instance of an application that is
    /// given the same secret opens the others' cookies.
    pub fn derive(master: &[u8]) -> Result<Self, KeyError> {
        if master.len() < MIN_MASTER_LEN {
            return Err(KeyError::TooShort { len: master.len() });
        }
        // No salt: the master is already uniformly random, and the info strings separate purposes.
        let hkdf = Hkdf::<Sha256>::new(None, master);
        let mut material = [0u8; SIV_KEY_LEN + MAC_KEY_LEN];
        let mut id = [0u8; KEY_ID_LEN];
        let (siv_key, mac_key) = material.split_at_mut(SIV_KEY_LEN);
        for (info, okm) in [(INFO_SIV, siv_key), (INFO_MAC, mac_key), (INFO_ID, &mut id[..])] {
            hkdf.expand(info, okm).expect("at most 64 bytes, far below HKDF-SHA256's limit of 8160");
        }
        Ok(Self::from_material(KeyId(id), material))
    }

    /// A key from a fresh random master secret (64 bytes from the operating system's generator).
    ///
    /// It is not printable: cookies sealed with it cannot be opened after a restart or by another
    /// instance. For a lasting key, use [`generate_base64`](Self::generate_base64) once and
    /// [`from_base64`](Self::from_base64) at startup.
    pub fn generate() -> Self {
        let master = random_master();
        Self::derive(&master).expect("a generated master secret is long enough")
    }

    /// A fresh random master secret (64 bytes) as URL-safe base64 without padding: what to put in
    /// the environment variable or secret store that [`from_base64`](Self::from_base64) reads.
    pub fn generate_base64() -> String {
        URL_SAFE_NO_PAD.encode(random_master())
    }

    /// Derives a key from a master secret written as base64, standard (`+/`) or URL-safe (`-_`),
    /// padded or not. Surrounding whitespace, such as a trailing newline, is ignored.
    pub fn from_base64(master: &str) -> Result<Self, KeyError> {
        let master = master.trim();
        let bytes = STANDARD_ANY_PAD
            .decode(master)
            .or_else(|_| URL_SAFE_ANY_PAD.decode(master))
            .map_err(|_| KeyError::InvalidBase64)?;
        Self::derive(&bytes)
    }

    /// The key's id, which every cookie sealed or signed with it carries.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The AES-SIV state keyed once.
    pub(super) fn siv(&self) -> &Siv {
        &self.siv
    }

    /// The HMAC state keyed once; each use clones it.
    pub(super) fn mac(&self) -> &Hmac<Sha256> {
        &self.mac
    }

    fn from_material(id: KeyId, material: [u8; SIV_KEY_LEN + MAC_KEY_LEN]) -> Self {
        let (siv_key, mac_key) = material.split_at(SIV_KEY_LEN);
        let siv_key: &[u8; SIV_KEY_LEN] = siv_key.try_into().expect("split at its length");
        Self { id, siv: Siv::new(siv_key), mac: <Hmac<Sha256> as KeyInit>::new(mac_key.into()), material }
    }

    #[cfg(test)]
    pub(super) fn material(&self) -> &[u8] {
        &self.material
    }
}

fn random_master() -> [u8; GENERATED_MASTER_LEN] {
    let mut master = [0u8; GENERATED_MASTER_LEN];
    // The OS generator: a long-lived secret should not come from a user-space generator that
    // a fork could duplicate.
    crate::id::os_random(&mut master);
    master
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.material.ct_eq(&other.material).into()
    }
}

impl Eq for Key {}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key").field("id", &format_args!("{}", self.id)).finish_non_exhaustive()
    }
}

/// The keys a cookie store uses: one primary key, which seals every new cookie, and any number
/// of older keys, which still open the cookies they sealed.
///
/// To rotate without logging anyone out: [`rotate`](Self::rotate) to a new primary, keep the old
/// one as an older key for at least the longest session lifetime (cookies it opens are re-sealed
/// with the primary as they come by), then drop it.
#[derive(Clone)]
pub struct KeyRing {
    primary: Key,
    /// Newest first.
    older: Vec<Key>,
}

impl KeyRing {
    /// A ring with only `primary`.
    pub fn new(primary: Key) -> Self {
        Self { primary, older: Vec::new() }
    }

    /// Adds an older key: it no longer seals, but still opens the cookies it sealed.
    ///
    /// Keys added this way count as older than those already in the ring.
    pub fn with_older(mut self, key: Key) -> Self {
        self.warn_on_id_clash(&key);
        self.older.push(key);
        self
    }

    /// Makes `new_primary` the key that seals; the previous primary becomes the newest older key.
    pub fn rotate(mut self, new_primary: Key) -> Self {
        self.warn_on_id_clash(&new_primary);
        let previous = std::mem::replace(&mut self.primary, new_primary);
        self.older.insert(0, previous);
        self
    }

    /// The key that seals new cookies.
    pub fn primary(&self) -> &Key {
        &self.primary
    }

    /// The older keys, newest first.
    pub fn older(&self) -> &[Key] {
        &self.older
    }

    /// The key named `id`, and whether it is an older one (so its cookies need re-sealing).
    pub(super) fn find(&self, id: KeyId) -> Option<(&Key, bool)> {
        self.keys().find(|(k, _)| k.id == id)
    }

    /// The keys whose id has this [`hint`](KeyId::hint), primary first, each with whether it is
    /// an older one.
    pub(super) fn with_hint(&self, hint: u8) -> impl Iterator<Item = (&Key, bool)> {
        self.keys().filter(move |(k, _)| k.id.hint() == hint)
    }

    /// Every key, primary first, each with whether it is an older one.
    fn keys(&self) -> impl Iterator<Item = (&Key, bool)> {
        std::iter::once((&self.primary, false)).chain(self.older.iter().map(|k| (k, true)))
    }

    fn warn_on_id_clash(&self, key: &Key) {
        // Two different masters share an id with odds of 2^-32 per pair: only the first one would
        // be found for version 2 cookies, and the other's would open as fresh sessions. Rare
        // enough for a warning. (Version 3 cookies carry 3 bits of the id and try every key with
        // those bits, so a clash there only costs a second decryption.)
        let clash = self.keys().any(|(k, _)| k.id == key.id && k != key);
        if clash {
            tracing::warn!(key_id = %key.id, "two different cookie keys share an id; replace one of them");
        }
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing").field("primary", &self.primary.id).field("older", &Ids(&self.older)).finish()
    }
}

/// Prints the ids of keys, nothing else.
struct Ids<'a>(&'a [Key]);

impl fmt::Debug for Ids<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter().map(|k| k.id)).finish()
    }
}
