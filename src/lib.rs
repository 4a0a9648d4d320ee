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
//! | container `#[session(name = "..")]` | cookie name and store namespace |
//! | container `#[session(crate = "..")]` | path to this crate, for re-exporters |
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `memory` | yes | [`MemoryStore`]: bounded in-process map |
//! | `cookie` | yes | `CookieStore`: sealed (AES-SIV) or signed (HMAC-SHA256) client-side sessions with key rotation |
//! | `file` | yes | [`FileStore`]: one file per session, cross-process locks |
//! | `sqlite` | no | `SqliteStore`: SQLite via sqlx, the embedded persistent store |
//! | `postgres` | no | `PostgresStore`: PostgreSQL via sqlx, one statement per load or change |
//! | `mysql` | no | `MysqlStore`: MySQL / MariaDB via sqlx, a short transaction per change |
//! | `redis` | no | `RedisStore`: Redis, one round trip per load or change, native expiry |
//! | `redis-cluster` | no | `RedisStore::cluster`: the Redis store on a Redis Cluster |
//! | `memcached` | no | `MemcachedStore`: Memcached 1.6+, compare-and-swap for concurrent changes |
//! | `json` | no | the `Json` field codec |
//! | `conformance` | no | `store_conformance!`, the suite every store passes, for testing your own |
//!
//! Expired sessions are removed by a [`Collector`] you start beside the server.

#[doc(hidden)]
pub mod __private {
    //! What `#[derive(Session)]` expands to; not a public API.
    pub use core::default::Default;
    pub use core::option::Option::{self, None, Some};
    pub use core::result::Result::{self, Err, Ok};
    pub use core::time::Duration;
    pub use session_core::{Codec, CodecError, FieldKind, FieldSpec, SessionData};
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

    /// The error for a field index past `FIELDS`: a bug in the caller, reported, not panicked on.
    #[cold]
    pub fn no_such_field(session: &'static str, index: usize) -> CodecError {
        CodecError::new("session-kit", format_args!("session type `{session}` has no stored field at index {index}"))
    }
}

pub use session_axum::{
    ConfigError, RejectionKind, SameSite, Session, SessionFailure, SessionLayer, SessionRejection, SessionService,
    Transport,
};
pub use session_core::{
    Clock, Codec, Collector, CookieOp, Engine, Error, ExpiryPolicy, IdGenerator, IntoStorage, ManualClock, Postcard,
    RandomIds, SessionData, SessionId, SessionState, Storage, Store, StoreError, SystemClock, Timestamp,
};
#[doc(inline)]
pub use session_derive::Session;

#[cfg(feature = "file")]
pub use session_core::FileStore;
#[cfg(feature = "json")]
pub use session_core::Json;
#[cfg(feature = "memcached")]
pub use session_core::MemcachedStore;
#[cfg(feature = "memory")]
pub use session_core::MemoryStore;
#[cfg(feature = "mysql")]
pub use session_core::MysqlStore;
#[cfg(feature = "postgres")]
pub use session_core::PostgresStore;
#[cfg(feature = "redis")]
pub use session_core::RedisStore;
#[cfg(feature = "sqlite")]
pub use session_core::SqliteStore;
#[cfg(feature = "conformance")]
pub use session_core::{conformance, store_conformance};

/// Client-side sessions: the whole session sealed (AES-SIV) or signed (HMAC-SHA256) into the
/// cookie, with key rotation.
#[cfg(feature = "cookie")]
pub mod cookie {
    pub use session_core::cookie::*;
}

/// Stores and the store contract: everything to write or test a store of your own.
pub mod store {
    pub use session_core::store::*;
    pub use session_core::{Change, Entry, Meta, Record, StoreKey};
}
