//! How the session token travels: cookie attributes, header or query transport, and the
//! rules checked when a layer is built.

use std::time::Duration;

use ::cookie::{Cookie, SameSite};

/// Where a session layer reads the session token from, and where it sends a new one.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transport {
    /// A cookie (the default): read from `Cookie`, sent with `Set-Cookie`.
    Cookie,
    /// A request header, for API clients; a new token comes back in the same response header.
    /// The name is lowercase, as HTTP/2 sends it (the integrations take their framework's
    /// header-name type and lowercase it).
    Header(String),
    /// A URL query parameter, for clients without cookies; a new token comes back in the
    /// response header of the same name.
    Query(String),
}

impl Transport {
    /// Checks what a layer will need: a header name, and a query parameter's name that can also
    /// name the response header that sends a new token back.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        match self {
            Transport::Cookie => Ok(()),
            Transport::Header(name) if !is_token(name) => Err(ConfigError::HeaderName(name.clone())),
            Transport::Header(_) => Ok(()),
            Transport::Query(param) if !is_token(param) => Err(ConfigError::QueryParameter(param.clone())),
            Transport::Query(_) => Ok(()),
        }
    }

    /// The response header a new token goes back in, for the header and query transports.
    pub(crate) fn response_header(&self) -> Option<String> {
        match self {
            Transport::Cookie => None,
            Transport::Header(name) | Transport::Query(name) => Some(name.to_ascii_lowercase()),
        }
    }
}

/// The session cookie's attributes.
///
/// Made with the session type's name by [`HttpEngine::new`](crate::web::HttpEngine::new); the
/// name is set through [`HttpEngine::set_cookie_name`](crate::web::HttpEngine::set_cookie_name),
/// which keeps a cookie store's authenticated name in step.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CookieConfig {
    pub(crate) name: String,
    /// `Path` (default `/`).
    pub path: String,
    /// `Domain` (default none: this host only).
    pub domain: Option<String>,
    /// `Secure` (default on).
    pub secure: bool,
    /// `HttpOnly` (default on).
    pub http_only: bool,
    /// `SameSite` (default `Lax`).
    pub same_site: SameSite,
    /// `Partitioned` (default off).
    pub partitioned: bool,
}

/// `cookie` as a `Set-Cookie` value, in a string sized for it up front: `to_string` grows an
/// empty one several times over a value of a hundred bytes or more, each a copy.
fn render(cookie: &Cookie<'_>, value_len: usize) -> String {
    use std::fmt::Write as _;
    // The attributes this config can set, dates included, fit in 160 bytes but for the path and
    // domain, counted apart.
    let extra = cookie.path().map_or(0, str::len) + cookie.domain().map_or(0, str::len);
    let mut out = String::with_capacity(cookie.name().len() + value_len + extra + 160);
    // Writing into a `String` cannot fail.
    let _ = write!(out, "{cookie}");
    out
}

impl CookieConfig {
    /// The defaults, for a cookie called `name`.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            path: "/".to_owned(),
            domain: None,
            secure: true,
            http_only: true,
            same_site: SameSite::Lax,
            partitioned: false,
        }
    }

    /// The cookie name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A `Set-Cookie` value carrying `value`; `None` max-age makes a browser-session cookie.
    pub fn set_cookie(&self, value: &str, max_age: Option<Duration>) -> String {
        let mut cookie = self.base(value);
        if let Some(age) = max_age {
            let secs = i64::try_from(age.as_secs()).unwrap_or(i64::MAX);
            cookie.set_max_age(::cookie::time::Duration::seconds(secs));
        }
        render(&cookie, value.len())
    }

    /// A `Set-Cookie` value that removes the cookie, with the same attributes so the browser
    /// matches it to the cookie it holds.
    pub fn removal(&self) -> String {
        let mut cookie = self.base("");
        cookie.make_removal();
        render(&cookie, 0)
    }

    fn base<'c>(&'c self, value: &'c str) -> Cookie<'c> {
        let mut cookie = Cookie::new(self.name.as_str(), value);
        cookie.set_path(self.path.as_str());
        if let Some(domain) = &self.domain {
            cookie.set_domain(domain.as_str());
        }
        cookie.set_secure(self.secure);
        cookie.set_http_only(self.http_only);
        cookie.set_same_site(self.same_site);
        cookie.set_partitioned(self.partitioned);
        cookie
    }

    /// Checks the rules browsers enforce, so a layer that builds also works in a browser.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !is_token(&self.name) {
            return Err(ConfigError::CookieName(self.name.clone()));
        }
        if self.same_site == SameSite::None && !self.secure {
            return Err(ConfigError::SameSiteNoneNeedsSecure);
        }
        if self.partitioned && !self.secure {
            return Err(ConfigError::PartitionedNeedsSecure);
        }
        if self.name.starts_with("__Secure-") && !self.secure {
            return Err(ConfigError::SecurePrefix);
        }
        if self.name.starts_with("__Host-") && (!self.secure || self.path != "/" || self.domain.is_some()) {
            return Err(ConfigError::HostPrefix);
        }
        if !self.path.starts_with('/') || self.path.contains(';') {
            return Err(ConfigError::Path(self.path.clone()));
        }
        Ok(())
    }
}

/// An RFC 6265 cookie-name token, which is also an RFC 9110 header-name token: visible ASCII
/// but separators.
pub(crate) fn is_token(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
}

/// A session layer was configured in a way browsers would reject.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The cookie name is not a cookie-name token.
    #[error("`{0}` is not a valid cookie name: use letters, digits and `!#$%&'*+-.^_`|~`")]
    CookieName(String),
    /// `SameSite=None` without `Secure`.
    #[error("SameSite=None cookies are dropped by browsers unless Secure: keep `.secure(true)`")]
    SameSiteNoneNeedsSecure,
    /// `Partitioned` without `Secure`.
    #[error("Partitioned cookies must be Secure: keep `.secure(true)`")]
    PartitionedNeedsSecure,
    /// A `__Secure-` name without `Secure`.
    #[error("a `__Secure-` cookie must be Secure: keep `.secure(true)`")]
    SecurePrefix,
    /// A `__Host-` name without `Secure`, with a `Domain` or a path other than `/`.
    #[error("a `__Host-` cookie must be Secure, have Path=/ and no Domain")]
    HostPrefix,
    /// A path that is not absolute or holds `;`.
    #[error("cookie path `{0}` must start with `/` and hold no `;`")]
    Path(String),
    /// The name given for the header transport is not a header name.
    #[error("`{0}` is not a valid header name: use letters, digits and `!#$%&'*+-.^_`|~`")]
    HeaderName(String),
    /// The query parameter given for the query transport cannot also name the response header
    /// that sends a new token back.
    #[error(
        "`{0}` cannot be the session's query parameter: a new token is sent back in the response header \
         of that name, so use letters, digits and `!#$%&'*+-.^_`|~`"
    )]
    QueryParameter(String),
    /// A signed or sealed token (`sign_token`, `seal_token`) on a cookie store, whose cookie is
    /// sealed or signed already.
    #[error(
        "`sign_token` and `seal_token` protect a server-side session's id: a cookie store's cookie is \
         already sealed or signed, so drop the call (or use `transform_token` for an encoding of your own)"
    )]
    KeyedTokenOnCookieStore,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_names() {
        assert!(is_token("app"));
        assert!(is_token("__Host-app"));
        assert!(!is_token(""));
        assert!(!is_token("a b"));
        assert!(!is_token("a=b"));
    }

    #[test]
    fn prefixes_are_validated() {
        let mut c = CookieConfig::new("__Host-app");
        assert_eq!(c.validate(), Ok(()));
        c.domain = Some("example.com".into());
        assert_eq!(c.validate(), Err(ConfigError::HostPrefix));
        let mut c = CookieConfig::new("app");
        c.same_site = SameSite::None;
        c.secure = false;
        assert_eq!(c.validate(), Err(ConfigError::SameSiteNoneNeedsSecure));
    }

    #[test]
    fn a_query_parameter_must_also_be_a_header_name() {
        assert_eq!(Transport::Query("sid".into()).validate(), Ok(()));
        assert_eq!(Transport::Cookie.validate(), Ok(()));
        for bad in ["", "session id", "sid=", "s\u{e9}ance"] {
            let error = Transport::Query(bad.into()).validate().expect_err(bad);
            assert_eq!(error, ConfigError::QueryParameter(bad.into()));
            let message = error.to_string();
            assert!(message.starts_with(&format!("`{bad}` cannot be the session's query parameter")), "{message}");
            assert!(!message.contains("cookie"), "not a cookie name: {message}");
        }
    }

    #[test]
    fn a_header_transport_needs_a_header_name() {
        assert_eq!(Transport::Header("x-session".into()).validate(), Ok(()));
        let error = Transport::Header("x session".into()).validate().expect_err("a space");
        assert_eq!(error, ConfigError::HeaderName("x session".into()));
    }

    #[test]
    fn removal_keeps_attributes() {
        let mut c = CookieConfig::new("app");
        c.domain = Some("example.com".into());
        c.path = "/admin".into();
        let removal = c.removal();
        for part in ["app=", "Max-Age=0", "Path=/admin", "Domain=example.com", "Secure", "HttpOnly", "SameSite=Lax"] {
            assert!(removal.contains(part), "{removal} lacks {part}");
        }
    }
}
