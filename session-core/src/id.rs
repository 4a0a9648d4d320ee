//! Session ids, the hashed keys stores see instead, and the pluggable id generator.

use std::fmt;

use base64::Engine as _;
use rand::rngs::OsRng;
use rand::{RngCore, TryRngCore};
use sha2::{Digest, Sha256};

/// A session id as the client holds it. Its `Debug` never prints the id: ids are bearer
/// secrets and do not belong in logs.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionId(String);

/// The shortest and longest id [`SessionId::new`] accepts.
const ID_LEN: std::ops::RangeInclusive<usize> = 16..=128;

impl SessionId {
    /// Checks `id` for form: 16 to 128 characters of the URL-safe alphabet `A-Z a-z 0-9 - _`.
    ///
    /// Custom [`IdGenerator`]s build their ids with this; client input goes through
    /// [`IdGenerator::parse`].
    pub fn new(id: String) -> Result<Self, MalformedId> {
        if is_url_safe_token(&id) {
            Ok(Self(id))
        } else {
            Err(MalformedId)
        }
    }

    /// The id as sent to the client.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key stores file this session under, for the session type named `namespace`
    /// (its `#[session(name)]`): SHA-256 of the two together.
    ///
    /// Hashed, so a leaked store does not leak live ids; namespaced, so a token copied from
    /// one session type's cookie into another's opens a fresh session there rather than the
    /// other type's record, and two session types can share one store.
    pub fn store_key(&self, namespace: &str) -> StoreKey {
        let mut hasher = Sha256::new();
        // Length-prefixed, so no (namespace, id) pair can hash like another.
        hasher.update((namespace.len() as u64).to_be_bytes());
        hasher.update(namespace.as_bytes());
        hasher.update(self.0.as_bytes());
        StoreKey::from_digest(&hasher.finalize())
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Fills `out` from the operating system's generator, which stays unique across `fork`.
pub(crate) fn os_random(out: &mut [u8]) {
    if let Err(error) = OsRng.try_fill_bytes(out) {
        // Not seen on a booted Linux; the thread-local CSPRNG (seeded by the OS) is the best
        // remaining source, but is not reseeded on fork.
        tracing::error!(%error, "the OS random generator failed; using the thread-local one");
        rand::rng().fill_bytes(out);
    }
}

fn is_url_safe_token(s: &str) -> bool {
    ID_LEN.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionId(<redacted>)")
    }
}

/// A client-supplied string was not a well-formed session id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a well-formed session id (16 to 128 characters of A-Z a-z 0-9 - _)")]
pub struct MalformedId;

/// The key a store files a session under: 32 lowercase hex digits of the id's SHA-256.
///
/// Safe as a file name, a SQL value and a Redis key; never derived from raw client input.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StoreKey([u8; 32]);

impl StoreKey {
    /// The key made of the first 16 bytes of a SHA-256 `digest`, in hex.
    pub(crate) fn from_digest(digest: &[u8]) -> Self {
        let mut hex = [0u8; 32];
        // 128 bits of the digest is ample against collisions among live sessions.
        for (i, byte) in digest.iter().take(16).enumerate() {
            hex[2 * i] = HEX[usize::from(byte >> 4)];
            hex[2 * i + 1] = HEX[usize::from(byte & 0xf)];
        }
        Self(hex)
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever written into the array.
        std::str::from_utf8(&self.0).unwrap_or("")
    }

    /// Parses a key written by [`as_str`](Self::as_str), e.g. a file name read back from disk.
    pub fn parse(s: &str) -> Option<Self> {
        let bytes: [u8; 32] = s.as_bytes().try_into().ok()?;
        bytes.iter().all(|b| HEX.contains(b)).then_some(Self(bytes))
    }
}

impl fmt::Display for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A hash, so not secret, but eight digits are enough to follow one session in logs.
        write!(f, "StoreKey({}…)", &self.as_str()[..8])
    }
}

/// Makes session ids and decides which client-supplied strings are worth a store look-up.
pub trait IdGenerator: Send + Sync + 'static {
    /// A new, unguessable id.
    fn generate(&self) -> SessionId;

    /// Checks a client-supplied id for form before any store access; `None` means "start a
    /// fresh session". The default accepts what [`SessionId::new`] accepts.
    fn parse(&self, candidate: &str) -> Option<SessionId> {
        SessionId::new(candidate.to_owned()).ok()
    }
}

/// The default generator: 128 bits from the operating system's generator (`getrandom`), as
/// 22 characters of unpadded base64url.
///
/// The OS generator rather than a user-space CSPRNG such as rand's `ThreadRng`: those are not
/// reseeded on `fork`, so a pre-forking server (or any forked child) would hand out the same
/// ids in parent and child. An id is made only when a session is created or cycled, so the
/// system call (about 0.5 µs) is not paid on ordinary requests.
#[derive(Debug, Clone, Copy, Default)]
pub struct RandomIds;

impl IdGenerator for RandomIds {
    fn generate(&self) -> SessionId {
        let mut bytes = [0u8; 16];
        os_random(&mut bytes);
        SessionId(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
    }

    fn parse(&self, candidate: &str) -> Option<SessionId> {
        // Exactly the shape `generate` produces: anything else never reaches a store.
        (candidate.len() == 22 && is_url_safe_token(candidate)).then(|| SessionId(candidate.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_and_differ() {
        let a = RandomIds.generate();
        let b = RandomIds.generate();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 22);
        assert_eq!(RandomIds.parse(a.as_str()), Some(a));
    }

    #[test]
    fn malformed_ids_are_refused() {
        for bad in ["", "short", "../../../../etc/passwd", "aaaaaaaaaaaaaaaaaaaaa=", &"x".repeat(10_000)] {
            assert_eq!(RandomIds.parse(bad), None, "{bad:?}");
        }
        assert!(SessionId::new("has space in it, sixteen+".into()).is_err());
    }

    #[test]
    fn debug_redacts_and_store_key_is_hex_hash() {
        let id = SessionId::new("abcdefghijklmnopqrstuv".into()).unwrap();
        assert_eq!(format!("{id:?}"), "SessionId(<redacted>)");
        let key = id.store_key("app");
        assert_eq!(key.as_str().len(), 32);
        assert!(!key.as_str().contains("abcdef"));
        assert_eq!(StoreKey::parse(key.as_str()), Some(key));
        assert_ne!(key, id.store_key("cart"), "another session type files the same id elsewhere");
        assert_ne!(id.store_key("ap"), SessionId::new("pabcdefghijklmnopqrstuv".into()).unwrap().store_key("a"));
        assert_eq!(StoreKey::parse("../x"), None);
    }
}
