//! The session token a request carries: where it is read from, and what the layer makes of it.

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
    let visible = value.iter().all(|&b| b == b'\t' || (b' '..=b'~').contains(&b));
    visible.then(|| std::str::from_utf8(value).ok()).flatten()
}
