//! The session token a request carries: where it is read from, and what the layer makes of it.

use std::sync::Arc;

use crate::web::config::{CookieConfig, Transport};

/// The parts of a request a session layer reads, whatever the framework: each integration
/// implements it on a wrapper of its request (or request head).
pub trait RequestHead {
    /// The values of the header `name` (lowercase), in order, as bytes.
    fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a;

    /// The query string, without the `?`; `None` or empty if there is none.
    fn query(&self) -> Option<&str>;
}

/// What the request presented as its session token, once read (and decoded).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientToken {
    /// No token: a new session.
    Absent,
    /// A token that could not be decoded: an unknown session, so a fresh one (and a `destroy`
    /// still tells the client to drop what it sent).
    Unreadable,
    /// A token, as the engine reads it: a session id, or a cookie store's sealed record.
    Present(String),
}

impl std::fmt::Debug for ClientToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Absent => f.write_str("Absent"),
            Self::Unreadable => f.write_str("Unreadable"),
            // A bearer secret.
            Self::Present(_) => f.write_str("Present(<redacted>)"),
        }
    }
}

/// The token on the wire, as the request carries it.
pub(crate) fn read(transport: &Transport, cookie: &CookieConfig, request: &impl RequestHead) -> Option<String> {
    match transport {
        Transport::Cookie => cookie_value(request, &cookie.name),
        Transport::Header(name) => request.header_values(name).next().and_then(header_text).map(str::to_owned),
        Transport::Query(param) => request.query().and_then(|query| {
            form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == param).map(|(_, v)| v.into_owned())
        }),
    }
}

/// The first cookie called `name` in the request's `Cookie` headers.
fn cookie_value(request: &impl RequestHead, name: &str) -> Option<String> {
    request
        .header_values("cookie")
        .filter_map(header_text)
        .flat_map(::cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// A header value as text, if it is visible ASCII (and tabs): what `http`'s
/// `HeaderValue::to_str` accepts, so every framework reads the same values.
pub(crate) fn header_text(value: &[u8]) -> Option<&str> {
    // Without an early exit the check runs over whole vectors of bytes (a Cookie header often
    // carries kilobytes of other cookies).
    let visible = value.iter().fold(true, |ok, &b| ok & ((b == b'\t') | (b' '..=b'~').contains(&b)));
    visible.then(|| std::str::from_utf8(value).ok()).flatten()
}

/// How a layer changes the session token on its way out and back in, set with the layers'
/// `token_transform`: signed or sealed with cookie keys, or the application's own encoding. A
/// token that does not decode is an unknown session: the request gets a fresh one, never an
/// error page.
///
/// ```
/// # #[cfg(feature = "cookie")] {
/// use session_core::cookie::{Key, KeyRing};
/// use session_core::web::TokenTransform;
///
/// // The id cookie of a server-side store, as tower-sessions' signed cookies: `<id>.<tag>`.
/// let signed = TokenTransform::signed(KeyRing::new(Key::generate()));
/// // Encrypted too, as its private cookies.
/// let sealed = TokenTransform::sealed(KeyRing::new(Key::generate()));
/// // An encoding of your own, as fasthttpsession's EncodeFunc and DecodeFunc.
/// let reversed = TokenTransform::custom(
///     |token| token.chars().rev().collect(),
///     |wire| Some(wire.chars().rev().collect()),
/// );
/// # }
/// ```
#[derive(Clone, Default)]
pub struct TokenTransform(Kind);

#[derive(Clone, Default)]
enum Kind {
    #[default]
    Plain,
    #[cfg(feature = "cookie")]
    Signed(Arc<crate::cookie::KeyRing>),
    #[cfg(feature = "cookie")]
    Sealed(Arc<crate::cookie::KeyRing>),
    Custom {
        encode: Arc<Encode>,
        decode: Arc<Decode>,
    },
}

/// An application's token encoding.
type Encode = dyn Fn(&str) -> String + Send + Sync;
/// Its decoding; `None` refuses the value.
type Decode = dyn Fn(&str) -> Option<String> + Send + Sync;

impl std::fmt::Debug for TokenTransform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Kind::Plain => f.write_str("Plain"),
            #[cfg(feature = "cookie")]
            Kind::Signed(keys) => f.debug_tuple("Signed").field(keys).finish(),
            #[cfg(feature = "cookie")]
            Kind::Sealed(keys) => f.debug_tuple("Sealed").field(keys).finish(),
            Kind::Custom { .. } => f.write_str("Custom"),
        }
    }
}

impl TokenTransform {
    /// The token as the engine makes it (the default).
    pub fn plain() -> Self {
        Self(Kind::Plain)
    }

    /// Signed with the primary key of `keys` (HMAC-SHA256), like tower-sessions' signed id
    /// cookies: the id stays readable, but a client can only present ids this application
    /// signed, so guessed or planted ids never reach the store. Tokens signed with an older key
    /// of the ring keep working while it stays in the ring (they are not re-signed until the
    /// token is next sent: keep a rotated key for the longest session lifetime). For
    /// server-side stores: a cookie store's cookie is signed or sealed already.
    #[cfg(feature = "cookie")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cookie")))]
    pub fn signed(keys: crate::cookie::KeyRing) -> Self {
        Self(Kind::Signed(Arc::new(keys)))
    }

    /// Encrypted and authenticated with the primary key of `keys` (AES-SIV, a random nonce),
    /// like tower-sessions' private id cookies: the client cannot read the id either. Key
    /// rotation as for [`signed`](Self::signed).
    #[cfg(feature = "cookie")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cookie")))]
    pub fn sealed(keys: crate::cookie::KeyRing) -> Self {
        Self(Kind::Sealed(Arc::new(keys)))
    }

    /// The application's own pair, like fasthttpsession's `EncodeFunc` and `DecodeFunc`:
    /// `encode` turns the engine's token into what the client gets (it must be a valid cookie
    /// or header value, or the response is a 500), `decode` turns it back, `None` for a value
    /// it refuses (the request then gets a fresh session).
    pub fn custom(
        encode: impl Fn(&str) -> String + Send + Sync + 'static,
        decode: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        Self(Kind::Custom { encode: Arc::new(encode), decode: Arc::new(decode) })
    }

    pub(crate) fn is_plain(&self) -> bool {
        matches!(self.0, Kind::Plain)
    }

    /// Whether it signs or seals with cookie keys (pointless, and unchecked for size, on a
    /// cookie store, which seals or signs its cookie already).
    #[cfg(feature = "cookie")]
    pub(crate) fn is_keyed(&self) -> bool {
        matches!(self.0, Kind::Signed(_) | Kind::Sealed(_))
    }

    /// The token as the client gets it; `name` is the cookie name the token is bound to.
    #[cfg_attr(not(feature = "cookie"), allow(unused_variables))]
    pub(crate) fn encode(&self, name: &str, token: &str) -> String {
        match &self.0 {
            Kind::Plain => token.to_owned(),
            #[cfg(feature = "cookie")]
            Kind::Signed(keys) => crate::cookie::token::sign(keys, name, token),
            #[cfg(feature = "cookie")]
            Kind::Sealed(keys) => crate::cookie::token::seal(keys, name, token),
            Kind::Custom { encode, .. } => encode(token),
        }
    }

    /// What the request presented, decoded: a value that does not decode is an unknown
    /// session, never an error.
    #[cfg_attr(not(feature = "cookie"), allow(unused_variables))]
    pub(crate) fn decode(&self, name: &str, wire: Option<String>) -> ClientToken {
        let Some(wire) = wire else {
            return ClientToken::Absent;
        };
        let decoded = match &self.0 {
            Kind::Plain => Some(wire),
            #[cfg(feature = "cookie")]
            Kind::Signed(keys) => crate::cookie::token::verify(keys, name, &wire),
            #[cfg(feature = "cookie")]
            Kind::Sealed(keys) => crate::cookie::token::open(keys, name, &wire),
            Kind::Custom { decode, .. } => decode(&wire),
        };
        decoded.map_or(ClientToken::Unreadable, ClientToken::Present)
    }
}

#[cfg(test)]
mod tests {
    use super::header_text;

    #[test]
    fn header_text_takes_visible_ascii_and_tabs_only_wherever_the_odd_byte_is() {
        // Long enough that a vectorized check meets each byte in a different lane and tail.
        let clean: Vec<u8> = (0..300).map(|i| b' ' + (i % 95) as u8).collect();
        assert_eq!(header_text(&clean).map(str::len), Some(300));
        assert_eq!(header_text(b"a\tb"), Some("a\tb"));
        assert_eq!(header_text(b""), Some(""));
        for bad in [0u8, b'\n', b'\r', 0x1f, 0x7f, 0x80, 0xff] {
            for at in [0, 1, 31, 32, 150, 298, 299] {
                let mut value = clean.clone();
                value[at] = bad;
                assert_eq!(header_text(&value), None, "byte {bad:#x} at {at}");
            }
        }
    }
}
