//! Memcached's meta text protocol on one TCP connection.
//!
//! Replies are untrusted input: a compromised server, or anyone on the plaintext path, can
//! send anything. So a reply line is bounded, a value is bounded by `max_value_size` before
//! anything is allocated for it (and then grows only with bytes actually received), all length
//! arithmetic is checked, and a reply that breaks the protocol is a [`Failure`], never a panic.
//! A connection whose command did not end with a whole, well-formed reply is never reused.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::STORE;
use crate::error::StoreError;

/// The longest reply line accepted. Replies to the commands sent here are a few dozen bytes;
/// the longest legitimate lines are metadump's (a key of up to 250 bytes, URL-encoded, plus a
/// few fields), well under this.
pub(super) const MAX_LINE: usize = 4096;

/// What one connection may spend and accept.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    /// Bound on opening the TCP connection (name resolution included).
    pub(super) connect_timeout: Duration,
    /// Bound on one command: sending it and reading its whole reply.
    pub(super) operation_timeout: Duration,
    /// The largest value sent or accepted.
    pub(super) max_value_size: usize,
}

/// Why a command failed. Which of these it was decides whether a write may have taken effect.
#[derive(Debug)]
pub(super) enum Failure {
    /// The command did not reach the server whole (connection failed, or the request was not
    /// written out in time or at all, or is over `max_value_size`): it had no effect.
    NotSent(io::Error),
    /// The command was sent but its reply did not come whole (connection broke or closed, no
    /// reply within the operation timeout): it may have taken effect.
    NoReply(io::Error),
    /// The reply broke the protocol (garbage, an oversized line or value, bytes after the
    /// reply): the server is broken or hostile; what it did is unknown.
    BadReply(String),
    /// The server refused the command (`ERROR`, `CLIENT_ERROR ..`, `SERVER_ERROR ..`).
    Refused(String),
}

impl Failure {
    /// The store error for a command that only reads.
    pub(super) fn on_read(self) -> StoreError {
        match self {
            Self::NotSent(e) | Self::NoReply(e) => StoreError::backend(STORE, e),
            Self::BadReply(reason) => StoreError::BadReply { store: STORE, reason },
            Self::Refused(line) => StoreError::backend(STORE, refused(&line)),
        }
    }

    /// The store error for a command that writes: unknown outcome once it was sent and no
    /// trustworthy reply came.
    pub(super) fn on_write(self) -> StoreError {
        match self {
            Self::NotSent(e) => StoreError::backend(STORE, e),
            Self::NoReply(e) => StoreError::outcome_unknown(STORE, e),
            Self::BadReply(reason) => StoreError::outcome_unknown(STORE, StoreError::BadReply { store: STORE, reason }),
            Self::Refused(line) => StoreError::backend(STORE, refused(&line)),
        }
    }
}

fn refused(line: &str) -> io::Error {
    io::Error::other(format!("the server refused the command: {}", excerpt(line)))
}

/// A bounded, escaped piece of a reply for error messages: replies are untrusted.
fn excerpt(s: &str) -> String {
    const MAX: usize = 80;
    match s.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}...", &s[..cut]),
        None => format!("{s:?}"),
    }
}

fn bad(reason: impl Into<String>) -> Failure {
    Failure::BadReply(reason.into())
}

/// How a store command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    /// `HD`: stored or deleted.
    Done,
    /// `NS`: not stored (an `add` found an item).
    NotStored,
    /// `EX`: the item changed since its CAS value was read.
    Exists,
    /// `NF`: no such item.
    NotFound,
}

/// How `ms` stores.
#[derive(Debug, Clone, Copy)]
pub(super) enum Mode {
    /// Only if no item exists.
    Add,
    /// Only if the item still has this CAS value.
    Cas(u64),
}

/// A reply: its first line and, after `VA`, the value.
#[derive(Debug)]
pub(super) struct Reply {
    pub(super) head: String,
    pub(super) value: Option<Vec<u8>>,
}

/// One connection. `healthy` is false while a command is under way, so a connection dropped
/// mid-command (error, timeout, cancellation, bad reply) is never reused with half a reply
/// unread.
pub(super) struct Conn {
    io: BufReader<TcpStream>,
    limits: Limits,
    pub(super) healthy: bool,
}

impl Conn {
    pub(super) async fn open(addr: &str, limits: Limits) -> io::Result<Self> {
        let stream = tokio::time::timeout(limits.connect_timeout, TcpStream::connect(addr)).await.map_err(|_| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("connecting to {addr} took longer than {:?} (connect_timeout)", limits.connect_timeout),
            )
        })??;
        stream.set_nodelay(true)?;
        Ok(Self { io: BufReader::new(stream), limits, healthy: true })
    }

    /// Whether an idle connection can take a command: its last reply was read whole, nothing
    /// arrived since, and the server has not closed it (a closed connection would turn the next
    /// write into an unknown outcome for nothing). Never waits.
    pub(super) fn reusable(&self) -> bool {
        if !self.healthy || !self.io.buffer().is_empty() {
            return false;
        }
        let mut probe = [0; 1];
        // Only `WouldBlock` means "open and silent"; end of stream, stray bytes or an error do not.
        matches!(self.io.get_ref().try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    /// One reply line without its line end (CRLF, or a bare LF as in metadump output), at most
    /// [`MAX_LINE`] bytes.
    pub(super) async fn line(&mut self) -> Result<String, Failure> {
        let mut line = Vec::new();
        loop {
            let available = self.io.fill_buf().await.map_err(Failure::NoReply)?;
            if available.is_empty() {
                return Err(Failure::NoReply(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection before its reply was complete",
                )));
            }
            let end = available.iter().position(|&b| b == b'\n');
            let chunk = &available[..end.unwrap_or(available.len())];
            if chunk.len() > MAX_LINE - line.len() {
                return Err(bad(format!("a reply line longer than {MAX_LINE} bytes")));
            }
            line.extend_from_slice(chunk);
            let used = chunk.len() + usize::from(end.is_some());
            self.io.consume(used);
            if end.is_some() {
                break;
            }
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        String::from_utf8(line).map_err(|_| bad("a reply line that is not UTF-8"))
    }

    /// Reads the `<len>` bytes and CRLF announced by `VA <len> ...`.
    async fn value(&mut self, head: &str, rest: &str) -> Result<Vec<u8>, Failure> {
        let max = self.limits.max_value_size;
        let announced: u64 = rest
            .split(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| bad(format!("a value header without a valid length: {}", excerpt(head))))?;
        let len = usize::try_from(announced)
            .ok()
            .filter(|&len| len <= max)
            .ok_or_else(|| bad(format!("a value of {announced} bytes, over the {max}-byte limit (max_value_size)")))?;
        let with_crlf = len.checked_add(2).ok_or_else(|| bad("a value length that overflows"))?;
        // Grows with the bytes that actually arrive, not with the number announced.
        let mut data = Vec::with_capacity(with_crlf.min(64 * 1024));
        let want = u64::try_from(with_crlf).map_err(|_| bad("a value length that overflows"))?;
        (&mut self.io).take(want).read_to_end(&mut data).await.map_err(Failure::NoReply)?;
        if data.len() != with_crlf {
            return Err(Failure::NoReply(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection in the middle of a value",
            )));
        }
        if !data.ends_with(b"\r\n") {
            return Err(bad("a value not followed by CRLF (longer than announced?)"));
        }
        data.truncate(len);
        Ok(data)
    }

    async fn reply(&mut self) -> Result<Reply, Failure> {
        let head = self.line().await?;
        if head == "ERROR"
            || head.starts_with("ERROR ")
            || head.starts_with("CLIENT_ERROR")
            || head.starts_with("SERVER_ERROR")
        {
            return Err(Failure::Refused(head));
        }
        let value = match head.strip_prefix("VA ") {
            Some(rest) => Some(self.value(&head, rest).await?),
            None => None,
        };
        // Nothing is pipelined, so anything more is not an answer to anything we asked.
        if !self.io.buffer().is_empty() {
            return Err(bad("bytes after the end of the reply"));
        }
        Ok(Reply { head, value })
    }

    /// Sends `request`, reads its whole reply within the operation timeout and makes sense of
    /// it with `parse`. The connection stays usable only if all of that succeeds: a reply that
    /// is well framed but makes no sense still says the server cannot be trusted.
    async fn exchange<T>(
        &mut self,
        request: &[u8],
        parse: impl FnOnce(Reply) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        self.healthy = false;
        let timeout = self.limits.operation_timeout;
        let deadline = Instant::now() + timeout;
        let timed_out = |what: &str| {
            io::Error::new(io::ErrorKind::TimedOut, format!("{what} took longer than {timeout:?} (operation_timeout)"))
        };
        // A request not written out whole cannot have been executed: the server acts on whole
        // commands only, and this connection is never used again.
        match tokio::time::timeout_at(deadline, self.io.get_mut().write_all(request)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(Failure::NotSent(e)),
            Err(_) => return Err(Failure::NotSent(timed_out("sending a command"))),
        }
        let reply = tokio::time::timeout_at(deadline, self.reply())
            .await
            .map_err(|_| Failure::NoReply(timed_out("waiting for the reply")))??;
        let parsed = parse(reply)?;
        self.healthy = true;
        Ok(parsed)
    }

    /// Meta no-op: `MN` on Memcached 1.6+, `ERROR` on older servers.
    pub(super) async fn noop(&mut self) -> Result<(), Failure> {
        self.exchange(b"mn\r\n", |reply| match reply.head.as_str() {
            "MN" => Ok(()),
            _ => Err(bad(format!("{} to a meta no-op (`mn`)", excerpt(&reply.head)))),
        })
        .await
    }

    /// The item's value and CAS value.
    pub(super) async fn get(&mut self, key: &str) -> Result<Option<(Vec<u8>, u64)>, Failure> {
        self.exchange(format!("mg {key} v c\r\n").as_bytes(), |reply| {
            if reply.head == "EN" && reply.value.is_none() {
                return Ok(None);
            }
            match (reply.value, cas_flag(&reply.head)) {
                (Some(value), Some(cas)) => Ok(Some((value, cas))),
                _ => Err(bad(format!("{} to a get (`mg`)", excerpt(&reply.head)))),
            }
        })
        .await
    }

    pub(super) async fn set(&mut self, key: &str, value: &[u8], exptime: u32, mode: Mode) -> Result<Outcome, Failure> {
        let max = self.limits.max_value_size;
        if value.len() > max {
            return Err(Failure::NotSent(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the session is {} bytes, over the {max}-byte limit (max_value_size)", value.len()),
            )));
        }
        let flag = match mode {
            Mode::Add => "ME".to_owned(),
            Mode::Cas(cas) => format!("C{cas}"),
        };
        let mut request = format!("ms {key} {} T{exptime} {flag}\r\n", value.len()).into_bytes();
        request.extend_from_slice(value);
        request.extend_from_slice(b"\r\n");
        self.exchange(&request, outcome).await
    }

    pub(super) async fn delete(&mut self, key: &str, cas: Option<u64>) -> Result<Outcome, Failure> {
        let request = match cas {
            Some(cas) => format!("md {key} C{cas}\r\n"),
            None => format!("md {key}\r\n"),
        };
        self.exchange(request.as_bytes(), outcome).await
    }

    /// The keys starting with `prefix`, from `lru_crawler metadump all`, at most `max_keys`
    /// of them (the dump is read to its end regardless, counting the others). Leaves the
    /// connection unusable.
    pub(super) async fn metadump(&mut self, prefix: &str, max_keys: usize) -> Result<Dump, StoreError> {
        self.healthy = false;
        let timeout = self.limits.operation_timeout;
        let busy_until = Instant::now() + timeout;
        let stalled = || {
            StoreError::backend(
                STORE,
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("metadump stalled for {timeout:?} (operation_timeout)"),
                ),
            )
        };
        loop {
            tokio::time::timeout(timeout, self.io.get_mut().write_all(b"lru_crawler metadump all\r\n"))
                .await
                .map_err(|_| stalled())?
                .map_err(|e| StoreError::backend(STORE, e))?;
            let mut keys = Vec::new();
            let mut skipped = 0u64;
            loop {
                let line = tokio::time::timeout(timeout, self.line())
                    .await
                    .map_err(|_| stalled())?
                    .map_err(Failure::on_read)?;
                if line == "END" {
                    return Ok(Dump { keys, skipped });
                }
                if line.starts_with("BUSY") && Instant::now() < busy_until {
                    // Another crawl is running; ask again shortly.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    break;
                }
                if line.starts_with("ERROR") || line.starts_with("CLIENT_ERROR") || line.starts_with("BUSY") {
                    return Err(StoreError::backend(
                        STORE,
                        io::Error::other(format!(
                            "memcached cannot list keys (`lru_crawler metadump all`: {}); is the LRU crawler disabled?",
                            excerpt(&line)
                        )),
                    ));
                }
                let Some(encoded) = line.split(' ').next().and_then(|f| f.strip_prefix("key=")) else { continue };
                if let Some(key) = url_decode(encoded).filter(|k| k.starts_with(prefix)) {
                    if keys.len() < max_keys {
                        keys.push(key);
                    } else {
                        skipped += 1;
                    }
                }
            }
        }
    }
}

/// The `c<cas>` flag of a reply line.
fn cas_flag(head: &str) -> Option<u64> {
    head.split(' ').skip(1).find_map(|flag| flag.strip_prefix('c')).and_then(|c| c.parse().ok())
}

fn outcome(reply: Reply) -> Result<Outcome, Failure> {
    if reply.value.is_some() {
        return Err(bad(format!("a value in reply to a store or delete command: {}", excerpt(&reply.head))));
    }
    match reply.head.split(' ').next() {
        Some("HD") => Ok(Outcome::Done),
        Some("NS") => Ok(Outcome::NotStored),
        Some("EX") => Ok(Outcome::Exists),
        Some("NF") => Ok(Outcome::NotFound),
        _ => Err(bad(format!("{} to a store or delete command", excerpt(&reply.head)))),
    }
}

/// What [`Conn::metadump`] listed.
pub(super) struct Dump {
    /// Keys under the prefix, up to the limit asked for.
    pub(super) keys: Vec<String>,
    /// Keys under the prefix past that limit, not listed.
    pub(super) skipped: u64,
}

/// Decodes the `%XX` escapes metadump writes keys with.
pub(super) fn url_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadump_keys_decode() {
        assert_eq!(url_decode("session%3Aab").as_deref(), Some("session:ab"));
        assert_eq!(url_decode("plain").as_deref(), Some("plain"));
        assert_eq!(url_decode("bad%4"), None);
        assert_eq!(url_decode("%e9%"), None);
    }

    #[test]
    fn cas_flags_and_excerpts() {
        assert_eq!(cas_flag("VA 3 c42"), Some(42));
        assert_eq!(cas_flag("VA 3 c18446744073709551616"), None);
        assert_eq!(cas_flag("VA c3"), Some(3));
        assert_eq!(cas_flag("cVA 3"), None);
        assert_eq!(excerpt("HD"), "\"HD\"");
        assert!(excerpt(&"x".repeat(5000)).len() < 100);
        assert_eq!(excerpt(&"\u{e9}".repeat(81)), format!("{:?}...", "\u{e9}".repeat(80)));
    }
}
