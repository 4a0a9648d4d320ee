//! [`HttpEngine`]: the [`Engine`] with the HTTP a layer needs around it.

use std::sync::Arc;

use crate::codec::{Codec, Postcard};
use crate::engine::{CookieOp, Engine, IntoStorage, SaveError, SaveStart};
use crate::error::Error;
use crate::state::SessionState;
use crate::web::config::{ConfigError, CookieConfig, Transport};
use crate::web::failure::FailureResponse;
use crate::web::response::{self, ResponseHead};
use crate::web::slot::{BoxFuture, Finished, Open, Slot};
use crate::web::token::{self, ClientToken, RequestHead, TokenTransform};
use crate::SessionData;

/// Sessions of `T` over HTTP, for any framework: the [`Engine`], the cookie's attributes and
/// the token's transport. A framework's layer holds one (in an `Arc`), makes a [`Slot`] per
/// request with [`slot`](Self::slot) and saves it after the handler with
/// [`save_request`](Self::save_request), then [`write_headers`](Self::write_headers).
pub struct HttpEngine<T: SessionData, C: Codec = Postcard> {
    engine: Engine<T, C>,
    cookie: CookieConfig,
    transport: Transport,
    token: TokenTransform,
}

impl<T: SessionData, C: Codec> Clone for HttpEngine<T, C> {
    fn clone(&self) -> Self {
        Self {
            engine: self.engine.clone(),
            cookie: self.cookie.clone(),
            transport: self.transport.clone(),
            token: self.token.clone(),
        }
    }
}

impl<T: SessionData, C: Codec> std::fmt::Debug for HttpEngine<T, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpEngine")
            .field("session", &T::NAME)
            .field("engine", &self.engine)
            .field("cookie", &self.cookie)
            .field("transport", &self.transport)
            .field("token", &self.token)
            .finish()
    }
}

impl<T: SessionData> HttpEngine<T> {
    /// Sessions of `T` kept in `storage`, with the defaults: cookie named after
    /// `#[session(name)]`, `Path=/`, `Secure`, `HttpOnly`, `SameSite=Lax`, cookie transport, and
    /// the [`Engine`]'s defaults.
    pub fn new(storage: impl IntoStorage) -> Self {
        Self {
            engine: Engine::new(storage),
            cookie: CookieConfig::new(T::NAME),
            transport: Transport::Cookie,
            token: TokenTransform::plain(),
        }
    }
}

/// What [`HttpEngine::save_request`] did: the token the response must carry, and the error to
/// answer with if the save failed.
#[derive(Debug)]
pub struct SaveOutcome {
    op: CookieOp,
    error: Option<Error>,
}

impl SaveOutcome {
    /// The error the save failed with: answer with the layer's failure response. The token is
    /// still sent (after a `cycle_id` that went through, only the new id opens the session).
    pub fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }

    /// Whether the response must carry a new token or a removal.
    pub fn sends_token(&self) -> bool {
        self.op != CookieOp::Keep
    }
}

impl<T: SessionData, C: Codec> HttpEngine<T, C> {
    /// Encodes field values with `codec` instead.
    pub fn with_codec<C2: Codec>(self, codec: C2) -> HttpEngine<T, C2> {
        HttpEngine {
            engine: self.engine.with_codec(codec),
            cookie: self.cookie,
            transport: self.transport,
            token: self.token,
        }
    }

    /// The engine.
    pub fn engine(&self) -> &Engine<T, C> {
        &self.engine
    }

    /// The engine, for changing its policy, id generator or clock.
    pub fn engine_mut(&mut self) -> &mut Engine<T, C> {
        &mut self.engine
    }

    /// The cookie's attributes.
    pub fn cookie(&self) -> &CookieConfig {
        &self.cookie
    }

    /// The cookie's attributes, for changing (the name has its own setter).
    pub fn cookie_mut(&mut self) -> &mut CookieConfig {
        &mut self.cookie
    }

    /// Names the cookie (client-side sessions authenticate the name with the value).
    pub fn set_cookie_name(&mut self, name: impl Into<String>) {
        let name = name.into();
        self.engine.set_cookie_name(name.clone());
        self.cookie.name = name;
    }

    /// Where the token travels.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Sends the token another way.
    pub fn set_transport(&mut self, transport: Transport) {
        self.transport = transport;
    }

    /// How the token is changed on its way out and back in.
    pub fn token_transform(&self) -> &TokenTransform {
        &self.token
    }

    /// Changes the token on its way out and back in: signed or sealed with cookie keys, or the
    /// application's own pair. A token that does not decode is an unknown session.
    pub fn set_token_transform(&mut self, transform: TokenTransform) {
        self.token = transform;
    }

    /// Checks the configuration against the rules browsers enforce, and that a signed or sealed
    /// token is a server-side session's id.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.cookie.validate()?;
        self.transport.validate()?;
        #[cfg(feature = "cookie")]
        if self.token.is_keyed() && matches!(self.engine.storage(), crate::Storage::Cookie(_)) {
            return Err(ConfigError::KeyedTokenOnCookieStore);
        }
        Ok(())
    }

    /// The session slot of one request: the token it carries, read now; the session is opened
    /// when a handle is first taken.
    pub fn slot(self: &Arc<Self>, request: &impl RequestHead) -> Arc<Slot<T>> {
        let wire = token::read(&self.transport, &self.cookie, request);
        let token = self.token.decode(&self.cookie.name, wire);
        Arc::new(Slot::new(self.clone(), token))
    }

    /// Saves what the handles of `slot` gave back, once the inner service has answered; `None`
    /// if no handle opened the session (the response is left alone). Handles still out (moved
    /// into a task) save themselves when dropped.
    pub async fn save_request(&self, slot: &Slot<T>) -> Option<SaveOutcome> {
        let finished: Finished<T> = slot.finish()?;
        if finished.still_held > 0 {
            tracing::debug!(
                session = T::NAME,
                handles = finished.still_held,
                "a Session outlived its handler (moved into a task?); it is saved when dropped"
            );
        }
        let saved = match finished.state {
            Some(state) => match self.engine.start_save(state) {
                SaveStart::Done(outcome) => outcome,
                SaveStart::Writing(store_calls) => store_calls.await,
            },
            None => Ok(CookieOp::Keep),
        };
        let (op, error) = match saved {
            Ok(op) => (op, None),
            Err(SaveError { error, token }) => {
                tracing::error!(session = T::NAME, %error, "could not save the session");
                (token, Some(error))
            }
        };
        // An explicit `save()` earlier in the request decided the token unless this save did.
        let op = match (op, finished.pending) {
            (CookieOp::Keep, Some(pending)) => pending,
            (op, _) => op,
        };
        Some(self.encode(op, error))
    }

    /// Writes the token `saved` decided, `Vary` and `Cache-Control` into the response (the
    /// failure response, if the save failed); `Err` with the response to give instead if the
    /// token cannot be sent in a header.
    pub fn write_headers(&self, saved: &SaveOutcome, response: &mut impl ResponseHead) -> Result<(), FailureResponse> {
        response::write(&self.transport, &self.cookie, &saved.op, response).inspect_err(|_| {
            tracing::error!(session = T::NAME, "session token is not a valid header value");
        })
    }
}

impl<T: SessionData, C: Codec> HttpEngine<T, C> {
    /// The outcome with the token as the client gets it: transformed, and checked to fit in a
    /// cookie (a transform may grow it).
    fn encode(&self, op: CookieOp, error: Option<Error>) -> SaveOutcome {
        let CookieOp::Set { value, max_age } = op else {
            return SaveOutcome { op, error };
        };
        if self.token.is_plain() {
            return SaveOutcome { op: CookieOp::Set { value, max_age }, error };
        }
        let value = self.token.encode(&self.cookie.name, &value);
        let size = self.cookie.name.len() + 1 + value.len();
        if self.transport == Transport::Cookie && size > MAX_COOKIE_SIZE {
            tracing::error!(session = T::NAME, size, "the transformed session token is too large for a cookie");
            let error = error.unwrap_or(Error::CookieTooLarge { size, limit: MAX_COOKIE_SIZE });
            return SaveOutcome { op: CookieOp::Keep, error: Some(error) };
        }
        SaveOutcome { op: CookieOp::Set { value, max_age }, error }
    }
}

/// The largest cookie browsers must keep, name and value (RFC 6265), as the cookie store has it.
const MAX_COOKIE_SIZE: usize = 4096;

impl<T: SessionData, C: Codec> Open<T> for HttpEngine<T, C> {
    fn open<'a>(&'a self, token: &'a ClientToken) -> BoxFuture<'a, Result<SessionState<T>, Error>> {
        Box::pin(async move {
            match token {
                ClientToken::Absent => self.engine.open(None).await,
                ClientToken::Unreadable => Ok(self.engine.open_unreadable()),
                ClientToken::Present(token) => self.engine.open(Some(token)).await,
            }
        })
    }

    fn save(&self, state: SessionState<T>) -> BoxFuture<'_, Result<CookieOp, SaveError>> {
        Box::pin(self.engine.save(state))
    }

    fn sessions(&self) -> crate::Sessions<T> {
        self.engine.sessions()
    }
}
