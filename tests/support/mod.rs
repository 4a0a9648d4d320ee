//! What the integration tests share: a cookie-keeping client for any [`Server`] (an axum router
//! driven in-process, or a server on loopback), and a tiny HTTP/1.1 client for servers on
//! loopback.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::Router;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

/// A response, with the body read into a string.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    /// Every `Set-Cookie` header.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect()
    }

    /// The one `Set-Cookie` for `name`, if any.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        let prefix = format!("{name}=");
        let mut found = self.set_cookies().into_iter().filter(|c| c.starts_with(&prefix));
        let first = found.next();
        assert!(found.next().is_none(), "two Set-Cookie headers for {name}");
        first
    }

    /// The value part of the `Set-Cookie` for `name`.
    pub fn cookie_value(&self, name: &str) -> Option<String> {
        self.set_cookie(name).map(|c| c[name.len() + 1..].split(';').next().unwrap().to_owned())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

/// A request, described for any server: method, URI and headers, no body.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: &'static str,
    pub uri: String,
    pub headers: Vec<(String, String)>,
}

impl Req {
    pub fn get(uri: impl Into<String>) -> Self {
        Self { method: "GET", uri: uri.into(), headers: Vec::new() }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// Something that answers requests: an axum router driven in-process, or a server on loopback.
pub trait Server: Send + Sync {
    fn send(&self, request: Req) -> Pin<Box<dyn Future<Output = Reply> + Send + '_>>;
}

impl Server for Router {
    fn send(&self, request: Req) -> Pin<Box<dyn Future<Output = Reply> + Send + '_>> {
        let mut builder = Request::builder().method(request.method).uri(request.uri);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        Box::pin(send(self, builder.body(Body::empty()).unwrap()))
    }
}

/// A server on loopback, spoken to over a real socket (one connection per request).
pub struct Loopback(pub std::net::SocketAddr);

impl Server for Loopback {
    fn send(&self, request: Req) -> Pin<Box<dyn Future<Output = Reply> + Send + '_>> {
        Box::pin(async move {
            let headers: Vec<(&str, &str)> = request.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            http_exchange(self.0, request.method, &request.uri, &headers, None).await
        })
    }
}

/// Drives a server, keeping cookies like a browser would (name -> value).
pub struct Client {
    pub app: Arc<dyn Server>,
    pub jar: BTreeMap<String, String>,
}

impl Client {
    pub fn new(app: impl Server + 'static) -> Self {
        Self::on(Arc::new(app))
    }

    pub fn on(app: Arc<dyn Server>) -> Self {
        Self { app, jar: BTreeMap::new() }
    }

    pub async fn get(&mut self, uri: &str) -> Reply {
        self.send(Req::get(uri)).await
    }

    pub async fn send(&mut self, mut request: Req) -> Reply {
        if !self.jar.is_empty() {
            let cookies: Vec<String> = self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
            request = request.header("cookie", &cookies.join("; "));
        }
        let reply = self.app.send(request).await;
        for set in reply.set_cookies() {
            let (pair, attrs) = set.split_once(';').unwrap_or((&set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") {
                self.jar.remove(name);
            } else {
                self.jar.insert(name.to_owned(), value.to_owned());
            }
        }
        reply
    }
}

/// One request through the router, no cookie handling.
pub async fn send(app: &Router, request: Request<Body>) -> Reply {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Reply { status, headers, body: String::from_utf8_lossy(&bytes).into_owned() }
}

/// A request carrying exactly this `Cookie` header.
pub fn with_cookie(uri: &str, cookie: &str) -> Request<Body> {
    Request::get(uri).header("cookie", cookie).body(Body::empty()).unwrap()
}

/// One HTTP/1.1 GET to a server on loopback, over a real socket.
pub async fn http_get(addr: std::net::SocketAddr, path: &str, cookie: Option<&str>) -> Reply {
    http_request(addr, "GET", path, cookie, None).await
}

/// One HTTP/1.1 request over a real socket; `form` is sent as an urlencoded body.
pub async fn http_request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    form: Option<&str>,
) -> Reply {
    let headers: Vec<(&str, &str)> = cookie.map(|c| ("Cookie", c)).into_iter().collect();
    http_exchange(addr, method, path, &headers, form).await
}

/// One HTTP/1.1 request with these headers over a real socket.
pub async fn http_exchange(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    form: Option<&str>,
) -> Reply {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(form) = form {
        request.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
        request.push_str(&format!("Content-Length: {}\r\n\r\n{form}", form.len()));
    } else {
        request.push_str("\r\n");
    }
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut raw)).await.unwrap().unwrap();
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status_line = lines.next().unwrap();
    let code: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let mut headers = HeaderMap::new();
    for line in lines {
        let (k, v) = line.split_once(':').unwrap();
        headers.append(http::HeaderName::try_from(k.trim()).unwrap(), v.trim().parse().unwrap());
    }
    let body =
        if headers.get("transfer-encoding").is_some_and(|v| v == "chunked") { dechunk(body) } else { body.to_owned() };
    Reply { status: StatusCode::from_u16(code).unwrap(), headers, body }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n").unwrap();
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
}
