//! The bytes of a cookie value: version 3, which [`seal`] writes, and version 2 (session-kit
//! 0.2), which [`open`] still reads so that an upgrade keeps its users logged in.
//!
//! # Version 3
//!
//! A value is the unpadded URL-safe base64 of (sizes in bytes):
//!
//! ```text
//! sealed:  header | nonce (1) | SIV (16) | encrypted payload (n)
//! signed:  header | payload (n) | HMAC-SHA256, first 16 bytes
//! header:  0b0011_mkkk: the version (3) in the high nibble; m = the mode (0 sealed, 1 signed);
//!          kkk = the low 3 bits of the first byte of the id of the key that made the value
//! ```
//!
//! The payload is the record in the compact form of `payload.rs`. Let `bind` = the cookie name's
//! length as 8 bytes big-endian ‖ the name ‖ the key's whole 4-byte id ‖ the header. Sealed:
//! AES-256-SIV (RFC 5297) with one associated-data string, `bind` ‖ nonce, then the payload.
//! Signed: HMAC-SHA256 of `bind` ‖ payload, cut to its first 16 bytes. Opening tries the keys of
//! the ring whose id has the header's 3 bits, primary first (nearly always exactly one key).
//!
//! # What version 3 left out of version 2, and why that is safe
//!
//! The 5-field session of the benchmarks took 192 characters in version 2 and takes 110 now
//! (an axum-extra `PrivateCookieJar` of the same data as JSON: 184). What went:
//!
//! - **The expiry in clear (8 bytes).** The payload holds both deadlines, and the payload is
//!   authenticated (and in sealed mode, hidden), so the expiry still cannot be moved; it is
//!   checked after the cryptography instead of before, which costs an expired value one
//!   decryption (bounded, like any other input, by [`MAX_COOKIE_SIZE`]).
//! - **3 of the 4 key-id bytes and the separate format byte (4 bytes).** The whole id is still
//!   authenticated, as part of `bind`, so a value opens only with the key that made it. The 3
//!   bits left name the key without trial decryption in nearly every ring; when two keys of a
//!   ring share them, both are tried, and a value from neither costs one decryption per key
//!   (rings hold two or three keys).
//! - **15 of the 16 nonce bytes.** AES-SIV is misuse-resistant (RFC 5297, 1.3.2): the nonce
//!   only hides whether two values carry the same record under the same key and cookie name;
//!   confidentiality and integrity never depended on it. A record holds the millisecond of its
//!   last activity, so two identical records are rare already (a field set back to an earlier
//!   value within one idle-slide interval, or `cycle_id` alone); the random byte hides even
//!   those 255 times in 256, and a repeat shows nothing but the equality.
//! - **16 of the 32 bytes of the HMAC (signed mode).** A 128-bit tag, as AES-SIV's: forging one
//!   takes 2^128 tries online (HMAC truncation to at least half its length is allowed by
//!   RFC 2104 and NIST SP 800-107).
//! - **Field names (2 bytes each in place of the name and its length).** Tags are hashes of the
//!   keys (see `payload.rs`); an entry with an unknown tag is kept and written back, so a
//!   newer deploy's fields survive an older one, as with names. What a tag gives up against a
//!   name: two fields whose tags collide cannot be told apart, so the derive refuses them within
//!   a struct at compile time, and a field removed in one deploy and a new field of another
//!   deploy with the same tag (odds 2^-16 per such pair) would read each other's bytes, which
//!   then fail to decode and read as the default, as a field whose type changed does.
//! - **Metadata (about 20 bytes).** Times are deltas from the last activity, and timeouts whole
//!   hours or minutes take one byte; nothing is rounded.
//!
//! # Version 2 (read only)
//!
//! ```text
//! sealed:  0x21 | key id (4) | expiry (8) | nonce (16) | SIV (16) | encrypted payload (n)
//! signed:  0x22 | key id (4) | expiry (8) | payload (n) | HMAC-SHA256 (32)
//! ```
//!
//! with the payload [`Record::to_bytes`] (postcard, field names in full) and `bind` = the name's
//! length (8) ‖ the name ‖ the 13 header bytes: AES-256-SIV over the associated data `bind`,
//! then the nonce; HMAC-SHA256 of `bind` ‖ payload. A value opened in version 2 comes back with
//! [`Opened::stale_format`](super::Opened::stale_format) set, and the engine re-seals it in
//! version 3 in the same response (unless the store makes version 2 values, during a rolling
//! upgrade).
//!
//! In both versions decoding is strict (no padding, no non-zero trailing bits, no standard
//! alphabet), so each value has one spelling. One key serves both versions, and no value of one
//! can pass for a value of the other: the header byte, whose high nibble is the version, is
//! authenticated in both, AES-SIV's associated data has two strings in version 2 and one in
//! version 3, and a version 3 tag is half an HMAC where version 2 checks all of it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::Mac;

use super::key::{Key, KeyRing, HINT_MASK};
use super::siv::SIV_LEN;
use super::{legacy, payload, Format, Mode, MAX_COOKIE_SIZE, MAX_FUTURE_SKEW};
use crate::data::FieldSpec;
use crate::error::Error;
use crate::record::Record;
use crate::time::Timestamp;

/// The random bytes of a sealed value.
pub(super) const NONCE_LEN: usize = 1;
/// The HMAC-SHA256 bytes a signed value keeps.
const MAC_LEN: usize = 16;
/// The length of a key id, which `bind` holds whole.
const KEY_ID_LEN: usize = 4;

const VERSION_MASK: u8 = 0xf0;
const VERSION_3: u8 = 0x30;
const SIGNED_BIT: u8 = 0x08;

impl Mode {
    fn bit(self) -> u8 {
        match self {
            Self::Sealed => 0,
            Self::Signed => SIGNED_BIT,
        }
    }
}

/// Starts the work buffer with the part of `bind` before the key id: the name, length-prefixed.
///
/// The key id and the value's own bytes follow it in the same buffer, so the associated data
/// (sealed) or the MAC input (signed) is one contiguous slice and needs no copy.
fn buffer_for(name: &str, capacity: usize) -> Vec<u8> {
    let mut buf = Vec::with_capacity(8 + name.len() + KEY_ID_LEN + capacity);
    buf.extend_from_slice(&(name.len() as u64).to_be_bytes());
    buf.extend_from_slice(name.as_bytes());
    buf
}

/// Seals or signs `record` for the cookie `name` with `key`, in version 3; `nonce` is used in
/// sealed mode only, `fields` are the session type's.
pub(super) fn seal(
    mode: Mode,
    key: &Key,
    name: &str,
    record: &Record,
    fields: &[FieldSpec],
    nonce: [u8; NONCE_LEN],
) -> Result<String, Error> {
    let mut buf = buffer_for(name, 1 + NONCE_LEN + SIV_LEN + payload::size_hint(record));
    buf.extend_from_slice(&key.id().to_bytes());
    let start = buf.len();
    buf.push(VERSION_3 | mode.bit() | key.id().hint());
    let siv_at = start + 1 + NONCE_LEN;
    if mode == Mode::Sealed {
        buf.extend_from_slice(&nonce);
        buf.extend_from_slice(&[0; SIV_LEN]);
    }
    payload::encode(record, fields, &mut buf);

    check_size(name, buf.len() - start + if mode == Mode::Signed { MAC_LEN } else { 0 })?;

    match mode {
        Mode::Sealed => {
            let (bind, rest) = buf.split_at_mut(siv_at);
            let (siv, plaintext) = rest.split_at_mut(SIV_LEN);
            siv.copy_from_slice(&key.siv().encrypt(&[bind], plaintext));
        }
        Mode::Signed => {
            let mut mac = key.mac().clone();
            mac.update(&buf);
            let tag = mac.finalize().into_bytes();
            buf.extend_from_slice(&tag[..MAC_LEN]);
        }
    }
    Ok(URL_SAFE_NO_PAD.encode(&buf[start..]))
}

/// `Ok` if a cookie `name` whose value holds `binary_len` bytes fits in [`MAX_COOKIE_SIZE`].
pub(super) fn check_size(name: &str, binary_len: usize) -> Result<(), Error> {
    let value_len = base64::encoded_len(binary_len, false).unwrap_or(usize::MAX);
    let size = name.len().saturating_add(1).saturating_add(value_len);
    if size > MAX_COOKIE_SIZE {
        return Err(Error::CookieTooLarge { size, limit: MAX_COOKIE_SIZE });
    }
    Ok(())
}

/// What opening a value gives: the record, whether an older key of the ring made it, and its
/// format.
pub(super) type Opening = (Record, bool, Format);

/// Opens a cookie value of version 3 or 2; `None` for anything that is not a live value sealed or
/// signed in `mode` for cookie `name` by a key of `keys`.
pub(super) fn open(
    mode: Mode,
    keys: &KeyRing,
    name: &str,
    value: &str,
    fields: &[FieldSpec],
    now: Timestamp,
) -> Option<Opening> {
    // Bound the work before touching the input: nothing longer than a cookie can be is decoded.
    if name.len().saturating_add(1).saturating_add(value.len()) > MAX_COOKIE_SIZE {
        return None;
    }
    // `decode_vec` appends its conservative estimate, (len + 3) / 4 * 3 bytes: reserve exactly that.
    let mut buf = buffer_for(name, value.len().div_ceil(4) * 3);
    buf.extend_from_slice(&[0; KEY_ID_LEN]);
    let start = buf.len();
    // The strict engine rejects padding and non-zero trailing bits, so each value has one spelling.
    URL_SAFE_NO_PAD.decode_vec(value, &mut buf).ok()?;
    let header = *buf.get(start)?;
    match header & VERSION_MASK {
        VERSION_3 => open_v3(mode, keys, &mut buf, start, fields, now),
        legacy::VERSION_2 => {
            // Version 2 binds the name right before its header: close the gap left for the id.
            buf.copy_within(..start - KEY_ID_LEN, KEY_ID_LEN);
            legacy::open(mode, keys, &mut buf[KEY_ID_LEN..], start - KEY_ID_LEN, now)
        }
        _ => None,
    }
}

/// Opens the version 3 value at `buf[start..]`, `buf[start - 4..start]` free for the key id.
fn open_v3(
    mode: Mode,
    keys: &KeyRing,
    buf: &mut [u8],
    start: usize,
    fields: &[FieldSpec],
    now: Timestamp,
) -> Option<Opening> {
    let header = buf[start];
    if header & SIGNED_BIT != mode.bit() {
        return None;
    }
    let overhead = match mode {
        Mode::Sealed => 1 + NONCE_LEN + SIV_LEN,
        Mode::Signed => 1 + MAC_LEN,
    };
    if buf.len() - start < overhead {
        return None;
    }
    for (key, stale_key) in keys.with_hint(header & HINT_MASK) {
        buf[start - KEY_ID_LEN..start].copy_from_slice(&key.id().to_bytes());
        let payload = match mode {
            Mode::Sealed => {
                let (bind, rest) = buf.split_at_mut(start + 1 + NONCE_LEN);
                let (siv, ciphertext) = rest.split_at_mut(SIV_LEN);
                let siv: &[u8; SIV_LEN] = (&*siv).try_into().ok()?;
                if key.siv().decrypt(&[bind], ciphertext, siv).is_err() {
                    continue;
                }
                &*ciphertext
            }
            Mode::Signed => {
                let (body, tag) = buf.split_at(buf.len() - MAC_LEN);
                let mut mac = key.mac().clone();
                mac.update(body);
                // Constant-time comparison.
                if mac.verify_truncated_left(tag).is_err() {
                    continue;
                }
                &body[start + 1..]
            }
        };
        // Authentic: a payload that does not decode was not written by `seal`.
        let record = live(payload::decode(payload, fields)?, now)?;
        return Some((record, stale_key, Format::V3));
    }
    None
}

/// `record` if it is live at `now` and was not created implausibly far ahead of it.
pub(super) fn live(record: Record, now: Timestamp) -> Option<Record> {
    if record.meta.is_expired(now) {
        return None;
    }
    // Clocks of a fleet drift, but not by minutes: a session created further ahead than that is
    // not one this application made.
    if record.meta.created_at > now.after(MAX_FUTURE_SKEW) {
        return None;
    }
    Some(record)
}
