//! The session handle a handler holds: the state of one session in one request, given back to
//! its slot when dropped.

use std::sync::Arc;
use std::time::Duration;

use crate::error::Error;
use crate::id::SessionId;
use crate::state::SessionState;
use crate::time::Timestamp;
use crate::web::slot::{Slot, TakeError};
use crate::{SaveError, SessionData};

/// One handle on the session of a request, what an integration's `Session<T>` extractor wraps.
///
/// Reads go through [`data`](Self::data), writes through [`data_mut`](Self::data_mut); when the
/// handle is dropped its state goes back to the [`Slot`], and the layer saves what changed after
/// the handler. The methods are those of the integrations' `Session<T>`, documented there.
pub struct SessionHandle<T: SessionData> {
    /// `Some` until dropped, when the state goes back to the slot for saving.
    state: Option<SessionState<T>>,
    slot: Arc<Slot<T>>,
    /// Whether this handle has told the slot it changed the session.
    marked: bool,
}

impl<T: SessionData> SessionHandle<T> {
    /// A handle on the session in `slot`: the state an earlier handle gave back, or the session
    /// opened from the request's token (the store is asked here, once per request and type).
    pub async fn take(slot: Arc<Slot<T>>) -> Result<Self, TakeError> {
        let state = slot.take().await?;
        Ok(Self { state: Some(state), slot, marked: false })
    }

    fn state(&self) -> &SessionState<T> {
        self.state.as_ref().expect("the state is only taken in drop and during save")
    }

    fn state_mut(&mut self) -> &mut SessionState<T> {
        if !self.marked {
            // Once per handle: a second handle extracted while this one is out must not miss
            // a change it cannot see.
            self.slot.mark_changed();
            self.marked = true;
        }
        self.state.as_mut().expect("the state is only taken in drop and during save")
    }

    /// The session's fields.
    pub fn data(&self) -> &T {
        self.state().data()
    }

    /// The session's fields, for changing.
    pub fn data_mut(&mut self) -> &mut T {
        self.state_mut().data_mut()
    }

    /// The session id, for a stored server-side session.
    pub fn id(&self) -> Option<&SessionId> {
        self.state().id()
    }

    /// The sessions of `T` by owner, with this one as the current session (once it is stored:
    /// a session created in this request is not current until its next request).
    pub fn sessions(&self) -> crate::Sessions<T> {
        let sessions = self.slot.opener.sessions().with_current(self.state().store_key());
        #[cfg(feature = "cookie")]
        let sessions = sessions.with_current_created(self.state().meta().map(|meta| meta.created_at));
        sessions
    }

    /// Whether this request started a new session.
    pub fn is_new(&self) -> bool {
        self.state().is_new()
    }

    /// Moves the session to a new id when the response is sent.
    pub fn cycle_id(&mut self) {
        self.state_mut().cycle_id();
    }

    /// Deletes the session.
    pub fn destroy(&mut self) {
        self.state_mut().destroy();
    }

    /// Sets every field back to its default.
    pub fn clear(&mut self) {
        self.state_mut().clear();
    }

    /// Makes the cookie persistent with the remember-me lifetime, or back to a browser-session
    /// cookie.
    pub fn remember_me(&mut self, remember: bool) {
        self.state_mut().remember_me(remember);
    }

    /// Whether this is (or will be, once saved) a remember-me session.
    pub fn is_remembered(&self) -> bool {
        self.state().is_remembered()
    }

    /// Gives this session its own lifetime (`None`: the layer's settings).
    pub fn set_lifetime(&mut self, lifetime: Option<Duration>) {
        self.state_mut().set_lifetime(lifetime);
    }

    /// This session's own lifetime, if it has one.
    pub fn lifetime(&self) -> Option<Duration> {
        self.state().lifetime()
    }

    /// Keeps the flash values this request received for one more request.
    pub fn keep_flash(&mut self) {
        self.state_mut().keep_flash();
    }

    /// When the session ends if no further request comes (as loaded; `None` for a new one).
    pub fn expires_at(&self) -> Option<Timestamp> {
        self.state().expires_at()
    }

    /// Saves the session now and carries on with it as saved; the token the save decides goes
    /// out with the response if it has not been sent yet.
    pub async fn save(&mut self) -> Result<(), Error> {
        let state = self.state.take().expect("the state is only taken in drop and during save");
        let (op, outcome) = match self.slot.opener.save(state).await {
            Ok(op) => (op, Ok(())),
            Err(SaveError { error, token }) => (token, Err(error)),
        };
        let token = self.slot.saved(op);
        // Carry on with the session as stored now, under the token the client will hold.
        let reopened = match self.slot.opener.open(&token).await {
            Ok(state) => state,
            Err(error) => {
                tracing::error!(session = T::NAME, %error, "could not reopen the session after saving it");
                let fresh = self.slot.opener.open(&crate::web::ClientToken::Absent).await;
                self.state = fresh.ok();
                return Err(outcome.err().unwrap_or(error));
            }
        };
        self.state = Some(reopened);
        outcome
    }
}

impl<T: SessionData> Drop for SessionHandle<T> {
    fn drop(&mut self) {
        if let Some(state) = self.state.take() {
            self.slot.give_back(state);
        }
    }
}

impl<T: SessionData + std::fmt::Debug> std::fmt::Debug for SessionHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.state {
            Some(state) => f.debug_struct("Session").field("data", state.data()).finish_non_exhaustive(),
            None => f.write_str("Session(<being saved>)"),
        }
    }
}
