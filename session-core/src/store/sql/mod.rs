//! The SQL model of the SQL stores, shared by every dialect.
//!
//! # Schema
//!
//! ```sql
//! sessions (store_key PRIMARY KEY, created_at, idle_deadline, absolute_deadline,
//!           expires_at,            -- the earlier deadline, indexed for collection
//!           remember_me)
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
//! [`Statement`]s are written here once, as standard SQL with bound values kept apart from
//! the text; a [`Dialect`] renders the placeholders (`?1`, `$1`, `?`), supplies the few
//! clauses that differ (entry upsert, statements without `FROM`, batched collection, the
//! schema's types) and runs a [`Batch`] — atomically for writes, in as few round trips as the
//! backend allows. SQLite runs any batch in one call; a backend that cannot take several
//! statements with bound values in one call runs them in a transaction, or overrides an
//! operation with a single statement (e.g. PostgreSQL data-modifying `WITH` clauses).

pub(crate) mod sqlite;

use std::borrow::Cow;
use std::future::Future;

use crate::error::StoreError;
use crate::id::StoreKey;
use crate::record::{Change, Entry, Meta, Record};
use crate::store::{Applied, Created};
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
#[derive(Debug, Default)]
pub(crate) struct Statement {
    parts: Vec<Part>,
    /// The columns it returns, if it returns rows.
    pub(crate) columns: &'static [Col],
}

#[derive(Debug)]
enum Part {
    Sql(Cow<'static, str>),
    Arg(Value),
}

impl Statement {
    fn new() -> Self {
        Self::default()
    }

    /// Appends SQL text.
    fn sql(&mut self, text: impl Into<Cow<'static, str>>) -> &mut Self {
        self.parts.push(Part::Sql(text.into()));
        self
    }

    /// Appends a placeholder bound to `value`.
    fn arg(&mut self, value: Value) -> &mut Self {
        self.parts.push(Part::Arg(value));
        self
    }

    fn key(&mut self, key: &StoreKey) -> &mut Self {
        self.arg(Value::Text(Some(key.as_str().to_owned())))
    }

    fn time(&mut self, t: Timestamp) -> &mut Self {
        self.arg(Value::Int(Some(millis(t))))
    }

    fn deadline(&mut self, t: Option<Timestamp>) -> &mut Self {
        self.arg(Value::Int(t.map(millis)))
    }

    fn returning(&mut self, columns: &'static [Col]) -> &mut Self {
        self.columns = columns;
        self
    }

    fn done(&mut self) -> Self {
        std::mem::take(self)
    }

    /// Appends the text to `sql` and the values to `args`; `placeholder(out, n)` writes the
    /// placeholder of the `n`-th value of the whole batch (1-based).
    pub(crate) fn render(&self, sql: &mut String, args: &mut Vec<Value>, placeholder: impl Fn(&mut String, usize)) {
        for part in &self.parts {
            match part {
                Part::Sql(text) => sql.push_str(text),
                Part::Arg(value) => {
                    args.push(value.clone());
                    placeholder(sql, args.len());
                }
            }
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
}

/// Statements run together in one unit. At most one of them returns rows.
#[derive(Debug)]
pub(crate) struct Batch {
    pub(crate) kind: Kind,
    pub(crate) statements: Vec<Statement>,
}

impl Batch {
    /// The columns of the statement that returns rows, if any.
    pub(crate) fn columns(&self) -> &'static [Col] {
        self.statements.iter().map(|s| s.columns).find(|c| !c.is_empty()).unwrap_or(&[])
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
pub(crate) trait Dialect: Send + Sync + 'static {
    /// The store's name in errors and logs.
    const NAME: &'static str;

    /// What `SELECT <values>` without a table needs after it (MySQL: `FROM DUAL`).
    const FROM_NOTHING: &'static str = "";

    /// Runs `batch`: atomically if it writes, in one call where the backend allows. Returns
    /// the rows of its row-returning statement.
    fn run(&self, batch: Batch) -> impl Future<Output = Result<Rows, StoreError>> + Send;

    /// Statements creating the tables and indexes if they do not exist.
    fn schema(&self, t: &Tables) -> Vec<Statement>;

    /// The clause after `INSERT INTO entries (store_key, field, value, expires_at) ...` that
    /// turns it into an upsert on `(store_key, field)`.
    fn upsert_entry(&self) -> &'static str {
        " ON CONFLICT (store_key, field) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at"
    }

    /// Statements removing up to `limit` sessions expired at `now` (their entries first) and
    /// returning one row holding the number of sessions removed.
    fn collect_chunk(&self, t: &Tables, now: Timestamp, limit: i64) -> Vec<Statement>;
}

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
    /// `(s.)expires_at` has not passed at `now`.
    fn live(s: &mut Statement, column: &'static str, now: Timestamp) {
        s.sql(" AND (").sql(column).sql(" IS NULL OR ").sql(column).sql(" > ").time(now).sql(")");
    }

    /// `EXISTS (a live session under key)`.
    fn exists_live(&self, s: &mut Statement, key: &StoreKey, now: Timestamp) {
        s.sql(format!("EXISTS (SELECT 1 FROM {} WHERE store_key = ", self.tables.sessions)).key(key);
        Self::live(s, "expires_at", now);
        s.sql(")");
    }

    fn select_live(&self, key: &StoreKey, now: Timestamp) -> Statement {
        let mut s = Statement::new();
        s.sql(format!("SELECT 1 FROM {} WHERE store_key = ", self.tables.sessions)).key(key);
        Self::live(&mut s, "expires_at", now);
        s.returning(&[Col::Int]).done()
    }

    /// The upsert of one entry: `INSERT ... SELECT <values> [WHERE guard] <upsert>`.
    fn upsert(&self, key: &StoreKey, field: &str, entry: &Entry, guard: Option<(&StoreKey, Timestamp)>) -> Statement {
        let mut s = Statement::new();
        s.sql(format!("INSERT INTO {} (store_key, field, value, expires_at) SELECT ", self.tables.entries))
            .key(key)
            .sql(", ")
            .arg(Value::Text(Some(field.to_owned())))
            .sql(", ")
            .arg(Value::Blob(Some(entry.value.clone())))
            .sql(", ")
            .deadline(entry.expires_at)
            .sql(D::FROM_NOTHING);
        match guard {
            Some((key, now)) => {
                s.sql(" WHERE ");
                self.exists_live(&mut s, key, now);
            }
            // SQLite needs a WHERE between `INSERT ... SELECT` and `ON CONFLICT` to parse it.
            None => {
                s.sql(" WHERE 1 = 1");
            }
        }
        s.sql(self.dialect.upsert_entry()).done()
    }

    pub(crate) async fn migrate(&self) -> Result<(), StoreError> {
        let statements = self.dialect.schema(&self.tables);
        self.dialect.run(Batch { kind: Kind::Write, statements }).await.map(drop)
    }

    /// One statement: the session row joined with its live entries.
    pub(crate) async fn load(&self, key: &StoreKey, now: Timestamp) -> Result<Option<Record>, StoreError> {
        let t = &self.tables;
        let mut s = Statement::new();
        s.sql(format!(
            "SELECT s.created_at, s.idle_deadline, s.absolute_deadline, s.remember_me, e.field, e.value, e.expires_at \
             FROM {} s LEFT JOIN {} e ON e.store_key = s.store_key",
            t.sessions, t.entries
        ));
        Self::live(&mut s, "e.expires_at", now);
        s.sql(" WHERE s.store_key = ").key(key);
        Self::live(&mut s, "s.expires_at", now);
        s.returning(&[Col::Int, Col::Int, Col::Int, Col::Int, Col::Text, Col::Blob, Col::Int]);
        let rows = self.dialect.run(Batch { kind: Kind::Read, statements: vec![s.done()] }).await?;
        Ok(decode_record(key, rows))
    }

    /// One transaction: clear an expired predecessor, insert the session (a live one under
    /// the key makes this fail on the primary key: `KeyTaken`), insert the entries.
    pub(crate) async fn create(&self, key: &StoreKey, record: &Record, now: Timestamp) -> Result<Created, StoreError> {
        let t = &self.tables;
        let mut statements = Vec::with_capacity(3 + record.entries.len());
        let mut s = Statement::new();
        // Entries of an expired or deleted predecessor must not show up in the new session.
        s.sql(format!("DELETE FROM {} WHERE store_key = ", t.entries)).key(key).sql(" AND NOT ");
        self.exists_live(&mut s, key, now);
        statements.push(s.done());
        s.sql(format!("DELETE FROM {} WHERE store_key = ", t.sessions)).key(key).sql(" AND expires_at <= ").time(now);
        statements.push(s.done());
        s.sql(format!(
            "INSERT INTO {} (store_key, created_at, idle_deadline, absolute_deadline, expires_at, remember_me) VALUES (",
            t.sessions
        ))
        .key(key);
        push_meta_values(&mut s, &record.meta);
        statements.push(s.sql(")").done());
        for (field, entry) in &record.entries {
            statements.push(self.upsert(key, field, entry, None));
        }
        match self.dialect.run(Batch { kind: Kind::Write, statements }).await {
            Ok(_) => Ok(Created::Stored),
            Err(e) if is_unique_violation(&e) => Ok(Created::KeyTaken),
            Err(e) => Err(e),
        }
    }

    /// One transaction: is the session live (the answer), new metadata, removals, upserts,
    /// each guarded by liveness, so a change to a dead session writes nothing.
    pub(crate) async fn apply(&self, key: &StoreKey, change: &Change, now: Timestamp) -> Result<Applied, StoreError> {
        let t = &self.tables;
        if change.is_empty() {
            // Nothing to write: no transaction, no write lock.
            let rows =
                self.dialect.run(Batch { kind: Kind::Read, statements: vec![self.select_live(key, now)] }).await?;
            return Ok(if rows.is_empty() { Applied::Gone } else { Applied::Done });
        }
        let mut statements = Vec::with_capacity(3 + change.set.len());
        statements.push(self.select_live(key, now));
        let mut s = Statement::new();
        if let Some(meta) = &change.meta {
            s.sql(format!("UPDATE {} SET created_at = ", t.sessions))
                .time(meta.created_at)
                .sql(", idle_deadline = ")
                .deadline(meta.idle_deadline)
                .sql(", absolute_deadline = ")
                .deadline(meta.absolute_deadline)
                .sql(", expires_at = ")
                .deadline(meta.expires_at())
                .sql(", remember_me = ")
                .arg(Value::Int(Some(i64::from(meta.remember_me))))
                .sql(" WHERE store_key = ")
                .key(key);
            Self::live(&mut s, "expires_at", now);
            statements.push(s.done());
        }
        if !change.remove.is_empty() {
            s.sql(format!("DELETE FROM {} WHERE store_key = ", t.entries)).key(key).sql(" AND field IN (");
            for (i, field) in change.remove.iter().enumerate() {
                s.sql(if i == 0 { "" } else { ", " }).arg(Value::Text(Some(field.clone())));
            }
            s.sql(") AND ");
            self.exists_live(&mut s, key, now);
            statements.push(s.done());
        }
        // After the removals: a key both removed and set ends up set, as in `Record::apply`.
        for (field, entry) in &change.set {
            statements.push(self.upsert(key, field, entry, Some((key, now))));
        }
        let rows = self.dialect.run(Batch { kind: Kind::Write, statements }).await?;
        Ok(if rows.is_empty() { Applied::Gone } else { Applied::Done })
    }

    /// One transaction: the session row, then its entries (in case foreign keys are off).
    pub(crate) async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        let mut s = Statement::new();
        let mut statements = Vec::with_capacity(2);
        // Session first: once it is gone, no apply can add entries back.
        statements.push(s.sql(format!("DELETE FROM {} WHERE store_key = ", self.tables.sessions)).key(key).done());
        statements.push(s.sql(format!("DELETE FROM {} WHERE store_key = ", self.tables.entries)).key(key).done());
        self.dialect.run(Batch { kind: Kind::Write, statements }).await.map(drop)
    }

    /// One transaction: is `from` live (the answer), clear `to`, move the session row (its
    /// entries follow by `ON UPDATE CASCADE`, or by the last statement if foreign keys are off).
    pub(crate) async fn rename(&self, from: &StoreKey, to: &StoreKey, now: Timestamp) -> Result<Applied, StoreError> {
        let t = &self.tables;
        let mut statements = Vec::with_capacity(5);
        statements.push(self.select_live(from, now));
        let mut s = Statement::new();
        for table in [&t.entries, &t.sessions] {
            s.sql(format!("DELETE FROM {table} WHERE store_key = ")).key(to).sql(" AND ");
            self.exists_live(&mut s, from, now);
            statements.push(s.done());
        }
        s.sql(format!("UPDATE {} SET store_key = ", t.sessions)).key(to).sql(" WHERE store_key = ").key(from);
        Self::live(&mut s, "expires_at", now);
        statements.push(s.done());
        s.sql(format!("UPDATE {} SET store_key = ", t.entries))
            .key(to)
            .sql(" WHERE store_key = ")
            .key(from)
            .sql(format!(" AND EXISTS (SELECT 1 FROM {} WHERE store_key = ", t.sessions))
            .key(to)
            .sql(format!(") AND NOT EXISTS (SELECT 1 FROM {} WHERE store_key = ", t.sessions))
            .key(from)
            .sql(")");
        statements.push(s.done());
        let rows = self.dialect.run(Batch { kind: Kind::Write, statements }).await?;
        Ok(if rows.is_empty() { Applied::Gone } else { Applied::Done })
    }

    /// Expired entries of live sessions, then expired sessions in chunks, one transaction each.
    pub(crate) async fn collect_expired(&self, now: Timestamp) -> Result<u64, StoreError> {
        let mut s = Statement::new();
        let mut statements =
            vec![s.sql(format!("DELETE FROM {} WHERE expires_at <= ", self.tables.entries)).time(now).done()];
        let mut total = 0u64;
        loop {
            statements.extend(self.dialect.collect_chunk(&self.tables, now, COLLECT_CHUNK));
            let rows = self.dialect.run(Batch { kind: Kind::Write, statements }).await?;
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
            statements = Vec::new();
        }
    }
}

/// `created_at, idle_deadline, absolute_deadline, expires_at, remember_me` as values.
fn push_meta_values(s: &mut Statement, meta: &Meta) {
    s.sql(", ")
        .time(meta.created_at)
        .sql(", ")
        .deadline(meta.idle_deadline)
        .sql(", ")
        .deadline(meta.absolute_deadline)
        .sql(", ")
        .deadline(meta.expires_at())
        .sql(", ")
        .arg(Value::Int(Some(i64::from(meta.remember_me))));
}

/// Milliseconds as SQL integers: far-future times saturate rather than wrap negative.
fn millis(t: Timestamp) -> i64 {
    i64::try_from(t.as_millis()).unwrap_or(i64::MAX)
}

fn is_unique_violation(e: &StoreError) -> bool {
    match e {
        StoreError::Backend { source, .. } => source
            .downcast_ref::<sqlx::Error>()
            .and_then(sqlx::Error::as_database_error)
            .is_some_and(|db| db.is_unique_violation()),
        _ => false,
    }
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

fn decode_meta(row: &[Result<Value, String>]) -> Result<Meta, String> {
    let int = |i: usize| match row.get(i) {
        Some(Ok(Value::Int(v))) => Ok(*v),
        Some(Err(e)) => Err(e.clone()),
        other => Err(format!("column {i}: {other:?}")),
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
        other => return Err(format!("remember_me is {other:?}")),
    };
    Ok(Meta { created_at, idle_deadline: time(1)?, absolute_deadline: time(2)?, remember_me })
}

fn decode_entry(row: &[Result<Value, String>]) -> Result<Option<(String, Entry)>, String> {
    let field = match row.get(4) {
        Some(Ok(Value::Text(None))) => return Ok(None),
        Some(Ok(Value::Text(Some(field)))) => field.clone(),
        other => return Err(format!("field: {other:?}")),
    };
    let value = match row.get(5) {
        Some(Ok(Value::Blob(Some(value)))) => value.clone(),
        other => return Err(format!("value of {field:?}: {other:?}")),
    };
    let expires_at = match row.get(6) {
        Some(Ok(Value::Int(None))) => None,
        Some(Ok(Value::Int(Some(ms)))) => {
            Some(u64::try_from(*ms).map(Timestamp::from_millis).map_err(|_| format!("{field:?} expires at {ms}"))?)
        }
        other => return Err(format!("expires_at of {field:?}: {other:?}")),
    };
    Ok(Some((field, Entry { value, expires_at })))
}
