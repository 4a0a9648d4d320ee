//! The SQLite dialect and [`SqliteStore`].

use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use tokio::sync::Semaphore;

use sqlx::pool::PoolConnection;
use sqlx::Executor as _;
use tokio::sync::OwnedSemaphorePermit;

use super::{
    arguments, decode_rows, move_old_entries, statements, Added, Answer, Col, Dialect, Kind, Rendered, SqlStore,
    Statement, Tables, Upgrading, Value, ADDED_COLUMNS,
};
use crate::error::StoreError;
use crate::record::Change;
use crate::time::Timestamp;

const NAME: &str = "sqlite";

/// How long a write waits for another process's write transaction before failing, by default.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How many connections a file database gets, by default. A few suffice: SQLite has one
/// writer at a time, and every connection must reread the pages another one changed, so more
/// connections mean colder caches (measured here: an apply took 95 µs with 4 connections,
/// 135 µs with 10).
const MAX_CONNECTIONS: u32 = 4;

/// Sessions in an SQLite database, through [`sqlx`]: the embedded persistent store.
///
/// Sessions survive restarts; several processes may share one database file. A session is
/// one row, and a change merges the fields it sets or removes into that row on the database
/// side, so concurrent requests changing different fields of one session both win; expired
/// sessions are found through an index. Cheap to clone (clones share the pool).
///
/// ```no_run
/// # async fn demo() -> Result<(), session_core::StoreError> {
/// // Creates the file (readable by its owner only) and the table if needed; WAL journal,
/// // 5 s busy timeout.
/// let store = session_core::SqliteStore::open("sessions.db").await?;
///
/// // The same with other limits.
/// use std::time::Duration;
/// let store = session_core::SqliteStore::builder("sessions.db")
///     .busy_timeout(Duration::from_secs(2))
///     .acquire_timeout(Duration::from_secs(1))
///     .open()
///     .await?;
/// # Ok(()) }
/// ```
///
/// Every operation is one statement, so one call to sqlx's worker thread: `load` one
/// `SELECT` of one row; `apply` one `UPDATE` (its `WHERE` checks that the session is live, so
/// a change to a destroyed or expired session writes nothing); `create` one `INSERT`,
/// `rename` one `UPDATE` of the key and `delete` one `DELETE` (a create or rename onto the key
/// of an expired session first clears it: one more); an unchanged session costs the `SELECT`
/// only. `collect_expired` is one `DELETE` per thousand expired sessions, then one `UPDATE`
/// per session holding a field whose own deadline passed; `count_live` one `SELECT COUNT(*)`,
/// which reads every live session's row. The table (`session_kit_sessions` by default) holds
/// milliseconds since the epoch and the fields as a JSON object of their base64-encoded bytes.
///
/// Opening a database written by session-kit 0.2 (a second table, `session_kit_entries`, with a
/// row per field) moves those rows into their sessions and drops that table: sessions stored
/// before are kept. Stop processes of the earlier release first: once the table is gone,
/// their requests fail.
///
/// A database file the store creates, and the `-wal` and `-shm` files SQLite creates beside
/// it, are readable and writable by their owner only (on Unix; sessions are credentials). A
/// file that already exists keeps its permissions.
#[derive(Clone)]
pub struct SqliteStore {
    inner: SqlStore<Sqlite>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("tables", &self.inner.tables).finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens the database at `path_or_url` (a file path, or an `sqlite:` URL such as
    /// `sqlite:sessions.db?mode=rwc` or `sqlite::memory:`), creating the file and the table
    /// if needed, with the defaults of [`builder`](Self::builder).
    pub async fn open(path_or_url: &str) -> Result<Self, StoreError> {
        Self::builder(path_or_url).open().await
    }

    /// Settings for opening the database at `path_or_url` (as in [`open`](Self::open)).
    ///
    /// A file database gets the WAL journal (readers never wait for the writer),
    /// `synchronous = NORMAL` (a power loss may lose the last writes, a crash of the process
    /// none), and by default a busy timeout of 5 s for writers of other processes, a pool of
    /// 4 connections and an acquire timeout of 5 s. An in-memory database lives in a single
    /// connection, kept open as long as the store. For settings the builder lacks, build the
    /// pool yourself and use [`new`](Self::new).
    pub fn builder(path_or_url: &str) -> SqliteStoreBuilder {
        SqliteStoreBuilder {
            path_or_url: path_or_url.to_owned(),
            busy_timeout: BUSY_TIMEOUT,
            acquire_timeout: super::ACQUIRE_TIMEOUT,
            max_connections: MAX_CONNECTIONS,
            tables: None,
        }
    }

    /// A store on a pool you configured. Touches nothing: call [`migrate`](Self::migrate)
    /// once to create the table.
    ///
    /// The pool's connections should have a busy timeout (sqlx sets 5 s by default) and, for
    /// `:memory:` databases, be a single connection that is never closed. The pool's acquire
    /// timeout applies (sqlx's default is 30 s).
    pub fn new(pool: SqlitePool) -> Self {
        Self {
            inner: SqlStore {
                dialect: Sqlite { pool, writes: Arc::new(Semaphore::new(1)) },
                tables: Tables::default(),
            },
        }
    }

    /// Uses the table `sessions` instead of `session_kit_sessions`, and `entries` as the name
    /// of the table session-kit 0.2 kept fields in (moved into `sessions` by
    /// [`migrate`](Self::migrate)) instead of `session_kit_entries`. Names must be plain
    /// identifiers (`A-Z a-z 0-9 _`, up to 48).
    pub fn with_table_names(mut self, sessions: &str, entries: &str) -> Result<Self, StoreError> {
        self.inner.tables = Tables::new(sessions, entries)?;
        Ok(self)
    }

    /// Creates the table and its indexes if they do not exist (`CREATE ... IF NOT EXISTS`, in
    /// one transaction), adds the columns tables of an earlier release lack, and moves the
    /// sessions of session-kit 0.2 into the current layout (see [`SqliteStore`]).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.inner.migrate().await
    }

    /// The connection pool.
    pub fn pool(&self) -> &SqlitePool {
        &self.inner.dialect.pool
    }
}

/// How to open a [`SqliteStore`]: from [`SqliteStore::builder`], finished by
/// [`open`](Self::open).
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `open` is called"]
pub struct SqliteStoreBuilder {
    path_or_url: String,
    busy_timeout: Duration,
    acquire_timeout: Duration,
    max_connections: u32,
    tables: Option<(String, String)>,
}

impl SqliteStoreBuilder {
    /// How long a write waits for the write lock another process holds before it fails
    /// (default 5 s). Writers of this store queue among themselves without it. Zero fails at
    /// once.
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// How long an operation waits for a connection of the pool before it fails
    /// (default 5 s; must not be zero).
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// How many connections a file database may have open (default 4; at least 1). An
    /// in-memory database always has one.
    pub fn max_connections(mut self, max: u32) -> Self {
        self.max_connections = max;
        self
    }

    /// Uses the table `sessions` instead of `session_kit_sessions`, and `entries` as the name
    /// of the table session-kit 0.2 kept fields in instead of `session_kit_entries`.
    /// Names must be plain identifiers (`A-Z a-z 0-9 _`, up to 48): [`open`](Self::open)
    /// checks them.
    pub fn table_names(mut self, sessions: &str, entries: &str) -> Self {
        self.tables = Some((sessions.to_owned(), entries.to_owned()));
        self
    }

    /// Opens the database, creating the file and the table if needed (or upgrading them).
    pub async fn open(self) -> Result<SqliteStore, StoreError> {
        let tables = match &self.tables {
            Some((sessions, entries)) => Tables::new(sessions, entries)?,
            None => Tables::default(),
        };
        let acquire_timeout = super::positive(NAME, "acquire timeout", self.acquire_timeout)?;
        let max_connections = super::pool_size(NAME, self.max_connections)?;
        let url = &self.path_or_url;
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let options = if url.starts_with("sqlite:") {
            SqliteConnectOptions::from_str(url)
                .map_err(|e| StoreError::Config(format!("{NAME} store: the database URL: {e}")))?
        } else {
            SqliteConnectOptions::new().filename(url)
        };
        let options = options.create_if_missing(true).foreign_keys(true).busy_timeout(self.busy_timeout);
        let pool = if in_memory {
            // Every connection to `:memory:` opens a database of its own, and the last one to
            // close takes the data with it: one connection, never recycled.
            SqlitePoolOptions::new().max_connections(1).min_connections(1).idle_timeout(None).max_lifetime(None)
        } else {
            SqlitePoolOptions::new().max_connections(max_connections)
        };
        let options = if in_memory {
            options
        } else {
            create_private(options.get_filename())?;
            options.journal_mode(SqliteJournalMode::Wal).synchronous(SqliteSynchronous::Normal)
        };
        // No ping before each use (sqlx's default): it is a call to the connection's worker
        // thread, as long as the statement itself, and a connection to a file does not break.
        let pool = pool.test_before_acquire(false).acquire_timeout(acquire_timeout);
        // A connection switches the database to WAL as it opens, which needs it to itself for
        // an instant: SQLite answers "busy" at once, without its busy handler, while another
        // process opening it too holds a lock. Every step of opening can be done again, so the
        // whole open is, for as long as the busy timeout.
        let deadline = tokio::time::Instant::now() + self.busy_timeout;
        loop {
            let attempt = async {
                let pool =
                    pool.clone().connect_with(options.clone()).await.map_err(|e| StoreError::backend(NAME, e))?;
                let mut store = SqliteStore::new(pool);
                store.inner.tables = tables.clone();
                store.migrate().await.map(|()| store)
            };
            match attempt.await {
                Err(e) if is_busy(&e) && tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(BUSY_RETRY).await;
                }
                done => return done,
            }
        }
    }
}

/// How long [`SqliteStoreBuilder::open`] waits before trying again when the database is busy.
const BUSY_RETRY: Duration = Duration::from_millis(20);

/// Whether `e` is SQLite's "database is locked" (`SQLITE_BUSY`, with any extended code).
fn is_busy(e: &StoreError) -> bool {
    let StoreError::Backend { source, .. } = e else { return false };
    let code = source.downcast_ref::<sqlx::Error>().and_then(sqlx::Error::as_database_error).and_then(|db| db.code());
    code.and_then(|code| code.parse::<i32>().ok()).is_some_and(|code| code & 0xff == 5)
}

/// Creates the database file at `path`, readable and writable by its owner only, unless it
/// exists. SQLite gives the `-wal` and `-shm` files the database file's permissions, so they
/// are private too; left to SQLite, all three would be readable by anyone (0644 under the
/// usual umask).
#[cfg(unix)]
fn create_private(path: &std::path::Path) -> Result<(), StoreError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    // An empty file is an empty database to SQLite.
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::io(format!("creating the SQLite database {}", path.display()), e)),
    }
}

#[cfg(not(unix))]
fn create_private(_path: &std::path::Path) -> Result<(), StoreError> {
    Ok(())
}

super::forward_store!(SqliteStore);

/// The SQLite dialect: `?` placeholders, `jsonb_patch` merges.
///
/// `entries` holds SQLite's binary JSON (JSONB, SQLite 3.45+; sqlx bundles a newer one):
/// measured here, merging one field into a 50-field session took 15 µs as JSONB against 25 µs
/// as JSON text (which must be parsed and written out again), and reading it out as text
/// (`json(entries)`) 4 µs more.
#[derive(Debug, Clone)]
pub(crate) struct Sqlite {
    pool: SqlitePool,
    /// SQLite has one writer at a time. Queueing this process's writers here, in order,
    /// spares them the busy handler's sleep-and-retry; other processes still meet the busy
    /// timeout.
    writes: Arc<Semaphore>,
}

impl Dialect for Sqlite {
    const NAME: &'static str = NAME;
    const JSON_ARG: (&'static str, &'static str) = ("jsonb(", ")");
    const ENTRIES_TEXT: &'static str = "json(entries)";

    fn run(&self, statement: Statement) -> impl std::future::Future<Output = Result<Answer, StoreError>> + Send {
        let (pool, writes) = (self.pool.clone(), self.writes.clone());
        async move {
            match statement.kind {
                Kind::ReadOne | Kind::Read => run(pool, None, statement).await,
                // A task of its own, so the write runs to its end even if the request that asked
                // for it is dropped. The task failed (panicked, or the runtime is shutting down)
                // with the statement sent: it may have committed.
                Kind::Write => tokio::spawn(async move {
                    let turn = writes.acquire_owned().await.map_err(|e| StoreError::backend(NAME, e))?;
                    run(pool, Some(turn), statement).await
                })
                .await
                .map_err(|e| StoreError::outcome_unknown(NAME, e))?,
                Kind::Schema => tokio::spawn(async move {
                    let turn = writes.acquire_owned().await.map_err(|e| StoreError::backend(NAME, e))?;
                    run(pool, Some(turn), statement).await
                })
                .await
                .map_err(|e| StoreError::backend(NAME, e))?,
            }
        }
    }

    fn upgrade(&self, t: &Tables) -> impl std::future::Future<Output = Result<(), StoreError>> + Send {
        let (pool, writes, t) = (self.pool.clone(), self.writes.clone(), t.clone());
        async move { tokio::spawn(upgrade(pool, writes, t)).await.map_err(|e| StoreError::backend(NAME, e))? }
    }

    /// A table with rowids (the key's index beside it), not `WITHOUT ROWID`: a session's row
    /// holds its fields, kilobytes for a big session, and SQLite keeps rows that large
    /// better in a rowid table (measured: 50 fields, 8 KB, one changed: 10% fewer
    /// instructions per request). Tables of 0.2, `WITHOUT ROWID`, keep their form.
    fn schema(t: &Tables) -> Vec<Statement> {
        let s = &t.sessions;
        vec![
            Statement::schema(format!(
                "CREATE TABLE IF NOT EXISTS {s} (\
                 store_key TEXT NOT NULL PRIMARY KEY, \
                 created_at INTEGER NOT NULL, \
                 idle_deadline INTEGER, \
                 absolute_deadline INTEGER, \
                 expires_at INTEGER, \
                 remember_me INTEGER NOT NULL, \
                 last_active INTEGER, \
                 lifetime INTEGER, \
                 entries BLOB NOT NULL DEFAULT x'0c', \
                 entries_expire_at INTEGER\
                 )"
            )),
            Statement::schema(format!(
                "CREATE INDEX IF NOT EXISTS {s}_expires_at ON {s} (expires_at, store_key) WHERE expires_at IS NOT NULL"
            )),
            Statement::schema(format!(
                "CREATE INDEX IF NOT EXISTS {s}_entries_expire_at ON {s} (entries_expire_at) \
                 WHERE entries_expire_at IS NOT NULL"
            )),
        ]
    }

    fn add_column(t: &Tables, column: Added) -> Statement {
        let definition = match column {
            Added::Millis(_) => "INTEGER",
            // `{}` in JSONB.
            Added::Entries => "BLOB NOT NULL DEFAULT x'0c'",
        };
        Statement::schema(format!("ALTER TABLE {} ADD COLUMN {} {definition}", t.sessions, column.name()))
    }

    fn merge(s: Statement, change: &Change) -> Statement {
        s.sql("entries = jsonb_patch(entries, ").text(&statements::patch(change)).sql(")")
    }

    /// `json(entries)` fails the whole `SELECT` on bytes that are not JSONB. Checking first
    /// (`json_valid(entries, 8)`) would cost every load a walk of the whole value (8 µs for
    /// 50 fields, measured here), so the failure is read instead.
    fn unreadable_entries(e: &StoreError) -> bool {
        let StoreError::Backend { source, .. } = e else { return false };
        source
            .downcast_ref::<sqlx::Error>()
            .and_then(sqlx::Error::as_database_error)
            .is_some_and(|db| db.message() == "malformed JSON")
    }

    fn collect_chunk(t: &Tables, now: Timestamp, limit: i64) -> Statement {
        Statement::write()
            .sql(format!(
                "DELETE FROM {0} WHERE store_key IN (SELECT store_key FROM {0} WHERE expires_at <= ",
                t.sessions
            ))
            .time(now)
            .sql(" ORDER BY expires_at, store_key LIMIT ")
            .int(Some(limit))
            .sql(")")
    }
}

/// Runs `statement` on a connection of `pool`, holding `turn`, the write lock of this
/// process, if it writes.
async fn run(pool: SqlitePool, turn: Option<OwnedSemaphorePermit>, statement: Statement) -> Result<Answer, StoreError> {
    let mut conn = pool.acquire().await.map_err(|e| StoreError::backend(NAME, e))?;
    let answer = exec(&mut conn, statement).await.map_err(|e| StoreError::backend(NAME, e));
    drop(turn);
    answer
}

/// Runs `statement` on `conn`: a read answers its rows (one message from sqlx's worker for
/// a single row), a write the rows it changed.
async fn exec(conn: &mut sqlx::SqliteConnection, statement: Statement) -> Result<Answer, sqlx::Error> {
    let Rendered { sql, values, kind, columns } = statement.rendered();
    if kind == Kind::Schema {
        return conn.execute(sqlx::raw_sql(&sql)).await.map(|_| Answer::default());
    }
    let query = sqlx::query_with(&sql, arguments::<sqlx::Sqlite>(values)?);
    Ok(match kind {
        Kind::ReadOne => {
            let row = query.fetch_optional(&mut *conn).await?;
            Answer { rows: decode_rows(row.as_slice(), columns), affected: 0 }
        }
        Kind::Read => Answer { rows: decode_rows(&query.fetch_all(&mut *conn).await?, columns), affected: 0 },
        Kind::Write | Kind::Schema => {
            Answer { rows: Vec::new(), affected: query.execute(&mut *conn).await?.rows_affected() }
        }
    })
}

/// Creates the table, adds the columns tables of an earlier release lack, and moves their
/// fields (see [`move_old_entries`]), each step in an `IMMEDIATE` transaction, under this
/// process's write lock: processes opening the database at once take turns.
async fn upgrade(pool: SqlitePool, writes: Arc<Semaphore>, t: Tables) -> Result<(), StoreError> {
    let _turn = writes.acquire_owned().await.map_err(|e| StoreError::backend(NAME, e))?;
    let conn = pool.acquire().await.map_err(|e| StoreError::backend(NAME, e))?;
    let mut upgrading = Upgrade(conn);
    let result = async {
        upgrading.begin().await?;
        let mut schema = Sqlite::schema(&t).into_iter();
        // The table first; its indexes once the columns they cover exist.
        if let Some(table) = schema.next() {
            upgrading.exec(table).await?;
        }
        let rows = upgrading.exec(columns(&t)).await?.rows;
        for column in ADDED_COLUMNS {
            let name = column.name();
            let found = rows.iter().any(|row| matches!(row.first(), Some(Ok(Value::Text(Some(n)))) if n == name));
            if !found {
                upgrading.exec(Sqlite::add_column(&t, *column)).await?;
            }
        }
        for index in schema {
            upgrading.exec(index).await?;
        }
        upgrading.commit().await?;
        move_old_entries::<Sqlite>(&mut upgrading, &t).await
    }
    .await;
    if result.is_err() {
        // A transaction may be open: the connection goes, and the transaction with it.
        upgrading.0.close_on_drop();
    }
    result
}

/// The names of the columns of the sessions table.
pub(crate) fn columns(t: &Tables) -> Statement {
    Statement::read(&[Col::Text]).sql("SELECT name FROM pragma_table_info(").text(&t.sessions).sql(")")
}

/// The connection of an upgrade.
struct Upgrade(PoolConnection<sqlx::Sqlite>);

impl Upgrading for Upgrade {
    async fn begin(&mut self) -> Result<(), StoreError> {
        // IMMEDIATE takes the write lock up front: a transaction that read first and then
        // asked for it could fail at once instead of waiting.
        self.0.execute("BEGIN IMMEDIATE").await.map(drop).map_err(|e| StoreError::backend(NAME, e))
    }

    async fn commit(&mut self) -> Result<(), StoreError> {
        self.0.execute("COMMIT").await.map(drop).map_err(|e| StoreError::backend(NAME, e))
    }

    async fn exec(&mut self, statement: Statement) -> Result<Answer, StoreError> {
        exec(&mut self.0, statement).await.map_err(|e| StoreError::backend(NAME, e))
    }

    fn table_exists(&mut self, name: &str) -> impl std::future::Future<Output = Result<bool, StoreError>> + Send {
        let name = name.to_owned();
        async move {
            let exists = sqlx::query_as::<_, (i64,)>(TABLE_EXISTS).bind(name).fetch_one(&mut *self.0).await;
            exists.map(|(n,)| n > 0).map_err(|e| StoreError::backend(NAME, e))
        }
    }
}

/// Whether the table bound to it exists.
pub(crate) const TABLE_EXISTS: &str = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?";

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use crate::test_support::{count_warnings, key, NOW};

    use super::*;
    use crate::id::StoreKey;
    use crate::record::{Change, Entry, Meta, Record};
    use crate::store::{Applied, Created, Store};

    fn record() -> Record {
        let meta = Meta {
            created_at: NOW,
            idle_deadline: Some(NOW.after(Duration::from_secs(60))),
            absolute_deadline: None,
            remember_me: true,
            last_active: NOW,
            lifetime: None,
        };
        Record {
            meta,
            entries: vec![
                ("a".into(), Entry { value: vec![1], expires_at: None }),
                ("b".into(), Entry { value: vec![2], expires_at: Some(NOW.after(Duration::from_secs(5))) }),
            ],
        }
    }

    async fn memory_store() -> SqliteStore {
        SqliteStore::open("sqlite::memory:").await.expect("open")
    }

    async fn exec(store: &SqliteStore, sql: &str) {
        sqlx::query(sql).execute(store.pool()).await.expect(sql);
    }

    #[tokio::test]
    async fn corrupt_session_rows_read_as_none_with_a_warning() {
        let store = memory_store().await;
        let garbage = [
            "created_at = 'garbage'",
            "created_at = -5",
            "remember_me = 7",
            "remember_me = 'yes'",
            "idle_deadline = x'00ff'",
        ];
        for (i, set) in garbage.into_iter().enumerate() {
            let k = key(i as u8);
            assert_eq!(store.create(&k, &record(), NOW).await.expect("create"), Created::Stored);
            // SQLite columns take values of any storage class unless told otherwise.
            exec(&store, &format!("UPDATE session_kit_sessions SET {set} WHERE store_key = '{k}'")).await;
            let (warnings, _guard) = count_warnings();
            assert_eq!(store.load(&k, NOW).await.expect("load"), None, "{set}");
            assert_eq!(warnings.load(Ordering::SeqCst), 1, "one warning for {set}");
        }
    }

    /// The `entries` of a session as stored: its JSON text.
    async fn stored_entries(store: &SqliteStore, k: &StoreKey) -> String {
        let (json,): (String,) = sqlx::query_as("SELECT json(entries) FROM session_kit_sessions WHERE store_key = ?")
            .bind(k.as_str())
            .fetch_one(store.pool())
            .await
            .expect("the session's row");
        json
    }

    #[tokio::test]
    async fn a_corrupt_entry_is_skipped_with_a_warning_and_corrupt_json_reads_as_none() {
        let store = memory_store().await;
        let k = key(1);
        store.create(&k, &record(), NOW).await.expect("create");
        // `b` is a number, `c` a character that stands for no byte, `d` a pair with a negative
        // deadline.
        exec(
            &store,
            &format!(
                r#"UPDATE session_kit_sessions SET entries = '{{"a":"ā","b":7,"c":"é","d":["ā",-1]}}' WHERE store_key = '{k}'"#
            ),
        )
        .await;
        let (warnings, _guard) = count_warnings();
        let loaded = store.load(&k, NOW).await.expect("load").expect("the session itself is fine");
        assert_eq!(loaded.entries, vec![("a".to_owned(), Entry { value: vec![1], expires_at: None })]);
        assert_eq!(warnings.load(Ordering::SeqCst), 3, "one warning per corrupt field");
        for garbage in ["'not json'", "'[1, 2]'", "'{\"a\":\"x\"} trailing'", "x'00ff'", "42"] {
            exec(&store, &format!("UPDATE session_kit_sessions SET entries = {garbage} WHERE store_key = '{k}'")).await;
            let (warnings, _guard) = count_warnings();
            assert_eq!(store.load(&k, NOW).await.expect("load"), None, "{garbage}");
            assert_eq!(warnings.load(Ordering::SeqCst), 1, "one warning for {garbage}");
        }
    }

    #[tokio::test]
    async fn collection_removes_expired_entries_of_live_sessions() {
        let store = memory_store().await;
        let k = key(2);
        store.create(&k, &record(), NOW).await.expect("create");
        let later = NOW.after(Duration::from_secs(10));
        assert_eq!(store.collect_expired(later).await.expect("collect"), 0, "no session expired yet");
        assert_eq!(stored_entries(&store, &k).await, "{\"a\":\"\u{101}\"}", "the expired entry is gone from the row");
        let (next,): (Option<i64>,) = sqlx::query_as("SELECT entries_expire_at FROM session_kit_sessions")
            .fetch_one(store.pool())
            .await
            .expect("row");
        assert_eq!(next, None, "no field deadline left");
    }

    /// A change that sets a field with a deadline lowers `entries_expire_at` (never raises it),
    /// so that the collection finds the field once it expires.
    #[tokio::test]
    async fn a_field_deadline_set_by_a_change_is_found_by_the_collection() {
        let store = memory_store().await;
        let k = key(3);
        let mut r = record();
        r.entries.truncate(1);
        store.create(&k, &r, NOW).await.expect("create");
        let soon = NOW.after(Duration::from_secs(20));
        let otp =
            Change { set: vec![("otp".into(), Entry { value: vec![9], expires_at: Some(soon) })], ..Change::default() };
        assert_eq!(store.apply(&k, &otp, NOW).await.expect("apply"), Applied::Done);
        let later = Change {
            set: vec![("late".into(), Entry { value: vec![8], expires_at: Some(NOW.after(Duration::from_secs(50))) })],
            ..Change::default()
        };
        assert_eq!(store.apply(&k, &later, NOW).await.expect("apply"), Applied::Done);
        store.collect_expired(NOW.after(Duration::from_secs(30))).await.expect("collect");
        assert_eq!(stored_entries(&store, &k).await, "{\"a\":\"\u{101}\",\"late\":[\"\u{108}\",1700000050000]}");
    }

    #[tokio::test]
    async fn collection_works_in_chunks() {
        let store = memory_store().await;
        let mut meta = record().meta;
        meta.idle_deadline = Some(NOW);
        for i in 0..2500u32 {
            let k = StoreKey::parse(&format!("{i:032x}")).expect("key");
            store.create(&k, &Record::new(meta), NOW).await.expect("create");
        }
        let live = key(0xff);
        store.create(&live, &record(), NOW).await.expect("create");
        assert_eq!(store.collect_expired(NOW).await.expect("collect"), 2500);
        let (count,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM session_kit_sessions").fetch_one(store.pool()).await.expect("count");
        assert_eq!(count, 1);
    }

    #[tokio::test]
    async fn a_file_database_keeps_sessions_across_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sessions.db");
        let path = path.to_str().expect("utf-8 path");
        let k = key(3);
        {
            let store = SqliteStore::open(path).await.expect("open");
            store.create(&k, &record(), NOW).await.expect("create");
            store.pool().close().await;
        }
        let store = SqliteStore::open(path).await.expect("reopen");
        assert_eq!(store.load(&k, NOW).await.expect("load"), Some(record()));
        let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode").fetch_one(store.pool()).await.expect("pragma");
        assert_eq!(mode, "wal");
    }

    #[tokio::test]
    async fn a_failed_write_leaves_the_connection_usable() {
        let store = memory_store().await;
        let k = key(4);
        store.create(&k, &record(), NOW).await.expect("create");
        // KeyTaken comes from a failed insert; the single connection must come back usable.
        assert_eq!(store.create(&k, &record(), NOW).await.expect("create"), Created::KeyTaken);
        let change =
            Change { set: vec![("c".into(), Entry { value: vec![3], expires_at: None })], ..Change::default() };
        assert_eq!(store.apply(&k, &change, NOW).await.expect("apply"), Applied::Done);
        let loaded = store.load(&k, NOW).await.expect("load").expect("live");
        assert_eq!(loaded.get("c").map(|e| e.value.clone()), Some(vec![3]));
    }

    #[tokio::test]
    async fn table_names_are_checked_and_used() {
        let store = memory_store().await;
        assert!(matches!(store.clone().with_table_names("x; DROP TABLE y", "e"), Err(StoreError::Config(_))));
        assert!(matches!(store.clone().with_table_names("same", "same"), Err(StoreError::Config(_))));
        let custom = store.with_table_names("my_sessions", "my_entries").expect("plain names");
        custom.migrate().await.expect("migrate");
        custom.create(&key(5), &record(), NOW).await.expect("create");
        let (count,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM my_sessions").fetch_one(custom.pool()).await.expect("count");
        assert_eq!(count, 1);
        let (tables,): (i64,) = sqlx::query_as("SELECT count(*) FROM sqlite_master WHERE name = 'my_entries'")
            .fetch_one(custom.pool())
            .await
            .expect("count");
        assert_eq!(tables, 0, "no entries table: it only names the table of an earlier release");
    }

    #[tokio::test]
    async fn migrate_is_idempotent_and_new_touches_nothing() {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect("sqlite::memory:")
            .await
            .expect("pool");
        let store = SqliteStore::new(pool);
        let (tables,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM sqlite_master").fetch_one(store.pool()).await.expect("count");
        assert_eq!(tables, 0);
        store.migrate().await.expect("migrate");
        store.migrate().await.expect("migrate again");
        assert_eq!(store.load(&key(6), NOW).await.expect("load"), None);
    }
}
