//! The examples driven by a real browser: headless Chromium through chromedriver (WebDriver).
//!
//! An HTTP client keeps whatever cookies it is given; a browser enforces the rules (Secure,
//! HttpOnly, SameSite, persistent vs browser-session lifetime) and keeps cookies on disk across
//! restarts. Every scenario asserts on what the page shows and on the cookies the browser holds,
//! and saves a screenshot under `<target dir>/browser-screenshots/` for a person to look at.
//!
//! Needs `SESSION_KIT_CHROMEDRIVER` (and `SESSION_KIT_CHROMIUM`), which
//! `scripts/services/chromium.sh` prints; `bash scripts/test.sh` sets them up. Run alone with
//! `cargo test --features sqlite,browser --test browser`.

#![cfg(feature = "browser")]
#![allow(clippy::unwrap_used)] // test fixtures: a failed unwrap is a failed test

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fantoccini::cookies::Cookie;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

/// One browser at a time: the machine has two cores, and Chromium plus a build saturate them.
static ONE_BROWSER: Mutex<()> = Mutex::new(());

/// The longest any single scenario may take before it counts as hung.
const SCENARIO_DEADLINE: Duration = Duration::from_secs(180);
/// How long to wait for a process to come up, or for a page to show an element.
const WAIT: Duration = Duration::from_secs(20);
/// How often to poll while waiting.
const POLL: Duration = Duration::from_millis(50);

/// A fixed sealing key for `hello` (base64 of 43 bytes); not a secret, only a test fixture.
const HELLO_KEY: &str = "c2Vzc2lvbi1raXQgYnJvd3NlciB0ZXN0IGtleSwgbm90IGEgc2VjcmV0IQ==";

/// Runs one scenario on its own runtime, holding the one-browser lock, within the deadline.
///
/// A std mutex taken outside the runtime (instead of an async one inside it) keeps the lock
/// out of any `.await`, and a panicking scenario only poisons it, which the next one ignores.
fn run<F: Future<Output = ()>>(scenario: F) {
    let _one = ONE_BROWSER.lock().unwrap_or_else(PoisonError::into_inner);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        tokio::time::timeout(SCENARIO_DEADLINE, scenario)
            .await
            .unwrap_or_else(|_| panic!("the scenario did not finish within {SCENARIO_DEADLINE:?}"));
    });
}

/// The target directory this test binary was built into (`<target>/<profile>/deps/browser-*`),
/// so that a custom `CARGO_TARGET_DIR` is honoured.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_path_buf()
}

/// Polls `ready` until it holds, failing with `what` once `WAIT` has passed.
fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !ready() {
        assert!(Instant::now() < deadline, "timed out after {WAIT:?} waiting for {what}");
        std::thread::sleep(POLL);
    }
}

// ---------------------------------------------------------------------------------------------
// Processes

/// A running example server, killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(name: &str, env: &[(&str, &str)]) -> Self {
        let path = target_dir().join(profile_dir()).join("examples").join(name);
        if !path.exists() {
            // A filtered run (`--test browser`) does not build the examples. The test's own
            // feature set is used so the library built for this test binary is reused.
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
            let mut build = Command::new(cargo);
            build.args(["build", "--features", "sqlite,browser", "--example", name]);
            if profile_dir() == "release" {
                build.arg("--release");
            }
            let status = build.env("CARGO_TARGET_DIR", target_dir()).status().unwrap();
            assert!(status.success() && path.exists(), "could not build example {name} into {}", path.display());
        }
        let mut child = Command::new(&path)
            .env("ADDR", "127.0.0.1:0")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        // The first stdout line names the address; read it on a thread so the wait is bounded,
        // and keep draining the rest to stderr so the example never writes into a closed pipe.
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let label = name.to_owned();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next());
            for line in lines.map_while(Result::ok) {
                eprintln!("[{label}] {line}");
            }
        });
        let line = match rx.recv_timeout(WAIT) {
            Ok(Some(Ok(line))) => line,
            other => {
                let _ = child.kill();
                panic!("example {name} did not say where it listens within {WAIT:?}: {other:?}");
            }
        };
        let addr =
            line.trim().strip_prefix("listening on http://").unwrap_or_else(|| panic!("{name} printed {line:?}"));
        Self { addr: addr.parse().unwrap(), child }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `debug` or `release`: the directory this test binary's profile builds into.
fn profile_dir() -> String {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(2).unwrap().file_name().unwrap().to_string_lossy().into_owned()
}

/// A chromedriver on a free loopback port. It runs in its own process group, so that dropping
/// it also ends every Chromium process it started, even when a test panics mid-session.
struct Driver {
    child: Child,
    url: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Driver {
    fn start() -> Self {
        let Ok(chromedriver) = std::env::var("SESSION_KIT_CHROMEDRIVER") else {
            panic!(
                "SESSION_KIT_CHROMEDRIVER is not set, so the browser tests cannot run: run them through \
                 `bash scripts/test.sh`, or export the SESSION_KIT_CHROMEDRIVER and SESSION_KIT_CHROMIUM \
                 lines that `bash scripts/services/chromium.sh` prints"
            );
        };
        // Ask the OS for a free port, then hand it to chromedriver. The gap between closing and
        // chromedriver binding is tiny, and a lost race shows as a clear start-up failure.
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("chromedriver.log");
        let child = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start SESSION_KIT_CHROMEDRIVER={chromedriver}: {e}"));
        let mut driver = Self { child, url: format!("http://127.0.0.1:{port}"), log, _dir: dir };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        wait_until("chromedriver to listen", || {
            if let Ok(Some(status)) = driver.child.try_wait() {
                panic!("chromedriver exited with {status} before listening; log: {}", driver.log_text());
            }
            TcpStream::connect_timeout(&addr, POLL).is_ok()
        });
        driver
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Starts Chromium on the profile directory `profile` and opens a WebDriver session on it.
    async fn browser(&self, profile: &Path) -> Client {
        let args = vec![
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            // Without these three, Chromium's own connections (to Google's hosts) are refused by
            // the closed network, many at a time, and slow every start.
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--window-size=800,600".to_owned(),
            format!("--user-data-dir={}", profile.display()),
        ];
        let mut options = json!({ "args": args });
        if let Ok(binary) = std::env::var("SESSION_KIT_CHROMIUM") {
            options["binary"] = Value::String(binary);
        }
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": options,
            // Bounds on every navigation and script, so no WebDriver call can hang the suite.
            "timeouts": { "pageLoad": 20_000, "script": 10_000, "implicit": 0 },
        });
        let Value::Object(capabilities) = capabilities else { unreachable!() };
        ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("cannot start Chromium through chromedriver: {e}; log: {}", self.log_text()))
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The whole group: chromedriver and the Chromium processes it started (pgid == its pid).
        // The child is not reaped yet, so its pid, and with it the group id, cannot be reused.
        let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", self.child.id())]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Ends the WebDriver session (Chromium quits and writes its profile), then waits until the
/// profile is free again, so a new browser can start on it.
async fn quit(client: Client, profile: &Path) {
    client.close().await.unwrap();
    // Chromium holds `SingletonLock` (a symlink, dangling by design) while a browser uses the
    // profile and removes it on a clean exit. Polling blocks this runtime's only thread, which
    // is fine: with the session closed, nothing else runs on it.
    let lock = profile.join("SingletonLock");
    wait_until("Chromium to release its profile", || lock.symlink_metadata().is_err());
}

// ---------------------------------------------------------------------------------------------
// Page and cookie helpers

/// The visible text of the page (plain-text replies are shown by Chromium inside a `<pre>`).
async fn body_text(client: &Client) -> String {
    client.find(Locator::Css("body")).await.unwrap().text().await.unwrap()
}

/// The HTTP status of the last navigation, from the browser's own navigation timing.
async fn status(client: &Client) -> u64 {
    let status =
        client.execute("return performance.getEntriesByType('navigation')[0].responseStatus;", vec![]).await.unwrap();
    status.as_u64().unwrap_or_else(|| panic!("no navigation status: {status}"))
}

/// The texts of every element that matches `css`.
async fn texts(client: &Client, css: &str) -> Vec<String> {
    let mut out = Vec::new();
    for element in client.find_all(Locator::Css(css)).await.unwrap() {
        out.push(element.text().await.unwrap());
    }
    out
}

/// Waits until the element with id `id` exists (after a form post and its redirect).
async fn wait_for_id(client: &Client, id: &str) {
    client
        .wait()
        .at_most(WAIT)
        .every(POLL)
        .for_element(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("#{id} did not appear within {WAIT:?}: {e}"));
}

/// Every cookie the browser holds for the current page.
async fn jar(client: &Client) -> Vec<Cookie<'static>> {
    client.get_all_cookies().await.unwrap()
}

fn find<'a>(jar: &'a [Cookie<'static>], name: &str) -> Option<&'a Cookie<'static>> {
    jar.iter().find(|c| c.name() == name)
}

/// The named session cookie, checked for the attributes every session-kit cookie carries by
/// default: HttpOnly, Secure, SameSite=Lax, Path=/.
fn session_cookie<'a>(jar: &'a [Cookie<'static>], name: &str) -> &'a Cookie<'static> {
    let cookie = find(jar, name).unwrap_or_else(|| panic!("the browser holds no `{name}` cookie: {jar:?}"));
    assert_eq!(cookie.http_only(), Some(true), "HttpOnly: {cookie:?}");
    assert_eq!(cookie.secure(), Some(true), "Secure: {cookie:?}");
    assert_eq!(cookie.same_site().map(|s| s.to_string()).as_deref(), Some("Lax"), "SameSite: {cookie:?}");
    assert_eq!(cookie.path(), Some("/"), "Path: {cookie:?}");
    cookie
}

/// The cookie's expiry as Unix seconds; `None` for a browser-session cookie.
fn expiry(cookie: &Cookie<'static>) -> Option<i64> {
    cookie.expires_datetime().map(|at| at.unix_timestamp())
}

fn now() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()).unwrap()
}

/// Saves what the browser shows as `<target>/browser-screenshots/<name>.png`.
async fn screenshot(client: &Client, name: &str) {
    let dir = target_dir().join("browser-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = client.screenshot().await.unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Scenarios

#[test]
fn hello_sets_a_name_in_a_sealed_browser_session_cookie() {
    run(async {
        let profile = tempfile::tempdir().unwrap();
        let driver = Driver::start();
        let server = Server::start("hello", &[("SESSION_KEY", HELLO_KEY)]);
        let client = driver.browser(profile.path()).await;

        client.goto(&server.url("/set?name=Ada")).await.unwrap();
        assert_eq!(body_text(&client).await, "Name set to Ada");
        client.goto(&server.url("/")).await.unwrap();
        assert_eq!(status(&client).await, 200);
        assert_eq!(body_text(&client).await, "Name: Ada");
        screenshot(&client, "hello").await;

        let jar = jar(&client).await;
        let cookie = session_cookie(&jar, "hello");
        assert_eq!(expiry(cookie), None, "a browser-session cookie has no expiry: {cookie:?}");
        assert!(!cookie.value().contains("Ada"), "the sealed cookie does not show the name: {cookie:?}");
        quit(client, profile.path()).await;
    });
}

#[test]
fn flash_shows_the_notice_once_after_the_redirect() {
    run(async {
        let profile = tempfile::tempdir().unwrap();
        let driver = Driver::start();
        let server = Server::start("flash", &[]);
        let client = driver.browser(profile.path()).await;

        client.goto(&server.url("/")).await.unwrap();
        assert!(texts(&client, "#notice").await.is_empty(), "no notice before saving");
        client.find(Locator::Id("text")).await.unwrap().send_keys("milk").await.unwrap();
        client.find(Locator::Id("save")).await.unwrap().click().await.unwrap();
        // The post answers 303 to `/`; the notice appears only on the page after the redirect.
        wait_for_id(&client, "notice").await;
        assert_eq!(client.current_url().await.unwrap().as_str(), server.url("/"));
        assert_eq!(texts(&client, "#notice").await, ["Saved “milk”"], "the notice, exactly once");
        assert_eq!(texts(&client, "#notes li").await, ["milk"]);
        screenshot(&client, "flash").await;
        session_cookie(&jar(&client).await, "flash_demo");

        client.refresh().await.unwrap();
        assert_eq!(status(&client).await, 200);
        assert!(texts(&client, "#notice").await.is_empty(), "the notice is gone on reload");
        assert_eq!(texts(&client, "#notes li").await, ["milk"], "the list stays");
        screenshot(&client, "flash-reloaded").await;
        quit(client, profile.path()).await;
    });
}

/// Fills and posts the login form; waits for the logged-in page.
async fn log_in(client: &Client, server: &Server, user: &str, remember: bool) {
    client.goto(&server.url("/")).await.unwrap();
    assert_eq!(texts(client, "#status").await, ["Not logged in"]);
    client.find(Locator::Id("user")).await.unwrap().send_keys(user).await.unwrap();
    client.find(Locator::Id("password")).await.unwrap().send_keys("secret").await.unwrap();
    if remember {
        client.find(Locator::Id("remember")).await.unwrap().click().await.unwrap();
    }
    client.find(Locator::Id("login")).await.unwrap().click().await.unwrap();
    wait_for_id(client, "logout").await;
    assert_eq!(texts(client, "#notice").await, [format!("Welcome, {user}")]);
}

#[test]
fn login_with_remember_me_survives_a_browser_restart_and_logout_removes_the_cookie() {
    run(async {
        let profile = tempfile::tempdir().unwrap();
        let data = tempfile::tempdir().unwrap();
        let db = data.path().join("sessions.db");
        let driver = Driver::start();
        let server = Server::start("login", &[("SESSION_DB", db.to_str().unwrap())]);

        let client = driver.browser(profile.path()).await;
        log_in(&client, &server, "ann", true).await;
        assert_eq!(texts(&client, "#status").await, ["Logged in as ann (remembered)"]);
        screenshot(&client, "login").await;
        let jar_before = jar(&client).await;
        let before = session_cookie(&jar_before, "__Host-login");
        let expires = expiry(before).unwrap_or_else(|| panic!("remember-me makes the cookie persistent: {before:?}"));
        // The layer's default remember-me lifetime is 30 days.
        let days = (expires - now()) as f64 / 86_400.0;
        assert!((29.9..=30.1).contains(&days), "expires in {days} days: {before:?}");

        quit(client, profile.path()).await;
        let client = driver.browser(profile.path()).await;
        client.goto(&server.url("/")).await.unwrap();
        assert_eq!(texts(&client, "#status").await, ["Logged in as ann (remembered)"], "after a browser restart");
        let jar_after = jar(&client).await;
        let after = session_cookie(&jar_after, "__Host-login");
        assert_eq!(after.value(), before.value(), "the same session id came back from disk");
        screenshot(&client, "login-restarted").await;

        client.find(Locator::Id("logout")).await.unwrap().click().await.unwrap();
        wait_for_id(&client, "login").await;
        assert_eq!(texts(&client, "#status").await, ["Not logged in"]);
        let jar = jar(&client).await;
        assert!(find(&jar, "__Host-login").is_none(), "logout removes the cookie in the browser: {jar:?}");
        screenshot(&client, "login-logged-out").await;
        quit(client, profile.path()).await;
    });
}

#[test]
fn login_without_remember_me_ends_with_the_browser() {
    run(async {
        let profile = tempfile::tempdir().unwrap();
        let data = tempfile::tempdir().unwrap();
        let db = data.path().join("sessions.db");
        let driver = Driver::start();
        let server = Server::start("login", &[("SESSION_DB", db.to_str().unwrap())]);

        let client = driver.browser(profile.path()).await;
        log_in(&client, &server, "bob", false).await;
        assert_eq!(texts(&client, "#status").await, ["Logged in as bob"]);
        screenshot(&client, "login-browser-session").await;
        let jar_before = jar(&client).await;
        let before = session_cookie(&jar_before, "__Host-login");
        assert_eq!(expiry(before), None, "without remember-me the cookie is a browser-session one: {before:?}");

        quit(client, profile.path()).await;
        let client = driver.browser(profile.path()).await;
        client.goto(&server.url("/")).await.unwrap();
        assert_eq!(texts(&client, "#status").await, ["Not logged in"], "after a browser restart");
        let jar = jar(&client).await;
        assert!(
            find(&jar, "__Host-login").is_none(),
            "the browser-session cookie did not survive the restart: {jar:?}"
        );
        quit(client, profile.path()).await;
    });
}

#[test]
fn a_sealed_cookie_edited_in_the_browser_yields_a_fresh_session() {
    run(async {
        let profile = tempfile::tempdir().unwrap();
        let driver = Driver::start();
        let server = Server::start("hello", &[("SESSION_KEY", HELLO_KEY)]);
        let client = driver.browser(profile.path()).await;

        client.goto(&server.url("/set?name=Ada")).await.unwrap();
        let original = session_cookie(&jar(&client).await, "hello").clone();
        // Flip one character in the middle of the sealed value: still well-formed base64url,
        // so it is the authentication, not the parser, that must reject it.
        let mut value: Vec<char> = original.value().chars().collect();
        let middle = value.len() / 2;
        value[middle] = if value[middle] == 'A' { 'B' } else { 'A' };
        let edited: String = value.into_iter().collect();
        assert_ne!(edited, original.value());

        client.delete_cookie("hello").await.unwrap();
        // The browser's own copy with only the value changed: same name, domain, path and flags.
        // (chromedriver refuses a cookie whose domain is left out, so it is carried over.)
        let mut forged = original.clone();
        forged.set_value(edited.clone());
        client.add_cookie(forged).await.unwrap();
        let jar_forged = jar(&client).await;
        assert_eq!(jar_forged.iter().filter(|c| c.name() == "hello").count(), 1, "replaced, not added: {jar_forged:?}");
        assert_eq!(session_cookie(&jar_forged, "hello").value(), edited, "the browser holds the edited cookie");

        client.goto(&server.url("/")).await.unwrap();
        assert_eq!(status(&client).await, 200, "a tampered cookie is no error");
        assert_eq!(body_text(&client).await, "No name yet: visit /set?name=...");
        screenshot(&client, "hello-tampered").await;

        client.goto(&server.url("/set?name=Bo")).await.unwrap();
        assert_eq!(body_text(&client).await, "Name set to Bo");
        client.goto(&server.url("/")).await.unwrap();
        assert_eq!(body_text(&client).await, "Name: Bo");
        let jar = jar(&client).await;
        let fresh = session_cookie(&jar, "hello");
        assert_ne!(fresh.value(), edited, "the fresh session was sealed anew");
        assert_ne!(fresh.value(), original.value());
        quit(client, profile.path()).await;
    });
}

#[test]
fn multi_keeps_both_session_cookies() {
    run(async {
        let profile = tempfile::tempdir().unwrap();
        let driver = Driver::start();
        let server = Server::start("multi", &[]);
        let client = driver.browser(profile.path()).await;

        client.goto(&server.url("/add?item=apple")).await.unwrap();
        assert_eq!(body_text(&client).await, "visits: 1, cart: apple");
        let jar_first = jar(&client).await;
        let auth = session_cookie(&jar_first, "auth");
        let cart = session_cookie(&jar_first, "cart");
        assert_eq!((expiry(auth), expiry(cart)), (None, None), "both end with the browser");
        assert!(!cart.value().contains("apple"), "the cart cookie is sealed: {cart:?}");

        client.goto(&server.url("/add?item=pear")).await.unwrap();
        assert_eq!(body_text(&client).await, "visits: 2, cart: apple, pear");
        screenshot(&client, "multi").await;
        let jar = jar(&client).await;
        session_cookie(&jar, "auth");
        session_cookie(&jar, "cart");
        quit(client, profile.path()).await;
    });
}

/// Logs in to the `devices` example as `user` on `device`; waits for the logged-in page.
async fn devices_log_in(client: &Client, server: &Server, user: &str, device: &str) {
    client.goto(&server.url("/")).await.unwrap();
    assert_eq!(texts(client, "#status").await, ["Not logged in"]);
    client.find(Locator::Id("user")).await.unwrap().send_keys(user).await.unwrap();
    client.find(Locator::Id("password")).await.unwrap().send_keys("secret").await.unwrap();
    client.find(Locator::Id("device")).await.unwrap().send_keys(device).await.unwrap();
    client.find(Locator::Id("login")).await.unwrap().click().await.unwrap();
    wait_for_id(client, "logout").await;
    assert_eq!(texts(client, "#notice").await, [format!("Welcome, {user}")]);
    assert_eq!(texts(client, "#status").await, [format!("Logged in as {user} on {device}")]);
    session_cookie(&jar(client).await, "__Host-devices");
}

/// The device names listed on the current `/devices` page, sorted, with "this device" marked
/// by a trailing `*`.
async fn listed_devices(client: &Client) -> Vec<String> {
    let mut out = Vec::new();
    for row in client.find_all(Locator::Css("#sessions tr.session")).await.unwrap() {
        let device = row.find(Locator::Css(".device")).await.unwrap().text().await.unwrap();
        let current = !row.find_all(Locator::Css(".current")).await.unwrap().is_empty();
        out.push(if current { format!("{device}*") } else { device });
    }
    out.sort();
    out
}

/// Whether the page at `/` shows the client logged in (a fresh page load).
async fn devices_status(client: &Client, server: &Server) -> String {
    client.goto(&server.url("/")).await.unwrap();
    assert_eq!(status(client).await, 200);
    texts(client, "#status").await.concat()
}

#[test]
fn devices_ends_another_browser_and_logs_out_everywhere_else() {
    run(async {
        let laptop_profile = tempfile::tempdir().unwrap();
        let phone_profile = tempfile::tempdir().unwrap();
        let driver = Driver::start();
        let server = Server::start("devices", &[]);
        let laptop = driver.browser(laptop_profile.path()).await;
        let phone = driver.browser(phone_profile.path()).await;

        devices_log_in(&laptop, &server, "ann", "laptop").await;
        devices_log_in(&phone, &server, "ann", "phone").await;

        // The laptop lists both and ends the phone's session with its "End" button.
        laptop.goto(&server.url("/devices")).await.unwrap();
        wait_for_id(&laptop, "sessions").await;
        assert_eq!(listed_devices(&laptop).await, ["laptop*", "phone"]);
        screenshot(&laptop, "devices-both").await;
        let mut ended = false;
        for row in laptop.find_all(Locator::Css("#sessions tr.session")).await.unwrap() {
            if row.find(Locator::Css(".device")).await.unwrap().text().await.unwrap() == "phone" {
                row.find(Locator::Css("button.end")).await.unwrap().click().await.unwrap();
                ended = true;
                break;
            }
        }
        assert!(ended, "the phone's row has an End button");
        // The post answers 303 to `/devices`, which then shows the notice.
        wait_for_id(&laptop, "notice").await;
        assert_eq!(texts(&laptop, "#notice").await, ["Session ended"]);
        assert_eq!(listed_devices(&laptop).await, ["laptop*"]);
        screenshot(&laptop, "devices-ended-phone").await;

        // The phone's next page load shows it logged out.
        assert_eq!(devices_status(&phone, &server).await, "Not logged in");
        screenshot(&phone, "devices-phone-logged-out").await;
        assert_eq!(devices_status(&laptop, &server).await, "Logged in as ann on laptop");

        // The phone logs in again and logs out everywhere else: the laptop is out.
        devices_log_in(&phone, &server, "ann", "phone").await;
        phone.goto(&server.url("/devices")).await.unwrap();
        wait_for_id(&phone, "sessions").await;
        assert_eq!(listed_devices(&phone).await, ["laptop", "phone*"]);
        phone.find(Locator::Id("end-others")).await.unwrap().click().await.unwrap();
        wait_for_id(&phone, "notice").await;
        assert_eq!(texts(&phone, "#notice").await, ["Logged out everywhere else (1 ended)"]);
        assert_eq!(listed_devices(&phone).await, ["phone*"]);
        screenshot(&phone, "devices-everywhere-else").await;

        assert_eq!(devices_status(&laptop, &server).await, "Not logged in");
        screenshot(&laptop, "devices-laptop-logged-out").await;
        assert_eq!(devices_status(&phone, &server).await, "Logged in as ann on phone");

        quit(laptop, laptop_profile.path()).await;
        quit(phone, phone_profile.path()).await;
    });
}
