//! The MySQL dialect and [`MysqlStore`].

use sqlx::mysql::{MySqlPool, MySqlPoolOptions};
use sqlx::Executor as _;

use super::{
    arguments, decode_rows, retrying, Batch, Col, Dialect, Kind, LiveAs, Rows, SqlStore, Statement, Tables, Value,
};
use crate::error::StoreError;
use crate::time::Timestamp;

const NAME: &str = "mysql";

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
/// # Ok(()) }
/// ```
///
/// MySQL has no data-modifying `WITH` clauses, so changes run as short transactions of
/// prepared statements, each entry list in one multi-row statement; a statement is a round
/// trip. `load` is one `SELECT`; an unchanged session costs one `SELECT`. `apply` is
/// `BEGIN`, `SELECT ... FOR UPDATE` of the session row (the check that it is live, and the
/// lock that queues concurrent changes and keeps a concurrent `delete` out), then only if it
/// is live: one `DELETE` of the removed fields, one multi-row upsert of the set ones, one
/// `UPDATE` of the deadlines (each only when the change has some), `COMMIT`: at most 6
/// round trips. `create` is 6 (`BEGIN`, clear an expired predecessor's entries and row,
/// insert the row, insert the entries, `COMMIT`), `rename` 5, `delete` 4,
/// `collect_expired` 5 per thousand expired sessions. A write the database aborts to break a
/// deadlock is retried a few times, then fails with a
/// [`WriteConflict`](crate::store::WriteConflict) as source.
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
    /// with a pool of sqlx's default size whose connections use the `READ COMMITTED` isolation
    /// level, and creates the tables if needed. For other pool settings, build the pool
    /// yourself and use [`new`](Self::new).
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let pool = MySqlPoolOptions::new()
            .after_connect(|conn, _| Box::pin(async move { conn.execute(READ_COMMITTED).await.map(drop) }))
            .connect(url)
            .await
            .map_err(|e| StoreError::backend(NAME, e))?;
        let store = Self::new(pool);
        store.migrate().await?;
        Ok(store)
    }

    /// A store on a pool you configured. Touches nothing: call [`migrate`](Self::migrate)
    /// once to create the tables.
    ///
    /// Prefer connections at the `READ COMMITTED` isolation level (what [`open`](Self::open)
    /// sets): under MySQL's default `REPEATABLE READ`, concurrent creates deadlock more often
    /// on gap locks. The store retries those, so either level is correct.
    pub fn new(pool: MySqlPool) -> Self {
        Self { inner: SqlStore { dialect: Mysql { pool }, tables: Tables::default() } }
    }

    /// Uses the tables `sessions` and `entries` instead of `session_kit_sessions` and
    /// `session_kit_entries`. Names must be plain identifiers (`A-Z a-z 0-9 _`, up to 48).
    pub fn with_table_names(mut self, sessions: &str, entries: &str) -> Result<Self, StoreError> {
        self.inner.tables = Tables::new(sessions, entries)?;
        Ok(self)
    }

    /// Creates the tables and their indexes if they do not exist (`CREATE TABLE IF NOT
    /// EXISTS`; MySQL commits each at once).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.inner.migrate().await
    }

    /// The connection pool.
    pub fn pool(&self) -> &MySqlPool {
        &self.inner.dialect.pool
    }
}

super::forward_store!(MysqlStore);

/// The MySQL dialect: `?` placeholders, a write batch as a transaction, statement by statement.
#[derive(Debug, Clone)]
pub(crate) struct Mysql {
    pool: MySqlPool,
}

/// In a guarded batch the guard has already found the session live and locked its row, and
/// the statements run only then.
const LIVE: LiveAs = LiveAs::Text("1 = 1");

/// A statement's text and values.
fn rendered(statement: &Statement) -> (String, Vec<Value>) {
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

impl Dialect for Mysql {
    const NAME: &'static str = NAME;
    const LOCK: &'static str = " FOR UPDATE";

    fn run(&self, batch: Batch) -> impl std::future::Future<Output = Result<Rows, StoreError>> + Send {
        let pool = self.pool.clone();
        async move {
            let columns = batch.columns();
            let guard = batch.guard.as_ref().map(rendered);
            let statements: Vec<_> = batch.statements.iter().map(|s| (rendered(s), !s.columns.is_empty())).collect();
            let rows = match batch.kind {
                Kind::Read => {
                    let (sql, values) = &statements[0].0;
                    sqlx::query_with(
                        sql,
                        arguments::<sqlx::MySql>(values.clone()).map_err(|e| StoreError::backend(NAME, e))?,
                    )
                    .fetch_all(&pool)
                    .await
                    .map_err(|e| StoreError::backend(NAME, e))?
                }
                // DDL commits on its own in MySQL: one statement at a time, no transaction.
                Kind::Schema => {
                    for ((sql, _), _) in &statements {
                        sqlx::raw_sql(sql).execute(&pool).await.map_err(|e| StoreError::backend(NAME, e))?;
                    }
                    Vec::new()
                }
                // A dropped transaction rolls back (sqlx sends the ROLLBACK), so a request that
                // goes away mid-write leaves nothing half done; a deadlock rolls the whole
                // transaction back, so it is retried from the start.
                Kind::Write => {
                    retrying(NAME, || {
                        let (pool, guard, statements) = (&pool, &guard, &statements);
                        async move {
                            let mut tx = pool.begin().await?;
                            let mut answer = Vec::new();
                            if let Some(guard) = &guard {
                                answer = fetch(&mut tx, guard).await?;
                                if answer.is_empty() {
                                    // Not live: nothing to write.
                                    tx.rollback().await?;
                                    return Ok(answer);
                                }
                            }
                            for (statement, returns_rows) in statements {
                                let rows = fetch(&mut tx, statement).await?;
                                if *returns_rows {
                                    answer = rows;
                                }
                            }
                            tx.commit().await?;
                            Ok(answer)
                        }
                    })
                    .await?
                }
            };
            Ok(decode_rows(&rows, columns))
        }
    }

    fn schema(&self, t: &Tables) -> Vec<Statement> {
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
        .map(|sql| Statement::new().sql(sql).done())
        .collect()
    }

    fn upsert_entry(&self) -> &'static str {
        " ON DUPLICATE KEY UPDATE value = VALUES(value), expires_at = VALUES(expires_at)"
    }

    fn collect_chunk(&self, t: &Tables, now: Timestamp, limit: i64) -> Vec<Statement> {
        let mut sessions = Statement::new();
        // Their entries go by the cascade, which InnoDB always applies.
        sessions
            .sql(format!("DELETE FROM {} WHERE expires_at <= ", t.sessions))
            .time(now)
            .sql(" ORDER BY expires_at LIMIT ")
            .arg(Value::Int(Some(limit)));
        let mut count = Statement::new();
        // Rows the previous statement deleted, cascades not counted.
        count.sql("SELECT ROW_COUNT()").returning(&[Col::Int]);
        vec![sessions.done(), count.done()]
    }
}
