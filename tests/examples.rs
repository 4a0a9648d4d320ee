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

/// Logs in to the `devices` example as `user` on `device`; the logged-in cookie.
async fn devices_log_in(addr: SocketAddr, user: &str, device: &str) -> String {
    let form = format!("user={user}&password=secret&device={device}");
    let r = http_request(addr, "POST", "/login", None, Some(&form)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    r.set_cookie("__Host-devices").expect("login sets a cookie");
    let jar = cookies(&r);
    let r = http_get(addr, "/", Some(&jar)).await;
    assert!(r.body.contains(&format!("Logged in as {user} on {device}")), "{}", r.body);
    jar
}

/// The rows of `/devices` as (reference, device, this device?).
async fn devices_list(addr: SocketAddr, jar: &str) -> Vec<(String, String, bool)> {
    let r = http_get(addr, "/devices", Some(jar)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains(r#"<table id="sessions">"#), "logged in: {}", r.body);
    r.body
        .split(r#"<tr class="session" data-ref=""#)
        .skip(1)
        .map(|row| {
            let reference = row.split('"').next().unwrap().to_owned();
            let device = row.split(r#"<td class="device">"#).nth(1).unwrap().split('<').next().unwrap().to_owned();
            let row = row.split("</tr>").next().unwrap();
            (reference, device, row.contains(r#"class="current">this device"#))
        })
        .collect()
}

async fn devices_logged_in(addr: SocketAddr, jar: &str) -> bool {
    let body = http_get(addr, "/", Some(jar)).await.body;
    assert!(body.contains("Logged in as") || body.contains("Not logged in"), "{body}");
    body.contains("Logged in as")
}

#[tokio::test]
async fn devices_lists_ends_one_and_logs_out_everywhere_else() {
    let server = Server::start("devices", &[]);
    let addr = server.addr;
    let laptop = devices_log_in(addr, "ann", "laptop").await;
    let phone = devices_log_in(addr, "ann", "phone").await;
    assert_ne!(laptop, phone);

    let list = devices_list(addr, &laptop).await;
    let mut names: Vec<(&str, bool)> = list.iter().map(|(_, d, current)| (d.as_str(), *current)).collect();
    // Listed oldest first, but two logins within one millisecond tie: compare as a set.
    names.sort_unstable();
    assert_eq!(names, [("laptop", true), ("phone", false)], "both, the laptop is this device: {list:?}");
    let phone_ref = list.iter().find(|(_, d, _)| d == "phone").unwrap().0.clone();
    assert_eq!(phone_ref.len(), 32, "{phone_ref}");

    // The laptop ends the phone's session by its reference: the phone's next request is out.
    let r = http_request(addr, "POST", "/devices/end", Some(&laptop), Some(&format!("session={phone_ref}"))).await;
    assert_eq!((r.status, r.header("location")), (StatusCode::SEE_OTHER, Some("/devices")));
    assert!(!devices_logged_in(addr, &phone).await, "the ended session is logged out");
    assert!(devices_logged_in(addr, &laptop).await);
    let list = devices_list(addr, &laptop).await;
    assert_eq!(list.iter().map(|(_, d, _)| d.as_str()).collect::<Vec<_>>(), ["laptop"]);
    // Ending it again ends nothing.
    http_request(addr, "POST", "/devices/end", Some(&laptop), Some(&format!("session={phone_ref}"))).await;
    assert!(http_get(addr, "/devices", Some(&laptop)).await.body.contains("No such session"));

    // A third device logs out everywhere else: the laptop is out, the tablet stays.
    let tablet = devices_log_in(addr, "ann", "tablet").await;
    let r = http_request(addr, "POST", "/devices/end-others", Some(&tablet), None).await;
    assert_eq!((r.status, r.header("location")), (StatusCode::SEE_OTHER, Some("/devices")));
    assert!(!devices_logged_in(addr, &laptop).await, "log out everywhere else ended the laptop");
    assert!(devices_logged_in(addr, &tablet).await);
    let list = devices_list(addr, &tablet).await;
    let names: Vec<(&str, bool)> = list.iter().map(|(_, d, current)| (d.as_str(), *current)).collect();
    assert_eq!(names, [("tablet", true)]);
    let tablet_ref = list[0].0.clone();

    // Another user's reference ends nothing: bob posts ann's tablet reference.
    let bob = devices_log_in(addr, "bob", "desktop").await;
    let r = http_request(addr, "POST", "/devices/end", Some(&bob), Some(&format!("session={tablet_ref}"))).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let body = http_get(addr, "/devices", Some(&bob)).await.body;
    assert!(body.contains("No such session"), "{body}");
    assert!(devices_logged_in(addr, &tablet).await, "ann's tablet is still logged in");
    assert!(devices_logged_in(addr, &bob).await);
    assert_eq!(devices_list(addr, &tablet).await.len(), 1);
    // A malformed reference ends nothing either.
    http_request(addr, "POST", "/devices/end", Some(&tablet), Some("session=not-a-reference")).await;
    assert!(devices_logged_in(addr, &tablet).await);
    // Ending this device's own session by its reference logs it out.
    let r = http_request(addr, "POST", "/devices/end", Some(&tablet), Some(&format!("session={tablet_ref}"))).await;
    assert!(r.set_cookie("__Host-devices").is_some_and(|c| c.contains("Max-Age=0")), "{:?}", r.set_cookies());
    assert!(!devices_logged_in(addr, &tablet).await);
    // Logged out, `/devices` shows the login form.
    http_request(addr, "POST", "/logout", Some(&bob), None).await;
    let body = http_get(addr, "/devices", Some(&bob)).await.body;
    assert!(body.contains("Not logged in") && !body.contains("sessions"), "{body}");
}
