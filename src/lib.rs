//! Typed web sessions for axum.
//!
//! Write a plain struct, derive [`Session`](derive@Session), and extract
//! [`Session<T>`](struct@Session) in handlers: fields are checked by the compiler, only changed
//! fields are saved, and the same struct works with a sealed cookie, memory, files or a
//! database.
//!
//! ```
//! use axum::{routing::get, Router};
//! use session_kit::{MemoryStore, Session, SessionLayer};
//!
//! #[derive(Session)]
//! #[session(name = "app")]
//! struct App {
//!     user_id: Option<u64>,
//!     #[flash] // shown on the next request, then gone
//!     notice: Option<String>,
//!     #[session(ttl = "10m")] // this field alone expires 10 minutes after it was written
//!     otp: Option<String>,
//!     #[session(skip)] // never stored
//!     scratch: u32,
//! }
//!
//! async fn index(mut session: Session<App>) -> String {
//!     let notice = session.notice.take();
//!     session.user_id = Some(7);
//!     format!("{notice:?}")
//! }
//!
//! let app: Router = Router::new()
//!     .route("/", get(index))
//!     .layer(SessionLayer::<App>::new(MemoryStore::new()));
//! ```
//!
//! # Field attributes
//!
//! | attribute | meaning |
//! |---|---|
//! | none | stored under the field name; absent or undecodable reads as the default |
//! | `#[flash]` | kept until the end of the next request that opens the session (`Option` or `Vec` only) |
//! | `#[session(skip)]` | never stored; `Default` at every request |
//! | `#[session(ttl = "10m")]` | the stored value expires on its own (`30s`, `10m`, `12h`, `7d`) |
//! | `#[session(rename = "k")]` | storage key, stable across Rust renames |
//! | `#[session(default = "path")]` | function giving the value when absent |
//! | `#[session(owner)]` | names the session's owner (one field): list and end an owner's sessions with `Session::sessions` ([`owner`]) |
//! | container `#[session(name = "..")]` | cookie name and store namespace |
//! | container `#[session(crate = "..")]` | path to this crate, for re-exporters |
//!
//! # Where things are
//!
//! The crate root holds what an application uses: the derive and the extractor (both named
//! [`Session`](struct@Session)), the trait the derive implements ([`SessionData`], for generic
//! code), [`SessionLayer`] and the service it makes ([`SessionService`]), every store with its
//! builder ([`MemoryStore`], [`CookieStore`] with [`Key`] and [`KeyRing`], [`FileStore`],
//! `SqliteStore`, `PostgresStore`, `MysqlStore`, `RedisStore`, `MemcachedStore`, each behind
//! its feature), the [`Collector`] and the errors they return ([`StoreError`], [`KeyError`],
//! [`ConfigError`], [`SessionRejection`], [`Error`]). [`SameSite`] is there too: it is the one
//! type a layer setting takes that needs no module of its own.
//!
//! The other types a layer's builder methods take live in a small module named after the
//! method, so they are one obvious step away without crowding the root:
//!
//! | builder method | module | e.g. |
//! |---|---|---|
//! | [`codec`](SessionLayer::codec) | [`codec`] | `.codec(codec::Json)`; the [`Codec`](codec::Codec) trait for your own |
//! | [`clock`](SessionLayer::clock) | [`clock`] | `.clock(clock::ManualClock::starting_now())` in tests of expiry; [`Session::expires_at`] gives a [`Timestamp`](clock::Timestamp) |
//! | [`id_generator`](SessionLayer::id_generator) | [`id`] | `.id_generator(MyIds)`, an [`IdGenerator`](id::IdGenerator) making [`SessionId`](id::SessionId)s, which [`Session::id`] gives |
//! | [`token_transform`](SessionLayer::token_transform) | [`token`] | `.token_transform(token::TokenTransform::signed(keys))`: a signed (or sealed) session id |
//!
//! What only a store writer or a framework integrator needs has a module of its own, so it
//! never crowds an application's imports:
//!
//! - [`store`]: the [`Store`](store::Store) trait, the record it keeps and everything to
//!   write and test a store of your own (with the `conformance` feature, the suite every
//!   store here passes);
//! - [`integration`]: the framework-independent [`Engine`](integration::Engine) that opens
//!   and saves sessions, for integrating another web framework;
//! - [`cookie`]: the cookie store's limits, key ids and modes, beyond the root's
//!   `CookieStore`, `Key` and `KeyRing`.
//!
//! Expired sessions are removed by a [`Collector`] you start beside the server.
//!
//! # Features
//!
#![doc = document_features::document_features!()]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[doc(hidden)]
pub mod __private {
    //! What `#[derive(Session)]` expands to; not a public API.
    pub use core::result::Result::{self, Err, Ok};
    pub use core::time::Duration;
    pub use session_core::{Codec, CodecError, FieldSpec, OwnerKey, SessionData};
    pub use std::vec::Vec;

    /// A field type the derive can store. Generated code names it as `<FieldType as Storable>`
    /// with the field type's span, so a type lacking serde support gets one error, on the type,
    /// with this message (the encode and decode uses produce identical errors that rustc merges).
    #[diagnostic::on_unimplemented(
        message = "`{Self}` cannot be stored in a session: it must implement `Serialize` and `Deserialize`",
        label = "the type of this session field",
        note = "derive them with `#[derive(serde::Serialize, serde::Deserialize)]`, or keep the field out of storage with `#[session(skip)]`"
    )]
    pub trait Storable: Sized {
        /// Appends the encoding of `self` to `out`.
        fn encode_with<C: Codec>(&self, codec: &C, out: &mut Vec<u8>) -> Result<(), CodecError>;
        /// Decodes a value from all of `bytes`.
        fn decode_with<C: Codec>(codec: &C, bytes: &[u8]) -> Result<Self, CodecError>;
    }

    impl<T: serde::Serialize + serde::de::DeserializeOwned> Storable for T {
        #[inline]
        fn encode_with<C: Codec>(&self, codec: &C, out: &mut Vec<u8>) -> Result<(), CodecError> {
            codec.encode(self, out)
        }
        #[inline]
        fn decode_with<C: Codec>(codec: &C, bytes: &[u8]) -> Result<Self, CodecError> {
            codec.decode(bytes)
        }
    }

    /// The default of a stored field without `default = ".."`.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` has no default value for this session field",
        label = "this field reads as its default when nothing is stored",
        note = "derive or implement `Default` for it, or name a function returning one with `#[session(default = \"path::to::function\")]`"
    )]
    pub trait FieldDefault {
        /// `Default::default()`.
        fn field_default() -> Self;
    }

    impl<T: Default> FieldDefault for T {
        #[inline]
        fn field_default() -> Self {
            T::default()
        }
    }

    /// The value a `#[session(skip)]` field starts at on every request.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` has no default value for this `#[session(skip)]` field",
        label = "a skipped field starts at `Default::default()` on every request",
        note = "derive or implement `Default` for it"
    )]
    pub trait SkipDefault {
        /// `Default::default()`.
        fn skip_default() -> Self;
    }

    impl<T: Default> SkipDefault for T {
        #[inline]
        fn skip_default() -> Self {
            T::default()
        }
    }

    /// Types whose equal values always encode to equal bytes, with any codec that encodes a
    /// value by walking it (postcard, JSON): no hash-ordered collection inside. The derive
    /// answers [`SessionData::stable_encoding`] from it, through [`EncodingProbe`].
    pub trait StableEncoding {}

    macro_rules! stable {
        ($($t:ty),* $(,)?) => { $(impl StableEncoding for $t {})* };
    }
    stable!(bool, char, u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, f32, f64, (), String, str);
    stable!(core::time::Duration, std::time::SystemTime);
    impl<T: StableEncoding + ?Sized> StableEncoding for Box<T> {}
    impl<T: StableEncoding> StableEncoding for Option<T> {}
    impl<T: StableEncoding> StableEncoding for Vec<T> {}
    impl<T: StableEncoding> StableEncoding for std::collections::VecDeque<T> {}
    impl<T: StableEncoding> StableEncoding for std::collections::BTreeSet<T> {}
    impl<K: StableEncoding, V: StableEncoding> StableEncoding for std::collections::BTreeMap<K, V> {}
    impl<T: StableEncoding, const N: usize> StableEncoding for [T; N] {}
    impl<A: StableEncoding, B: StableEncoding> StableEncoding for (A, B) {}
    impl<A: StableEncoding, B: StableEncoding, C: StableEncoding> StableEncoding for (A, B, C) {}
    impl<A: StableEncoding, B: StableEncoding, C: StableEncoding, D: StableEncoding> StableEncoding for (A, B, C, D) {}

    /// Asks whether `T` is [`StableEncoding`] without requiring it: `(&probe).stable_encoding()`
    /// finds [`StableProbe`]'s method when it is and [`UnknownProbe`]'s otherwise (types outside
    /// the list, e.g. the application's own, count as not stable: always correct, a little slower).
    pub struct EncodingProbe<T: ?Sized>(core::marker::PhantomData<T>);

    impl<T: ?Sized> EncodingProbe<T> {
        /// The probe.
        #[allow(clippy::new_without_default)]
        pub const fn new() -> Self {
            Self(core::marker::PhantomData)
        }
    }

    /// The answer for [`StableEncoding`] types.
    pub trait StableProbe {
        /// `true`.
        fn stable_encoding(&self) -> bool {
            true
        }
    }

    impl<T: StableEncoding + ?Sized> StableProbe for EncodingProbe<T> {}

    /// The answer for every other type.
    pub trait UnknownProbe {
        /// `false`.
        fn stable_encoding(&self) -> bool {
            false
        }
    }

    impl<T: ?Sized> UnknownProbe for &EncodingProbe<T> {}

    /// The error for a field index past `FIELDS`: a bug in the caller, reported, not panicked on.
    #[cold]
    pub fn no_such_field(session: &'static str, index: usize) -> CodecError {
        CodecError::new("session-kit", format_args!("session type `{session}` has no stored field at index {index}"))
    }
}

// What an application uses.
pub use session_axum::{
    ConfigError, RejectionKind, SameSite, Session, SessionFailure, SessionLayer, SessionRejection, SessionService,
};
pub use session_core::{Collector, Error, SessionData, StoreError};

pub mod owner {
    //! The sessions of one owner (the field marked `#[session(owner)]`): the [`Sessions`]
    //! handle that lists and ends them, what it lists ([`OwnedSession`], [`SessionRef`]), and the
    //! [`OwnerKey`] an owner field's type implements. See [`session_core::owner`] for how the
    //! owner's index is kept on every store.

    pub use session_core::owner::{MalformedRef, OwnedSession, OwnerKey, SessionRef, Sessions};
}
pub use owner::{OwnerKey, Sessions};
#[doc(inline)]
pub use session_derive::Session;

#[cfg(feature = "cookie")]
#[cfg_attr(docsrs, doc(cfg(feature = "cookie")))]
pub use session_core::cookie::{CookieStore, Key, KeyError, KeyRing};
#[cfg(feature = "memory")]
#[cfg_attr(docsrs, doc(cfg(feature = "memory")))]
pub use session_core::store::MemoryStore;
#[cfg(any(feature = "postgres", feature = "mysql"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "postgres", feature = "mysql"))))]
pub use session_core::store::WriteConflict;
#[cfg(feature = "memcached")]
#[cfg_attr(docsrs, doc(cfg(feature = "memcached")))]
pub use session_core::store::{CasContention, MemcachedStore, MemcachedStoreBuilder};
#[cfg(feature = "file")]
#[cfg_attr(docsrs, doc(cfg(feature = "file")))]
pub use session_core::store::{FileStore, FileStoreBuilder};
#[cfg(feature = "mysql")]
#[cfg_attr(docsrs, doc(cfg(feature = "mysql")))]
pub use session_core::store::{MysqlStore, MysqlStoreBuilder};
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use session_core::store::{PostgresStore, PostgresStoreBuilder};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use session_core::store::{RedisLayout, RedisStore, RedisStoreBuilder};
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use session_core::store::{SqliteStore, SqliteStoreBuilder};

pub mod codec {
    //! How field values become bytes: [`Postcard`] by default, [`Json`] (feature `json`) or a
    //! [`Codec`] of your own, set with [`SessionLayer::codec`](crate::SessionLayer::codec).
    //!
    //! Each field is encoded on its own, so a field whose type changed reads as its default
    //! without losing its neighbours.

    #[cfg(feature = "json")]
    #[cfg_attr(docsrs, doc(cfg(feature = "json")))]
    pub use session_core::Json;
    pub use session_core::{Codec, CodecError, Postcard};
}

pub mod clock {
    //! Where sessions read the time from, set with [`SessionLayer::clock`](crate::SessionLayer::clock):
    //! the [`SystemClock`] by default, a [`ManualClock`] in tests of expiry, which moves only when
    //! told to.
    //!
    //! Give the [`Collector`](crate::Collector) the same clock
    //! ([`Collector::spawn_with_clock`](crate::Collector::spawn_with_clock)).

    pub use session_core::{Clock, ManualClock, SystemClock, Timestamp};
}

pub mod id {
    //! Session ids and their generator, set with
    //! [`SessionLayer::id_generator`](crate::SessionLayer::id_generator): [`RandomIds`] (128 bits
    //! from the operating system) by default.

    pub use session_core::{IdGenerator, MalformedId, RandomIds, SessionId};
}

pub mod token {
    //! How the session token is changed on its way out and back in, set with
    //! [`SessionLayer::token_transform`](crate::SessionLayer::token_transform): a
    //! [`TokenTransform`] that signs or seals a server-side session's id with a
    //! [`KeyRing`](crate::KeyRing) (feature `cookie`), or an encoding of your own.

    pub use session_core::web::TokenTransform;
}

#[cfg(feature = "cookie")]
#[cfg_attr(docsrs, doc(cfg(feature = "cookie")))]
pub mod cookie {
    //! The cookie store's details: its limits, its key ids, its two modes and its value formats.
    //!
    //! [`CookieStore`](crate::CookieStore), [`Key`](crate::Key) and [`KeyRing`](crate::KeyRing)
    //! are at the crate root. The threat model and the cookie format are described in
    //! [`session_core::cookie`].

    pub use session_core::cookie::{Format, KeyId, Mode, Opened, MAX_COOKIE_SIZE, MAX_FUTURE_SKEW, MIN_MASTER_LEN};
}

pub mod store {
    //! The store contract: everything to write a store of your own, and (feature `conformance`)
    //! to test it with the suite every store of session-kit passes.
    //!
    //! ```
    //! use session_kit::store::{
    //!     async_trait, Applied, Change, Created, Record, Renamed, Store, StoreError, StoreKey, Timestamp,
    //! };
    //!
    //! /// A store that keeps nothing: every session is new at every request.
    //! struct Forgetful;
    //!
    //! #[async_trait]
    //! impl Store for Forgetful {
    //!     async fn load(&self, _: &StoreKey, _: Timestamp) -> Result<Option<Record>, StoreError> {
    //!         Ok(None)
    //!     }
    //!     async fn create(&self, _: &StoreKey, _: &Record, _: Timestamp) -> Result<Created, StoreError> {
    //!         Ok(Created::Stored)
    //!     }
    //!     async fn apply(&self, _: &StoreKey, _: &Change, _: Timestamp) -> Result<Applied, StoreError> {
    //!         Ok(Applied::Gone)
    //!     }
    //!     async fn delete(&self, _: &StoreKey) -> Result<(), StoreError> {
    //!         Ok(())
    //!     }
    //!     async fn rename(&self, _: &StoreKey, _: &StoreKey, _: Timestamp) -> Result<Renamed, StoreError> {
    //!         Ok(Renamed::Gone)
    //!     }
    //!     async fn collect_expired(&self, _: Timestamp) -> Result<u64, StoreError> {
    //!         Ok(0)
    //!     }
    //! }
    //! ```
    //!
    //! A store is given to [`SessionLayer::new`](crate::SessionLayer::new) like the stores of
    //! this crate. Check it with [`store_conformance!`](crate::store::store_conformance) (feature
    //! `conformance`), which writes one test per rule a store must keep.

    /// The attribute that makes an `impl Store` compile: [`Store`]'s methods are `async`.
    #[doc(no_inline)]
    pub use session_core::async_trait;
    pub use session_core::store::{delete_session, Applied, Created, Renamed, Store};
    pub use session_core::{BoxError, Change, Entry, Meta, Record, StoreKey};
    // Named in `Store`'s signatures; their homes are the crate root and `clock`.
    #[doc(no_inline)]
    pub use session_core::{StoreError, Timestamp};

    #[cfg(feature = "conformance")]
    #[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
    pub use session_core::{conformance, store_conformance};
}

#[cfg(feature = "actix")]
#[cfg_attr(docsrs, doc(cfg(feature = "actix")))]
pub mod actix {
    //! The same sessions on [actix-web](https://docs.rs/actix-web) 4: wrap an `App` (or a scope
    //! or resource) in [`SessionMiddleware<T>`] and extract [`Session<T>`] in handlers. The
    //! derive, the stores, their keys and the errors at the crate root serve both frameworks;
    //! this module holds actix-web's counterparts of the root's axum types.
    //!
    //! ```
    //! use actix_web::{web, App};
    //! use session_kit::actix::{Session, SessionMiddleware};
    //! use session_kit::MemoryStore;
    //!
    //! #[derive(session_kit::Session)]
    //! struct Visits {
    //!     count: u64,
    //! }
    //!
    //! async fn count(mut session: Session<Visits>) -> String {
    //!     session.count += 1;
    //!     format!("visit number {}", session.count)
    //! }
    //!
    //! let app = App::new()
    //!     .route("/", web::get().to(count))
    //!     .wrap(SessionMiddleware::<Visits>::new(MemoryStore::new()));
    //! ```
    //!
    //! Every builder method of [`SessionLayer`](crate::SessionLayer) is on
    //! [`SessionMiddleware`] too, with the same defaults and the same checks; `cargo run
    //! --example actix_hello --features actix` runs the first example.

    pub use session_actix::{
        RejectionKind, Session, SessionFailure, SessionMiddleware, SessionRejection, SessionService,
    };
}

pub mod integration {
    //! For integrating another web framework: the [`Engine`] that opens a session from the
    //! client's token and saves it, returning the [`CookieOp`] the response must carry, and the
    //! HTTP around it that belongs to no framework ([`HttpEngine`] and its parts). The axum
    //! integration ([`SessionLayer`](crate::SessionLayer)) is built on these.
    //!
    //! - [`Engine`] and [`SessionState`], one request's session; [`CookieOp`], and [`SaveError`]
    //!   when a save failed (it still carries the token the response must send);
    //! - [`Storage`] and [`IntoStorage`]: a server-side store or a cookie store, as
    //!   [`SessionLayer::new`](crate::SessionLayer::new) takes it;
    //! - [`ExpiryPolicy`]: the timeouts the layer's builder methods set;
    //! - [`FieldSpec`] and [`FieldKind`]: how [`SessionData`](crate::SessionData) lists the stored
    //!   fields, for engines and for hand-written impls;
    //! - [`HttpEngine`]: the engine with the cookie's attributes ([`CookieConfig`]) and the
    //!   token's [`Transport`] (a cookie, a header or a query parameter); it makes the per-request
    //!   [`Slot`] a layer hands to its extractor, which wraps a [`SessionHandle`], and saves it
    //!   after the handler ([`SaveOutcome`]); [`RequestHead`] and [`ResponseHead`] are what it
    //!   reads and writes of a framework's requests and responses, [`Failure`] and
    //!   [`FailureResponse`] what it answers failures with.

    pub use session_core::web::{
        ClientToken, CookieConfig, Failure, FailureResponse, HttpEngine, RequestHead, ResponseHead, SaveOutcome,
        SessionHandle, Slot, TakeError, Transport,
    };
    // Also at `token::TokenTransform`, beside the layer method that takes it.
    #[doc(no_inline)]
    pub use session_core::web::TokenTransform;
    pub use session_core::{
        CookieOp, Engine, ExpiryPolicy, FieldKind, FieldSpec, IntoStorage, SaveError, SessionState, Storage,
    };
}

// README.md's code blocks run as doc tests, so every snippet a reader copies compiles.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
