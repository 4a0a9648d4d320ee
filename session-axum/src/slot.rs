//! The per-request hand-off between the layer and the extractor.
//!
//! The layer puts a [`Slot`] in the request's extensions; the extractor opens the session from
//! it (lazily: a handler that never extracts costs no store access) and puts the state back
//! when the [`Session`](crate::Session) is dropped; the layer saves it after the handler.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use session_core::{Error, SessionData, SessionState};

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Opens sessions of `T`; object-safe so the extractor need not know the layer's codec.
pub(crate) trait Open<T: SessionData>: Send + Sync + 'static {
    fn open<'a>(&'a self, token: Option<&'a str>) -> BoxFuture<'a, Result<SessionState<T>, Error>>;
}

// The state moves in and out once per request; boxing it would cost an allocation each time.
#[allow(clippy::large_enum_variant)]
enum SlotState<T: SessionData> {
    /// No handler has asked for the session.
    Unopened,
    /// A `Session<T>` holds the state right now.
    Held,
    /// The `Session<T>` was dropped; the state waits to be saved.
    Returned(SessionState<T>),
}

pub(crate) struct Slot<T: SessionData> {
    opener: Arc<dyn Open<T>>,
    token: Option<String>,
    state: Mutex<SlotState<T>>,
}

/// Why the extractor could not hand out the session.
pub(crate) enum TakeError {
    AlreadyHeld,
    Open(Error),
}

/// What the layer finds after the handler.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Finished<T: SessionData> {
    Unopened,
    StillHeld,
    Returned(SessionState<T>),
}

impl<T: SessionData> Slot<T> {
    pub(crate) fn new(opener: Arc<dyn Open<T>>, token: Option<String>) -> Self {
        Self { opener, token, state: Mutex::new(SlotState::Unopened) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState<T>> {
        // The lock guards plain moves that cannot panic halfway, so a poisoned state is sound.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands the session to an extractor, opening it on first use.
    pub(crate) async fn take(&self) -> Result<SessionState<T>, TakeError> {
        {
            let mut state = self.lock();
            match std::mem::replace(&mut *state, SlotState::Held) {
                SlotState::Returned(session) => return Ok(session),
                SlotState::Held => return Err(TakeError::AlreadyHeld),
                SlotState::Unopened => {}
            }
        }
        match self.opener.open(self.token.as_deref()).await {
            Ok(session) => Ok(session),
            Err(error) => {
                *self.lock() = SlotState::Unopened;
                Err(TakeError::Open(error))
            }
        }
    }

    /// Takes the state back from a dropped extractor.
    pub(crate) fn put_back(&self, session: SessionState<T>) {
        *self.lock() = SlotState::Returned(session);
    }

    pub(crate) fn finish(&self) -> Finished<T> {
        match std::mem::replace(&mut *self.lock(), SlotState::Unopened) {
            SlotState::Unopened => Finished::Unopened,
            SlotState::Held => Finished::StillHeld,
            SlotState::Returned(session) => Finished::Returned(session),
        }
    }
}

/// The extension the layer inserts; one per session type.
pub(crate) struct SlotHandle<T: SessionData>(pub(crate) Arc<Slot<T>>);

impl<T: SessionData> Clone for SlotHandle<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}
