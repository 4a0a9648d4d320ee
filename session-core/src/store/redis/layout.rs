//! How a session is laid out in its Redis hash: the field names, a record or a change turned
//! into script arguments, and a `HGETALL` reply read straight back into a [`Record`].
//!
//! Fields: `m` the [`Meta`] (postcard); `x` the deadline in Unix milliseconds as decimal text,
//! absent without one (the scripts read it to tell live from expired); `w` the id of the call
//! that created the hash; then the entries, in one of two layouts (see [`RedisLayout`]):
//! - packed (0.3's default): `d` holds every entry the session was created with, as one
//!   postcard list of (key, [`Entry`]) pairs, written once by `create` and never rewritten;
//!   changes after that go to `e:{entry key}` fields, which override `d`'s entry of that key,
//!   an empty `e:` field meaning "removed" (a field cannot be taken out of `d` in place);
//! - per field (0.1 and 0.2, and 0.3 with [`RedisLayout::PerField`]): no `d`, one
//!   `e:{entry key}` field per entry.
//!
//! One reader reads both, so a store of either layout reads and changes sessions of the other.
//! A tombstone (a hash a cluster rename moved away) has only `t`.

use redis::Value;
use serde::Serialize;

use crate::error::StoreError;
use crate::record::{Entry, Meta, Record};
use crate::time::Timestamp;

/// Hash field of the metadata.
pub(super) const META: &str = "m";
/// Hash field of the record's deadline, read by the scripts.
pub(super) const EXPIRES: &str = "x";
/// Hash field of a tombstone (written by `release.lua`).
pub(super) const TOMBSTONE: &str = "t";
/// Hash field of the entries a packed record was created with.
const PACKED: &str = "d";
/// Prefix of entry fields, so entry keys never clash with `m`, `x`, `w`, `d` and `t`.
const ENTRY: &str = "e:";

/// How a [`RedisStore`](super::RedisStore) lays out the fields of the sessions it creates;
/// set with [`RedisStoreBuilder::layout`](super::RedisStoreBuilder::layout).
///
/// Every layout is read and changed alike by session-kit 0.3 and later; only what `create`
/// writes differs. A change always writes just the fields it changes, whatever the layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum RedisLayout {
    /// The fields a session is created with go into one hash field, and each later change into
    /// a field of its own: a load reads a handful of hash fields however many fields the
    /// session has (a 50-field session: 5 reply elements where one field each gives 101).
    /// The cost: a field changed since creation is stored twice (its packed value stays), so
    /// a session whose every field changed takes up to twice its size in Redis until it ends.
    #[default]
    Packed,
    /// One hash field per session field, the layout of session-kit 0.1 and 0.2, which read no
    /// other: for the first step of a rolling upgrade from 0.2, while instances of 0.2 still
    /// serve requests (they would see the fields of a packed session as empty).
    PerField,
}

/// Deadlines further out than this get no native TTL (Redis refuses absurdly large expiry
/// times); the record still expires at its deadline for `load`.
const LONGEST_TTL_MS: u64 = 10 * 365 * 24 * 3600 * 1000;

/// The scripts' TTL argument for a record ending at `deadline`, as the caller sees it at
/// `now`: milliseconds left (at least 1), or `p` for none. Taken from the caller's clock, so
/// Redis never expires a record before the app would.
pub(super) fn ttl_arg(deadline: Option<Timestamp>, now: Timestamp) -> String {
    match deadline {
        Some(at) => {
            let left = at.as_millis().saturating_sub(now.as_millis()).max(1);
            if left > LONGEST_TTL_MS {
                "p".to_owned()
            } else {
                left.to_string()
            }
        }
        None => "p".to_owned(),
    }
}

pub(super) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    postcard::to_allocvec(value).map_err(super::backend)
}

fn decode_exact<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8]) -> Option<T> {
    match postcard::take_from_bytes::<T>(bytes) {
        Ok((value, [])) => Some(value),
        _ => None,
    }
}

/// Pushes the fields `m` and `x` for `meta` to `pairs`, or `x` to `removals` when it has no
/// deadline.
pub(super) fn meta_fields(
    meta: &Meta,
    pairs: &mut Vec<Vec<u8>>,
    removals: &mut Vec<Vec<u8>>,
) -> Result<(), StoreError> {
    pairs.push(META.into());
    pairs.push(encode(meta)?);
    match meta.expires_at() {
        Some(at) => {
            pairs.push(EXPIRES.into());
            pairs.push(at.as_millis().to_string().into_bytes());
        }
        None => removals.push(EXPIRES.into()),
    }
    Ok(())
}

/// The field/value pairs of a new hash holding `record` (all but `w`, which `create.lua`
/// adds): a new record has no `x` to remove, as the script deletes the old hash first.
pub(super) fn record_fields(record: &Record, layout: RedisLayout) -> Result<Vec<Vec<u8>>, StoreError> {
    let mut pairs = Vec::with_capacity(6 + 2 * record.entries.len());
    meta_fields(&record.meta, &mut pairs, &mut Vec::new())?;
    match layout {
        // A record without entries needs no `d`: the empty list and no list read alike.
        RedisLayout::Packed if !record.entries.is_empty() => {
            pairs.push(PACKED.into());
            pairs.push(encode(&record.entries)?);
        }
        _ => {
            for (k, entry) in &record.entries {
                pairs.push(entry_field(k));
                pairs.push(encode(entry)?);
            }
        }
    }
    Ok(pairs)
}

/// The hash field of the entry `key`.
pub(super) fn entry_field(key: &str) -> Vec<u8> {
    let mut field = Vec::with_capacity(ENTRY.len() + key.len());
    field.extend_from_slice(ENTRY.as_bytes());
    field.extend_from_slice(key.as_bytes());
    field
}

/// The deadline a snapshot's field/value pairs hold in `x`, for the TTL of a copy.
#[cfg(feature = "redis-cluster")]
pub(super) fn deadline_in(pairs: &[Vec<u8>]) -> Option<Timestamp> {
    pairs
        .chunks_exact(2)
        .find(|pair| pair[0] == EXPIRES.as_bytes())
        .and_then(|pair| std::str::from_utf8(&pair[1]).ok()?.parse().ok())
        .map(Timestamp::from_millis)
}

/// Reads a `HGETALL` reply (an array of fields and values under RESP2, a map under RESP3)
/// without copying it into maps first: `Ok(None)` for no session (no key, or a tombstone),
/// `Err` naming what is wrong with a corrupt one.
pub(super) fn decode_reply(reply: &Value) -> Result<Option<Record>, &'static str> {
    let mut pairs: Vec<(&[u8], &[u8])> = Vec::new();
    fn bulk(v: &Value) -> Result<&[u8], &'static str> {
        match v {
            Value::BulkString(b) => Ok(b.as_slice()),
            _ => Err("a field or value is not a string"),
        }
    }
    match reply {
        Value::Array(items) => {
            for pair in items.chunks_exact(2) {
                pairs.push((bulk(&pair[0])?, bulk(&pair[1])?));
            }
        }
        Value::Map(items) => {
            for (field, value) in items {
                pairs.push((bulk(field)?, bulk(value)?));
            }
        }
        Value::Nil => return Ok(None),
        _ => return Err("not a hash"),
    }
    decode_pairs(&pairs)
}

/// A session from its hash's field/value pairs, in any order: the entries of `d` first, then
/// each `e:` field overriding (or, empty, removing) the entry of its key.
fn decode_pairs(pairs: &[(&[u8], &[u8])]) -> Result<Option<Record>, &'static str> {
    if pairs.is_empty() {
        return Ok(None);
    }
    let mut meta = None;
    let mut tombstone = false;
    let mut packed: Option<Vec<(String, Entry)>> = None;
    let mut fields = Vec::with_capacity(pairs.len());
    for &(field, value) in pairs {
        if let Some(key) = field.strip_prefix(ENTRY.as_bytes()) {
            fields.push((key, value));
        } else if field == META.as_bytes() {
            meta = Some(decode_exact::<Meta>(value).ok_or("undecodable metadata")?);
        } else if field == PACKED.as_bytes() {
            packed = Some(decode_exact(value).ok_or("undecodable packed entries")?);
        } else if field == TOMBSTONE.as_bytes() {
            tombstone = true;
        }
    }
    let has_packed = packed.is_some();
    let mut entries = packed.unwrap_or_default();
    entries.reserve(fields.len());
    for (key, value) in fields {
        let key = std::str::from_utf8(key).map_err(|_| "entry key is not UTF-8")?;
        // Without `d`, every key is new (hash fields are unique): no search.
        let at = if has_packed { entries.iter().position(|(k, _)| k == key) } else { None };
        if value.is_empty() {
            // Removed from `d`; a removal marker with nothing under its key is no entry.
            if let Some(at) = at {
                entries.remove(at);
            }
            continue;
        }
        let entry: Entry = decode_exact(value).ok_or("undecodable entry")?;
        match at {
            Some(at) => entries[at].1 = entry,
            None => entries.push((key.to_owned(), entry)),
        }
    }
    match meta {
        Some(meta) => Ok(Some(Record { meta, entries })),
        // A tombstone (the session moved away by a cluster rename) holds no session.
        None if tombstone && entries.is_empty() => Ok(None),
        None => Err("no metadata field"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(bytes: &[u8]) -> Value {
        Value::BulkString(bytes.to_vec())
    }

    fn sample() -> Record {
        let now = Timestamp::from_millis(1_700_000_000_000);
        let mut meta = Meta::new(now);
        meta.idle_deadline = Some(now.after(std::time::Duration::from_secs(60)));
        let mut record = Record::new(meta);
        record.entries.push(("user".to_owned(), Entry { value: b"ada".to_vec(), expires_at: None }));
        record.entries.push(("otp".to_owned(), Entry { value: vec![0, 255], expires_at: Some(now) }));
        record
    }

    /// The reply HGETALL gives for `record`, its fields in the given order.
    fn reply_of(record: &Record, meta_last: bool) -> Vec<Value> {
        let mut pairs = Vec::new();
        meta_fields(&record.meta, &mut pairs, &mut Vec::new()).unwrap();
        pairs.push(b"w".to_vec());
        pairs.push(b"0123456789abcdef".to_vec());
        let mut entries = Vec::new();
        for (k, e) in &record.entries {
            entries.push(entry_field(k));
            entries.push(encode(e).unwrap());
        }
        if meta_last {
            entries.extend(pairs);
            pairs = entries;
        } else {
            pairs.extend(entries);
        }
        pairs.iter().map(|b| bulk(b)).collect()
    }

    #[test]
    fn a_reply_reads_back_in_any_field_order_and_either_protocol() {
        let record = sample();
        for meta_last in [false, true] {
            let items = reply_of(&record, meta_last);
            assert_eq!(decode_reply(&Value::Array(items.clone())), Ok(Some(record.clone())));
            let mut map = Vec::new();
            let mut items = items.into_iter();
            while let (Some(f), Some(v)) = (items.next(), items.next()) {
                map.push((f, v));
            }
            assert_eq!(decode_reply(&Value::Map(map)), Ok(Some(record.clone())));
        }
    }

    #[test]
    fn no_key_and_a_tombstone_are_no_session_and_damage_is_named() {
        assert_eq!(decode_reply(&Value::Array(Vec::new())), Ok(None));
        assert_eq!(decode_reply(&Value::Array(vec![bulk(b"t"), bulk(b"0123")])), Ok(None));
        assert_eq!(decode_reply(&Value::Array(vec![bulk(b"e:a"), bulk(b"\x01a\x00")])), Err("no metadata field"));
        assert_eq!(decode_reply(&Value::Array(vec![bulk(b"m"), bulk(b"\xff")])), Err("undecodable metadata"));
        let mut items = reply_of(&sample(), false);
        items.push(bulk(b"e:\xff"));
        items.push(bulk(b"\x00\x00"));
        assert_eq!(decode_reply(&Value::Array(items)), Err("entry key is not UTF-8"));
        assert_eq!(decode_reply(&Value::Int(3)), Err("not a hash"));
    }

    fn array(pairs: &[Vec<u8>]) -> Value {
        Value::Array(pairs.iter().map(|b| bulk(b)).collect())
    }

    #[test]
    fn both_layouts_write_what_the_reader_reads_back() {
        let record = sample();
        for layout in [RedisLayout::Packed, RedisLayout::PerField] {
            let pairs = record_fields(&record, layout).unwrap();
            let packed = pairs.iter().any(|f| f == PACKED.as_bytes());
            assert_eq!(packed, layout == RedisLayout::Packed);
            assert_eq!(decode_reply(&array(&pairs)), Ok(Some(record.clone())), "{layout:?}");
        }
        // No entries, no `d`: the record reads back all the same.
        let empty = Record::new(sample().meta);
        let pairs = record_fields(&empty, RedisLayout::Packed).unwrap();
        assert!(!pairs.iter().any(|f| f == PACKED.as_bytes()));
        assert_eq!(decode_reply(&array(&pairs)), Ok(Some(empty)));
    }

    #[test]
    fn entry_fields_override_the_packed_ones_and_an_empty_one_removes_its_key() {
        let record = sample();
        let mut pairs = record_fields(&record, RedisLayout::Packed).unwrap();
        let new_user = Entry { value: b"bob".to_vec(), expires_at: None };
        let added = Entry { value: b"dark".to_vec(), expires_at: None };
        // Put the overrides first too: Redis lists a hash's fields in its own order.
        let mut overrides = vec![
            entry_field("user"),
            encode(&new_user).unwrap(),
            entry_field("otp"),
            Vec::new(),
            entry_field("theme"),
            encode(&added).unwrap(),
            // A marker for a key `d` never had (the script's key search matched a value).
            entry_field("ghost"),
            Vec::new(),
        ];
        overrides.append(&mut pairs);
        let mut expected = record.clone();
        expected.entries = vec![("user".to_owned(), new_user), ("theme".to_owned(), added)];
        assert_eq!(decode_reply(&array(&overrides)), Ok(Some(expected)));

        // Without `d`, a marker is skipped and every other field is an entry.
        let mut per_field = record_fields(&record, RedisLayout::PerField).unwrap();
        per_field.extend([entry_field("ghost"), Vec::new()]);
        assert_eq!(decode_reply(&array(&per_field)), Ok(Some(record)));
    }

    #[test]
    fn damaged_packed_entries_are_named() {
        let mut pairs = record_fields(&sample(), RedisLayout::PerField).unwrap();
        pairs.extend([PACKED.as_bytes().to_vec(), vec![0xff, 0xff]]);
        assert_eq!(decode_reply(&array(&pairs)), Err("undecodable packed entries"));
    }

    #[test]
    fn the_ttl_follows_the_callers_clock_and_is_never_zero() {
        let now = Timestamp::from_millis(1_000);
        assert_eq!(ttl_arg(None, now), "p");
        assert_eq!(ttl_arg(Some(Timestamp::from_millis(3_500)), now), "2500");
        assert_eq!(ttl_arg(Some(Timestamp::from_millis(10)), now), "1");
        assert_eq!(ttl_arg(Some(Timestamp::from_millis(u64::MAX)), now), "p");
    }
}
