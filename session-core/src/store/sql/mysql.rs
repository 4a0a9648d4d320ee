//! The MySQL dialect and [`MysqlStore`].

use std::str::FromStr as _;
use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::Executor as _;

use super::{
    arguments, decode_rows, move_old_entries, one_int, retrying, statements, Added, Answer, CheckedSettings, Col, Conn,
    Connections, Dialect, Failure, Kind, Rendered, ServerSettings, SqlStore, Statement, Tables, Upgrading, Value,
    ADDED_COLUMNS,
};
use crate::error::StoreError;
use crate::record::Change;
use crate::time::Timestamp;

const NAME: &str = "mysql";

/// How many connections the pool may open, by default (sqlx's default).
const MAX_CONNECTIONS: u32 = 10;

/// What [`MysqlStore::open`] sets on every connection: no gap locks, so concurrent creates of
/// keys that fall between the same two stored keys do not deadlock; the store's writes lock
/// the rows they depend on themselves.
const READ_COMMITTED: &str = "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED";

/// Sessions in MySQL (8.0.13+) or MariaDB (10.5+), through [`sqlx`]: the store for several app
/// servers that share a MySQL database.
///
/// The same SQL model as [`SqliteStore`](crate::store::SqliteStore): a row per session
/// (InnoDB), its fields in a JSON column into which a change merges the fields it sets or
/// removes on the server, so concurrent requests changing different fields of one session
/// both win; a change to a destroyed or expired session is refused and never brings it back;
/// expired sessions are found through an index. Cheap to clone (clones share the pool).
///
/// ```no_run
/// # async fn demo() -> Result<(), session_core::StoreError> {
/// // Connects and creates the table if needed (the database must exist).
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
/// Every operation is ONE prepared statement in autocommit, so one round trip once the
/// statement is cached: `load` a `SELECT` of one row; `apply` an `UPDATE` whose `WHERE` checks
/// that the session is live (concurrent changes to one session queue on its row lock, and each
/// merges into what the one before it wrote, with `JSON_MERGE_PATCH`); `create` an `INSERT`,
/// `rename` an `UPDATE` of the key, `delete` a `DELETE` (a create or rename onto the key of an
/// expired session first clears it: one more); an unchanged session costs the `SELECT` only.
/// `collect_expired` is one statement per thousand expired sessions, then one `UPDATE` per
/// session holding a field whose own deadline passed; `count_live` one `SELECT COUNT(*)`
/// (which reads every live session's row). A write the database aborts to break a deadlock
/// is retried a few times, then fails with a [`WriteConflict`](crate::store::WriteConflict) as
/// source.
///
/// Nothing waits for long (see [`builder`](Self::builder) for the limits). A write whose
/// answer is lost (the connection broke, or no answer came in time) fails with
/// [`StoreError::OutcomeUnknown`]: being one statement, it was applied whole or not at all.
/// One that fails before it is sent (while it is prepared) changed nothing.
///
/// The table (`session_kit_sessions` by default) holds times as `BIGINT` milliseconds since
/// the epoch, keys as `utf8mb4_bin` text and the fields as a JSON object of their
/// base64-encoded bytes, in a `LONGTEXT` (MariaDB's `JSON` is one). Opening the tables of
/// session-kit 0.2 (a second table, `session_kit_entries`, with a row per field) moves those
/// rows into their sessions and drops that table: sessions stored before are kept. Stop
/// processes of the earlier release first: once the table is gone, their requests fail.
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
    /// and creates the table if needed, with the defaults of [`builder`](Self::builder).
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
    /// once to create the table.
    ///
    /// Prefer connections at the `READ COMMITTED` isolation level (what [`open`](Self::open)
    /// sets): under MySQL's default `REPEATABLE READ`, the upgrade of the tables of
    /// session-kit 0.2 takes gap locks. Either level is correct.
    ///
    /// The pool's own acquire timeout applies (sqlx's default is 30 s). The store waits 6 s
    /// for the answer to a statement, then gives the connection up: set the server's limits
    /// (`innodb_lock_wait_timeout`, `max_statement_time`) below that on the pool's
    /// connections, so that the server gives up first.
    pub fn new(pool: MySqlPool) -> Self {
        Self { inner: SqlStore { dialect: Mysql { conns: Connections::given(pool) }, tables: Tables::default() } }
    }

    /// Uses the table `sessions` instead of `session_kit_sessions`, and `entries` as the name
    /// of the table session-kit 0.2 kept fields in (moved into `sessions` by
    /// [`migrate`](Self::migrate)) instead of `session_kit_entries`. Names must be plain
    /// identifiers (`A-Z a-z 0-9 _`, up to 48).
    pub fn with_table_names(mut self, sessions: &str, entries: &str) -> Result<Self, StoreError> {
        self.inner.tables = Tables::new(sessions, entries)?;
        Ok(self)
    }

    /// Creates the table and its indexes if they do not exist (`CREATE TABLE IF NOT EXISTS`)
    /// and adds the columns tables of an earlier release lack; then moves the sessions of
    /// session-kit 0.2 into the current layout (see [`MysqlStore`]), a few hundred per
    /// transaction. App servers starting together take turns under a named lock
    /// (`GET_LOCK`).
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
    /// connection up: a write then fails with [`StoreError::OutcomeUnknown`].
    pub fn statement_timeout(mut self, timeout: Duration) -> Self {
        self.settings.statement_timeout = timeout;
        self
    }

    /// How many connections the pool may open (default 10; at least 1).
    pub fn max_connections(mut self, max: u32) -> Self {
        self.settings.max_connections = max;
        self
    }

    /// Uses the table `sessions` instead of `session_kit_sessions`, and `entries` as the name
    /// of the table session-kit 0.2 kept fields in instead of `session_kit_entries`. Names
    /// must be plain identifiers (`A-Z a-z 0-9 _`, up to 48): [`open`](Self::open) checks
    /// them.
    pub fn table_names(mut self, sessions: &str, entries: &str) -> Self {
        self.settings.tables = Some((sessions.to_owned(), entries.to_owned()));
        self
    }

    /// Connects and creates the table if needed, or upgrades it (the database must exist).
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
            .test_before_acquire(false)
            .before_acquire(|conn, meta| Box::pin(super::ping_if_idle(conn, meta)))
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

/// The MySQL dialect: `?` placeholders, `JSON_MERGE_PATCH` merges.
#[derive(Debug, Clone)]
pub(crate) struct Mysql {
    conns: Connections<sqlx::MySql>,
}

/// Runs `statement` on `conn`, waiting for each answer as long as `conns` say. The statement
/// is prepared first (no round trip once cached): a failure there is a definite one, even for
/// a write. A failure says whether the statement may have committed.
async fn exec(
    conns: &Connections<sqlx::MySql>,
    conn: &mut sqlx::MySqlConnection,
    statement: &Rendered,
    values: Vec<Value>,
) -> Result<Answer, (Failure, bool)> {
    let Rendered { sql, kind, columns, .. } = statement;
    if *kind == Kind::Schema {
        return match conns.within(Box::pin(conn.execute(sqlx::raw_sql(sql)))).await {
            Ok(_) => Ok(Answer::default()),
            Err(failure) => Err((failure, false)),
        };
    }
    let args = arguments::<sqlx::MySql>(values).map_err(|e| (Failure::Sql(e), false))?;
    conns.within(Box::pin(conn.prepare(sql))).await.map_err(|failure| (failure, false))?;
    let query = sqlx::query_with(sql, args);
    match kind {
        Kind::ReadOne => match conns.within(Box::pin(query.fetch_optional(&mut *conn))).await {
            Ok(row) => Ok(Answer { rows: decode_rows(row.as_slice(), columns), affected: 0 }),
            Err(failure) => Err((failure, false)),
        },
        Kind::Read => match conns.within(Box::pin(query.fetch_all(&mut *conn))).await {
            Ok(rows) => Ok(Answer { rows: decode_rows(&rows, columns), affected: 0 }),
            Err(failure) => Err((failure, false)),
        },
        // Autocommit: one statement commits on its own. sqlx asks for the rows a statement
        // matched (CLIENT_FOUND_ROWS), not only those it changed.
        Kind::Write | Kind::Schema => match conns.within(Box::pin(query.execute(&mut *conn))).await {
            Ok(done) => Ok(Answer { rows: Vec::new(), affected: done.rows_affected() }),
            Err(failure) => Err((failure, true)),
        },
    }
}

impl Dialect for Mysql {
    const NAME: &'static str = NAME;

    fn run(&self, statement: Statement) -> impl std::future::Future<Output = Result<Answer, StoreError>> + Send {
        let conns = self.conns.clone();
        let statement = statement.rendered();
        async move {
            // A write the database aborted (a deadlock, a serialization conflict) changed
            // nothing: it is tried again, whole. A read is never aborted.
            retrying(NAME, || {
                let (conns, statement) = (&conns, &statement);
                async move {
                    let mut conn = conns.acquire(NAME).await?;
                    exec(conns, &mut conn.conn, statement, statement.values.clone())
                        .await
                        .map_err(|(failure, commits)| conn.failed(NAME, failure, commits))
                }
            })
            .await
        }
    }

    fn upgrade(&self, t: &Tables) -> impl std::future::Future<Output = Result<(), StoreError>> + Send {
        let (conns, t) = (self.conns.clone(), t.clone());
        async move {
            let conn = conns.acquire(NAME).await?;
            let mut upgrading = Upgrade { conns, conn, sessions: t.sessions.clone(), locked: false };
            let result = async {
                // DDL commits on its own in MySQL: the transaction only holds the turn.
                upgrading.begin().await?;
                let mut schema = Mysql::schema(&t).into_iter();
                for statement in schema.by_ref() {
                    upgrading.exec(statement).await?;
                }
                for column in ADDED_COLUMNS {
                    if one_int(NAME, &upgrading.exec(column_exists(&t, column.name())).await?)? == 0 {
                        upgrading.exec(Mysql::add_column(&t, *column)).await?;
                    }
                }
                upgrading.commit().await?;
                move_old_entries::<Mysql>(&mut upgrading, &t).await
            }
            .await;
            if result.is_err() || upgrading.locked {
                // A transaction or the upgrade lock may be held: the connection goes, and
                // both with it.
                upgrading.conn.conn.close_on_drop();
            }
            result
        }
    }

    fn schema(t: &Tables) -> Vec<Statement> {
        let s = &t.sessions;
        // Binary collation: keys and JSON text are compared byte for byte.
        let text = "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL";
        vec![Statement::schema(format!(
            "CREATE TABLE IF NOT EXISTS {s} (\
             store_key VARCHAR(64) {text} PRIMARY KEY, \
             created_at BIGINT NOT NULL, \
             idle_deadline BIGINT NULL, \
             absolute_deadline BIGINT NULL, \
             expires_at BIGINT NULL, \
             remember_me BIGINT NOT NULL, \
             last_active BIGINT NULL, \
             lifetime BIGINT NULL, \
             entries LONGTEXT {text}, \
             entries_expire_at BIGINT NULL, \
             INDEX {s}_expires_at (expires_at), \
             INDEX {s}_entries_expire_at (entries_expire_at)\
             ) ENGINE = InnoDB"
        ))]
    }

    /// `entries_expire_at` comes with its index, in one statement.
    fn add_column(t: &Tables, column: Added) -> Statement {
        let (s, name) = (&t.sessions, column.name());
        let definition = match column {
            Added::Millis("entries_expire_at") => format!("BIGINT NULL, ADD INDEX {s}_{name} ({name})"),
            Added::Millis(_) => "BIGINT NULL".to_owned(),
            // An expression default: MySQL takes no literal one for text.
            Added::Entries => "LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT ('{}')".to_owned(),
        };
        Statement::schema(format!("ALTER TABLE {s} ADD COLUMN {name} {definition}"))
    }

    fn merge(s: Statement, change: &Change) -> Statement {
        s.sql("entries = JSON_MERGE_PATCH(entries, ").text(&statements::patch(change)).sql(")")
    }

    fn collect_chunk(t: &Tables, now: Timestamp, limit: i64) -> Statement {
        Statement::write()
            .sql(format!("DELETE FROM {} WHERE expires_at <= ", t.sessions))
            .time(now)
            .sql(" ORDER BY expires_at LIMIT ")
            .int(Some(limit))
    }
}

/// Whether the sessions table has `column`: one row holding 1 or 0.
pub(crate) fn column_exists(t: &Tables, column: &str) -> Statement {
    Statement::read_one(&[Col::Int])
        .sql(
            "SELECT COUNT(*) FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = ",
        )
        .text(&t.sessions)
        .sql(" AND column_name = ")
        .text(column)
}

/// Whether the table `name` exists: one row holding 1 or 0.
pub(crate) fn table_exists(name: &str) -> Statement {
    Statement::read_one(&[Col::Int])
        .sql("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ")
        .text(name)
}

/// Takes the upgrade lock of the sessions table `sessions` if it is free: one row holding 1
/// if taken. Named after the database and the table, hashed to fit MySQL's 64 characters.
/// It does not wait: a wait could outlast the statement timeout.
pub(crate) fn lock(sessions: &str) -> Statement {
    Statement::read_one(&[Col::Int])
        .sql("SELECT GET_LOCK(SHA1(CONCAT('session_kit upgrade ', DATABASE(), '.', ")
        .text(sessions)
        .sql(")), 0)")
}

/// Gives the upgrade lock of `sessions` back.
pub(crate) fn unlock(sessions: &str) -> Statement {
    Statement::read_one(&[Col::Int])
        .sql("SELECT RELEASE_LOCK(SHA1(CONCAT('session_kit upgrade ', DATABASE(), '.', ")
        .text(sessions)
        .sql(")))")
}

/// The connection of an upgrade.
struct Upgrade {
    conns: Connections<sqlx::MySql>,
    conn: Conn<sqlx::MySql>,
    sessions: String,
    /// Whether it holds the upgrade lock.
    locked: bool,
}

impl Upgrade {
    async fn raw(&mut self, sql: &str) -> Result<(), StoreError> {
        let conn = &mut self.conn.conn;
        match self.conns.within(Box::pin(conn.execute(sqlx::raw_sql(sql)))).await {
            Ok(_) => Ok(()),
            Err(failure) => Err(self.conn.failed(NAME, failure, false)),
        }
    }
}

/// How long an upgrade waits for another process's turn (one step of its upgrade: a
/// statement of the schema, or the move of a few hundred sessions), at most, and how often it
/// looks.
const LOCK_WAIT: Duration = Duration::from_secs(30);
const LOCK_POLL: Duration = Duration::from_millis(20);

impl Upgrading for Upgrade {
    /// Upgrades by several processes at once take turns, one step at a time, under a named
    /// lock: MySQL commits DDL at once, so a transaction alone would not keep them apart.
    async fn begin(&mut self) -> Result<(), StoreError> {
        let deadline = tokio::time::Instant::now() + LOCK_WAIT;
        loop {
            if one_int(NAME, &self.exec(lock(&self.sessions)).await?)? == 1 {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(StoreError::backend(
                    NAME,
                    format!("another process held the lock of the tables' upgrade for {LOCK_WAIT:?}"),
                ));
            }
            tokio::time::sleep(LOCK_POLL).await;
        }
        self.locked = true;
        self.raw("BEGIN").await
    }

    async fn commit(&mut self) -> Result<(), StoreError> {
        self.raw("COMMIT").await?;
        self.exec(unlock(&self.sessions)).await?;
        self.locked = false;
        Ok(())
    }

    async fn exec(&mut self, statement: Statement) -> Result<Answer, StoreError> {
        let mut statement = statement.rendered();
        let values = std::mem::take(&mut statement.values);
        exec(&self.conns, &mut self.conn.conn, &statement, values)
            .await
            .map_err(|(failure, _)| self.conn.failed(NAME, failure, false))
    }

    fn table_exists(&mut self, name: &str) -> impl std::future::Future<Output = Result<bool, StoreError>> + Send {
        let statement = table_exists(name);
        async move { Ok(one_int(NAME, &self.exec(statement).await?)? > 0) }
    }
}
