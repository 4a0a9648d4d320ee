//! The Redis store when connections fail in the middle of writes.
//!
//! A TCP proxy written here sits between the store and a real Redis and, at a chosen command,
//! cuts the connection (before or after forwarding it), forwards it but drops its reply, or
//! forwards it and then goes silent; it can also go down (refuse connections) until told to
//! come back. After each fault the tests look at what Redis holds, through a connection that
//! bypasses the proxy or after the proxy is back.
//!
//! Single-node tests proxy the server `SESSION_KIT_REDIS_URL` names. Cluster tests start a
//! private 3-node Redis Cluster (`redis-server` must be on PATH) whose nodes announce their
//! proxy's port (`cluster-announce-port`), so the cluster client learns only proxy addresses
//! from `CLUSTER SLOTS` and every command it sends to a node goes through that node's proxy.

#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test fixtures: a failed unwrap is a failed test

use std::time::Duration;

use session_core::store::RedisStore;
use session_core::{
    Change, Clock, Codec, CodecError, CookieOp, Engine, Entry, FieldSpec, Meta, Record, Renamed, SaveError,
    SessionData, Store, StoreError, StoreKey, SystemClock, Timestamp,
};
use tokio::time::{timeout, Instant};

use proxy::{Action, Fault, Proxy};

/// The proxy: forwards bytes both ways, parsing just enough RESP to count commands and
/// replies, so a fault hits one chosen command and its reply exactly.
mod proxy {
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::Notify;
    use tokio::task::AbortHandle;

    /// What happens to the command a [`Fault`] hits.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum Action {
        /// The connection is closed instead of forwarding the command: it never runs.
        CutBefore,
        /// The command is forwarded, then the connection closed at once: it runs, but the
        /// client gets no reply.
        CutAfter,
        /// The command is forwarded and runs; its reply is dropped and the connection closed.
        DropReply,
        /// The command is forwarded and runs; from then on nothing reaches the client, but the
        /// connection stays open (a hung server or a silent network).
        Stall,
        /// The command waits in the proxy until [`Proxy::resume`], then goes on as usual
        /// (other connections through the proxy are not held).
        Hold,
    }

    /// One fault, armed with [`Proxy::arm`]; it hits once.
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct Fault {
        /// The command name to hit, upper case, e.g. `"EVALSHA"`.
        pub(crate) command: &'static str,
        /// How many commands of that name to let through first.
        pub(crate) skip: usize,
        /// What to do to the one hit.
        pub(crate) action: Action,
        /// Whether the proxy then goes down (refuses connections) until [`Proxy::up`].
        pub(crate) then_down: bool,
    }

    struct Inner {
        port: u16,
        upstream: SocketAddr,
        fault: Mutex<Option<Fault>>,
        fired: AtomicUsize,
        down_after_fault: AtomicBool,
        held: Notify,
        resume: Notify,
        /// The accept loop and every connection: aborting them closes every socket.
        tasks: Mutex<Vec<AbortHandle>>,
    }

    /// A proxy on a loopback port in front of `upstream`; down when dropped.
    pub(crate) struct Proxy {
        inner: Arc<Inner>,
    }

    impl Proxy {
        pub(crate) async fn start(upstream: SocketAddr) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let inner = Arc::new(Inner {
                port,
                upstream,
                fault: Mutex::new(None),
                fired: AtomicUsize::new(0),
                down_after_fault: AtomicBool::new(false),
                held: Notify::new(),
                resume: Notify::new(),
                tasks: Mutex::new(Vec::new()),
            });
            Inner::serve(&inner, listener);
            Self { inner }
        }

        pub(crate) fn port(&self) -> u16 {
            self.inner.port
        }

        /// Arms `fault`, replacing one not yet hit.
        pub(crate) fn arm(&self, fault: Fault) {
            *self.inner.fault.lock().unwrap() = Some(fault);
        }

        /// Removes the armed fault; whether it had been hit.
        pub(crate) fn disarm(&self) -> bool {
            self.inner.fault.lock().unwrap().take().is_none()
        }

        /// How many faults have been hit so far.
        pub(crate) fn fired(&self) -> usize {
            self.inner.fired.load(Ordering::SeqCst)
        }

        /// Waits until a [`Action::Hold`] fault holds its command.
        // Only the cluster tests hold a command.
        #[cfg_attr(not(feature = "redis-cluster"), allow(dead_code))]
        pub(crate) async fn held(&self) {
            self.inner.held.notified().await;
        }

        /// Lets the held command go on.
        #[cfg_attr(not(feature = "redis-cluster"), allow(dead_code))]
        pub(crate) fn resume(&self) {
            self.inner.resume.notify_one();
        }

        /// Closes every connection and refuses new ones.
        pub(crate) fn down(&self) {
            self.inner.down();
        }

        /// Accepts connections again, on the same port.
        pub(crate) async fn up(&self) {
            let listener = TcpListener::bind(("127.0.0.1", self.inner.port)).await.unwrap();
            Inner::serve(&self.inner, listener);
        }
    }

    impl Drop for Proxy {
        fn drop(&mut self) {
            self.inner.down();
        }
    }

    impl Inner {
        fn serve(this: &Arc<Self>, listener: TcpListener) {
            let inner = this.clone();
            let accept = tokio::spawn(async move {
                while let Ok((client, _)) = listener.accept().await {
                    let _ = client.set_nodelay(true);
                    let conn = tokio::spawn(Inner::pump(inner.clone(), client));
                    inner.tasks.lock().unwrap().push(conn.abort_handle());
                }
            });
            this.tasks.lock().unwrap().push(accept.abort_handle());
        }

        fn down(&self) {
            for task in self.tasks.lock().unwrap().drain(..) {
                task.abort();
            }
        }

        /// The action for `command` if the armed fault hits it.
        fn hit(&self, command: &[u8]) -> Option<Action> {
            let mut armed = self.fault.lock().unwrap();
            let fault = armed.as_mut()?;
            if !command_name(command).is_some_and(|name| name.eq_ignore_ascii_case(fault.command.as_bytes())) {
                return None;
            }
            if fault.skip > 0 {
                fault.skip -= 1;
                return None;
            }
            let fault = armed.take()?;
            self.fired.fetch_add(1, Ordering::SeqCst);
            self.down_after_fault.store(fault.then_down, Ordering::SeqCst);
            Some(fault.action)
        }

        /// The fault has done its damage: go down if it says so.
        fn after_fault(&self) {
            if self.down_after_fault.swap(false, Ordering::SeqCst) {
                self.down();
            }
        }

        async fn pump(inner: Arc<Self>, client: TcpStream) {
            let Ok(server) = TcpStream::connect(inner.upstream).await else { return };
            let _ = server.set_nodelay(true);
            let (mut client_read, mut client_write) = client.into_split();
            let (mut server_read, mut server_write) = server.into_split();
            let (mut from_client, mut from_server) = (Vec::new(), Vec::new());
            // Commands forwarded and replies handled, so a reply is matched to its command.
            let (mut sent, mut answered) = (0usize, 0usize);
            let mut drop_reply_of = None;
            let mut silent = false;
            loop {
                tokio::select! {
                    read = client_read.read_buf(&mut from_client) => {
                        if !matches!(read, Ok(n) if n > 0) { return; }
                        loop {
                            let len = match frame_len(&from_client, 0) {
                                Ok(Some(len)) => len,
                                Ok(None) => break,
                                Err(e) => panic!("the client sent something that is not RESP: {e}"),
                            };
                            let command: Vec<u8> = from_client.drain(..len).collect();
                            let action = inner.hit(&command);
                            if action == Some(Action::CutBefore) {
                                inner.after_fault();
                                return;
                            }
                            if action == Some(Action::Hold) {
                                inner.held.notify_one();
                                inner.resume.notified().await;
                            }
                            if server_write.write_all(&command).await.is_err() { return; }
                            sent += 1;
                            match action {
                                Some(Action::CutAfter) => {
                                    let _ = server_write.flush().await;
                                    inner.after_fault();
                                    return;
                                }
                                Some(Action::DropReply) => drop_reply_of = Some(sent - 1),
                                Some(Action::Stall) => {
                                    silent = true;
                                    inner.after_fault();
                                }
                                Some(Action::CutBefore | Action::Hold) | None => {}
                            }
                        }
                    }
                    read = server_read.read_buf(&mut from_server) => {
                        if !matches!(read, Ok(n) if n > 0) { return; }
                        loop {
                            let len = match frame_len(&from_server, 0) {
                                Ok(Some(len)) => len,
                                Ok(None) => break,
                                Err(e) => panic!("the server sent something that is not RESP: {e}"),
                            };
                            let reply: Vec<u8> = from_server.drain(..len).collect();
                            if silent {
                                continue;
                            }
                            if drop_reply_of == Some(answered) {
                                inner.after_fault();
                                return;
                            }
                            if client_write.write_all(&reply).await.is_err() { return; }
                            answered += 1;
                        }
                    }
                }
            }
        }
    }

    /// The length of the RESP2/RESP3 value at `buf[at..]`, `None` if it is not all there yet.
    fn frame_len(buf: &[u8], at: usize) -> Result<Option<usize>, String> {
        Ok(frame_end(buf, at)?.map(|end| end - at))
    }

    fn frame_end(buf: &[u8], at: usize) -> Result<Option<usize>, String> {
        let Some(&kind) = buf.get(at) else { return Ok(None) };
        let Some(line_end) = buf[at..].windows(2).position(|w| w == b"\r\n").map(|p| at + p) else {
            return Ok(None);
        };
        let line = std::str::from_utf8(&buf[at + 1..line_end]).map_err(|e| e.to_string())?;
        let after = line_end + 2;
        let number = || line.parse::<i64>().map_err(|e| format!("bad length {line:?}: {e}"));
        match kind {
            b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => Ok(Some(after)),
            b'$' | b'!' | b'=' => {
                let Ok(n) = usize::try_from(number()?) else { return Ok(Some(after)) }; // null
                let end = after + n + 2;
                Ok((buf.len() >= end).then_some(end))
            }
            b'*' | b'~' | b'>' | b'%' | b'|' => {
                let Ok(n) = usize::try_from(number()?) else { return Ok(Some(after)) }; // null
                let count = if matches!(kind, b'%' | b'|') { 2 * n } else { n };
                let mut end = after;
                for _ in 0..count {
                    match frame_end(buf, end)? {
                        Some(next) => end = next,
                        None => return Ok(None),
                    }
                }
                Ok(Some(end))
            }
            other => Err(format!("unknown RESP type byte {other:#04x}")),
        }
    }

    /// The name of a command sent as a RESP array of bulk strings.
    fn command_name(command: &[u8]) -> Option<&[u8]> {
        let first_line = command.windows(2).position(|w| w == b"\r\n")? + 2;
        let rest = command.get(first_line..)?.strip_prefix(b"$")?;
        let len_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let len: usize = std::str::from_utf8(&rest[..len_end]).ok()?.parse().ok()?;
        rest.get(len_end + 2..len_end + 2 + len)
    }
}

/// A session as the fault tests store it: entries with and without deadlines, some bulk.
fn session(now: Timestamp) -> Record {
    Record {
        meta: Meta {
            created_at: now,
            idle_deadline: Some(now.after(Duration::from_secs(3600))),
            absolute_deadline: Some(now.after(Duration::from_secs(86_400))),
            remember_me: true,
            last_active: now,
            lifetime: None,
        },
        entries: vec![
            ("user".to_owned(), Entry { value: b"alice".to_vec(), expires_at: None }),
            ("cart".to_owned(), Entry { value: (0..=255).collect(), expires_at: None }),
            (
                "otp".to_owned(),
                Entry { value: b"123456".to_vec(), expires_at: Some(now.after(Duration::from_secs(600))) },
            ),
        ],
    }
}

fn sorted(mut record: Record) -> Record {
    record.entries.sort_by(|a, b| a.0.cmp(&b.0));
    record
}

fn random_key() -> StoreKey {
    StoreKey::parse(&format!("{:032x}", rand::random::<u128>())).unwrap()
}

fn random_prefix() -> String {
    format!("session-kit-test:{:016x}:", rand::random::<u64>())
}

/// After a rename met `case`'s fault: nothing lost, nothing truncated, and the answer the
/// rename gave is true of what Redis holds. With `exactly_one`, the record must also be under
/// one key only (one server: the move is one script).
async fn assert_rename_kept_the_session(
    case: &str,
    outcome: &Result<Renamed, StoreError>,
    checker: &RedisStore,
    (old, new): (&StoreKey, &StoreKey),
    expected: &Record,
    now: Timestamp,
    exactly_one: bool,
) {
    let at_old = checker.load(old, now).await.unwrap();
    let at_new = checker.load(new, now).await.unwrap();
    for (which, found) in [("old", &at_old), ("new", &at_new)] {
        if let Some(found) = found {
            assert_eq!(sorted(found.clone()), sorted(expected.clone()), "{case}: the record under the {which} key");
        }
    }
    let (old_has, new_has) = (at_old.is_some(), at_new.is_some());
    assert!(old_has || new_has, "{case}: the session is lost (rename answered {outcome:?})");
    if exactly_one {
        assert!(!(old_has && new_has), "{case}: the session is under both keys (rename answered {outcome:?})");
    }
    match outcome {
        Ok(Renamed::Done) => assert!(new_has && !old_has, "{case}: Done, but old: {old_has}, new: {new_has}"),
        Err(e) if e.is_outcome_unknown() => {}
        Err(e) => assert!(
            old_has && !new_has,
            "{case}: the definite failure {e:?} must leave the old record alone, but old: {old_has}, new: {new_has}"
        ),
        Ok(other) => panic!("{case}: rename answered {other:?} for a live session and a free key"),
    }
}

/// Waits until `store` answers again after its proxy came back (a connection manager may
/// first hand out the failure of its last reconnection).
async fn heal(store: &RedisStore, key: &StoreKey) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while store.load(key, SystemClock.now()).await.is_err() {
        assert!(Instant::now() < deadline, "the store did not reconnect within 20 s after its proxy came back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const ACTIONS: [Action; 3] = [Action::CutBefore, Action::CutAfter, Action::DropReply];

/// A session type written by hand (this crate cannot use the derive): two plain fields.
#[derive(Debug)]
struct Account {
    user: Option<String>,
    visits: u32,
}

impl SessionData for Account {
    const NAME: &'static str = "faults";
    const FIELDS: &'static [FieldSpec] = &[FieldSpec::plain("user"), FieldSpec::plain("visits")];

    fn fresh() -> Self {
        Self { user: None, visits: 0 }
    }

    fn encode_field<C: Codec>(&self, index: usize, codec: &C, out: &mut Vec<u8>) -> Result<(), CodecError> {
        match index {
            0 => codec.encode(&self.user, out),
            _ => codec.encode(&self.visits, out),
        }
    }

    fn decode_field<C: Codec>(&mut self, index: usize, codec: &C, bytes: &[u8]) -> Result<(), CodecError> {
        match index {
            0 => self.user = codec.decode(bytes)?,
            _ => self.visits = codec.decode(bytes)?,
        }
        Ok(())
    }

    fn reset_field(&mut self, index: usize) {
        match index {
            0 => self.user = None,
            _ => self.visits = 0,
        }
    }
}

/// Stores a logged-out session with one visit through `engine`; its token.
async fn start_session(engine: &Engine<Account>) -> String {
    let mut state = engine.open(None).await.unwrap();
    state.data_mut().visits = 1;
    match engine.save(state).await.unwrap() {
        CookieOp::Set { value, .. } => value,
        other => panic!("a new session with data must get a cookie, got {other:?}"),
    }
}

/// The login: a new id and the user set, saved. Returns the token the client holds afterwards
/// (a new one if the save said so, even on error) and what the save returned.
async fn log_in(engine: &Engine<Account>, token: &str) -> (String, Result<CookieOp, SaveError>) {
    let mut state = engine.open(Some(token)).await.unwrap();
    assert!(!state.is_new(), "the session to log in must be there");
    state.cycle_id();
    state.data_mut().user = Some("alice".to_owned());
    let saved = engine.save(state).await;
    let op = match &saved {
        Ok(op) => op,
        Err(e) => &e.token,
    };
    let now_held = match op {
        CookieOp::Set { value, .. } => value.clone(),
        CookieOp::Keep => token.to_owned(),
        CookieOp::Remove => panic!("the login removed the session: {saved:?}"),
    };
    (now_held, saved)
}

/// The token opens the session as it was before the login, or with the login applied.
async fn assert_opens_the_session(engine: &Engine<Account>, token: &str, saved: &Result<CookieOp, SaveError>) {
    let state = engine.open(Some(token)).await.unwrap();
    assert!(!state.is_new(), "the token the client holds after the login opens no session (save: {saved:?})");
    assert_eq!(state.data().visits, 1, "the session's data");
    if saved.is_ok() {
        assert_eq!(state.data().user.as_deref(), Some("alice"), "the login's change, reported saved");
    }
}

/// A store must refuse a zero timeout with a typed error, before touching the network.
#[tokio::test]
async fn zero_timeouts_are_a_config_error() {
    let zero_response = RedisStore::builder("redis://127.0.0.1:1").response_timeout(Duration::ZERO).connect().await;
    assert!(matches!(zero_response, Err(StoreError::Config(_))), "zero response timeout: {zero_response:?}");
    let zero_connect = RedisStore::builder("redis://127.0.0.1:1").connect_timeout(Duration::ZERO).connect().await;
    assert!(matches!(zero_connect, Err(StoreError::Config(_))), "zero connect timeout: {zero_connect:?}");
}

/// One Redis server, named by `SESSION_KIT_REDIS_URL`, behind a proxy.
mod single {
    use std::net::{SocketAddr, ToSocketAddrs};

    use redis::IntoConnectionInfo;

    use super::*;

    fn url() -> String {
        std::env::var("SESSION_KIT_REDIS_URL").unwrap_or_else(|_| {
            panic!(
                "SESSION_KIT_REDIS_URL is not set: point it at a Redis server (e.g. redis://127.0.0.1:6379), \
                 or run `bash scripts/test.sh`, which sets it"
            )
        })
    }

    /// The server's address, and its URL with the proxy's port in its place.
    fn addresses(url: &str, proxy_port: u16) -> (SocketAddr, String) {
        let info = url.into_connection_info().unwrap();
        let redis::ConnectionAddr::Tcp(host, port) = info.addr() else {
            panic!("SESSION_KIT_REDIS_URL must be a plain redis:// TCP URL for the proxy tests")
        };
        let server = (host.as_str(), *port).to_socket_addrs().unwrap().next().unwrap();
        let (scheme, rest) = url.split_once("://").unwrap();
        let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
        let credentials = authority.rsplit_once('@').map_or(String::new(), |(c, _)| format!("{c}@"));
        (server, format!("{scheme}://{credentials}127.0.0.1:{proxy_port}/{path}"))
    }

    /// A store through a fresh proxy, and one straight to the server under the same prefix
    /// (to look at what Redis holds whatever the proxy does). Deletes the prefix's keys when
    /// dropped.
    struct Setup {
        proxy: Proxy,
        store: RedisStore,
        direct: RedisStore,
        url: String,
        prefix: String,
    }

    impl Setup {
        async fn new(response_timeout: Duration) -> Self {
            Self::with_cache(response_timeout, None).await
        }

        /// The proxied store with a client-side cache of `cache` sessions (its tracking
        /// connection goes through the proxy too).
        async fn with_cache(response_timeout: Duration, cache: Option<usize>) -> Self {
            let url = url();
            let (server, _) = addresses(&url, 0);
            let proxy = Proxy::start(server).await;
            let (_, proxied) = addresses(&url, proxy.port());
            let prefix = random_prefix();
            let builder = RedisStore::builder(proxied).response_timeout(response_timeout).prefix(prefix.clone());
            let builder = match cache {
                Some(sessions) => builder.client_cache(sessions),
                None => builder,
            };
            let store = builder
                .connect()
                .await
                .unwrap_or_else(|e| panic!("cannot reach Redis at SESSION_KIT_REDIS_URL={url} through the proxy: {e}"));
            let direct = RedisStore::builder(url.clone()).prefix(prefix.clone()).connect().await.unwrap();
            Self { proxy, store, direct, url, prefix }
        }

        /// A live session under a fresh key, and a fresh key to move it to.
        async fn session(&self) -> (StoreKey, StoreKey, Record) {
            let (old, new) = (random_key(), random_key());
            let record = session(SystemClock.now());
            self.direct.create(&old, &record, SystemClock.now()).await.unwrap();
            (old, new, record)
        }
    }

    impl Drop for Setup {
        fn drop(&mut self) {
            let Ok(mut conn) = redis::Client::open(self.url.as_str()).and_then(|c| c.get_connection()) else { return };
            let keys: Vec<String> = match redis::Commands::scan_match(&mut conn, format!("{}*", self.prefix)) {
                Ok(iter) => iter.filter_map(Result::ok).collect(),
                Err(_) => return,
            };
            for k in keys {
                let _ = redis::cmd("DEL").arg(k).query::<()>(&mut conn);
            }
        }
    }

    /// Whatever command of a rename the connection breaks at, before or after it reached
    /// Redis, with the reply lost, and whether or not Redis stays reachable afterwards, the
    /// session is whole under exactly one of the two keys, and the answer is true to it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_rename_cut_at_any_command_keeps_the_session_under_one_key() {
        let setup = Setup::new(Duration::from_secs(5)).await;
        // Scripts are loaded once per server; a fault must not hit a `NOSCRIPT` retry.
        let (old, new, _) = setup.session().await;
        assert_eq!(setup.store.rename(&old, &new, SystemClock.now()).await.unwrap(), Renamed::Done, "warm-up");

        for skip in 0..2 {
            for action in ACTIONS {
                for then_down in [false, true] {
                    let case = format!("EVALSHA #{} of the rename, {action:?}, down afterwards: {then_down}", skip + 1);
                    let (old, new, record) = setup.session().await;
                    setup.proxy.arm(Fault { command: "EVALSHA", skip, action, then_down });
                    let now = SystemClock.now();
                    let outcome = timeout(Duration::from_secs(30), setup.store.rename(&old, &new, now))
                        .await
                        .unwrap_or_else(|_| panic!("{case}: rename hung"));
                    let hit = setup.proxy.disarm();
                    // The rename is one script: only its first command can be hit.
                    assert_eq!(hit, skip == 0, "{case}: whether the fault hit");
                    if hit && action != Action::CutBefore {
                        assert!(
                            outcome.as_ref().is_err_and(StoreError::is_outcome_unknown),
                            "{case}: the script ran and its reply was lost, so the outcome is unknown: {outcome:?}"
                        );
                    }
                    assert_rename_kept_the_session(&case, &outcome, &setup.direct, (&old, &new), &record, now, true)
                        .await;
                    if then_down && hit {
                        setup.proxy.up().await;
                    }
                    heal(&setup.store, &old).await;
                }
            }
        }
    }

    /// A rename whose reply never comes within the response timeout (the connection went
    /// silent) fails within about that timeout, as unknown, with the session under one key.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_rename_whose_reply_times_out_is_unknown_and_keeps_the_session() {
        let setup = Setup::new(Duration::from_millis(500)).await;
        let (old, new, _) = setup.session().await;
        assert_eq!(setup.store.rename(&old, &new, SystemClock.now()).await.unwrap(), Renamed::Done, "warm-up");

        let (old, new, record) = setup.session().await;
        setup.proxy.arm(Fault { command: "EVALSHA", skip: 0, action: Action::Stall, then_down: false });
        let now = SystemClock.now();
        // The default response timeout (5 s) would not fit in this bound: the setting is used.
        let outcome = timeout(Duration::from_secs(4), setup.store.rename(&old, &new, now))
            .await
            .expect("the rename waited past its 500 ms response timeout");
        assert_eq!(setup.proxy.fired(), 1, "the fault hit");
        assert!(outcome.as_ref().is_err_and(StoreError::is_outcome_unknown), "a timed-out rename: {outcome:?}");
        assert_rename_kept_the_session("stalled reply", &outcome, &setup.direct, (&old, &new), &record, now, true)
            .await;
    }

    /// A write that cannot reach Redis at all (connection refused) surely did not happen: it
    /// fails as a plain backend error, not an unknown outcome.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_with_the_connection_refused_is_a_definite_failure() {
        let setup = Setup::new(Duration::from_secs(5)).await;
        let (old, new, record) = setup.session().await;
        setup.proxy.down();
        // The first request after the cut may still go out on the dead connection; it makes
        // the store reconnect, which is refused from then on.
        let _ = setup.store.load(&old, SystemClock.now()).await;
        let now = SystemClock.now();
        let definite = |what: &str, error: StoreError| {
            assert!(matches!(error, StoreError::Backend { .. }), "{what} with the connection refused: {error:?}");
        };
        definite("create", setup.store.create(&random_key(), &record, now).await.unwrap_err());
        definite("apply", setup.store.apply(&old, &Change::default(), now).await.unwrap_err());
        definite("delete", setup.store.delete(&random_key()).await.unwrap_err());
        let renamed = setup.store.rename(&old, &new, now).await;
        assert!(matches!(renamed, Err(StoreError::Backend { .. })), "rename with the connection refused: {renamed:?}");
        assert_rename_kept_the_session("refused", &renamed, &setup.direct, (&old, &new), &record, now, true).await;
        setup.proxy.up().await;
        heal(&setup.store, &old).await;
        assert_eq!(setup.store.rename(&old, &new, SystemClock.now()).await.unwrap(), Renamed::Done, "once back");
    }

    /// The client-side cache serves a session it read without sending anything; once the
    /// connections break, it serves nothing (loads fail until Redis is reachable), and once
    /// they are back, a change made meanwhile is seen.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_broken_tracking_connection_drops_the_cache() {
        let setup = Setup::with_cache(Duration::from_secs(2), Some(100)).await;
        let (key, _, record) = setup.session().await;
        let now = SystemClock.now();
        // Served from the cache: a HGETALL would be cut before reaching Redis. (On a loaded
        // machine a late heartbeat may switch the cache off for a moment, and the load goes
        // to Redis and is cut: read again and retry.)
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            assert_eq!(setup.store.load(&key, now).await.unwrap().map(sorted), Some(sorted(record.clone())));
            setup.proxy.arm(Fault { command: "HGETALL", skip: 0, action: Action::CutBefore, then_down: false });
            let cached = setup.store.load(&key, now).await;
            if !setup.proxy.disarm() {
                assert_eq!(cached.unwrap().map(sorted), Some(sorted(record.clone())));
                break;
            }
            assert!(Instant::now() < deadline, "no load was served from the cache within 10 s");
            heal(&setup.store, &key).await;
        }

        setup.proxy.down();
        let change = Change {
            set: vec![("user".to_owned(), Entry { value: b"bob".to_vec(), expires_at: None })],
            ..Change::default()
        };
        assert_eq!(setup.direct.apply(&key, &change, now).await.unwrap(), session_core::Applied::Done);
        // As soon as the client sees its connections closed, nothing is served from the cache.
        let deadline = Instant::now() + Duration::from_secs(5);
        while setup.store.load(&key, now).await.is_ok() {
            assert!(Instant::now() < deadline, "the cache still served a session 5 s after Redis became unreachable");
            tokio::task::yield_now().await;
        }
        setup.proxy.up().await;
        heal(&setup.store, &key).await;
        let found = setup.store.load(&key, SystemClock.now()).await.unwrap().unwrap();
        assert_eq!(
            found.get("user").map(|e| e.value.as_slice()),
            Some(&b"bob"[..]),
            "a stale session after reconnecting"
        );
    }

    /// A login (`cycle_id` and a change) whose rename reply is lost: the engine finds the
    /// moved session, the client gets its new id, and the old id is dead.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_login_with_the_rename_reply_lost_keeps_the_client_logged_in() {
        let setup = Setup::new(Duration::from_secs(5)).await;
        let engine = Engine::<Account>::new(setup.store.clone());
        let checker = Engine::<Account>::new(setup.direct.clone());
        // Warm-up: every script loaded.
        let token = start_session(&engine).await;
        log_in(&engine, &token).await.1.unwrap();

        let token = start_session(&engine).await;
        setup.proxy.arm(Fault { command: "EVALSHA", skip: 0, action: Action::DropReply, then_down: false });
        let (held, saved) = log_in(&engine, &token).await;
        assert_eq!(setup.proxy.fired(), 1, "the fault hit the rename");
        assert_opens_the_session(&checker, &held, &saved).await;
        assert_ne!(held, token, "the engine found the moved session and sent its new id: {saved:?}");
        assert!(checker.open(Some(&token)).await.unwrap().is_new(), "the old token after the move");
    }
}

/// A private Redis Cluster behind one proxy per node.
#[cfg(feature = "redis-cluster")]
mod cluster {
    use std::collections::VecDeque;
    use std::net::SocketAddr;
    use std::process::{Child, Command, Stdio};
    use std::sync::{Arc, Mutex};

    use session_core::{IdGenerator, RandomIds, SessionId};

    use super::*;

    /// The slots node `i` serves.
    const SLOTS: [(u16, u16); 3] = [(0, 5460), (5461, 10922), (10923, 16383)];

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    }

    /// The hash slot of a key (CRC16/XMODEM of the key or its `{hash tag}`, mod 16384).
    fn slot(key: &str) -> u16 {
        let bytes = key.as_bytes();
        let hashed = match key.find('{') {
            Some(open) => match key[open + 1..].find('}') {
                Some(len) if len > 0 => &bytes[open + 1..open + 1 + len],
                _ => bytes,
            },
            None => bytes,
        };
        crc16::State::<crc16::XMODEM>::calculate(hashed) % 16384
    }

    fn node_of(redis_key: &str) -> usize {
        let slot = slot(redis_key);
        SLOTS.iter().position(|&(lo, hi)| (lo..=hi).contains(&slot)).unwrap()
    }

    /// A fresh key that `node` serves under `prefix`.
    fn key_on(prefix: &str, node: usize) -> StoreKey {
        loop {
            let key = random_key();
            if node_of(&format!("{prefix}{}", key.as_str())) == node {
                return key;
            }
        }
    }

    /// A `redis-server` child, killed when dropped (also when the test panics).
    struct Node {
        child: Child,
        port: u16,
    }

    impl Drop for Node {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    struct Cluster {
        nodes: Vec<Node>,
        proxies: Vec<Proxy>,
        _dir: tempfile::TempDir,
    }

    impl Cluster {
        /// Three nodes, slots split evenly, no replicas; a node that is lost does not stop the
        /// others serving their slots (`cluster-require-full-coverage no`).
        async fn start() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let (mut nodes, mut proxies, mut buses) = (Vec::new(), Vec::new(), Vec::new());
            for i in 0..SLOTS.len() {
                let (port, bus) = (free_port(), free_port());
                let proxy = Proxy::start(SocketAddr::from(([127, 0, 0, 1], port))).await;
                let config = dir.path().join(format!("nodes-{i}.conf"));
                let child = Command::new("redis-server")
                    .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                    .args(["--cluster-enabled", "yes", "--cluster-config-file", config.to_str().unwrap()])
                    .args(["--cluster-port", &bus.to_string(), "--cluster-announce-bus-port", &bus.to_string()])
                    .args(["--cluster-announce-ip", "127.0.0.1", "--cluster-announce-port", &proxy.port().to_string()])
                    .args(["--cluster-node-timeout", "2000", "--cluster-require-full-coverage", "no"])
                    .args(["--save", "", "--appendonly", "no", "--dir", dir.path().to_str().unwrap()])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap_or_else(|e| {
                        panic!(
                            "cannot start `redis-server` ({e}): the cluster fault tests need it on PATH \
                             (Debian: apt-get install redis-server)"
                        )
                    });
                nodes.push(Node { child, port });
                proxies.push(proxy);
                buses.push(bus);
            }
            let mut direct = Vec::new();
            for node in &nodes {
                direct.push(connect_direct(node.port).await);
            }
            for (conn, (lo, hi)) in direct.iter_mut().zip(SLOTS) {
                redis::cmd("CLUSTER").arg("ADDSLOTSRANGE").arg(lo).arg(hi).query_async::<()>(conn).await.unwrap();
            }
            for (node, bus) in nodes.iter().zip(&buses).skip(1) {
                redis::cmd("CLUSTER")
                    .arg("MEET")
                    .arg("127.0.0.1")
                    .arg(node.port)
                    .arg(*bus)
                    .query_async::<()>(&mut direct[0])
                    .await
                    .unwrap();
            }
            // Formed when every node knows all three, at their proxies' ports, with their slots.
            let mut expected: Vec<String> =
                proxies.iter().zip(SLOTS).map(|(p, (lo, hi))| format!("127.0.0.1:{} {lo}-{hi}", p.port())).collect();
            expected.sort();
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let mut formed = true;
                for conn in &mut direct {
                    let info: String = redis::cmd("CLUSTER").arg("INFO").query_async(conn).await.unwrap();
                    let nodes: String = redis::cmd("CLUSTER").arg("NODES").query_async(conn).await.unwrap();
                    let mut seen: Vec<String> = nodes
                        .lines()
                        .filter_map(|line| {
                            let fields: Vec<&str> = line.split(' ').collect();
                            let address = fields.get(1)?.split('@').next()?;
                            Some(format!("{address} {}", fields.get(8)?))
                        })
                        .collect();
                    seen.sort();
                    formed &= info.contains("cluster_state:ok") && seen == expected;
                }
                if formed {
                    break;
                }
                assert!(Instant::now() < deadline, "the private cluster did not form within 30 s");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let probe = "session-kit-slot-probe";
            let slot_of_probe: u16 =
                redis::cmd("CLUSTER").arg("KEYSLOT").arg(probe).query_async(&mut direct[0]).await.unwrap();
            assert_eq!(slot(probe), slot_of_probe, "this test's slot function agrees with Redis");
            Self { nodes, proxies, _dir: dir }
        }

        fn urls(&self) -> Vec<String> {
            self.proxies.iter().map(|p| format!("redis://127.0.0.1:{}", p.port())).collect()
        }

        async fn store(&self, prefix: &str, response_timeout: Duration) -> RedisStore {
            RedisStore::cluster_builder(&self.urls())
                .response_timeout(response_timeout)
                .prefix(prefix)
                .connect()
                .await
                .unwrap()
        }

        /// Node `i` is gone: its process killed, its proxy refusing connections.
        fn lose(&mut self, i: usize) {
            let node = &mut self.nodes[i];
            let _ = node.child.kill();
            let _ = node.child.wait();
            self.proxies[i].down();
        }
    }

    async fn connect_direct(port: u16) -> redis::aio::MultiplexedConnection {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut conn) = client.get_multiplexed_async_connection().await {
                if redis::cmd("PING").query_async::<String>(&mut conn).await.is_ok() {
                    return conn;
                }
            }
            assert!(Instant::now() < deadline, "redis-server on port {port} did not come up within 10 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Whatever command of a cluster rename the connection breaks at (the snapshot and the
    /// release on the old key's node, the copy on the new key's), before or after it ran,
    /// with the reply lost: the session is never lost or truncated, and the answer is true
    /// to what is stored. While the node stays reachable, the client's own resend completes
    /// the move (the scripts answer a resend as they answered the first send).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cluster_rename_cut_at_any_command_keeps_the_session() {
        let cluster = Cluster::start().await;
        let prefix = random_prefix();
        let store = cluster.store(&prefix, Duration::from_secs(5)).await;
        let fresh = || async {
            let (old, new) = (key_on(&prefix, 0), key_on(&prefix, 1));
            let record = session(SystemClock.now());
            store.create(&old, &record, SystemClock.now()).await.unwrap();
            (old, new, record)
        };
        // Scripts are loaded once per node; a fault must not hit a `NOSCRIPT` retry.
        let (old, new, _) = fresh().await;
        assert_eq!(store.rename(&old, &new, SystemClock.now()).await.unwrap(), Renamed::Done, "warm-up");

        // (node whose proxy faults, EVALSHAs it lets through first, the step that is hit)
        for (node, skip, step) in [(0, 0, "snapshot"), (1, 0, "copy"), (0, 1, "release")] {
            for action in ACTIONS {
                for then_down in [false, true] {
                    let case = format!("{step} on node {node}, {action:?}, down afterwards: {then_down}");
                    let (old, new, record) = fresh().await;
                    cluster.proxies[node].arm(Fault { command: "EVALSHA", skip, action, then_down });
                    let now = SystemClock.now();
                    let outcome = timeout(Duration::from_secs(30), store.rename(&old, &new, now))
                        .await
                        .unwrap_or_else(|_| panic!("{case}: rename hung"));
                    assert!(cluster.proxies[node].disarm(), "{case}: the fault hit");
                    if then_down {
                        cluster.proxies[node].up().await;
                        heal(&store, &key_on(&prefix, node)).await;
                    } else {
                        assert!(matches!(outcome, Ok(Renamed::Done)), "{case}: after the client's resend: {outcome:?}");
                    }
                    assert_rename_kept_the_session(&case, &outcome, &store, (&old, &new), &record, now, false).await;
                }
            }
        }
    }

    /// A request that changes or destroys the session between the copy and the release (the
    /// release is held in the proxy meanwhile): a change is not lost (the rename starts over
    /// from the changed record), a destroyed session is not brought back (the copy goes).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cluster_rename_loses_no_concurrent_change_and_resurrects_nothing() {
        let cluster = Cluster::start().await;
        let prefix = random_prefix();
        let store = cluster.store(&prefix, Duration::from_secs(5)).await;
        // Another app server: its own connections, so the held release does not block it.
        let other = cluster.store(&prefix, Duration::from_secs(5)).await;
        let (old, new) = (key_on(&prefix, 0), key_on(&prefix, 1));
        store.create(&old, &session(SystemClock.now()), SystemClock.now()).await.unwrap();
        assert_eq!(store.rename(&old, &new, SystemClock.now()).await.unwrap(), Renamed::Done, "warm-up");

        let change = Change {
            set: vec![("user".to_owned(), Entry { value: b"bob".to_vec(), expires_at: None })],
            remove: vec!["otp".to_owned()],
            meta: None,
        };
        for destroy in [false, true] {
            let (old, new) = (key_on(&prefix, 0), key_on(&prefix, 1));
            let now = SystemClock.now();
            let record = session(now);
            store.create(&old, &record, now).await.unwrap();
            cluster.proxies[0].arm(Fault { command: "EVALSHA", skip: 1, action: Action::Hold, then_down: false });
            let rename = tokio::spawn({
                let (store, old, new) = (store.clone(), old, new);
                async move { store.rename(&old, &new, now).await }
            });
            timeout(Duration::from_secs(10), cluster.proxies[0].held()).await.expect("the release was not held");
            assert!(store.load(&new, now).await.unwrap().is_some(), "the copy is stored before the release");
            if destroy {
                other.delete(&old).await.unwrap();
            } else {
                assert_eq!(other.apply(&old, &change, now).await.unwrap(), session_core::Applied::Done);
            }
            cluster.proxies[0].resume();
            let outcome = timeout(Duration::from_secs(30), rename).await.expect("rename hung").unwrap();
            assert_eq!(store.load(&old, now).await.unwrap(), None, "the old key after the rename (destroy: {destroy})");
            if destroy {
                assert_eq!(outcome.unwrap(), Renamed::Gone, "a rename of a session destroyed meanwhile");
                assert_eq!(store.load(&new, now).await.unwrap(), None, "the copy of a destroyed session");
            } else {
                assert_eq!(outcome.unwrap(), Renamed::Done, "a rename of a session changed meanwhile");
                let mut expected = record.clone();
                expected.apply(&change);
                let moved = store.load(&new, now).await.unwrap().expect("the moved session");
                assert_eq!(sorted(moved), sorted(expected), "the moved session has the change made meanwhile");
            }
        }
    }

    /// Session ids whose keys land on chosen nodes, in turn (any node once the list is empty).
    #[derive(Clone)]
    struct IdsOn {
        prefix: String,
        nodes: Arc<Mutex<VecDeque<usize>>>,
    }

    impl IdGenerator for IdsOn {
        fn generate(&self) -> SessionId {
            let wanted = self.nodes.lock().unwrap().pop_front();
            loop {
                let id = RandomIds.generate();
                let key = format!("{}{}", self.prefix, id.store_key(Account::NAME).as_str());
                if wanted.is_none_or(|node| node_of(&key) == node) {
                    return id;
                }
            }
        }

        fn parse(&self, candidate: &str) -> Option<SessionId> {
            RandomIds.parse(candidate)
        }
    }

    /// A login whose move ends in the release on the old node, whose reply is lost as the
    /// old node goes away: the engine finds the copy on the new node and the client gets its
    /// new id; the old id is dead when the node is back.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cluster_login_with_the_release_reply_lost_keeps_the_client_logged_in() {
        let cluster = Cluster::start().await;
        let prefix = random_prefix();
        let store = cluster.store(&prefix, Duration::from_secs(5)).await;
        let ids = IdsOn { prefix: prefix.clone(), nodes: Arc::default() };
        let mut engine = Engine::<Account>::new(store.clone());
        engine.set_id_generator(ids.clone());
        // Warm-up: every script loaded where it runs below.
        ids.nodes.lock().unwrap().extend([0, 1]);
        let token = start_session(&engine).await;
        log_in(&engine, &token).await.1.unwrap();

        ids.nodes.lock().unwrap().extend([0, 1]);
        let token = start_session(&engine).await;
        cluster.proxies[0].arm(Fault { command: "EVALSHA", skip: 1, action: Action::DropReply, then_down: true });
        let (held, saved) = log_in(&engine, &token).await;
        assert_eq!(cluster.proxies[0].fired(), 1, "the fault hit the release");
        assert_ne!(held, token, "the client got the new id: {saved:?}");
        assert_opens_the_session(&engine, &held, &saved).await;
        cluster.proxies[0].up().await;
        heal(&store, &key_on(&prefix, 0)).await;
        assert!(engine.open(Some(&token)).await.unwrap().is_new(), "the old token after the move");
    }

    /// With a node lost, requests for its slots fail fast (not after the response timeout,
    /// here 30 s) and the other nodes' sessions keep working.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lost_node_fails_its_requests_fast_and_the_others_keep_working() {
        let mut cluster = Cluster::start().await;
        let prefix = random_prefix();
        let store = cluster.store(&prefix, Duration::from_secs(30)).await;
        let now = SystemClock.now();
        let record = session(now);
        let keys: Vec<StoreKey> = (0..3).map(|node| key_on(&prefix, node)).collect();
        for key in &keys {
            store.create(key, &record, now).await.unwrap();
        }

        cluster.lose(2);
        let bound = Duration::from_secs(5);
        let change = Change {
            set: vec![("user".to_owned(), Entry { value: b"bob".to_vec(), expires_at: None })],
            ..Change::default()
        };
        let load =
            timeout(bound, store.load(&keys[2], now)).await.expect("a load for a lost node's slot did not fail fast");
        assert!(load.is_err(), "a load for a lost node's slot: {load:?}");
        let apply = timeout(bound, store.apply(&keys[2], &change, now))
            .await
            .expect("a change for a lost node's slot did not fail fast");
        assert!(apply.is_err(), "a change for a lost node's slot: {apply:?}");
        for key in &keys[..2] {
            let found = timeout(bound, store.load(key, now)).await.expect("a load on a live node hung").unwrap();
            assert_eq!(found.map(sorted), Some(sorted(record.clone())), "a session on a live node");
            let applied = timeout(bound, store.apply(key, &change, now)).await.expect("a change on a live node hung");
            assert_eq!(applied.unwrap(), session_core::Applied::Done, "a change on a live node");
        }
        let created = timeout(bound, store.create(&key_on(&prefix, 0), &record, now)).await.expect("create hung");
        assert_eq!(created.unwrap(), session_core::Created::Stored, "a new session on a live node");
    }
}
