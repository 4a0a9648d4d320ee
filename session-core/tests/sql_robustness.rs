//! The SQL stores against what goes wrong around them: tables of the previous release, the
//! permissions of SQLite's files, servers that are slow, busy or gone, and writes whose answer
//! is lost (a TCP proxy on loopback breaks the connection at a chosen point of the protocol).
//!
//! The PostgreSQL and MySQL tests need the servers named by `SESSION_KIT_POSTGRES_URL` (e.g.
//! `postgres://postgres@127.0.0.1:5432/test`) and `SESSION_KIT_MYSQL_URL` (e.g.
//! `mysql://root@127.0.0.1:3306/session_kit_test`); `bash scripts/test.sh` sets both. A
//! missing variable fails them rather than skipping them. Each test uses tables of its own
//! (random names, `session_kit_r_<hex>_s` / `_e`) and drops them when it ends.

#![cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test fixtures: a failed unwrap is a failed test

use std::future::Future;
use std::time::Duration;

use session_core::{Applied, Change, Created, Entry, Meta, Record, Store, StoreError, StoreKey, Timestamp};

/// How long an operation may take before a test calls it hung: a bound, not a measurement.
/// Far above every timeout the tests set (at most 1.2 s), and below sqlx's own defaults
/// (30 s to acquire a connection, no statement limit), so a limit that does not apply shows.
const HANG: Duration = Duration::from_secs(15);

/// The time the tests happen at (November 2023).
const NOW: Timestamp = Timestamp::from_millis(1_700_000_000_000);

fn at(secs: u64) -> Timestamp {
    NOW.after(Duration::from_secs(secs))
}

/// `f`, or a failed test if it has not finished after [`HANG`].
async fn bounded<F: Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(HANG, f).await.unwrap_or_else(|_| panic!("{what} did not finish within {HANG:?}"))
}

fn key() -> StoreKey {
    StoreKey::parse(&format!("{:032x}", rand::random::<u128>())).expect("32 hex digits are a store key")
}

/// Table names of one test.
#[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
fn names() -> (String, String) {
    let suffix = format!("{:016x}", rand::random::<u64>());
    (format!("session_kit_r_{suffix}_s"), format!("session_kit_r_{suffix}_e"))
}

/// A session last active a minute after it was created, with a plain and a `ttl` field.
fn record() -> Record {
    Record {
        meta: Meta {
            created_at: NOW,
            idle_deadline: Some(at(86_400)),
            absolute_deadline: Some(at(7 * 86_400)),
            remember_me: true,
            last_active: at(60),
            lifetime: None,
        },
        entries: vec![
            ("a".into(), Entry { value: vec![1], expires_at: None }),
            ("b".into(), Entry { value: vec![2], expires_at: Some(at(3600)) }),
        ],
    }
}

/// A change of two fields and the metadata: applied whole or not at all.
fn change() -> Change {
    Change {
        set: vec![
            ("a".into(), Entry { value: vec![10], expires_at: None }),
            ("c".into(), Entry { value: vec![30], expires_at: None }),
        ],
        remove: vec!["b".into()],
        meta: Some(Meta { last_active: at(120), ..record().meta }),
    }
}

fn sorted(mut record: Record) -> Record {
    record.entries.sort_by(|a, b| a.0.cmp(&b.0));
    record
}

#[track_caller]
fn assert_record(found: Option<Record>, expected: &Record, what: &str) {
    let found = found.unwrap_or_else(|| panic!("{what}: no record"));
    assert_eq!(sorted(found), sorted(expected.clone()), "{what}");
}

/// The sqlx error at the root of a store error, if that is what it is.
#[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
fn sqlx_source(e: &StoreError) -> Option<&sqlx::Error> {
    std::error::Error::source(e).and_then(|source| source.downcast_ref::<sqlx::Error>())
}

/// The URL in `var`; a missing variable fails the test rather than skipping it.
#[cfg(any(feature = "postgres", feature = "mysql"))]
fn url(var: &str, example: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: point it at a server (e.g. {example}), or run `bash scripts/test.sh`, which sets it")
    })
}

/// `url` with its host and port replaced by `addr` (for the proxy).
#[cfg(any(feature = "postgres", feature = "mysql"))]
fn via(url: &str, addr: std::net::SocketAddr) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let user = authority.rsplit_once('@').map(|(user, _)| format!("{user}@")).unwrap_or_default();
    format!("{scheme}://{user}{addr}{path}")
}

/// Runs `f` to its end on a runtime of its own, on a thread of its own: for a `Drop`, which
/// may run while the test's runtime shuts down.
#[cfg(any(feature = "postgres", feature = "mysql"))]
fn block_on_own_runtime<Fut: Future<Output = ()> + Send + 'static>(f: Fut) {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(f);
    })
    .join()
    .expect("dropping the test tables");
}

/// What `open` gives, made on a runtime of its own that has ended by the time this returns:
/// the connections opened in it belong to a runtime that is gone (as when an actix-web server,
/// whose workers each run one, stops while the store lives on).
#[cfg(any(feature = "postgres", feature = "mysql"))]
fn on_ended_runtime<S: Send + 'static>(open: impl Future<Output = S> + Send + 'static) -> S {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(open)
    })
    .join()
    .expect("opening on a runtime of its own")
}

/// Uses the connections of `store`, then lets the tasks that give them back to the pool run:
/// they are then idle in the pool, owned by the runtime this ran on.
#[cfg(any(feature = "postgres", feature = "mysql"))]
async fn in_use_then_idle(store: &impl Store) {
    let k = key();
    let (a, b) = tokio::join!(store.load(&k, NOW), store.load(&k, NOW));
    a.expect("load");
    b.expect("load");
    for _ in 0..16 {
        tokio::task::yield_now().await;
    }
}

/// Drops a test's tables when the test ends, passed or failed (as far as it can: a failed test
/// may still hold them). It blocks its thread: the tests run on a multi-threaded runtime, so
/// the connections a test gives back still get to end their transactions (sqlx rolls back in
/// a task), which would otherwise keep the tables locked.
#[cfg(any(feature = "postgres", feature = "mysql"))]
struct DropTables(Option<Box<dyn FnOnce() + Send>>);

#[cfg(any(feature = "postgres", feature = "mysql"))]
impl Drop for DropTables {
    fn drop(&mut self) {
        if let Some(drop_tables) = self.0.take() {
            drop_tables();
        }
    }
}

/// What the store must do on tables of the previous release once it has opened them: read
/// the old session (its `last_active` reads as its creation), and keep `last_active` of new
/// sessions and changes.
async fn check_upgraded(store: &dyn Store, old: &StoreKey) {
    let mut expected = Record::new(Meta::new(NOW));
    expected.entries.push(("a".into(), Entry { value: vec![1], expires_at: None }));
    assert_record(store.load(old, NOW).await.expect("load"), &expected, "the session of the previous release");

    let k = key();
    assert_eq!(store.create(&k, &record(), NOW).await.expect("create"), Created::Stored);
    assert_record(store.load(&k, NOW).await.expect("load"), &record(), "a new session");
    assert_eq!(store.apply(&k, &change(), NOW).await.expect("apply"), Applied::Done);
    let mut changed = record();
    changed.apply(&change());
    assert_record(store.load(&k, NOW).await.expect("load"), &changed, "a changed session");
    assert_eq!(changed.meta.last_active, at(120));

    let touch = Change { meta: Some(Meta { last_active: at(30), ..expected.meta }), ..Change::default() };
    assert_eq!(store.apply(old, &touch, NOW).await.expect("apply"), Applied::Done);
    expected.meta.last_active = at(30);
    assert_record(store.load(old, NOW).await.expect("load"), &expected, "the old session, touched");
}

/// What a second store on the upgraded tables (another app server) must find: what the first
/// one wrote, and `last_active` working.
async fn check_reopened(store: &dyn Store, old: &StoreKey) {
    let found = store.load(old, NOW).await.expect("load").expect("the old session");
    assert_eq!(found.meta.last_active, at(30), "last_active the first store wrote");
    let k = key();
    assert_eq!(store.create(&k, &record(), NOW).await.expect("create"), Created::Stored);
    assert_record(store.load(&k, NOW).await.expect("load"), &record(), "a new session");
}

/// Sessions as the one-row-per-field layout of session-kit 0.1 (and of 0.2 before its sessions
/// moved into one row) kept them: more than two chunks of the upgrade's move, each with a plain
/// field, a field with a deadline to come and one whose deadline has passed; one session has no
/// field at all, and one field row belongs to no session.
mod old_layout {
    use super::*;

    /// How many sessions: more than two chunks of 500.
    pub(crate) const SESSIONS: u32 = 1100;

    /// The key of session `i`.
    pub(crate) fn key(i: u32) -> StoreKey {
        StoreKey::parse(&format!("{i:032x}")).expect("a store key")
    }

    /// Session `i` as stored: its metadata and its field rows.
    pub(crate) fn stored(i: u32) -> Record {
        let meta = Meta {
            created_at: NOW,
            idle_deadline: Some(at(86_400)),
            absolute_deadline: None,
            remember_me: i % 2 == 0,
            last_active: at(60),
            lifetime: None,
        };
        if i == 7 {
            return Record::new(meta);
        }
        Record {
            meta,
            entries: vec![
                ("a".into(), Entry { value: i.to_le_bytes().to_vec(), expires_at: None }),
                ("otp".into(), Entry { value: vec![0, b'"', 0xff], expires_at: Some(at(3600)) }),
                (
                    "gone".into(),
                    Entry { value: vec![9], expires_at: Some(Timestamp::from_millis(NOW.as_millis() - 1000)) },
                ),
            ],
        }
    }

    /// Session `i` as a load at `NOW` must find it: without the field that expired.
    pub(crate) fn loaded(i: u32) -> Record {
        let mut record = stored(i);
        record.drop_expired_entries(NOW);
        record
    }

    /// The key of the field row that belongs to no session.
    pub(crate) fn orphan() -> StoreKey {
        StoreKey::parse(&format!("{:032x}", u128::MAX)).expect("a store key")
    }

    /// Every moved session loads whole, and a change to one merges into what was moved.
    pub(crate) async fn check(store: &dyn Store, what: &str) {
        for i in 0..SESSIONS {
            assert_record(store.load(&key(i), NOW).await.expect("load"), &loaded(i), &format!("{what}: session {i}"));
        }
        assert_eq!(store.load(&orphan(), NOW).await.expect("load"), None);
        let change =
            Change { set: vec![("b".into(), Entry { value: vec![2], expires_at: None })], ..Change::default() };
        assert_eq!(store.apply(&key(3), &change, NOW).await.expect("apply"), Applied::Done);
        let mut changed = loaded(3);
        changed.apply(&change);
        assert_record(
            store.load(&key(3), NOW).await.expect("load"),
            &changed,
            &format!("{what}: a change after the move"),
        );
    }

    /// After [`check`]: the move set each session's `entries_expire_at` (`hinted` counts the
    /// rows that have one), so a collection once `otp` has expired finds every session holding
    /// it and prunes it from the row.
    pub(crate) async fn check_pruned<F: Future<Output = i64>>(store: &dyn Store, hinted: impl Fn() -> F) {
        assert_eq!(hinted().await, i64::from(SESSIONS) - 1, "every session with a field deadline is found");
        assert_eq!(store.collect_expired(at(4000)).await.expect("collect"), 0, "every session lives on");
        assert_eq!(hinted().await, 0, "the expired fields are pruned, no deadline left");
    }
}

/// Inserts the sessions of [`old_layout`] into tables of the per-field layout named
/// `$sessions` and `$entries`, on `$pool` of database `$db`, a few hundred rows a statement.
macro_rules! insert_old_layout {
    ($db:ty, $pool:expr, $sessions:expr, $entries:expr) => {{
        let ms = |t: Timestamp| i64::try_from(t.as_millis()).expect("millis");
        let all: Vec<u32> = (0..old_layout::SESSIONS).collect();
        for chunk in all.chunks(200) {
            let mut sessions = sqlx::QueryBuilder::<$db>::new(format!(
                "INSERT INTO {} (store_key, created_at, idle_deadline, absolute_deadline, expires_at, remember_me, \
                 last_active, lifetime) ",
                $sessions
            ));
            sessions.push_values(chunk, |mut row, i| {
                let meta = old_layout::stored(*i).meta;
                row.push_bind(old_layout::key(*i).to_string())
                    .push_bind(ms(meta.created_at))
                    .push_bind(meta.idle_deadline.map(ms))
                    .push_bind(meta.absolute_deadline.map(ms))
                    .push_bind(meta.expires_at().map(ms))
                    .push_bind(i64::from(meta.remember_me))
                    .push_bind(ms(meta.last_active))
                    .push_bind(None::<i64>);
            });
            sessions.build().execute(&$pool).await.expect("old sessions");
            let rows: Vec<(String, String, Vec<u8>, Option<i64>)> = chunk
                .iter()
                .flat_map(|i| {
                    let key = old_layout::key(*i).to_string();
                    old_layout::stored(*i).entries.into_iter().map(move |(field, e)| {
                        (key.clone(), field, e.value, e.expires_at.map(ms))
                    })
                })
                .collect();
            let mut entries = sqlx::QueryBuilder::<$db>::new(format!(
                "INSERT INTO {} (store_key, field, value, expires_at) ",
                $entries
            ));
            entries.push_values(rows, |mut row, (key, field, value, expires_at)| {
                row.push_bind(key).push_bind(field).push_bind(value).push_bind(expires_at);
            });
            entries.build().execute(&$pool).await.expect("old fields");
        }
    }};
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use session_core::SqliteStore;

    use super::*;

    /// The tables as the previous release created them: no `last_active`.
    const PREVIOUS_SCHEMA: &str = "\
        CREATE TABLE session_kit_sessions (store_key TEXT NOT NULL PRIMARY KEY, created_at INTEGER NOT NULL, \
        idle_deadline INTEGER, absolute_deadline INTEGER, expires_at INTEGER, remember_me INTEGER NOT NULL) \
        WITHOUT ROWID;
        CREATE INDEX session_kit_sessions_expires_at ON session_kit_sessions (expires_at, store_key) \
        WHERE expires_at IS NOT NULL;
        CREATE TABLE session_kit_entries (store_key TEXT NOT NULL REFERENCES session_kit_sessions (store_key) \
        ON DELETE CASCADE ON UPDATE CASCADE, field TEXT NOT NULL, value BLOB NOT NULL, expires_at INTEGER, \
        PRIMARY KEY (store_key, field)) WITHOUT ROWID;
        CREATE INDEX session_kit_entries_expires_at ON session_kit_entries (expires_at) WHERE expires_at IS NOT NULL;";

    #[tokio::test]
    async fn open_adds_last_active_to_tables_of_the_previous_release() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sessions.db");
        let url = format!("sqlite:{}?mode=rwc", path.to_str().expect("a UTF-8 path"));
        let old = key();
        {
            let pool = sqlx::SqlitePool::connect(&url).await.expect("connect");
            sqlx::raw_sql(PREVIOUS_SCHEMA).execute(&pool).await.expect("the previous schema");
            sqlx::query(
                "INSERT INTO session_kit_sessions (store_key, created_at, idle_deadline, absolute_deadline, \
                 expires_at, remember_me) VALUES (?, ?, NULL, NULL, NULL, 0)",
            )
            .bind(old.as_str())
            .bind(i64::try_from(NOW.as_millis()).expect("millis"))
            .execute(&pool)
            .await
            .expect("an old session");
            sqlx::query("INSERT INTO session_kit_entries (store_key, field, value) VALUES (?, 'a', x'01')")
                .bind(old.as_str())
                .execute(&pool)
                .await
                .expect("an old entry");
            pool.close().await;
        }
        let store = SqliteStore::open(&url).await.expect("open upgrades the tables");
        check_upgraded(&store, &old).await;
        store.pool().close().await;
        let store = SqliteStore::open(&url).await.expect("open again: nothing left to add");
        check_reopened(&store, &old).await;
    }

    /// The per-field layout as 0.2 before this release created it: 0.1's with the two columns
    /// 0.2 added.
    const PER_FIELD_SCHEMA: &str = "\
        CREATE TABLE session_kit_sessions (store_key TEXT NOT NULL PRIMARY KEY, created_at INTEGER NOT NULL, \
        idle_deadline INTEGER, absolute_deadline INTEGER, expires_at INTEGER, remember_me INTEGER NOT NULL, \
        last_active INTEGER, lifetime INTEGER) WITHOUT ROWID;
        CREATE INDEX session_kit_sessions_expires_at ON session_kit_sessions (expires_at, store_key) \
        WHERE expires_at IS NOT NULL;
        CREATE TABLE session_kit_entries (store_key TEXT NOT NULL REFERENCES session_kit_sessions (store_key) \
        ON DELETE CASCADE ON UPDATE CASCADE, field TEXT NOT NULL, value BLOB NOT NULL, expires_at INTEGER, \
        PRIMARY KEY (store_key, field)) WITHOUT ROWID;
        CREATE INDEX session_kit_entries_expires_at ON session_kit_entries (expires_at) WHERE expires_at IS NOT NULL;";

    /// A database of the per-field layout holding [`old_layout`]'s sessions, and one field row
    /// of no session (left by foreign keys turned off).
    async fn per_field_database() -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sessions.db");
        let url = format!("sqlite:{}?mode=rwc", path.to_str().expect("a UTF-8 path"));
        let options: sqlx::sqlite::SqliteConnectOptions = url.parse().expect("the URL");
        let pool = sqlx::SqlitePool::connect_with(options.foreign_keys(false)).await.expect("connect");
        sqlx::raw_sql(PER_FIELD_SCHEMA).execute(&pool).await.expect("the per-field schema");
        insert_old_layout!(sqlx::Sqlite, pool, "session_kit_sessions", "session_kit_entries");
        sqlx::query("INSERT INTO session_kit_entries (store_key, field, value) VALUES (?, 'a', x'01')")
            .bind(old_layout::orphan().as_str())
            .execute(&pool)
            .await
            .expect("a field of no session");
        pool.close().await;
        (dir, url)
    }

    async fn tables(store: &SqliteStore) -> Vec<String> {
        let names: Vec<(String,)> = sqlx::query_as("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .fetch_all(store.pool())
            .await
            .expect("tables");
        names.into_iter().map(|(name,)| name).collect()
    }

    async fn check_moved(store: &SqliteStore) {
        old_layout::check(store, "sqlite").await;
        assert_eq!(tables(store).await, ["session_kit_sessions"], "the entries table is gone");
        old_layout::check_pruned(store, || async {
            let (n,): (i64,) =
                sqlx::query_as("SELECT COUNT(*) FROM session_kit_sessions WHERE entries_expire_at IS NOT NULL")
                    .fetch_one(store.pool())
                    .await
                    .expect("count");
            n
        })
        .await;
    }

    #[tokio::test]
    async fn open_moves_the_fields_of_the_per_field_layout_into_their_sessions() {
        let (_dir, url) = per_field_database().await;
        let store = SqliteStore::open(&url).await.expect("open moves the fields");
        check_moved(&store).await;
        store.pool().close().await;
        let store = SqliteStore::open(&url).await.expect("open again: nothing left to move");
        let mut pruned = old_layout::loaded(5);
        pruned.drop_expired_entries(at(4000));
        assert_record(store.load(&old_layout::key(5), NOW).await.expect("load"), &pruned, "reopened");
    }

    /// A move stopped after the table was renamed and the columns added, with an entries table
    /// that a process of the earlier release created again and wrote some sessions' fields to:
    /// the next open moves what is in both.
    #[tokio::test]
    async fn an_interrupted_move_goes_on_at_the_next_open() {
        let (_dir, url) = per_field_database().await;
        {
            let pool = sqlx::SqlitePool::connect(&url).await.expect("connect");
            let sql = format!(
                "ALTER TABLE session_kit_entries RENAME TO session_kit_entries_moving; \
                 ALTER TABLE session_kit_sessions ADD COLUMN entries BLOB NOT NULL DEFAULT x'0c'; \
                 ALTER TABLE session_kit_sessions ADD COLUMN entries_expire_at INTEGER; \
                 CREATE TABLE session_kit_entries (store_key TEXT NOT NULL, field TEXT NOT NULL, value BLOB NOT NULL, \
                 expires_at INTEGER, PRIMARY KEY (store_key, field)) WITHOUT ROWID; \
                 INSERT INTO session_kit_entries SELECT * FROM session_kit_entries_moving WHERE store_key >= '{0}'; \
                 DELETE FROM session_kit_entries_moving WHERE store_key >= '{0}';",
                old_layout::key(1000),
            );
            sqlx::raw_sql(&sql).execute(&pool).await.expect("half a move");
            pool.close().await;
        }
        let store = SqliteStore::open(&url).await.expect("open goes on with the move");
        check_moved(&store).await;
    }

    /// Processes opening the database at once take turns: every field is moved, once.
    #[tokio::test]
    async fn stores_opening_at_once_move_the_fields_once() {
        let (_dir, url) = per_field_database().await;
        let (a, b) = tokio::join!(SqliteStore::open(&url), SqliteStore::open(&url));
        let (a, _b) = (a.expect("open"), b.expect("open at the same time"));
        check_moved(&a).await;
    }

    /// The database, `-wal` and `-shm` files a new store creates are its owner's only: they
    /// hold every live session's data, and its store keys are what a cookie is checked against.
    #[cfg(unix)]
    #[tokio::test]
    async fn a_new_database_and_its_wal_files_are_private() {
        use std::os::unix::fs::PermissionsExt as _;

        let dir = tempfile::tempdir().expect("tempdir");
        // What the umask makes of a file nobody restricts: what SQLite alone would give all three.
        let control = dir.path().join("control");
        std::fs::File::create(&control).expect("control file");
        let umask_mode = std::fs::metadata(&control).expect("stat").permissions().mode() & 0o777;

        let path = dir.path().join("sessions.db");
        let store = SqliteStore::open(path.to_str().expect("a UTF-8 path")).await.expect("open");
        store.create(&key(), &record(), NOW).await.expect("create");
        for suffix in ["", "-wal", "-shm"] {
            let file = dir.path().join(format!("sessions.db{suffix}"));
            let mode = std::fs::metadata(&file).expect("the store's file exists").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{} is {mode:o} (the umask alone gives {umask_mode:o})", file.display());
        }
    }

    #[tokio::test]
    async fn a_busy_pool_fails_after_the_acquire_timeout() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sessions.db");
        let store = SqliteStore::builder(path.to_str().expect("a UTF-8 path"))
            .max_connections(1)
            .acquire_timeout(Duration::from_millis(100))
            .open()
            .await
            .expect("open");
        let held = store.pool().acquire().await.expect("the pool's one connection");
        let err = bounded("a load with no connection free", store.load(&key(), NOW)).await.expect_err("no connection");
        assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
        drop(held);
        assert_eq!(store.load(&key(), NOW).await.expect("load once the connection is back"), None);
    }

    #[tokio::test]
    async fn a_write_locked_by_another_process_fails_after_the_busy_timeout() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sessions.db");
        let path = path.to_str().expect("a UTF-8 path");
        let store = SqliteStore::builder(path).busy_timeout(Duration::from_millis(100)).open().await.expect("open");
        // Another process's writer, as far as SQLite can tell: a connection of its own.
        let other = SqliteStore::open(path).await.expect("open a second pool");
        let mut writer = other.pool().acquire().await.expect("connection");
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *writer).await.expect("take the write lock");
        let err = bounded("a create behind a held write lock", store.create(&key(), &record(), NOW))
            .await
            .expect_err("locked");
        assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
        sqlx::query("ROLLBACK").execute(&mut *writer).await.expect("release the write lock");
        assert_eq!(store.create(&key(), &record(), NOW).await.expect("create once released"), Created::Stored);
    }

    #[tokio::test]
    async fn builder_settings_are_checked() {
        let zero = SqliteStore::builder("sqlite::memory:").acquire_timeout(Duration::ZERO).open().await;
        assert!(matches!(zero, Err(StoreError::Config(_))), "{zero:?}");
        let none = SqliteStore::builder("sqlite::memory:").max_connections(0).open().await;
        assert!(matches!(none, Err(StoreError::Config(_))), "{none:?}");
        let names = SqliteStore::builder("sqlite::memory:").table_names("a b", "c").open().await;
        assert!(matches!(names, Err(StoreError::Config(_))), "{names:?}");
        let url = SqliteStore::builder("sqlite://x?mode=nonsense").open().await;
        assert!(matches!(url, Err(StoreError::Config(_))), "{url:?}");
        let custom = SqliteStore::builder("sqlite::memory:").table_names("my_s", "my_e").open().await.expect("open");
        custom.create(&key(), &record(), NOW).await.expect("create");
        let (count,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM my_s").fetch_one(custom.pool()).await.expect("the named table");
        assert_eq!(count, 1);
    }
}

/// A TCP proxy on loopback that forwards a database connection and, once armed, breaks it at
/// one chosen point of the protocol: after the server committed a write but before the client
/// hears of it, before a write reaches the server, or never answering at all.
#[cfg(any(feature = "postgres", feature = "mysql"))]
mod proxy {
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::watch;

    /// Where the armed proxy breaks the next write.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    // Each dialect's tests use their own.
    #[cfg_attr(not(all(feature = "postgres", feature = "mysql")), allow(dead_code))]
    pub(crate) enum Trap {
        /// PostgreSQL: keep the answer to the next statement from the client from its
        /// `CommandComplete` on, and close both connections once the server reports itself
        /// ready for the next query: the statement's implicit transaction has committed.
        PgCutAfterCommit,
        /// PostgreSQL: never deliver the answer to the next statement; keep the connection open.
        PgHoldAnswer,
        /// MySQL: forward the next prepared statement executed and close both connections when
        /// its answer comes: the server ran it (in autocommit: committed it).
        MyCutAfterExecute,
        /// MySQL: close both connections instead of forwarding the next prepared statement
        /// executed.
        MySwallowExecute,
        /// MySQL: close both connections instead of forwarding the next statement to prepare.
        MySwallowPrepare,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum Protocol {
        Postgres,
        Mysql,
    }

    #[derive(Default)]
    struct Shared {
        trap: Mutex<Option<Trap>>,
        sprung: AtomicBool,
        /// One kill switch per connection.
        conns: Mutex<Vec<watch::Sender<bool>>>,
    }

    impl Shared {
        /// Takes the armed trap if it is `which`.
        fn spring(&self, which: impl Fn(Trap) -> bool) -> Option<Trap> {
            let mut trap = self.trap.lock().expect("lock");
            let sprung = trap.filter(|t| which(*t))?;
            *trap = None;
            self.sprung.store(true, Ordering::SeqCst);
            Some(sprung)
        }
    }

    pub(crate) struct Proxy {
        pub(crate) addr: SocketAddr,
        shared: Arc<Shared>,
        accept: tokio::task::JoinHandle<()>,
    }

    impl Proxy {
        pub(crate) async fn start(upstream: (String, u16), protocol: Protocol) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
            let addr = listener.local_addr().expect("proxy address");
            let shared = Arc::new(Shared::default());
            let accept = tokio::spawn({
                let shared = shared.clone();
                async move {
                    while let Ok((client, _)) = listener.accept().await {
                        let server = TcpStream::connect((upstream.0.as_str(), upstream.1)).await.expect("upstream");
                        let (kill, killed) = watch::channel(false);
                        shared.conns.lock().expect("lock").push(kill.clone());
                        let (client_read, client_write) = client.into_split();
                        let (server_read, server_write) = server.into_split();
                        let state =
                            Arc::new(Conn { shared: shared.clone(), kill, cut_on_reply: AtomicBool::new(false) });
                        tokio::spawn(upstream_pump(client_read, server_write, state.clone(), killed.clone(), protocol));
                        tokio::spawn(downstream_pump(server_read, client_write, state, killed, protocol));
                    }
                }
            });
            Self { addr, shared, accept }
        }

        pub(crate) fn arm(&self, trap: Trap) {
            *self.shared.trap.lock().expect("lock") = Some(trap);
        }

        /// Whether the armed trap went off: the test broke what it meant to.
        pub(crate) fn sprung(&self) -> bool {
            self.shared.sprung.load(Ordering::SeqCst)
        }

        /// Stops listening (connecting is refused) and closes every connection.
        pub(crate) fn refuse(&self) {
            self.accept.abort();
            for kill in self.shared.conns.lock().expect("lock").iter() {
                let _ = kill.send(true);
            }
        }
    }

    impl Drop for Proxy {
        fn drop(&mut self) {
            self.refuse();
        }
    }

    struct Conn {
        shared: Arc<Shared>,
        kill: watch::Sender<bool>,
        /// Close both connections as soon as the server answers.
        cut_on_reply: AtomicBool,
    }

    /// Splits complete messages off the front of `buf`: PostgreSQL's server messages (a type
    /// byte, then a length that counts itself), MySQL packets (a 3-byte length, a sequence
    /// byte).
    fn take_frame(buf: &mut Vec<u8>, protocol: Protocol) -> Option<Vec<u8>> {
        let len = match protocol {
            Protocol::Postgres => {
                let len = u32::from_be_bytes(buf.get(1..5)?.try_into().ok()?);
                1 + usize::try_from(len).ok()?
            }
            Protocol::Mysql => {
                let len = buf.get(..3)?;
                4 + (usize::from(len[0]) | usize::from(len[1]) << 8 | usize::from(len[2]) << 16)
            }
        };
        if buf.len() < len {
            return None;
        }
        Some(buf.drain(..len).collect())
    }

    /// Reads some bytes, or `None` when the connection ended or was killed.
    async fn read(from: &mut OwnedReadHalf, buf: &mut Vec<u8>, killed: &mut watch::Receiver<bool>) -> Option<()> {
        let mut chunk = [0u8; 16 * 1024];
        tokio::select! {
            n = from.read(&mut chunk) => match n {
                Ok(0) | Err(_) => None,
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    Some(())
                }
            },
            _ = killed.wait_for(|killed| *killed) => None,
        }
    }

    /// Client to server. MySQL packets are looked at for the traps set on the client's side.
    async fn upstream_pump(
        mut from: OwnedReadHalf,
        mut to: OwnedWriteHalf,
        conn: Arc<Conn>,
        mut killed: watch::Receiver<bool>,
        protocol: Protocol,
    ) {
        let mut buf = Vec::new();
        while read(&mut from, &mut buf, &mut killed).await.is_some() {
            if protocol == Protocol::Postgres {
                if to.write_all(&buf).await.is_err() {
                    break;
                }
                buf.clear();
                continue;
            }
            while let Some(packet) = take_frame(&mut buf, protocol) {
                let payload = &packet[4..];
                // COM_STMT_PREPARE, COM_STMT_EXECUTE
                let prepare = payload.first() == Some(&0x16);
                let execute = payload.first() == Some(&0x17);
                let sprung = conn.shared.spring(|trap| match trap {
                    Trap::MyCutAfterExecute | Trap::MySwallowExecute => execute,
                    Trap::MySwallowPrepare => prepare,
                    Trap::PgCutAfterCommit | Trap::PgHoldAnswer => false,
                });
                match sprung {
                    Some(Trap::MySwallowExecute | Trap::MySwallowPrepare) => {
                        let _ = conn.kill.send(true);
                        return;
                    }
                    // Before the packet goes: its answer may come at once.
                    Some(_) => conn.cut_on_reply.store(true, Ordering::SeqCst),
                    None => {}
                }
                if to.write_all(&packet).await.is_err() {
                    let _ = conn.kill.send(true);
                    return;
                }
            }
        }
        // The client went away: so does the server's connection.
        let _ = conn.kill.send(true);
    }

    /// Server to client. PostgreSQL messages are looked at for the traps set on the server's
    /// side.
    async fn downstream_pump(
        mut from: OwnedReadHalf,
        mut to: OwnedWriteHalf,
        conn: Arc<Conn>,
        mut killed: watch::Receiver<bool>,
        protocol: Protocol,
    ) {
        let mut buf = Vec::new();
        let mut swallowing: Option<Trap> = None;
        while read(&mut from, &mut buf, &mut killed).await.is_some() {
            if conn.cut_on_reply.load(Ordering::SeqCst) {
                let _ = conn.kill.send(true);
                return;
            }
            if protocol == Protocol::Mysql {
                if to.write_all(&buf).await.is_err() {
                    break;
                }
                buf.clear();
                continue;
            }
            while let Some(message) = take_frame(&mut buf, protocol) {
                let kind = message[0];
                if swallowing.is_none() && kind == b'C' {
                    swallowing = conn.shared.spring(|trap| matches!(trap, Trap::PgCutAfterCommit | Trap::PgHoldAnswer));
                }
                match swallowing {
                    None => {
                        if to.write_all(&message).await.is_err() {
                            let _ = conn.kill.send(true);
                            return;
                        }
                    }
                    // ReadyForQuery: the statement's transaction is over.
                    Some(Trap::PgCutAfterCommit) if kind == b'Z' => {
                        let _ = conn.kill.send(true);
                        return;
                    }
                    Some(_) => {}
                }
            }
        }
        let _ = conn.kill.send(true);
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use std::str::FromStr as _;

    use session_core::PostgresStore;
    use sqlx::postgres::PgConnectOptions;

    use super::proxy::{Protocol, Proxy, Trap};
    use super::*;

    const VAR: &str = "SESSION_KIT_POSTGRES_URL";

    fn pg_url() -> String {
        url(VAR, "postgres://postgres@127.0.0.1:5432/test")
    }

    async fn direct(url: &str) -> sqlx::PgPool {
        sqlx::PgPool::connect(url).await.unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {VAR}={url}: {e}"))
    }

    fn drop_tables(url: &str, (sessions, entries): &(String, String)) -> DropTables {
        // A failed test may leave a transaction of its own holding the tables: then they stay.
        let sql = format!("SET lock_timeout = '5s'; DROP TABLE IF EXISTS {entries}_moving, {entries}, {sessions}");
        let url = url.to_owned();
        DropTables(Some(Box::new(move || {
            block_on_own_runtime(async move {
                if let Ok(pool) = sqlx::PgPool::connect(&url).await {
                    let _ = sqlx::raw_sql(&sql).execute(&pool).await;
                }
            })
        })))
    }

    /// A store on this test's tables, connected directly.
    async fn store(url: &str, (sessions, entries): &(String, String)) -> PostgresStore {
        PostgresStore::builder(url).table_names(sessions, entries).open().await.expect("open")
    }

    /// A proxy in front of the server, and a store of one connection through it.
    async fn proxied(
        url: &str,
        (sessions, entries): &(String, String),
        statement_timeout: Duration,
    ) -> (Proxy, PostgresStore) {
        let options = PgConnectOptions::from_str(url).expect("the URL");
        let proxy = Proxy::start((options.get_host().to_owned(), options.get_port()), Protocol::Postgres).await;
        let store = PostgresStore::builder(&via(url, proxy.addr))
            .table_names(sessions, entries)
            .max_connections(1)
            .connect_timeout(Duration::from_millis(500))
            .statement_timeout(statement_timeout)
            .open()
            .await
            .expect("open through the proxy");
        (proxy, store)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn open_adds_last_active_to_tables_of_the_previous_release() {
        let url = pg_url();
        let tables = names();
        let _drop = drop_tables(&url, &tables);
        let (s, e) = &tables;
        let pool = direct(&url).await;
        let previous = format!(
            "CREATE TABLE {s} (store_key TEXT NOT NULL PRIMARY KEY, created_at BIGINT NOT NULL, \
             idle_deadline BIGINT, absolute_deadline BIGINT, expires_at BIGINT, remember_me BIGINT NOT NULL); \
             CREATE INDEX {s}_expires_at ON {s} (expires_at) WHERE expires_at IS NOT NULL; \
             CREATE TABLE {e} (store_key TEXT NOT NULL REFERENCES {s} (store_key) ON DELETE CASCADE \
             ON UPDATE CASCADE, field TEXT NOT NULL, value BYTEA NOT NULL, expires_at BIGINT, \
             PRIMARY KEY (store_key, field)); \
             CREATE INDEX {e}_expires_at ON {e} (expires_at) WHERE expires_at IS NOT NULL;"
        );
        sqlx::raw_sql(&previous).execute(&pool).await.expect("the previous schema");
        let old = key();
        sqlx::query(&format!(
            "INSERT INTO {s} (store_key, created_at, idle_deadline, absolute_deadline, expires_at, remember_me) \
             VALUES ($1, $2, NULL, NULL, NULL, 0)"
        ))
        .bind(old.as_str())
        .bind(i64::try_from(NOW.as_millis()).expect("millis"))
        .execute(&pool)
        .await
        .expect("an old session");
        sqlx::query(&format!("INSERT INTO {e} (store_key, field, value) VALUES ($1, 'a', '\\x01')"))
            .bind(old.as_str())
            .execute(&pool)
            .await
            .expect("an old entry");

        let store = store(&url, &tables).await;
        check_upgraded(&store, &old).await;
        // A second open (another app server) finds nothing to add.
        let again = PostgresStore::builder(&url).table_names(s, e).open().await.expect("open again");
        check_reopened(&again, &old).await;
    }

    /// Tables of the per-field layout as 0.2 before this release created them, holding
    /// [`old_layout`]'s sessions.
    async fn per_field_tables(url: &str, (s, e): &(String, String)) {
        let pool = direct(url).await;
        let schema = format!(
            "CREATE TABLE {s} (store_key TEXT NOT NULL PRIMARY KEY, created_at BIGINT NOT NULL, \
             idle_deadline BIGINT, absolute_deadline BIGINT, expires_at BIGINT, remember_me BIGINT NOT NULL, \
             last_active BIGINT, lifetime BIGINT); \
             CREATE INDEX {s}_expires_at ON {s} (expires_at) WHERE expires_at IS NOT NULL; \
             CREATE TABLE {e} (store_key TEXT NOT NULL REFERENCES {s} (store_key) ON DELETE CASCADE \
             ON UPDATE CASCADE, field TEXT NOT NULL, value BYTEA NOT NULL, expires_at BIGINT, \
             PRIMARY KEY (store_key, field)); \
             CREATE INDEX {e}_expires_at ON {e} (expires_at) WHERE expires_at IS NOT NULL;"
        );
        sqlx::raw_sql(&schema).execute(&pool).await.expect("the per-field schema");
        insert_old_layout!(sqlx::Postgres, pool, s, e);
        pool.close().await;
    }

    async fn check_moved(store: &PostgresStore, (s, e): &(String, String)) {
        old_layout::check(store, "postgres").await;
        for table in [e.clone(), format!("{e}_moving")] {
            let (found,): (bool,) = sqlx::query_as("SELECT to_regclass($1) IS NOT NULL")
                .bind(&table)
                .fetch_one(store.pool())
                .await
                .expect("look");
            assert!(!found, "{table} is gone");
        }
        let count = format!("SELECT COUNT(*) FROM {s} WHERE entries_expire_at IS NOT NULL");
        old_layout::check_pruned(store, || async {
            let (n,): (i64,) = sqlx::query_as(&count).fetch_one(store.pool()).await.expect("count");
            n
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn open_moves_the_fields_of_the_per_field_layout_into_their_sessions() {
        let url = pg_url();
        let tables = names();
        let _drop = drop_tables(&url, &tables);
        per_field_tables(&url, &tables).await;
        check_moved(&store(&url, &tables).await, &tables).await;
    }

    /// A move stopped after the table was renamed and the columns added, with an entries table
    /// that a process of the earlier release created again and wrote some sessions' fields to:
    /// the next open moves what is in both.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_interrupted_move_goes_on_at_the_next_open() {
        let url = pg_url();
        let tables = names();
        let _drop = drop_tables(&url, &tables);
        per_field_tables(&url, &tables).await;
        let (s, e) = &tables;
        let sql = format!(
            "ALTER TABLE {e} RENAME TO {e}_moving; \
             ALTER TABLE {s} ADD COLUMN entries JSONB NOT NULL DEFAULT '{{}}', ADD COLUMN entries_expire_at BIGINT; \
             CREATE TABLE {e} (store_key TEXT NOT NULL, field TEXT NOT NULL, value BYTEA NOT NULL, \
             expires_at BIGINT, PRIMARY KEY (store_key, field)); \
             INSERT INTO {e} SELECT * FROM {e}_moving WHERE store_key >= '{k}'; \
             DELETE FROM {e}_moving WHERE store_key >= '{k}';",
            k = old_layout::key(1000),
        );
        sqlx::raw_sql(&sql).execute(&direct(&url).await).await.expect("half a move");
        check_moved(&store(&url, &tables).await, &tables).await;
    }

    /// App servers starting at once take turns: every field is moved, once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stores_opening_at_once_move_the_fields_once() {
        let url = pg_url();
        let tables = names();
        let _drop = drop_tables(&url, &tables);
        per_field_tables(&url, &tables).await;
        let (a, b) = tokio::join!(store(&url, &tables), store(&url, &tables));
        check_moved(&a, &tables).await;
        drop(b);
    }

    /// A statement waiting for a row lock that is not released ends at the statement timeout,
    /// definitely failed: the server cancelled it, so the change is not applied.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_statement_timeout_ends_a_wait_for_a_locked_row() {
        let url = pg_url();
        let tables = names();
        let _drop = drop_tables(&url, &tables);
        let store = PostgresStore::builder(&url)
            .table_names(&tables.0, &tables.1)
            .statement_timeout(Duration::from_millis(300))
            .open()
            .await
            .expect("open");
        let (limit,): (String,) =
            sqlx::query_as("SHOW statement_timeout").fetch_one(store.pool()).await.expect("the session's limit");
        assert_eq!(limit, "300ms");
        let k = key();
        store.create(&k, &record(), NOW).await.expect("create");
        let pool = direct(&url).await;
        let mut locker = pool.begin().await.expect("begin");
        sqlx::query(&format!("SELECT 1 FROM {} WHERE store_key = $1 FOR UPDATE", tables.0))
            .bind(k.as_str())
            .fetch_all(&mut *locker)
            .await
            .expect("lock the session row");
        let err = bounded("an apply behind a locked row", store.apply(&k, &change(), NOW)).await.expect_err("locked");
        assert!(matches!(err, StoreError::Backend { .. }), "a definite failure: {err:?}");
        let code = sqlx_source(&err).and_then(sqlx::Error::as_database_error).and_then(|db| db.code());
        assert_eq!(code.as_deref(), Some("57014"), "cancelled by the statement timeout: {err:?}");
        locker.rollback().await.expect("release the row");
        assert_record(store.load(&k, NOW).await.expect("load"), &record(), "the session the apply did not change");
    }

    /// With every connection of the pool busy, an operation fails after the acquire timeout.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_busy_pool_fails_after_the_acquire_timeout() {
        let url = pg_url();
        let tables = names();
        let _drop = drop_tables(&url, &tables);
        let store = PostgresStore::builder(&url)
            .table_names(&tables.0, &tables.1)
            .max_connections(1)
            .acquire_timeout(Duration::from_millis(200))
            .statement_timeout(Duration::from_secs(60))
            .open()
            .await
            .expect("open");
        let k = key();
        store.create(&k, &record(), NOW).await.expect("create");
        let pool = direct(&url).await;
        let mut locker = pool.begin().await.expect("begin");
        sqlx::query(&format!("SELECT 1 FROM {} WHERE store_key = $1 FOR UPDATE", tables.0))
            .bind(k.as_str())
            .fetch_all(&mut *locker)
            .await
            .expect("lock the session row");
        // This apply takes the pool's one connection and waits for the row.
        let blocked = tokio::spawn({
            let store = store.clone();
            async move { store.apply(&k, &change(), NOW).await }
        });
        bounded("the apply waiting for the row", async {
            let waiting = format!(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%{}%'",
                tables.0
            );
            loop {
                let (n,): (i64,) = sqlx::query_as(&waiting).fetch_one(&pool).await.expect("pg_stat_activity");
                if n > 0 {
                    break;
                }
                tokio::task::yield_now().await;
            }
        })
        .await;
        let err = bounded("a load with no connection free", store.load(&key(), NOW)).await.expect_err("pool busy");
        assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
        assert!(matches!(sqlx_source(&err), Some(sqlx::Error::PoolTimedOut)), "{err:?}");
        locker.rollback().await.expect("release the row");
        let applied = bounded("the apply once the row is free", blocked).await.expect("task").expect("apply");
        assert_eq!(applied, Applied::Done);
    }

    /// A server that accepts the connection and never answers: opening fails at the connect
    /// timeout. (No server needed.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_connect_timeout_bounds_a_silent_server() {
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = silent.local_addr().expect("address");
        let _held = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = silent.accept().await {
                held.push(socket);
            }
        });
        let opening = PostgresStore::builder(&format!("postgres://nobody@{addr}/nothing"))
            .connect_timeout(Duration::from_millis(200))
            .open();
        let err = bounded("open against a silent server", opening).await.expect_err("no answer");
        assert!(matches!(sqlx_source(&err), Some(sqlx::Error::PoolTimedOut)), "{err:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn builder_settings_are_checked() {
        let url = pg_url();
        for builder in [
            PostgresStore::builder(&url).statement_timeout(Duration::ZERO),
            PostgresStore::builder(&url).connect_timeout(Duration::ZERO),
            PostgresStore::builder(&url).acquire_timeout(Duration::ZERO),
            PostgresStore::builder(&url).max_connections(0),
            PostgresStore::builder(&url).table_names("x;y", "z"),
            PostgresStore::builder("postgres://[::1"),
        ] {
            let shown = format!("{builder:?}");
            let opened = builder.open().await;
            assert!(matches!(opened, Err(StoreError::Config(_))), "{shown}: {opened:?}");
        }
        let secret = format!("{:?}", PostgresStore::builder("postgres://app:hunter2@db/app"));
        assert!(!secret.contains("hunter2"), "the builder shows the password: {secret}");
    }

    /// The server committed the write, the answer never reached the store: outcome unknown,
    /// and the record is there, whole.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_whose_answer_is_lost_is_outcome_unknown() {
        let url = pg_url();
        let tables = names();
        let _drop = drop_tables(&url, &tables);
        let direct = store(&url, &tables).await;
        let (proxy, store) = proxied(&url, &tables, Duration::from_secs(5)).await;
        let k = key();
        proxy.arm(Trap::PgCutAfterCommit);
        let err = bounded("a create whose answer is lost", store.create(&k, &record(), NOW)).await.expect_err("cut");
        assert!(proxy.sprung(), "the proxy never saw the statement complete");
        assert!(err.is_outcome_unknown(), "{err:?}");
        assert_record(direct.load(&k, NOW).await.expect("load"), &record(), "the record the lost create committed");
    }

    /// The answer never comes and the connection stays open: the store gives up after the
    /// statement timeout and a second, with an unknown outcome; the change is there, whole.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_with_no_answer_in_time_is_outcome_unknown() {
        let url = pg_url();
        let tables = names();
        let _drop = drop_tables(&url, &tables);
        let direct = store(&url, &tables).await;
        let (proxy, store) = proxied(&url, &tables, Duration::from_millis(200)).await;
        let k = key();
        direct.create(&k, &record(), NOW).await.expect("create");
        proxy.arm(Trap::PgHoldAnswer);
        let err = bounded("an apply with no answer", store.apply(&k, &change(), NOW)).await.expect_err("held");
        assert!(proxy.sprung(), "the proxy never saw the statement complete");
        assert!(err.is_outcome_unknown(), "{err:?}");
        let mut changed = record();
        changed.apply(&change());
        assert_record(direct.load(&k, NOW).await.expect("load"), &changed, "the change nobody heard of");
    }

    /// A rename whose answer is lost: outcome unknown, and the session is whole under one of
    /// the two keys (here the new one: the server committed the move).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_rename_whose_answer_is_lost_leaves_the_session_whole_under_one_key() {
        let url = pg_url();
        let tables = names();
        let _drop = drop_tables(&url, &tables);
        let direct = store(&url, &tables).await;
        let (proxy, store) = proxied(&url, &tables, Duration::from_secs(5)).await;
        let (from, to) = (key(), key());
        direct.create(&from, &record(), NOW).await.expect("create");
        proxy.arm(Trap::PgCutAfterCommit);
        let err = bounded("a rename whose answer is lost", store.rename(&from, &to, NOW)).await.expect_err("cut");
        assert!(proxy.sprung(), "the proxy never saw the statement complete");
        assert!(err.is_outcome_unknown(), "{err:?}");
        assert_eq!(direct.load(&from, NOW).await.expect("load"), None, "the old key is dead");
        assert_record(direct.load(&to, NOW).await.expect("load"), &record(), "the session under the new key");
    }

    /// A connection the server ended while it sat idle in the pool is pinged before its next
    /// use, found broken and replaced: the operation succeeds. (A connection in steady use is
    /// not pinged; the one-second wait is what makes this one idle.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_idle_connection_the_server_ended_is_replaced_before_use() {
        let url = pg_url();
        let tables = names();
        let _drop = drop_tables(&url, &tables);
        let store = PostgresStore::builder(&url).table_names(&tables.0, &tables.1).max_connections(1).open().await;
        let store = store.expect("open");
        let k = key();
        store.create(&k, &record(), NOW).await.expect("create");
        let (pid,): (i32,) = sqlx::query_as("SELECT pg_backend_pid()").fetch_one(store.pool()).await.expect("pid");
        let (ended,): (bool,) = sqlx::query_as("SELECT pg_terminate_backend($1)")
            .bind(pid)
            .fetch_one(&direct(&url).await)
            .await
            .expect("end the store's connection");
        assert!(ended);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_record(store.load(&k, NOW).await.expect("a load on a new connection"), &record(), "after the end");
        let (new,): (i32,) = sqlx::query_as("SELECT pg_backend_pid()").fetch_one(store.pool()).await.expect("pid");
        assert_ne!(new, pid, "the ended connection was replaced");
    }

    /// Connections opened on a runtime that has ended since fail: a load drops them and reads
    /// on a new one; a write on one is `OutcomeUnknown` (tokio may have sent it), never a
    /// definite failure, and once each is gone writes go through.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn connections_of_an_ended_runtime_are_replaced() {
        let url = pg_url();
        let tables = names();
        let _drop = drop_tables(&url, &tables);
        let (u, t) = (url.clone(), tables.clone());
        let store = on_ended_runtime(async move {
            let store =
                PostgresStore::builder(&u).table_names(&t.0, &t.1).max_connections(2).open().await.expect("open");
            in_use_then_idle(&store).await;
            store
        });
        assert_eq!(store.load(&key(), NOW).await.expect("a load after the runtime ended"), None);
        // A fresh key each time: a create whose outcome is unknown may have been stored.
        let mut created = None;
        for _ in 0..=2 {
            let k = key();
            match store.create(&k, &record(), NOW).await {
                Ok(answer) => {
                    created = Some((k, answer));
                    break;
                }
                Err(e) => assert!(e.is_outcome_unknown(), "a write on a dead connection: {e:?}"),
            }
        }
        let (k, answer) = created.expect("a create once the two connections of the ended runtime are gone");
        assert_eq!(answer, Created::Stored);
        assert_record(store.load(&k, NOW).await.expect("a load"), &record(), "after the runtime ended");
    }

    /// A server that cannot be reached at all: a definite failure, nothing written.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_to_an_unreachable_server_is_a_definite_failure() {
        let url = pg_url();
        let tables = names();
        let _drop = drop_tables(&url, &tables);
        let direct = store(&url, &tables).await;
        let (proxy, store) = proxied(&url, &tables, Duration::from_secs(5)).await;
        proxy.refuse();
        let k = key();
        let err = bounded("a create to nowhere", store.create(&k, &record(), NOW)).await.expect_err("refused");
        assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
        assert_eq!(direct.load(&k, NOW).await.expect("load"), None);
    }
}

#[cfg(feature = "mysql")]
mod mysql {
    use std::str::FromStr as _;

    use session_core::MysqlStore;
    use sqlx::mysql::MySqlConnectOptions;
    use sqlx::{ConnectOptions as _, Executor as _};

    use super::proxy::{Protocol, Proxy, Trap};
    use super::*;

    const VAR: &str = "SESSION_KIT_MYSQL_URL";

    /// The URL, its database created if the server is fresh.
    async fn my_url() -> String {
        let url = url(VAR, "mysql://root@127.0.0.1:3306/session_kit_test");
        let options = MySqlConnectOptions::from_str(&url).unwrap_or_else(|e| panic!("{VAR}={url}: {e}"));
        if let Some(database) = options.get_database().map(str::to_owned) {
            assert!(database.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "database name {database:?}");
            let mut conn = options
                .database("information_schema")
                .connect()
                .await
                .unwrap_or_else(|e| panic!("cannot reach MySQL at {VAR}={url}: {e}"));
            conn.execute(format!("CREATE DATABASE IF NOT EXISTS {database}").as_str()).await.expect("database");
        }
        url
    }

    async fn direct(url: &str) -> sqlx::MySqlPool {
        sqlx::MySqlPool::connect(url).await.unwrap_or_else(|e| panic!("cannot reach MySQL at {VAR}={url}: {e}"))
    }

    fn drop_tables(url: &str, (sessions, entries): &(String, String)) -> DropTables {
        // A failed test may leave a transaction of its own holding the tables: then they stay.
        let sql =
            format!("SET SESSION lock_wait_timeout = 5; DROP TABLE IF EXISTS {entries}_moving, {entries}, {sessions}");
        let url = url.to_owned();
        DropTables(Some(Box::new(move || {
            block_on_own_runtime(async move {
                if let Ok(pool) = sqlx::MySqlPool::connect(&url).await {
                    let _ = sqlx::raw_sql(&sql).execute(&pool).await;
                }
            })
        })))
    }

    async fn store(url: &str, (sessions, entries): &(String, String)) -> MysqlStore {
        MysqlStore::builder(url).table_names(sessions, entries).open().await.expect("open")
    }

    /// Connections opened on a runtime that has ended since fail: a load drops them and reads
    /// on a new one; a write on one is `OutcomeUnknown` (tokio may have sent it), never a
    /// definite failure, and once each is gone writes go through.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn connections_of_an_ended_runtime_are_replaced() {
        let url = my_url().await;
        let tables = names();
        let _drop = drop_tables(&url, &tables);
        let (u, t) = (url.clone(), tables.clone());
        let store = on_ended_runtime(async move {
            let store = MysqlStore::builder(&u).table_names(&t.0, &t.1).max_connections(2).open().await.expect("open");
            in_use_then_idle(&store).await;
            store
        });
        assert_eq!(store.load(&key(), NOW).await.expect("a load after the runtime ended"), None);
        // A fresh key each time: a create whose outcome is unknown may have been stored.
        let mut created = None;
        for _ in 0..=2 {
            let k = key();
            match store.create(&k, &record(), NOW).await {
                Ok(answer) => {
                    created = Some((k, answer));
                    break;
                }
                Err(e) => assert!(e.is_outcome_unknown(), "a write on a dead connection: {e:?}"),
            }
        }
        let (k, answer) = created.expect("a create once the two connections of the ended runtime are gone");
        assert_eq!(answer, Created::Stored);
        assert_record(store.load(&k, NOW).await.expect("a load"), &record(), "after the runtime ended");
    }

    async fn proxied(url: &str, (sessions, entries): &(String, String)) -> (Proxy, MysqlStore) {
        let options = MySqlConnectOptions::from_str(url).expect("the URL");
        let proxy = Proxy::start((options.get_host().to_owned(), options.get_port()), Protocol::Mysql).await;
        let store = MysqlStore::builder(&via(url, proxy.addr))
            .table_names(sessions, entries)
            .max_connections(1)
            .connect_timeout(Duration::from_millis(500))
            .open()
            .await
            .expect("open through the proxy");
        (proxy, store)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn open_adds_last_active_to_tables_of_the_previous_release() {
        let url = my_url().await;
        let tables = names();
        let _drop = drop_tables(&url, &tables);
        let (s, e) = &tables;
        let pool = direct(&url).await;
        let text = "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL";
        let previous = [
            format!(
                "CREATE TABLE {s} (store_key VARCHAR(64) {text} PRIMARY KEY, created_at BIGINT NOT NULL, \
                 idle_deadline BIGINT NULL, absolute_deadline BIGINT NULL, expires_at BIGINT NULL, \
                 remember_me BIGINT NOT NULL, INDEX {s}_expires_at (expires_at)) ENGINE = InnoDB"
            ),
            format!(
                "CREATE TABLE {e} (store_key VARCHAR(64) {text}, field VARCHAR(255) {text}, \
                 value LONGBLOB NOT NULL, expires_at BIGINT NULL, PRIMARY KEY (store_key, field), \
                 INDEX {e}_expires_at (expires_at), FOREIGN KEY (store_key) REFERENCES {s} (store_key) \
                 ON DELETE CASCADE ON UPDATE CASCADE) ENGINE = InnoDB"
            ),
        ];
        for sql in previous {
            sqlx::raw_sql(&sql).execute(&pool).await.expect("the previous schema");
        }
        let old = key();
        sqlx::query(&format!(
            "INSERT INTO {s} (store_key, created_at, idle_deadline, absolute_deadline, expires_at, remember_me) \
             VALUES (?, ?, NULL, NULL, NULL, 0)"
        ))
        .bind(old.as_str())
        .bind(i64::try_from(NOW.as_millis()).expect("millis"))
        .execute(&pool)
        .await
        .expect("an old session");
        sqlx::query(&format!("INSERT INTO {e} (store_key, field, value) VALUES (?, 'a', x'01')"))
            .bind(old.as_str())
            .execute(&pool)
            .await
            .expect("an old entry");

        let store = store(&url, &tables).await;
        check_upgraded(&store, &old).await;
        let again = MysqlStore::builder(&url).table_names(s, e).open().await.expect("open again");
        check_reopened(&again, &old).await;
    }

    /// Tables of the per-field layout as 0.2 before this release created them, holding
    /// [`old_layout`]'s sessions.
    async fn per_field_tables(url: &str, (s, e): &(String, String)) {
        let pool = direct(url).await;
        let text = "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL";
        for sql in [
            format!(
                "CREATE TABLE {s} (store_key VARCHAR(64) {text} PRIMARY KEY, created_at BIGINT NOT NULL, \
                 idle_deadline BIGINT NULL, absolute_deadline BIGINT NULL, expires_at BIGINT NULL, \
                 remember_me BIGINT NOT NULL, last_active BIGINT NULL, lifetime BIGINT NULL, \
                 INDEX {s}_expires_at (expires_at)) ENGINE = InnoDB"
            ),
            format!(
                "CREATE TABLE {e} (store_key VARCHAR(64) {text}, field VARCHAR(255) {text}, \
                 value LONGBLOB NOT NULL, expires_at BIGINT NULL, PRIMARY KEY (store_key, field), \
                 INDEX {e}_expires_at (expires_at), FOREIGN KEY (store_key) REFERENCES {s} (store_key) \
                 ON DELETE CASCADE ON UPDATE CASCADE) ENGINE = InnoDB"
            ),
        ] {
            sqlx::raw_sql(&sql).execute(&pool).await.expect("the per-field schema");
        }
        insert_old_layout!(sqlx::MySql, pool, s, e);
        pool.close().await;
    }

    async fn check_moved(store: &MysqlStore, (s, e): &(String, String)) {
        old_layout::check(store, "mysql").await;
        for table in [e.clone(), format!("{e}_moving")] {
            let (found,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?",
            )
            .bind(&table)
            .fetch_one(store.pool())
            .await
            .expect("look");
            assert_eq!(found, 0, "{table} is gone");
        }
        let count = format!("SELECT COUNT(*) FROM {s} WHERE entries_expire_at IS NOT NULL");
        old_layout::check_pruned(store, || async {
            let (n,): (i64,) = sqlx::query_as(&count).fetch_one(store.pool()).await.expect("count");
            n
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn open_moves_the_fields_of_the_per_field_layout_into_their_sessions() {
        let url = my_url().await;
        let tables = names();
        let _drop = drop_tables(&url, &tables);
        per_field_tables(&url, &tables).await;
        check_moved(&store(&url, &tables).await, &tables).await;
    }

    /// A move stopped after the table was renamed and the columns added, with an entries table
    /// that a process of the earlier release created again and wrote some sessions' fields to:
    /// the next open moves what is in both.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_interrupted_move_goes_on_at_the_next_open() {
        let url = my_url().await;
        let tables = names();
        let _drop = drop_tables(&url, &tables);
        per_field_tables(&url, &tables).await;
        let (s, e) = &tables;
        let k = old_layout::key(1000);
        let pool = direct(&url).await;
        for sql in [
            format!("ALTER TABLE {e} RENAME TO {e}_moving"),
            format!(
                "ALTER TABLE {s} ADD COLUMN entries LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL \
                 DEFAULT ('{{}}'), ADD COLUMN entries_expire_at BIGINT NULL"
            ),
            format!("CREATE TABLE {e} LIKE {e}_moving"),
            format!("INSERT INTO {e} SELECT * FROM {e}_moving WHERE store_key >= '{k}'"),
            format!("DELETE FROM {e}_moving WHERE store_key >= '{k}'"),
        ] {
            sqlx::raw_sql(&sql).execute(&pool).await.expect("half a move");
        }
        check_moved(&store(&url, &tables).await, &tables).await;
    }

    /// App servers starting at once take turns: every field is moved, once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stores_opening_at_once_move_the_fields_once() {
        let url = my_url().await;
        let tables = names();
        let _drop = drop_tables(&url, &tables);
        per_field_tables(&url, &tables).await;
        let (a, b) = tokio::join!(store(&url, &tables), store(&url, &tables));
        check_moved(&a, &tables).await;
        drop(b);
    }

    /// A change waiting for a row lock that is not released ends at the statement timeout (or
    /// the lock wait timeout, that in whole seconds), definitely failed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_statement_timeout_ends_a_wait_for_a_locked_row() {
        let url = my_url().await;
        let tables = names();
        let _drop = drop_tables(&url, &tables);
        let store = MysqlStore::builder(&url)
            .table_names(&tables.0, &tables.1)
            .statement_timeout(Duration::from_millis(300))
            .open()
            .await
            .expect("open");
        // What the store's connections were given: the lock waits in whole seconds, rounded up.
        let (rows, tables_locks): (u64, u64) =
            sqlx::query_as("SELECT @@SESSION.innodb_lock_wait_timeout, @@SESSION.lock_wait_timeout")
                .fetch_one(store.pool())
                .await
                .expect("the session's limits");
        assert_eq!((rows, tables_locks), (1, 1));
        let k = key();
        store.create(&k, &record(), NOW).await.expect("create");
        let pool = direct(&url).await;
        let mut locker = pool.begin().await.expect("begin");
        sqlx::query(&format!("SELECT 1 FROM {} WHERE store_key = ? FOR UPDATE", tables.0))
            .bind(k.as_str())
            .fetch_all(&mut *locker)
            .await
            .expect("lock the session row");
        let err = bounded("an apply behind a locked row", store.apply(&k, &change(), NOW)).await.expect_err("locked");
        assert!(matches!(err, StoreError::Backend { .. }), "a definite failure: {err:?}");
        let number = sqlx_source(&err)
            .and_then(sqlx::Error::as_database_error)
            .and_then(|db| db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>())
            .map(sqlx::mysql::MySqlDatabaseError::number);
        // MariaDB's statement limit (1969) comes first; MySQL's applies to reads only, so there
        // the lock wait timeout (1205) ends it.
        assert!(matches!(number, Some(1969 | 1205)), "stopped by a limit of the server: {err:?}");
        locker.rollback().await.expect("release the row");
        assert_record(store.load(&k, NOW).await.expect("load"), &record(), "the session the apply did not change");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_connect_timeout_bounds_a_silent_server() {
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = silent.local_addr().expect("address");
        let _held = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = silent.accept().await {
                held.push(socket);
            }
        });
        let opening = MysqlStore::builder(&format!("mysql://nobody@{addr}/nothing"))
            .connect_timeout(Duration::from_millis(200))
            .open();
        let err = bounded("open against a silent server", opening).await.expect_err("no answer");
        assert!(matches!(sqlx_source(&err), Some(sqlx::Error::PoolTimedOut)), "{err:?}");
    }

    /// The server ran the change (one statement in autocommit: committed it), the answer never
    /// reached the store: outcome unknown, and the change is there, whole.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_whose_answer_is_lost_is_outcome_unknown() {
        let url = my_url().await;
        let tables = names();
        let _drop = drop_tables(&url, &tables);
        let direct = store(&url, &tables).await;
        let (proxy, store) = proxied(&url, &tables).await;
        let k = key();
        direct.create(&k, &record(), NOW).await.expect("create");
        proxy.arm(Trap::MyCutAfterExecute);
        let err = bounded("an apply whose answer is lost", store.apply(&k, &change(), NOW)).await.expect_err("cut");
        assert!(proxy.sprung(), "the proxy never saw the statement");
        assert!(err.is_outcome_unknown(), "{err:?}");
        let mut changed = record();
        changed.apply(&change());
        assert_record(direct.load(&k, NOW).await.expect("load"), &changed, "the change whose answer was lost");
    }

    /// The statement was sent but never reached the server: the store cannot tell that case
    /// from the one above (outcome unknown), and nothing of the record is there.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_that_never_arrives_is_outcome_unknown() {
        let url = my_url().await;
        let tables = names();
        let _drop = drop_tables(&url, &tables);
        let direct = store(&url, &tables).await;
        let (proxy, store) = proxied(&url, &tables).await;
        let k = key();
        proxy.arm(Trap::MySwallowExecute);
        let err = bounded("a create that is lost", store.create(&k, &record(), NOW)).await.expect_err("cut");
        assert!(proxy.sprung(), "the proxy never saw the statement");
        assert!(err.is_outcome_unknown(), "{err:?}");
        assert_eq!(direct.load(&k, NOW).await.expect("load"), None, "no part of the lost create");
    }

    /// The connection breaks while the statement is prepared, before it is executed: nothing
    /// can have been written, a definite failure, and the record is as it was.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_cut_while_it_is_prepared_is_a_definite_failure() {
        let url = my_url().await;
        let tables = names();
        let _drop = drop_tables(&url, &tables);
        let direct = store(&url, &tables).await;
        let (proxy, store) = proxied(&url, &tables).await;
        let k = key();
        direct.create(&k, &record(), NOW).await.expect("create");
        proxy.arm(Trap::MySwallowPrepare);
        let err = bounded("an apply cut while prepared", store.apply(&k, &change(), NOW)).await.expect_err("cut");
        assert!(proxy.sprung(), "the proxy never saw a statement prepared");
        assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
        assert_record(direct.load(&k, NOW).await.expect("load"), &record(), "the record the cut apply left alone");
    }

    /// A rename whose answer is lost: outcome unknown, and the session is whole under one of
    /// the two keys (here the new one: the server committed the move).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_rename_whose_answer_is_lost_leaves_the_session_whole_under_one_key() {
        let url = my_url().await;
        let tables = names();
        let _drop = drop_tables(&url, &tables);
        let direct = store(&url, &tables).await;
        let (proxy, store) = proxied(&url, &tables).await;
        let (from, to) = (key(), key());
        direct.create(&from, &record(), NOW).await.expect("create");
        proxy.arm(Trap::MyCutAfterExecute);
        let err = bounded("a rename whose answer is lost", store.rename(&from, &to, NOW)).await.expect_err("cut");
        assert!(proxy.sprung(), "the proxy never saw the statement");
        assert!(err.is_outcome_unknown(), "{err:?}");
        assert_eq!(direct.load(&from, NOW).await.expect("load"), None, "the old key is dead");
        assert_record(direct.load(&to, NOW).await.expect("load"), &record(), "the session under the new key");
    }

    /// A connection the server ended while it sat idle in the pool is pinged before its next
    /// use, found broken and replaced: the operation succeeds. (A connection in steady use is
    /// not pinged; the one-second wait is what makes this one idle.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_idle_connection_the_server_ended_is_replaced_before_use() {
        let url = my_url().await;
        let tables = names();
        let _drop = drop_tables(&url, &tables);
        let store = MysqlStore::builder(&url).table_names(&tables.0, &tables.1).max_connections(1).open().await;
        let store = store.expect("open");
        let k = key();
        store.create(&k, &record(), NOW).await.expect("create");
        let (id,): (u64,) = sqlx::query_as("SELECT CONNECTION_ID()").fetch_one(store.pool()).await.expect("id");
        direct(&url).await.execute(format!("KILL {id}").as_str()).await.expect("end the store's connection");
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_record(store.load(&k, NOW).await.expect("a load on a new connection"), &record(), "after the end");
        let (new,): (u64,) = sqlx::query_as("SELECT CONNECTION_ID()").fetch_one(store.pool()).await.expect("id");
        assert_ne!(new, id, "the ended connection was replaced");
    }

    /// A server that cannot be reached at all: a definite failure, nothing written.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_to_an_unreachable_server_is_a_definite_failure() {
        let url = my_url().await;
        let tables = names();
        let _drop = drop_tables(&url, &tables);
        let direct = store(&url, &tables).await;
        let (proxy, store) = proxied(&url, &tables).await;
        proxy.refuse();
        let k = key();
        let err = bounded("a create to nowhere", store.create(&k, &record(), NOW)).await.expect_err("refused");
        assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
        assert_eq!(direct.load(&k, NOW).await.expect("load"), None);
    }
}
