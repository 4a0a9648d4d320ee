//! One request's view of a session: the typed data, what was loaded, and what to do at save.

use std::sync::Arc;
use std::time::Duration;

use crate::codec::{Codec, CodecError};
use crate::data::{FieldKind, SessionData};
use crate::error::Error;
use crate::id::{SessionId, StoreKey};
use crate::record::{Entry, Meta, Record};
use crate::time::Timestamp;

/// Encodes and decodes the stored fields of `T` with a codec chosen by the layer; object-safe
/// so the session need not carry the codec's type.
pub(crate) trait FieldEncoder<T>: Send + Sync {
    fn encode_field(&self, data: &T, index: usize, out: &mut Vec<u8>) -> Result<(), Error>;

    fn decode_field(&self, data: &mut T, index: usize, bytes: &[u8]) -> Result<(), CodecError>;

    /// The encoding of field `index` at its default (`None` if it does not encode).
    fn default_encoding(&self, index: usize) -> Option<&[u8]>;

    /// Whether field `index` is compared against its loaded bytes at save (see
    /// [`SessionData::stable_encoding`]) rather than against a copy taken when the session is
    /// first borrowed mutably.
    fn is_stable(&self, index: usize) -> bool;

    /// Whether some field needs that copy.
    fn any_unstable(&self) -> bool;
}

/// A codec, plus what is known of every field once per engine: the encoding of its default, so
/// that a save can tell "back at its default" without building a fresh `T`, and whether its
/// encoding is stable.
pub(crate) struct FieldCodec<C> {
    pub(crate) codec: C,
    defaults: Vec<Option<Vec<u8>>>,
    stable: Vec<bool>,
    any_unstable: bool,
}

impl<C: Codec> FieldCodec<C> {
    pub(crate) fn new<T: SessionData>(codec: C) -> Self {
        let fresh = T::fresh();
        let defaults = (0..T::FIELDS.len())
            .map(|index| {
                let mut bytes = Vec::new();
                fresh.encode_field(index, &codec, &mut bytes).ok().map(|()| bytes)
            })
            .collect();
        let stable: Vec<bool> = (0..T::FIELDS.len()).map(T::stable_encoding).collect();
        let any_unstable = stable.contains(&false);
        Self { codec, defaults, stable, any_unstable }
    }
}

impl<T: SessionData, C: Codec> FieldEncoder<T> for FieldCodec<C> {
    fn encode_field(&self, data: &T, index: usize, out: &mut Vec<u8>) -> Result<(), Error> {
        data.encode_field(index, &self.codec, out).map_err(|source| Error::Encode { key: T::FIELDS[index].key, source })
    }

    fn decode_field(&self, data: &mut T, index: usize, bytes: &[u8]) -> Result<(), CodecError> {
        data.decode_field(index, &self.codec, bytes)
    }

    fn default_encoding(&self, index: usize) -> Option<&[u8]> {
        self.defaults.get(index)?.as_deref()
    }

    fn is_stable(&self, index: usize) -> bool {
        self.stable.get(index).copied().unwrap_or(false)
    }

    fn any_unstable(&self) -> bool {
        self.any_unstable
    }
}

/// The encodings of the fields whose encoding is not stable, taken at the first mutable access;
/// such a field whose encoding differs at save is dirty.
struct Snapshot {
    bytes: Vec<u8>,
    before: Vec<Before>,
}

/// What a field is compared against at save.
enum Before {
    /// The bytes it was loaded from, or its default's encoding: its encoding is stable.
    Stable,
    /// Its encoding at the first mutable access, this range of [`Snapshot::bytes`].
    Taken(usize, usize),
    /// Nothing: it could not be encoded then, so it counts as changed.
    Unencodable,
}

impl Snapshot {
    fn take<T>(encoder: &dyn FieldEncoder<T>, data: &T, fields: usize) -> Self {
        let mut snapshot = Snapshot { bytes: Vec::new(), before: Vec::with_capacity(fields) };
        for index in 0..fields {
            if encoder.is_stable(index) {
                snapshot.before.push(Before::Stable);
                continue;
            }
            let start = snapshot.bytes.len();
            match encoder.encode_field(data, index, &mut snapshot.bytes) {
                Ok(()) => snapshot.before.push(Before::Taken(start, snapshot.bytes.len())),
                Err(_) => {
                    snapshot.bytes.truncate(start);
                    snapshot.before.push(Before::Unencodable);
                }
            }
        }
        snapshot
    }
}

/// Where a loaded session came from.
#[derive(Debug)]
pub(crate) enum Origin {
    /// A server-side record filed under this id (and its store key, hashed once).
    Server(SessionId, StoreKey),
    /// A client-side cookie; `reseal` if it was sealed with an older key or format.
    #[cfg(feature = "cookie")]
    Cookie { reseal: bool },
}

/// What a save's comparisons borrow, made only if one needs it: a fresh session to decode
/// stored bytes into, and a buffer for their encoding.
struct Scratch<T> {
    data: Option<T>,
    bytes: Vec<u8>,
}

/// What a loaded record holds for one field.
#[derive(Debug, Clone, Copy)]
enum Stored<'a> {
    /// Nothing: the field started at its default.
    Absent,
    /// An entry whose ttl had run out when it was loaded: the field started at its default, and
    /// the entry goes at save.
    Expired,
    /// A live entry: the field was decoded from these bytes, or started at its default if they
    /// do not decode as its type (then they stay untouched unless this request writes the field).
    Live(&'a [u8]),
}

pub(crate) struct Loaded {
    pub(crate) origin: Origin,
    /// The record as the store handed it over, shared rather than copied (the memory store
    /// keeps the same one) and so never changed here; it may hold entries whose ttl ran out.
    pub(crate) record: Arc<Record>,
    /// The record's metadata under the current policy.
    pub(crate) meta: Meta,
    /// When it was loaded: what counts as expired.
    at: Timestamp,
    /// Whether it holds a flash value (delivered now) or an entry whose ttl ran out: a save then
    /// removes something even if nothing changed.
    removes: bool,
    /// Whether the current policy tightened the stored deadlines (written back at save).
    pub(crate) tightened: bool,
}

impl Loaded {
    /// What the record holds under `key`, found by `finder` (made on this record's entries).
    fn stored<'a>(&'a self, key: &str, finder: &mut EntryFinder<'a>) -> Stored<'a> {
        let Some(at) = finder.find(key) else { return Stored::Absent };
        let entry = &self.record.entries[at].1;
        if entry.is_expired(self.at) {
            Stored::Expired
        } else {
            Stored::Live(&entry.value)
        }
    }
}

/// Finds entries by key, for looking up every field of a session in field order.
///
/// Records are mostly written in field order, so one field's entry usually follows the
/// previous one's: that place is tried first. Where it misses (a store that lists its entries
/// in another order, as a Redis hash does), a record of more than [`SCAN_LIMIT`] entries is
/// indexed once by a hash of each key, sorted, so that reading N fields costs about N log N
/// integer comparisons rather than N² string comparisons (at 50 fields, 6,000 instructions
/// against 40,000 for sorting the keys themselves).
struct EntryFinder<'a> {
    entries: &'a [(String, Entry)],
    next: usize,
    /// (hash of the key, index), sorted.
    index: Option<Vec<(u64, usize)>>,
}

/// Up to this many entries a scan costs less than building the index.
const SCAN_LIMIT: usize = 8;

impl<'a> EntryFinder<'a> {
    fn new(entries: &'a [(String, Entry)]) -> Self {
        Self { entries, next: 0, index: None }
    }

    /// Where `key` is in the entries.
    fn find(&mut self, key: &str) -> Option<usize> {
        let entries = self.entries;
        let at = if entries.get(self.next).is_some_and(|(k, _)| k == key) {
            self.next
        } else if entries.len() <= SCAN_LIMIT {
            entries.iter().position(|(k, _)| k == key)?
        } else {
            let index = self.index.get_or_insert_with(|| {
                let mut index: Vec<(u64, usize)> =
                    entries.iter().enumerate().map(|(at, (k, _))| (key_hash(k), at)).collect();
                index.sort_unstable();
                index
            });
            let hash = key_hash(key);
            let first = index.partition_point(|&(h, _)| h < hash);
            // Keys whose hashes collide sit side by side: compare each.
            index[first..]
                .iter()
                .take_while(|&&(h, _)| h == hash)
                .map(|&(_, at)| at)
                .find(|&at| entries[at].0 == key)?
        };
        self.next = at + 1;
        Some(at)
    }
}

/// FNV-1a of `key`: a few instructions per byte for keys of a few bytes, and collisions are
/// only slower (the keys are compared), never wrong.
fn key_hash(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// The entries one request adds, replaces and removes.
#[derive(Default)]
pub(crate) struct Diff {
    pub(crate) set: Vec<(String, Entry)>,
    pub(crate) remove: Vec<String>,
}

/// What one handle on a session did to its entries, before it is merged with other handles on
/// the same session in the same request.
#[derive(Default)]
struct Intent {
    /// Fields it changed to a new value.
    set: Vec<(String, Entry)>,
    /// Fields it set back to their default.
    removed: Vec<String>,
    /// Entries that go unless some handle wrote them: delivered flash values, entries whose
    /// ttl ran out, entries left behind by `clear`.
    implicit: Vec<String>,
}

impl Intent {
    /// Folds in what a handle returned later did: its explicit changes win.
    fn then(&mut self, later: Intent) {
        for (key, entry) in later.set {
            self.set.retain(|(k, _)| *k != key);
            self.removed.retain(|k| *k != key);
            self.set.push((key, entry));
        }
        for key in later.removed {
            self.set.retain(|(k, _)| *k != key);
            if !self.removed.contains(&key) {
                self.removed.push(key);
            }
        }
        self.implicit.extend(later.implicit);
    }

    fn into_diff(self) -> Diff {
        let Intent { set, mut removed, implicit } = self;
        for key in implicit {
            if !set.iter().any(|(k, _)| *k == key) && !removed.contains(&key) {
                removed.push(key);
            }
        }
        Diff { set, remove: removed }
    }
}

impl Diff {
    // Only client-side sessions ask: they re-seal on any change.
    #[cfg_attr(not(feature = "cookie"), allow(dead_code))]
    pub(crate) fn is_empty(&self) -> bool {
        self.set.is_empty() && self.remove.is_empty()
    }
}

/// A session during one request: the typed data plus what is needed to save only what changed.
///
/// Made by [`Engine::open`](crate::Engine::open) and consumed by
/// [`Engine::save`](crate::Engine::save); web integrations wrap it in their extractor.
pub struct SessionState<T: SessionData> {
    data: T,
    encoder: Arc<dyn FieldEncoder<T>>,
    pub(crate) loaded: Option<Loaded>,
    /// Whether the request presented a token (cookie, header or query), valid or not.
    pub(crate) presented: bool,
    /// Whether the data was borrowed mutably: only then can a field have changed.
    mutated: bool,
    /// Taken at the first mutable access, if some field's encoding is not stable.
    snapshot: Option<Snapshot>,
    pub(crate) keep_flash: bool,
    pub(crate) remember_me: Option<bool>,
    /// `Some(choice)` once the request set this session's own lifetime (`Some(None)`: cleared).
    lifetime: Option<Option<Duration>>,
    pub(crate) cycle: bool,
    pub(crate) destroy: bool,
    cleared: bool,
    /// Other handles on this session in the same request (a middleware's and its handler's),
    /// in the order they were returned; merged into this one at save.
    followers: Vec<SessionState<T>>,
}

impl<T: SessionData> std::fmt::Debug for SessionState<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The data may hold secrets (tokens, one-time codes): show only the shape.
        f.debug_struct("SessionState")
            .field("type", &T::NAME)
            .field("loaded", &self.loaded.is_some())
            .field("changed", &self.mutated)
            .finish_non_exhaustive()
    }
}

impl<T: SessionData> SessionState<T> {
    pub(crate) fn fresh(encoder: Arc<dyn FieldEncoder<T>>, presented: bool) -> Self {
        Self {
            data: T::fresh(),
            encoder,
            loaded: None,
            presented,
            mutated: false,
            snapshot: None,
            keep_flash: false,
            remember_me: None,
            lifetime: None,
            cycle: false,
            destroy: false,
            cleared: false,
            followers: Vec::new(),
        }
    }

    /// Decodes `record` into a session, or `None` if the record as a whole has expired.
    ///
    /// `meta` is the record's metadata under the current policy. The record is kept as it is,
    /// shared: what a save compares against, and what it keeps of keys this binary does not know.
    pub(crate) fn loaded<C: Codec>(
        encoder: Arc<dyn FieldEncoder<T>>,
        codec: &C,
        origin: Origin,
        record: Arc<Record>,
        meta: Meta,
        tightened: bool,
        now: Timestamp,
    ) -> Option<Self> {
        if meta.is_expired(now) {
            return None;
        }
        let mut data = T::fresh();
        let mut removes = false;
        let mut finder = EntryFinder::new(&record.entries);
        for (index, spec) in T::FIELDS.iter().enumerate() {
            let Some(at) = finder.find(spec.key) else { continue };
            let entry = &record.entries[at].1;
            if entry.is_expired(now) {
                removes = true;
                continue;
            }
            removes |= spec.kind == FieldKind::Flash;
            if let Err(error) = data.decode_field(index, codec, &entry.value) {
                // The stored bytes stay untouched unless this request writes the field, so an
                // older binary that still knows the old type keeps reading them. The codec's
                // message is left out: it may quote the stored value (a one-time code, say).
                tracing::warn!(
                    session = T::NAME,
                    field = spec.key,
                    codec = error.codec(),
                    "stored field does not decode as its current type; using its default"
                );
            }
        }
        let mut state = Self::fresh(encoder, true);
        state.data = data;
        state.loaded = Some(Loaded { origin, record, meta, at: now, removes, tightened });
        Some(state)
    }

    /// The typed data, for reading.
    pub fn data(&self) -> &T {
        &self.data
    }

    /// The typed data, for writing. At save, only fields whose encoding changed are written:
    /// fields are compared against the bytes they were loaded from (or their default's), and
    /// the first call copies the encoding of the few fields whose type encodes equal values
    /// differently (a `HashMap`), to compare those against.
    pub fn data_mut(&mut self) -> &mut T {
        if !self.mutated {
            self.mutated = true;
            if self.encoder.any_unstable() {
                self.snapshot = Some(Snapshot::take(&*self.encoder, &self.data, T::FIELDS.len()));
            }
        }
        &mut self.data
    }

    /// The session id, for a stored server-side session. `None` for a session not stored yet
    /// (its id is chosen when it is first saved) and for client-side cookie sessions.
    pub fn id(&self) -> Option<&SessionId> {
        match &self.loaded {
            Some(Loaded { origin: Origin::Server(id, _), .. }) => Some(id),
            _ => None,
        }
    }

    /// The store key of a stored server-side session (as [`id`](Self::id)).
    // For the web handles and the conformance checks.
    #[cfg_attr(not(any(feature = "web", feature = "conformance")), allow(dead_code))]
    pub(crate) fn store_key(&self) -> Option<StoreKey> {
        match &self.loaded {
            Some(Loaded { origin: Origin::Server(_, key), .. }) => Some(*key),
            _ => None,
        }
    }

    /// Whether this request started a new session (nothing valid was presented).
    pub fn is_new(&self) -> bool {
        self.loaded.is_none()
    }

    /// The stored metadata (deadlines, remember-me) as loaded; `None` for a new session.
    pub fn meta(&self) -> Option<&Meta> {
        self.loaded.as_ref().map(|l| &l.meta)
    }

    /// When the session ends if no further request comes, as loaded.
    pub fn expires_at(&self) -> Option<Timestamp> {
        self.meta().and_then(Meta::expires_at)
    }

    /// Moves the session to a new id at save and makes the old one invalid at once. Call it
    /// when privileges change (login) against session fixation.
    pub fn cycle_id(&mut self) {
        self.cycle = true;
    }

    /// Deletes the session at save: server state removed, removal cookie sent.
    pub fn destroy(&mut self) {
        self.destroy = true;
    }

    /// Sets every field back to its default; keys this binary does not know are removed too.
    pub fn clear(&mut self) {
        self.data_mut();
        self.data = T::fresh();
        self.cleared = true;
    }

    /// Switches this session to a persistent cookie with the remember-me lifetime (or back).
    /// The choice is stored with the session, so it holds on later requests.
    pub fn remember_me(&mut self, remember: bool) {
        self.remember_me = Some(remember);
    }

    /// Gives this session its own lifetime: it ends after `lifetime` without a request (sliding,
    /// like the idle timeout it overrides, remember-me's included) and its cookie persists that
    /// long. `None` goes back to the layer's settings. Stored with the session, so it holds on
    /// later requests; the layer's absolute timeout still applies.
    pub fn set_lifetime(&mut self, lifetime: Option<Duration>) {
        self.lifetime = Some(lifetime);
    }

    /// This session's own lifetime, if it has one (or will have, once saved).
    pub fn lifetime(&self) -> Option<Duration> {
        self.lifetime.unwrap_or_else(|| self.meta().and_then(|m| m.lifetime))
    }

    /// Whether the session is (or at save will be) a remember-me session.
    pub fn is_remembered(&self) -> bool {
        self.remember_me.unwrap_or_else(|| self.meta().is_some_and(|m| m.remember_me))
    }

    /// Keeps the flash values this request received for one more request.
    pub fn keep_flash(&mut self) {
        self.keep_flash = true;
    }

    /// Merges `later`, another handle on the same session in the same request that was
    /// returned after this one (a middleware's handle, after its handler's): at save, the
    /// fields either changed are written, `later`'s value winning where both changed one;
    /// destroy, `cycle_id` and `keep_flash` from either count, and `later`'s remember-me
    /// choice wins.
    pub fn merge_later(&mut self, later: SessionState<T>) {
        self.followers.push(later);
    }

    /// Whether some handle asked to destroy the session.
    pub(crate) fn wants_destroy(&self) -> bool {
        self.destroy || self.followers.iter().any(|f| f.destroy)
    }

    /// The last lifetime choice a handle made.
    pub(crate) fn lifetime_choice(&self) -> Option<Option<Duration>> {
        self.followers.iter().rev().find_map(|f| f.lifetime).or(self.lifetime)
    }

    /// Whether some handle asked for a new id.
    pub(crate) fn wants_new_id(&self) -> bool {
        self.cycle || self.followers.iter().any(|f| f.cycle)
    }

    /// The last remember-me choice a handle made.
    pub(crate) fn remember_choice(&self) -> Option<bool> {
        self.followers.iter().rev().find_map(|f| f.remember_me).or(self.remember_me)
    }

    /// Whether this request changed anything a save would write (fields, flash delivery aside).
    pub fn is_changed(&self) -> bool {
        let changed = |s: &Self| {
            s.mutated || s.cycle || s.destroy || s.remember_me.is_some() || s.lifetime.is_some() || s.cleared
        };
        changed(self) || self.followers.iter().any(changed)
    }

    /// The entries to write and remove: fields whose encoding changed since the snapshot,
    /// delivered flash values, and entries whose ttl ran out, over this handle and the ones
    /// merged into it.
    pub(crate) fn diff(&self, now: Timestamp) -> Result<Diff, Error> {
        let keep_flash = self.keep_flash || self.followers.iter().any(|f| f.keep_flash);
        let mut intent = self.intent(now, keep_flash)?;
        for follower in &self.followers {
            intent.then(follower.intent(now, keep_flash)?);
        }
        Ok(intent.into_diff())
    }

    /// What this handle alone changed.
    fn intent(&self, now: Timestamp, keep_flash: bool) -> Result<Intent, Error> {
        let mut intent = Intent::default();
        let loaded = self.loaded.as_ref();
        if !self.mutated && loaded.is_none_or(|l| !l.removes) {
            // Only read, and nothing delivered or expired: nothing to look at (`clear` borrows
            // mutably).
            return Ok(intent);
        }
        // One buffer for every field's encoding; room for the usual small field up front.
        let mut current = if self.mutated { Vec::with_capacity(64) } else { Vec::new() };
        let mut scratch = Scratch { data: None, bytes: Vec::new() };
        let mut lookup = loaded.map(|l| (l, EntryFinder::new(&l.record.entries)));
        for (index, spec) in T::FIELDS.iter().enumerate() {
            let stored = lookup.as_mut().map_or(Stored::Absent, |(l, finder)| l.stored(spec.key, finder));
            let present = matches!(stored, Stored::Live(_));
            // Never borrowed mutably, nothing changed: no field is encoded.
            let changed = self.mutated && {
                current.clear();
                self.encoder.encode_field(&self.data, index, &mut current)?;
                self.field_changed(index, stored, &current, &mut scratch)
            };
            if changed {
                if self.encoder.default_encoding(index) == Some(current.as_slice()) {
                    // Back at its default: storing nothing reads the same and keeps records small.
                    if present {
                        intent.removed.push(spec.key.to_owned());
                    }
                } else {
                    let expires_at = spec.ttl.map(|ttl| now.after(ttl));
                    intent.set.push((spec.key.to_owned(), Entry { value: current.as_slice().to_vec(), expires_at }));
                }
            } else if spec.kind == FieldKind::Flash && present && !keep_flash {
                intent.implicit.push(spec.key.to_owned());
            }
            if matches!(stored, Stored::Expired) {
                intent.implicit.push(spec.key.to_owned());
            }
        }
        if let Some(loaded) = loaded.filter(|_| self.cleared) {
            // Everything loaded and not written anew goes: unknown keys, and known ones whose
            // stored bytes this binary could not read or that equal its default, which an older
            // binary would otherwise still see.
            intent.implicit.extend(loaded.record.entries.iter().map(|(k, _)| k.clone()));
        }
        Ok(intent)
    }

    /// Whether field `index`, now encoding as `current`, differs from what this handle started
    /// with; `stored` is what the loaded record held for it.
    fn field_changed(&self, index: usize, stored: Stored<'_>, current: &[u8], scratch: &mut Scratch<T>) -> bool {
        if !self.encoder.is_stable(index) {
            let Some(snapshot) = &self.snapshot else { return true };
            return match snapshot.before.get(index) {
                Some(Before::Taken(start, end)) => snapshot.bytes.get(*start..*end) != Some(current),
                _ => true,
            };
        }
        let started_at_default = |this: &Self| this.encoder.default_encoding(index) != Some(current);
        let Stored::Live(stored) = stored else {
            // Nothing stored: the field started at its default.
            return started_at_default(self);
        };
        if stored == current {
            return false;
        }
        // Bytes another writer (or an older encoding of the type) put differently may still hold
        // the same value: compare with what this codec makes of it.
        let data = scratch.data.get_or_insert_with(T::fresh);
        if self.encoder.decode_field(data, index, stored).is_err() {
            // They did not decode when loaded either: the field started at its default.
            return started_at_default(self);
        }
        scratch.bytes.clear();
        self.encoder.encode_field(data, index, &mut scratch.bytes).is_err() || scratch.bytes != current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(keys: &[&str]) -> Vec<(String, Entry)> {
        keys.iter().map(|k| ((*k).to_owned(), Entry { value: k.as_bytes().to_vec(), expires_at: None })).collect()
    }

    #[test]
    fn the_finder_finds_every_key_in_any_order_and_no_other() {
        let keys: Vec<String> = (0..40).map(|i| format!("f{i}")).collect();
        for len in [3, SCAN_LIMIT, SCAN_LIMIT + 1, 40] {
            let wanted: Vec<&str> = keys[..len].iter().map(String::as_str).collect();
            // Stored in field order, reversed, and permuted by a stride prime to every `len`; the
            // fields numbered from 10 on (three characters) are missing.
            let orders: [Vec<&str>; 3] = [
                wanted.clone(),
                wanted.iter().rev().copied().collect(),
                (0..len).map(|i| wanted[(i * 7) % len]).collect(),
            ];
            for order in orders {
                let stored: Vec<&str> = order.into_iter().filter(|k| k.len() == 2).collect();
                let stored = entries(&stored);
                let mut finder = EntryFinder::new(&stored);
                for key in wanted.iter().chain(["absent", "f1000"].iter()) {
                    let found = finder.find(key).map(|at| stored[at].0.as_str());
                    let expected = stored.iter().find(|(k, _)| k == key).map(|(k, _)| k.as_str());
                    assert_eq!(found, expected, "{key} among {len}");
                }
            }
        }
    }
}
