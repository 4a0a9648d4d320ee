//! Opening and saving sessions against a store: everything but HTTP.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use crate::codec::{Codec, Postcard};
use crate::data::SessionData;
use crate::error::Error;
use crate::id::StoreKey;
use crate::id::{IdGenerator, RandomIds, SessionId};
use crate::owner::{self, Sessions};
use crate::policy::ExpiryPolicy;
use crate::record::{Change, Entry, Meta, Record};
use crate::state::{Diff, FieldCodec, FieldEncoder, Loaded, Origin, SessionState};
use crate::store::{Applied, Created, Renamed, Store};
use crate::time::{Clock, SystemClock, Timestamp};

/// Where sessions live: a server-side [`Store`], or the client's cookie.
#[derive(Clone)]
#[non_exhaustive]
pub enum Storage {
    /// Records in a server-side store; the client holds only the id.
    Server(Arc<dyn Store>),
    /// The whole record sealed or signed into the cookie.
    #[cfg(feature = "cookie")]
    Cookie(Arc<crate::cookie::CookieStore>),
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Server(_) => f.write_str("Storage::Server"),
            #[cfg(feature = "cookie")]
            Self::Cookie(c) => f.debug_tuple("Storage::Cookie").field(c).finish(),
        }
    }
}

/// Anything a session layer can keep sessions in: every [`Store`], and the cookie store.
pub trait IntoStorage {
    /// The storage.
    fn into_storage(self) -> Storage;
}

impl<S: Store> IntoStorage for S {
    fn into_storage(self) -> Storage {
        Storage::Server(Arc::new(self))
    }
}

impl IntoStorage for Storage {
    fn into_storage(self) -> Storage {
        self
    }
}

#[cfg(feature = "cookie")]
impl IntoStorage for crate::cookie::CookieStore {
    fn into_storage(self) -> Storage {
        Storage::Cookie(Arc::new(self))
    }
}

/// What the response must do with the session cookie (or header) after a save.
#[derive(Clone, PartialEq, Eq)]
pub enum CookieOp {
    /// Nothing: the client's token is still right.
    Keep,
    /// Send this token.
    Set {
        /// The cookie value: the session id, or the sealed record.
        value: String,
        /// `None` for a browser-session cookie.
        max_age: Option<Duration>,
    },
    /// Tell the client to drop its token.
    Remove,
}

impl std::fmt::Debug for CookieOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Keep => f.write_str("Keep"),
            // The value is a session id or a sealed record: a bearer secret either way.
            Self::Set { max_age, .. } => {
                f.debug_struct("Set").field("value", &"<redacted>").field("max_age", max_age).finish()
            }
            Self::Remove => f.write_str("Remove"),
        }
    }
}

/// A save that failed, and what the client's token must become all the same.
///
/// A request can fail after a step that already moved the session: when `cycle_id` moved it
/// to a new id and the change after that failed, the old id is dead, so the client must get
/// the new one (which holds the session as it was) with the error response, or it loses its
/// session.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct SaveError {
    /// What failed.
    #[source]
    pub error: Error,
    /// What the response must still do with the client's token.
    pub token: CookieOp,
}

impl SaveError {
    fn keep(error: impl Into<Error>) -> Self {
        Self { error: error.into(), token: CookieOp::Keep }
    }
}

/// How many fresh ids to try before giving up on a collision (each one is 2^-128 likely).
const CREATE_ATTEMPTS: u32 = 3;

/// What a save comes to once the session is worked out.
/// What [`Engine::start_save`] gives: the outcome, or the store calls still to make.
#[cfg(feature = "web")]
pub(crate) enum SaveStart<'a> {
    Done(Result<CookieOp, SaveError>),
    Writing(std::pin::Pin<Box<dyn Future<Output = Result<CookieOp, SaveError>> + Send + 'a>>),
}

enum Plan<'a> {
    /// Nothing to write (or only a cookie to seal): the outcome is known.
    Done(Result<CookieOp, SaveError>),
    /// Store calls to make.
    Write(Write<'a>),
}

/// The store calls a save makes, with what they need.
enum Write<'a> {
    /// Delete the stored session, then send `token`.
    Delete { store: &'a dyn Store, key: StoreKey, token: CookieOp },
    /// Store a new session under a fresh id; join the index of `owner` first.
    Create { store: &'a dyn Store, record: Record, max_age: Option<Duration>, owner: Option<Vec<u8>> },
    /// Write `change` to the session stored under `key`, moving it to a fresh id first if
    /// `cycle`; `resend` the token even if the id stays; join the index of `owner` first.
    Change {
        store: &'a dyn Store,
        id: SessionId,
        key: StoreKey,
        change: Change,
        cycle: bool,
        resend: bool,
        max_age: Option<Duration>,
        owner: Option<Vec<u8>>,
    },
}

/// What the response does with the token of the session stored under `id`: sends it (with
/// `max_age`) if `send`, else keeps the client's.
fn token(id: &SessionId, send: bool, max_age: Option<Duration>) -> CookieOp {
    if send {
        CookieOp::Set { value: id.as_str().to_owned(), max_age }
    } else {
        CookieOp::Keep
    }
}

/// Opens and saves sessions of type `T` in one storage, with one codec and expiry policy.
///
/// This is the part of a session layer that does not know HTTP: the axum layer owns one and
/// calls [`open`](Self::open) when a handler extracts the session and [`save`](Self::save)
/// when the handler has returned.
pub struct Engine<T, C = Postcard> {
    storage: Storage,
    fields: Arc<FieldCodec<C>>,
    policy: ExpiryPolicy,
    ids: Arc<dyn IdGenerator>,
    clock: Arc<dyn Clock>,
    cookie_name: String,
    _data: PhantomData<fn() -> T>,
}

impl<T, C> Clone for Engine<T, C> {
    fn clone(&self) -> Self {
        Self {
            storage: self.storage.clone(),
            fields: self.fields.clone(),
            policy: self.policy.clone(),
            ids: self.ids.clone(),
            clock: self.clock.clone(),
            cookie_name: self.cookie_name.clone(),
            _data: PhantomData,
        }
    }
}

impl<T, C> std::fmt::Debug for Engine<T, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("storage", &self.storage)
            .field("policy", &self.policy)
            .field("cookie_name", &self.cookie_name)
            .finish_non_exhaustive()
    }
}

impl<T: SessionData> Engine<T, Postcard> {
    /// An engine over `storage` with postcard, the default policy, random ids and the system
    /// clock; the cookie name is the session type's `NAME`.
    pub fn new(storage: impl IntoStorage) -> Self {
        Self {
            storage: storage.into_storage(),
            fields: Arc::new(FieldCodec::new::<T>(Postcard)),
            policy: ExpiryPolicy::default(),
            ids: Arc::new(RandomIds),
            clock: Arc::new(SystemClock),
            cookie_name: T::NAME.to_owned(),
            _data: PhantomData,
        }
    }
}

impl<T: SessionData, C: Codec> Engine<T, C> {
    /// Encodes field values with `codec` instead.
    pub fn with_codec<C2: Codec>(self, codec: C2) -> Engine<T, C2> {
        Engine {
            storage: self.storage,
            fields: Arc::new(FieldCodec::new::<T>(codec)),
            policy: self.policy,
            ids: self.ids,
            clock: self.clock,
            cookie_name: self.cookie_name,
            _data: PhantomData,
        }
    }

    /// The expiry policy, for changing.
    pub fn policy_mut(&mut self) -> &mut ExpiryPolicy {
        &mut self.policy
    }

    /// The expiry policy.
    pub fn policy(&self) -> &ExpiryPolicy {
        &self.policy
    }

    /// Uses `ids` to make and check session ids.
    pub fn set_id_generator(&mut self, ids: impl IdGenerator) {
        self.ids = Arc::new(ids);
    }

    /// Reads the time from `clock` (tests move a [`ManualClock`](crate::ManualClock)).
    pub fn set_clock(&mut self, clock: impl Clock) {
        self.clock = Arc::new(clock);
    }

    /// The cookie name client-side sessions are authenticated with.
    pub fn set_cookie_name(&mut self, name: impl Into<String>) {
        self.cookie_name = name.into();
    }

    /// The cookie name.
    pub fn cookie_name(&self) -> &str {
        &self.cookie_name
    }

    /// Where the sessions live.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    fn encoder(&self) -> Arc<dyn FieldEncoder<T>> {
        self.fields.clone()
    }

    /// Opens the session a request presented `token` for. A missing, malformed, unknown,
    /// expired, tampered or foreign token gives a fresh session; only store failures are errors.
    ///
    /// Deadlines are read under the current policy ([`ExpiryPolicy::effective`]), so a
    /// shorter timeout reaches sessions stored before it.
    pub async fn open(&self, token: Option<&str>) -> Result<SessionState<T>, Error> {
        let Some(token) = token else {
            return Ok(SessionState::fresh(self.encoder(), false));
        };
        let now = self.clock.now();
        let found = match &self.storage {
            Storage::Server(store) => match self.ids.parse(token) {
                // Malformed ids never reach the store.
                None => None,
                Some(id) => {
                    let key = id.store_key(T::NAME);
                    store.load_shared(&key, now).await?.map(|record| (Origin::Server(id, key), record))
                }
            },
            #[cfg(feature = "cookie")]
            Storage::Cookie(cookies) => cookies
                .open(&self.cookie_name, token, T::FIELDS, now)
                .map(|opened| (Origin::Cookie { reseal: opened.needs_reseal() }, Arc::new(opened.record))),
        };
        let loaded = found.and_then(|(origin, record)| {
            let meta = self.policy.effective(record.meta);
            let tightened = meta != record.meta;
            SessionState::loaded(self.encoder(), &self.fields.codec, origin, record, meta, tightened, now)
        });
        // Decided without awaiting, so that the usual open (a server store, or a cookie store
        // that is not revocable) gains no await point.
        #[cfg(feature = "cookie")]
        if let Some((store, owner, created_at)) = loaded.as_ref().and_then(|state| self.revocation_check(state)) {
            if owner::is_revoked(store, T::NAME, &owner, created_at, now).await? {
                return Ok(SessionState::fresh(self.encoder(), true));
            }
        }
        Ok(loaded.unwrap_or_else(|| SessionState::fresh(self.encoder(), true)))
    }

    /// What to look up to know whether `state` is a cookie session whose owner's sessions were
    /// ended after it was created ([`CookieStore::revocable`](crate::cookie::CookieStore::revocable)):
    /// the store, the owner and the creation time; `None` (nothing to look up) unless the
    /// cookie store is revocable and the session names an owner.
    #[cfg(feature = "cookie")]
    fn revocation_check(&self, state: &SessionState<T>) -> Option<(&dyn Store, Vec<u8>, Timestamp)> {
        let Storage::Cookie(cookies) = &self.storage else { return None };
        T::OWNER?;
        let store = cookies.revocations()?;
        Some((store, state.data().owner_key()?, state.meta()?.created_at))
    }

    /// The fresh session a request gets for a token that could not even be read (a web layer's
    /// token transform refused it): like an unknown token, no store access, and a `destroy`
    /// still removes what the client holds.
    #[cfg(feature = "web")]
    pub(crate) fn open_unreadable(&self) -> SessionState<T> {
        SessionState::fresh(self.encoder(), true)
    }

    /// Saves what the request changed and says what to do with the client's token.
    ///
    /// On failure, [`SaveError::token`] still says what to do with the token: whatever step
    /// fails, the client ends with a token that opens the session (the old one, or the new one
    /// after a `cycle_id` that went through).
    ///
    /// What to write is worked out when this is called, so the future holds only the store
    /// calls still to make, not the session: it stays small, and the loaded record is released
    /// before the store is written to (the memory store then updates it in place).
    pub fn save(&self, state: SessionState<T>) -> impl Future<Output = Result<CookieOp, SaveError>> + Send + '_ {
        let now = self.clock.now();
        let plan = self.plan(state, now);
        async move {
            // By reference from here: moving the plan out would store it in the future twice.
            match plan {
                Plan::Done(outcome) => outcome,
                Plan::Write(ref write) => self.write(write, now).await,
            }
        }
    }

    /// [`save`](Self::save) for a web layer's request future: the outcome at once when there is
    /// nothing to write (a read-only request, the usual case), else the store calls boxed. The
    /// layer's future then carries a pointer, not the store calls' state, and a read-only request
    /// allocates nothing for its save.
    #[cfg(feature = "web")]
    pub(crate) fn start_save(&self, state: SessionState<T>) -> SaveStart<'_> {
        let now = self.clock.now();
        match self.plan(state, now) {
            Plan::Done(outcome) => SaveStart::Done(outcome),
            Plan::Write(write) => SaveStart::Writing(Box::pin(async move { self.write(&write, now).await })),
        }
    }

    /// Makes the store calls of a save.
    async fn write(&self, write: &Write<'_>, now: Timestamp) -> Result<CookieOp, SaveError> {
        match write {
            Write::Delete { store, key, token } => {
                store.delete(key).await.map_err(SaveError::keep)?;
                Ok(token.clone())
            }
            Write::Create { store, record, max_age, owner } => {
                // Once per session: boxed too.
                Box::pin(self.create(*store, record, *max_age, owner.as_deref(), now)).await.map_err(SaveError::keep)
            }
            Write::Change { store, key, change, cycle: true, max_age, owner, .. } => {
                // Rare (a login): boxed, so that the usual save's future does not carry its state.
                Box::pin(self.cycle_and_change(*store, key, change, *max_age, owner.as_deref(), now)).await
            }
            Write::Change { store, id, key, change, cycle: false, resend, max_age, owner } => {
                if let Some(owner) = owner {
                    // Rare (a login without `cycle_id`, an owner change): boxed too.
                    Box::pin(self.join(*store, owner, key, now)).await.map_err(SaveError::keep)?;
                }
                if !change.is_empty() {
                    match store.apply(key, change, now).await {
                        Ok(Applied::Done) => {}
                        Ok(Applied::Gone) => return Ok(self.gone()),
                        Err(error) => return Err(SaveError::keep(error)),
                    }
                }
                Ok(token(id, *resend, *max_age))
            }
        }
    }

    /// What saving `state` takes: everything but the store calls, done now.
    fn plan(&self, mut state: SessionState<T>, now: Timestamp) -> Plan<'_> {
        if state.wants_destroy() {
            let token = if state.presented { CookieOp::Remove } else { CookieOp::Keep };
            return match (&self.storage, state.loaded.take()) {
                (Storage::Server(store), Some(Loaded { origin: Origin::Server(_, key), .. })) => {
                    Plan::Write(Write::Delete { store: &**store, key, token })
                }
                _ => Plan::Done(Ok(token)),
            };
        }
        let diff = match state.diff(now) {
            Ok(diff) => diff,
            Err(error) => return Plan::Done(Err(SaveError::keep(error))),
        };
        let remember = state.remember_choice();
        let lifetime = state.lifetime_choice();
        let cycle = state.wants_new_id();
        let Some(loaded) = state.loaded.take() else {
            let meta = self.policy.new_meta(now, remember.unwrap_or(false), lifetime.flatten());
            return self.plan_new(diff, meta, now);
        };
        // The other handles hold the loaded record too: let it go before the store is written.
        drop(state);
        let mut meta = loaded.meta;
        // Deadlines tightened by the current policy are written back once, so the store's own
        // expiry (native TTL, collection) follows them too.
        let mut meta_changed = loaded.tightened;
        let remember_changed = remember.is_some_and(|r| r != meta.remember_me);
        if let Some(remember) = remember.filter(|_| remember_changed) {
            meta.remember_me = remember;
            meta_changed = true;
        }
        // Like remember-me: a session's own lifetime changes its cookie, so it is resent.
        let lifetime_changed = lifetime.is_some_and(|l| l != meta.lifetime);
        if let Some(lifetime) = lifetime.filter(|_| lifetime_changed) {
            meta.lifetime = lifetime;
            meta_changed = true;
        }
        let persistence_changed = remember_changed || lifetime_changed;
        // The idle deadline slides on its throttle only, not with every data change: a
        // typical write then touches just its fields (no metadata row update in SQL, no TTL
        // reset in Redis).
        if meta_changed || self.policy.slide_due(&meta, now) {
            self.policy.slide(&mut meta, now);
            meta_changed = true;
        }
        let persistent = self.policy.is_persistent(&meta);
        let max_age = self.policy.cookie_max_age(&meta, now);
        match (&self.storage, loaded.origin) {
            (Storage::Server(store), Origin::Server(id, key)) => {
                let change = Change { set: diff.set, remove: diff.remove, meta: meta_changed.then_some(meta) };
                // A browser-session cookie carries only the id: it needs resending only when
                // the id changes; a persistent one also when its lifetime moves. Switching
                // remember-me off resends it too, without `Max-Age`, so the browser turns it
                // back into a browser-session cookie.
                let resend = persistence_changed || (persistent && meta_changed);
                if change.is_empty() && !cycle {
                    // Nothing to write: the usual read-only request ends here.
                    return Plan::Done(Ok(token(&id, resend, max_age)));
                }
                let owner = self.joining_owner(&change.set, &change.remove, Some(&*loaded.record), cycle, now);
                Plan::Write(Write::Change { store: &**store, id, key, change, cycle, resend, max_age, owner })
            }
            #[cfg(feature = "cookie")]
            (Storage::Cookie(cookies), Origin::Cookie { reseal }) => {
                // The deadlines travel inside the cookie, so any change re-seals it.
                if !(meta_changed || reseal || cycle || !diff.is_empty()) {
                    return Plan::Done(Ok(CookieOp::Keep));
                }
                let mut meta = meta;
                // A login on a revocable store starts the session anew, so that an owner's
                // earlier "log out everywhere" does not refuse it (its absolute deadline stays).
                if cookies.revocations().is_some()
                    && self.joining_owner(&diff.set, &diff.remove, None, false, now).is_some()
                {
                    meta.created_at = now;
                }
                let mut record = Arc::unwrap_or_clone(loaded.record);
                record.apply(&Change { set: diff.set, remove: diff.remove, meta: Some(meta) });
                record.drop_expired_entries(now);
                Plan::Done(
                    cookies
                        .seal(&self.cookie_name, &record, T::FIELDS)
                        .map(|value| CookieOp::Set { value, max_age })
                        .map_err(SaveError::keep),
                )
            }
            #[cfg(feature = "cookie")]
            _ => unreachable!("a session is opened and saved by the same engine, so origin and storage agree"),
        }
    }

    /// What saving a session that was not stored yet takes.
    fn plan_new(&self, diff: Diff, meta: Meta, now: Timestamp) -> Plan<'_> {
        // A client that never writes to its session creates nothing and gets no cookie.
        if diff.set.is_empty() {
            return Plan::Done(Ok(CookieOp::Keep));
        }
        let max_age = self.policy.cookie_max_age(&meta, now);
        let record = Record { meta, entries: diff.set };
        match &self.storage {
            Storage::Server(store) => {
                let owner = self.joining_owner(&record.entries, &[], None, false, now);
                Plan::Write(Write::Create { store: &**store, record, max_age, owner })
            }
            #[cfg(feature = "cookie")]
            Storage::Cookie(cookies) => Plan::Done(
                cookies
                    .seal(&self.cookie_name, &record, T::FIELDS)
                    .map(|value| CookieOp::Set { value, max_age })
                    .map_err(SaveError::keep),
            ),
        }
    }

    /// The owner whose index a save must add the session to, before the write: the owner the
    /// save sets (the owner field among the entries it sets), or the owner a session keeps
    /// while it moves to a new id (`cycle`), as `loaded` holds it.
    ///
    /// Only these saves touch an index: any other save, however it changes the session, costs
    /// nothing here (one look for the owner field's key among the entries set, if the type has
    /// an owner field). A save that removes the owner (logout) leaves the index alone: the
    /// record no longer names the owner, so listings skip and prune it.
    fn joining_owner(
        &self,
        set: &[(String, Entry)],
        remove: &[String],
        loaded: Option<&Record>,
        cycle: bool,
        now: Timestamp,
    ) -> Option<Vec<u8>> {
        let index = T::OWNER?;
        let key = T::FIELDS.get(index)?.key;
        let bytes = match set.iter().find(|(k, _)| k == key) {
            Some((_, entry)) => &entry.value,
            None if cycle && !remove.iter().any(|k| k == key) => {
                &loaded?.get(key).filter(|entry| !entry.is_expired(now))?.value
            }
            None => return None,
        };
        let mut value = T::fresh();
        self.fields.decode_field(&mut value, index, bytes).ok()?;
        value.owner_key()
    }

    /// Adds the session under `member` to the index of `owner` (before the write that makes it
    /// the owner's: a live session is then never missing from the index), and prunes the index
    /// if it has grown large.
    async fn join(&self, store: &dyn Store, owner: &[u8], member: &StoreKey, now: Timestamp) -> Result<(), Error> {
        owner::add_member(store, &owner::index_key(T::NAME, owner), member, now).await?;
        if let Err(error) = self.sessions().prune_if_large(owner).await {
            tracing::warn!(session = T::NAME, %error, "could not prune an owner's index");
        }
        Ok(())
    }

    /// The sessions of this engine's type by owner: see [`Sessions`].
    ///
    /// The handle has no current session; the integrations' `Session::sessions` gives one that
    /// knows the request's session.
    pub fn sessions(&self) -> Sessions<T> {
        Sessions::new(self.storage.clone(), self.encoder(), self.policy.clone(), self.clock.clone())
    }

    /// Stores a new session under a fresh id, in the index of `owner` if it has one.
    async fn create(
        &self,
        store: &dyn Store,
        record: &Record,
        max_age: Option<Duration>,
        owner: Option<&[u8]>,
        now: Timestamp,
    ) -> Result<CookieOp, Error> {
        for _ in 0..CREATE_ATTEMPTS {
            let id: SessionId = self.ids.generate();
            let key = id.store_key(T::NAME);
            if let Some(owner) = owner {
                self.join(store, owner, &key, now).await?;
            }
            if store.create(&key, record, now).await? == Created::Stored {
                return Ok(CookieOp::Set { value: id.as_str().to_owned(), max_age });
            }
        }
        Err(Error::IdCollision(CREATE_ATTEMPTS))
    }

    /// Moves a stored session to a fresh id, then writes `change` to it.
    async fn cycle_and_change(
        &self,
        store: &dyn Store,
        key: &StoreKey,
        change: &Change,
        max_age: Option<Duration>,
        owner: Option<&[u8]>,
        now: Timestamp,
    ) -> Result<CookieOp, SaveError> {
        let Some((id, key)) = self.move_to_fresh_id(store, key, owner, now).await.map_err(SaveError::keep)? else {
            return Ok(self.gone());
        };
        if !change.is_empty() {
            match store.apply(&key, change, now).await {
                Ok(Applied::Done) => {}
                Ok(Applied::Gone) => return Ok(self.gone()),
                // The session moved: the client needs its new id whatever happened to the
                // change, or it is logged out.
                Err(error) => return Err(SaveError { error: error.into(), token: token(&id, true, max_age) }),
            }
        }
        Ok(token(&id, true, max_age))
    }

    /// Moves the record under `from` to a fresh id, retrying ids a live session already has;
    /// `None` if the session is gone.
    ///
    /// A rename whose outcome is unknown is not taken as "nothing happened": the record is then
    /// whole under one of the two keys (the store contract), so the new key is looked at, and
    /// if it has the record the move counts as done (and the old key is deleted, in case the
    /// store copied before it failed).
    async fn move_to_fresh_id(
        &self,
        store: &dyn Store,
        from: &StoreKey,
        owner: Option<&[u8]>,
        now: Timestamp,
    ) -> Result<Option<(SessionId, StoreKey)>, Error> {
        for _ in 0..CREATE_ATTEMPTS {
            let id = self.ids.generate();
            let key = id.store_key(T::NAME);
            // The new key joins the owner's index before the rename makes it live.
            if let Some(owner) = owner {
                self.join(store, owner, &key, now).await?;
            }
            match store.rename(from, &key, now).await {
                Ok(Renamed::Done) => return Ok(Some((id, key))),
                Ok(Renamed::Gone) => return Ok(None),
                Ok(Renamed::KeyTaken) => continue,
                Err(error) if error.is_outcome_unknown() => {
                    if let Ok(Some(_)) = store.load(&key, now).await {
                        if let Err(delete) = store.delete(from).await {
                            tracing::warn!(session = T::NAME, %delete, "could not delete the old key after a rename");
                        }
                        return Ok(Some((id, key)));
                    }
                    return Err(error.into());
                }
                Err(error) => return Err(error.into()),
            }
        }
        Err(Error::IdCollision(CREATE_ATTEMPTS))
    }

    fn gone(&self) -> CookieOp {
        // Destroyed (or expired) by another request meanwhile: the change is refused, never
        // allowed to bring the session back.
        tracing::warn!(
            session = T::NAME,
            "session was destroyed or expired during the request; its changes were dropped"
        );
        CookieOp::Remove
    }
}
