//! Opening and saving sessions against a store: everything but HTTP.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use crate::codec::{Codec, Postcard};
use crate::data::SessionData;
use crate::error::Error;
use crate::id::{IdGenerator, RandomIds, SessionId};
use crate::policy::ExpiryPolicy;
use crate::record::{Change, Record};
use crate::state::{Diff, FieldCodec, FieldEncoder, Loaded, Origin, SessionState};
use crate::store::{Applied, Created, Store};
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
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// How many fresh ids to try before giving up on a collision (each one is 2^-128 likely).
const CREATE_ATTEMPTS: u32 = 3;

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
    pub async fn open(&self, token: Option<&str>) -> Result<SessionState<T>, Error> {
        let Some(token) = token else {
            return Ok(SessionState::fresh(self.encoder(), false));
        };
        let now = self.clock.now();
        let loaded = match &self.storage {
            Storage::Server(store) => match self.ids.parse(token) {
                // Malformed ids never reach the store.
                None => None,
                Some(id) => {
                    let key = id.store_key();
                    match store.load(&key, now).await? {
                        Some(record) => {
                            let origin = Origin::Server(id, key);
                            SessionState::loaded(self.encoder(), &self.fields.codec, origin, record, now)
                        }
                        None => None,
                    }
                }
            },
            #[cfg(feature = "cookie")]
            Storage::Cookie(cookies) => cookies.open(&self.cookie_name, token, now).and_then(|opened| {
                let origin = Origin::Cookie { reseal: opened.stale_key };
                SessionState::loaded(self.encoder(), &self.fields.codec, origin, opened.record, now)
            }),
        };
        Ok(loaded.unwrap_or_else(|| SessionState::fresh(self.encoder(), true)))
    }

    /// Saves what the request changed and says what to do with the client's token.
    pub async fn save(&self, mut state: SessionState<T>) -> Result<CookieOp, Error> {
        let now = self.clock.now();
        if state.destroy {
            if let (Storage::Server(store), Some(Loaded { origin: Origin::Server(_, key), .. })) =
                (&self.storage, &state.loaded)
            {
                store.delete(key).await?;
            }
            return Ok(if state.presented { CookieOp::Remove } else { CookieOp::Keep });
        }
        let diff = state.diff(now)?;
        let remember = state.remember_me;
        let cycle = state.cycle;
        match state.loaded.take() {
            None => self.save_new(diff, remember.unwrap_or(false), now).await,
            Some(loaded) => {
                let mut meta = loaded.record.meta;
                let mut meta_changed = false;
                let remember_changed = remember.is_some_and(|r| r != meta.remember_me);
                if let Some(remember) = remember.filter(|_| remember_changed) {
                    meta.remember_me = remember;
                    meta_changed = true;
                }
                // The idle deadline slides on its throttle only, not with every data change: a
                // typical write then touches just its fields (no metadata row update in SQL, no
                // TTL reset in Redis).
                if meta_changed || self.policy.slide_due(&meta, now) {
                    meta.idle_deadline = Some(now.after(self.policy.idle_for(meta.remember_me)));
                    meta_changed = true;
                }
                let persistent = self.policy.persistent || meta.remember_me;
                let max_age = self.policy.cookie_max_age(&meta, now);
                match (&self.storage, loaded.origin) {
                    (Storage::Server(store), Origin::Server(mut id, mut key)) => {
                        let change = Change { set: diff.set, remove: diff.remove, meta: meta_changed.then_some(meta) };
                        let mut new_token = false;
                        if cycle {
                            let fresh = self.ids.generate();
                            let fresh_key = fresh.store_key();
                            if store.rename(&key, &fresh_key, now).await? == Applied::Gone {
                                return Ok(self.gone());
                            }
                            (id, key) = (fresh, fresh_key);
                            new_token = true;
                        }
                        if !change.is_empty() && store.apply(&key, &change, now).await? == Applied::Gone {
                            return Ok(self.gone());
                        }
                        // A browser-session cookie carries only the id: it needs resending only
                        // when the id changes; a persistent one also when its lifetime moves.
                        // Switching remember-me off resends it too, without `Max-Age`, so the
                        // browser turns it back into a browser-session cookie.
                        if new_token || remember_changed || (persistent && meta_changed) {
                            Ok(CookieOp::Set { value: id.as_str().to_owned(), max_age })
                        } else {
                            Ok(CookieOp::Keep)
                        }
                    }
                    #[cfg(feature = "cookie")]
                    (Storage::Cookie(cookies), Origin::Cookie { reseal }) => {
                        // The deadlines travel inside the cookie, so any change re-seals it.
                        if !(meta_changed || reseal || cycle || !diff.is_empty()) {
                            return Ok(CookieOp::Keep);
                        }
                        let mut record = loaded.record;
                        record.apply(&Change { set: diff.set, remove: diff.remove, meta: Some(meta) });
                        let value = cookies.seal(&self.cookie_name, &record)?;
                        Ok(CookieOp::Set { value, max_age })
                    }
                    #[cfg(feature = "cookie")]
                    _ => unreachable!("a session is opened and saved by the same engine, so origin and storage agree"),
                }
            }
        }
    }

    async fn save_new(&self, diff: Diff, remember: bool, now: Timestamp) -> Result<CookieOp, Error> {
        // A client that never writes to its session creates nothing and gets no cookie.
        if diff.set.is_empty() {
            return Ok(CookieOp::Keep);
        }
        let meta = self.policy.new_meta(now, remember);
        let max_age = self.policy.cookie_max_age(&meta, now);
        let record = Record { meta, entries: diff.set };
        match &self.storage {
            Storage::Server(store) => {
                for _ in 0..CREATE_ATTEMPTS {
                    let id: SessionId = self.ids.generate();
                    if store.create(&id.store_key(), &record, now).await? == Created::Stored {
                        return Ok(CookieOp::Set { value: id.as_str().to_owned(), max_age });
                    }
                }
                Err(Error::IdCollision(CREATE_ATTEMPTS))
            }
            #[cfg(feature = "cookie")]
            Storage::Cookie(cookies) => {
                let value = cookies.seal(&self.cookie_name, &record)?;
                Ok(CookieOp::Set { value, max_age })
            }
        }
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
