use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use proptest::prelude::*;
use proptest::sample::Index;

use super::*;
use crate::record::{Entry, Meta};

/// The stored fields of the session type the records below belong to.
const FIELDS: &[FieldSpec] = &[
    FieldSpec::plain("user_id"),
    FieldSpec::plain("name"),
    FieldSpec::plain("role"),
    FieldSpec::plain("tags"),
    FieldSpec::plain("last_seen"),
    FieldSpec::plain("blob"),
];

/// The header byte of a version 3 value from `store`'s primary key.
fn header_v3(store: &CookieStore) -> u8 {
    let mode = if store.mode() == Mode::Signed { 0x08 } else { 0 };
    0x30 | mode | store.keys().primary().id().hint()
}

/// Whether `value`, made by `store`, was made with `key(seed)`: only a store of that key alone,
/// in the same mode, opens it.
fn made_by(value: &str, store: &CookieStore, seed: u8) -> bool {
    let alone = CookieStore {
        mode: store.mode(),
        keys: Arc::new(KeyRing::new(key(seed))),
        format: store.format(),
        revocations: None,
    };
    decode(value)[0] & 0b111 == key(seed).id().hint() && alone.open(NAME, value, FIELDS, now()).is_some()
}

/// The payload (the compact record) of a version 3 value of `record`.
fn payload_v3(record: &Record) -> Vec<u8> {
    let mut out = Vec::new();
    super::payload::encode(record, FIELDS, &mut out);
    out
}

/// The server's clock in most tests: 2023-11-14.
const T0: u64 = 1_700_000_000_000;
const MINUTE: u64 = 60_000;
const NAME: &str = "app";

fn now() -> Timestamp {
    Timestamp::from_millis(T0)
}

fn master(seed: u8) -> [u8; 64] {
    std::array::from_fn(|i| seed.wrapping_mul(101).wrapping_add(i as u8))
}

fn key(seed: u8) -> Key {
    Key::derive(&master(seed)).expect("64 bytes")
}

fn sealed(keys: KeyRing) -> CookieStore {
    CookieStore::sealed(keys)
}

fn signed(keys: KeyRing) -> CookieStore {
    CookieStore::signed(keys)
}

/// Both kinds of store over one key.
fn stores(seed: u8) -> [CookieStore; 2] {
    [sealed(KeyRing::new(key(seed))), signed(KeyRing::new(key(seed)))]
}

fn postcard<T: serde::Serialize + ?Sized>(value: &T) -> Vec<u8> {
    postcard::to_allocvec(value).expect("encodable")
}

fn entry(value: Vec<u8>) -> Entry {
    Entry { value, expires_at: None }
}

/// The typical five-field session: user id, name, role, two tags, a timestamp.
fn typical_record() -> Record {
    let created_at = T0 - MINUTE;
    Record {
        meta: Meta {
            created_at: Timestamp::from_millis(created_at),
            idle_deadline: Some(Timestamp::from_millis(T0 + 30 * MINUTE)),
            absolute_deadline: Some(Timestamp::from_millis(created_at + 12 * 60 * MINUTE)),
            remember_me: false,
            last_active: Timestamp::from_millis(created_at),
            lifetime: None,
        },
        entries: vec![
            ("user_id".into(), entry(postcard(&42u64))),
            ("name".into(), entry(postcard("Alice Example"))),
            ("role".into(), entry(postcard("admin"))),
            ("tags".into(), entry(postcard(&["beta", "staff"]))),
            ("last_seen".into(), entry(postcard(&T0))),
        ],
    }
}

/// A record that never expires, with an entry of `len` bytes.
fn record_of_len(len: usize) -> Record {
    let meta = Meta::new(now());
    Record { meta, entries: vec![("blob".into(), entry(vec![0x42; len]))] }
}

fn decode(value: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(value).expect("a value made by seal is base64")
}

fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn round_trip_in_both_modes() {
    let record = typical_record();
    for store in stores(1) {
        let value = store.seal(NAME, &record, FIELDS).expect("fits");
        let opened = store.open(NAME, &value, FIELDS, now()).expect("opens");
        assert_eq!(
            opened,
            Opened { record: record.clone(), stale_key: false, stale_format: false },
            "{:?}",
            store.mode()
        );
        // Only URL-safe characters, so the value needs no quoting in a cookie.
        assert!(value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    }
}

#[test]
fn entries_unknown_to_this_binary_are_carried_over() {
    let newer_field = FieldSpec::plain("from_a_newer_deploy");
    let newer_fields = [FIELDS, &[newer_field]].concat();
    let newer_entry = Entry { value: vec![1, 2, 3], expires_at: Some(Timestamp::from_millis(T0 + MINUTE)) };
    let mut record = typical_record();
    record.entries.insert(2, (newer_field.key.into(), newer_entry.clone()));
    for store in stores(1) {
        // Sealed by the newer deploy, opened by this one: the entry comes back under a placeholder.
        let value = store.seal(NAME, &record, &newer_fields).expect("fits");
        let mut opened = store.open(NAME, &value, FIELDS, now()).expect("opens").record;
        let (placeholder, entry) = &opened.entries[2];
        assert_eq!((placeholder, entry), (&format!("\0{:04x}", newer_field.tag()), &newer_entry));
        assert_eq!(opened.get(newer_field.key), None);
        // This one changes a field of its own and saves: the newer deploy finds its entry intact.
        opened.entries[0].1.value = postcard(&7u64);
        let resaved = store.seal(NAME, &opened, FIELDS).expect("fits");
        let seen_by_newer = store.open(NAME, &resaved, &newer_fields, now()).expect("opens").record;
        assert_eq!(seen_by_newer.get(newer_field.key), Some(&newer_entry));
        assert_eq!(seen_by_newer.get("user_id").map(|e| e.value.clone()), Some(postcard(&7u64)));
        assert_eq!(seen_by_newer.entries.len(), record.entries.len());
    }
}

#[test]
fn typical_cookie_sizes() {
    // Pinned, so that a change in size is noticed (and the numbers in the docs stay right).
    let record = typical_record();
    // Metadata 8 bytes (time and flags, 31 minutes, 12 hours), 5 tags and lengths 15, values 38.
    let payload = payload_v3(&record).len();
    assert_eq!(payload, 61);
    let [sealed, signed] = stores(1);
    let sealed_value = sealed.seal(NAME, &record, FIELDS).expect("fits");
    let signed_value = signed.seal(NAME, &record, FIELDS).expect("fits");
    // Header + nonce + SIV, and header + tag, in base64.
    assert_eq!(sealed_value.len(), (4 * (1 + 1 + 16 + payload)).div_ceil(3));
    assert_eq!(sealed_value.len(), 106);
    assert_eq!(signed_value.len(), 104);
    // Version 2: 13 header bytes + 16 nonce + 16 SIV, and 13 + 32 tag, with postcard's record.
    assert_eq!(record.to_bytes().len(), 110);
    for store in [sealed, signed] {
        assert_eq!(
            legacy::seal(store.mode(), store.keys().primary(), NAME, &record, &[7; 16]).expect("fits").len(),
            207
        );
    }
}

#[test]
fn sealed_values_hide_the_record_and_differ_each_time() {
    let record = typical_record();
    let [store, _] = stores(1);
    let values: Vec<String> = (0..32).map(|_| store.seal(NAME, &record, FIELDS).expect("fits")).collect();
    // One random byte per value: 32 seals of one record all alike would take odds of 2^-248.
    assert!(values.iter().any(|v| *v != values[0]), "a random nonce per value");
    for value in &values {
        let bytes = decode(value);
        assert!(!contains(&bytes, b"Alice Example"));
        assert!(!contains(&bytes, b"user_id"));
        assert!(!contains(&bytes, &payload_v3(&record)[..6]), "the time of last activity");
        assert!(!contains(&bytes, &payload_v3(&record)[8..12]), "a tag and a value");
        assert!(!value.contains("Alice"));
        assert_eq!(store.open(NAME, value, FIELDS, now()).expect("opens").record, record);
    }
}

#[test]
fn signed_values_are_readable_but_not_forgeable() {
    let record = typical_record();
    let [_, store] = stores(1);
    let value = store.seal(NAME, &record, FIELDS).expect("fits");
    let bytes = decode(&value);
    assert!(contains(&bytes, &payload_v3(&record)), "the payload is in clear");
    assert!(contains(&bytes, b"Alice Example"));

    // Promote ourselves: same length, valid record, no key.
    let at = bytes.windows(5).position(|w| w == b"admin").expect("role in clear");
    let mut forged = bytes.clone();
    forged[at..at + 5].copy_from_slice(b"owner");
    assert!(store.open(NAME, &encode(&forged), FIELDS, now()).is_none());

    // Swap the payload for another valid record, keeping header and tag.
    let mut swapped = bytes[..1].to_vec();
    swapped.extend_from_slice(&payload_v3(&record_of_len(3)));
    swapped.extend_from_slice(&bytes[bytes.len() - 16..]);
    assert!(store.open(NAME, &encode(&swapped), FIELDS, now()).is_none());
}

#[test]
fn every_single_bit_flip_fails() {
    let record = typical_record();
    for store in stores(1) {
        let value = store.seal(NAME, &record, FIELDS).expect("fits");
        // In the decoded bytes: header, nonce, tag, payload.
        let bytes = decode(&value);
        for bit in 0..bytes.len() * 8 {
            let mut tampered = bytes.clone();
            tampered[bit / 8] ^= 1 << (bit % 8);
            assert!(store.open(NAME, &encode(&tampered), FIELDS, now()).is_none(), "bit {bit}, {:?}", store.mode());
        }
        // In the text, including the unused low bits of the last character.
        for bit in 0..value.len() * 8 {
            let mut tampered = value.clone().into_bytes();
            tampered[bit / 8] ^= 1 << (bit % 8);
            let tampered = String::from_utf8_lossy(&tampered);
            assert!(store.open(NAME, &tampered, FIELDS, now()).is_none(), "char bit {bit}, {:?}", store.mode());
        }
    }
}

#[test]
fn truncations_and_extensions_fail() {
    let record = typical_record();
    for store in stores(1) {
        let value = store.seal(NAME, &record, FIELDS).expect("fits");
        for len in 0..value.len() {
            assert!(store.open(NAME, &value[..len], FIELDS, now()).is_none(), "text cut to {len}");
            assert!(store.open(NAME, &value[value.len() - len..], FIELDS, now()).is_none(), "text cut from the front");
        }
        let bytes = decode(&value);
        for len in 0..bytes.len() {
            assert!(store.open(NAME, &encode(&bytes[..len]), FIELDS, now()).is_none(), "bytes cut to {len}");
        }
        for tail in ["A", "AA", "AAA", "AAAA", "-", "_", "=", "==", " ", "\0", ".", &value] {
            assert!(store.open(NAME, &format!("{value}{tail}"), FIELDS, now()).is_none(), "extended by {tail:?}");
        }
        for extra in [&[0u8][..], &[0, 0, 0], &[0xff], &bytes] {
            let mut extended = bytes.clone();
            extended.extend_from_slice(extra);
            assert!(store.open(NAME, &encode(&extended), FIELDS, now()).is_none());
        }
    }
}

#[test]
fn garbage_fails() {
    let long_valid_prefix = {
        let [store, _] = stores(1);
        let mut v = store.seal(NAME, &typical_record(), FIELDS).expect("fits");
        v.push_str(&"A".repeat(100_000));
        v
    };
    let inputs = [
        String::new(),
        " ".into(),
        "!!!!".into(),
        "not base64 at all".into(),
        "====".into(),
        "\u{1F36A}\u{1F36A}\u{1F36A}\u{1F36A}".into(),
        "A".repeat(100_000),
        "\0".repeat(100_000),
        long_valid_prefix,
        encode(&[0x21; 200]),
        encode(&[0x22; 200]),
        encode(&[0x11; 200]),
        encode(&[0x12; 200]),
    ];
    for store in stores(1) {
        for input in &inputs {
            assert!(store.open(NAME, input, FIELDS, now()).is_none(), "{:?}", &input[..input.len().min(20)]);
        }
    }
}

#[test]
fn other_spellings_of_a_valid_value_fail() {
    let record = typical_record();
    for store in stores(1) {
        let value = store.seal(NAME, &record, FIELDS).expect("fits");
        let bytes = decode(&value);
        let padded = URL_SAFE.encode(&bytes);
        if padded != value {
            assert!(store.open(NAME, &padded, FIELDS, now()).is_none(), "padded");
        }
        let standard = STANDARD.encode(&bytes);
        if standard.trim_end_matches('=') != value {
            assert!(store.open(NAME, standard.trim_end_matches('='), FIELDS, now()).is_none(), "standard alphabet");
        }
        assert!(store.open(NAME, &format!(" {value}"), FIELDS, now()).is_none());
        assert!(store.open(NAME, &format!("\"{value}\""), FIELDS, now()).is_none());
    }
}

#[test]
fn a_value_moved_to_another_cookie_fails() {
    let record = typical_record();
    for store in stores(1) {
        let value = store.seal(NAME, &record, FIELDS).expect("fits");
        for other in ["", "ap", "app2", "App", "app ", "cart", "__Host-app"] {
            assert!(store.open(other, &value, FIELDS, now()).is_none(), "{other:?}");
        }
        // The length prefix keeps the name apart from the bytes that follow it.
        let value = store.seal("ab", &record, FIELDS).expect("fits");
        assert!(store.open("a", &value, FIELDS, now()).is_none());
        assert!(store.open("ab", &value, FIELDS, now()).is_some());
    }
}

#[test]
fn each_store_opens_its_own_mode_only() {
    let record = typical_record();
    let [sealed, signed] = stores(1);
    let s = sealed.seal(NAME, &record, FIELDS).expect("fits");
    let m = signed.seal(NAME, &record, FIELDS).expect("fits");
    assert!(signed.open(NAME, &s, FIELDS, now()).is_none());
    assert!(sealed.open(NAME, &m, FIELDS, now()).is_none());
    // Even with the mode bit rewritten: the keys and constructions differ.
    let mut as_signed = decode(&s);
    as_signed[0] ^= 0x08;
    assert_eq!(as_signed[0], header_v3(&signed));
    assert!(signed.open(NAME, &encode(&as_signed), FIELDS, now()).is_none());
    let mut as_sealed = decode(&m);
    as_sealed[0] ^= 0x08;
    assert_eq!(as_sealed[0], header_v3(&sealed));
    assert!(sealed.open(NAME, &encode(&as_sealed), FIELDS, now()).is_none());
    // Nor as the other version.
    for (store, value) in [(&sealed, &s), (&signed, &m)] {
        for version in [0x10, 0x20, 0x40, 0xf0] {
            let mut bytes = decode(value);
            bytes[0] = bytes[0] & 0x0f | version;
            assert!(store.open(NAME, &encode(&bytes), FIELDS, now()).is_none(), "{version:#x}");
        }
    }
}

#[test]
fn an_unknown_key_id_fails() {
    let record = typical_record();
    for (mine, theirs) in stores(1).into_iter().zip(stores(2)) {
        let value = theirs.seal(NAME, &record, FIELDS).expect("fits");
        assert!(mine.open(NAME, &value, FIELDS, now()).is_none());
    }
    // Naming another key of the ring, or none, does not help either: the header and the whole
    // id of the key are authenticated.
    let ring = KeyRing::new(key(1)).with_older(key(2));
    assert_ne!(key(1).id().hint(), key(2).id().hint(), "the test needs keys with different hints");
    for store in [sealed(ring.clone()), signed(ring)] {
        let bytes = decode(&store.seal(NAME, &record, FIELDS).expect("fits"));
        for hint in (0..8).filter(|&h| h != key(1).id().hint()) {
            let mut renamed = bytes.clone();
            renamed[0] = renamed[0] & !0b111 | hint;
            assert!(store.open(NAME, &encode(&renamed), FIELDS, now()).is_none(), "hint {hint}");
        }
    }
}

/// Keys whose ids share the 3 bits a value carries are all tried: a value of either opens, and
/// with the right staleness.
#[test]
fn keys_sharing_a_hint_are_all_tried() {
    let seeds: Vec<u8> = (2..=255).filter(|&s| key(s).id().hint() == key(1).id().hint()).take(2).collect();
    let ring = KeyRing::new(key(1)).with_older(key(seeds[0])).with_older(key(seeds[1]));
    let record = typical_record();
    for (mine, old) in [
        (sealed(ring.clone()), sealed(KeyRing::new(key(seeds[1])))),
        (signed(ring), signed(KeyRing::new(key(seeds[1])))),
    ] {
        let value = old.seal(NAME, &record, FIELDS).expect("fits");
        let opened = mine.open(NAME, &value, FIELDS, now()).expect("the third key with that hint");
        assert!(opened.stale_key && !opened.stale_format);
        assert_eq!(opened.record, record);
        let value = mine.seal(NAME, &record, FIELDS).expect("fits");
        assert!(!mine.open(NAME, &value, FIELDS, now()).expect("opens").stale_key);
        assert!(old.open(NAME, &value, FIELDS, now()).is_none());
    }
}

#[test]
fn an_expired_value_fails() {
    let record = typical_record();
    let deadline = record.meta.expires_at().expect("has deadlines").as_millis();
    for store in stores(1) {
        let value = store.seal(NAME, &record, FIELDS).expect("fits");
        assert!(store.open(NAME, &value, FIELDS, Timestamp::from_millis(deadline - 1)).is_some());
        assert!(store.open(NAME, &value, FIELDS, Timestamp::from_millis(deadline)).is_none());
        assert!(store.open(NAME, &value, FIELDS, Timestamp::from_millis(deadline + 24 * 60 * MINUTE)).is_none());
        // The expiry is in the authenticated payload: no byte of the value can move it (the
        // bit-flip test tries them all); nor can a value sealed before it, re-presented.
        // The earlier deadline counts, whichever of the two it is.
        let mut absolute_first = record.clone();
        absolute_first.meta.absolute_deadline = Some(Timestamp::from_millis(T0 + MINUTE));
        let value = store.seal(NAME, &absolute_first, FIELDS).expect("fits");
        assert!(store.open(NAME, &value, FIELDS, Timestamp::from_millis(T0 + MINUTE - 1)).is_some());
        assert!(store.open(NAME, &value, FIELDS, Timestamp::from_millis(T0 + MINUTE)).is_none());
    }
    // A session without deadlines never expires.
    for store in stores(1) {
        let value = store.seal(NAME, &record_of_len(1), FIELDS).expect("fits");
        assert!(store.open(NAME, &value, FIELDS, Timestamp::from_millis(u64::MAX)).is_some());
    }
}

#[test]
fn a_value_from_the_far_future_fails() {
    let skew = MAX_FUTURE_SKEW.as_millis() as u64;
    for store in stores(1) {
        let mut record = record_of_len(1);
        record.meta.created_at = Timestamp::from_millis(T0 + skew);
        let value = store.seal(NAME, &record, FIELDS).expect("fits");
        assert!(store.open(NAME, &value, FIELDS, now()).is_some(), "within the allowed skew");
        record.meta.created_at = Timestamp::from_millis(T0 + skew + 1);
        let value = store.seal(NAME, &record, FIELDS).expect("fits");
        assert!(store.open(NAME, &value, FIELDS, now()).is_none());
        assert!(
            store.open(NAME, &value, FIELDS, Timestamp::from_millis(T0 + 1)).is_some(),
            "once the clock catches up"
        );
    }
}

#[test]
fn too_large_a_record_is_an_error_with_the_size() {
    for store in stores(1) {
        // Find the largest entry that fits, by growing it.
        let mut len = 2_500;
        while store.seal(NAME, &record_of_len(len + 1), FIELDS).is_ok() {
            len += 1;
        }
        let value = store.seal(NAME, &record_of_len(len), FIELDS).expect("fits");
        let size = NAME.len() + 1 + value.len();
        assert!(size <= MAX_COOKIE_SIZE && size > MAX_COOKIE_SIZE - 4, "{size}");
        assert!(store.open(NAME, &value, FIELDS, now()).is_some(), "the largest value still opens");
        match store.seal(NAME, &record_of_len(len + 1), FIELDS) {
            Err(Error::CookieTooLarge { size, limit }) => {
                assert_eq!(limit, MAX_COOKIE_SIZE);
                assert!(size > MAX_COOKIE_SIZE && size <= MAX_COOKIE_SIZE + 4, "{size}");
            }
            other => panic!("expected CookieTooLarge, got {other:?}"),
        }
        // The size reported is the size the cookie would have had.
        let record = record_of_len(10_000);
        let overhead = if store.mode() == Mode::Sealed { 1 + 1 + 16 } else { 1 + 16 };
        let expected = NAME.len() + 1 + (4 * (overhead + payload_v3(&record).len())).div_ceil(3);
        match store.seal(NAME, &record, FIELDS) {
            Err(Error::CookieTooLarge { size, .. }) => assert_eq!(size, expected),
            other => panic!("expected CookieTooLarge, got {other:?}"),
        }
        let message = store.seal(NAME, &record, FIELDS).expect_err("too large").to_string();
        assert!(message.contains("4096"), "{message}");
        // A long name counts too.
        let long_name = "n".repeat(MAX_COOKIE_SIZE);
        assert!(matches!(store.seal(&long_name, &record_of_len(1), FIELDS), Err(Error::CookieTooLarge { .. })));
    }
}

#[test]
fn the_primary_seals_and_older_keys_open_stale() {
    let record = typical_record();
    let ring = KeyRing::new(key(2)).with_older(key(1)).with_older(key(0));
    for store in [sealed(ring.clone()), signed(ring.clone())] {
        let value = store.seal(NAME, &record, FIELDS).expect("fits");
        assert!(made_by(&value, &store, 2), "the primary seals");
        assert!(!store.open(NAME, &value, FIELDS, now()).expect("opens").stale_key);
    }
    for (old, current) in stores(0).into_iter().zip([sealed(ring.clone()), signed(ring)]) {
        let value = old.seal(NAME, &record, FIELDS).expect("fits");
        let opened = current.open(NAME, &value, FIELDS, now()).expect("an older key still opens");
        assert!(opened.stale_key);
        assert_eq!(opened.record, record);
    }
}

#[test]
fn rotation_keeps_old_cookies_until_the_old_key_is_dropped() {
    let record = typical_record();
    for seal_with in [CookieStore::sealed, CookieStore::signed] {
        let before = seal_with(KeyRing::new(key(1)));
        let old_value = before.seal(NAME, &record, FIELDS).expect("fits");

        let after = seal_with(before.keys().clone().rotate(key(2)));
        assert_eq!(after.keys().primary(), &key(2));
        assert_eq!(after.keys().older(), &[key(1)]);
        let new_value = after.seal(NAME, &record, FIELDS).expect("fits");
        assert!(made_by(&new_value, &after, 2), "the new primary seals");
        assert!(!after.open(NAME, &new_value, FIELDS, now()).expect("opens").stale_key);

        // The old primary's cookie still opens, marked for re-sealing, and re-sealing is fresh.
        let opened = after.open(NAME, &old_value, FIELDS, now()).expect("still opens");
        assert!(opened.stale_key);
        let resealed = after.seal(NAME, &opened.record, FIELDS).expect("fits");
        assert!(!after.open(NAME, &resealed, FIELDS, now()).expect("opens").stale_key);

        // Dropping the old key ends its cookies, and only those.
        let later = seal_with(KeyRing::new(key(2)));
        assert!(later.open(NAME, &old_value, FIELDS, now()).is_none());
        assert!(later.open(NAME, &new_value, FIELDS, now()).is_some());
        // The key that was rotated out does not open the new cookies.
        assert!(before.open(NAME, &new_value, FIELDS, now()).is_none());
    }
}

#[test]
fn the_order_of_keys_is_newest_first() {
    let ring = KeyRing::new(key(0)).rotate(key(1)).rotate(key(2));
    assert_eq!(ring.primary(), &key(2));
    assert_eq!(ring.older(), &[key(1), key(0)]);
    let ring = KeyRing::new(key(2)).with_older(key(1)).with_older(key(0));
    assert_eq!(ring.primary(), &key(2));
    assert_eq!(ring.older(), &[key(1), key(0)]);
    // Rotating to a ring built with older keys: the previous primary goes first.
    let ring = ring.rotate(key(3));
    assert_eq!(ring.older(), &[key(2), key(1), key(0)]);

    // Whatever the ring holds, the primary seals: not the first or last key added.
    let record = typical_record();
    for ring in
        [KeyRing::new(key(0)).rotate(key(1)).rotate(key(2)), KeyRing::new(key(2)).with_older(key(0)).with_older(key(1))]
    {
        let store = sealed(ring);
        for _ in 0..3 {
            let value = store.seal(NAME, &record, FIELDS).expect("fits");
            assert!(made_by(&value, &store, 2));
            assert!(!store.open(NAME, &value, FIELDS, now()).expect("opens").stale_key);
        }
    }
}

#[test]
fn the_same_key_twice_in_a_ring_is_harmless() {
    let ring = KeyRing::new(key(1)).with_older(key(1));
    let store = sealed(ring);
    let value = store.seal(NAME, &typical_record(), FIELDS).expect("fits");
    assert!(!store.open(NAME, &value, FIELDS, now()).expect("opens").stale_key, "found as the primary first");
}

#[test]
fn short_or_malformed_master_secrets_are_refused() {
    assert_eq!(Key::derive(&[7; 31]).map(|k| k.id()), Err(KeyError::TooShort { len: 31 }));
    assert_eq!(Key::derive(&[]).map(|k| k.id()), Err(KeyError::TooShort { len: 0 }));
    assert!(Key::derive(&[7; 32]).is_ok());
    assert_eq!(Key::from_base64(&STANDARD.encode([7; 31])).map(|k| k.id()), Err(KeyError::TooShort { len: 31 }));
    for bad in ["", "   ", "not base64!", "****", "a+b-c/d_"] {
        let err = Key::from_base64(bad).map(|k| k.id());
        assert!(matches!(err, Err(KeyError::InvalidBase64 | KeyError::TooShort { len: 0 })), "{bad:?}: {err:?}");
    }
    let message = KeyError::TooShort { len: 31 }.to_string();
    assert!(message.contains("31") && message.contains("32"), "{message}");
}

/// `.expect()` on a key prints `Debug`: it must say what is wrong and how to fix it, as
/// `Display` does, not only `TooShort { len: 31 }`.
#[test]
fn key_errors_debug_as_the_sentence_they_display() {
    for err in [KeyError::TooShort { len: 31 }, KeyError::InvalidBase64] {
        let (shown, debugged, pretty) = (err.to_string(), format!("{err:?}"), format!("{err:#?}"));
        assert!(debugged.ends_with(&shown), "{debugged}");
        assert_eq!(pretty, debugged);
    }
    let debugged = format!("{:?}", KeyError::TooShort { len: 31 });
    assert!(debugged.starts_with("KeyError::TooShort: "), "{debugged}");
    assert!(debugged.contains("31 bytes") && debugged.contains("Key::generate_base64()"), "{debugged}");
    let debugged = format!("{:?}", Key::from_base64("not base64!").map(|k| k.id()));
    assert!(debugged.contains("KeyError::InvalidBase64: the cookie master secret is not valid base64"), "{debugged}");
}

/// Clones are handles on the same keys: what one seals, the other opens, and cloning does not
/// copy the key ring.
#[test]
fn clones_share_their_keys() {
    for store in stores(9) {
        let clone = store.clone();
        assert!(std::ptr::eq(store.keys(), clone.keys()), "a clone copied the key ring");
        let value = store.seal(NAME, &typical_record(), FIELDS).expect("fits");
        let opened = clone.open(NAME, &value, FIELDS, now()).expect("a clone opens what the original sealed");
        assert_eq!(opened.record, typical_record());
        let value = clone.seal(NAME, &typical_record(), FIELDS).expect("fits");
        assert!(store.open(NAME, &value, FIELDS, now()).is_some(), "the original opens what a clone sealed");
    }
}

#[test]
fn master_secrets_read_in_any_base64_spelling() {
    // 0xfb.. makes `+`/`/` and `-`/`_` appear, so the alphabets differ.
    let m: [u8; 48] = std::array::from_fn(|i| 0xfb ^ (i as u8));
    let expected = Key::derive(&m).expect("48 bytes");
    let standard = STANDARD.encode(m);
    assert!(standard.contains('+') || standard.contains('/'));
    for text in [
        standard.clone(),
        standard.trim_end_matches('=').to_owned(),
        URL_SAFE.encode(m),
        URL_SAFE_NO_PAD.encode(m),
        format!("{standard}\n"),
        format!("  {standard}  "),
    ] {
        assert_eq!(Key::from_base64(&text).expect("decodes"), expected, "{text:?}");
    }
    assert_ne!(Key::from_base64(&STANDARD.encode(&m[..47])).expect("decodes"), expected);
}

#[test]
fn generated_keys_are_random_and_printable() {
    assert_ne!(Key::generate(), Key::generate());
    let text = Key::generate_base64();
    assert_eq!(URL_SAFE_NO_PAD.decode(&text).expect("URL-safe base64").len(), 64);
    let a = Key::from_base64(&text).expect("reads back");
    let b = Key::from_base64(&text).expect("reads back");
    assert_eq!(a, b);
    assert_eq!(a.id(), b.id());
    assert_ne!(Key::from_base64(&Key::generate_base64()).expect("reads back"), a);
}

#[test]
fn key_ids_are_stable_short_and_distinct() {
    assert_eq!(key(1).id(), key(1).id());
    assert_ne!(key(1).id(), key(2).id());
    let id = key(1).id().to_string();
    assert_eq!(id.len(), 8);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(format!("{:?}", key(1).id()), format!("KeyId({id})"));
}

#[test]
fn keys_compare_by_material() {
    assert_eq!(key(1), key(1));
    assert_eq!(key(1), key(1).clone());
    assert_ne!(key(1), key(2));
    // The clone works, not just compares equal.
    let store = sealed(KeyRing::new(key(1).clone()));
    let value = sealed(KeyRing::new(key(1))).seal(NAME, &typical_record(), FIELDS).expect("fits");
    assert!(store.open(NAME, &value, FIELDS, now()).is_some());
}

#[test]
fn debug_output_shows_no_secrets() {
    let master = master(9);
    let key = Key::derive(&master).expect("64 bytes");
    let id = key.id().to_string();
    let ring = KeyRing::new(key.clone()).with_older(self::key(3));
    let outputs = [
        format!("{key:?}"),
        format!("{key:#?}"),
        format!("{ring:?}"),
        format!("{:?}", sealed(ring.clone())),
        format!("{:#?}", signed(ring.clone())),
    ];
    assert_eq!(outputs[0], format!("Key {{ id: {id}, .. }}"));
    assert_eq!(
        outputs[3],
        format!(
            "CookieStore {{ mode: Sealed, keys: KeyRing {{ primary: KeyId({id}), older: [KeyId({})] }}, format: V3, revocable: false }}",
            self::key(3).id()
        )
    );
    let mut secrets = vec![hex(&master), STANDARD.encode(master), URL_SAFE_NO_PAD.encode(master)];
    for chunk in key.material().chunks(8) {
        secrets.push(hex(chunk));
        secrets.push(STANDARD.encode(chunk)[..8].to_owned());
        secrets.push(format!("{:?}", &chunk[..4]).trim_end_matches(']').to_owned());
    }
    secrets.push(format!("{:?}", &master[..4]).trim_end_matches(']').to_owned());
    for output in &outputs {
        for secret in &secrets {
            assert!(!output.contains(secret.as_str()), "{output} contains {secret}");
        }
    }
}

#[test]
fn stores_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<CookieStore>();
    shareable::<KeyRing>();
    shareable::<Key>();
}

/// The record of the known-answer tests: small enough to check its encoding by hand.
fn kat_record() -> Record {
    Record {
        meta: Meta {
            // 0x018b_cfe5_6800
            created_at: Timestamp::from_millis(T0),
            // + 30 minutes = 0x018b_d000_df40
            idle_deadline: Some(Timestamp::from_millis(T0 + 30 * MINUTE)),
            absolute_deadline: None,
            remember_me: false,
            last_active: Timestamp::from_millis(T0),
            lifetime: None,
        },
        entries: vec![("user_id".into(), entry(vec![42]))],
    }
}

fn kat_key() -> Key {
    let master: [u8; 32] = std::array::from_fn(|i| i as u8);
    Key::derive(&master).expect("32 bytes")
}

#[test]
fn known_answer_payloads_and_key_id() {
    // Version 3: flags `idle` (0b00010) over 43 bits of T0; idle 30 minutes (30 << 2 | 2); the
    // tag of "user_id", length 1 << 1, the value 42.
    assert_eq!(hex(&payload_v3(&kat_record())), "118bcfe56800 7a 352e 02 2a".replace(' ', ""));
    // Version 2, postcard: created_at varint, Some + idle varint, None, false, last_active
    // varint, no lifetime (None), 1 entry: "user_id", [42], no expiry.
    assert_eq!(
        hex(&kat_record().to_bytes()),
        "80d095ffbc31\
         01c0be8380bd31\
         00\
         00\
         80d095ffbc31\
         00\
         01\
         07757365725f6964\
         012a\
         00"
    );
    // HKDF-SHA256(ikm = 00..1f, no salt, info = "session-kit cookie v1: key id"), first 4 bytes.
    assert_eq!(kat_key().id().to_string(), "32695cb1");
}

// The expected values of the known-answer tests were computed independently, by
// `scripts/cookie_kat.py`: HKDF and HMAC from Python's standard library, AES-SIV from OpenSSL
// through Python's `cryptography` (`AESSIV`), the payloads byte by byte.

#[test]
fn known_answer_sealed() {
    let store = sealed(KeyRing::new(kat_key()));
    let value = store.seal_with_nonce(NAME, &kat_record(), FIELDS, [0xa5]).expect("fits");
    assert_eq!(value, "MqXmvK03xMW4UADeABBFrhSSL37dI82CgEn3kNc");
    let bytes = decode(&value);
    // Version 3, sealed, the low 3 bits of 0x32; the nonce.
    assert_eq!(hex(&bytes[..2]), "32a5");
    assert_eq!(bytes.len(), 2 + 16 + payload_v3(&kat_record()).len(), "header, nonce, SIV, ciphertext");
    let opened = store.open(NAME, &value, FIELDS, now()).expect("opens");
    assert_eq!((opened.record, opened.stale_key, opened.stale_format), (kat_record(), false, false));
}

#[test]
fn known_answer_signed() {
    let store = signed(KeyRing::new(kat_key()));
    let value = store.seal_with_nonce(NAME, &kat_record(), FIELDS, [0]).expect("fits");
    assert_eq!(value, "OhGLz-VoAHo1LgIqu-ALdtS3NrqjSDeb33XkTA");
    let bytes = decode(&value);
    assert_eq!(bytes[0], 0x3a, "version 3, signed, the low 3 bits of 0x32");
    assert_eq!(bytes[1..bytes.len() - 16], payload_v3(&kat_record()), "the payload, in clear");
    assert_eq!(store.open(NAME, &value, FIELDS, now()).expect("opens").record, kat_record());
    // Signing needs no nonce: the value is the same each time.
    assert_eq!(store.seal(NAME, &kat_record(), FIELDS).expect("fits"), value);
}

/// Values of session-kit 0.2 (format version 2), pinned when it was current: they still open,
/// marked for re-sealing, and the test sealer reproduces them.
#[test]
fn known_answer_version_2_values_still_open() {
    let sealed_v2 =
        "ITJpXLEAAAGL0ADfQPDx8vP09fb3-Pn6-_z9_v9sLKkoVx2lId5V8Y1Ro-ZWyluuZYphASZSmL27yzGFpXGBm1zd0iU1UtJ5yCCNBPMDvg";
    let signed_v2 =
        "IjJpXLEAAAGL0ADfQIDQlf-8MQHAvoOAvTEAAIDQlf-8MQABB3VzZXJfaWQBKgD36O_vyTYhxXfRgq8fT1AvJ435hXKPL9dNw-sSPf7rgg";
    let nonce: [u8; 16] = std::array::from_fn(|i| 0xf0 | i as u8);
    for (store, value, nonce) in
        [(sealed(KeyRing::new(kat_key())), sealed_v2, nonce), (signed(KeyRing::new(kat_key())), signed_v2, [0; 16])]
    {
        assert_eq!(legacy::seal(store.mode(), &kat_key(), NAME, &kat_record(), &nonce).expect("fits"), value);
        let opened = store.open(NAME, value, FIELDS, now()).expect("a version 2 value opens");
        assert_eq!((&opened.record, opened.stale_key, opened.stale_format), (&kat_record(), false, true));
        assert!(opened.needs_reseal());
        // Re-sealed, it is version 3 and no longer stale.
        let resealed = store.seal(NAME, &opened.record, FIELDS).expect("fits");
        assert_eq!(decode(&resealed)[0] >> 4, 3);
        let reopened = store.open(NAME, &resealed, FIELDS, now()).expect("opens");
        assert!(!reopened.needs_reseal());
        assert_eq!(reopened.record, kat_record());
        // Expired, under another name or with one character changed, it does not open.
        assert!(store.open(NAME, value, FIELDS, Timestamp::from_millis(T0 + 30 * MINUTE)).is_none());
        assert!(store.open("other", value, FIELDS, now()).is_none());
        let mut changed = value.to_owned().into_bytes();
        changed[40] = if changed[40] == b'A' { b'B' } else { b'A' };
        assert!(store.open(NAME, &String::from_utf8_lossy(&changed), FIELDS, now()).is_none());
    }
}

/// Version 2 values of any record, from either key of a ring: they open with both marks right,
/// and every single bit flip or cut refuses them.
#[test]
fn version_2_values_open_and_refuse_tampering() {
    let record = typical_record();
    let ring = KeyRing::new(key(2)).with_older(key(1));
    for store in [sealed(ring.clone()), signed(ring.clone())] {
        for (key, stale_key) in [(key(2), false), (key(1), true)] {
            let value = legacy::seal(store.mode(), &key, NAME, &record, &[9; 16]).expect("fits");
            let opened = store.open(NAME, &value, FIELDS, now()).expect("opens");
            assert_eq!((&opened.record, opened.stale_key, opened.stale_format), (&record, stale_key, true));
            let bytes = decode(&value);
            for bit in 0..bytes.len() * 8 {
                let mut tampered = bytes.clone();
                tampered[bit / 8] ^= 1 << (bit % 8);
                assert!(store.open(NAME, &encode(&tampered), FIELDS, now()).is_none(), "bit {bit}");
            }
            for len in 0..bytes.len() {
                assert!(store.open(NAME, &encode(&bytes[..len]), FIELDS, now()).is_none(), "cut to {len}");
            }
        }
    }
}

/// A change to a byte string.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(Index, u8),
    Truncate(Index),
    Insert(Index, u8),
    Remove(Index),
    Replace(Index, u8),
}

impl Mutation {
    fn apply(&self, bytes: &mut Vec<u8>) {
        let len = bytes.len();
        match *self {
            Self::Flip(at, bit) if len > 0 => bytes[at.index(len)] ^= 1 << (bit % 8),
            Self::Truncate(at) if len > 0 => bytes.truncate(at.index(len)),
            Self::Insert(at, byte) => bytes.insert(at.index(len + 1), byte),
            Self::Remove(at) if len > 0 => {
                bytes.remove(at.index(len));
            }
            Self::Replace(at, byte) if len > 0 => bytes[at.index(len)] = byte,
            _ => {}
        }
    }
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), any::<u8>()).prop_map(|(at, bit)| Mutation::Flip(at, bit)),
        any::<Index>().prop_map(Mutation::Truncate),
        (any::<Index>(), any::<u8>()).prop_map(|(at, b)| Mutation::Insert(at, b)),
        any::<Index>().prop_map(Mutation::Remove),
        (any::<Index>(), any::<u8>()).prop_map(|(at, b)| Mutation::Replace(at, b)),
    ]
}

fn config() -> ProptestConfig {
    // No regression files: they would land outside this module; a failure prints its input.
    ProptestConfig { cases: 3_000, failure_persistence: None, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_text_never_opens(text in any::<String>(), b64 in "[A-Za-z0-9_-]{0,400}") {
        for store in stores(1) {
            prop_assert!(store.open(NAME, &text, FIELDS, now()).is_none());
            prop_assert!(store.open(NAME, &b64, FIELDS, now()).is_none());
        }
    }

    #[test]
    fn arbitrary_bytes_never_open(bytes in proptest::collection::vec(any::<u8>(), 0..700)) {
        for store in stores(1) {
            prop_assert!(store.open(NAME, &encode(&bytes), FIELDS, now()).is_none());
            prop_assert!(store.open(NAME, &String::from_utf8_lossy(&bytes), FIELDS, now()).is_none());
        }
    }

    /// Past the format, key and expiry checks, so the cryptography itself is what refuses.
    #[test]
    fn arbitrary_bodies_behind_a_valid_header_never_open(body in proptest::collection::vec(any::<u8>(), 0..400)) {
        for store in stores(1) {
            // Version 3: the header naming the key.
            let mut bytes = vec![header_v3(&store)];
            bytes.extend_from_slice(&body);
            prop_assert!(store.open(NAME, &encode(&bytes), FIELDS, now()).is_none());
            // Version 2: format, key id, an expiry that never comes.
            let mut bytes = vec![if store.mode() == Mode::Sealed { 0x21 } else { 0x22 }];
            bytes.extend_from_slice(&key(1).id().to_bytes());
            bytes.extend_from_slice(&u64::MAX.to_be_bytes());
            bytes.extend_from_slice(&body);
            prop_assert!(store.open(NAME, &encode(&bytes), FIELDS, now()).is_none());
        }
    }

    #[test]
    fn mutated_values_never_open(
        mutations in proptest::collection::vec(mutation(), 1..4),
        in_text in any::<bool>(),
    ) {
        let record = typical_record();
        for store in stores(1) {
            let value = store.seal(NAME, &record, FIELDS).expect("fits");
            let mutated = if in_text {
                let mut bytes = value.clone().into_bytes();
                mutations.iter().for_each(|m| m.apply(&mut bytes));
                String::from_utf8_lossy(&bytes).into_owned()
            } else {
                let mut bytes = decode(&value);
                mutations.iter().for_each(|m| m.apply(&mut bytes));
                encode(&bytes)
            };
            let opened = store.open(NAME, &mutated, FIELDS, now());
            if mutated == value {
                prop_assert_eq!(opened.map(|o| o.record), Some(record.clone()));
            } else {
                prop_assert!(opened.is_none(), "{:?} opened {}", store.mode(), mutated);
            }
        }
    }
}

/// A store asked for version 2 values makes them (for a rolling upgrade from session-kit 0.2,
/// which reads no other), opens both, and marks version 3 values for re-sealing in version 2;
/// a default store marks version 2 values for re-sealing in version 3.
#[test]
fn a_store_makes_the_format_it_is_asked_for_and_opens_both() {
    let record = typical_record();
    for (current, previous) in [
        (sealed(KeyRing::new(key(1))), sealed(KeyRing::new(key(1))).with_format(Format::V2)),
        (signed(KeyRing::new(key(1))), signed(KeyRing::new(key(1))).with_format(Format::V2)),
    ] {
        assert_eq!((current.format(), previous.format()), (Format::V3, Format::V2));
        let v2 = previous.seal(NAME, &record, FIELDS).expect("fits");
        let v3 = current.seal(NAME, &record, FIELDS).expect("fits");
        assert_eq!((decode(&v2)[0] >> 4, decode(&v3)[0] >> 4), (2, 3));
        // Exactly the values session-kit 0.2 made.
        let nonce =
            if current.mode() == Mode::Sealed { decode(&v2)[13..29].try_into().expect("16 bytes") } else { [0; 16] };
        assert_eq!(legacy::seal(current.mode(), &key(1), NAME, &record, &nonce).expect("fits"), v2);
        for (store, value, stale) in
            [(&previous, &v2, false), (&previous, &v3, true), (&current, &v2, true), (&current, &v3, false)]
        {
            let opened = store.open(NAME, value, FIELDS, now()).expect("opens");
            assert_eq!((&opened.record, opened.stale_format, opened.needs_reseal()), (&record, stale, stale));
        }
        // Too large is too large in either format.
        assert!(matches!(previous.seal(NAME, &record_of_len(4_000), FIELDS), Err(Error::CookieTooLarge { .. })));
    }
}
