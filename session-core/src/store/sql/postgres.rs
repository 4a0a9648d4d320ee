//! The PostgreSQL dialect and [`PostgresStore`].

use std::fmt::Write as _;
use std::str::FromStr as _;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::Executor as _;

use super::{
    arguments, decode_rows, entries, move_old_entries, one_int, retrying, Added, Answer, CheckedSettings, Col, Conn,
    Connections, Dialect, Failure, Kind, Rendered, ServerSettings, SqlStore, Statement, Tables, Upgrading, Value,
    ADDED_COLUMNS,
};
use crate::error::StoreError;
use crate::record::Change;
use crate::time::Timestamp;

const NAME: &str = "postgres";

/// How many connections the pool may open, by default (sqlx's default).
const MAX_CONNECTIONS: u32 = 10;

/// Serialises concurrent [`PostgresStore::migrate`] calls on one table (several app servers
/// starting at once): PostgreSQL's `CREATE TABLE IF NOT EXISTS` is not safe against itself, and
/// the move of an earlier release's fields takes turns. The advisory lock's key: this, mixed
/// with the table's name (FNV-1a), so that stores of other tables never wait for it.
const MIGRATION_LOCK: u64 = 0x5e55_1011_4b17_0001;

/// The advisory lock key of the upgrade of the sessions table `sessions`.
fn migration_lock(sessions: &str) -> i64 {
    let hash =
        sessions.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    i64::from_ne_bytes((MIGRATION_LOCK ^ hash).to_ne_bytes())
}

/// Sessions in PostgreSQL, through [`sqlx`]: the store for several app servers that share a
/// PostgreSQL database.
///
/// The same SQL model as [`SqliteStore`](crate::store::SqliteStore): a row per session, its
/// fields in a `JSONB` column into which a change merges the fields it sets or removes on the
/// server, so concurrent requests changing different fields of one session both win; a change
/// to a destroyed or expired session is refused and never brings it back; expired sessions
/// are found through an index. Cheap to clone (clones share the pool).
///
/// ```no_run
/// # async fn demo() -> Result<(), session_core::StoreError> {
/// // Connects and creates the table if needed.
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
/// Every operation is ONE statement, so one round trip: `load` a `SELECT` of one row;
/// `apply` an `UPDATE` whose `WHERE` checks that the session is live (concurrent changes to
/// one session queue on its row lock, and each merges into what the one before it wrote);
/// `create` an `INSERT`, `rename` an `UPDATE` of the key, `delete` a `DELETE` (a create or
/// rename onto the key of an expired session first clears it: one more); an unchanged session
/// costs the `SELECT` only. `collect_expired` is one statement per thousand expired sessions
/// (`FOR UPDATE SKIP LOCKED`: it never waits for requests), then one `UPDATE` per session
/// holding a field whose own deadline passed; `count_live` one `SELECT COUNT(*)`, which reads
/// every live session's row. A write the database aborts to break a deadlock or a
/// serialization conflict is retried a few times, then fails with a
/// [`WriteConflict`](crate::store::WriteConflict) as source.
///
/// Nothing waits for long (see [`builder`](Self::builder) for the limits). A write whose
/// answer is lost (the connection broke, or no answer came in time) fails with
/// [`StoreError::OutcomeUnknown`]: being one statement, it was applied whole or not at all.
///
/// The table (`session_kit_sessions` by default) holds times as `BIGINT` milliseconds since
/// the epoch, and the fields as a `JSONB` object of their base64-encoded bytes. Opening the
/// tables of session-kit 0.2 (a second table, `session_kit_entries`, with a row per field)
/// moves those rows into their sessions and drops that table: sessions stored before are
/// kept. Stop processes of the earlier release first: once the table is gone, their requests
/// fail.
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
    /// TLS) and creates the table if needed, with the defaults of [`builder`](Self::builder).
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
    /// once to create the table.
    ///
    /// The pool's own acquire timeout applies (sqlx's default is 30 s). The store waits 6 s
    /// for the answer to a statement, then gives the connection up: set a `statement_timeout`
    /// below that on the pool's connections, so that the server gives up first.
    pub fn new(pool: PgPool) -> Self {
        Self { inner: SqlStore { dialect: Postgres { conns: Connections::given(pool) }, tables: Tables::default() } }
    }

    /// Uses the table `sessions` instead of `session_kit_sessions`, and `entries` as the name
    /// of the table session-kit 0.2 kept fields in (moved into `sessions` by
    /// [`migrate`](Self::migrate)) instead of `session_kit_entries`. Names must be plain
    /// identifiers (`A-Z a-z 0-9 _`, up to 48).
    pub fn with_table_names(mut self, sessions: &str, entries: &str) -> Result<Self, StoreError> {
        self.inner.tables = Tables::new(sessions, entries)?;
        Ok(self)
    }

    /// Creates the table and its indexes if they do not exist and adds the columns tables of
    /// an earlier release lack, in one transaction that holds an advisory lock, so app servers
    /// starting together do not trip over each other; then moves the sessions of session-kit
    /// 0.2 into the current layout (see [`PostgresStore`]), a few hundred per transaction.
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

    /// Uses the table `sessions` instead of `session_kit_sessions`, and `entries` as the name
    /// of the table session-kit 0.2 kept fields in instead of `session_kit_entries`. Names
    /// must be plain identifiers (`A-Z a-z 0-9 _`, up to 48): [`open`](Self::open) checks
    /// them.
    pub fn table_names(mut self, sessions: &str, entries: &str) -> Self {
        self.settings.tables = Some((sessions.to_owned(), entries.to_owned()));
        self
    }

    /// Connects and creates the table if needed (or upgrades it).
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
            .test_before_acquire(false)
            .before_acquire(|conn, meta| Box::pin(super::ping_if_idle(conn, meta)))
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

/// The PostgreSQL dialect: `$n` placeholders, `jsonb` merges.
#[derive(Debug, Clone)]
pub(crate) struct Postgres {
    conns: Connections<sqlx::Postgres>,
}

/// `statement`'s text with `$n` placeholders, and its values.
pub(crate) fn rendered(statement: Statement) -> Rendered {
    statement.render(|out, n| {
        // Writing to a String cannot fail.
        let _ = write!(out, "${n}");
    })
}

/// Runs `statement` on `conn`, waiting for each answer as long as `conns` say. The statement
/// is prepared first (no round trip once cached): a failure there is a definite one, even for
/// a write. A failure says whether the statement may have committed.
async fn exec(
    conns: &Connections<sqlx::Postgres>,
    conn: &mut sqlx::PgConnection,
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
    let args = arguments::<sqlx::Postgres>(values).map_err(|e| (Failure::Sql(e), false))?;
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
        // One statement is atomic: its own success commits it.
        Kind::Write | Kind::Schema => match conns.within(Box::pin(query.execute(&mut *conn))).await {
            Ok(done) => Ok(Answer { rows: Vec::new(), affected: done.rows_affected() }),
            Err(failure) => Err((failure, true)),
        },
    }
}

impl Dialect for Postgres {
    const NAME: &'static str = NAME;
    // Text first: a parameter cast straight to `jsonb` would be sent as `jsonb`'s binary form.
    const JSON_ARG: (&'static str, &'static str) = ("CAST(CAST(", " AS text) AS jsonb)");
    const ENTRIES_TEXT: &'static str = "entries::text";

    fn run(&self, statement: Statement) -> impl std::future::Future<Output = Result<Answer, StoreError>> + Send {
        let conns = self.conns.clone();
        let statement = rendered(statement);
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
                upgrading.begin().await?;
                for statement in Postgres::schema(&t).into_iter().take(1) {
                    upgrading.exec(statement).await?;
                }
                for column in ADDED_COLUMNS {
                    upgrading.exec(Postgres::add_column(&t, *column)).await?;
                }
                for statement in Postgres::schema(&t).into_iter().skip(1) {
                    upgrading.exec(statement).await?;
                }
                upgrading.commit().await?;
                move_old_entries::<Postgres>(&mut upgrading, &t).await
            }
            .await;
            if result.is_err() || upgrading.locked {
                // A transaction or the advisory lock may be held: the connection goes, and both
                // with it.
                upgrading.conn.conn.close_on_drop();
            }
            result
        }
    }

    fn schema(t: &Tables) -> Vec<Statement> {
        let s = &t.sessions;
        vec![
            Statement::schema(format!(
                "CREATE TABLE IF NOT EXISTS {s} (\
                 store_key TEXT NOT NULL PRIMARY KEY, \
                 created_at BIGINT NOT NULL, \
                 idle_deadline BIGINT, \
                 absolute_deadline BIGINT, \
                 expires_at BIGINT, \
                 remember_me BIGINT NOT NULL, \
                 last_active BIGINT, \
                 lifetime BIGINT, \
                 entries JSONB NOT NULL DEFAULT '{{}}', \
                 entries_expire_at BIGINT)"
            )),
            Statement::schema(format!(
                "CREATE INDEX IF NOT EXISTS {s}_expires_at ON {s} (expires_at) WHERE expires_at IS NOT NULL"
            )),
            Statement::schema(format!(
                "CREATE INDEX IF NOT EXISTS {s}_entries_expire_at ON {s} (entries_expire_at) \
                 WHERE entries_expire_at IS NOT NULL"
            )),
        ]
    }

    /// The catalog first: an `ALTER TABLE` locks out every reader of the table, even when it
    /// has nothing to do.
    fn add_column(t: &Tables, column: Added) -> Statement {
        let (s, name) = (&t.sessions, column.name());
        let definition = match column {
            Added::Millis(_) => "BIGINT",
            Added::Entries => "JSONB NOT NULL DEFAULT '{}'",
        };
        Statement::schema(format!(
            "DO $$ BEGIN \
             IF NOT EXISTS (SELECT 1 FROM pg_attribute \
             WHERE attrelid = '{s}'::regclass AND attname = '{name}' AND NOT attisdropped) THEN \
             ALTER TABLE {s} ADD COLUMN IF NOT EXISTS {name} {definition}; \
             END IF; END $$"
        ))
    }

    /// `(entries - ARRAY[<removed>]) || <set>`: the removals, then the sets, so a field both
    /// removed and set ends up set.
    fn merge(s: Statement, change: &Change) -> Statement {
        let removed: Vec<&String> =
            change.remove.iter().filter(|field| change.set.iter().all(|(set, _)| set != *field)).collect();
        let mut s = s.sql("entries = ");
        s = if removed.is_empty() { s.sql("entries") } else { s.sql("(entries - ARRAY[") };
        for (i, field) in removed.iter().enumerate() {
            s = s.sql(if i == 0 { "" } else { ", " }).text(field).sql("::text");
        }
        if !removed.is_empty() {
            s = s.sql("])");
        }
        if change.set.is_empty() {
            return s;
        }
        let set = entries::to_json(change.set.iter().map(|(k, e)| (k.as_str(), Some(e))));
        s.sql(" || ").json::<Self>(set)
    }

    fn collect_chunk(t: &Tables, now: Timestamp, limit: i64) -> Statement {
        // SKIP LOCKED: a session a request is changing right now is left for the next round.
        Statement::write()
            .sql(format!(
                "DELETE FROM {0} WHERE store_key IN (SELECT store_key FROM {0} WHERE expires_at <= ",
                t.sessions
            ))
            .time(now)
            .sql(" ORDER BY expires_at LIMIT ")
            .int(Some(limit))
            .sql(" FOR UPDATE SKIP LOCKED)")
    }
}

/// The connection of an upgrade.
struct Upgrade {
    conns: Connections<sqlx::Postgres>,
    conn: Conn<sqlx::Postgres>,
    sessions: String,
    /// Whether it holds the upgrade's advisory lock.
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

impl Upgrading for Upgrade {
    /// Upgrades by several processes at once take turns, one transaction at a time, under an
    /// advisory lock taken before the transaction begins: a transaction that began before
    /// waiting for it could go on seeing a table another process dropped meanwhile (its
    /// catalog snapshot is only refreshed at its start, or when it locks a table).
    async fn begin(&mut self) -> Result<(), StoreError> {
        self.exec(lock(&self.sessions)).await?;
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
        // Inside a transaction nothing commits before COMMIT: every failure is definite.
        let mut statement = rendered(statement);
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

/// Takes the advisory lock of the upgrade of the sessions table `sessions`, waiting for it.
pub(crate) fn lock(sessions: &str) -> Statement {
    Statement::schema(format!("SELECT pg_advisory_lock({})", migration_lock(sessions)))
}

/// Gives the lock of [`lock`] back.
pub(crate) fn unlock(sessions: &str) -> Statement {
    Statement::schema(format!("SELECT pg_advisory_unlock({})", migration_lock(sessions)))
}

/// Whether a table named `name` is found on the search path: one row holding 1 or 0.
pub(crate) fn table_exists(name: &str) -> Statement {
    Statement::read_one(&[Col::Int])
        .sql("SELECT CAST(CASE WHEN to_regclass(")
        .text(name)
        .sql(") IS NULL THEN 0 ELSE 1 END AS bigint)")
}
