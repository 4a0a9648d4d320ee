//! Every example starts as its own process and answers its documented requests over loopback.

#![allow(clippy::unwrap_used)] // test fixtures: a failed unwrap is a failed test

mod support;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use http::StatusCode;
use support::{http_get, http_request, Reply};

/// A running example server, killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(name: &str, env: &[(&str, &str)]) -> Self {
        // Test binaries live in target/<profile>/deps; `cargo test` builds examples beside them.
        let exe = std::env::current_exe().unwrap();
        let path: PathBuf = exe.parent().unwrap().parent().unwrap().join("examples").join(name);
        if !path.exists() {
            // `cargo test` builds the examples, but a filtered run (`--test examples`) does not.
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
            let status = Command::new(cargo).args(["build", "--all-features", "--example", name]).status().unwrap();
            assert!(status.success() && path.exists(), "could not build example {name}");
        }
        let mut child = Command::new(&path)
            .env("ADDR", "127.0.0.1:0")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let addr =
            line.trim().strip_prefix("listening on http://").unwrap_or_else(|| panic!("{name} printed {line:?}"));
        Self { addr: addr.parse().unwrap(), child }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `name=value` pairs of a reply's `Set-Cookie` headers, as a `Cookie` header value.
fn cookies(reply: &Reply) -> String {
    let pairs: Vec<String> = reply.set_cookies().iter().map(|c| c.split(';').next().unwrap().to_owned()).collect();
    pairs.join("; ")
}

#[tokio::test]
async fn hello_remembers_a_name() {
    let server = Server::start("hello", &[]);
    let r = http_get(server.addr, "/", None).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "No name yet: visit /set?name=..."));
    let r = http_get(server.addr, "/set?name=Ada", None).await;
    assert_eq!(r.body, "Name set to Ada");
    let jar = cookies(&r);
    assert!(jar.starts_with("hello="), "{jar}");
    assert!(!jar.contains("Ada"), "the sealed cookie does not show the name");
    let r = http_get(server.addr, "/", Some(&jar)).await;
    assert_eq!(r.body, "Name: Ada");
}

#[cfg(feature = "actix")]
#[tokio::test]
async fn actix_hello_remembers_a_name() {
    let server = Server::start("actix_hello", &[]);
    let r = http_get(server.addr, "/", None).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "No name yet: visit /set?name=..."));
    let r = http_get(server.addr, "/set?name=Ada", None).await;
    assert_eq!(r.body, "Name set to Ada");
    let jar = cookies(&r);
    assert!(jar.starts_with("hello="), "{jar}");
    assert!(!jar.contains("Ada"), "the sealed cookie does not show the name");
    let r = http_get(server.addr, "/", Some(&jar)).await;
    assert_eq!(r.body, "Name: Ada");
}

#[tokio::test]
async fn flash_shows_the_message_once() {
    let server = Server::start("flash", &[]);
    let r = http_request(server.addr, "POST", "/save", None, Some("text=milk")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.header("location"), Some("/"));
    let jar = cookies(&r);
    let r = http_get(server.addr, "/", Some(&jar)).await;
    assert!(r.body.contains(r#"<p id="notice">Saved “milk”</p>"#), "{}", r.body);
    assert!(r.body.contains("<li>milk</li>"));
    let r = http_get(server.addr, "/", Some(&jar)).await;
    assert!(!r.body.contains("notice"), "shown once only: {}", r.body);
    assert!(r.body.contains("<li>milk</li>"), "the list stays");
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn login_cycles_the_id_remembers_and_survives_a_restart() {
    login_on("login").await;
}

#[cfg(all(feature = "sqlite", feature = "actix"))]
#[tokio::test]
async fn actix_login_cycles_the_id_remembers_and_survives_a_restart() {
    login_on("actix_login").await;
}

/// The login example on one framework: `login` (axum) or `actix_login`.
#[cfg(feature = "sqlite")]
async fn login_on(example: &str) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sessions.db");
    let db = db.to_str().unwrap();
    let server = Server::start(example, &[("SESSION_DB", db)]);

    let r = http_request(server.addr, "POST", "/login", None, Some("user=ann&password=wrong")).await;
    let jar = cookies(&r);
    let r = http_get(server.addr, "/", Some(&jar)).await;
    assert!(r.body.contains("Wrong user name or password") && r.body.contains("Not logged in"), "{}", r.body);

    let r = http_request(server.addr, "POST", "/login", Some(&jar), Some("user=ann&password=secret&remember=on")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let cookie = r.set_cookie("__Host-login").expect("login sets a cookie");
    assert!(cookie.contains("Max-Age="), "remember-me makes the cookie persistent: {cookie}");
    let logged_in = cookies(&r);
    assert_ne!(logged_in, jar, "the id is cycled on login");
    let r = http_get(server.addr, "/", Some(&jar)).await;
    assert!(r.body.contains("Not logged in"), "the pre-login id is dead: {}", r.body);

    drop(server);
    let server = Server::start(example, &[("SESSION_DB", db)]);
    let r = http_get(server.addr, "/", Some(&logged_in)).await;
    assert!(r.body.contains("Logged in as ann (remembered)"), "after a restart: {}", r.body);

    let r = http_request(server.addr, "POST", "/logout", Some(&logged_in), None).await;
    let removal = r.set_cookie("__Host-login").expect("logout removes the cookie");
    assert!(removal.contains("Max-Age=0"), "{removal}");
    let r = http_get(server.addr, "/", Some(&logged_in)).await;
    assert!(r.body.contains("Not logged in"), "{}", r.body);

    let r = http_request(server.addr, "POST", "/login", None, Some("user=bob&password=secret")).await;
    let cookie = r.set_cookie("__Host-login").unwrap();
    assert!(!cookie.contains("Max-Age"), "without remember-me the cookie ends with the browser: {cookie}");
}

#[tokio::test]
async fn multi_saves_both_session_types() {
    let server = Server::start("multi", &[]);
    let r = http_get(server.addr, "/add?item=apple", None).await;
    assert_eq!(r.body, "visits: 1, cart: apple");
    assert!(r.set_cookie("auth").is_some() && r.set_cookie("cart").is_some(), "{:?}", r.set_cookies());
    let jar = cookies(&r);
    let r = http_get(server.addr, "/add?item=pear", Some(&jar)).await;
    assert_eq!(r.body, "visits: 2, cart: apple, pear");
}

#[tokio::test]
async fn guard_lets_logged_in_requests_through_its_middleware() {
    let server = Server::start("guard", &[]);
    let r = http_get(server.addr, "/account", None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.header("location"), Some("/login"));
    let r = http_get(server.addr, "/login?user=ada", None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let jar = cookies(&r);
    assert_eq!(http_get(server.addr, "/account", Some(&jar)).await.body, "Hello ada, visit 1");
    assert_eq!(http_get(server.addr, "/account", Some(&jar)).await.body, "Hello ada, visit 2");
}
