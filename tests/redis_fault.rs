//! The Redis store when Redis goes away: a private `redis-server` is killed mid-run, requests
//! that need the session get a clear 503 (no panic), and once the server is back on the same
//! port the same app, with the same store value, serves sessions again.

#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used)] // test fixtures: a failed unwrap is a failed test

mod support;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::extract::Query;
use axum::routing::get;
use axum::Router;
use http::StatusCode;
use serde::Deserialize;
use session_kit::{RedisStore, Session, SessionLayer};
use support::Client;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

#[derive(Session)]
#[session(name = "app")]
struct App {
    name: Option<String>,
}

#[derive(Deserialize)]
struct Params {
    name: Option<String>,
}

fn app(store: RedisStore) -> Router {
    Router::new()
        .route("/untouched", get(|| async { "untouched" }))
        .route("/read", get(|s: Session<App>| async move { format!("name={:?}", s.name) }))
        .route(
            "/set",
            get(|mut s: Session<App>, Query(p): Query<Params>| async move {
                s.name = p.name;
                "set"
            }),
        )
        .layer(SessionLayer::<App>::new(store).secure(false))
}

/// A `redis-server` child on loopback, killed when dropped (also when the test panics).
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start `redis-server` ({e}): this test needs it on PATH \
                     (Debian: apt-get install redis-server); `bash scripts/test.sh` installs it"
                )
            });
        Self { child, port }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits until the server answers `PING`, or fails after a deadline.
    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if ping(self.port).await {
                return;
            }
            assert!(Instant::now() < deadline, "redis-server on port {} did not come up within 10 s", self.port);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn ping(port: u16) -> bool {
    let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else { return false };
    if stream.write_all(b"PING\r\n").await.is_err() {
        return false;
    }
    let mut reply = [0u8; 7];
    matches!(tokio::time::timeout(Duration::from_secs(1), stream.read_exact(&mut reply)).await, Ok(Ok(_)))
        && &reply == b"+PONG\r\n"
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_fail_cleanly_while_redis_is_down_and_recover_when_it_is_back() {
    down_and_back(false).await;
}

/// With the client-side cache, a session read before Redis went away is not served from the
/// cache once the client sees the connections closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_store_serves_nothing_while_redis_is_down_and_recovers() {
    down_and_back(true).await;
}

async fn down_and_back(cached: bool) {
    let port = free_port();
    let mut server = Server::start(port);
    server.wait_ready().await;

    let builder = RedisStore::builder(format!("redis://127.0.0.1:{port}"));
    let store = if cached { builder.client_cache(100) } else { builder }.connect().await.unwrap();
    let app = app(store);
    let mut client = Client::new(app.clone());
    assert_eq!(client.get("/set?name=alice").await.status, StatusCode::OK);
    assert_eq!(client.get("/read").await.body, r#"name=Some("alice")"#);
    assert_eq!(client.get("/read").await.body, r#"name=Some("alice")"#);

    server.kill();
    let mut r = client.get("/read").await;
    // The cache is dropped when the client sees its tracking connection closed, an instant
    // after the kill.
    let deadline = Instant::now() + Duration::from_secs(5);
    while cached && r.status == StatusCode::OK && Instant::now() < deadline {
        tokio::task::yield_now().await;
        r = client.get("/read").await;
    }
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "loading with Redis down: {}", r.body);
    let r = client.get("/set?name=bob").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "changing with Redis down: {}", r.body);
    let mut stranger = Client::new(app.clone());
    let r = stranger.get("/set?name=carol").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "a new session with Redis down: {}", r.body);
    assert!(r.set_cookies().is_empty(), "no cookie for a session that was not stored");
    assert_eq!(stranger.get("/untouched").await.status, StatusCode::OK, "routes without sessions are unaffected");

    // Back on the same port, empty (no persistence): the same app must reconnect by itself.
    let server = Server::start(port);
    server.wait_ready().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut fresh = Client::new(app.clone());
    loop {
        let r = fresh.get("/set?name=dave").await;
        if r.status == StatusCode::OK {
            break;
        }
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "while reconnecting: {}", r.body);
        assert!(Instant::now() < deadline, "the store did not reconnect within 20 s after Redis came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(fresh.get("/read").await.body, r#"name=Some("dave")"#, "sessions work again");
    // The old session died with the server's memory: its id opens a fresh session.
    assert_eq!(client.get("/read").await.body, "name=None");
    drop(server);
}
