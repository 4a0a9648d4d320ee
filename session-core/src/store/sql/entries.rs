//! The `entries` column: a session's fields as one JSON object, which every dialect can merge
//! a change into inside an `UPDATE` (see the module docs of `sql`).
//!
//! Each field is a member named by its key. A field without a deadline is its encoded value
//! as a string (`"\u{10c}Ada Lovelace"`); one with a deadline is that string and the deadline
//! in milliseconds since the epoch (`["\u{101}", 1700000600000]`). A change is a *patch* of the
//! same shape in which a removed field is `null` (RFC 7396; PostgreSQL takes the keys to remove
//! apart instead).
//!
//! # Bytes as text
//!
//! JSON carries text, and a value is bytes. In the string, a byte from 0x20 to 0x7E other than
//! `"` and `\` stands for itself and every other byte `b` is the character U+0100 + `b`: so
//! the text a codec writes (postcard's strings, JSON) stays as it is, needs no escaping, and
//! decodes with a copy. Reading, any ASCII character stands for itself, so text that another
//! writer escaped reads the same. Base64, tried first, cost 85,000 instructions to decode the
//! values of a 50-field session (about 7.5 KB), a fifth of the request; this costs 16,000.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq as _, Serializer};
use serde::Serialize;

use crate::id::StoreKey;
use crate::record::Entry;
use crate::time::Timestamp;

/// The JSON object of `entries`, each `(key, Some(entry))` a member and each `(key, None)` a
/// `null` member (a removal, in a patch).
pub(crate) fn to_json<'a>(entries: impl Iterator<Item = (&'a str, Option<&'a Entry>)> + Clone) -> String {
    struct Object<I>(I);
    impl<'a, I: Iterator<Item = (&'a str, Option<&'a Entry>)> + Clone> Serialize for Object<I> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut map = s.serialize_map(None)?;
            for (key, entry) in self.0.clone() {
                map.serialize_entry(key, &entry.map(Member))?;
            }
            map.end()
        }
    }
    // Strings and integers always serialize into a String: an error cannot happen.
    serde_json::to_string(&Object(entries)).unwrap_or_default()
}

/// One field as a member value: its bytes as text, with its deadline if it has one.
struct Member<'a>(&'a Entry);

impl Serialize for Member<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let text = bytes_to_text(&self.0.value);
        match self.0.expires_at {
            None => s.serialize_str(&text),
            Some(at) => {
                let mut pair = s.serialize_seq(Some(2))?;
                pair.serialize_element(&text)?;
                pair.serialize_element(&super::millis(at))?;
                pair.end()
            }
        }
    }
}

/// `bytes` as text (see the module docs).
pub(crate) fn bytes_to_text(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() + bytes.len() / 4);
    for &b in bytes {
        if stands_for_itself(b) {
            text.push(char::from(b));
        } else {
            // U+0100 to U+01FF: always a valid character.
            text.push(char::from_u32(0x100 + u32::from(b)).unwrap_or(char::REPLACEMENT_CHARACTER));
        }
    }
    text
}

fn stands_for_itself(b: u8) -> bool {
    (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\'
}

/// The bytes `text` stands for: an ASCII character for itself, U+0100 + `b` for `b`; `None` if
/// it holds any other character.
pub(crate) fn text_to_bytes(text: &str) -> Option<Vec<u8>> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while !rest.is_empty() {
        // Runs of ASCII are copied whole.
        let run = ascii_prefix(rest);
        bytes.extend_from_slice(&rest[..run]);
        rest = &rest[run..];
        if let [lead @ 0xc4..=0xc7, cont @ 0x80..=0xbf, tail @ ..] = rest {
            // The two UTF-8 bytes of U+0100 + b: b's top two bits in the lead, six in the
            // continuation.
            bytes.push(((lead & 0x03) << 6) | (cont & 0x3f));
            rest = tail;
        } else if !rest.is_empty() {
            return None;
        }
    }
    Some(bytes)
}

/// How many bytes at the start of `bytes` are ASCII, looked at eight at a time.
fn ascii_prefix(bytes: &[u8]) -> usize {
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    let mut n = 0;
    for word in bytes.chunks_exact(8) {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(word);
        if u64::from_ne_bytes(eight) & HIGH_BITS != 0 {
            break;
        }
        n += 8;
    }
    n + bytes[n..].iter().take_while(|b| b.is_ascii()).count()
}

/// The earliest deadline among `entries`, in milliseconds: what `entries_expire_at` starts as.
pub(crate) fn earliest_deadline<'a>(entries: impl Iterator<Item = &'a Entry>) -> Option<i64> {
    entries.filter_map(|e| e.expires_at).min().map(super::millis)
}

/// The fields in `json` that are live at `now`, in stored order. `None` when `json` is not a
/// JSON object: the session cannot be read. A member that is not a field as written here is
/// skipped with a warning naming its key (never its content), like a field whose type changed.
pub(crate) fn from_json(key: &StoreKey, json: &str, now: Timestamp) -> Option<Vec<(String, Entry)>> {
    let mut de = serde_json::Deserializer::from_str(json);
    let fields = Fields { key, now };
    match fields.deserialize(&mut de).and_then(|fields| de.end().map(|()| fields)) {
        Ok(fields) => Some(fields),
        Err(e) => {
            tracing::warn!(key = ?key, why = %Why(&e), "SQL store: corrupt entries column; starting a fresh session");
            None
        }
    }
}

/// A JSON error described by its kind and place: serde_json's messages may quote the input.
struct Why<'a>(&'a serde_json::Error);

impl fmt::Display for Why<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.0.classify() {
            serde_json::error::Category::Io => "unreadable",
            serde_json::error::Category::Syntax => "not JSON",
            serde_json::error::Category::Data => "not a JSON object",
            serde_json::error::Category::Eof => "truncated JSON",
        };
        write!(f, "{kind} (line {}, column {})", self.0.line(), self.0.column())
    }
}

/// Reads the object's members straight into the fields of a record: those live at `now`,
/// warning about the others that are not fields, for the session under `key`.
struct Fields<'a> {
    key: &'a StoreKey,
    now: Timestamp,
}

impl<'de> DeserializeSeed<'de> for Fields<'_> {
    type Value = Vec<(String, Entry)>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Fields<'_> {
    type Value = Vec<(String, Entry)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of fields")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(8));
        while let Some(name) = map.next_key::<String>()? {
            match map.next_value_seed(FieldSeed)? {
                Ok(entry) if entry.is_expired(self.now) => {}
                Ok(entry) => fields.push((name, entry)),
                Err(why) => {
                    tracing::warn!(key = ?self.key, field = name, why, "SQL store: corrupt entry; field skipped")
                }
            }
        }
        Ok(fields)
    }
}

/// Why a member is not a field.
type NotAField = &'static str;

const NOT_A_FIELD: NotAField = "neither a string nor a [string, deadline] pair";
const NOT_BYTES: NotAField = "a string holding a character that stands for no byte";

/// Reads one member value: a field, or why it is not one. Any JSON value is read past, so one
/// bad member spoils no other.
struct FieldSeed;

impl<'de> DeserializeSeed<'de> for FieldSeed {
    type Value = Result<Entry, NotAField>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(MemberVisitor)
    }
}

struct MemberVisitor;

impl<'de> Visitor<'de> for MemberVisitor {
    type Value = Result<Entry, NotAField>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(text_to_bytes(text).map(|value| Entry { value, expires_at: None }).ok_or(NOT_BYTES))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let value = seq.next_element_seed(Other(MemberVisitor))?;
        let deadline = seq.next_element_seed(Other(DeadlineVisitor))?;
        // Whatever follows makes the member no field, but must still be read past.
        let extra = seq.next_element::<IgnoredAny>()?.is_some();
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(match (value, deadline, extra) {
            (Some(Some(Ok(Entry { value, expires_at: None }))), Some(Some(at)), false) => {
                Ok(Entry { value, expires_at: Some(at) })
            }
            (Some(Some(Err(why))), _, _) => Err(why),
            _ => Err(NOT_A_FIELD),
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Err(NOT_A_FIELD))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Err(NOT_A_FIELD))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Err(NOT_A_FIELD))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Err(NOT_A_FIELD))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Err(NOT_A_FIELD))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Err(NOT_A_FIELD))
    }
}

/// The deadline of a pair: a time in milliseconds.
struct DeadlineVisitor;

impl<'de> Visitor<'de> for DeadlineVisitor {
    type Value = Timestamp;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a time in milliseconds")
    }

    fn visit_u64<E: de::Error>(self, ms: u64) -> Result<Timestamp, E> {
        Ok(Timestamp::from_millis(ms))
    }
}

/// `V`'s value, or `None` for a JSON value of another kind (read past, not an error).
struct Other<V>(V);

impl<'de, V: Visitor<'de>> DeserializeSeed<'de> for Other<V> {
    type Value = Option<V::Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(OtherVisitor(self.0))
    }
}

struct OtherVisitor<V>(V);

/// Forwards the kinds of value `V` takes (a string, an unsigned integer) and reads past the
/// others as `None`.
impl<'de, V: Visitor<'de>> Visitor<'de> for OtherVisitor<V> {
    type Value = Option<V::Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(self.0.visit_str::<E>(v).ok())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(self.0.visit_u64::<E>(v).ok())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{key, NOW};

    #[test]
    fn every_byte_goes_to_text_and_back() {
        let all: Vec<u8> = (0..=255).collect();
        let text = bytes_to_text(&all);
        assert!(!text.contains(['"', '\\']) && !text.chars().any(char::is_control), "{text:?}");
        assert_eq!(text_to_bytes(&text), Some(all));
        let postcard_string = b"\x0cAda Lovelace";
        assert_eq!(bytes_to_text(postcard_string), "\u{10c}Ada Lovelace");
        for foreign in ["é", "\u{200}", "\u{ff}", "\u{10c}\u{80}", "abcdefghij\u{2603}"] {
            assert_eq!(text_to_bytes(foreign), None, "{foreign:?}");
        }
        // Characters another writer left in (escaped in its JSON): the bytes they are.
        assert_eq!(text_to_bytes("\"\\\n"), Some(b"\"\\\n".to_vec()));
    }

    #[test]
    fn fields_round_trip_and_expire() {
        let later = NOW.after(std::time::Duration::from_secs(60));
        let entries = vec![
            ("plain".to_owned(), Entry { value: vec![0, b'a', 0xff], expires_at: None }),
            ("otp \"x\"".to_owned(), Entry { value: vec![7], expires_at: Some(later) }),
            ("empty".to_owned(), Entry { value: vec![], expires_at: None }),
        ];
        let json = to_json(entries.iter().map(|(k, e)| (k.as_str(), Some(e))));
        assert_eq!(from_json(&key(1), &json, NOW), Some(entries.clone()));
        assert_eq!(from_json(&key(1), &json, later), Some(vec![entries[0].clone(), entries[2].clone()]));
        // Whitespace and escapes as PostgreSQL and MySQL write them back.
        let spaced = r#"{"plain": "\u0100a\u01ff", "otp \"x\"": ["\u0107", 1700000060000], "empty": ""}"#;
        assert_eq!(from_json(&key(1), spaced, NOW), Some(entries));
    }

    #[test]
    fn a_member_that_is_no_field_is_skipped_alone() {
        let json = r#"{"a": "x", "b": 7, "c": ["x", -1], "d": ["x", 1, 2], "e": {"f": [1]}, "g": "é", "h": [3, 4], "i": null}"#;
        let fields = from_json(&key(1), json, NOW).expect("an object");
        assert_eq!(fields, vec![("a".to_owned(), Entry { value: b"x".to_vec(), expires_at: None })]);
        for not_an_object in ["[1]", "\"x\"", "{", "{\"a\": \"x\"} {}", ""] {
            assert_eq!(from_json(&key(1), not_an_object, NOW), None, "{not_an_object}");
        }
    }
}
