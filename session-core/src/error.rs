//! The errors of session-core.

use crate::codec::CodecError;

/// A boxed error from a store's backend.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A store could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend (database, server, file system) reported an error.
    #[error("{store} store: {source}")]
    Backend {
        /// Which store, e.g. `"sqlite"`.
        store: &'static str,
        /// The backend's own error.
        #[source]
        source: BoxError,
    },
    /// A file system operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, e.g. `"writing /var/sessions/ab12…"`.
        context: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A write was sent but its answer never came (the connection broke, the reply was lost,
    /// the operation timed out): it may or may not have taken effect.
    #[error("{store} store: the outcome of a write is unknown (it may have been applied): {source}")]
    OutcomeUnknown {
        /// Which store, e.g. `"redis"`.
        store: &'static str,
        /// What broke.
        #[source]
        source: BoxError,
    },
    /// A setting of the store is invalid (a zero timeout, a malformed URL or address, a table
    /// name that is not a plain identifier): reported when the store is built, and fixed in the
    /// configuration. Never a failure at run time: those are [`Backend`](Self::Backend) and the
    /// other variants.
    #[error("{0}")]
    Config(String),
    /// The server's reply broke its protocol: garbage, a line or value over the store's limits,
    /// bytes after a reply. The server is broken or hostile, or is not the kind of server the
    /// store expects; the connection was dropped. (After a write, the store reports
    /// [`OutcomeUnknown`](Self::OutcomeUnknown) with this as its source instead.)
    #[error("{store} store: bad reply from the server: {reason}")]
    BadReply {
        /// Which store, e.g. `"memcached"`.
        store: &'static str,
        /// What was wrong with the reply.
        reason: String,
    },
    /// The store's directory is not private to this process's user (writable by its group or
    /// by others, or owned by another user): anyone who can write there could plant a session
    /// record for an id of their choosing. Fix its owner and mode (`chmod 700`), or accept the
    /// risk explicitly (the file store's `allow_shared_directory`).
    #[error("{store} store: refusing directory {path}: {reason}; anyone who can write there can forge sessions")]
    UnsafeDirectory {
        /// Which store, e.g. `"file"`.
        store: &'static str,
        /// The directory.
        path: std::path::PathBuf,
        /// What is wrong with it, e.g. `"it is writable by others (mode 0777)"`.
        reason: String,
    },
    /// The store does not offer this operation: [`Store::count_live`](crate::Store::count_live)
    /// on a store that does not implement it (every store of session-kit does).
    #[error("this store does not support {operation}")]
    Unsupported {
        /// The operation, e.g. `"count_live"`.
        operation: &'static str,
    },
}

impl StoreError {
    /// Wraps a backend error of the store named `store`.
    pub fn backend(store: &'static str, source: impl Into<BoxError>) -> Self {
        Self::Backend { store, source: source.into() }
    }

    /// A write of the store named `store` whose outcome is unknown: see
    /// [`OutcomeUnknown`](Self::OutcomeUnknown).
    pub fn outcome_unknown(store: &'static str, source: impl Into<BoxError>) -> Self {
        Self::OutcomeUnknown { store, source: source.into() }
    }

    /// Whether the failed operation may still have taken effect.
    pub fn is_outcome_unknown(&self) -> bool {
        matches!(self, Self::OutcomeUnknown { .. })
    }

    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io { context: context.into(), source }
    }
}

/// Opening or saving a session failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A field value could not be encoded.
    #[error("could not encode session field `{key}`: {source}")]
    Encode {
        /// The field's storage key.
        key: &'static str,
        /// The codec's error.
        #[source]
        source: CodecError,
    },
    /// The sealed or signed cookie would be larger than browsers keep.
    #[error(
        "the session cookie would be {size} bytes, over the {limit}-byte limit browsers keep; \
         store less in this session type or use a server-side store"
    )]
    CookieTooLarge {
        /// The size the cookie would have had, name and value.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Every freshly generated id was already taken.
    #[error("no unused session id after {0} attempts; is the id generator random?")]
    IdCollision(u32),
}

impl Error {
    /// Whether a store write may have taken effect although it failed
    /// ([`StoreError::OutcomeUnknown`]).
    pub fn is_outcome_unknown(&self) -> bool {
        matches!(self, Self::Store(e) if e.is_outcome_unknown())
    }
}
