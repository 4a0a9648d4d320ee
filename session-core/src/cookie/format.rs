//! The bytes of a cookie value, version 2 (the layout is documented in the module above).

use aes_siv::aead::generic_array::GenericArray;
use aes_siv::AeadInPlace;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::Mac;

use super::key::{Key, KeyId, KeyRing};
use super::{Mode, Opened, MAX_COOKIE_SIZE, MAX_FUTURE_SKEW};
use crate::error::Error;
use crate::record::Record;
use crate::time::Timestamp;

/// Format version 2, sealed: the high nibble is the version, the low one the mode.
const TAG_SEALED_V2: u8 = 0x21;
/// Format version 2, signed.
const TAG_SIGNED_V2: u8 = 0x22;

/// Format tag, key id, expiry.
const HEADER_LEN: usize = 1 + 4 + 8;
pub(super) const NONCE_LEN: usize = 16;
const SIV_LEN: usize = 16;
const MAC_LEN: usize = 32;

/// The expiry field of a session that never expires.
const NEVER: u64 = u64::MAX;

impl Mode {
    fn tag(self) -> u8 {
        match self {
            Self::Sealed => TAG_SEALED_V2,
            Self::Signed => TAG_SIGNED_V2,
        }
    }

    /// Bytes a cookie of this mode has besides the header and the payload.
    fn overhead(self) -> usize {
        match self {
            Self::Sealed => NONCE_LEN + SIV_LEN,
            Self::Signed => MAC_LEN,
        }
    }
}

fn expiry_field(record: &Record) -> u64 {
    record.meta.expires_at().map_or(NEVER, Timestamp::as_millis)
}

/// Starts the work buffer with what binds a value to its cookie: the name, length-prefixed.
///
/// The cookie's own bytes follow it in the same buffer, so the associated data (sealed) or the
/// MAC input (signed) is one contiguous slice and needs no copy.
fn buffer_for(name: &str, cookie_len: usize) -> Vec<u8> {
    let mut buf = Vec::with_capacity(8 + name.len() + cookie_len);
    buf.extend_from_slice(&(name.len() as u64).to_be_bytes());
    buf.extend_from_slice(name.as_bytes());
    buf
}

/// Seals or signs `record` for the cookie `name` with `key`; `nonce` is used in sealed mode only.
pub(super) fn seal(
    mode: Mode,
    key: &Key,
    name: &str,
    record: &Record,
    nonce: &[u8; NONCE_LEN],
) -> Result<String, Error> {
    let payload = record.to_bytes();
    let binary_len = HEADER_LEN + mode.overhead() + payload.len();
    let value_len = base64::encoded_len(binary_len, false).unwrap_or(usize::MAX);
    let size = name.len().saturating_add(1).saturating_add(value_len);
    if size > MAX_COOKIE_SIZE {
        return Err(Error::CookieTooLarge { size, limit: MAX_COOKIE_SIZE });
    }

    let mut buf = buffer_for(name, binary_len);
    let start = buf.len();
    buf.push(mode.tag());
    buf.extend_from_slice(&key.id().to_bytes());
    buf.extend_from_slice(&expiry_field(record).to_be_bytes());
    match mode {
        Mode::Sealed => {
            buf.extend_from_slice(nonce);
            buf.extend_from_slice(&[0; SIV_LEN]);
            buf.extend_from_slice(&payload);
            let (aad, rest) = buf.split_at_mut(start + HEADER_LEN);
            let (nonce, rest) = rest.split_at_mut(NONCE_LEN);
            let (siv, plaintext) = rest.split_at_mut(SIV_LEN);
            let tag = key
                .siv()
                .encrypt_in_place_detached(GenericArray::from_slice(nonce), aad, plaintext)
                .expect("AES-SIV fails only with more than 126 associated data items; this passes 2");
            siv.copy_from_slice(&tag);
        }
        Mode::Signed => {
            buf.extend_from_slice(&payload);
            let mut mac = key.mac().clone();
            mac.update(&buf);
            let tag = mac.finalize().into_bytes();
            buf.extend_from_slice(&tag);
        }
    }
    Ok(URL_SAFE_NO_PAD.encode(&buf[start..]))
}

/// Opens a cookie value; `None` for anything that is not a live value sealed or signed in `mode`
/// for cookie `name` by a key of `keys`.
pub(super) fn open(mode: Mode, keys: &KeyRing, name: &str, value: &str, now: Timestamp) -> Option<Opened> {
    // Bound the work before touching the input: nothing longer than a cookie can be is decoded.
    if name.len().saturating_add(1).saturating_add(value.len()) > MAX_COOKIE_SIZE {
        return None;
    }
    let min_len = HEADER_LEN + mode.overhead();
    // Unpadded base64 carries 3 bytes per 4 characters (a valid tail adds at most 2).
    if value.len() / 4 * 3 + 2 < min_len {
        return None;
    }
    // `decode_vec` appends its conservative estimate, (len + 3) / 4 * 3 bytes: reserve exactly that.
    let mut buf = buffer_for(name, value.len().div_ceil(4) * 3);
    let start = buf.len();
    // The strict engine rejects padding and non-zero trailing bits, so each value has one spelling.
    URL_SAFE_NO_PAD.decode_vec(value, &mut buf).ok()?;
    if buf.len() - start < min_len || buf[start] != mode.tag() {
        return None;
    }
    let header = &buf[start..start + HEADER_LEN];
    let (key, stale_key) = keys.find(KeyId::from_bytes(header[1..5].try_into().ok()?))?;
    let expiry = u64::from_be_bytes(header[5..13].try_into().ok()?);
    // Refuse a replayed value before spending any cryptography on it.
    if expiry != NEVER && expiry <= now.as_millis() {
        return None;
    }

    let payload: &[u8] = match mode {
        Mode::Sealed => {
            let (aad, rest) = buf.split_at_mut(start + HEADER_LEN);
            let (nonce, rest) = rest.split_at_mut(NONCE_LEN);
            let (siv, ciphertext) = rest.split_at_mut(SIV_LEN);
            key.siv()
                .decrypt_in_place_detached(
                    GenericArray::from_slice(nonce),
                    aad,
                    ciphertext,
                    GenericArray::from_slice(siv),
                )
                .ok()?;
            ciphertext
        }
        Mode::Signed => {
            let (body, tag) = buf.split_at(buf.len() - MAC_LEN);
            let mut mac = key.mac().clone();
            mac.update(body);
            // Constant-time comparison.
            mac.verify_slice(tag).ok()?;
            &body[start + HEADER_LEN..]
        }
    };

    let record = Record::from_bytes(payload)?;
    // Both were authenticated; a disagreement means the value was not written by `seal`.
    if expiry_field(&record) != expiry {
        return None;
    }
    // Clocks of a fleet drift, but not by minutes: a session created further ahead than that is
    // not one this application made.
    if record.meta.created_at > now.after(MAX_FUTURE_SKEW) {
        return None;
    }
    Some(Opened { record, stale_key })
}
