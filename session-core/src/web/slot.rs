//! The per-request hand-off between a layer and the handles it gives out.
//!
//! The layer puts a [`Slot`] in the request; an extractor opens the session from it (lazily: a
//! request whose handlers never extract costs no store access) and puts the state back when the
//! [`SessionHandle`](crate::web::SessionHandle) is dropped; the layer saves what came back after
//! the inner service has answered.
//!
//! Several handles may exist in one request: a middleware extracts the session, then calls the
//! handler, which extracts it again. Rust does not let two live handles share one `&mut T`, so
//! the second handle gets its own copy of the session as stored (what the middleware saw), and
//! the layer merges what both changed when it saves, once. A middleware that changed the session
//! before calling the handler must give its handle back first (`drop(session)`), or the handler
//! would not see the change: that case is refused with a rejection that says so.
//!
//! The slot is `Send + Sync` (a mutex, never contended in practice) although actix-web runs each
//! request on one thread: a handle may be moved into a task, and the task may run anywhere.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use crate::engine::CookieOp;
use crate::error::Error;
use crate::state::SessionState;
use crate::web::token::ClientToken;
use crate::{SaveError, SessionData};

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a slot needs from its layer; object-safe so the handle need not know the codec.
pub(crate) trait Open<T: SessionData>: Send + Sync + 'static {
    /// Opens the session `token` names.
    fn open<'a>(&'a self, token: &'a ClientToken) -> BoxFuture<'a, Result<SessionState<T>, Error>>;

    /// Saves `state` and says what the client's token must become.
    fn save(&self, state: SessionState<T>) -> BoxFuture<'_, Result<CookieOp, SaveError>>;

    /// The sessions of `T` by owner, in the layer's store.
    fn sessions(&self) -> crate::Sessions<T>;
}

struct Inner<T: SessionData> {
    /// Whether the session has been opened in this request.
    opened: bool,
    /// The token an explicit save issued, which later openings use instead of the request's.
    saved_token: Option<ClientToken>,
    /// How many handles are out.
    held: usize,
    /// Whether a handle that is out has been changed since it was handed out.
    changed_while_held: bool,
    /// The states handles gave back, merged in the order they came (no allocation for the
    /// usual single handle).
    returned: Option<SessionState<T>>,
    /// What an explicit save told the client's token to become, not sent yet.
    pending: Option<CookieOp>,
    /// The layer has built the response: a state given back now is saved on its own.
    finished: bool,
}

/// One request's session of type `T`: the token the request carried, the handles out and the
/// states they gave back. A layer makes one per request with
/// [`HttpEngine::slot`](crate::web::HttpEngine::slot), hands it to the request, and saves it
/// with [`HttpEngine::save_request`](crate::web::HttpEngine::save_request).
pub struct Slot<T: SessionData> {
    pub(crate) opener: Arc<dyn Open<T>>,
    /// The token the request carried, outside the lock: an opening borrows it, where one behind
    /// the lock would copy it (a cookie session's token is its whole sealed record).
    request_token: ClientToken,
    inner: Mutex<Inner<T>>,
}

/// Why an extractor could not get the session.
#[derive(Debug)]
#[non_exhaustive]
pub enum TakeError {
    /// A handle that is still out changed the session: the new one would not see the change.
    ChangedWhileHeld,
    /// The store failed.
    Open(Error),
}

/// What the layer finds once the inner service has answered.
pub(crate) struct Finished<T: SessionData> {
    /// The states given back, merged into one; `None` if no handle was given back.
    pub(crate) state: Option<SessionState<T>>,
    /// What an explicit save decided for the token, if no later save overrides it.
    pub(crate) pending: Option<CookieOp>,
    /// Handles still out (moved into a task): each saves itself when dropped.
    pub(crate) still_held: usize,
}

impl<T: SessionData> Slot<T> {
    pub(crate) fn new(opener: Arc<dyn Open<T>>, token: ClientToken) -> Self {
        let inner = Inner {
            opened: false,
            saved_token: None,
            held: 0,
            changed_while_held: false,
            returned: None,
            pending: None,
            finished: false,
        };
        Self { opener, request_token: token, inner: Mutex::new(inner) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<T>> {
        // The lock guards plain moves and counters that cannot panic halfway.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands a state to a new handle: the one given back, or a fresh opening.
    pub(crate) async fn take(&self) -> Result<SessionState<T>, TakeError> {
        let saved_token = {
            let mut inner = self.lock();
            if inner.held == 0 {
                if let Some(state) = inner.returned.take() {
                    // Given back (e.g. a middleware dropped its handle before calling the
                    // handler): the new handle carries on with it, changes included.
                    inner.held = 1;
                    return Ok(state);
                }
            }
            if inner.held > 0 && inner.changed_while_held {
                return Err(TakeError::ChangedWhileHeld);
            }
            // Counted before the store is asked, so a concurrent extraction sees it.
            inner.held += 1;
            inner.opened = true;
            inner.saved_token.clone()
        };
        match self.opener.open(saved_token.as_ref().unwrap_or(&self.request_token)).await {
            Ok(state) => Ok(state),
            Err(error) => {
                self.lock().held -= 1;
                Err(TakeError::Open(error))
            }
        }
    }

    /// Notes that a handle that is out changed the session.
    pub(crate) fn mark_changed(&self) {
        self.lock().changed_while_held = true;
    }

    /// Takes a state back from a dropped handle. After the response was built, the state is
    /// saved on its own, in a task: its changes are stored, but a new token cannot reach the
    /// client any more.
    pub(crate) fn give_back(self: &Arc<Self>, state: SessionState<T>) {
        let mut inner = self.lock();
        inner.held = inner.held.saturating_sub(1);
        if inner.held == 0 {
            inner.changed_while_held = false;
        }
        if !inner.finished {
            match &mut inner.returned {
                Some(earlier) => earlier.merge_later(state),
                None => inner.returned = Some(state),
            }
            return;
        }
        drop(inner);
        // Saved even when the task changed nothing: flash values it was handed were delivered,
        // and entries whose ttl ran out go.
        let changed = state.is_changed();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::error!(
                session = T::NAME,
                "a Session was dropped with unsaved changes after its response, outside a tokio runtime; \
                 its changes are lost: call `session.save().await` before dropping it"
            );
            return;
        };
        let slot = self.clone();
        runtime.spawn(async move {
            match slot.opener.save(state).await {
                // Unchanged, a new token can only be a slid deadline: the next response sends it.
                Ok(CookieOp::Keep) => {}
                Ok(_) if !changed => {}
                Ok(_) => tracing::error!(
                    session = T::NAME,
                    "a Session changed after its response needed a new token (new session, cycle_id, \
                     destroy or a cookie session); the client cannot get it: call `session.save().await` \
                     before the handler returns"
                ),
                Err(error) => {
                    tracing::error!(session = T::NAME, error = %error.error, "could not save a Session after its response")
                }
            }
        });
    }

    /// Records what an explicit save decided for the token; returns the token later openings
    /// use.
    pub(crate) fn saved(&self, op: CookieOp) -> ClientToken {
        let mut inner = self.lock();
        match &op {
            CookieOp::Keep => {}
            CookieOp::Set { value, .. } => inner.saved_token = Some(ClientToken::Present(value.clone())),
            CookieOp::Remove => inner.saved_token = Some(ClientToken::Absent),
        }
        if op != CookieOp::Keep {
            inner.pending = Some(op);
        }
        inner.saved_token.clone().unwrap_or_else(|| self.request_token.clone())
    }

    /// Called by the layer once the inner service has answered; `None` if no handle opened
    /// the session in this request.
    pub(crate) fn finish(&self) -> Option<Finished<T>> {
        let mut inner = self.lock();
        inner.finished = true;
        inner.opened.then(|| Finished {
            state: inner.returned.take(),
            pending: inner.pending.take(),
            still_held: inner.held,
        })
    }
}
