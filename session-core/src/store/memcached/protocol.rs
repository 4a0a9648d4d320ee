//! Memcached's meta text protocol on one TCP connection.

use std::io;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::{CONNECT_TIMEOUT, OP_TIMEOUT};

pub(super) fn protocol(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
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

/// One connection. `healthy` is false while a command is under way, so a connection dropped
/// mid-command (error, timeout, cancellation) is never reused with half a reply unread.
pub(super) struct Conn {
    pub(super) io: BufReader<TcpStream>,
    pub(super) healthy: bool,
}

impl Conn {
    pub(super) async fn open(addr: &str) -> io::Result<Self> {
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, format!("connecting to {addr} timed out")))??;
        stream.set_nodelay(true)?;
        Ok(Self { io: BufReader::new(stream), healthy: true })
    }

    /// One reply line without its line end (CRLF, or a bare LF as in metadump output).
    pub(super) async fn line(&mut self) -> io::Result<String> {
        let mut buf = Vec::new();
        self.io.read_until(b'\n', &mut buf).await?;
        if buf.pop() != Some(b'\n') {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "memcached closed the connection"));
        }
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        String::from_utf8(buf).map_err(|_| protocol("reply line is not UTF-8"))
    }

    /// Sends `request`, reads the reply line and, after `VA`, the value.
    pub(super) async fn exchange(&mut self, request: &[u8]) -> io::Result<(String, Option<Vec<u8>>)> {
        self.healthy = false;
        let reply = tokio::time::timeout(OP_TIMEOUT, async {
            self.io.get_mut().write_all(request).await?;
            let head = self.line().await?;
            if head.starts_with("ERROR") || head.starts_with("CLIENT_ERROR") || head.starts_with("SERVER_ERROR") {
                return Err(io::Error::other(format!("memcached: {head}")));
            }
            let mut value = None;
            if let Some(rest) = head.strip_prefix("VA ") {
                let len: usize = rest
                    .split(' ')
                    .next()
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| protocol(format!("bad value header {head:?}")))?;
                let mut data = vec![0; len + 2];
                self.io.read_exact(&mut data).await?;
                if !data.ends_with(b"\r\n") {
                    return Err(protocol("value not followed by CRLF"));
                }
                data.truncate(len);
                value = Some(data);
            }
            Ok((head, value))
        })
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "memcached did not answer in time"))??;
        self.healthy = true;
        Ok(reply)
    }

    /// The item's value and CAS value.
    pub(super) async fn get(&mut self, key: &str) -> io::Result<Option<(Vec<u8>, u64)>> {
        let (head, value) = self.exchange(format!("mg {key} v c\r\n").as_bytes()).await?;
        if head == "EN" {
            return Ok(None);
        }
        let cas = head
            .split(' ')
            .find_map(|flag| flag.strip_prefix('c'))
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| protocol(format!("no CAS value in {head:?}")))?;
        let value = value.ok_or_else(|| protocol(format!("unexpected reply {head:?}")))?;
        Ok(Some((value, cas)))
    }

    pub(super) async fn set(&mut self, key: &str, value: &[u8], exptime: u32, mode: Mode) -> io::Result<Outcome> {
        let flag = match mode {
            Mode::Add => "ME".to_owned(),
            Mode::Cas(cas) => format!("C{cas}"),
        };
        let mut request = format!("ms {key} {} T{exptime} {flag}\r\n", value.len()).into_bytes();
        request.extend_from_slice(value);
        request.extend_from_slice(b"\r\n");
        let (head, _) = self.exchange(&request).await?;
        outcome(&head)
    }

    pub(super) async fn delete(&mut self, key: &str, cas: Option<u64>) -> io::Result<Outcome> {
        let request = match cas {
            Some(cas) => format!("md {key} C{cas}\r\n"),
            None => format!("md {key}\r\n"),
        };
        let (head, _) = self.exchange(request.as_bytes()).await?;
        outcome(&head)
    }
}

fn outcome(head: &str) -> io::Result<Outcome> {
    match head.split(' ').next() {
        Some("HD") => Ok(Outcome::Done),
        Some("NS") => Ok(Outcome::NotStored),
        Some("EX") => Ok(Outcome::Exists),
        Some("NF") => Ok(Outcome::NotFound),
        _ => Err(protocol(format!("unexpected reply {head:?}"))),
    }
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
