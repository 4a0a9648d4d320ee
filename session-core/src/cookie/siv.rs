//! AES-256-SIV (RFC 5297: S2V over AES-CMAC, then AES-CTR) on cipher states keyed once.
//!
//! `aes-siv` 0.7 keeps only the raw key and schedules both AES keys inside every call, which
//! was about a third of the cost of opening or sealing a cookie; its keyed `Siv` type is not
//! `Clone` and re-keys the CTR cipher per call as well, and the `cmac` crate derives its
//! subkeys again at every finalization. Here both AES keys are scheduled when a
//! [`Key`](super::Key) is made, and so are the CMAC subkeys and the CMAC of the zero block, where
//! every S2V starts; CMAC (RFC 4493) and CTR are the few lines below, over the scheduled ciphers.
//! The construction is the RFC's, unchanged: the tests check it against the `aes-siv` and `cmac`
//! crates on random inputs, and the known-answer tests against Python's `cryptography`.

use aes::cipher::generic_array::GenericArray;
use aes::cipher::typenum::U16;
use aes::cipher::{BlockEncrypt, KeyInit};
use aes::Aes256Enc;
use dbl::Dbl;
use subtle::ConstantTimeEq;

/// The synthetic IV: the tag that authenticates, and the CTR IV.
pub(super) const SIV_LEN: usize = 16;
/// Two AES-256 keys: the first half for S2V (CMAC), the second for CTR (RFC 5297, 2.2).
pub(super) const SIV_KEY_LEN: usize = 64;

type Block = GenericArray<u8, U16>;

/// Keystream blocks encrypted at once: AES-NI pipelines 8.
const CTR_BATCH: usize = 8;

/// An AES-256-SIV key, scheduled.
#[derive(Clone)]
pub(super) struct Siv {
    mac: CmacKey,
    ctr: Aes256Enc,
}

/// The value did not authenticate.
#[derive(Debug)]
pub(super) struct Forged;

impl Siv {
    pub(super) fn new(key: &[u8; SIV_KEY_LEN]) -> Self {
        let (mac_key, ctr_key) = key.split_at(SIV_KEY_LEN / 2);
        Self { mac: CmacKey::new(mac_key), ctr: Aes256Enc::new(GenericArray::from_slice(ctr_key)) }
    }

    /// Encrypts `message` in place under the associated data `headers` (the RFC's vector of
    /// strings, nonce last if there is one) and returns the SIV.
    pub(super) fn encrypt(&self, headers: &[&[u8]], message: &mut [u8]) -> [u8; SIV_LEN] {
        let siv = self.s2v(headers, message);
        self.apply_keystream(&siv, message);
        siv.into()
    }

    /// Decrypts `message` in place if `siv` authenticates it with `headers`; on [`Forged`] the
    /// message is left as it came (encrypted), so another key may be tried on it.
    pub(super) fn decrypt(&self, headers: &[&[u8]], message: &mut [u8], siv: &[u8; SIV_LEN]) -> Result<(), Forged> {
        let siv = Block::from(*siv);
        self.apply_keystream(&siv, message);
        let expected = self.s2v(headers, message);
        if bool::from(expected.as_slice().ct_eq(siv.as_slice())) {
            Ok(())
        } else {
            self.apply_keystream(&siv, message);
            Err(Forged)
        }
    }

    /// S2V (RFC 5297, 2.4) of `headers` and then `message`.
    fn s2v(&self, headers: &[&[u8]], message: &[u8]) -> Block {
        let mut d = self.mac.zero;
        for header in headers {
            let mut mac = self.mac.start();
            mac.update(header);
            d = d.dbl();
            xor(&mut d, &mac.finish());
        }
        let mut mac = self.mac.start();
        if let Some(split) = message.len().checked_sub(16) {
            // T = message xorend D.
            let (head, tail) = message.split_at(split);
            mac.update(head);
            xor(&mut d, tail);
        } else {
            // T = dbl(D) xor pad(message).
            d = d.dbl();
            xor(&mut d, message);
            d[message.len()] ^= 0x80;
        }
        mac.update(&d);
        mac.finish()
    }

    /// AES-CTR with the SIV as a 128-bit big-endian counter, its bits 31 and 63 cleared
    /// (RFC 5297, 2.5).
    fn apply_keystream(&self, siv: &Block, message: &mut [u8]) {
        let mut iv = *siv;
        iv[8] &= 0x7f;
        iv[12] &= 0x7f;
        let mut counter = u128::from_be_bytes(iv.into());
        let mut keystream = [Block::default(); CTR_BATCH];
        for chunk in message.chunks_mut(16 * CTR_BATCH) {
            let blocks = &mut keystream[..chunk.len().div_ceil(16)];
            for block in blocks.iter_mut() {
                *block = counter.to_be_bytes().into();
                counter = counter.wrapping_add(1);
            }
            self.ctr.encrypt_blocks(blocks);
            for (bytes, block) in chunk.chunks_mut(16).zip(blocks.iter()) {
                bytes.iter_mut().zip(block).for_each(|(b, k)| *b ^= k);
            }
        }
    }
}

/// An AES-256-CMAC key (RFC 4493) with its subkeys, and the CMAC of the zero block.
#[derive(Clone)]
struct CmacKey {
    cipher: Aes256Enc,
    /// For a message whose last block is complete.
    k1: Block,
    /// For a message whose last block is padded.
    k2: Block,
    /// `CMAC(0^128)`, the first value of every S2V.
    zero: Block,
}

impl CmacKey {
    fn new(key: &[u8]) -> Self {
        let cipher = Aes256Enc::new(GenericArray::from_slice(key));
        let mut l = Block::default();
        cipher.encrypt_block(&mut l);
        let k1 = l.dbl();
        let mut key = Self { cipher, k2: k1.dbl(), k1, zero: Block::default() };
        let mut zero = key.start();
        zero.update(&[0; 16]);
        key.zero = zero.finish();
        key
    }

    fn start(&self) -> Cmac<'_> {
        Cmac { key: self, state: Block::default(), pending: Block::default(), len: 0 }
    }
}

/// One CMAC computation. The last block read is held back until more input comes, since the
/// final block is treated apart.
struct Cmac<'a> {
    key: &'a CmacKey,
    state: Block,
    pending: Block,
    /// Bytes in `pending`.
    len: usize,
}

impl Cmac<'_> {
    fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.len == 16 {
                xor(&mut self.state, &self.pending);
                self.key.cipher.encrypt_block(&mut self.state);
                self.len = 0;
            }
            let take = (16 - self.len).min(data.len());
            self.pending[self.len..self.len + take].copy_from_slice(&data[..take]);
            self.len += take;
            data = &data[take..];
        }
    }

    fn finish(mut self) -> Block {
        let (pending, len) = (self.pending, self.len);
        xor(&mut self.state, &pending[..len]);
        if len == 16 {
            xor(&mut self.state, &self.key.k1);
        } else {
            self.state[len] ^= 0x80;
            xor(&mut self.state, &self.key.k2);
        }
        self.key.cipher.encrypt_block(&mut self.state);
        self.state
    }
}

fn xor(into: &mut Block, from: &[u8]) {
    into.iter_mut().zip(from).for_each(|(a, b)| *a ^= b);
}

#[cfg(test)]
mod tests {
    use aes_siv::siv::Aes256Siv;
    use proptest::prelude::*;

    use super::*;

    fn key(seed: u8) -> [u8; SIV_KEY_LEN] {
        std::array::from_fn(|i| seed.wrapping_mul(31).wrapping_add(i as u8))
    }

    /// The `aes-siv` crate, keyed from scratch: the reference.
    fn reference(key: &[u8; SIV_KEY_LEN]) -> Aes256Siv {
        <Aes256Siv as aes_siv::KeyInit>::new(GenericArray::from_slice(key))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 500, failure_persistence: None, ..ProptestConfig::default() })]

        /// Same SIV and ciphertext as `aes-siv` for any headers and message, including messages
        /// shorter than a block and empty ones; and each opens the other's.
        #[test]
        fn agrees_with_the_aes_siv_crate(
            seed in any::<u8>(),
            headers in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..4),
            message in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let key = key(seed);
            let headers: Vec<&[u8]> = headers.iter().map(Vec::as_slice).collect();
            let mut ours = message.clone();
            let siv = Siv::new(&key).encrypt(&headers, &mut ours);
            let mut theirs = message.clone();
            let their_siv = reference(&key).encrypt_in_place_detached(&headers, &mut theirs).expect("few headers");
            prop_assert_eq!(siv.as_slice(), their_siv.as_slice());
            prop_assert_eq!(&ours, &theirs);

            let mut opened = ours.clone();
            prop_assert!(Siv::new(&key).decrypt(&headers, &mut opened, &siv).is_ok());
            prop_assert_eq!(&opened, &message);
        }

        /// Same CMAC as the `cmac` crate, whatever the lengths and however the input is split.
        #[test]
        fn cmac_agrees_with_the_cmac_crate(
            seed in any::<u8>(),
            message in proptest::collection::vec(any::<u8>(), 0..100),
            split in any::<proptest::sample::Index>(),
        ) {
            use cmac::Mac;
            let key = &key(seed)[..32];
            let mut reference = <cmac::Cmac<Aes256Enc> as KeyInit>::new_from_slice(key).expect("32 bytes");
            reference.update(&message);
            let ours = CmacKey::new(key);
            let mut mac = ours.start();
            let (a, b) = message.split_at(split.index(message.len() + 1));
            mac.update(a);
            mac.update(b);
            prop_assert_eq!(mac.finish(), reference.finalize().into_bytes());
        }

        /// A wrong SIV, header or key fails and leaves the ciphertext as it was.
        #[test]
        fn forgeries_fail_and_leave_the_ciphertext(
            message in proptest::collection::vec(any::<u8>(), 0..60),
            flip in any::<u8>(),
        ) {
            let siv_key = Siv::new(&key(1));
            let mut sealed = message.clone();
            let siv = siv_key.encrypt(&[b"ad"], &mut sealed);
            let mut bad_siv = siv;
            bad_siv[usize::from(flip) % SIV_LEN] ^= 1 << (flip % 8);
            for (key, headers, siv) in [
                (&siv_key, &[&b"ad"[..]][..], bad_siv),
                (&siv_key, &[&b"ae"[..]][..], siv),
                (&siv_key, &[&b"ad"[..], &b""[..]][..], siv),
                (&Siv::new(&key(2)), &[&b"ad"[..]][..], siv),
            ] {
                let mut attempt = sealed.clone();
                prop_assert!(key.decrypt(headers, &mut attempt, &siv).is_err());
                prop_assert_eq!(&attempt, &sealed);
            }
        }
    }

    /// A clone is the same key: the state it copies is not consumed by a use.
    #[test]
    fn clones_seal_alike() {
        let siv = Siv::new(&key(7));
        let mut a = *b"a message longer than one block";
        let mut b = a;
        assert_eq!(siv.clone().encrypt(&[b"h"], &mut a), siv.encrypt(&[b"h"], &mut b));
        assert_eq!(a, b);
    }
}
