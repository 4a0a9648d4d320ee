//! What a store keeps for one session: encoded entries and metadata, and changes to them.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// One stored field: its encoded value and, for `ttl` fields, when it expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The value as the session's codec encoded it.
    ///
    /// Serialized as a byte string: postcard writes it exactly as a sequence of `u8` (length,
    /// then the bytes), so stored records read the same, and decoding it is one copy where a
    /// sequence costs a visitor call per byte (117,000 instructions for a 50-field session).
    #[serde(with = "serde_bytes")]
    pub value: Vec<u8>,
    /// When this entry stops counting, for fields with `#[session(ttl = "..")]`.
    pub expires_at: Option<Timestamp>,
}

impl Entry {
    /// Whether the entry has expired at `now`.
    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// Session-wide metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// When the session was first stored.
    pub created_at: Timestamp,
    /// The sliding deadline: the session ends if no request comes before it.
    pub idle_deadline: Option<Timestamp>,
    /// The fixed deadline: the session ends then, however active.
    pub absolute_deadline: Option<Timestamp>,
    /// Whether the user asked to be remembered: the cookie outlives the browser session.
    pub remember_me: bool,
    /// When a request last moved the idle deadline: the session's last activity, as precise as
    /// the idle throttle (a tenth of the idle timeout). Lets a shorter idle timeout apply to
    /// sessions stored before it was configured.
    pub last_active: Timestamp,
    /// This session's own idle timeout and cookie lifetime, set by
    /// [`SessionState::set_lifetime`](crate::SessionState::set_lifetime): it overrides the
    /// layer's idle timeout and remember-me lifetime, and makes the cookie persistent.
    pub lifetime: Option<Duration>,
}

impl Meta {
    /// A session created (and last active) at `at`, with no deadlines and no remember-me.
    pub const fn new(at: Timestamp) -> Self {
        Self {
            created_at: at,
            idle_deadline: None,
            absolute_deadline: None,
            remember_me: false,
            last_active: at,
            lifetime: None,
        }
    }

    /// When the session ends: the earlier of the two deadlines.
    pub fn expires_at(&self) -> Option<Timestamp> {
        match (self.idle_deadline, self.absolute_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether the session has ended at `now`.
    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.expires_at().is_some_and(|at| at <= now)
    }
}

/// A whole session as stored: entries by key, plus metadata.
///
/// Entries keep keys this binary does not know (written by a newer deploy), so saving never
/// erases them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Session-wide metadata.
    pub meta: Meta,
    /// `(key, entry)` pairs, each key at most once.
    pub entries: Vec<(String, Entry)>,
}

impl Record {
    /// An empty record with the given metadata.
    pub fn new(meta: Meta) -> Self {
        Self { meta, entries: Vec::new() }
    }

    /// The entry stored under `key`.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, e)| e)
    }

    /// Applies `change` in place: the same merge every server-side store performs.
    pub fn apply(&mut self, change: &Change) {
        self.entries.retain(|(k, _)| !change.remove.iter().any(|r| r == k));
        for (key, entry) in &change.set {
            match self.entries.iter_mut().find(|(k, _)| k == key) {
                Some((_, slot)) => *slot = entry.clone(),
                None => self.entries.push((key.clone(), entry.clone())),
            }
        }
        if let Some(meta) = change.meta {
            self.meta = meta;
        }
    }

    /// Drops entries whose own `ttl` has run out at `now`.
    pub fn drop_expired_entries(&mut self, now: Timestamp) {
        self.entries.retain(|(_, e)| !e.is_expired(now));
    }

    /// The record in the compact binary form the cookie, file and memcached stores keep.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Encoding plain structs of bytes, integers and strings into a Vec cannot fail.
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// Reads a record written by [`to_bytes`](Self::to_bytes); `None` if the bytes are not one.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        match postcard::take_from_bytes::<Self>(bytes) {
            Ok((record, [])) => Some(record),
            _ => None,
        }
    }
}

/// What one request changes in a stored session. Stores merge it into what they hold, so two
/// concurrent requests that change different fields both survive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Change {
    /// Entries to write, replacing any stored under the same key.
    pub set: Vec<(String, Entry)>,
    /// Keys to remove.
    pub remove: Vec<String>,
    /// New metadata (deadlines, remember-me), if it changed.
    pub meta: Option<Meta>,
}

impl Change {
    /// Whether applying this change would do nothing.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.remove.is_empty() && self.meta.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> Meta {
        Meta {
            created_at: Timestamp::from_millis(1),
            idle_deadline: Some(Timestamp::from_millis(50)),
            absolute_deadline: Some(Timestamp::from_millis(40)),
            remember_me: false,
            last_active: Timestamp::from_millis(1),
            lifetime: None,
        }
    }

    fn entry(v: u8) -> Entry {
        Entry { value: vec![v], expires_at: None }
    }

    #[test]
    fn expiry_is_the_earlier_deadline() {
        let m = meta();
        assert_eq!(m.expires_at(), Some(Timestamp::from_millis(40)));
        assert!(!m.is_expired(Timestamp::from_millis(39)));
        assert!(m.is_expired(Timestamp::from_millis(40)));
        let open = Meta { idle_deadline: None, absolute_deadline: None, ..m };
        assert!(!open.is_expired(Timestamp::from_millis(u64::MAX)));
    }

    #[test]
    fn apply_sets_replaces_removes_and_keeps_unknown_keys() {
        let mut r = Record::new(meta());
        r.entries.push(("a".into(), entry(1)));
        r.entries.push(("unknown".into(), entry(2)));
        r.entries.push(("gone".into(), entry(3)));
        let change = Change {
            set: vec![("a".into(), entry(9)), ("b".into(), entry(8))],
            remove: vec!["gone".into()],
            meta: Some(Meta { remember_me: true, ..meta() }),
        };
        r.apply(&change);
        assert_eq!(r.get("a"), Some(&entry(9)));
        assert_eq!(r.get("b"), Some(&entry(8)));
        assert_eq!(r.get("unknown"), Some(&entry(2)));
        assert_eq!(r.get("gone"), None);
        assert!(r.meta.remember_me);
    }

    #[test]
    fn bytes_round_trip_and_reject_garbage() {
        let mut r = Record::new(meta());
        r.entries.push(("k".into(), Entry { value: vec![1, 2], expires_at: Some(Timestamp::from_millis(7)) }));
        assert_eq!(Record::from_bytes(&r.to_bytes()), Some(r.clone()));
        let mut long = r.to_bytes();
        long.push(0);
        assert_eq!(Record::from_bytes(&long), None);
        assert_eq!(Record::from_bytes(&[0xff; 3]), None);
    }

    /// The entry as session-kit 0.3.0 and before derived it: its value a sequence of bytes.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct SequenceEntry {
        value: Vec<u8>,
        expires_at: Option<Timestamp>,
    }

    #[test]
    fn entries_keep_the_bytes_they_had_as_a_sequence() {
        for (len, expires_at) in
            [(0, None), (1, Some(Timestamp::from_millis(7))), (127, None), (128, None), (20_000, None)]
        {
            let value: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let old = postcard::to_allocvec(&SequenceEntry { value: value.clone(), expires_at }).unwrap();
            let entry = Entry { value, expires_at };
            assert_eq!(postcard::to_allocvec(&entry).unwrap(), old, "{len} bytes");
            assert_eq!(postcard::from_bytes::<Entry>(&old).unwrap(), entry);
        }
    }
}
