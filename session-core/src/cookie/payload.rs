//! The record inside a version 3 cookie value: the metadata in a few bytes, each entry under a
//! 2-byte tag in place of its key.
//!
//! ```text
//! payload   = meta entry*                       (entries run to the end; no count)
//! meta      = word [wide] [created] [idle] [absolute] [lifetime]
//! word      = 6 bytes, big-endian: 5 flag bits, then last_active in ms since the epoch (43 bits;
//!             all ones: the time did not fit and `wide`, a varint of it, follows)
//! created   = delta: last_active - created_at          if the flag `created` is set
//! idle      = delta: idle_deadline - last_active       if the flag `idle` is set
//! absolute  = delta: absolute_deadline - created_at    if the flag `absolute` is set
//! lifetime  = varint seconds, varint nanoseconds       if the flag `lifetime` is set
//! entry     = tag (2 bytes, big-endian) [key] varint(len << 1 | has_expiry) [expiry] value (len)
//! key       = varint length, UTF-8 bytes               only for tag 0: the key in full
//! expiry    = delta: expires_at - last_active          if has_expiry
//! delta     = varint(v << 2 | unit): unit 3, 2, 1 = v whole hours, minutes, seconds (v > 0);
//!             unit 0 = v is the difference in ms, zigzag-signed
//! ```
//!
//! Flags, lowest bit first: remember-me, idle deadline, absolute deadline, lifetime, created
//! before its last activity. Varints are LEB128. Every time keeps its millisecond (the encoding
//! is lossless: the record read back is the record written); the deltas are what makes them
//! small, since a deadline is a timeout after an activity and timeouts are round durations (24
//! hours is one byte).
//!
//! The tag of an entry is [`FieldSpec::tag`] of its key, a 16-bit hash. Reading, a tag names the
//! field of the session type with that tag; a tag the type does not know files the entry under
//! a placeholder key that names the tag (see `crate::data::tag_key`), so that saving writes it
//! back unchanged: a newer deploy's field survives an older one. An entry whose tag is shared,
//! with another entry of the record or by two fields of the session type (which the derive
//! refuses, but a hand-written `SessionData` may have), is written with tag 0 and its key in
//! full, so no tag is ever ambiguous to the binary that wrote it.

use std::time::Duration;

use crate::data::{field_tag, tag_key, FieldSpec};
use crate::record::{Entry, Meta, Record};
use crate::time::Timestamp;

const REMEMBER_ME: u8 = 1 << 0;
const HAS_IDLE: u8 = 1 << 1;
const HAS_ABSOLUTE: u8 = 1 << 2;
const HAS_LIFETIME: u8 = 1 << 3;
const CREATED_BEFORE: u8 = 1 << 4;

const WORD_LEN: usize = 6;
const TIME_BITS: u32 = 43;
/// The time field's value when the time follows as a varint (from the year 2248 on).
const WIDE_TIME: u64 = (1 << TIME_BITS) - 1;

/// The tag of an entry written with its key in full.
const LONG_FORM: u16 = 0;

const SECOND: i128 = 1_000;
const MINUTE: i128 = 60 * SECOND;
const HOUR: i128 = 60 * MINUTE;

/// An upper bound of the bytes [`encode`] appends for `record`, for sizing buffers.
pub(super) fn size_hint(record: &Record) -> usize {
    let entries: usize = record.entries.iter().map(|(key, entry)| 2 + key.len() + 3 + 20 + entry.value.len()).sum();
    WORD_LEN + 5 * 20 + entries
}

/// Appends the payload of `record` to `out`; `fields` are the session type's.
pub(super) fn encode(record: &Record, fields: &[FieldSpec], out: &mut Vec<u8>) {
    let meta = &record.meta;
    let last_active = meta.last_active;
    let mut flags = 0;
    for (set, flag) in [
        (meta.remember_me, REMEMBER_ME),
        (meta.idle_deadline.is_some(), HAS_IDLE),
        (meta.absolute_deadline.is_some(), HAS_ABSOLUTE),
        (meta.lifetime.is_some(), HAS_LIFETIME),
        (meta.created_at != last_active, CREATED_BEFORE),
    ] {
        if set {
            flags |= flag;
        }
    }
    let time = last_active.as_millis().min(WIDE_TIME);
    out.extend_from_slice(&(u64::from(flags) << TIME_BITS | time).to_be_bytes()[8 - WORD_LEN..]);
    if time == WIDE_TIME {
        put_varint(out, last_active.as_millis().into());
    }
    if meta.created_at != last_active {
        put_delta(out, delta(meta.created_at, last_active));
    }
    if let Some(idle) = meta.idle_deadline {
        put_delta(out, delta(last_active, idle));
    }
    if let Some(absolute) = meta.absolute_deadline {
        put_delta(out, delta(meta.created_at, absolute));
    }
    if let Some(lifetime) = meta.lifetime {
        put_varint(out, lifetime.as_secs().into());
        put_varint(out, lifetime.subsec_nanos().into());
    }

    // On the stack for any session of up to 32 stored fields.
    let (mut stack, mut heap) = ([0; 32], Vec::new());
    let tags = if record.entries.len() <= stack.len() {
        &mut stack[..record.entries.len()]
    } else {
        heap.resize(record.entries.len(), 0);
        &mut heap[..]
    };
    for (tag, (key, _)) in tags.iter_mut().zip(&record.entries) {
        *tag = fields.iter().find(|f| f.key == key).map_or_else(|| field_tag(key), FieldSpec::tag);
    }
    let tags = &*tags;
    for (index, (key, entry)) in record.entries.iter().enumerate() {
        let tag = tags[index];
        let shared = tags.iter().enumerate().any(|(other, &t)| other != index && t == tag) || ambiguous(tag, fields);
        if shared {
            out.extend_from_slice(&LONG_FORM.to_be_bytes());
            put_varint(out, key.len() as u128);
            out.extend_from_slice(key.as_bytes());
        } else {
            out.extend_from_slice(&tag.to_be_bytes());
        }
        put_varint(out, (entry.value.len() as u128) << 1 | u128::from(entry.expires_at.is_some()));
        if let Some(at) = entry.expires_at {
            put_delta(out, delta(last_active, at));
        }
        out.extend_from_slice(&entry.value);
    }
}

/// Reads a payload written by [`encode`]; `None` if the bytes are not one.
pub(super) fn decode(mut bytes: &[u8], fields: &[FieldSpec]) -> Option<Record> {
    let bytes = &mut bytes;
    let word = take(bytes, WORD_LEN)?.iter().fold(0u64, |word, &b| word << 8 | u64::from(b));
    let flags = (word >> TIME_BITS) as u8;
    let has = |flag: u8| flags & flag != 0;
    let time = word & WIDE_TIME;
    let last_active =
        Timestamp::from_millis(if time == WIDE_TIME { u64::try_from(take_varint(bytes)?).ok()? } else { time });
    let created_at = if has(CREATED_BEFORE) { shift(last_active, -take_delta(bytes)?)? } else { last_active };
    let idle_deadline = if has(HAS_IDLE) { Some(shift(last_active, take_delta(bytes)?)?) } else { None };
    let absolute_deadline = if has(HAS_ABSOLUTE) { Some(shift(created_at, take_delta(bytes)?)?) } else { None };
    let lifetime = if has(HAS_LIFETIME) {
        let secs = u64::try_from(take_varint(bytes)?).ok()?;
        let nanos = u32::try_from(take_varint(bytes)?).ok().filter(|&n| n < 1_000_000_000)?;
        Some(Duration::new(secs, nanos))
    } else {
        None
    };
    let meta =
        Meta { created_at, idle_deadline, absolute_deadline, remember_me: has(REMEMBER_ME), last_active, lifetime };

    let mut entries = Vec::with_capacity(fields.len());
    while !bytes.is_empty() {
        let tag = u16::from_be_bytes(take(bytes, 2)?.try_into().ok()?);
        let key = if tag == LONG_FORM {
            let len = take_len(bytes)?;
            String::from_utf8(take(bytes, len)?.to_vec()).ok()?
        } else {
            known(tag, fields).map_or_else(|| tag_key(tag), str::to_owned)
        };
        let head = take_varint(bytes)?;
        let len = usize::try_from(head >> 1).ok()?;
        let expires_at = if head & 1 == 1 { Some(shift(last_active, take_delta(bytes)?)?) } else { None };
        let value = take(bytes, len)?.to_vec();
        entries.push((key, Entry { value, expires_at }));
    }
    Some(Record { meta, entries })
}

/// The key of the one field with `tag`, if exactly one has it.
fn known(tag: u16, fields: &[FieldSpec]) -> Option<&'static str> {
    let mut with_tag = fields.iter().filter(|f| f.tag() == tag);
    let field = with_tag.next()?;
    with_tag.all(|other| other.key == field.key).then_some(field.key)
}

/// Whether two different fields share `tag`.
fn ambiguous(tag: u16, fields: &[FieldSpec]) -> bool {
    let mut with_tag = fields.iter().filter(|f| f.tag() == tag);
    with_tag.next().is_some_and(|field| with_tag.any(|other| other.key != field.key))
}

/// `to - from` in ms; any two timestamps have one (up to ±2^64).
fn delta(from: Timestamp, to: Timestamp) -> i128 {
    i128::from(to.as_millis()) - i128::from(from.as_millis())
}

/// `from` moved by `delta` ms, if that is a timestamp.
fn shift(from: Timestamp, delta: i128) -> Option<Timestamp> {
    let millis = i128::from(from.as_millis()).checked_add(delta)?;
    u64::try_from(millis).ok().map(Timestamp::from_millis)
}

fn put_delta(out: &mut Vec<u8>, delta: i128) {
    if delta > 0 {
        for (unit, size) in [(3, HOUR), (2, MINUTE), (1, SECOND)] {
            if delta % size == 0 {
                // Positive and at most 2^64 / 1000 here.
                put_varint(out, (delta / size).unsigned_abs() << 2 | unit);
                return;
            }
        }
    }
    let zigzag = ((delta << 1) ^ (delta >> 127)).unsigned_abs();
    put_varint(out, zigzag << 2);
}

fn take_delta(bytes: &mut &[u8]) -> Option<i128> {
    let code = take_varint(bytes)?;
    let value = code >> 2;
    let size = match code & 0b11 {
        0 => {
            let magnitude = i128::try_from(value >> 1).ok()?;
            return Some(if value & 1 == 1 { -magnitude - 1 } else { magnitude });
        }
        1 => SECOND,
        2 => MINUTE,
        _ => HOUR,
    };
    i128::try_from(value).ok()?.checked_mul(size)
}

/// LEB128: 7 bits a byte, lowest first, the high bit set on all but the last byte.
fn put_varint(out: &mut Vec<u8>, mut value: u128) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn take_varint(bytes: &mut &[u8]) -> Option<u128> {
    let mut value = 0u128;
    for shift in (0..128).step_by(7) {
        let (&byte, rest) = bytes.split_first()?;
        *bytes = rest;
        let bits = u128::from(byte & 0x7f);
        // The last of 19 bytes holds the 2 top bits of 128.
        if shift == 126 && bits > 0b11 {
            return None;
        }
        value |= bits << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn take_len(bytes: &mut &[u8]) -> Option<usize> {
    usize::try_from(take_varint(bytes)?).ok()
}

fn take<'a>(bytes: &mut &'a [u8], len: usize) -> Option<&'a [u8]> {
    if bytes.len() < len {
        return None;
    }
    let (taken, rest) = bytes.split_at(len);
    *bytes = rest;
    Some(taken)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const T0: u64 = 1_700_000_000_000;

    fn entry(value: &[u8]) -> Entry {
        Entry { value: value.to_vec(), expires_at: None }
    }

    fn encoded(record: &Record, fields: &[FieldSpec]) -> Vec<u8> {
        let mut out = Vec::new();
        encode(record, fields, &mut out);
        assert!(out.len() <= size_hint(record));
        out
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    const FIELDS: &[FieldSpec] = &[FieldSpec::plain("user_id"), FieldSpec::flash("notice")];

    #[test]
    fn a_typical_record_in_few_bytes() {
        let at = Timestamp::from_millis(T0);
        let meta = Meta { idle_deadline: Some(at.after(Duration::from_secs(24 * 3600))), ..Meta::new(at) };
        let record = Record { meta, entries: vec![("user_id".into(), entry(&[42]))] };
        let bytes = encoded(&record, FIELDS);
        // Flags `idle` (0b00010) over 43 bits of time; 24 hours (24 << 2 | 3); tag, len 1 << 1, 42.
        assert_eq!(hex(&bytes), format!("{:012x}63{:04x}022a", 0b00010u64 << 43 | T0, field_tag("user_id")));
        assert_eq!(decode(&bytes, FIELDS), Some(record));
    }

    #[test]
    fn unknown_tags_come_back_under_keys_that_keep_them() {
        let record = Record {
            meta: Meta::new(Timestamp::from_millis(T0)),
            entries: vec![("user_id".into(), entry(&[1])), ("theme".into(), entry(b"dark"))],
        };
        let bytes = encoded(&record, &[]);
        // Read by a binary that knows `user_id` only: `theme` keeps its bytes under its tag.
        let read = decode(&bytes, FIELDS).expect("decodes");
        let placeholder = tag_key(field_tag("theme"));
        assert_eq!(read.entries, [("user_id".into(), entry(&[1])), (placeholder, entry(b"dark"))]);
        // Written back, the bytes are the same, and a binary that knows `theme` reads it.
        assert_eq!(encoded(&read, FIELDS), bytes);
        let newer = [FieldSpec::plain("user_id"), FieldSpec::plain("theme")];
        assert_eq!(decode(&bytes, &newer), Some(record));
    }

    #[test]
    fn shared_tags_are_written_with_their_keys() {
        // Two keys with one tag (found by search; the derive would refuse such a pair).
        let (a, b) = ("pw", "tp");
        assert_eq!(field_tag(a), field_tag(b));
        let record = Record {
            meta: Meta::new(Timestamp::from_millis(T0)),
            entries: vec![(a.into(), entry(&[1])), (b.into(), entry(&[2])), ("user_id".into(), entry(&[3]))],
        };
        let bytes = encoded(&record, &[]);
        // Tag 0, the key's length, the key.
        let long_form = |key: &str| [&[0, 0, key.len() as u8][..], key.as_bytes()].concat();
        assert!(contains(&bytes, &long_form(a)) && contains(&bytes, &long_form(b)));
        assert!(!contains(&bytes, b"user_id"), "an unshared tag stays short");
        assert!(contains(&bytes, &field_tag("user_id").to_be_bytes()));
        assert_eq!(decode(&bytes, &[]).map(|r| r.entries.len()), Some(3));
        let fields = [FieldSpec::plain(a), FieldSpec::plain(b), FieldSpec::plain("user_id")];
        assert_eq!(decode(&bytes, &fields), Some(record.clone()));

        // A hand-written session type with both: each is written in full even alone.
        let fields = [FieldSpec::plain(a), FieldSpec::plain(b)];
        let alone = Record { meta: record.meta, entries: vec![(b.into(), entry(&[2]))] };
        let bytes = encoded(&alone, &fields);
        assert!(contains(&bytes, &long_form(b)));
        assert_eq!(decode(&bytes, &fields), Some(alone));
    }

    fn timestamp() -> impl Strategy<Value = Timestamp> {
        prop_oneof![
            Just(0u64),
            Just(u64::MAX),
            Just(WIDE_TIME - 1),
            Just(WIDE_TIME),
            T0 - 10_000_000..T0 + 10_000_000,
            any::<u64>()
        ]
        .prop_map(Timestamp::from_millis)
    }

    fn meta() -> impl Strategy<Value = Meta> {
        let duration = prop_oneof![Just(Duration::ZERO), Just(Duration::MAX), any::<Duration>()];
        (timestamp(), timestamp(), proptest::option::of(timestamp()), proptest::option::of(timestamp()))
            .prop_flat_map(move |times| (Just(times), any::<bool>(), proptest::option::of(duration.clone())))
            .prop_map(|((created_at, last_active, idle_deadline, absolute_deadline), remember_me, lifetime)| Meta {
                created_at,
                idle_deadline,
                absolute_deadline,
                remember_me,
                last_active,
                lifetime,
            })
    }

    fn record() -> impl Strategy<Value = Record> {
        let key = prop_oneof![Just("user_id".to_owned()), Just("notice".to_owned()), ".{0,12}", Just(tag_key(7))];
        let entry = (proptest::collection::vec(any::<u8>(), 0..200), proptest::option::of(timestamp()))
            .prop_map(|(value, expires_at)| Entry { value, expires_at });
        (meta(), proptest::collection::vec((key, entry), 0..6)).prop_map(|(meta, mut entries)| {
            // A record holds each key once.
            let mut seen = std::collections::HashSet::new();
            entries.retain(|(k, _)| seen.insert(k.clone()));
            Record { meta, entries }
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2_000, failure_persistence: None, ..ProptestConfig::default() })]

        /// Lossless for any record: every time, however far apart, and any keys.
        #[test]
        fn any_record_round_trips(record in record()) {
            // Read by the session type that has exactly the record's keys (leaked: a test's
            // stand-in for `&'static` field keys).
            let fields: Vec<FieldSpec> =
                record.entries.iter().map(|(key, _)| FieldSpec::plain(Box::leak(key.clone().into_boxed_str()))).collect();
            let known = decode(&encoded(&record, &fields), &fields);
            prop_assert_eq!(known.as_ref(), Some(&record));
            // Without the fields, the keys it does not know come back as placeholders that
            // encode to the same bytes.
            let bytes = encoded(&record, FIELDS);
            let blind = decode(&bytes, &[]).expect("decodes");
            prop_assert_eq!(encoded(&blind, FIELDS), bytes);
        }

        /// Any bytes: a record or `None`, never a panic.
        #[test]
        fn any_bytes_decode_or_not(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = decode(&bytes, FIELDS);
        }

        #[test]
        fn deltas_and_varints_round_trip(delta in prop_oneof![any::<i64>().prop_map(i128::from), Just(i128::from(u64::MAX)), Just(-i128::from(u64::MAX))], value in any::<u128>()) {
            let mut out = Vec::new();
            put_delta(&mut out, delta);
            put_varint(&mut out, value);
            let mut bytes = out.as_slice();
            prop_assert_eq!(take_delta(&mut bytes), Some(delta));
            prop_assert_eq!(take_varint(&mut bytes), Some(value));
            prop_assert!(bytes.is_empty());
        }
    }

    #[test]
    fn round_durations_are_short() {
        for (ms, len) in [(24 * 3_600_000, 1), (30 * 60_000, 1), (30 * 86_400_000, 2), (1_500, 2), (0, 1), (-1, 1)] {
            let mut out = Vec::new();
            put_delta(&mut out, ms);
            assert_eq!(out.len(), len, "{ms} ms");
        }
    }

    #[test]
    fn overlong_varints_are_refused() {
        assert_eq!(take_varint(&mut &[0xff; 19][..]), None);
        assert_eq!(take_varint(&mut &[0x80; 30][..]), None);
        let mut max = vec![0xff; 18];
        max.push(0x03);
        assert_eq!(take_varint(&mut max.as_slice()), Some(u128::MAX));
        max[18] = 0x04;
        assert_eq!(take_varint(&mut max.as_slice()), None);
    }
}
