//! The sessions of one owner: the key a session's owner field gives, the owner's index, and
//! [`Sessions`], the handle that lists and ends them.
//!
//! # How the index works, on every store
//!
//! An owner's index is itself a record in the session store, filed under a key hashed from
//! ("session-kit owner index", the session type's name, the owner's key): it can never be a
//! session's key, which hashes (name, id) with a length prefix in front. It holds one entry per
//! member session, keyed by the member's [`StoreKey`], and never expires: a small record that
//! stays, about 40 bytes per member until pruned. (It is a record like a session's, so
//! [`Store::count_live`] counts it too.)
//!
//! The index is a hint, checked against each record: a member is listed only if its record is
//! live and its owner field holds the owner asked for now. The session's owner lives in its own
//! record, so it changes atomically with the change that set it, on every store, with no
//! multi-key transaction; members found dead or owned by someone else are pruned from the index
//! as they are found. The engine adds a session to its owner's index before the store write
//! that makes it the owner's (a login's create, apply or `cycle_id` rename), so a live session
//! is never missing from the index; a write that then fails leaves a member that a later
//! listing prunes. A member is pruned only a minute after it was added, so that a listing
//! running between the add and that write does not prune a session about to become live.
//! Stores that cannot write two keys atomically (Redis Cluster, where the index and the session
//! live in different hash slots; Memcached) need nothing more: listing never relies on the index
//! being exact.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::data::SessionData;
use crate::engine::Storage;
use crate::error::{Error, StoreError};
use crate::id::StoreKey;
use crate::policy::ExpiryPolicy;
use crate::record::{Change, Entry, Meta, Record};
use crate::state::FieldEncoder;
use crate::store::{Applied, Created, Store};
use crate::time::{Clock, Timestamp};

/// A value that names the owner of a session: the type of the field marked
/// `#[session(owner)]`.
///
/// The key is what the owner's index is filed under, so it must be **stable across deploys**:
/// the same owner gives the same bytes in every build (integers give their big-endian bytes,
/// strings their UTF-8). `None` means the session has no owner (e.g. `Option::None` before
/// login).
///
/// ```
/// use session_core::OwnerKey;
///
/// assert_eq!(7u64.owner_key().as_deref(), Some(&[0, 0, 0, 0, 0, 0, 0, 7][..]));
/// assert_eq!(String::from("ada").owner_key().as_deref(), Some(&b"ada"[..]));
/// assert_eq!(None::<u64>.owner_key(), None);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot name the owner of a session: it does not implement `OwnerKey`",
    label = "the type of the `#[session(owner)]` field",
    note = "an owner field holds an integer, a `String` or `Box<str>`, or an `Option` of one; \
            implement `OwnerKey` for your own id type, with bytes that stay the same across deploys"
)]
pub trait OwnerKey {
    /// The owner's key, or `None` if there is no owner.
    fn owner_key(&self) -> Option<Cow<'_, [u8]>>;
}

macro_rules! integer_owner_keys {
    ($($t:ty),* $(,)?) => {
        $(impl OwnerKey for $t {
            fn owner_key(&self) -> Option<Cow<'_, [u8]>> {
                Some(Cow::Owned(self.to_be_bytes().to_vec()))
            }
        })*
    };
}
integer_owner_keys!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize);

impl OwnerKey for str {
    fn owner_key(&self) -> Option<Cow<'_, [u8]>> {
        Some(Cow::Borrowed(self.as_bytes()))
    }
}

impl OwnerKey for [u8] {
    fn owner_key(&self) -> Option<Cow<'_, [u8]>> {
        Some(Cow::Borrowed(self))
    }
}

impl OwnerKey for String {
    fn owner_key(&self) -> Option<Cow<'_, [u8]>> {
        self.as_str().owner_key()
    }
}

impl OwnerKey for Box<str> {
    fn owner_key(&self) -> Option<Cow<'_, [u8]>> {
        (**self).owner_key()
    }
}

impl<K: OwnerKey> OwnerKey for Option<K> {
    fn owner_key(&self) -> Option<Cow<'_, [u8]>> {
        self.as_ref().and_then(K::owner_key)
    }
}

impl<K: OwnerKey + ?Sized> OwnerKey for &K {
    fn owner_key(&self) -> Option<Cow<'_, [u8]>> {
        (**self).owner_key()
    }
}

/// The key of the index of the owner whose key is `owner`, among sessions of type `namespace`.
///
/// The hash starts with a text, where a session key's starts with the length of its namespace
/// as eight bytes (the first a zero byte): no index key can equal a session's key.
pub(crate) fn index_key(namespace: &str, owner: &[u8]) -> StoreKey {
    owner_record_key(b"session-kit owner index", namespace, owner)
}

/// The key of a record of the owner whose key is `owner`, among sessions of type `namespace`,
/// for the use `label` names: distinct labels give distinct keys for one owner.
fn owner_record_key(label: &[u8], namespace: &str, owner: &[u8]) -> StoreKey {
    let mut hasher = Sha256::new();
    hasher.update(label);
    hasher.update((namespace.len() as u64).to_be_bytes());
    hasher.update(namespace.as_bytes());
    hasher.update(owner);
    StoreKey::from_digest(&hasher.finalize())
}

/// How many times adding to an index retries when another request created or deleted the
/// index record meanwhile.
const ADD_ATTEMPTS: u32 = 4;

/// An index with more members than this is pruned when a member is added, so the index of an
/// owner who never lists does not grow forever.
pub(crate) const PRUNE_ABOVE: usize = 16;

/// A member found dead or foreign is pruned only once it has been in the index this long: a
/// member is added just before the write that makes it the owner's, and a listing between the
/// two must not prune it.
const PRUNE_GRACE: Duration = Duration::from_secs(60);

/// Adds the session under `member` to the index under `index`: an entry holding when it was
/// added. Concurrent adds all land (stores merge entries per key).
pub(crate) async fn add_member(
    store: &dyn Store,
    index: &StoreKey,
    member: &StoreKey,
    now: Timestamp,
) -> Result<(), Error> {
    let entry = (member.as_str().to_owned(), Entry { value: now.as_millis().to_be_bytes().to_vec(), expires_at: None });
    put_entry(store, index, entry, now, "owner index").await
}

/// Sets one entry of the record under `key`, creating the record (with no deadlines: it never
/// expires) if there is none. Concurrent writers of other entries all land (stores merge
/// entries per key).
async fn put_entry(
    store: &dyn Store,
    key: &StoreKey,
    entry: (String, Entry),
    now: Timestamp,
    what: &'static str,
) -> Result<(), Error> {
    let change = Change { set: vec![entry.clone()], remove: Vec::new(), meta: None };
    for _ in 0..ADD_ATTEMPTS {
        if store.apply(key, &change, now).await? == Applied::Done {
            return Ok(());
        }
        // No record yet: the first writer creates it.
        let record = Record { meta: Meta::new(now), entries: vec![entry.clone()] };
        if store.create(key, &record, now).await? == Created::Stored {
            return Ok(());
        }
        // Another request created it meanwhile: apply again.
    }
    Err(StoreError::backend(what, "the record kept being created and deleted meanwhile").into())
}

/// The key of the "not before" record of the owner whose key is `owner`, among cookie sessions
/// of type `namespace` (see [`CookieStore::revocable`](crate::cookie::CookieStore::revocable)):
/// hashed like [`index_key`] under another label, so it is neither an index nor a session.
#[cfg(feature = "cookie")]
pub(crate) fn not_before_key(namespace: &str, owner: &[u8]) -> StoreKey {
    owner_record_key(b"session-kit owner not-before", namespace, owner)
}

/// The entry of a "not before" record.
#[cfg(feature = "cookie")]
const NOT_BEFORE: &str = "not_before";

/// An owner's "not before": cookie sessions of the owner created before `at` are refused,
/// except the one created at `keep` (the session that logged out everywhere else).
#[cfg(feature = "cookie")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NotBefore {
    at: Timestamp,
    keep: Option<Timestamp>,
}

#[cfg(feature = "cookie")]
impl NotBefore {
    /// Eight bytes of `at` (big-endian milliseconds), then eight of `keep` if any.
    fn to_bytes(self) -> Vec<u8> {
        let mut out = self.at.as_millis().to_be_bytes().to_vec();
        if let Some(keep) = self.keep {
            out.extend_from_slice(&keep.as_millis().to_be_bytes());
        }
        out
    }

    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let millis = |b: &[u8]| b.try_into().ok().map(|b| Timestamp::from_millis(u64::from_be_bytes(b)));
        match bytes.len() {
            8 => Some(Self { at: millis(bytes)?, keep: None }),
            16 => Some(Self { at: millis(&bytes[..8])?, keep: Some(millis(&bytes[8..])?) }),
            _ => None,
        }
    }

    /// Whether a session created at `created_at` is refused.
    fn refuses(self, created_at: Timestamp) -> bool {
        created_at < self.at && Some(created_at) != self.keep
    }
}

/// Whether the cookie session of `owner` (type `namespace`) created at `created_at` was ended
/// by a "not before" in `store`. An unreadable record refuses nothing (and is logged).
#[cfg(feature = "cookie")]
pub(crate) async fn is_revoked(
    store: &dyn Store,
    namespace: &str,
    owner: &[u8],
    created_at: Timestamp,
    now: Timestamp,
) -> Result<bool, Error> {
    let Some(record) = store.load(&not_before_key(namespace, owner), now).await? else { return Ok(false) };
    let Some(entry) = record.get(NOT_BEFORE) else { return Ok(false) };
    match NotBefore::from_bytes(&entry.value) {
        Some(not_before) => Ok(not_before.refuses(created_at)),
        None => {
            tracing::warn!(session = namespace, "an owner's \"not before\" record is unreadable; ignored");
            Ok(false)
        }
    }
}

/// When the entry of a member was added (`None` for an entry this version did not write).
fn added_at(entry: &Entry) -> Option<Timestamp> {
    let bytes: [u8; 8] = entry.value.as_slice().try_into().ok()?;
    Some(Timestamp::from_millis(u64::from_be_bytes(bytes)))
}

/// An opaque reference to one session of an owner, as [`Sessions::list`] gives it: safe to put
/// in a page or a form, for [`Sessions::end`].
///
/// A one-way hash of the session's store key (itself a hash of the id): it opens nothing, and
/// the session id cannot be recovered from it. It ends a session only together with the owner
/// it was listed for.
///
/// ```
/// use session_core::SessionRef;
///
/// let text = "0123456789abcdef0123456789abcdef";
/// let reference: SessionRef = text.parse()?;
/// assert_eq!(reference.to_string(), text);
/// assert!("not a reference".parse::<SessionRef>().is_err());
/// # Ok::<(), session_core::MalformedRef>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionRef(StoreKey);

impl SessionRef {
    /// The reference of the session stored under `key`.
    fn of(key: &StoreKey) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"session-kit session ref");
        hasher.update(key.as_str().as_bytes());
        Self(StoreKey::from_digest(&hasher.finalize()))
    }
}

impl fmt::Display for SessionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

impl fmt::Debug for SessionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionRef({})", self.0.as_str())
    }
}

impl FromStr for SessionRef {
    type Err = MalformedRef;

    fn from_str(s: &str) -> Result<Self, MalformedRef> {
        StoreKey::parse(s).map(Self).ok_or(MalformedRef)
    }
}

/// A string was not a [`SessionRef`] (32 lowercase hex digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a session reference (32 lowercase hex digits)")]
pub struct MalformedRef;

/// One live session of an owner, as [`Sessions::list`] gives it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OwnedSession<T> {
    /// What [`Sessions::end`] takes to end this session.
    pub reference: SessionRef,
    /// When the session was first stored.
    pub created_at: Timestamp,
    /// Its last activity, as precise as the idle throttle (a tenth of the idle timeout).
    pub last_active: Timestamp,
    /// Whether it is a remember-me session.
    pub remember_me: bool,
    /// Whether it is the session of the request the handle was taken from.
    pub is_current: bool,
    /// The session's fields, e.g. a device name stored at login.
    pub value: T,
}

/// The sessions of type `T` by owner, the field marked `#[session(owner)]`: list them, count
/// them, end one, end all ("log out everywhere") or all but the current one.
///
/// Get one from the layer (e.g. `SessionLayer::sessions`), usable outside requests (an admin
/// task, a CLI), or from a request's session (`Session::sessions`), which also knows which
/// session is the current one. It uses the layer's store, codec, expiry policy and clock.
///
/// Works on every server-side [`Store`], with no store code of its own: see the
/// [module docs](crate::owner) for how the index stays right. Each method loads the owner's
/// index and each member record: a cost per member, for account pages and admin tasks, not
/// for every request. Sealed and signed cookie sessions live in the browser: they cannot be
/// listed, counted or ended one by one ([`StoreError::Unsupported`]), but on a
/// [revocable](crate::cookie::CookieStore::revocable) cookie store [`end_all`](Self::end_all)
/// and [`end_others`](Self::end_others) refuse an owner's other cookies from their next request
/// on (without it they answer [`StoreError::Unsupported`] too).
///
/// Ending a session deletes its record: its next request gets a fresh session, and a request
/// already in flight for it cannot bring it back (a change to a deleted record is refused).
pub struct Sessions<T: SessionData> {
    storage: Storage,
    fields: Arc<dyn FieldEncoder<T>>,
    policy: ExpiryPolicy,
    clock: Arc<dyn Clock>,
    current: Option<StoreKey>,
    /// The creation time of the current session, for cookie storage (which has no keys).
    current_created: Option<Timestamp>,
}

impl<T: SessionData> Clone for Sessions<T> {
    fn clone(&self) -> Self {
        Self {
            storage: self.storage.clone(),
            fields: self.fields.clone(),
            policy: self.policy.clone(),
            clock: self.clock.clone(),
            current: self.current,
            current_created: self.current_created,
        }
    }
}

impl<T: SessionData> fmt::Debug for Sessions<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sessions").field("session", &T::NAME).field("storage", &self.storage).finish_non_exhaustive()
    }
}

impl<T: SessionData> Sessions<T> {
    pub(crate) fn new(
        storage: Storage,
        fields: Arc<dyn FieldEncoder<T>>,
        policy: ExpiryPolicy,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { storage, fields, policy, clock, current: None, current_created: None }
    }

    /// This handle, with the session stored under `current` as the current one.
    // For the web handles and the conformance checks.
    #[cfg_attr(not(any(feature = "web", feature = "conformance")), allow(dead_code))]
    pub(crate) fn with_current(mut self, current: Option<StoreKey>) -> Self {
        self.current = current;
        self
    }

    /// This handle, with the session created at `created_at` as the current one: how a cookie
    /// session, which has no store key, is told from the owner's others.
    #[cfg(all(feature = "web", feature = "cookie"))]
    pub(crate) fn with_current_created(mut self, created_at: Option<Timestamp>) -> Self {
        self.current_created = created_at;
        self
    }

    fn store(&self) -> Result<&dyn Store, StoreError> {
        match &self.storage {
            Storage::Server(store) => Ok(&**store),
            #[cfg(feature = "cookie")]
            Storage::Cookie(_) => Err(StoreError::Unsupported { operation: "listing the sessions of an owner" }),
        }
    }

    /// The live sessions of `owner`, the oldest first (by [`created_at`](OwnedSession::created_at)).
    /// An owner of `None` has none.
    pub async fn list(&self, owner: &(impl OwnerKey + ?Sized)) -> Result<Vec<OwnedSession<T>>, Error> {
        Ok(self.members(owner).await?.into_iter().map(|(_, session)| session).collect())
    }

    /// How many live sessions `owner` has.
    pub async fn count(&self, owner: &(impl OwnerKey + ?Sized)) -> Result<usize, Error> {
        Ok(self.members(owner).await?.len())
    }

    /// Ends the session of `owner` that `reference` names; `false` (and nothing ended) if
    /// `owner` has no live session with that reference: a reference guessed, replayed or taken
    /// from another owner's list ends nothing.
    pub async fn end(&self, owner: &(impl OwnerKey + ?Sized), reference: &SessionRef) -> Result<bool, Error> {
        let store = self.store()?;
        for (key, session) in self.members(owner).await? {
            if session.reference == *reference {
                store.delete(&key).await?;
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Ends every session of `owner` ("log out everywhere"); returns how many were ended.
    ///
    /// On a [revocable](crate::cookie::CookieStore::revocable) cookie store it refuses, from
    /// their next request on, every cookie session of `owner` created until now, and returns
    /// 0: cookie sessions cannot be counted.
    pub async fn end_all(&self, owner: &(impl OwnerKey + ?Sized)) -> Result<u64, Error> {
        #[cfg(feature = "cookie")]
        if let Storage::Cookie(cookies) = &self.storage {
            return self.revoke(cookies, owner, None).await;
        }
        self.end_where(owner, |_| true).await
    }

    /// Ends every session of `owner` but the current one ("log out everywhere else"); returns
    /// how many were ended. On a handle with no current session it ends them all.
    ///
    /// On a [revocable](crate::cookie::CookieStore::revocable) cookie store, as
    /// [`end_all`](Self::end_all) but sparing the current session, and returns 0.
    pub async fn end_others(&self, owner: &(impl OwnerKey + ?Sized)) -> Result<u64, Error> {
        #[cfg(feature = "cookie")]
        if let Storage::Cookie(cookies) = &self.storage {
            return self.revoke(cookies, owner, self.current_created).await;
        }
        self.end_where(owner, |session| !session.is_current).await
    }

    /// Refuses the cookie sessions of `owner` created before now, but the one created at
    /// `keep`: see [`CookieStore::revocable`](crate::cookie::CookieStore::revocable).
    #[cfg(feature = "cookie")]
    async fn revoke(
        &self,
        cookies: &crate::cookie::CookieStore,
        owner: &(impl OwnerKey + ?Sized),
        keep: Option<Timestamp>,
    ) -> Result<u64, Error> {
        let Some(store) = cookies.revocations() else {
            return Err(
                StoreError::Unsupported { operation: "ending cookie sessions (see CookieStore::revocable)" }.into()
            );
        };
        let Some(owner) = owner.owner_key() else { return Ok(0) };
        let now = self.clock.now();
        let not_before = NotBefore { at: now, keep };
        let entry = (NOT_BEFORE.to_owned(), Entry { value: not_before.to_bytes(), expires_at: None });
        put_entry(store, &not_before_key(T::NAME, &owner), entry, now, "owner not-before").await?;
        Ok(0)
    }

    async fn end_where(
        &self,
        owner: &(impl OwnerKey + ?Sized),
        which: impl Fn(&OwnedSession<T>) -> bool,
    ) -> Result<u64, Error> {
        let store = self.store()?;
        let mut ended = 0;
        for (key, session) in self.members(owner).await? {
            if which(&session) {
                store.delete(&key).await?;
                ended += 1;
            }
        }
        Ok(ended)
    }

    /// The live sessions of `owner` with their store keys; prunes the index of what is not.
    async fn members(&self, owner: &(impl OwnerKey + ?Sized)) -> Result<Vec<(StoreKey, OwnedSession<T>)>, Error> {
        let store = self.store()?;
        let Some(owner) = owner.owner_key() else { return Ok(Vec::new()) };
        let now = self.clock.now();
        let index = index_key(T::NAME, &owner);
        let Some(record) = store.load(&index, now).await? else { return Ok(Vec::new()) };
        let mut live = Vec::new();
        let mut stale = Vec::new();
        for (member, entry) in &record.entries {
            let found = match StoreKey::parse(member) {
                Some(key) => self.member(store, key, &owner, now).await?,
                None => None,
            };
            match found {
                Some(session) => live.push(session),
                // Not pruned while the write that makes it the owner's may still be under way.
                None if added_at(entry).is_none_or(|at| at.after(PRUNE_GRACE) <= now) => stale.push(member.clone()),
                None => {}
            }
        }
        prune(store, &index, stale, now).await;
        // Stores need not keep entries in the order they were written.
        live.sort_by_key(|(_, session)| (session.created_at, session.reference));
        Ok(live)
    }

    /// Prunes the index of `owner` if it holds more than [`PRUNE_ABOVE`] members.
    pub(crate) async fn prune_if_large(&self, owner: &[u8]) -> Result<(), Error> {
        let store = self.store()?;
        let index = index_key(T::NAME, owner);
        match store.load(&index, self.clock.now()).await? {
            Some(record) if record.entries.len() > PRUNE_ABOVE => self.members(owner).await.map(drop),
            _ => Ok(()),
        }
    }

    /// The session under `key`, if it is live and `owner` owns it.
    async fn member(
        &self,
        store: &dyn Store,
        key: StoreKey,
        owner: &[u8],
        now: Timestamp,
    ) -> Result<Option<(StoreKey, OwnedSession<T>)>, Error> {
        let Some(index) = T::OWNER else { return Ok(None) };
        let Some(record) = store.load(&key, now).await? else { return Ok(None) };
        let meta = self.policy.effective(record.meta);
        if meta.is_expired(now) {
            return Ok(None);
        }
        // The owner field first: a foreign member's other fields are not decoded.
        let mut value = T::fresh();
        self.decode(&mut value, &record, index, now);
        if value.owner_key().as_deref() != Some(owner) {
            return Ok(None);
        }
        for other in (0..T::FIELDS.len()).filter(|&i| i != index) {
            self.decode(&mut value, &record, other, now);
        }
        let session = OwnedSession {
            reference: SessionRef::of(&key),
            created_at: meta.created_at,
            last_active: meta.last_active,
            remember_me: meta.remember_me,
            is_current: self.current == Some(key),
            value,
        };
        Ok(Some((key, session)))
    }

    /// Decodes field `index` of `value` from its live entry in `record`, if it has one that
    /// decodes (else it keeps its default, as when a request opens the session).
    fn decode(&self, value: &mut T, record: &Record, index: usize, now: Timestamp) {
        let Some(entry) = record.get(T::FIELDS[index].key) else { return };
        if !entry.is_expired(now) {
            let _ = self.fields.decode_field(value, index, &entry.value);
        }
    }
}

/// Removes `stale` members from `index`; a failure is logged, not returned: the next listing
/// tries again.
async fn prune(store: &dyn Store, index: &StoreKey, stale: Vec<String>, now: Timestamp) {
    if stale.is_empty() {
        return;
    }
    let change = Change { set: Vec::new(), remove: stale, meta: None };
    if let Err(error) = store.apply(index, &change, now).await {
        tracing::warn!(%error, "could not prune an owner's index of ended sessions");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::SessionId;

    #[test]
    fn index_keys_are_not_session_keys_and_differ_by_type_and_owner() {
        let id = SessionId::new("abcdefghijklmnopqrstuv".into()).unwrap();
        let index = index_key("app", b"abcdefghijklmnopqrstuv");
        assert_ne!(index, id.store_key("app"));
        assert_ne!(index, index_key("cart", b"abcdefghijklmnopqrstuv"));
        assert_ne!(index, index_key("app", b"abcdefghijklmnopqrstuw"));
        assert_ne!(index_key("ap", b"px"), index_key("app", b"x"));
    }

    #[cfg(feature = "cookie")]
    #[test]
    fn not_before_refuses_older_sessions_but_the_one_kept_and_round_trips() {
        let at = Timestamp::from_millis(1_700_000_000_000);
        let earlier = Timestamp::from_millis(1_699_999_999_999);
        let all = NotBefore { at, keep: None };
        assert!(all.refuses(earlier));
        assert!(!all.refuses(at), "a session created at the very millisecond stays");
        let others = NotBefore { at, keep: Some(earlier) };
        assert!(!others.refuses(earlier), "the current session is kept");
        assert!(others.refuses(Timestamp::from_millis(1)));
        for not_before in [all, others] {
            assert_eq!(NotBefore::from_bytes(&not_before.to_bytes()), Some(not_before));
        }
        assert_eq!(NotBefore::from_bytes(&[1, 2, 3]), None);
        assert_ne!(not_before_key("app", b"ann"), index_key("app", b"ann"));
    }

    /// A "not before" record that does not parse (written by hand, or by a later release)
    /// refuses nothing and is reported, rather than failing or logging everyone out.
    #[cfg(all(feature = "cookie", feature = "memory"))]
    #[tokio::test]
    async fn an_unreadable_not_before_refuses_nothing_and_warns() {
        use crate::test_support::{count_warnings, NOW};
        let store = crate::MemoryStore::new();
        let garbage = Record {
            meta: Meta::new(NOW),
            entries: vec![(NOT_BEFORE.to_owned(), Entry { value: vec![1, 2, 3], expires_at: None })],
        };
        store.create(&not_before_key("app", b"ann"), &garbage, NOW).await.unwrap();
        let (warnings, _guard) = count_warnings();
        let created = Timestamp::from_millis(1);
        assert!(!is_revoked(&store, "app", b"ann", created, NOW).await.unwrap());
        assert_eq!(warnings.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(!is_revoked(&store, "app", b"bob", created, NOW).await.unwrap(), "no record: nothing refused");
    }

    #[test]
    fn references_round_trip_and_hide_the_key() {
        let key = SessionId::new("abcdefghijklmnopqrstuv".into()).unwrap().store_key("app");
        let reference = SessionRef::of(&key);
        assert_ne!(reference.to_string(), key.as_str());
        assert_eq!(reference.to_string().parse::<SessionRef>(), Ok(reference));
        assert_eq!("../x".parse::<SessionRef>(), Err(MalformedRef));
    }

    /// Sealed and signed cookie sessions keep nothing server-side: every method says so.
    #[cfg(feature = "cookie")]
    #[tokio::test]
    async fn cookie_sessions_cannot_be_listed_and_say_so() {
        use crate::codec::{Codec, CodecError};
        use crate::cookie::{CookieStore, Key, KeyRing};
        use crate::data::FieldSpec;
        use crate::engine::Engine;

        #[derive(Debug)]
        struct Owned;
        impl SessionData for Owned {
            const NAME: &'static str = "owned";
            const FIELDS: &'static [FieldSpec] = &[];
            fn fresh() -> Self {
                Self
            }
            fn encode_field<C: Codec>(&self, _: usize, _: &C, _: &mut Vec<u8>) -> Result<(), CodecError> {
                Ok(())
            }
            fn decode_field<C: Codec>(&mut self, _: usize, _: &C, _: &[u8]) -> Result<(), CodecError> {
                Ok(())
            }
            fn reset_field(&mut self, _: usize) {}
        }

        let sessions = Engine::<Owned>::new(CookieStore::sealed(KeyRing::new(Key::generate()))).sessions();
        let unsupported = |error: Error| matches!(error, Error::Store(StoreError::Unsupported { .. }));
        assert!(unsupported(sessions.list(&1u64).await.unwrap_err()), "list");
        assert!(unsupported(sessions.count(&1u64).await.unwrap_err()), "count");
        assert!(unsupported(sessions.end_all(&1u64).await.unwrap_err()), "end_all");
        assert!(unsupported(sessions.end_others(&1u64).await.unwrap_err()), "end_others");
    }

    #[test]
    fn owner_keys_of_the_std_types() {
        assert_eq!(258u16.owner_key().as_deref(), Some(&[1, 2][..]));
        assert_eq!((-1i8).owner_key().as_deref(), Some(&[0xff][..]));
        assert_eq!(Some(Box::<str>::from("a")).owner_key().as_deref(), Some(&b"a"[..]));
        assert_eq!(None::<String>.owner_key(), None);
    }
}
