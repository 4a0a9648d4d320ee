//! The `entries` column: a session's fields as one JSON object, which every dialect can merge
//! a change into inside an `UPDATE` (see the module docs of `sql`).
//!
//! Each field is a member named by its key. A field without a deadline is the base64 of its
//! encoded value (`"AQID"`); one with a deadline is that and the deadline in milliseconds since
//! the epoch (`["AQID", 1700000600000]`). A change is a *patch* of the same shape in which a
//! removed field is `null` (RFC 7396; PostgreSQL takes the keys to remove apart instead).
//!
//! Base64 (standard alphabet, padded), because JSON carries text, and because PostgreSQL
//! (`decode(.., 'base64')`) and MySQL (`FROM_BASE64`) read it too, should anyone look inside.

use std::fmt;

use base64::display::Base64Display;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq as _, Serializer};
use serde::Serialize;
use serde_json::value::RawValue;

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
    // Strings, integers and base64 always serialize; an error cannot happen.
    serde_json::to_string(&Object(entries)).unwrap_or_default()
}

/// One field as a member value: its base64, with its deadline if it has one.
struct Member<'a>(&'a Entry);

impl Serialize for Member<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let value = Base64Display::new(&self.0.value, &STANDARD);
        match self.0.expires_at {
            None => s.collect_str(&value),
            Some(at) => {
                let mut pair = s.serialize_seq(Some(2))?;
                pair.serialize_element(&Collected(&value))?;
                pair.serialize_element(&super::millis(at))?;
                pair.end()
            }
        }
    }
}

/// A `Display` serialized as a string, without an intermediate `String`.
struct Collected<'a, T>(&'a T);

impl<T: fmt::Display> Serialize for Collected<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self.0)
    }
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
            // Borrowed from the column: the value is read once below, without a copy.
            let member: &RawValue = map.next_value()?;
            match field(member) {
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

/// The field a member value holds: a base64 string, or a base64 string and a deadline.
fn field(member: &RawValue) -> Result<Entry, &'static str> {
    let decode = |text: &str| STANDARD.decode(text).map_err(|_| "a value that is not base64");
    // Base64 never needs escapes, so the text borrows from the column.
    if let Ok(text) = serde_json::from_str::<&str>(member.get()) {
        return Ok(Entry { value: decode(text)?, expires_at: None });
    }
    match serde_json::from_str::<(&str, u64)>(member.get()) {
        Ok((text, ms)) => Ok(Entry { value: decode(text)?, expires_at: Some(Timestamp::from_millis(ms)) }),
        Err(_) => Err("neither a string nor a [string, deadline] pair"),
    }
}
