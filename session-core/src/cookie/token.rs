//! Signing or sealing a server-side session's token (its id) with the cookie keys, as
//! tower-sessions' signed and private id cookies do: a web layer's `sign_token` and
//! `seal_token` (see `crate::web`).
//!
//! ```text
//! signed:  <token> "." base64url(key id (4) | HMAC-SHA256 tag (32))
//! sealed:  base64url(key id (4) | nonce (16) | SIV (16) | encrypted token (n))
//! ```
//!
//! Both bind the value to the cookie name (or header or query parameter name) it travels
//! under. The MAC input and the associated data start with a label of their own, so nothing
//! made here can pass for a session cookie of this module's format, whose authenticated bytes
//! start with the cookie name's length as 8 bytes (the labels read as lengths beyond any
//! cookie). A token made with an older key of the ring keeps opening while that key is in it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::Mac;
use rand::RngCore;

use super::key::{KeyId, KeyRing};
use super::MAX_COOKIE_SIZE;

const SIGNED_LABEL: &[u8] = b"session-kit signed token v1\0";
const SEALED_LABEL: &[u8] = b"session-kit sealed token v1\0";
const KEY_ID_LEN: usize = 4;
const MAC_LEN: usize = 32;
const NONCE_LEN: usize = 16;
const SIV_LEN: usize = 16;

/// The bytes authenticated with a token: a label, then the name it travels under,
/// length-prefixed.
fn bound(label: &[u8], name: &str, extra: usize) -> Vec<u8> {
    let mut buf = Vec::with_capacity(label.len() + 8 + name.len() + extra);
    buf.extend_from_slice(label);
    buf.extend_from_slice(&(name.len() as u64).to_be_bytes());
    buf.extend_from_slice(name.as_bytes());
    buf
}

/// `token`, signed with the ring's primary key for the name `name`.
pub(crate) fn sign(keys: &KeyRing, name: &str, token: &str) -> String {
    let key = keys.primary();
    let mut input = bound(SIGNED_LABEL, name, token.len());
    input.extend_from_slice(token.as_bytes());
    let mut mac = key.mac().clone();
    mac.update(&input);
    let mut suffix = [0u8; KEY_ID_LEN + MAC_LEN];
    suffix[..KEY_ID_LEN].copy_from_slice(&key.id().to_bytes());
    suffix[KEY_ID_LEN..].copy_from_slice(&mac.finalize().into_bytes());
    format!("{token}.{}", URL_SAFE_NO_PAD.encode(suffix))
}

/// The token `signed` carries, if a key of the ring signed it for `name`.
pub(crate) fn verify(keys: &KeyRing, name: &str, signed: &str) -> Option<String> {
    if signed.len() > MAX_COOKIE_SIZE {
        return None;
    }
    let (token, suffix) = signed.rsplit_once('.')?;
    let mut bytes = [0u8; KEY_ID_LEN + MAC_LEN];
    // A strict decode into exactly 36 bytes: a longer or shorter suffix fails here.
    if URL_SAFE_NO_PAD.decode_slice(suffix, &mut bytes).ok()? != bytes.len() {
        return None;
    }
    let (key, _stale) = keys.find(KeyId::from_bytes(bytes[..KEY_ID_LEN].try_into().ok()?))?;
    let mut input = bound(SIGNED_LABEL, name, token.len());
    input.extend_from_slice(token.as_bytes());
    let mut mac = key.mac().clone();
    mac.update(&input);
    // Constant-time comparison.
    mac.verify_slice(&bytes[KEY_ID_LEN..]).ok()?;
    Some(token.to_owned())
}

/// `token`, encrypted and authenticated with the ring's primary key for the name `name`.
pub(crate) fn seal(keys: &KeyRing, name: &str, token: &str) -> String {
    let key = keys.primary();
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut nonce);
    let mut out = Vec::with_capacity(KEY_ID_LEN + NONCE_LEN + SIV_LEN + token.len());
    out.extend_from_slice(&key.id().to_bytes());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&[0; SIV_LEN]);
    out.extend_from_slice(token.as_bytes());
    let aad = bound(SEALED_LABEL, name, 0);
    let (_, rest) = out.split_at_mut(KEY_ID_LEN + NONCE_LEN);
    let (siv, plaintext) = rest.split_at_mut(SIV_LEN);
    // The nonce is the last header, as RFC 5297's AEAD use of SIV puts it.
    let tag = key.siv().encrypt(&[&aad, &nonce], plaintext);
    siv.copy_from_slice(&tag);
    URL_SAFE_NO_PAD.encode(out)
}

/// The token `sealed` carries, if a key of the ring sealed it for `name`.
pub(crate) fn open(keys: &KeyRing, name: &str, sealed: &str) -> Option<String> {
    if sealed.len() > MAX_COOKIE_SIZE {
        return None;
    }
    let mut bytes = URL_SAFE_NO_PAD.decode(sealed).ok()?;
    if bytes.len() < KEY_ID_LEN + NONCE_LEN + SIV_LEN {
        return None;
    }
    let (key, _stale) = keys.find(KeyId::from_bytes(bytes[..KEY_ID_LEN].try_into().ok()?))?;
    let aad = bound(SEALED_LABEL, name, 0);
    let (_, rest) = bytes.split_at_mut(KEY_ID_LEN);
    let (nonce, rest) = rest.split_at_mut(NONCE_LEN);
    let (siv, ciphertext) = rest.split_at_mut(SIV_LEN);
    let siv: &[u8; SIV_LEN] = (&*siv).try_into().ok()?;
    key.siv().decrypt(&[&aad, nonce], ciphertext, siv).ok()?;
    String::from_utf8(ciphertext.to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cookie::Key;

    fn ring() -> KeyRing {
        KeyRing::new(Key::derive(&[7; 32]).expect("32 bytes"))
    }

    #[test]
    fn a_signed_token_verifies_only_as_made() {
        let keys = ring();
        let signed = sign(&keys, "app", "AAAAAAAAAAAAAAAAAAAAAA");
        assert!(signed.starts_with("AAAAAAAAAAAAAAAAAAAAAA."), "{signed}");
        assert_eq!(verify(&keys, "app", &signed).as_deref(), Some("AAAAAAAAAAAAAAAAAAAAAA"));
        assert_eq!(verify(&keys, "cart", &signed), None, "bound to the name");
        let forged = signed.replacen("AAAA", "BAAA", 1);
        assert_eq!(verify(&keys, "app", &forged), None, "another token, same tag");
        assert_eq!(verify(&keys, "app", "AAAAAAAAAAAAAAAAAAAAAA"), None, "unsigned");
        assert_eq!(verify(&KeyRing::new(Key::generate()), "app", &signed), None, "another key");
        for cut in 0..signed.len() {
            assert_eq!(verify(&keys, "app", &signed[..cut]), None, "cut at {cut}");
        }
    }

    #[test]
    fn a_sealed_token_opens_only_as_made_and_hides_the_token() {
        let keys = ring();
        let sealed = seal(&keys, "app", "AAAAAAAAAAAAAAAAAAAAAA");
        assert!(!sealed.contains("AAAAAAAAAAAAAAAAAAAAAA"), "{sealed}");
        assert_ne!(sealed, seal(&keys, "app", "AAAAAAAAAAAAAAAAAAAAAA"), "a fresh nonce each time");
        assert_eq!(open(&keys, "app", &sealed).as_deref(), Some("AAAAAAAAAAAAAAAAAAAAAA"));
        assert_eq!(open(&keys, "cart", &sealed), None, "bound to the name");
        assert_eq!(open(&KeyRing::new(Key::generate()), "app", &sealed), None, "another key");
        for cut in 0..sealed.len() {
            assert_eq!(open(&keys, "app", &sealed[..cut]), None, "cut at {cut}");
        }
        let mut flipped = sealed.into_bytes();
        let last = flipped.len() - 2;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(open(&keys, "app", std::str::from_utf8(&flipped).expect("ascii")), None);
    }

    #[test]
    fn older_keys_still_open_their_tokens() {
        let old = Key::generate();
        let signed = sign(&KeyRing::new(old.clone()), "app", "id");
        let sealed = seal(&KeyRing::new(old.clone()), "app", "id");
        let rotated = KeyRing::new(old).rotate(Key::generate());
        assert_eq!(verify(&rotated, "app", &signed).as_deref(), Some("id"));
        assert_eq!(open(&rotated, "app", &sealed).as_deref(), Some("id"));
    }

    #[test]
    fn a_signed_or_sealed_token_is_no_session_cookie() {
        use crate::cookie::CookieStore;
        use crate::time::Timestamp;
        let keys = ring();
        for value in [sign(&keys, "app", "id"), seal(&keys, "app", "id")] {
            for store in [CookieStore::signed(keys.clone()), CookieStore::sealed(keys.clone())] {
                assert!(store.open("app", &value, &[], Timestamp::from_millis(1)).is_none());
            }
        }
    }
}
