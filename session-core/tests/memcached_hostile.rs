//! The Memcached store against a server that misbehaves: hostile or broken replies, replies
//! that never come, a busy pool, and failures in the middle of a rename.
//!
//! The store talks to a fake server on loopback that relays every command to the real
//! Memcached named by `SESSION_KIT_MEMCACHED_URL` (so the store otherwise works for real),
//! except the commands a test scripts a misbehaviour for. After misbehaving on a connection,
//! the fake never answers on it again, so a store that reused such a connection would hang
//! until its operation timeout and fail the test; each test also counts connections.

#![cfg(feature = "memcached")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test fixtures: a failed unwrap is a failed test

use std::collections::VecDeque;
use std::error::Error as _;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use session_core::store::MemcachedStore;
use session_core::{Change, Created, Entry, Meta, Record, Renamed, Store, StoreError, StoreKey, Timestamp};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

const NOW: Timestamp = Timestamp::from_millis(1_700_000_000_000);
/// Generous: only there so a store that hangs fails the test instead of stalling the run.
const NO_HANG: Duration = Duration::from_secs(60);

/// The real server's address; a missing variable fails the test rather than skipping it.
fn upstream() -> String {
    let url = std::env::var("SESSION_KIT_MEMCACHED_URL").unwrap_or_else(|_| {
        panic!(
            "SESSION_KIT_MEMCACHED_URL is not set: point it at a Memcached 1.6+ (e.g. tcp://127.0.0.1:11311), \
             or run `bash scripts/test.sh`, which starts one and sets it"
        )
    });
    url.trim_start_matches("tcp://").trim_start_matches("memcache://").trim_end_matches('/').to_owned()
}

/// What the fake does with the next command starting with a given prefix.
#[derive(Clone, Debug)]
enum Act {
    /// Answers these bytes instead of relaying.
    Reply(Vec<u8>),
    /// Answers these bytes, then closes the connection.
    ReplyAndClose(Vec<u8>),
    /// Never answers.
    Silence,
    /// Relays the command (so it takes effect) but drops the real reply.
    ForwardThenSilence,
    /// Sends `head`, then filler bytes (no newline) up to `total` bytes or until the store
    /// closes the connection; reports how many filler bytes it got out.
    Stream { head: Vec<u8>, total: usize },
}

#[derive(Default)]
struct Shared {
    script: Mutex<VecDeque<(&'static str, Act)>>,
    accepted: AtomicUsize,
}

struct Fake {
    addr: String,
    shared: Arc<Shared>,
    /// Every command line received, in order.
    commands: mpsc::UnboundedReceiver<String>,
    /// Filler bytes a `Stream` act wrote before the store hung up.
    streamed: mpsc::UnboundedReceiver<usize>,
}

impl Fake {
    async fn start() -> Self {
        let upstream = upstream();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the fake server");
        let addr = listener.local_addr().expect("local address").to_string();
        let shared = Arc::new(Shared::default());
        let (command_tx, commands) = mpsc::unbounded_channel();
        let (streamed_tx, streamed) = mpsc::unbounded_channel();
        let accept_shared = shared.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                accept_shared.accepted.fetch_add(1, Ordering::SeqCst);
                let conn = Relay {
                    shared: accept_shared.clone(),
                    upstream: upstream.clone(),
                    commands: command_tx.clone(),
                    streamed: streamed_tx.clone(),
                };
                tokio::spawn(conn.serve(client));
            }
        });
        Self { addr, shared, commands, streamed }
    }

    /// Scripts `act` for the next command starting with `prefix` (e.g. `"mg "`).
    fn on(&self, prefix: &'static str, act: Act) {
        self.shared.script.lock().unwrap().push_back((prefix, act));
    }

    fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    fn script_is_used_up(&self) -> bool {
        self.shared.script.lock().unwrap().is_empty()
    }

    /// Waits until a command starting with `prefix` has arrived.
    async fn wait_for(&mut self, prefix: &str) {
        let wait = async {
            loop {
                let line = self.commands.recv().await.expect("the fake server stopped");
                if line.starts_with(prefix) {
                    return;
                }
            }
        };
        tokio::time::timeout(NO_HANG, wait).await.expect("the command never reached the fake server");
    }

    /// The commands received so far, without waiting.
    fn received(&mut self) -> Vec<String> {
        std::iter::from_fn(|| self.commands.try_recv().ok()).collect()
    }

    /// A store on the fake with one pooled connection (so a reused connection would show) and
    /// the given operation timeout.
    async fn store(&self, operation_timeout: Duration) -> MemcachedStore {
        let store = MemcachedStore::builder(&self.addr)
            .pool_size(1)
            .operation_timeout(operation_timeout)
            .prefix(prefix())
            .connect();
        no_hang("connect", store).await.expect("connect through the fake server")
    }
}

/// One client connection of the fake.
struct Relay {
    shared: Arc<Shared>,
    upstream: String,
    commands: mpsc::UnboundedSender<String>,
    streamed: mpsc::UnboundedSender<usize>,
}

impl Relay {
    async fn serve(self, client: TcpStream) {
        let (read, mut write) = client.into_split();
        let mut read = BufReader::new(read);
        let mut upstream: Option<BufReader<TcpStream>> = None;
        let mut poisoned = false;
        loop {
            let Some(command) = read_command(&mut read).await else { return };
            let line = String::from_utf8_lossy(&command[..command.iter().position(|&b| b == b'\r').unwrap_or(0)]);
            let _ = self.commands.send(line.to_string());
            if poisoned {
                // Misbehaved on this connection already: never answer again.
                continue;
            }
            let act = {
                let mut script = self.shared.script.lock().unwrap();
                match script.front() {
                    Some((prefix, _)) if line.starts_with(prefix) => script.pop_front().map(|(_, act)| act),
                    _ => None,
                }
            };
            let up = match &mut upstream {
                Some(up) => up,
                None => upstream.insert(BufReader::new(TcpStream::connect(&self.upstream).await.expect("upstream"))),
            };
            match act {
                None => {
                    up.get_mut().write_all(&command).await.expect("relay the command");
                    let reply = read_reply(up).await;
                    if write.write_all(&reply).await.is_err() {
                        return;
                    }
                }
                Some(Act::Reply(bytes)) => {
                    let _ = write.write_all(&bytes).await;
                    poisoned = true;
                }
                Some(Act::ReplyAndClose(bytes)) => {
                    let _ = write.write_all(&bytes).await;
                    return;
                }
                Some(Act::Silence) => poisoned = true,
                Some(Act::ForwardThenSilence) => {
                    up.get_mut().write_all(&command).await.expect("relay the command");
                    read_reply(up).await;
                    poisoned = true;
                }
                Some(Act::Stream { head, total }) => {
                    let _ = write.write_all(&head).await;
                    let chunk = vec![b'x'; 64 * 1024];
                    let mut sent = 0;
                    while sent < total {
                        match write.write(&chunk[..chunk.len().min(total - sent)]).await {
                            Ok(n) if n > 0 => sent += n,
                            _ => break,
                        }
                    }
                    let _ = self.streamed.send(sent);
                    poisoned = true;
                }
            }
        }
    }
}

/// One command from the store: its line and, for `ms`, its data block.
async fn read_command(read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> Option<Vec<u8>> {
    let mut command = Vec::new();
    if read.read_until(b'\n', &mut command).await.ok()? == 0 {
        return None;
    }
    let line = String::from_utf8_lossy(&command).into_owned();
    if let Some(rest) = line.strip_prefix("ms ") {
        let len: usize = rest.split(' ').nth(1)?.trim().parse().ok()?;
        let mut data = vec![0; len + 2];
        read.read_exact(&mut data).await.ok()?;
        command.extend_from_slice(&data);
    }
    Some(command)
}

/// One reply from the real server: its line and, after `VA`, the value.
async fn read_reply(up: &mut BufReader<TcpStream>) -> Vec<u8> {
    let mut reply = Vec::new();
    up.read_until(b'\n', &mut reply).await.expect("read the real reply");
    let line = String::from_utf8_lossy(&reply).into_owned();
    if let Some(rest) = line.strip_prefix("VA ") {
        let len: usize = rest.split([' ', '\r']).next().unwrap().parse().unwrap();
        let mut data = vec![0; len + 2];
        up.read_exact(&mut data).await.expect("read the real value");
        reply.extend_from_slice(&data);
    }
    reply
}

fn key() -> StoreKey {
    StoreKey::parse(&format!("{:032x}", rand::random::<u128>())).unwrap()
}

fn record(value: &[u8]) -> Record {
    let meta = Meta { idle_deadline: Some(NOW.after(Duration::from_secs(86_400))), ..Meta::new(NOW) };
    let mut record = Record::new(meta);
    record.entries.push(("v".into(), Entry { value: value.to_vec(), expires_at: None }));
    record
}

fn prefix() -> String {
    format!("session-kit-hostile:{:016x}:", rand::random::<u64>())
}

async fn no_hang<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(NO_HANG, f).await.unwrap_or_else(|_| panic!("{what} hung"))
}

/// The store still works after a misbehaviour, on a new connection: the bad one was dropped,
/// not put back in the pool.
async fn works_again(fake: &Fake, store: &MemcachedStore, known: &StoreKey, before: usize, what: &str) {
    let found = no_hang("load", store.load(known, NOW)).await;
    let found = found.unwrap_or_else(|e| panic!("{what}: the store did not recover: {e}"));
    assert_eq!(found, Some(record(b"known")), "{what}: the known record");
    assert!(fake.accepted() > before, "{what}: the next operation reused the connection that misbehaved");
}

fn assert_bad_reply(result: Result<Option<Record>, StoreError>, what: &str) {
    match result {
        Err(StoreError::BadReply { store: "memcached", .. }) => {}
        other => panic!("{what}: expected StoreError::BadReply, got {other:?}"),
    }
}

fn assert_backend(result: Result<Option<Record>, StoreError>, what: &str) {
    match result {
        Err(StoreError::Backend { store: "memcached", .. }) => {}
        other => panic!("{what}: expected StoreError::Backend, got {other:?}"),
    }
}

/// Replies to a read (`mg`) that break the protocol: each is an error, no panic, no allocation
/// sized by the server, and the connection is not reused.
#[tokio::test]
async fn hostile_replies_to_a_read_are_errors_and_never_reuse_the_connection() {
    let fake = Fake::start().await;
    let store = fake.store(Duration::from_secs(10)).await;
    let known = key();
    assert_eq!(store.create(&known, &record(b"known"), NOW).await.unwrap(), Created::Stored);

    let over_the_limit = {
        // 2 MB, over the 1 MiB default max_value_size, sent whole.
        let mut reply = b"VA 2000000 c1\r\n".to_vec();
        reply.extend(std::iter::repeat_n(b'v', 2_000_000));
        reply.extend_from_slice(b"\r\n");
        reply
    };
    let bad_replies: Vec<(&str, Vec<u8>)> = vec![
        ("a length of u64::MAX", b"VA 18446744073709551615 c1\r\n".to_vec()),
        ("a length over u64", b"VA 99999999999999999999999 c1\r\n".to_vec()),
        ("a 100 GB length", b"VA 99999999999 c1\r\n".to_vec()),
        ("a value over max_value_size", over_the_limit),
        ("a value longer than announced", b"VA 5 c1\r\nabcdefghij\r\n".to_vec()),
        ("bytes after the reply", b"VA 3 c1\r\nabc\r\nHD\r\n".to_vec()),
        ("a negative length", b"VA -1 c1\r\n".to_vec()),
        ("a length that is not a number", b"VA ten c1\r\n".to_vec()),
        ("a value without a CAS flag", b"VA 3\r\nabc\r\n".to_vec()),
        ("garbage", b"HELLO THERE\r\n".to_vec()),
        ("a store reply to a get", b"HD\r\n".to_vec()),
        ("a line that is not UTF-8", b"VA \xff\xfe\r\n".to_vec()),
    ];
    for (what, reply) in bad_replies {
        let before = fake.accepted();
        fake.on("mg ", Act::Reply(reply));
        assert_bad_reply(no_hang(what, store.load(&key(), NOW)).await, what);
        assert!(fake.script_is_used_up(), "{what}: the scripted reply was not asked for");
        works_again(&fake, &store, &known, before, what).await;
    }

    let broken_connections: Vec<(&str, Vec<u8>)> = vec![
        ("a value cut short", b"VA 10 c1\r\nabc".to_vec()),
        ("a line cut short", b"VA 10".to_vec()),
        ("no reply at all", Vec::new()),
    ];
    for (what, reply) in broken_connections {
        let before = fake.accepted();
        fake.on("mg ", Act::ReplyAndClose(reply));
        assert_backend(no_hang(what, store.load(&key(), NOW)).await, what);
        works_again(&fake, &store, &known, before, what).await;
    }

    let before = fake.accepted();
    fake.on("mg ", Act::Reply(b"SERVER_ERROR out of memory\r\n".to_vec()));
    assert_backend(no_hang("a refusal", store.load(&key(), NOW)).await, "a refusal");
    works_again(&fake, &store, &known, before, "a refusal").await;
}

/// A reply line that never ends is cut off at a few kilobytes: the store stops reading and
/// hangs up long before the server has sent it all.
#[tokio::test]
async fn an_endless_reply_line_is_cut_off() {
    const TOTAL: usize = 256 * 1024 * 1024;
    let mut fake = Fake::start().await;
    let store = fake.store(Duration::from_secs(30)).await;
    let known = key();
    store.create(&known, &record(b"known"), NOW).await.unwrap();
    let before = fake.accepted();
    fake.on("mg ", Act::Stream { head: b"VA 5 ".to_vec(), total: TOTAL });
    assert_bad_reply(no_hang("an endless line", store.load(&key(), NOW)).await, "an endless line");
    let sent = no_hang("the stream", fake.streamed.recv()).await.expect("the stream ended");
    // What the server got out before the store hung up is kernel buffers, a few megabytes.
    assert!(sent < TOTAL, "the store read all {TOTAL} bytes of one reply line");
    works_again(&fake, &store, &known, before, "an endless line").await;
}

/// A value over `max_value_size` is refused before it is sent (a definite failure), and a
/// reply announcing one is refused before it is read; a raised limit lets both through.
#[tokio::test]
async fn max_value_size_bounds_what_is_sent_and_accepted() {
    let mut fake = Fake::start().await;
    let small = MemcachedStore::builder(&fake.addr).max_value_size(100).prefix(prefix()).connect().await.unwrap();
    let k = key();
    let big = record(&[7; 200]);
    match small.create(&k, &big, NOW).await {
        Err(StoreError::Backend { .. }) => {}
        other => panic!("create of a session over max_value_size: expected a Backend error, got {other:?}"),
    }
    let sent = fake.received();
    assert!(!sent.iter().any(|c| c.starts_with("ms ")), "a value over max_value_size was sent: {sent:?}");

    let large = small.prefix().to_owned();
    let large = MemcachedStore::builder(&fake.addr).max_value_size(1000).prefix(large).connect().await.unwrap();
    assert_eq!(large.create(&k, &big, NOW).await.unwrap(), Created::Stored);
    assert_bad_reply(small.load(&k, NOW).await, "a stored value over max_value_size");
    assert_eq!(large.load(&k, NOW).await.unwrap(), Some(big));
}

/// Replies to a write that break the protocol, or never come whole, leave its outcome
/// unknown; a refusal is a definite failure.
#[tokio::test]
async fn a_write_without_a_trustworthy_reply_is_outcome_unknown() {
    let fake = Fake::start().await;
    // Short, as one case waits it out; still far above a loopback round trip.
    let store = fake.store(Duration::from_secs(1)).await;
    let known = key();
    store.create(&known, &record(b"known"), NOW).await.unwrap();

    // What went wrong, and whether the source of the unknown outcome is a BadReply.
    let unknown: Vec<(&str, Act, bool)> = vec![
        ("garbage", Act::Reply(b"STORED?\r\n".to_vec()), true),
        ("a value in reply to a set", Act::Reply(b"VA 1 c1\r\nx\r\n".to_vec()), true),
        ("a line that never ends", Act::Stream { head: b"HD".to_vec(), total: 1024 * 1024 }, true),
        ("a connection closed before the reply", Act::ReplyAndClose(Vec::new()), false),
        ("a reply cut short", Act::ReplyAndClose(b"H".to_vec()), false),
        ("a reply lost after the write took effect", Act::ForwardThenSilence, false),
    ];
    for (what, act, expect_bad_reply) in unknown {
        let before = fake.accepted();
        let lost = matches!(act, Act::ForwardThenSilence);
        fake.on("ms ", act);
        let k = key();
        match no_hang(what, store.create(&k, &record(b"new"), NOW)).await {
            Err(e @ StoreError::OutcomeUnknown { store: "memcached", .. }) => {
                let bad_reply = e.source().and_then(|s| s.downcast_ref::<StoreError>());
                assert_eq!(
                    matches!(bad_reply, Some(StoreError::BadReply { .. })),
                    expect_bad_reply,
                    "{what}: the source of the unknown outcome: {e:?}"
                );
            }
            other => panic!("{what}: expected OutcomeUnknown, got {other:?}"),
        }
        if lost {
            assert_eq!(store.load(&k, NOW).await.unwrap(), Some(record(b"new")), "{what}: the write took effect");
        }
        works_again(&fake, &store, &known, before, what).await;
    }

    let before = fake.accepted();
    fake.on("ms ", Act::Reply(b"SERVER_ERROR out of memory storing object\r\n".to_vec()));
    match no_hang("a refusal", store.create(&key(), &record(b"new"), NOW)).await {
        Err(StoreError::Backend { store: "memcached", .. }) => {}
        other => panic!("a refused write: expected a Backend error, got {other:?}"),
    }
    works_again(&fake, &store, &known, before, "a refused write").await;
}

/// A write whose reply never comes fails within the operation timeout as OutcomeUnknown; a
/// read in the same situation is a plain backend error (it changed nothing).
#[tokio::test]
async fn a_reply_that_never_comes_fails_within_the_operation_timeout() {
    let fake = Fake::start().await;
    let store = fake.store(Duration::from_secs(1)).await;
    let known = key();
    store.create(&known, &record(b"known"), NOW).await.unwrap();

    let before = fake.accepted();
    fake.on("ms ", Act::Silence);
    let change =
        Change { set: vec![("v".into(), Entry { value: b"changed".to_vec(), expires_at: None })], ..Change::default() };
    match no_hang("apply", store.apply(&known, &change, NOW)).await {
        Err(e @ StoreError::OutcomeUnknown { .. }) => {
            let io = e.source().and_then(|s| s.downcast_ref::<std::io::Error>()).expect("an I/O error as the source");
            assert_eq!(io.kind(), std::io::ErrorKind::TimedOut, "{e}");
            assert!(e.to_string().contains("operation_timeout"), "the message names the setting: {e}");
        }
        other => panic!("an apply whose reply never comes: expected OutcomeUnknown, got {other:?}"),
    }
    works_again(&fake, &store, &known, before, "a write that timed out").await;

    let before = fake.accepted();
    fake.on("mg ", Act::Silence);
    assert_backend(no_hang("load", store.load(&key(), NOW)).await, "a read that timed out");
    works_again(&fake, &store, &known, before, "a read that timed out").await;
}

/// When every pooled connection is busy, an operation waits at most the acquire timeout.
#[tokio::test]
async fn a_busy_pool_fails_after_the_acquire_timeout() {
    let mut fake = Fake::start().await;
    let store = Arc::new(
        MemcachedStore::builder(&fake.addr)
            .pool_size(1)
            .acquire_timeout(Duration::from_millis(100))
            .operation_timeout(Duration::from_secs(600))
            .prefix(prefix())
            .connect()
            .await
            .unwrap(),
    );
    let known = key();
    store.create(&known, &record(b"known"), NOW).await.unwrap();

    fake.on("mg ", Act::Silence);
    let holder = tokio::spawn({
        let store = store.clone();
        async move { store.load(&key(), NOW).await }
    });
    // The only connection is now waiting for a reply that will not come.
    fake.wait_for("mg ").await;
    match no_hang("load", store.load(&known, NOW)).await {
        Err(e @ StoreError::Backend { .. }) => assert!(e.to_string().contains("acquire_timeout"), "{e}"),
        other => panic!("a load with no free connection: expected a Backend error, got {other:?}"),
    }
    assert!(!holder.is_finished(), "the first load should still be waiting for its reply");
    // Cancelling the stuck operation frees its slot; its connection is not reused.
    holder.abort();
    assert!(holder.await.expect_err("aborted").is_cancelled());
    let before = fake.accepted();
    works_again(&fake, &store, &known, before, "after the stuck operation was cancelled").await;
}

/// Failures in the middle of a rename leave a complete copy of the record under the old key
/// or the new one, and report an unknown outcome exactly when the old key may be gone.
#[tokio::test]
async fn a_rename_interrupted_anywhere_keeps_a_complete_copy() {
    let fake = Fake::start().await;
    let store = fake.store(Duration::from_secs(1)).await;
    let mover = record(b"mover");

    // The delete of the old key took effect but its reply was lost: the copy is all that is
    // left, so it must stay, and the outcome is unknown.
    let (from, to) = (key(), key());
    store.create(&from, &mover, NOW).await.unwrap();
    fake.on("md ", Act::ForwardThenSilence);
    let renamed = no_hang("rename", store.rename(&from, &to, NOW)).await;
    assert!(matches!(&renamed, Err(e) if e.is_outcome_unknown()), "lost reply to the delete: {renamed:?}");
    assert_eq!(store.load(&to, NOW).await.unwrap(), Some(mover.clone()), "the copy after a lost delete reply");
    assert_eq!(store.load(&from, NOW).await.unwrap(), None, "the old key after a lost delete reply");

    // The delete never reached the server: both keys hold the record; still unknown.
    let (from, to) = (key(), key());
    store.create(&from, &mover, NOW).await.unwrap();
    fake.on("md ", Act::Silence);
    let renamed = no_hang("rename", store.rename(&from, &to, NOW)).await;
    assert!(matches!(&renamed, Err(e) if e.is_outcome_unknown()), "no reply to the delete: {renamed:?}");
    assert_eq!(store.load(&to, NOW).await.unwrap(), Some(mover.clone()), "the copy, kept");
    assert_eq!(store.load(&from, NOW).await.unwrap(), Some(mover.clone()), "the old key, untouched");

    // The server refused the delete: the old key is intact, so the copy goes and the error
    // is a definite one.
    let (from, to) = (key(), key());
    store.create(&from, &mover, NOW).await.unwrap();
    fake.on("md ", Act::Reply(b"SERVER_ERROR busy\r\n".to_vec()));
    match no_hang("rename", store.rename(&from, &to, NOW)).await {
        Err(StoreError::Backend { .. }) => {}
        other => panic!("a refused delete: expected a Backend error, got {other:?}"),
    }
    assert_eq!(store.load(&from, NOW).await.unwrap(), Some(mover.clone()), "the old key after a refused delete");
    assert_eq!(store.load(&to, NOW).await.unwrap(), None, "the copy after a refused delete");

    // The copy's reply was lost: the old key is intact and the copy is there too.
    let (from, to) = (key(), key());
    store.create(&from, &mover, NOW).await.unwrap();
    fake.on("ms ", Act::ForwardThenSilence);
    let renamed = no_hang("rename", store.rename(&from, &to, NOW)).await;
    assert!(matches!(&renamed, Err(e) if e.is_outcome_unknown()), "lost reply to the copy: {renamed:?}");
    assert_eq!(store.load(&from, NOW).await.unwrap(), Some(mover.clone()), "the old key after a lost copy reply");
    assert_eq!(store.load(&to, NOW).await.unwrap(), Some(mover.clone()), "the copy after a lost copy reply");

    // The copy never happened (the connection broke before the reply): old key intact.
    let (from, to) = (key(), key());
    store.create(&from, &mover, NOW).await.unwrap();
    fake.on("ms ", Act::ReplyAndClose(Vec::new()));
    let renamed = no_hang("rename", store.rename(&from, &to, NOW)).await;
    assert!(matches!(&renamed, Err(e) if e.is_outcome_unknown()), "a closed connection at the copy: {renamed:?}");
    assert_eq!(store.load(&from, NOW).await.unwrap(), Some(mover.clone()), "the old key after a failed copy");

    // And with nothing in the way, a rename still moves the record.
    let (from, to) = (key(), key());
    store.create(&from, &mover, NOW).await.unwrap();
    assert_eq!(store.rename(&from, &to, NOW).await.unwrap(), Renamed::Done);
    assert_eq!(store.load(&to, NOW).await.unwrap(), Some(mover.clone()));
    assert_eq!(store.load(&from, NOW).await.unwrap(), None);
}
