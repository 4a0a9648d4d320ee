//! The MySQL dialect and [`MysqlStore`].

use std::str::FromStr as _;
use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::{Connection as _, Executor as _};

use super::{
    arguments, decode_rows, retrying, Batch, CheckedSettings, Col, Connections, Dialect, Failure, Kind, LiveAs, Rows,
    ServerSettings, SqlStore, Statement, Tables, Value, ADDED_COLUMNS,
};
use crate::error::StoreError;
use crate::time::Timestamp;

const NAME: &str = "mysql";

/// How many connections the pool may open, by default (sqlx's default).
const MAX_CONNECTIONS: u32 = 10;

/// What [`MysqlStore::open`] sets on every connection: no gap locks, so concurrent creates of
/// keys that fall between the same two stored keys do not deadlock; the store's writes lock
/// the rows they depend on themselves.
const READ_COMMITTED: &str = "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED";

/// Sessions in MySQL (8.0+) or MariaDB (10.5+), through [`sqlx`]: the store for several app
/// servers that share a MySQL database.
///
/// The same SQL model as [`SqliteStore`](crate::store::SqliteStore): a row per session and a
/// row per field (InnoDB tables), so concurrent requests changing different fields of one
/// session both win; a change to a destroyed or expired session is refused and never brings
/// it back; expired sessions are found through an index. Cheap to clone (clones share the
/// pool).
///
/// ```no_run
/// # async fn demo() -> Result<(), session_core::StoreError> {
/// // Connects and creates the tables if needed (the database must exist).
/// let store = session_core::MysqlStore::open("mysql://app@127.0.0.1/app").await?;
///
/// // The same with other limits.
/// use std::time::Duration;
/// let store = session_core::MysqlStore::builder("mysql://app@127.0.0.1/app")
///     .connect_timeout(Duration::from_secs(2))
///     .acquire_timeout(Duration::from_secs(1))
///     .statement_timeout(Duration::from_secs(2))
///     .max_connections(20)
///     .open()
///     .await?;
/// # Ok(()) }
/// ```
///
/// **No TLS yet**: the `mysql` feature builds sqlx without TLS, so the connection to the
/// server is plain TCP (or a Unix socket). Keep the database on a trusted network.
///
/// MySQL has no data-modifying `WITH` clauses, so changes run as short transactions of
/// prepared statements, each entry list in one multi-row statement; a statement is a round
/// trip. `load` is one `SELECT`; an unchanged session costs one `SELECT`. `apply` is
/// `BEGIN`, `SELECT ... FOR UPDATE` of the session row (the check that it is live, and the
/// lock that queues concurrent changes and keeps a concurrent `delete` out), then only if it
/// is live: one `DELETE` of the removed fields, one multi-row upsert of the set ones, one
/// `UPDATE` of the deadlines (each only when the change has some), `COMMIT`: at most 6
/// round trips. `create` is 6 (`BEGIN`, clear an expired predecessor's entries and row,
/// insert the row, insert the entries, `COMMIT`), `rename` 7, `delete` 4,
/// `collect_expired` 5 per thousand expired sessions, `count_live` one `SELECT COUNT(*)`
/// (which reads every live session's row). A write the database aborts to break a
/// deadlock is retried a few times, then fails with a
/// [`WriteConflict`](crate::store::WriteConflict) as source.
///
/// Nothing waits for long (see [`builder`](Self::builder) for the limits). A write that fails
/// before its `COMMIT` is sent changed nothing; one whose `COMMIT` got no answer (the
/// connection broke, or no answer came in time) fails with [`StoreError::OutcomeUnknown`]:
/// the transaction was committed whole or not at all.
///
/// Tables (`session_kit_sessions`, `session_kit_entries` by default): times are `BIGINT`
/// milliseconds since the epoch, field values `LONGBLOB`, keys and field names `utf8mb4_bin`
/// (field names up to 255 characters); entries reference their session
/// `ON DELETE CASCADE ON UPDATE CASCADE`.
#[derive(Clone)]
pub struct MysqlStore {
    inner: SqlStore<Mysql>,
}

impl std::fmt::Debug for MysqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MysqlStore").field("tables", &self.inner.tables).finish_non_exhaustive()
    }
}

impl MysqlStore {
    /// Connects to the database at `url` (`mysql://user:password@host:port/database`; no TLS)
    /// and creates the tables if needed, with the defaults of [`builder`](Self::builder).
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Self::builder(url).open().await
    }

    /// Settings for connecting to the database at `url` (as in [`open`](Self::open)). The
    /// connections use the `READ COMMITTED` isolation level. The defaults: a pool of 10
    /// connections; 5 s to open a connection, 5 s to wait for a free one, and 5 s for the
    /// server to run one statement (MariaDB's `max_statement_time`; MySQL's
    /// `max_execution_time`, which only limits `SELECT`s) or to wait for a lock
    /// (`innodb_lock_wait_timeout` for rows, `lock_wait_timeout` for tables, in whole
    /// seconds); the store itself waits a second longer for an answer before it gives the
    /// connection up. For settings the builder lacks, build the pool yourself and use
    /// [`new`](Self::new).
    pub fn builder(url: &str) -> MysqlStoreBuilder {
        MysqlStoreBuilder { settings: ServerSettings::new(url, MAX_CONNECTIONS) }
    }

    /// A store on a pool you configured. Touches nothing: call [`migrate`](Self::migrate)
    /// once to create the tables.
    ///
    /// Prefer connections at the `READ COMMITTED` isolation level (what [`open`](Self::open)
    /// sets): under MySQL's default `REPEATABLE READ`, concurrent creates deadlock more often
    /// on gap locks. The store retries those, so either level is correct.
    ///
    /// The pool's own acquire timeout applies (sqlx's default is 30 s). The store waits 6 s
    /// for the answer to a statement, then gives the connection up: set the server's limits
    /// (`innodb_lock_wait_timeout`, `max_statement_time`) below that on the pool's
    /// connections, so that the server gives up first.
    pub fn new(pool: MySqlPool) -> Self {
        Self { inner: SqlStore { dialect: Mysql { conns: Connections::given(pool) }, tables: Tables::default() } }
    }

    /// Uses the tables `sessions` and `entries` instead of `session_kit_sessions` and
    /// `session_kit_entries`. Names must be plain identifiers (`A-Z a-z 0-9 _`, up to 48).
    pub fn with_table_names(mut self, sessions: &str, entries: &str) -> Result<Self, StoreError> {
        self.inner.tables = Tables::new(sessions, entries)?;
        Ok(self)
    }

    /// Creates the tables and their indexes if they do not exist (`CREATE TABLE IF NOT
    /// EXISTS`; MySQL commits each at once), and adds the columns tables of an earlier release
    /// lack.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.inner.migrate().await
    }

    /// The connection pool. A connection you take from it counts against the pool's size
    /// without the store knowing: while you hold it, an operation of a store from
    /// [`builder`](Self::builder) may wait for the connect timeout instead of the acquire
    /// timeout.
    pub fn pool(&self) -> &MySqlPool {
        &self.inner.dialect.conns.pool
    }
}

/// How to connect a [`MysqlStore`]: from [`MysqlStore::builder`], finished by
/// [`open`](Self::open).
#[derive(Clone)]
#[must_use = "a builder does nothing until `open` is called"]
pub struct MysqlStoreBuilder {
    settings: ServerSettings,
}

impl std::fmt::Debug for MysqlStoreBuilder {
    // The settings leave the URL out: it may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("MysqlStoreBuilder").field(&self.settings).finish()
    }
}

impl MysqlStoreBuilder {
    /// How long opening a connection (or checking an idle one) may take before the operation
    /// that needs it fails (default 5 s; must not be zero). Also bounds [`open`](Self::open)
    /// when the server cannot be reached.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.settings.connect_timeout = timeout;
        self
    }

    /// How long an operation waits for a free connection when all of the pool's are busy,
    /// before it fails (default 5 s; must not be zero).
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.settings.acquire_timeout = timeout;
        self
    }

    /// How long the server may run one statement, or wait for a lock (rounded up to whole
    /// seconds), before it stops it and the operation fails, having changed nothing
    /// (default 5 s; must not be zero). MariaDB limits every statement; MySQL only `SELECT`s
    /// besides the lock waits. The store waits a second longer for an answer, then gives the
    /// connection up: a write whose `COMMIT` was sent then fails with
    /// [`StoreError::OutcomeUnknown`].
    pub fn statement_timeout(mut self, timeout: Duration) -> Self {
        self.settings.statement_timeout = timeout;
        self
    }

    /// How many connections the pool may open (default 10; at least 1).
    pub fn max_connections(mut self, max: u32) -> Self {
        self.settings.max_connections = max;
        self
    }

    /// Uses the tables `sessions` and `entries` instead of `session_kit_sessions` and
    /// `session_kit_entries`. Names must be plain identifiers (`A-Z a-z 0-9 _`, up to 48):
    /// [`open`](Self::open) checks them.
    pub fn table_names(mut self, sessions: &str, entries: &str) -> Self {
        self.settings.tables = Some((sessions.to_owned(), entries.to_owned()));
        self
    }

    /// Connects and creates the tables if needed (the database must exist).
    pub async fn open(self) -> Result<MysqlStore, StoreError> {
        let CheckedSettings { tables, connect, acquire, statement, max_connections } = self.settings.check(NAME)?;
        let options = MySqlConnectOptions::from_str(&self.settings.url)
            .map_err(|e| StoreError::Config(format!("{NAME} store: the database URL: {e}")))?;
        let limits = Limits::new(statement);
        // sqlx opens connections inside an acquire, under this deadline: see `Connections`.
        let pool = MySqlPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(connect)
            .after_connect(move |conn, _| Box::pin(async move { limits.set(conn).await }))
            .connect_with(options)
            .await
            .map_err(|e| StoreError::backend(NAME, e))?;
        let conns = Connections::built(pool, max_connections, acquire, statement);
        let store = MysqlStore { inner: SqlStore { dialect: Mysql { conns }, tables } };
        store.migrate().await?;
        Ok(store)
    }
}

/// The session settings of a connection of a pool [`MysqlStoreBuilder`] built.
#[derive(Debug, Clone, Copy)]
struct Limits {
    /// `innodb_lock_wait_timeout` (row locks) and `lock_wait_timeout` (table metadata locks,
    /// which an `ALTER TABLE` of the migration waits for, and holds up every query of the
    /// table behind it meanwhile): whole seconds, at least one.
    lock_wait_secs: u64,
    /// The statement limit in milliseconds, at least one (zero means none).
    statement_millis: u64,
}

impl Limits {
    fn new(statement: Duration) -> Self {
        // Both settings top out far above any sensible limit (a year, 2^30 seconds).
        let cap = 365 * 24 * 3600;
        let lock_wait_secs = (statement.as_secs() + u64::from(statement.subsec_nanos() > 0)).clamp(1, cap);
        let statement_millis = u64::try_from(statement.as_millis()).unwrap_or(u64::MAX).clamp(1, cap * 1000);
        Self { lock_wait_secs, statement_millis }
    }

    /// Sets the isolation level and the limits; MariaDB and MySQL name the statement limit
    /// differently (and MySQL's applies to `SELECT`s only).
    async fn set(self, conn: &mut sqlx::MySqlConnection) -> Result<(), sqlx::Error> {
        let (version,): (String,) = sqlx::query_as("SELECT VERSION()").fetch_one(&mut *conn).await?;
        let statement = if version.contains("MariaDB") {
            format!("max_statement_time = {}.{:03}", self.statement_millis / 1000, self.statement_millis % 1000)
        } else {
            format!("max_execution_time = {}", self.statement_millis)
        };
        let sql = format!(
            "{READ_COMMITTED}; SET SESSION innodb_lock_wait_timeout = {0}, lock_wait_timeout = {0}, {statement}",
            self.lock_wait_secs
        );
        conn.execute(sqlx::raw_sql(&sql)).await.map(drop)
    }
}

super::forward_store!(MysqlStore);

/// The MySQL dialect: `?` placeholders, a write batch as a transaction, statement by statement.
#[derive(Debug, Clone)]
pub(crate) struct Mysql {
    conns: Connections<sqlx::MySql>,
}

/// In a guarded batch the guard has already found the session live and locked its row, and
/// the statements run only then.
const LIVE: LiveAs = LiveAs::Text("1 = 1");

/// Whether the table and column bound to it exist.
pub(crate) const COLUMN_EXISTS: &str = "SELECT COUNT(*) FROM information_schema.columns \
     WHERE table_schema = DATABASE() AND table_name = ? AND column_name = ?";

/// Adds `column` to the sessions table.
pub(crate) fn add_column(sessions: &str, column: &str) -> String {
    format!("ALTER TABLE {sessions} ADD COLUMN {column} BIGINT NULL")
}

/// Adds the columns a sessions table of an earlier release lacks ([`ADDED_COLUMNS`]). MySQL 8
/// has no `ADD COLUMN IF NOT EXISTS`: the catalog says whether each is there, and a process
/// that added one meanwhile makes the `ALTER` fail with "duplicate column" (1060), which is fine.
async fn add_missing_columns(conn: &mut sqlx::MySqlConnection, sessions: String) -> Result<(), sqlx::Error> {
    for column in ADDED_COLUMNS {
        let (found,): (i64,) = sqlx::query_as(COLUMN_EXISTS).bind(&sessions).bind(column).fetch_one(&mut *conn).await?;
        if found > 0 {
            continue;
        }
        match conn.execute(sqlx::raw_sql(&add_column(&sessions, column))).await {
            Err(sqlx::Error::Database(db))
                if db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>().is_some_and(|e| e.number() == 1060) => {}
            other => other.map(drop)?,
        }
    }
    Ok(())
}

/// A statement's text and values.
pub(crate) fn rendered(statement: &Statement) -> (String, Vec<Value>) {
    let (mut sql, mut values) = (String::with_capacity(256), Vec::new());
    statement.render(&mut sql, &mut values, LIVE, &|out: &mut String, _| out.push('?'));
    (sql, values)
}

async fn fetch(
    conn: &mut sqlx::MySqlConnection,
    (sql, values): &(String, Vec<Value>),
) -> Result<Vec<sqlx::mysql::MySqlRow>, sqlx::Error> {
    sqlx::query_with(sql, arguments::<sqlx::MySql>(values.clone())?).fetch_all(conn).await
}

/// One try of a write batch on `conn`: a transaction, every statement waited for at most as
/// long as `conns` say. A failure says whether it came from the `COMMIT`, the one statement
/// whose lost answer leaves the outcome unknown: before it, nothing can have been committed.
async fn transaction(
    conns: &Connections<sqlx::MySql>,
    conn: &mut sqlx::MySqlConnection,
    guard: Option<&(String, Vec<Value>)>,
    statements: &[((String, Vec<Value>), bool)],
) -> Result<Vec<sqlx::mysql::MySqlRow>, (Failure, bool)> {
    let before = |failure| (failure, false);
    // A dropped transaction rolls back (sqlx sends the ROLLBACK), so a request that goes away
    // mid-write leaves nothing half done.
    let mut tx = conns.within(Box::pin(conn.begin())).await.map_err(before)?;
    let mut answer = Vec::new();
    if let Some(guard) = guard {
        answer = conns.within(Box::pin(fetch(&mut tx, guard))).await.map_err(before)?;
        if answer.is_empty() {
            // Not live: nothing to write.
            conns.within(Box::pin(tx.rollback())).await.map_err(before)?;
            return Ok(answer);
        }
    }
    for (statement, returns_rows) in statements {
        let rows = conns.within(Box::pin(fetch(&mut tx, statement))).await.map_err(before)?;
        if *returns_rows {
            answer = rows;
        }
    }
    conns.within(Box::pin(tx.commit())).await.map_err(|failure| (failure, true))?;
    Ok(answer)
}

impl Dialect for Mysql {
    const NAME: &'static str = NAME;
    const LOCK: &'static str = " FOR UPDATE";

    fn run(&self, batch: Batch) -> impl std::future::Future<Output = Result<Rows, StoreError>> + Send {
        let conns = self.conns.clone();
        async move {
            let columns = batch.columns();
            let guard = batch.guard.as_ref().map(rendered);
            let statements: Vec<_> = batch.statements.iter().map(|s| (rendered(s), !s.columns.is_empty())).collect();
            let rows = match batch.kind {
                Kind::Read => {
                    let mut conn = conns.acquire(NAME).await?;
                    match conns.within(Box::pin(fetch(&mut conn.conn, &statements[0].0))).await {
                        Ok(rows) => rows,
                        Err(failure) => return Err(conn.failed(NAME, failure, false)),
                    }
                }
                // DDL commits on its own in MySQL: one statement at a time, no transaction.
                Kind::Schema => {
                    let mut conn = conns.acquire(NAME).await?;
                    for ((sql, _), _) in &statements {
                        if let Err(failure) = conns.within(Box::pin(conn.conn.execute(sqlx::raw_sql(sql)))).await {
                            return Err(conn.failed(NAME, failure, false));
                        }
                    }
                    Vec::new()
                }
                // A deadlock rolls the whole transaction back, so it is retried from the start.
                Kind::Write => {
                    retrying(NAME, || {
                        let (conns, guard, statements) = (&conns, &guard, &statements);
                        async move {
                            let mut conn = conns.acquire(NAME).await?;
                            match transaction(conns, &mut conn.conn, guard.as_ref(), statements).await {
                                Ok(rows) => Ok(rows),
                                Err((failure, commits)) => Err(conn.failed(NAME, failure, commits)),
                            }
                        }
                    })
                    .await?
                }
            };
            Ok(decode_rows(&rows, columns))
        }
    }

    fn upgrade(&self, t: &Tables) -> impl std::future::Future<Output = Result<(), StoreError>> + Send {
        let (conns, sessions) = (self.conns.clone(), t.sessions.clone());
        async move {
            let mut conn = conns.acquire(NAME).await?;
            match conns.within(Box::pin(add_missing_columns(&mut conn.conn, sessions))).await {
                Ok(()) => Ok(()),
                Err(failure) => Err(conn.failed(NAME, failure, false)),
            }
        }
    }

    fn schema(t: &Tables) -> Vec<Statement> {
        let (s, e) = (&t.sessions, &t.entries);
        // Binary collation: field names are compared byte for byte, as in the other stores.
        let text = "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL";
        [
            format!(
                "CREATE TABLE IF NOT EXISTS {s} (\
                 store_key VARCHAR(64) {text} PRIMARY KEY, \
                 created_at BIGINT NOT NULL, \
                 idle_deadline BIGINT NULL, \
                 absolute_deadline BIGINT NULL, \
                 expires_at BIGINT NULL, \
                 remember_me BIGINT NOT NULL, \
                 last_active BIGINT NULL, \
                 lifetime BIGINT NULL, \
                 INDEX {s}_expires_at (expires_at)\
                 ) ENGINE = InnoDB"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {e} (\
                 store_key VARCHAR(64) {text}, \
                 field VARCHAR(255) {text}, \
                 value LONGBLOB NOT NULL, \
                 expires_at BIGINT NULL, \
                 PRIMARY KEY (store_key, field), \
                 INDEX {e}_expires_at (expires_at), \
                 FOREIGN KEY (store_key) REFERENCES {s} (store_key) ON DELETE CASCADE ON UPDATE CASCADE\
                 ) ENGINE = InnoDB"
            ),
        ]
        .into_iter()
        .map(|sql| Statement::new().sql(sql))
        .collect()
    }

    const UPSERT_ENTRY: &'static str =
        " ON DUPLICATE KEY UPDATE value = VALUES(value), expires_at = VALUES(expires_at)";

    fn collect_chunk(t: &Tables, now: Timestamp, limit: i64) -> Vec<Statement> {
        vec![
            // Their entries go by the cascade, which InnoDB always applies.
            Statement::new()
                .sql(format!("DELETE FROM {} WHERE expires_at <= ", t.sessions))
                .time(now)
                .sql(" ORDER BY expires_at LIMIT ")
                .arg(Value::Int(Some(limit))),
            // Rows the previous statement deleted, cascades not counted.
            Statement::new().sql("SELECT ROW_COUNT()").returning(&[Col::Int]),
        ]
    }
}
