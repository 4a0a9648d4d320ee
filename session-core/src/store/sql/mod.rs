//! The SQL model of the SQL stores, shared by every dialect.
//!
//! # Schema
//!
//! ```sql
//! sessions (store_key PRIMARY KEY, created_at, idle_deadline, absolute_deadline,
//!           expires_at,            -- the earlier deadline, indexed for collection
//!           remember_me, last_active, lifetime)
//! entries  (store_key REFERENCES sessions ON DELETE CASCADE ON UPDATE CASCADE,
//!           field, value, expires_at, PRIMARY KEY (store_key, field))
//! ```
//!
//! Times are milliseconds since the epoch (saturated to `i64::MAX`); `NULL` is "no deadline".
//! One row per field is what lets two requests that change different fields of one session
//! both win: a change only writes the rows it names.
//!
//! # What a dialect supplies
//!
//! [`Statement`]s are written once, in [`statements`], as standard SQL with bound values kept
//! apart from the text, one function per operation of the tables and the operation's inputs:
//! no connection is needed to build them, and `golden/<dialect>.sql` shows what they render
//! to. A [`Dialect`] supplies the few clauses that differ (entry upsert, row lock, batched
//! collection, the schema's types, PostgreSQL's create), renders the placeholders (`?`, `$1`)
//! and runs a [`Batch`] — atomically for writes, in as few round trips as the backend allows:
//!
//! - SQLite runs any batch as one multi-statement call inside `BEGIN IMMEDIATE`.
//! - PostgreSQL cannot take several statements with bound values in one call, so it runs a
//!   batch as ONE statement: every statement becomes a data-modifying `WITH` clause. Those
//!   all see one snapshot, so the statements here never depend on seeing each other's
//!   effects: a removal and a set never name the same field, and the metadata update comes
//!   last. (`create` is the one operation PostgreSQL writes its own way: see `postgres.rs`.)
//! - MySQL has no data-modifying `WITH`: it runs a batch statement by statement in a
//!   transaction, each entry list as one multi-row statement.
//!
//! A change to one session carries a *guard*: the check that the session is live, run first
//! (and, where the backend locks rows, locking the session row until the end), whose rows
//! are the batch's answer. The statements name its outcome with [`Statement::live`]; the
//! dialect renders that as the check itself (SQLite, serialised by its write lock), as a
//! reference to the locked check (PostgreSQL), or as true (MySQL stops before the statements
//! when the check finds nothing). Where a later statement depends on an earlier one having
//! finished (a rename takes the key the clearing of an expired record frees),
//! [`Dialect::in_order`] says so to PostgreSQL.
//!
//! # Waiting and failing
//!
//! Nothing waits without bound: a pool acquire, opening a connection, a statement (the
//! server's own limit, so a statement it cancels is a definite failure) and, for PostgreSQL
//! and MySQL, the answer to a statement (the store's limit, for a network that went quiet)
//! each have a timeout with a default of seconds, set through the stores' builders. When the
//! answer to the statement that commits a write is lost (PostgreSQL's one statement, MySQL's
//! `COMMIT`), the write is reported as [`StoreError::OutcomeUnknown`]: the server may have
//! committed it, whole. Everything before that statement is sent, and every answer the server
//! gives, is a definite failure. See `Connections` and `Conn::failed`.

/// Implements [`Store`](crate::store::Store) for a public SQL store by forwarding to its
/// `inner` [`SqlStore`]: the contract is written once, in the SQL model, for every dialect.
macro_rules! forward_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl crate::store::Store for $store {
            async fn load(
                &self,
                key: &crate::id::StoreKey,
                now: crate::time::Timestamp,
            ) -> Result<Option<crate::record::Record>, crate::error::StoreError> {
                self.inner.load(key, now).await
            }
            async fn create(
                &self,
                key: &crate::id::StoreKey,
                record: &crate::record::Record,
                now: crate::time::Timestamp,
            ) -> Result<crate::store::Created, crate::error::StoreError> {
                self.inner.create(key, record, now).await
            }
            async fn apply(
                &self,
                key: &crate::id::StoreKey,
                change: &crate::record::Change,
                now: crate::time::Timestamp,
            ) -> Result<crate::store::Applied, crate::error::StoreError> {
                self.inner.apply(key, change, now).await
            }
            async fn delete(&self, key: &crate::id::StoreKey) -> Result<(), crate::error::StoreError> {
                self.inner.delete(key).await
            }
            async fn rename(
                &self,
                from: &crate::id::StoreKey,
                to: &crate::id::StoreKey,
                now: crate::time::Timestamp,
            ) -> Result<crate::store::Renamed, crate::error::StoreError> {
                self.inner.rename(from, to, now).await
            }
            async fn collect_expired(&self, now: crate::time::Timestamp) -> Result<u64, crate::error::StoreError> {
                self.inner.collect_expired(now).await
            }
            async fn count_live(&self, now: crate::time::Timestamp) -> Result<u64, crate::error::StoreError> {
                self.inner.count_live(now).await
            }
        }
    };
}
pub(crate) use forward_store;

#[cfg(test)]
mod golden;
#[cfg(feature = "mysql")]
pub(crate) mod mysql;
#[cfg(feature = "postgres")]
pub(crate) mod postgres;
#[cfg(feature = "sqlite")]
pub(crate) mod sqlite;
mod statements;

use std::borrow::Cow;
use std::future::Future;
use std::time::Duration;

use crate::error::StoreError;
use crate::id::StoreKey;
use crate::record::{Change, Entry, Meta, Record};
use crate::store::{Applied, Created, Renamed};
use crate::time::Timestamp;

/// A value bound to a statement, or read from a result cell. `None` is SQL `NULL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Int(Option<i64>),
    Text(Option<String>),
    Blob(Option<Vec<u8>>),
}

/// The type a result column is read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Col {
    Int,
    Text,
    Blob,
}

/// Result rows: each cell read as its [`Col`], or why it could not be (a corrupt row).
pub(crate) type Rows = Vec<Vec<Result<Value, String>>>;

/// One SQL statement: text with its bound values in place, rendered by the dialect.
///
/// Built by value, one statement per value: `Statement::new().sql("DELETE ...").key(key)`.
#[derive(Debug)]
#[must_use]
pub(crate) struct Statement {
    parts: Vec<Part>,
    /// The columns it returns, if it returns rows.
    pub(crate) columns: &'static [Col],
    /// Its name where a dialect runs statements as `WITH` clauses and another one refers to it.
    // Only PostgreSQL runs statements as `WITH` clauses.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) name: Option<&'static str>,
}

#[derive(Debug)]
enum Part {
    Sql(Cow<'static, str>),
    Arg(Value),
    /// "The guarded session is live": the guard's condition, written out for dialects that
    /// evaluate it in place.
    Live(Vec<Part>),
}

impl Part {
    /// A copy of a text or value part (conditions are made of nothing else).
    fn plain(&self) -> Option<Part> {
        match self {
            Part::Sql(text) => Some(Part::Sql(text.clone())),
            Part::Arg(value) => Some(Part::Arg(value.clone())),
            Part::Live(_) => None,
        }
    }
}

/// How a dialect renders [`Part::Live`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum LiveAs {
    /// The condition itself, evaluated where it stands.
    // MySQL, when alone, checks the guard before the statements instead.
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    Inline,
    /// This SQL text instead.
    // SQLite, when alone, evaluates the condition in place.
    #[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
    Text(&'static str),
}

impl Statement {
    pub(crate) fn new() -> Self {
        Self { parts: Vec::new(), columns: &[], name: None }
    }

    /// Appends SQL text.
    pub(crate) fn sql(mut self, text: impl Into<Cow<'static, str>>) -> Self {
        self.parts.push(Part::Sql(text.into()));
        self
    }

    /// Appends a placeholder bound to `value`.
    pub(crate) fn arg(mut self, value: Value) -> Self {
        self.parts.push(Part::Arg(value));
        self
    }

    fn key(self, key: &StoreKey) -> Self {
        self.arg(Value::Text(Some(key.as_str().to_owned())))
    }

    pub(crate) fn time(self, t: Timestamp) -> Self {
        self.arg(Value::Int(Some(millis(t))))
    }

    fn deadline(self, t: Option<Timestamp>) -> Self {
        self.arg(Value::Int(t.map(millis)))
    }

    /// Appends ` AND (column IS NULL OR column > now)`: the deadline in `column` has not passed.
    fn not_expired(self, column: &'static str, now: Timestamp) -> Self {
        self.sql(" AND (").sql(column).sql(" IS NULL OR ").sql(column).sql(" > ").time(now).sql(")")
    }

    /// Appends `condition`, a statement fragment of text and values.
    fn append(mut self, condition: &Statement) -> Self {
        self.parts.extend(condition.parts.iter().filter_map(Part::plain));
        self
    }

    /// Appends "the batch's guarded session is live", which `condition` says in SQL; only in
    /// the statements of a guarded batch (see the module docs).
    fn live(mut self, condition: &Statement) -> Self {
        self.parts.push(Part::Live(condition.parts.iter().filter_map(Part::plain).collect()));
        self
    }

    pub(crate) fn returning(mut self, columns: &'static [Col]) -> Self {
        self.columns = columns;
        self
    }

    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn named(mut self, name: &'static str) -> Self {
        self.name = Some(name);
        self
    }

    /// Appends the text to `sql` and the values to `args`; `placeholder(out, n)` writes the
    /// placeholder of the `n`-th value of the whole batch (1-based).
    pub(crate) fn render(
        &self,
        sql: &mut String,
        args: &mut Vec<Value>,
        live: LiveAs,
        placeholder: &impl Fn(&mut String, usize),
    ) {
        render_parts(&self.parts, sql, args, live, placeholder);
    }
}

fn render_parts(
    parts: &[Part],
    sql: &mut String,
    args: &mut Vec<Value>,
    live: LiveAs,
    placeholder: &impl Fn(&mut String, usize),
) {
    for part in parts {
        match part {
            Part::Sql(text) => sql.push_str(text),
            Part::Arg(value) => {
                args.push(value.clone());
                placeholder(sql, args.len());
            }
            Part::Live(condition) => match live {
                LiveAs::Inline => render_parts(condition, sql, args, live, placeholder),
                LiveAs::Text(text) => sql.push_str(text),
            },
        }
    }
}

/// What a batch does, which decides how it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A single read statement.
    Read,
    /// Writes, applied all or nothing.
    Write,
    /// Schema statements (no bound values), run one by one.
    Schema,
}

/// Statements run together in one unit.
#[derive(Debug)]
pub(crate) struct Batch {
    pub(crate) kind: Kind,
    /// For a change to one session: `SELECT 1 FROM sessions WHERE <the session is live>`
    /// (with the dialect's row lock), run before the statements; its rows are the answer.
    pub(crate) guard: Option<Statement>,
    /// Without a guard, at most one of them returns rows: the answer.
    pub(crate) statements: Vec<Statement>,
}

impl Batch {
    fn new(kind: Kind, statements: Vec<Statement>) -> Self {
        Self { kind, guard: None, statements }
    }

    /// The columns of the answer, if any.
    pub(crate) fn columns(&self) -> &'static [Col] {
        self.guard.iter().chain(&self.statements).map(|s| s.columns).find(|c| !c.is_empty()).unwrap_or(&[])
    }
}

/// Table names, checked to be plain identifiers (they are spliced into SQL text).
#[derive(Debug, Clone)]
pub(crate) struct Tables {
    pub(crate) sessions: String,
    pub(crate) entries: String,
}

impl Default for Tables {
    fn default() -> Self {
        Self { sessions: "session_kit_sessions".into(), entries: "session_kit_entries".into() }
    }
}

impl Tables {
    pub(crate) fn new(sessions: &str, entries: &str) -> Result<Self, StoreError> {
        for name in [sessions, entries] {
            let mut chars = name.chars();
            let plain = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
                && name.len() <= 48;
            if !plain {
                return Err(StoreError::Config(format!(
                    "SQL store: table name {name:?} must be 1 to 48 characters of A-Z a-z 0-9 _, not starting with a digit"
                )));
            }
        }
        if sessions == entries {
            return Err(StoreError::Config("SQL store: the sessions and entries tables need different names".into()));
        }
        Ok(Self { sessions: sessions.into(), entries: entries.into() })
    }
}

/// A database's flavour of the SQL model and the way to run statements on it.
///
/// The SQL it adds is associated items, functions of the tables and the operation's inputs
/// only: the statements can be built, and read, without a connection.
pub(crate) trait Dialect: Sized + Send + Sync + 'static {
    /// The store's name in errors and logs.
    const NAME: &'static str;

    /// What follows the guard's `SELECT` to lock the session row until the end of the batch.
    const LOCK: &'static str = "";

    /// The clause after `INSERT INTO entries (store_key, field, value, expires_at) SELECT ...`
    /// that turns it into an upsert on `(store_key, field)`.
    const UPSERT_ENTRY: &'static str =
        " ON CONFLICT (store_key, field) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at";

    /// Runs `batch`: atomically if it writes, in one call where the backend allows. Returns
    /// the rows of its guard, or of its row-returning statement.
    fn run(&self, batch: Batch) -> impl Future<Output = Result<Rows, StoreError>> + Send;

    /// Adds what tables created by an earlier release lack ([`ADDED_COLUMNS`]), after
    /// [`schema`](Self::schema) has run; safe when several processes do it at once. Dialects
    /// that can say it in the schema statements leave this alone.
    fn upgrade(&self, _t: &Tables) -> impl Future<Output = Result<(), StoreError>> + Send {
        std::future::ready(Ok(()))
    }

    /// Statements creating the tables and indexes if they do not exist.
    fn schema(t: &Tables) -> Vec<Statement>;

    /// The batch that stores a new session under `key`, unless a live one holds it: by
    /// default the shared one ([`statements::create`]).
    fn create(t: &Tables, key: &StoreKey, record: &Record, now: Timestamp) -> Create {
        Create::FailsIfTaken(statements::create::<Self>(t, key, record, now))
    }

    /// Makes `then`, a statement ending in a `WHERE` condition, change no row before `first`
    /// has run to its end, for a dialect that runs a batch's statements all at once; the
    /// others run them in order and leave both alone.
    fn in_order(first: Statement, then: Statement) -> (Statement, Statement) {
        (first, then)
    }

    /// Statements removing up to `limit` sessions expired at `now` (their entries first) and
    /// returning one row holding the number of sessions removed.
    fn collect_chunk(t: &Tables, now: Timestamp, limit: i64) -> Vec<Statement>;
}

/// The batch of a [`Dialect::create`], and how it tells that the key was taken.
#[derive(Debug)]
pub(crate) enum Create {
    /// A live session under the key fails the batch on the primary key (`KeyTaken`).
    FailsIfTaken(Batch),
    /// The batch returns one row holding 1 if it stored the record, 0 if the key was taken.
    // Only PostgreSQL writes its own create.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Answers(Batch),
}

/// Nullable integer columns of the sessions table that tables created by session-kit 0.1 lack,
/// added by each dialect's upgrade when a store opens.
pub(crate) const ADDED_COLUMNS: &[&str] = &["last_active", "lifetime"];

/// How many expired sessions one collection transaction removes: short transactions keep
/// requests from waiting long behind a big collection.
const COLLECT_CHUNK: i64 = 1000;

/// The [`Store`](crate::Store) operations on the SQL model, for any dialect.
#[derive(Debug, Clone)]
pub(crate) struct SqlStore<D> {
    pub(crate) dialect: D,
    pub(crate) tables: Tables,
}

impl<D: Dialect> SqlStore<D> {
    pub(crate) async fn migrate(&self) -> Result<(), StoreError> {
        self.dialect.run(statements::schema::<D>(&self.tables)).await?;
        self.dialect.upgrade(&self.tables).await
    }

    /// One statement: the session row joined with its live entries.
    pub(crate) async fn load(&self, key: &StoreKey, now: Timestamp) -> Result<Option<Record>, StoreError> {
        let rows = self.dialect.run(statements::load(&self.tables, key, now)).await?;
        Ok(decode_record(key, rows))
    }

    /// One transaction: the dialect's [`create`](Dialect::create).
    pub(crate) async fn create(&self, key: &StoreKey, record: &Record, now: Timestamp) -> Result<Created, StoreError> {
        match D::create(&self.tables, key, record, now) {
            Create::FailsIfTaken(batch) => match self.dialect.run(batch).await {
                Ok(_) => Ok(Created::Stored),
                Err(e) if is_unique_violation(&e) => Ok(Created::KeyTaken),
                Err(e) => Err(e),
            },
            Create::Answers(batch) => {
                let rows = self.dialect.run(batch).await?;
                match rows.first().and_then(|row| row.first()) {
                    Some(Ok(Value::Int(Some(1)))) => Ok(Created::Stored),
                    Some(Ok(Value::Int(Some(0)))) => Ok(Created::KeyTaken),
                    other => Err(StoreError::backend(D::NAME, format!("create returned no outcome: {other:?}"))),
                }
            }
        }
    }

    /// One guarded batch, whose guard finds no row if the session is not live.
    pub(crate) async fn apply(&self, key: &StoreKey, change: &Change, now: Timestamp) -> Result<Applied, StoreError> {
        let rows = self.dialect.run(statements::apply::<D>(&self.tables, key, change, now)).await?;
        Ok(if rows.is_empty() { Applied::Gone } else { Applied::Done })
    }

    /// One transaction.
    pub(crate) async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        self.dialect.run(statements::delete(&self.tables, key)).await.map(drop)
    }

    /// One guarded batch; a live record under `to` fails it on the primary key (`KeyTaken`).
    pub(crate) async fn rename(&self, from: &StoreKey, to: &StoreKey, now: Timestamp) -> Result<Renamed, StoreError> {
        match self.dialect.run(statements::rename::<D>(&self.tables, from, to, now)).await {
            Ok(rows) if rows.is_empty() => Ok(Renamed::Gone),
            Ok(_) => Ok(Renamed::Done),
            Err(e) if is_unique_violation(&e) => Ok(Renamed::KeyTaken),
            Err(e) => Err(e),
        }
    }

    /// One `SELECT COUNT(*)` of the session rows whose deadline has not passed: the same
    /// statement in every dialect. No index helps (live rows are most of the table), so the
    /// database reads every live row: cheap for thousands of sessions, slow for many millions.
    pub(crate) async fn count_live(&self, now: Timestamp) -> Result<u64, StoreError> {
        let rows = self.dialect.run(statements::count_live(&self.tables, now)).await?;
        match rows.first().and_then(|row| row.first()) {
            Some(Ok(Value::Int(Some(n)))) => u64::try_from(*n)
                .map_err(|_| StoreError::backend(D::NAME, format!("a negative count of sessions: {n}"))),
            other => Err(StoreError::backend(D::NAME, format!("counting sessions returned no count: {other:?}"))),
        }
    }

    /// Expired entries of live sessions, then expired sessions in chunks, one transaction each.
    pub(crate) async fn collect_expired(&self, now: Timestamp) -> Result<u64, StoreError> {
        let mut total = 0u64;
        let mut first = true;
        loop {
            let chunk = statements::collect_chunk::<D>(&self.tables, now, COLLECT_CHUNK, first);
            let rows = self.dialect.run(chunk).await?;
            let removed = match rows.first().and_then(|row| row.first()) {
                Some(Ok(Value::Int(Some(n)))) => u64::try_from(*n).unwrap_or(0),
                other => {
                    return Err(StoreError::backend(D::NAME, format!("collection returned no count: {other:?}")));
                }
            };
            total += removed;
            if removed < COLLECT_CHUNK as u64 {
                return Ok(total);
            }
            first = false;
        }
    }
}

/// Milliseconds as SQL integers: far-future times saturate rather than wrap negative.
fn millis(t: Timestamp) -> i64 {
    i64::try_from(t.as_millis()).unwrap_or(i64::MAX)
}

/// Whether the database refused a write because a key was taken.
fn is_unique_violation(e: &StoreError) -> bool {
    let StoreError::Backend { source, .. } = e else { return false };
    let Some(db) = source.downcast_ref::<sqlx::Error>().and_then(sqlx::Error::as_database_error) else {
        return false;
    };
    #[cfg(feature = "mysql")]
    if let Some(my) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        // InnoDB reports a key taken in the child table of an `ON UPDATE CASCADE` by its own
        // numbers (with and without the row), not as a duplicate key.
        if matches!(my.number(), 1761 | 1762) {
            return true;
        }
    }
    db.is_unique_violation()
}

/// Builds the record from the rows of [`SqlStore::load`]. A row whose metadata cannot be read
/// makes the whole session unreadable (`None`, with a warning); an unreadable entry is
/// skipped with a warning, like a field whose type changed.
fn decode_record(key: &StoreKey, rows: Rows) -> Option<Record> {
    let first = rows.first()?;
    let meta = match decode_meta(first) {
        Ok(meta) => meta,
        Err(why) => {
            tracing::warn!(key = ?key, why, "SQL store: corrupt session row; starting a fresh session");
            return None;
        }
    };
    let mut record = Record::new(meta);
    for row in &rows {
        match decode_entry(row) {
            Ok(Some(entry)) => record.entries.push(entry),
            // The outer join found no entries.
            Ok(None) => {}
            Err(why) => tracing::warn!(key = ?key, why, "SQL store: corrupt entry row; field skipped"),
        }
    }
    Some(record)
}

/// What a result cell holds, said without its content: a corrupt row is logged, and a stored
/// value (a one-time code, say) must not reach the log.
fn cell_kind(cell: Option<&Result<Value, String>>) -> String {
    match cell {
        None => "no such column".to_owned(),
        Some(Err(e)) => format!("unreadable ({e})"),
        Some(Ok(Value::Int(None) | Value::Text(None) | Value::Blob(None))) => "NULL".to_owned(),
        Some(Ok(Value::Int(Some(_)))) => "an integer".to_owned(),
        Some(Ok(Value::Text(Some(_)))) => "text".to_owned(),
        Some(Ok(Value::Blob(Some(_)))) => "bytes".to_owned(),
    }
}

fn decode_meta(row: &[Result<Value, String>]) -> Result<Meta, String> {
    let int = |i: usize| match row.get(i) {
        Some(Ok(Value::Int(v))) => Ok(*v),
        other => Err(format!("column {i} holds {}", cell_kind(other))),
    };
    let time = |i: usize| -> Result<Option<Timestamp>, String> {
        match int(i)? {
            None => Ok(None),
            Some(ms) => {
                u64::try_from(ms).map(|ms| Some(Timestamp::from_millis(ms))).map_err(|_| format!("negative time {ms}"))
            }
        }
    };
    let created_at = time(0)?.ok_or("no created_at")?;
    let remember_me = match int(3)? {
        Some(0) => false,
        Some(1) => true,
        Some(_) => return Err("remember_me is neither 0 nor 1".to_owned()),
        None => return Err("remember_me is NULL".to_owned()),
    };
    // `NULL` in a row written before the column existed: its creation is the best guess.
    let last_active = time(7)?.unwrap_or(created_at);
    let lifetime = match int(8)? {
        None => None,
        Some(ms) => Some(Duration::from_millis(u64::try_from(ms).map_err(|_| format!("negative lifetime {ms}"))?)),
    };
    Ok(Meta { created_at, idle_deadline: time(1)?, absolute_deadline: time(2)?, remember_me, last_active, lifetime })
}

/// A duration in whole milliseconds, saturated to what a BIGINT holds.
fn duration_millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn decode_entry(row: &[Result<Value, String>]) -> Result<Option<(String, Entry)>, String> {
    let field = match row.get(4) {
        Some(Ok(Value::Text(None))) => return Ok(None),
        Some(Ok(Value::Text(Some(field)))) => field.clone(),
        other => return Err(format!("the field name column holds {}", cell_kind(other))),
    };
    let value = match row.get(5) {
        Some(Ok(Value::Blob(Some(value)))) => value.clone(),
        other => return Err(format!("the value of {field:?} holds {}", cell_kind(other))),
    };
    let expires_at = match row.get(6) {
        Some(Ok(Value::Int(None))) => None,
        Some(Ok(Value::Int(Some(ms)))) => {
            Some(u64::try_from(*ms).map(Timestamp::from_millis).map_err(|_| format!("{field:?} expires at {ms}"))?)
        }
        other => return Err(format!("expires_at of {field:?} holds {}", cell_kind(other))),
    };
    Ok(Some((field, Entry { value, expires_at })))
}

/// How many times a write the database aborted to break a deadlock or a serialization
/// conflict is tried in all. Each try is a whole transaction (or a whole single statement),
/// so trying again is safe; contention that outlasts this many is reported.
#[cfg(any(feature = "postgres", feature = "mysql"))]
const WRITE_ATTEMPTS: u32 = 8;

/// A write to a PostgreSQL or MySQL store that the database aborted every time it was tried,
/// to break a deadlock or a serialization conflict with concurrent writes. It is the source of
/// a [`StoreError::Backend`]; the write changed nothing. Usually a sign of very heavy
/// contention on one session or of a long-running transaction of someone else's.
#[cfg(any(feature = "postgres", feature = "mysql"))]
#[derive(Debug, thiserror::Error)]
#[error("write aborted by the database {attempts} times in a row (deadlock or serialization conflict)")]
#[non_exhaustive]
pub struct WriteConflict {
    /// How many times the write was tried.
    pub attempts: u32,
    /// The database's error on the last try.
    #[source]
    pub source: sqlx::Error,
}

/// Runs `attempt` until it succeeds, fails for another reason than a deadlock or a
/// serialization conflict (SQLSTATE `40001`, which MySQL's deadlock 1213 also reports, or
/// PostgreSQL's `40P01`), or has been tried [`WRITE_ATTEMPTS`] times.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) async fn retrying<T, F, Fut>(name: &'static str, mut attempt: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let mut attempts = 0;
    loop {
        attempts += 1;
        let source = match attempt().await {
            Ok(value) => return Ok(value),
            Err(StoreError::Backend { source, .. }) if is_conflict(&*source) => source,
            Err(e) => return Err(e),
        };
        if attempts >= WRITE_ATTEMPTS {
            return Err(match source.downcast::<sqlx::Error>() {
                Ok(source) => StoreError::backend(name, WriteConflict { attempts, source: *source }),
                Err(source) => StoreError::backend(name, source),
            });
        }
        tracing::debug!(store = name, attempts, error = %source, "SQL store: write aborted by the database; retrying");
    }
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
fn is_conflict(e: &(dyn std::error::Error + 'static)) -> bool {
    e.downcast_ref::<sqlx::Error>()
        .and_then(sqlx::Error::as_database_error)
        .and_then(|db| db.code())
        .is_some_and(|code| code == "40001" || code == "40P01")
}

/// How long the PostgreSQL and MySQL stores wait to open a connection, by default.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the SQL stores wait for a free connection of their pool, by default.
pub(crate) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the server may spend on one statement of a PostgreSQL or MySQL store (waiting
/// for row locks included), by default; SQLite's busy timeout plays that part.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) const STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);
/// How much longer than the statement timeout a store waits for an answer before it gives the
/// connection up: time for the server's own timeout error, a definite failure, to arrive.
#[cfg(any(feature = "postgres", feature = "mysql"))]
const ANSWER_GRACE: Duration = Duration::from_secs(1);

// A zero statement timeout would even mean "no limit" to PostgreSQL: the builders refuse it.
pub(crate) use super::positive;

/// What the PostgreSQL and MySQL builders set, with the defaults; `Debug` leaves the URL out, as
/// it may hold a password.
#[cfg(any(feature = "postgres", feature = "mysql"))]
#[derive(Clone)]
pub(crate) struct ServerSettings {
    pub(crate) url: String,
    pub(crate) connect_timeout: Duration,
    pub(crate) acquire_timeout: Duration,
    pub(crate) statement_timeout: Duration,
    pub(crate) max_connections: u32,
    pub(crate) tables: Option<(String, String)>,
}

/// [`ServerSettings`] checked, ready to build a pool from.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) struct CheckedSettings {
    pub(crate) tables: Tables,
    pub(crate) connect: Duration,
    pub(crate) acquire: Duration,
    pub(crate) statement: Duration,
    pub(crate) max_connections: u32,
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
impl ServerSettings {
    pub(crate) fn new(url: &str, max_connections: u32) -> Self {
        Self {
            url: url.to_owned(),
            connect_timeout: CONNECT_TIMEOUT,
            acquire_timeout: ACQUIRE_TIMEOUT,
            statement_timeout: STATEMENT_TIMEOUT,
            max_connections,
            tables: None,
        }
    }

    /// Refuses zero timeouts, an empty pool and table names that are not plain identifiers.
    pub(crate) fn check(&self, name: &'static str) -> Result<CheckedSettings, StoreError> {
        let tables = match &self.tables {
            Some((sessions, entries)) => Tables::new(sessions, entries)?,
            None => Tables::default(),
        };
        Ok(CheckedSettings {
            tables,
            connect: positive(name, "connect timeout", self.connect_timeout)?,
            acquire: positive(name, "acquire timeout", self.acquire_timeout)?,
            statement: positive(name, "statement timeout", self.statement_timeout)?,
            max_connections: pool_size(name, self.max_connections)?,
        })
    }
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
impl std::fmt::Debug for ServerSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerSettings")
            .field("connect_timeout", &self.connect_timeout)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .field("max_connections", &self.max_connections)
            .field("tables", &self.tables)
            .finish_non_exhaustive()
    }
}

/// The pool size of a builder, which sqlx needs to be at least one.
pub(crate) fn pool_size(name: &'static str, n: u32) -> Result<u32, StoreError> {
    if n == 0 {
        return Err(StoreError::Config(format!("{name} store: max_connections must be at least 1")));
    }
    Ok(n)
}

/// No answer came within the time a store waits for one; the connection was given up. The
/// source of the [`StoreError`] of the operation: [`StoreError::OutcomeUnknown`] for a write
/// that may have been applied, [`StoreError::Backend`] otherwise.
#[cfg(any(feature = "postgres", feature = "mysql"))]
#[derive(Debug, thiserror::Error)]
#[error("no answer from the database within {0:?}; connection dropped")]
pub(crate) struct NoAnswer(Duration);

/// The connections of a PostgreSQL or MySQL store, and how long it waits for them and for
/// their answers.
///
/// sqlx opens connections inside an acquire, under one deadline. When the store built the
/// pool, it splits that deadline in two: `slots` (one permit per connection of the pool)
/// bound the wait for a free connection by the acquire timeout, and sqlx's own deadline,
/// the connect timeout, then bounds opening (or checking) the connection.
#[cfg(any(feature = "postgres", feature = "mysql"))]
#[derive(Debug)]
pub(crate) struct Connections<DB: sqlx::Database> {
    pub(crate) pool: sqlx::Pool<DB>,
    slots: Option<(std::sync::Arc<tokio::sync::Semaphore>, Duration)>,
    /// How long to wait for the answer to one statement.
    answer: Duration,
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
impl<DB: sqlx::Database> Clone for Connections<DB> {
    fn clone(&self) -> Self {
        Self { pool: self.pool.clone(), slots: self.slots.clone(), answer: self.answer }
    }
}

/// A pooled connection and the pool slot it holds (given back after it).
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) struct Conn<DB: sqlx::Database> {
    pub(crate) conn: sqlx::pool::PoolConnection<DB>,
    _slot: Option<tokio::sync::OwnedSemaphorePermit>,
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
impl<DB: sqlx::Database> Connections<DB> {
    /// Connections of a pool the store built with `max_connections`, and its statement timeout.
    pub(crate) fn built(pool: sqlx::Pool<DB>, max_connections: u32, acquire: Duration, statement: Duration) -> Self {
        let slots = tokio::sync::Semaphore::new(max_connections as usize);
        Self {
            pool,
            slots: Some((std::sync::Arc::new(slots), acquire)),
            answer: statement.saturating_add(ANSWER_GRACE),
        }
    }

    /// Connections of a pool the user built: its own acquire timeout applies.
    pub(crate) fn given(pool: sqlx::Pool<DB>) -> Self {
        Self { pool, slots: None, answer: STATEMENT_TIMEOUT.saturating_add(ANSWER_GRACE) }
    }

    /// A connection: nothing has been sent yet, so every failure here is definite.
    pub(crate) async fn acquire(&self, name: &'static str) -> Result<Conn<DB>, StoreError> {
        let slot = match &self.slots {
            None => None,
            Some((slots, timeout)) => match tokio::time::timeout(*timeout, slots.clone().acquire_owned()).await {
                Ok(Ok(slot)) => Some(slot),
                Ok(Err(closed)) => return Err(StoreError::backend(name, closed)),
                Err(_) => return Err(StoreError::backend(name, sqlx::Error::PoolTimedOut)),
            },
        };
        let conn = self.pool.acquire().await.map_err(|e| StoreError::backend(name, e))?;
        Ok(Conn { conn, _slot: slot })
    }

    /// `work` (a statement on one of these connections), or [`Failure::NoAnswer`] when its
    /// answer does not come in time.
    ///
    /// `work` comes boxed: sqlx's futures on a borrowed connection lose their `Send` to the
    /// compiler's higher-ranked lifetime checks inside a generic async fn otherwise.
    pub(crate) async fn within<'a, T>(
        &self,
        work: std::pin::Pin<Box<dyn Future<Output = Result<T, sqlx::Error>> + Send + 'a>>,
    ) -> Result<T, Failure> {
        match tokio::time::timeout(self.answer, work).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(Failure::Sql(e)),
            Err(_) => Err(Failure::NoAnswer(self.answer)),
        }
    }
}

/// Why a statement sent on a connection failed.
#[cfg(any(feature = "postgres", feature = "mysql"))]
#[derive(Debug)]
pub(crate) enum Failure {
    Sql(sqlx::Error),
    NoAnswer(Duration),
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
impl<DB: sqlx::Database> Conn<DB> {
    /// The store's error for `failure` of a statement on this connection. `commits` says
    /// whether the statement's success would have committed a write: then a lost answer
    /// leaves the outcome unknown (the server may have committed it), while any answer, and
    /// any failure of a statement before the commit, is definite. A connection that broke,
    /// or may still owe an answer nobody will read, is closed rather than given back.
    pub(crate) fn failed(&mut self, name: &'static str, failure: Failure, commits: bool) -> StoreError {
        let lost = match &failure {
            // The server answered: the connection is in step.
            Failure::Sql(sqlx::Error::Database(_)) => false,
            // Refused before anything was sent.
            Failure::Sql(sqlx::Error::Encode(_) | sqlx::Error::InvalidArgument(_)) => false,
            Failure::Sql(_) | Failure::NoAnswer(_) => true,
        };
        if lost {
            self.conn.close_on_drop();
        }
        let source: crate::error::BoxError = match failure {
            Failure::Sql(e) => Box::new(e),
            Failure::NoAnswer(after) => Box::new(NoAnswer(after)),
        };
        if lost && commits {
            StoreError::outcome_unknown(name, source)
        } else {
            StoreError::Backend { store: name, source }
        }
    }
}

/// The batch's values as the arguments of a sqlx query on `DB`.
pub(crate) fn arguments<'q, DB: sqlx::Database>(values: Vec<Value>) -> Result<DB::Arguments<'q>, sqlx::Error>
where
    Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<Vec<u8>>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    use sqlx::Arguments as _;
    let mut args = DB::Arguments::<'q>::default();
    for value in values {
        match value {
            Value::Int(v) => args.add(v),
            Value::Text(v) => args.add(v),
            Value::Blob(v) => args.add(v),
        }
        .map_err(sqlx::Error::Encode)?;
    }
    Ok(args)
}

/// Reads each row's cells as `columns` say. A cell of another type fails here, and the caller
/// treats the row as corrupt.
pub(crate) fn decode_rows<R: sqlx::Row>(rows: &[R], columns: &[Col]) -> Rows
where
    usize: sqlx::ColumnIndex<R>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<Vec<u8>>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    rows.iter()
        .map(|row| {
            columns
                .iter()
                .enumerate()
                .map(|(i, col)| {
                    match col {
                        Col::Int => row.try_get::<Option<i64>, _>(i).map(Value::Int),
                        // MySQL marks text of a binary collation (field names) as binary, which
                        // sqlx will not read as a `String`: read such text as bytes.
                        Col::Text => row.try_get::<Option<String>, _>(i).map(Value::Text).or_else(|e| {
                            match row.try_get::<Option<Vec<u8>>, _>(i) {
                                Ok(bytes) => bytes
                                    .map(String::from_utf8)
                                    .transpose()
                                    .map(Value::Text)
                                    .map_err(|_| sqlx::Error::Decode("text that is not UTF-8".into())),
                                Err(_) => Err(e),
                            }
                        }),
                        Col::Blob => row.try_get::<Option<Vec<u8>>, _>(i).map(Value::Blob),
                    }
                    .map_err(|e| e.to_string())
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A corrupt row is logged with why it is corrupt, never with what it holds.
    #[test]
    fn a_corrupt_row_is_described_without_its_content() {
        let secret = "otp-271828";
        let text = |t: &str| Ok(Value::Text(Some(t.to_owned())));
        let int = |i: i64| Ok(Value::Int(Some(i)));
        // The value column holds text instead of bytes.
        let entry = [int(1), int(2), int(3), int(0), text("otp"), text(secret), Ok(Value::Int(None))];
        let why = decode_entry(&entry).expect_err("text where bytes belong");
        assert!(why.contains("\"otp\"") && why.contains("text") && !why.contains(secret), "{why}");
        // A metadata column holds text.
        let meta = [text(secret), int(2), int(3), int(0), text("otp"), Ok(Value::Blob(None)), Ok(Value::Int(None))];
        let why = decode_meta(&meta).expect_err("text where a time belongs");
        assert!(why.contains("column 0 holds text") && !why.contains(secret), "{why}");
    }
}
