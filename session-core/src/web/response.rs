//! What a response carries for the session: the token (`Set-Cookie`, or the transport's header),
//! `Vary` and `Cache-Control`.

use crate::engine::CookieOp;
use crate::web::config::{CookieConfig, Transport};
use crate::web::failure::FailureResponse;
use crate::web::token::header_text;

/// The headers of a response a session layer writes, whatever the framework: each integration
/// implements it on a wrapper of its header map.
///
/// Names are lowercase header names and values are valid header values: the layer checks them
/// before calling, so an integration may skip (never panic on) a value its framework refuses.
pub trait ResponseHead {
    /// The values of the header `name`, in order, as bytes.
    fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a;

    /// Adds a value to the header `name`, keeping those it has.
    fn append_header(&mut self, name: &str, value: &str);

    /// Sets the header `name` to `value`, replacing those it has.
    fn insert_header(&mut self, name: &str, value: &str);

    /// [`append_header`](Self::append_header) with a value fixed at compile time (`Vary:
    /// cookie`, on every response), always visible ASCII: an integration whose header values
    /// can borrow static text overrides it to spare a copy of the value on the heap.
    fn append_static(&mut self, name: &'static str, value: &'static str) {
        self.append_header(name, value);
    }

    /// [`insert_header`](Self::insert_header) with a value fixed at compile time
    /// (`Cache-Control: no-store`), as [`append_static`](Self::append_static).
    fn insert_static(&mut self, name: &'static str, value: &'static str) {
        self.insert_header(name, value);
    }
}

/// Writes what `op` decided for the token (its value as the client gets it, encoded) and the
/// cache headers; `Err` with the response to give instead if the token cannot be sent.
pub(crate) fn write(
    transport: &Transport,
    cookie: &CookieConfig,
    op: &CookieOp,
    response: &mut impl ResponseHead,
) -> Result<(), FailureResponse> {
    // The response depends on the token the request carried: shared caches must key on it.
    match transport {
        Transport::Cookie if !varies_on(response, "cookie") => response.append_static("vary", "cookie"),
        Transport::Header(name) if !varies_on(response, name) => response.append_header("vary", name),
        // Already there; or the token is part of the URL, which caches key on already.
        Transport::Cookie | Transport::Header(_) | Transport::Query(_) => {}
    }
    let header_value = match (op, transport) {
        (CookieOp::Keep, _) => return Ok(()),
        (CookieOp::Set { value, max_age }, Transport::Cookie) => cookie.set_cookie(value, *max_age),
        (CookieOp::Remove, Transport::Cookie) => cookie.removal(),
        (CookieOp::Set { value, .. }, _) => value.clone(),
        (CookieOp::Remove, _) => String::new(),
    };
    if !is_header_value(&header_value) {
        return Err(FailureResponse::new(500, "the session token could not be sent"));
    }
    match transport.response_header() {
        None => response.append_header("set-cookie", &header_value),
        Some(name) => response.insert_header(&name, &header_value),
    }
    // A response that hands out a session token must never be served to someone else.
    response.insert_static("cache-control", "no-store");
    Ok(())
}

/// Whether `value` is a header value every framework accepts: no control characters but tab.
fn is_header_value(value: &str) -> bool {
    // Without an early exit the compiler checks whole vectors of bytes at a time: a few
    // instructions for a Set-Cookie value of hundreds of bytes instead of several per byte.
    value.bytes().fold(true, |ok, b| ok & ((b == b'\t') | ((b >= b' ') & (b != 0x7f))))
}

/// Whether `Vary` names `name` (a lowercase header name) or `*` already.
fn varies_on(response: &impl ResponseHead, name: &str) -> bool {
    response
        .header_values("vary")
        .filter_map(header_text)
        .any(|v| v.split(',').any(|part| part.trim().eq_ignore_ascii_case(name) || part.trim() == "*"))
}

#[cfg(test)]
mod tests {
    use super::is_header_value;

    #[test]
    fn header_values_refuse_control_characters_wherever_they_are() {
        let clean: String = (0..300).map(|i| char::from(b' ' + (i % 95) as u8)).collect();
        assert!(is_header_value(&clean));
        assert!(is_header_value("a\tb"));
        for bad in ['\0', '\n', '\r', '\u{1f}', '\u{7f}'] {
            for at in [0, 1, 31, 32, 150, 299] {
                let mut value: Vec<char> = clean.chars().collect();
                value[at] = bad;
                assert!(!is_header_value(&value.into_iter().collect::<String>()), "{bad:?} at {at}");
            }
        }
    }
}
