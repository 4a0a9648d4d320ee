//! The SQLite dialect and [`SqliteStore`].

use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use tokio::sync::Semaphore;

use super::{
    arguments, decode_rows, Batch, Col, Dialect, Kind, LiveAs, Rows, SqlStore, Statement, Tables, Value, ADDED_COLUMNS,
};
use crate::error::StoreError;
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
/// Sessions survive restarts; several processes may share one database file. Each field is a
/// row, so concurrent requests changing different fields of one session both win, and
/// expired sessions are found through an index. Cheap to clone (clones share the pool).
///
/// ```no_run
/// # async fn demo() -> Result<(), session_core::StoreError> {
/// // Creates the file (readable by its owner only) and the tables if needed; WAL journal,
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
/// Every operation is one call to the database: `load` one `SELECT`; `create`, `apply`,
/// `rename` and `delete` one batch of statements in an `IMMEDIATE` transaction;
/// `collect_expired` one batch per thousand expired sessions; `count_live` one
/// `SELECT COUNT(*)`, which reads every live session's row. The tables
/// (`session_kit_sessions`, `session_kit_entries` by default) hold milliseconds since the
/// epoch and the fields' encoded bytes.
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
    /// `sqlite:sessions.db?mode=rwc` or `sqlite::memory:`), creating the file and the tables
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
    /// once to create the tables.
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

    /// Uses the tables `sessions` and `entries` instead of `session_kit_sessions` and
    /// `session_kit_entries`. Names must be plain identifiers (`A-Z a-z 0-9 _`, up to 48).
    pub fn with_table_names(mut self, sessions: &str, entries: &str) -> Result<Self, StoreError> {
        self.inner.tables = Tables::new(sessions, entries)?;
        Ok(self)
    }

    /// Creates the tables and indexes if they do not exist (`CREATE ... IF NOT EXISTS`, in one
    /// transaction), and adds the columns tables of an earlier release lack.
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

    /// Uses the tables `sessions` and `entries` instead of `session_kit_sessions` and
    /// `session_kit_entries`. Names must be plain identifiers (`A-Z a-z 0-9 _`, up to 48):
    /// [`open`](Self::open) checks them.
    pub fn table_names(mut self, sessions: &str, entries: &str) -> Self {
        self.tables = Some((sessions.to_owned(), entries.to_owned()));
        self
    }

    /// Opens the database, creating the file and the tables if needed.
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
        let pool = pool
            .acquire_timeout(acquire_timeout)
            .connect_with(options)
            .await
            .map_err(|e| StoreError::backend(NAME, e))?;
        let mut store = SqliteStore::new(pool);
        store.inner.tables = tables;
        store.migrate().await?;
        Ok(store)
    }
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

/// The SQLite dialect: `?` placeholders, every batch in one call.
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

    fn run(&self, batch: Batch) -> impl std::future::Future<Output = Result<Rows, StoreError>> + Send {
        let (pool, writes) = (self.pool.clone(), self.writes.clone());
        async move {
            match batch.kind {
                // A single statement outside a transaction: nothing to leave half done.
                Kind::Read => run_batch(pool, writes, batch).await,
                // A task of its own, so the transaction runs to its end even if the request that
                // asked for it is dropped: sqlx stops a batch whose caller went away, which would
                // leave the transaction open on a pooled connection.
                Kind::Write => {
                    // The task failed (panicked, or the runtime is shutting down) with the
                    // transaction sent: it may have committed.
                    tokio::spawn(run_batch(pool, writes, batch))
                        .await
                        .map_err(|e| StoreError::outcome_unknown(NAME, e))?
                }
                Kind::Schema => {
                    tokio::spawn(run_batch(pool, writes, batch)).await.map_err(|e| StoreError::backend(NAME, e))?
                }
            }
        }
    }

    fn schema(t: &Tables) -> Vec<Statement> {
        let (s, e) = (&t.sessions, &t.entries);
        [
            format!(
                "CREATE TABLE IF NOT EXISTS {s} (\
                 store_key TEXT NOT NULL PRIMARY KEY, \
                 created_at INTEGER NOT NULL, \
                 idle_deadline INTEGER, \
                 absolute_deadline INTEGER, \
                 expires_at INTEGER, \
                 remember_me INTEGER NOT NULL, \
                 last_active INTEGER, \
                 lifetime INTEGER\
                 ) WITHOUT ROWID"
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS {s}_expires_at ON {s} (expires_at, store_key) WHERE expires_at IS NOT NULL"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {e} (\
                 store_key TEXT NOT NULL REFERENCES {s} (store_key) ON DELETE CASCADE ON UPDATE CASCADE, \
                 field TEXT NOT NULL, \
                 value BLOB NOT NULL, \
                 expires_at INTEGER, \
                 PRIMARY KEY (store_key, field)\
                 ) WITHOUT ROWID"
            ),
            format!("CREATE INDEX IF NOT EXISTS {e}_expires_at ON {e} (expires_at) WHERE expires_at IS NOT NULL"),
        ]
        .into_iter()
        .map(|sql| Statement::new().sql(sql))
        .collect()
    }

    fn upgrade(&self, t: &Tables) -> impl std::future::Future<Output = Result<(), StoreError>> + Send {
        let (pool, writes, sessions) = (self.pool.clone(), self.writes.clone(), t.sessions.clone());
        async move {
            tokio::spawn(add_missing_columns(pool, writes, sessions)).await.map_err(|e| StoreError::backend(NAME, e))?
        }
    }

    fn collect_chunk(t: &Tables, now: Timestamp, limit: i64) -> Vec<Statement> {
        // The same ordered, limited choice twice in one transaction picks the same sessions.
        let chosen = |s: Statement| {
            s.sql(format!("store_key IN (SELECT store_key FROM {} WHERE expires_at <= ", t.sessions))
                .time(now)
                .sql(" ORDER BY expires_at, store_key LIMIT ")
                .arg(Value::Int(Some(limit)))
                .sql(")")
        };
        vec![
            chosen(Statement::new().sql(format!("DELETE FROM {} WHERE ", t.entries))),
            chosen(Statement::new().sql(format!("DELETE FROM {} WHERE ", t.sessions))),
            // Rows the previous statement deleted, cascades not counted.
            Statement::new().sql("SELECT changes()").returning(&[Col::Int]),
        ]
    }
}

/// Adds the columns a sessions table of an earlier release lacks ([`ADDED_COLUMNS`]). Looks and
/// adds under the write lock, so two processes opening the database at once cannot both add one.
async fn add_missing_columns(pool: SqlitePool, writes: Arc<Semaphore>, sessions: String) -> Result<(), StoreError> {
    let _turn = writes.acquire_owned().await.map_err(|e| StoreError::backend(NAME, e))?;
    let mut conn = pool.acquire().await.map_err(|e| StoreError::backend(NAME, e))?;
    sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await.map_err(|e| StoreError::backend(NAME, e))?;
    let result = look_and_add(&mut conn, &sessions).await;
    if result.is_err() && sqlx::query("ROLLBACK").execute(&mut *conn).await.is_err() {
        conn.close_on_drop();
    }
    result.map_err(|e| StoreError::backend(NAME, e))
}

/// The names of the columns of the table bound to it.
pub(crate) const COLUMNS: &str = "SELECT name FROM pragma_table_info(?)";

/// Adds `column` to the sessions table.
pub(crate) fn add_column(sessions: &str, column: &str) -> String {
    format!("ALTER TABLE {sessions} ADD COLUMN {column} INTEGER")
}

async fn look_and_add(conn: &mut sqlx::SqliteConnection, sessions: &str) -> Result<(), sqlx::Error> {
    let columns: Vec<(String,)> = sqlx::query_as(COLUMNS).bind(sessions.to_owned()).fetch_all(&mut *conn).await?;
    for column in ADDED_COLUMNS {
        if !columns.iter().any(|(name,)| name == column) {
            sqlx::query(&add_column(sessions, column)).execute(&mut *conn).await?;
        }
    }
    sqlx::query("COMMIT").execute(&mut *conn).await.map(drop)
}

async fn run_batch(pool: SqlitePool, writes: Arc<Semaphore>, batch: Batch) -> Result<Rows, StoreError> {
    let write = batch.kind != Kind::Read;
    let _turn =
        if write { Some(writes.acquire_owned().await.map_err(|e| StoreError::backend(NAME, e))?) } else { None };
    let (sql, values) = render(&batch);
    let args = arguments::<sqlx::Sqlite>(values).map_err(|e| StoreError::backend(NAME, e))?;
    let mut conn = pool.acquire().await.map_err(|e| StoreError::backend(NAME, e))?;
    match sqlx::query_with(&sql, args).fetch_all(&mut *conn).await {
        Ok(rows) => Ok(decode_rows(&rows, batch.columns())),
        Err(e) => {
            if write {
                // The batch stopped at the failing statement, inside its transaction. A
                // connection that cannot roll back (or had nothing to roll back because BEGIN
                // failed) is closed rather than returned to the pool in an unknown state.
                if sqlx::query("ROLLBACK").execute(&mut *conn).await.is_err() {
                    conn.close_on_drop();
                }
            }
            Err(StoreError::backend(NAME, e))
        }
    }
}

/// `batch` as the text of one call and its values: a write inside `BEGIN IMMEDIATE` ... `COMMIT`.
pub(crate) fn render(batch: &Batch) -> (String, Vec<Value>) {
    let write = batch.kind != Kind::Read;
    let mut sql = String::with_capacity(256);
    let mut values = Vec::new();
    if write {
        // IMMEDIATE takes the write lock up front: a transaction that read first and then
        // asked for it could fail at once instead of waiting.
        sql.push_str("BEGIN IMMEDIATE;\n");
    }
    // The guard first: under the write lock nothing changes between it and the statements,
    // which evaluate the same condition in place.
    for statement in batch.guard.iter().chain(&batch.statements) {
        // Anonymous placeholders: sqlx binds them to the batch's values in order, across
        // statements. (Numbered `?N` break in batches: SQLite reports the highest number as the
        // parameter count, and sqlx then stops binding at the unused lower numbers.)
        statement.render(&mut sql, &mut values, LiveAs::Inline, &|out: &mut String, _| out.push('?'));
        sql.push_str(";\n");
    }
    if write {
        sql.push_str("COMMIT;");
    }
    (sql, values)
}

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

    #[tokio::test]
    async fn a_corrupt_entry_row_is_skipped_with_a_warning() {
        let store = memory_store().await;
        let k = key(1);
        store.create(&k, &record(), NOW).await.expect("create");
        exec(
            &store,
            &format!("UPDATE session_kit_entries SET expires_at = 'soon' WHERE store_key = '{k}' AND field = 'b'"),
        )
        .await;
        let (warnings, _guard) = count_warnings();
        let loaded = store.load(&k, NOW).await.expect("load").expect("the session itself is fine");
        assert_eq!(loaded.entries, vec![("a".to_owned(), Entry { value: vec![1], expires_at: None })]);
        assert_eq!(warnings.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn collection_removes_expired_entries_of_live_sessions() {
        let store = memory_store().await;
        let k = key(2);
        store.create(&k, &record(), NOW).await.expect("create");
        let later = NOW.after(Duration::from_secs(10));
        assert_eq!(store.collect_expired(later).await.expect("collect"), 0, "no session expired yet");
        let (count,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM session_kit_entries").fetch_one(store.pool()).await.expect("count");
        assert_eq!(count, 1, "the expired entry is still in the table");
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
    async fn a_failed_batch_leaves_no_transaction_open() {
        let store = memory_store().await;
        let k = key(4);
        store.create(&k, &record(), NOW).await.expect("create");
        // KeyTaken comes from a failed insert inside the transaction; the single connection
        // must come back usable, with the transaction rolled back.
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
            sqlx::query_as("SELECT count(*) FROM my_entries").fetch_one(custom.pool()).await.expect("count");
        assert_eq!(count, 2);
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
