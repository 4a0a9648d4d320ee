//! The core of [session-kit](https://docs.rs/session-kit): typed session records, codecs,
//! sealing keys, the [`Store`] trait and the stores, with no web framework in sight.
//!
//! Most users depend on `session-kit` and never name this crate. Read on if you write a
//! store, a codec or an integration for another framework.
//!
//! - [`SessionData`] is what `#[derive(Session)]` implements: the stored fields of a type.
//! - A [`Record`] is what a store keeps: encoded entries plus [`Meta`]; a [`Change`] is what
//!   one request does to it, merged by the store so concurrent requests lose nothing.
//! - [`Engine`] opens a session from a client token and saves it, returning the
//!   [`CookieOp`] the response must carry.
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `memory` | yes | [`MemoryStore`] |
//! | `cookie` | yes | `cookie::CookieStore`: sealed (AES-SIV) or signed (HMAC-SHA256) client-side sessions |
//! | `file` | yes | `FileStore`: a file per session, shared by the processes of one machine |
//! | `sqlite` | no | `SqliteStore`: SQLite through sqlx, the embedded persistent default |
//! | `postgres` | no | `PostgresStore`: PostgreSQL through sqlx, one statement per load or change |
//! | `mysql` | no | `MysqlStore`: MySQL / MariaDB through sqlx, one statement per load, a short transaction per change |
//! | `redis` | no | `RedisStore`: Redis, one round trip per load or change, native expiry |
//! | `redis-cluster` | no | `RedisStore::cluster`: the same store on a Redis Cluster |
//! | `memcached` | no | `MemcachedStore`: Memcached 1.6+, compare-and-swap for concurrent changes |
//! | `json` | no | the `Json` codec |
//! | `conformance` | no | the store conformance suite, to test a store of your own |

mod codec;
pub mod collector;
#[cfg(feature = "conformance")]
pub mod conformance;
mod data;
mod engine;
mod error;
mod id;
mod policy;
mod record;
mod state;
pub mod store;
// Shared by the unit tests of the stores that log corrupt data as warnings.
#[cfg(all(test, any(feature = "file", feature = "sqlite")))]
mod test_support;
mod time;

#[cfg(feature = "cookie")]
pub mod cookie;

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
