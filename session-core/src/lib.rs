//! The core of [session-kit](https://docs.rs/session-kit): typed session records, codecs,
//! sealing keys, the [`Store`] trait and the stores, with no web framework in sight.
//!
//! Most users depend on `session-kit` and never name this crate: its facade re-exports what an
//! application needs at its root, what a store writer needs in `session_kit::store` and what
//! a framework integration needs in `session_kit::integration`. Read on if you work on this
//! crate itself.
//!
//! - [`SessionData`] is what `#[derive(Session)]` implements: the stored fields of a type.
//! - A [`Record`] is what a store keeps: encoded entries plus [`Meta`]; a [`Change`] is what
//!   one request does to it, merged by the store so concurrent requests lose nothing.
//! - [`Engine`] opens a session from a client token and saves it, returning the
//!   [`CookieOp`] the response must carry.
//!
//! # Features
//!
#![doc = document_features::document_features!()]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod codec;
pub mod collector;
#[cfg(feature = "conformance")]
#[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
pub mod conformance;
mod data;
mod engine;
mod error;
mod id;
pub mod owner;
mod policy;
mod record;
mod state;
pub mod store;
// Shared by the unit tests of the stores that log corrupt data as warnings.
#[cfg(all(test, any(feature = "file", feature = "sqlite", feature = "postgres", feature = "mysql")))]
mod test_support;
mod time;
#[cfg(feature = "web")]
#[cfg_attr(docsrs, doc(cfg(feature = "web")))]
pub mod web;

#[cfg(feature = "cookie")]
#[cfg_attr(docsrs, doc(cfg(feature = "cookie")))]
pub mod cookie;

/// The attribute [`Store`] implementations need: its methods are `async`.
#[doc(no_inline)]
pub use async_trait::async_trait;
#[cfg(feature = "json")]
pub use codec::Json;
pub use codec::{Codec, CodecError, Postcard};
pub use collector::Collector;
#[cfg(feature = "cookie")]
pub use cookie::{CookieStore, Key, KeyError, KeyId, KeyRing};
pub use data::{FieldKind, FieldSpec, SessionData};
pub use engine::{CookieOp, Engine, IntoStorage, SaveError, Storage};
pub use error::{BoxError, Error, StoreError};
pub use id::{IdGenerator, MalformedId, RandomIds, SessionId, StoreKey};
pub use owner::{MalformedRef, OwnedSession, OwnerKey, SessionRef, Sessions};
pub use policy::ExpiryPolicy;
pub use record::{Change, Entry, Meta, Record};
pub use state::SessionState;
#[cfg(feature = "file")]
pub use store::FileStore;
#[cfg(feature = "memory")]
pub use store::MemoryStore;
#[cfg(feature = "mysql")]
pub use store::MysqlStore;
#[cfg(feature = "postgres")]
pub use store::PostgresStore;
#[cfg(feature = "redis")]
pub use store::RedisStore;
#[cfg(feature = "sqlite")]
pub use store::SqliteStore;
pub use store::{Applied, Created, Renamed, Store};
#[cfg(feature = "memcached")]
pub use store::{CasContention, MemcachedStore};
pub use time::{Clock, ManualClock, SystemClock, Timestamp};
