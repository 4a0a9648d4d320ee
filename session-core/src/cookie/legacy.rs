//! Version 2 cookie values (session-kit 0.2): read so that their holders keep their sessions,
//! and written by stores that ask for [`Format::V2`] during a rolling upgrade. The layout is in
//! `format.rs`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::Mac;

use super::format::{self, Opening};
use super::key::{Key, KeyId, KeyRing};
use super::siv::SIV_LEN;
use super::{Format, Mode};
use crate::error::Error;
use crate::record::Record;
use crate::time::Timestamp;

/// The high nibble of a version 2 value's first byte.
pub(super) const VERSION_2: u8 = 0x20;
const TAG_SEALED: u8 = 0x21;
const TAG_SIGNED: u8 = 0x22;

/// Format tag, key id, expiry.
const HEADER_LEN: usize = 1 + 4 + 8;
pub(super) const NONCE_LEN: usize = 16;
const MAC_LEN: usize = 32;
/// The expiry field of a session that never expires.
const NEVER: u64 = u64::MAX;

fn tag(mode: Mode) -> u8 {
    match mode {
        Mode::Sealed => TAG_SEALED,
        Mode::Signed => TAG_SIGNED,
    }
}

fn expiry_field(record: &Record) -> u64 {
    record.meta.expires_at().map_or(NEVER, Timestamp::as_millis)
}

/// Opens the version 2 value at `buf[start..]`, preceded by the length-prefixed cookie name.
pub(super) fn open(mode: Mode, keys: &KeyRing, buf: &mut [u8], start: usize, now: Timestamp) -> Option<Opening> {
    let overhead = match mode {
        Mode::Sealed => NONCE_LEN + SIV_LEN,
        Mode::Signed => MAC_LEN,
    };
    if buf.len() - start < HEADER_LEN + overhead || buf[start] != tag(mode) {
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
            key.siv().decrypt(&[aad, nonce], ciphertext, (&*siv).try_into().ok()?).ok()?;
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
    Some((format::live(record, now)?, stale_key, Format::V2))
}

/// Seals or signs `record` for the cookie `name` with `key` as session-kit 0.2 did; `nonce` is used
/// in sealed mode only.
pub(super) fn seal(
    mode: Mode,
    key: &Key,
    name: &str,
    record: &Record,
    nonce: &[u8; NONCE_LEN],
) -> Result<String, Error> {
    let payload = record.to_bytes();
    let overhead = match mode {
        Mode::Sealed => NONCE_LEN + SIV_LEN,
        Mode::Signed => MAC_LEN,
    };
    format::check_size(name, HEADER_LEN + overhead + payload.len())?;
    let mut buf = (name.len() as u64).to_be_bytes().to_vec();
    buf.extend_from_slice(name.as_bytes());
    let start = buf.len();
    buf.push(tag(mode));
    buf.extend_from_slice(&key.id().to_bytes());
    buf.extend_from_slice(&expiry_field(record).to_be_bytes());
    match mode {
        Mode::Sealed => {
            let mut ciphertext = payload;
            let siv = key.siv().encrypt(&[&buf, nonce], &mut ciphertext);
            buf.extend_from_slice(nonce);
            buf.extend_from_slice(&siv);
            buf.extend_from_slice(&ciphertext);
        }
        Mode::Signed => {
            buf.extend_from_slice(&payload);
            let mut mac = key.mac().clone();
            mac.update(&buf);
            buf.extend_from_slice(&mac.finalize().into_bytes());
        }
    }
    Ok(URL_SAFE_NO_PAD.encode(&buf[start..]))
}
