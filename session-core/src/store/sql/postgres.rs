//! The PostgreSQL dialect and [`PostgresStore`].

use std::fmt::Write as _;
use std::str::FromStr as _;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::Executor as _;

use super::statements::{insert_session, upsert_entries};
use super::{
    arguments, decode_rows, retrying, Batch, CheckedSettings, Col, Connections, Create, Dialect, Kind, LiveAs, Rows,
    ServerSettings, SqlStore, Statement, Tables, Value, ADDED_COLUMNS,
};
use crate::error::StoreError;
use crate::id::StoreKey;
use crate::record::Record;
use crate::time::Timestamp;

const NAME: &str = "postgres";

/// How many connections the pool may open, by default (sqlx's default).
const MAX_CONNECTIONS: u32 = 10;

/// Serialises concurrent [`PostgresStore::migrate`] calls (several app servers starting at
/// once): PostgreSQL's `CREATE TABLE IF NOT EXISTS` is not safe against itself.
const MIGRATION_LOCK: i64 = 0x5e55_1011_4b17_0001;

/// Sessions in PostgreSQL, through [`sqlx`]: the store for several app servers that share a
/// PostgreSQL database.
///
/// The same SQL model as [`SqliteStore`](crate::store::SqliteStore): a row per session and a
/// row per field, so concurrent requests changing different fields of one session both win;
/// a change to a destroyed or expired session is refused and never brings it back; expired
/// sessions are found through an index. Cheap to clone (clones share the pool).
///
/// ```no_run
/// # async fn demo() -> Result<(), session_core::StoreError> {
/// // Connects and creates the tables if needed.
/// let store = session_core::PostgresStore::open("postgres://app@127.0.0.1/app").await?;
///
/// // The same with other limits.
/// use std::time::Duration;
/// let store = session_core::PostgresStore::builder("postgres://app@127.0.0.1/app")
///     .connect_timeout(Duration::from_secs(2))
///     .acquire_timeout(Duration::from_secs(1))
///     .statement_timeout(Duration::from_secs(2))
///     .max_connections(20)
///     .open()
///     .await?;
/// # Ok(()) }
/// ```
///
/// **No TLS yet**: the `postgres` feature builds sqlx without TLS, so the connection to the
/// server is plain TCP (or a Unix socket). Keep the database on a trusted network.
///
/// Every operation is ONE statement, so one round trip: `load` a `SELECT`; `create`, `apply`,
/// `rename` and `delete` a statement of data-modifying `WITH` clauses, atomic by itself, that
/// first locks the session row (`FOR NO KEY UPDATE`), so concurrent changes to one session
/// queue instead of deadlocking and a concurrent `delete` cannot slip between the check and
/// the writes; an unchanged session costs one `SELECT`. `collect_expired` is one statement
/// per thousand expired sessions (`FOR UPDATE SKIP LOCKED`: it never waits for requests),
/// `count_live` one `SELECT COUNT(*)`, which reads every live session's row.
/// A write the database aborts to break a deadlock or a serialization conflict is retried
/// a few times, then fails with a [`WriteConflict`](crate::store::WriteConflict) as source.
///
/// Nothing waits for long (see [`builder`](Self::builder) for the limits). A write whose
/// answer is lost (the connection broke, or no answer came in time) fails with
/// [`StoreError::OutcomeUnknown`]: being one statement, it was applied whole or not at all.
///
/// Tables (`session_kit_sessions`, `session_kit_entries` by default): times are `BIGINT`
/// milliseconds since the epoch, field values `BYTEA`; entries reference their session
/// `ON DELETE CASCADE ON UPDATE CASCADE`.
#[derive(Clone)]
pub struct PostgresStore {
    inner: SqlStore<Postgres>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").field("tables", &self.inner.tables).finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database`; no
    /// TLS) and creates the tables if needed, with the defaults of [`builder`](Self::builder).
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Self::builder(url).open().await
    }

    /// Settings for connecting to the database at `url` (as in [`open`](Self::open)). The
    /// defaults: a pool of 10 connections; 5 s to open a connection, 5 s to wait for a free
    /// one, and 5 s for the server to run one statement (row locks it waits for included),
    /// after which it cancels the statement; the store itself waits a second longer for an
    /// answer before it gives the connection up. For settings the builder lacks, build the
    /// pool yourself and use [`new`](Self::new).
    pub fn builder(url: &str) -> PostgresStoreBuilder {
        PostgresStoreBuilder { settings: ServerSettings::new(url, MAX_CONNECTIONS) }
    }

    /// A store on a pool you configured. Touches nothing: call [`migrate`](Self::migrate)
    /// once to create the tables.
    ///
    /// The pool's own acquire timeout applies (sqlx's default is 30 s). The store waits 6 s
    /// for the answer to a statement, then gives the connection up: set a `statement_timeout`
    /// below that on the pool's connections, so that the server gives up first.
    pub fn new(pool: PgPool) -> Self {
        Self { inner: SqlStore { dialect: Postgres { conns: Connections::given(pool) }, tables: Tables::default() } }
    }

    /// Uses the tables `sessions` and `entries` instead of `session_kit_sessions` and
    /// `session_kit_entries`. Names must be plain identifiers (`A-Z a-z 0-9 _`, up to 48).
    pub fn with_table_names(mut self, sessions: &str, entries: &str) -> Result<Self, StoreError> {
        self.inner.tables = Tables::new(sessions, entries)?;
        Ok(self)
    }

    /// Creates the tables and indexes if they do not exist, and adds the columns tables of an
    /// earlier release lack, in one transaction that holds an advisory lock, so app servers
    /// starting together do not trip over each other.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.inner.migrate().await
    }

    /// The connection pool. A connection you take from it counts against the pool's size
    /// without the store knowing: while you hold it, an operation of a store from
    /// [`builder`](Self::builder) may wait for the connect timeout instead of the acquire
    /// timeout.
    pub fn pool(&self) -> &PgPool {
        &self.inner.dialect.conns.pool
    }
}

/// How to connect a [`PostgresStore`]: from [`PostgresStore::builder`], finished by
/// [`open`](Self::open).
#[derive(Clone)]
#[must_use = "a builder does nothing until `open` is called"]
pub struct PostgresStoreBuilder {
    settings: ServerSettings,
}

impl std::fmt::Debug for PostgresStoreBuilder {
    // The settings leave the URL out: it may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("PostgresStoreBuilder").field(&self.settings).finish()
    }
}

impl PostgresStoreBuilder {
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

    /// How long the server may run one statement, waiting for row locks included, before it
    /// cancels it and the operation fails, having changed nothing (default 5 s, the server's
    /// `statement_timeout`; must not be zero). The store waits a second longer for an answer,
    /// then gives the connection up: a write then fails with
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

    /// Connects and creates the tables if needed.
    pub async fn open(self) -> Result<PostgresStore, StoreError> {
        let CheckedSettings { tables, connect, acquire, statement, max_connections } = self.settings.check(NAME)?;
        let options = PgConnectOptions::from_str(&self.settings.url)
            .map_err(|e| StoreError::Config(format!("{NAME} store: the database URL: {e}")))?;
        // In the startup message: no round trip. Whole milliseconds, at least one (zero would
        // mean no limit), at most what the setting takes.
        let millis = statement.as_millis().clamp(1, i32::MAX as u128);
        let options = options.options([("statement_timeout", millis)]);
        // sqlx opens connections inside an acquire, under this deadline: see `Connections`.
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(connect)
            .connect_with(options)
            .await
            .map_err(|e| StoreError::backend(NAME, e))?;
        let conns = Connections::built(pool, max_connections, acquire, statement);
        let store = PostgresStore { inner: SqlStore { dialect: Postgres { conns }, tables } };
        store.migrate().await?;
        Ok(store)
    }
}

super::forward_store!(PostgresStore);

/// The PostgreSQL dialect: `$n` placeholders, every batch as one statement.
#[derive(Debug, Clone)]
pub(crate) struct Postgres {
    conns: Connections<sqlx::Postgres>,
}

/// The guard's answer, as the statements of a guarded batch see it.
const LIVE: LiveAs = LiveAs::Text("EXISTS (SELECT 1 FROM live)");

/// The statements of a schema batch as one text, run by the simple query protocol: it takes
/// them all in one call (there are no bound values) and runs them as one implicit transaction,
/// which keeps the advisory lock.
pub(crate) fn schema_sql(batch: &Batch) -> String {
    let mut sql = format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK});\n");
    for statement in &batch.statements {
        statement.render(&mut sql, &mut Vec::new(), LiveAs::Inline, &|_: &mut String, _| {});
        sql.push_str(";\n");
    }
    sql
}

/// `batch` as one statement: its statements become `WITH` clauses, the last one (or, with a
/// guard, a `SELECT` of the guard's rows) the main query. PostgreSQL runs the main query
/// first, so the guard's row lock is taken before any clause writes; every clause that
/// refers to the guard reads its one, locked, result.
pub(crate) fn one_statement(batch: &Batch) -> (String, Vec<Value>) {
    let placeholder = |out: &mut String, n: usize| {
        // Writing to a String cannot fail.
        let _ = write!(out, "${n}");
    };
    let (mut sql, mut values) = (String::with_capacity(512), Vec::new());
    let (clauses, main) = match (&batch.guard, batch.statements.split_last()) {
        (Some(_), _) => (&batch.statements[..], None),
        (None, Some((last, rest))) => (rest, Some(last)),
        (None, None) => (&[][..], None),
    };
    let mut first = true;
    let mut open = |sql: &mut String, name: &str| {
        sql.push_str(if first { "WITH " } else { ", " });
        first = false;
        sql.push_str(name);
        sql.push_str(" AS (");
    };
    if let Some(guard) = &batch.guard {
        open(&mut sql, "live");
        guard.render(&mut sql, &mut values, LIVE, &placeholder);
        sql.push(')');
    }
    for (i, clause) in clauses.iter().enumerate() {
        let name = clause.name.map_or_else(|| format!("w{i}"), str::to_owned);
        open(&mut sql, &name);
        clause.render(&mut sql, &mut values, LIVE, &placeholder);
        sql.push(')');
    }
    if !sql.is_empty() {
        sql.push(' ');
    }
    match main {
        Some(main) => main.render(&mut sql, &mut values, LIVE, &placeholder),
        None => sql.push_str("SELECT 1 FROM live"),
    }
    (sql, values)
}

impl Dialect for Postgres {
    const NAME: &'static str = NAME;
    // The lock an UPDATE of non-key columns takes: every change to one session takes it
    // first, so they queue, and it leaves other sessions' foreign key checks alone.
    const LOCK: &'static str = " FOR NO KEY UPDATE";

    fn run(&self, batch: Batch) -> impl std::future::Future<Output = Result<Rows, StoreError>> + Send {
        let conns = self.conns.clone();
        async move {
            if batch.kind == Kind::Schema {
                let sql = schema_sql(&batch);
                let mut conn = conns.acquire(NAME).await?;
                return match conns.within(Box::pin(conn.conn.execute(sqlx::raw_sql(&sql)))).await {
                    Ok(_) => Ok(Vec::new()),
                    Err(failure) => Err(conn.failed(NAME, failure, false)),
                };
            }
            let (sql, values) = one_statement(&batch);
            // One statement is atomic: its own success commits it.
            let commits = batch.kind == Kind::Write;
            // It is retried whole; a read is never aborted by a conflict.
            let rows = retrying(NAME, || {
                let (sql, values, conns) = (&sql, values.clone(), &conns);
                async move {
                    let args = arguments::<sqlx::Postgres>(values).map_err(|e| StoreError::backend(NAME, e))?;
                    let mut conn = conns.acquire(NAME).await?;
                    match conns.within(Box::pin(sqlx::query_with(sql, args).fetch_all(&mut *conn.conn))).await {
                        Ok(rows) => Ok(rows),
                        Err(failure) => Err(conn.failed(NAME, failure, commits)),
                    }
                }
            })
            .await?;
            Ok(decode_rows(&rows, batch.columns()))
        }
    }

    fn schema(t: &Tables) -> Vec<Statement> {
        let (s, e) = (&t.sessions, &t.entries);
        [
            format!(
                "CREATE TABLE IF NOT EXISTS {s} (\
                 store_key TEXT NOT NULL PRIMARY KEY, \
                 created_at BIGINT NOT NULL, \
                 idle_deadline BIGINT, \
                 absolute_deadline BIGINT, \
                 expires_at BIGINT, \
                 remember_me BIGINT NOT NULL, \
                 last_active BIGINT, \
                 lifetime BIGINT)"
            ),
            format!("CREATE INDEX IF NOT EXISTS {s}_expires_at ON {s} (expires_at) WHERE expires_at IS NOT NULL"),
            format!(
                "CREATE TABLE IF NOT EXISTS {e} (\
                 store_key TEXT NOT NULL REFERENCES {s} (store_key) ON DELETE CASCADE ON UPDATE CASCADE, \
                 field TEXT NOT NULL, \
                 value BYTEA NOT NULL, \
                 expires_at BIGINT, \
                 PRIMARY KEY (store_key, field))"
            ),
            format!("CREATE INDEX IF NOT EXISTS {e}_expires_at ON {e} (expires_at) WHERE expires_at IS NOT NULL"),
        ]
        .into_iter()
        // Tables of an earlier release lack them. The catalog first: an ALTER TABLE locks out
        // every reader of the table, even when it has nothing to do.
        .chain(ADDED_COLUMNS.iter().map(|column| {
            format!(
                "DO $$ BEGIN \
                 IF NOT EXISTS (SELECT 1 FROM pg_attribute \
                 WHERE attrelid = '{s}'::regclass AND attname = '{column}' AND NOT attisdropped) THEN \
                 ALTER TABLE {s} ADD COLUMN IF NOT EXISTS {column} BIGINT; \
                 END IF; END $$"
            )
        }))
        .map(|sql| Statement::new().sql(sql))
        .collect()
    }

    /// One statement: claim the key (insert the session, or overwrite an expired one in place:
    /// deleting it would cascade, at the end of the statement, onto the new entries), then,
    /// only if the claim succeeded, drop the old record's other fields and upsert the new ones.
    fn create(t: &Tables, key: &StoreKey, record: &Record, now: Timestamp) -> Create {
        let claim = insert_session(t, key, &record.meta)
            .sql(format!(
                " ON CONFLICT (store_key) DO UPDATE SET created_at = excluded.created_at, \
                 idle_deadline = excluded.idle_deadline, absolute_deadline = excluded.absolute_deadline, \
                 expires_at = excluded.expires_at, remember_me = excluded.remember_me, \
                 last_active = excluded.last_active, lifetime = excluded.lifetime \
                 WHERE {}.expires_at <= ",
                t.sessions
            ))
            .time(now)
            .sql(" RETURNING 1")
            .named("claim");
        let claimed = "EXISTS (SELECT 1 FROM claim)";
        let mut old = Statement::new()
            .sql(format!("DELETE FROM {} WHERE store_key = ", t.entries))
            .key(key)
            .sql(" AND ")
            .sql(claimed);
        // Fields of the new record are upserted: the two clauses never touch the same row.
        for (i, (field, _)) in record.entries.iter().enumerate() {
            old = old.sql(if i == 0 { " AND field NOT IN (" } else { ", " }).arg(Value::Text(Some(field.clone())));
        }
        if !record.entries.is_empty() {
            old = old.sql(")");
        }
        let mut clauses = vec![claim, old];
        clauses.extend(upsert_entries::<Self>(t, key, &record.entries, |s| s.sql(claimed)));
        clauses.push(Statement::new().sql("SELECT count(*) FROM claim").returning(&[Col::Int]));
        Create::Answers(Batch { kind: Kind::Write, guard: None, statements: clauses })
    }

    /// Data-modifying `WITH` clauses run in no set order, except that a clause runs to its end
    /// as soon as another reads its rows: `then` reads `first`'s count before it changes a row.
    /// A rename needs that twice over: the key `first` frees must be free when `then` takes
    /// it, and the cascade of `first`'s deletion (run at the end of the statement, in the order
    /// the rows changed) must come before the cascade of the move, or it would delete the
    /// moved entries.
    fn in_order(first: Statement, then: Statement) -> (Statement, Statement) {
        (first.sql(" RETURNING 1").named("earlier"), then.sql(" AND (SELECT count(*) FROM earlier) >= 0"))
    }

    fn collect_chunk(t: &Tables, now: Timestamp, limit: i64) -> Vec<Statement> {
        vec![
            // SKIP LOCKED: a session a request is changing right now is left for the next round.
            Statement::new()
                .sql(format!("SELECT store_key FROM {} WHERE expires_at <= ", t.sessions))
                .time(now)
                .sql(" ORDER BY expires_at LIMIT ")
                .arg(Value::Int(Some(limit)))
                .sql(" FOR UPDATE SKIP LOCKED")
                .named("chosen"),
            // Their entries go by the cascade.
            Statement::new()
                .sql(format!(
                    "DELETE FROM {} WHERE store_key IN (SELECT store_key FROM chosen) RETURNING 1",
                    t.sessions
                ))
                .named("gone"),
            Statement::new().sql("SELECT count(*) FROM gone").returning(&[Col::Int]),
        ]
    }
}
