//! The SQL model of the SQL stores, shared by every dialect.
//!
//! # Schema
//!
//! ```sql
//! sessions (store_key PRIMARY KEY, created_at, idle_deadline, absolute_deadline,
//!           expires_at,          -- the earlier deadline, indexed for collection
//!           remember_me, last_active, lifetime,
//!           entries,             -- the fields: one JSON object (see `entries.rs`)
//!           entries_expire_at)   -- no later than the earliest deadline of a field, indexed
//! ```
//!
//! Times are milliseconds since the epoch (saturated to `i64::MAX`); `NULL` is "no deadline".
//!
//! One row per session, and every operation ONE statement (a few rare cases, two): a load is
//! one `SELECT` of one row, a change one `UPDATE` that merges the change into `entries` on the
//! server (SQLite `json_patch`, PostgreSQL `jsonb` `||` and `-`, MySQL `JSON_MERGE_PATCH`), so
//! entries the change does not name keep whatever value the row holds when the `UPDATE` runs:
//! two requests that change different fields both win, with no read before the write and no
//! transaction. Its `WHERE` is the liveness check (the key, and a deadline not passed), so a
//! change to a destroyed or expired session matches no row and brings nothing back; the
//! number of rows it matched is the answer. A rename is an `UPDATE` of the key: the row moves
//! whole. The owner of a session (to list an owner's sessions) is its owner field, in the same
//! row, set by the same `UPDATE` as the change that sets it; the owner's index is a record of
//! its own (see `session_core::owner`), checked against each session's row when listed.
//!
//! `entries_expire_at` lets a collection find sessions holding a field whose own deadline has
//! passed without reading every row: a change that sets a field with a deadline lowers it in
//! the same `UPDATE`; the collection prunes such fields and sets it exactly.
//!
//! # What a dialect supplies
//!
//! [`Statement`]s are written once, in [`statements`], as standard SQL with bound values kept
//! apart from the text, one function per operation and its inputs: no connection is needed to
//! build them, and `golden/<dialect>.sql` shows what they render to. A [`Dialect`] supplies the
//! few pieces that differ (the merge, JSON in and out, batched collection, the schema's types,
//! the upgrade of tables of earlier releases), renders the placeholders (`?`, `$1`) and runs
//! a statement.
//!
//! # Waiting and failing
//!
//! Nothing waits without bound: a pool acquire, opening a connection, a statement (the
//! server's own limit, so a statement it cancels is a definite failure) and, for PostgreSQL
//! and MySQL, the answer to a statement (the store's limit, for a network that went quiet)
//! each have a timeout with a default of seconds, set through the stores' builders. When the
//! answer to a statement that writes is lost, the write is reported as
//! [`StoreError::OutcomeUnknown`]: the server may have committed it, whole (each is one
//! statement, atomic on its own). A failure before the statement was sent, and every answer
//! the server gives, is a definite failure. See `Connections` and `Conn::failed`.

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

mod entries;
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

/// What a statement does, which decides how it runs and what it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Reads rows, at most one.
    ReadOne,
    /// Reads rows.
    Read,
    /// Writes, committing on its own: a lost answer leaves the outcome unknown.
    Write,
    /// Changes the schema (no bound values).
    Schema,
}

/// One SQL statement: text with its bound values in place, rendered by the dialect.
///
/// Built by value: `Statement::write().sql("DELETE ...").key(key)`.
#[derive(Debug)]
#[must_use]
pub(crate) struct Statement {
    parts: Vec<Part>,
    pub(crate) kind: Kind,
    /// The columns it returns, if it reads.
    pub(crate) columns: &'static [Col],
}

#[derive(Debug)]
enum Part {
    Sql(Cow<'static, str>),
    Arg(Value),
}

impl Statement {
    fn new(kind: Kind) -> Self {
        Self { parts: Vec::new(), kind, columns: &[] }
    }

    /// A statement reading rows of `columns`.
    pub(crate) fn read(columns: &'static [Col]) -> Self {
        Self { columns, ..Self::new(Kind::Read) }
    }

    /// A statement reading at most one row of `columns`.
    pub(crate) fn read_one(columns: &'static [Col]) -> Self {
        Self { columns, ..Self::new(Kind::ReadOne) }
    }

    /// A statement that writes; its answer is the number of rows it matched.
    pub(crate) fn write() -> Self {
        Self::new(Kind::Write)
    }

    /// A statement of the schema.
    pub(crate) fn schema(sql: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Kind::Schema).sql(sql)
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
        self.text(key.as_str())
    }

    pub(crate) fn text(self, text: &str) -> Self {
        self.arg(Value::Text(Some(text.to_owned())))
    }

    pub(crate) fn int(self, n: Option<i64>) -> Self {
        self.arg(Value::Int(n))
    }

    pub(crate) fn time(self, t: Timestamp) -> Self {
        self.int(Some(millis(t)))
    }

    fn deadline(self, t: Option<Timestamp>) -> Self {
        self.int(t.map(millis))
    }

    /// Appends a placeholder bound to the JSON text `json`, as the type of the `entries`
    /// column ([`Dialect::JSON_ARG`]).
    pub(crate) fn json<D: Dialect>(self, json: String) -> Self {
        self.sql(D::JSON_ARG.0).arg(Value::Text(Some(json))).sql(D::JSON_ARG.1)
    }

    /// Appends ` AND (column IS NULL OR column > now)`: the deadline in `column` has not passed.
    fn not_expired(self, column: &'static str, now: Timestamp) -> Self {
        self.sql(" AND (").sql(column).sql(" IS NULL OR ").sql(column).sql(" > ").time(now).sql(")")
    }

    /// The text, each value's placeholder written by `placeholder(out, n)` (`n` counting from
    /// 1), and the values, moved out.
    pub(crate) fn render(self, placeholder: impl Fn(&mut String, usize)) -> Rendered {
        let mut sql = String::with_capacity(256);
        let mut values = Vec::with_capacity(self.parts.len() / 2);
        for part in self.parts {
            match part {
                Part::Sql(text) => sql.push_str(&text),
                Part::Arg(value) => {
                    values.push(value);
                    placeholder(&mut sql, values.len());
                }
            }
        }
        Rendered { sql, values, kind: self.kind, columns: self.columns }
    }

    /// The text with `?` placeholders and the values: what SQLite and MySQL are sent.
    pub(crate) fn rendered(self) -> Rendered {
        self.render(|out, _| out.push('?'))
    }
}

/// A statement as sent: its text and values, and what it does.
#[derive(Debug)]
pub(crate) struct Rendered {
    pub(crate) sql: String,
    pub(crate) values: Vec<Value>,
    pub(crate) kind: Kind,
    pub(crate) columns: &'static [Col],
}

/// What the database answered to a statement.
#[derive(Debug, Default)]
pub(crate) struct Answer {
    /// The rows it returned (a read).
    pub(crate) rows: Rows,
    /// The rows it matched (a write).
    pub(crate) affected: u64,
}

/// Table names, checked to be plain identifiers (they are spliced into SQL text).
///
/// `entries` is the table in which session-kit 0.2 kept one row per field: the store
/// moves its rows into `sessions` when it opens, then drops it (see [`Dialect::upgrade`]).
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

    /// The name the entries table of an earlier release has while its rows move: renamed
    /// first, so that a process of the earlier release still running fails loudly instead of
    /// writing where nobody reads any more.
    pub(crate) fn moving(&self) -> String {
        format!("{}_moving", self.entries)
    }
}

/// A column of the sessions table that tables of an earlier release lack: its name and what
/// it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Added {
    /// Nullable milliseconds (`last_active`, `lifetime`, `entries_expire_at`).
    Millis(&'static str),
    /// The `entries` JSON object, `{}` in rows that had none.
    Entries,
}

impl Added {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Added::Millis(name) => name,
            Added::Entries => "entries",
        }
    }
}

/// The columns tables of earlier releases may lack, added by each dialect's upgrade.
pub(crate) const ADDED_COLUMNS: &[Added] =
    &[Added::Millis("last_active"), Added::Millis("lifetime"), Added::Entries, Added::Millis("entries_expire_at")];

/// A database's flavour of the SQL model and the way to run statements on it.
///
/// The SQL it adds is associated items, functions of the tables and the operation's inputs
/// only: the statements can be built, and read, without a connection.
pub(crate) trait Dialect: Sized + Send + Sync + 'static {
    /// The store's name in errors and logs.
    const NAME: &'static str;

    /// What goes before and after the placeholder of a JSON text to make it the type of the
    /// `entries` column.
    const JSON_ARG: (&'static str, &'static str) = ("", "");

    /// The `entries` column as JSON text, in a `SELECT`.
    const ENTRIES_TEXT: &'static str = "entries";

    /// Runs `statement` on a connection of the pool.
    fn run(&self, statement: Statement) -> impl Future<Output = Result<Answer, StoreError>> + Send;

    /// Creates the table and its indexes if they do not exist, adds the columns tables of an
    /// earlier release lack ([`ADDED_COLUMNS`]), and moves the fields of sessions stored by
    /// 0.2 out of their entries table ([`statements::old_entries`]); safe
    /// when several processes do it at once.
    fn upgrade(&self, t: &Tables) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Statements creating the table and its indexes if they do not exist.
    fn schema(t: &Tables) -> Vec<Statement>;

    /// The statement adding `column` to the sessions table.
    fn add_column(t: &Tables, column: Added) -> Statement;

    /// Appends `entries = <entries with the change's sets and removals merged in>` to the
    /// `SET` list of an `UPDATE`; the change sets or removes at least one field.
    fn merge(s: Statement, change: &Change) -> Statement;

    /// A statement removing up to `limit` sessions expired at `now`, answering how many went.
    fn collect_chunk(t: &Tables, now: Timestamp, limit: i64) -> Statement;

    /// Whether `e`, the failure of a load, says that the `entries` of the session cannot be
    /// read as JSON: a corrupt row, which reads as no session.
    fn unreadable_entries(_e: &StoreError) -> bool {
        false
    }
}

/// How many expired sessions one collection statement removes: short statements keep
/// requests from waiting long behind a big collection.
const COLLECT_CHUNK: i64 = 1000;

/// How many sessions one transaction of the upgrade moves out of an entries table of an
/// earlier release.
const MOVE_CHUNK: i64 = 500;

/// How many times `create` and `rename` try the write again after clearing an expired
/// record that held the key.
const KEY_ATTEMPTS: usize = 2;

/// The [`Store`](crate::Store) operations on the SQL model, for any dialect.
#[derive(Debug, Clone)]
pub(crate) struct SqlStore<D> {
    pub(crate) dialect: D,
    pub(crate) tables: Tables,
}

impl<D: Dialect> SqlStore<D> {
    pub(crate) async fn migrate(&self) -> Result<(), StoreError> {
        self.dialect.upgrade(&self.tables).await
    }

    /// One `SELECT` of one row.
    pub(crate) async fn load(&self, key: &StoreKey, now: Timestamp) -> Result<Option<Record>, StoreError> {
        match self.dialect.run(statements::load::<D>(&self.tables, key, now)).await {
            Ok(answer) => Ok(answer.rows.first().and_then(|row| decode_record(key, row, now))),
            Err(e) if D::unreadable_entries(&e) => {
                let why = "the entries column is not JSON";
                tracing::warn!(key = ?key, why, "SQL store: corrupt session row; starting a fresh session");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// One `INSERT`; when the key is taken, the record holding it is cleared if expired and
    /// the `INSERT` tried again.
    pub(crate) async fn create(&self, key: &StoreKey, record: &Record, now: Timestamp) -> Result<Created, StoreError> {
        for _ in 0..KEY_ATTEMPTS {
            match self.dialect.run(statements::insert::<D>(&self.tables, key, record)).await {
                Ok(_) => return Ok(Created::Stored),
                Err(e) if is_unique_violation(&e) => {}
                Err(e) => return Err(e),
            }
            if !self.clear_expired(key, now).await? {
                return Ok(Created::KeyTaken);
            }
        }
        Ok(Created::KeyTaken)
    }

    /// Removes the record under `key` if it is expired at `now`; whether there was one.
    async fn clear_expired(&self, key: &StoreKey, now: Timestamp) -> Result<bool, StoreError> {
        Ok(self.dialect.run(statements::clear_expired(&self.tables, key, now)).await?.affected > 0)
    }

    /// One `UPDATE` guarded by the liveness of the session (a `SELECT` for an empty change).
    pub(crate) async fn apply(&self, key: &StoreKey, change: &Change, now: Timestamp) -> Result<Applied, StoreError> {
        let answer = self.dialect.run(statements::apply::<D>(&self.tables, key, change, now)).await?;
        let live = if change.is_empty() { !answer.rows.is_empty() } else { answer.affected > 0 };
        Ok(if live { Applied::Done } else { Applied::Gone })
    }

    /// One `DELETE`.
    pub(crate) async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        self.dialect.run(statements::delete(&self.tables, key)).await.map(drop)
    }

    /// One `UPDATE` of the key of a live record; a record under `to` fails it on the primary
    /// key: an expired one is cleared and the `UPDATE` tried again, a live one is `KeyTaken`.
    pub(crate) async fn rename(&self, from: &StoreKey, to: &StoreKey, now: Timestamp) -> Result<Renamed, StoreError> {
        for _ in 0..KEY_ATTEMPTS {
            match self.dialect.run(statements::rename(&self.tables, from, to, now)).await {
                Ok(answer) if answer.affected == 0 => return Ok(Renamed::Gone),
                Ok(_) => return Ok(Renamed::Done),
                Err(e) if is_unique_violation(&e) => {}
                Err(e) => return Err(e),
            }
            if !self.clear_expired(to, now).await? {
                return Ok(Renamed::KeyTaken);
            }
        }
        Ok(Renamed::KeyTaken)
    }

    /// One `SELECT COUNT(*)` of the session rows whose deadline has not passed: the same
    /// statement in every dialect. No index helps (live rows are most of the table), so the
    /// database reads every live row: cheap for thousands of sessions, slow for many millions.
    pub(crate) async fn count_live(&self, now: Timestamp) -> Result<u64, StoreError> {
        let answer = self.dialect.run(statements::count_live(&self.tables, now)).await?;
        match answer.rows.first().and_then(|row| row.first()) {
            Some(Ok(Value::Int(Some(n)))) => u64::try_from(*n)
                .map_err(|_| StoreError::backend(D::NAME, format!("a negative count of sessions: {n}"))),
            other => Err(StoreError::backend(D::NAME, format!("counting sessions returned no count: {other:?}"))),
        }
    }

    /// Expired sessions in chunks, one statement each; then the fields whose own deadline has
    /// passed, out of the sessions that live on.
    pub(crate) async fn collect_expired(&self, now: Timestamp) -> Result<u64, StoreError> {
        let mut total = 0u64;
        loop {
            let answer = self.dialect.run(D::collect_chunk(&self.tables, now, COLLECT_CHUNK)).await?;
            total += answer.affected;
            if answer.affected < COLLECT_CHUNK as u64 {
                break;
            }
        }
        self.prune_expired_entries(now).await?;
        Ok(total)
    }

    /// Rewrites the `entries` of live sessions that hold a field whose own deadline has
    /// passed, without those fields, in chunks: one `SELECT`, then one `UPDATE` per session,
    /// which writes only if `entries` is still what was read (a request that changed the
    /// session meanwhile keeps its change; the session is pruned at a later collection).
    async fn prune_expired_entries(&self, now: Timestamp) -> Result<(), StoreError> {
        loop {
            let candidates = statements::expired_entries::<D>(&self.tables, now, COLLECT_CHUNK);
            let rows = self.dialect.run(candidates).await?.rows;
            let mut pruned = 0;
            for row in &rows {
                let (Some(Ok(Value::Text(Some(key)))), Some(Ok(Value::Text(Some(old))))) = (row.first(), row.get(1))
                else {
                    continue;
                };
                let Some(store_key) = StoreKey::parse(key) else { continue };
                let Some(live) = entries::from_json(&store_key, old, now) else { continue };
                let prune = statements::prune::<D>(&self.tables, &store_key, old, &live);
                pruned += self.dialect.run(prune).await?.affected;
            }
            if rows.len() < COLLECT_CHUNK as usize || pruned == 0 {
                return Ok(());
            }
        }
    }
}

/// Milliseconds as SQL integers: far-future times saturate rather than wrap negative.
fn millis(t: Timestamp) -> i64 {
    i64::try_from(t.as_millis()).unwrap_or(i64::MAX)
}

/// A duration in whole milliseconds, saturated to what a BIGINT holds.
fn duration_millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Whether the database refused a write because a key was taken.
fn is_unique_violation(e: &StoreError) -> bool {
    let StoreError::Backend { source, .. } = e else { return false };
    source
        .downcast_ref::<sqlx::Error>()
        .and_then(sqlx::Error::as_database_error)
        .is_some_and(|db| db.is_unique_violation())
}

/// The columns of [`statements::load`]: the metadata, then `entries`.
const LOAD_COLUMNS: &[Col] = &[Col::Int, Col::Int, Col::Int, Col::Int, Col::Int, Col::Int, Col::Text];

/// Builds the record from the row of [`SqlStore::load`], without the fields expired at `now`.
/// A row whose metadata or `entries` cannot be read makes the session unreadable (`None`,
/// with a warning); an unreadable field is skipped with a warning, like a field whose type
/// changed.
fn decode_record(key: &StoreKey, row: &[Result<Value, String>], now: Timestamp) -> Option<Record> {
    let meta = match decode_meta(row) {
        Ok(meta) => meta,
        Err(why) => {
            tracing::warn!(key = ?key, why, "SQL store: corrupt session row; starting a fresh session");
            return None;
        }
    };
    let json = match row.get(6) {
        Some(Ok(Value::Text(Some(json)))) => json,
        other => {
            let why = format!("the entries column holds {}", cell_kind(other));
            tracing::warn!(key = ?key, why, "SQL store: corrupt session row; starting a fresh session");
            return None;
        }
    };
    Some(Record { meta, entries: entries::from_json(key, json, now)? })
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

/// The metadata in the first six cells of a loaded row.
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
    let last_active = time(4)?.unwrap_or(created_at);
    let lifetime = match int(5)? {
        None => None,
        Some(ms) => Some(Duration::from_millis(u64::try_from(ms).map_err(|_| format!("negative lifetime {ms}"))?)),
    };
    Ok(Meta { created_at, idle_deadline: time(1)?, absolute_deadline: time(2)?, remember_me, last_active, lifetime })
}

/// The rows of [`statements::old_entries`] (key, field, value, deadline; ordered by key) as
/// each session's `entries` and `entries_expire_at`. Rows that cannot be read are skipped
/// with a warning naming the field, as a load of the earlier release skipped them.
pub(crate) fn moved_entries(rows: &Rows) -> Vec<(String, String, Option<i64>)> {
    let mut sessions: Vec<(String, Vec<(String, Entry)>)> = Vec::new();
    for row in rows {
        let cells = (row.first(), row.get(1), row.get(2), row.get(3));
        let (Some(Ok(Value::Text(Some(key)))), Some(Ok(Value::Text(Some(field)))), value, deadline) = cells else {
            tracing::warn!("SQL store: an unreadable row of an earlier release's entries table; skipped");
            continue;
        };
        let entry = match (value, deadline) {
            (Some(Ok(Value::Blob(Some(value)))), Some(Ok(Value::Int(at)))) if at.is_none_or(|ms| ms >= 0) => {
                Entry { value: value.clone(), expires_at: at.map(|ms| Timestamp::from_millis(ms.unsigned_abs())) }
            }
            _ => {
                tracing::warn!(field, "SQL store: a corrupt entry of an earlier release; field skipped");
                continue;
            }
        };
        match sessions.last_mut() {
            Some((last, entries)) if last == key => entries.push((field.clone(), entry)),
            _ => sessions.push((key.clone(), vec![(field.clone(), entry)])),
        }
    }
    sessions
        .into_iter()
        .map(|(key, entries)| {
            let json = entries::to_json(entries.iter().map(|(k, e)| (k.as_str(), Some(e))));
            let next = entries::earliest_deadline(entries.iter().map(|(_, e)| e));
            (key, json, next)
        })
        .collect()
}

/// One connection of the upgrade, and the transactions it runs: what [`move_old_entries`]
/// needs of a dialect. After an error the connection is closed, not given back: a
/// transaction may be open on it.
pub(crate) trait Upgrading: Send {
    /// Starts a transaction that also keeps other processes' upgrades out until it ends.
    fn begin(&mut self) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn commit(&mut self) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Runs one statement.
    fn exec(&mut self, statement: Statement) -> impl Future<Output = Result<Answer, StoreError>> + Send;
    /// Whether a table of this name exists (in the store's database or schema).
    fn table_exists(&mut self, name: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// The one integer a statement answered (a count, a flag), or why there is none.
#[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
pub(crate) fn one_int(name: &'static str, answer: &Answer) -> Result<i64, StoreError> {
    match answer.rows.first().and_then(|row| row.first()) {
        Some(Ok(Value::Int(Some(n)))) => Ok(*n),
        other => Err(StoreError::backend(name, format!("expected one integer, found {}", cell_kind(other)))),
    }
}

/// Moves the fields of sessions stored by session-kit 0.2, one row per field in the
/// entries table, into the `entries` column of their session, and drops that table.
///
/// The table is renamed first (`<entries>_moving`), so that a process of the earlier release
/// still running fails instead of writing where nobody reads; then each transaction moves
/// [`MOVE_CHUNK`] sessions and deletes their rows, so that an upgrade interrupted at any point
/// goes on where it stopped at the next start, and processes upgrading at once share the work.
/// The last one drops the empty table. An entries table an earlier release created again is
/// moved the same way at the next start.
pub(crate) async fn move_old_entries<D: Dialect>(conn: &mut impl Upgrading, t: &Tables) -> Result<(), StoreError> {
    loop {
        conn.begin().await?;
        if !conn.table_exists(&t.moving()).await? {
            let old = conn.table_exists(&t.entries).await?;
            if old {
                tracing::info!(table = t.entries, "SQL store: moving sessions of an earlier release to the new layout");
                conn.exec(statements::start_moving(t)).await?;
            }
            conn.commit().await?;
            if old {
                continue;
            }
            return Ok(());
        }
        let rows = conn.exec(statements::old_entries(t, MOVE_CHUNK)).await?.rows;
        if rows.is_empty() {
            // Every session moved.
            conn.exec(statements::finish_moving(t)).await?;
            conn.commit().await?;
            continue;
        }
        let Some(Ok(Value::Text(Some(last)))) = rows.last().and_then(|row| row.first()) else {
            return Err(StoreError::backend(D::NAME, "a key of the entries table is not text"));
        };
        let last = last.clone();
        for (key, json, next) in moved_entries(&rows) {
            conn.exec(statements::moved::<D>(t, &key, json, next)).await?;
        }
        conn.exec(statements::forget_moved(t, &last)).await?;
        conn.commit().await?;
    }
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
    let mut orphans = 0;
    loop {
        attempts += 1;
        let source = match attempt().await {
            Ok(value) => return Ok(value),
            // A read on a connection of an ended runtime (closed by the failure): read again,
            // on another. The pool may hold more such, each failing at once. A write there is
            // `OutcomeUnknown`, not retried: tokio may have written it before failing to read
            // the answer.
            Err(StoreError::Backend { source, .. }) if is_orphaned(&*source) && orphans < ORPHAN_ATTEMPTS => {
                orphans += 1;
                attempts -= 1;
                tracing::debug!(store = name, "SQL store: a connection of an ended runtime was dropped; retrying");
                continue;
            }
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

/// How many connections of ended runtimes one operation drops before giving up: more than a
/// pool holds.
#[cfg(any(feature = "postgres", feature = "mysql"))]
const ORPHAN_ATTEMPTS: u32 = 256;

/// Whether `e` is the failure of a connection opened on a tokio runtime that has ended since.
///
/// A pooled connection's socket belongs to the runtime that opened it, whichever task asked;
/// once that runtime ends (an actix-web server's workers each run one, and a server stopped in
/// a process that goes on leaves the store's connections behind), waiting on the socket
/// fails, though a write may still go out first. A read may be tried again on another
/// connection; a write's outcome is unknown. Tokio gives this failure no kind of its own, only
/// its message. Once a runtime that opened connections ends, the first write on each of them
/// fails so; the reads that come first clear them away.
#[cfg(any(feature = "postgres", feature = "mysql"))]
fn is_orphaned(e: &(dyn std::error::Error + 'static)) -> bool {
    const RUNTIME_GONE: &str = "A Tokio 1.x context was found, but it is being shutdown.";
    match e.downcast_ref::<sqlx::Error>() {
        Some(sqlx::Error::Io(io)) => io.to_string() == RUNTIME_GONE,
        _ => false,
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

/// How long a connection of a PostgreSQL or MySQL pool the store built may sit idle before it
/// is pinged when taken for an operation.
///
/// sqlx pings every connection it hands out by default: a round trip as long as the statement
/// that follows, on every operation. A connection in steady use is alive; one idle for a while
/// may have been cut (a restarted server, a firewall's idle timeout), and is checked first, as
/// connection pools commonly do (HikariCP skips the check for connections used within the
/// last 500 ms).
#[cfg(any(feature = "postgres", feature = "mysql"))]
const PING_IDLE_AFTER: Duration = Duration::from_secs(1);

/// The `before_acquire` check of a pool the store built: a ping for a connection idle for more
/// than [`PING_IDLE_AFTER`]. A failed ping closes the connection, and the pool opens another.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) async fn ping_if_idle<C: sqlx::Connection>(
    conn: &mut C,
    meta: sqlx::pool::PoolConnectionMetadata,
) -> Result<bool, sqlx::Error> {
    if meta.idle_for >= PING_IDLE_AFTER {
        conn.ping().await?;
    }
    Ok(true)
}

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
    use crate::test_support::{key, NOW};

    fn row(cells: &[Result<Value, String>]) -> Vec<Result<Value, String>> {
        cells.to_vec()
    }

    /// A corrupt row is logged with why it is corrupt, never with what it holds.
    #[test]
    fn a_corrupt_row_is_described_without_its_content() {
        let secret = "otp-271828";
        let text = |t: &str| Ok(Value::Text(Some(t.to_owned())));
        let int = |i: i64| Ok(Value::Int(Some(i)));
        // A metadata column holds text.
        let meta = row(&[text(secret), int(2), int(3), int(0), int(1), Ok(Value::Int(None)), text("{}")]);
        let why = decode_meta(&meta).expect_err("text where a time belongs");
        assert!(why.contains("column 0 holds text") && !why.contains(secret), "{why}");
        // The entries column holds bytes: the whole session is unreadable.
        let blob = row(&[int(1), int(2), int(3), int(0), int(1), Ok(Value::Int(None)), Ok(Value::Blob(Some(vec![1])))]);
        assert_eq!(decode_record(&key(1), &blob, NOW), None);
    }
}
