//! One request's view of a session: the typed data, what was loaded, and what to do at save.

use std::sync::Arc;
use std::time::Duration;

use crate::codec::Codec;
use crate::data::{FieldKind, SessionData};
use crate::error::Error;
use crate::id::{SessionId, StoreKey};
use crate::record::{Entry, Meta, Record};
use crate::time::Timestamp;

/// Encodes the stored fields of `T` with a codec chosen by the layer; object-safe so the
/// session need not carry the codec's type.
pub(crate) trait FieldEncoder<T>: Send + Sync {
    fn encode_field(&self, data: &T, index: usize, out: &mut Vec<u8>) -> Result<(), Error>;

    /// The encoding of field `index` at its default (`None` if it does not encode).
    fn default_encoding(&self, index: usize) -> Option<&[u8]>;
}

/// A codec, plus the encoding of every field's default, computed once per engine so that a
/// save can tell "back at its default" without building a fresh `T`.
pub(crate) struct FieldCodec<C> {
    pub(crate) codec: C,
    defaults: Vec<Option<Vec<u8>>>,
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
        Self { codec, defaults }
    }
}

impl<T: SessionData, C: Codec> FieldEncoder<T> for FieldCodec<C> {
    fn encode_field(&self, data: &T, index: usize, out: &mut Vec<u8>) -> Result<(), Error> {
        data.encode_field(index, &self.codec, out).map_err(|source| Error::Encode { key: T::FIELDS[index].key, source })
    }

    fn default_encoding(&self, index: usize) -> Option<&[u8]> {
        self.defaults.get(index)?.as_deref()
    }
}

/// The encodings of every stored field, taken at the first mutable access; a field whose
/// encoding differs at save is dirty.
struct Snapshot {
    bytes: Vec<u8>,
    /// Per field: its range in `bytes`, or `None` if it could not be encoded (always dirty).
    ranges: Vec<Option<(usize, usize)>>,
}

impl Snapshot {
    fn field(&self, index: usize) -> Option<&[u8]> {
        self.ranges[index].map(|(a, b)| &self.bytes[a..b])
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

pub(crate) struct Loaded {
    pub(crate) origin: Origin,
    /// What was loaded, minus entries whose ttl had run out.
    pub(crate) record: Record,
    /// Per field: whether the record held a live entry for it.
    present: Vec<bool>,
    /// Keys of entries whose ttl had run out: removed at save.
    expired_keys: Vec<String>,
    /// Whether the current policy tightened the stored deadlines (written back at save).
    pub(crate) tightened: bool,
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
            .field("changed", &self.snapshot.is_some())
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
    pub(crate) fn loaded<C: Codec>(
        encoder: Arc<dyn FieldEncoder<T>>,
        codec: &C,
        origin: Origin,
        mut record: Record,
        tightened: bool,
        now: Timestamp,
    ) -> Option<Self> {
        if record.meta.is_expired(now) {
            return None;
        }
        let mut data = T::fresh();
        let mut present = vec![false; T::FIELDS.len()];
        let mut expired_keys = Vec::new();
        for (index, spec) in T::FIELDS.iter().enumerate() {
            let Some(entry) = record.get(spec.key) else { continue };
            if entry.is_expired(now) {
                expired_keys.push(spec.key.to_owned());
                continue;
            }
            present[index] = true;
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
        record.drop_expired_entries(now);
        let mut state = Self::fresh(encoder, true);
        state.data = data;
        state.loaded = Some(Loaded { origin, record, present, expired_keys, tightened });
        Some(state)
    }

    /// The typed data, for reading.
    pub fn data(&self) -> &T {
        &self.data
    }

    /// The typed data, for writing. The first call remembers every field's encoding so that
    /// only fields whose encoding changed are saved.
    pub fn data_mut(&mut self) -> &mut T {
        if self.snapshot.is_none() {
            let mut snapshot = Snapshot { bytes: Vec::with_capacity(64), ranges: Vec::with_capacity(T::FIELDS.len()) };
            for index in 0..T::FIELDS.len() {
                let start = snapshot.bytes.len();
                match self.encoder.encode_field(&self.data, index, &mut snapshot.bytes) {
                    Ok(()) => snapshot.ranges.push(Some((start, snapshot.bytes.len()))),
                    Err(_) => {
                        snapshot.bytes.truncate(start);
                        snapshot.ranges.push(None);
                    }
                }
            }
            self.snapshot = Some(snapshot);
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

    /// Whether this request started a new session (nothing valid was presented).
    pub fn is_new(&self) -> bool {
        self.loaded.is_none()
    }

    /// The stored metadata (deadlines, remember-me) as loaded; `None` for a new session.
    pub fn meta(&self) -> Option<&Meta> {
        self.loaded.as_ref().map(|l| &l.record.meta)
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
            s.snapshot.is_some() || s.cycle || s.destroy || s.remember_me.is_some() || s.lifetime.is_some() || s.cleared
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
        let present = |i: usize| self.loaded.as_ref().is_some_and(|l| l.present[i]);
        let mut changed = vec![false; T::FIELDS.len()];
        if let Some(snapshot) = &self.snapshot {
            let mut current = Vec::new();
            for (index, spec) in T::FIELDS.iter().enumerate() {
                current.clear();
                self.encoder.encode_field(&self.data, index, &mut current)?;
                if snapshot.field(index) == Some(current.as_slice()) {
                    continue;
                }
                changed[index] = true;
                if self.encoder.default_encoding(index) == Some(current.as_slice()) {
                    // Back at its default: storing nothing reads the same and keeps records small.
                    if present(index) {
                        intent.removed.push(spec.key.to_owned());
                    }
                } else {
                    let expires_at = spec.ttl.map(|ttl| now.after(ttl));
                    intent.set.push((spec.key.to_owned(), Entry { value: current.clone(), expires_at }));
                }
            }
        }
        if let Some(loaded) = &self.loaded {
            for (index, spec) in T::FIELDS.iter().enumerate() {
                if spec.kind == FieldKind::Flash && loaded.present[index] && !changed[index] && !keep_flash {
                    intent.implicit.push(spec.key.to_owned());
                }
            }
            intent.implicit.extend(loaded.expired_keys.iter().cloned());
            if self.cleared {
                // Everything loaded and not written anew goes: unknown keys, and known ones whose
                // stored bytes this binary could not read or that equal its default, which an
                // older binary would otherwise still see.
                intent.implicit.extend(loaded.record.entries.iter().map(|(k, _)| k.clone()));
            }
        }
        Ok(intent)
    }
}
