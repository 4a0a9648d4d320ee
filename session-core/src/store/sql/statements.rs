//! The statements of the SQL model, one function per operation: pure text and values for a
//! pair of tables, no connection. A dialect adds its own clauses through [`Dialect`]'s
//! associated items; `golden/<dialect>.sql` shows what each renders to.

use super::{duration_millis, Batch, Col, Dialect, Kind, Statement, Tables, Value};
use crate::id::StoreKey;
use crate::record::{Change, Entry, Meta, Record};
use crate::time::Timestamp;

/// Creates the tables and indexes if they do not exist.
pub(crate) fn schema<D: Dialect>(t: &Tables) -> Batch {
    Batch::new(Kind::Schema, D::schema(t))
}

/// The session row joined with its live entries: one row per entry, or one with `NULL` entry
/// columns for a session without any.
pub(crate) fn load(t: &Tables, key: &StoreKey, now: Timestamp) -> Batch {
    let s = Statement::new()
        .sql(format!(
            "SELECT s.created_at, s.idle_deadline, s.absolute_deadline, s.remember_me, e.field, e.value, \
             e.expires_at, s.last_active, s.lifetime \
             FROM {} s LEFT JOIN {} e ON e.store_key = s.store_key",
            t.sessions, t.entries
        ))
        .not_expired("e.expires_at", now)
        .sql(" WHERE s.store_key = ")
        .key(key)
        .not_expired("s.expires_at", now)
        .returning(&[Col::Int, Col::Int, Col::Int, Col::Int, Col::Text, Col::Blob, Col::Int, Col::Int, Col::Int]);
    Batch::new(Kind::Read, vec![s])
}

/// The shared create: clear an expired predecessor, insert the session (a live one under the
/// key makes this fail on the primary key), insert the entries.
pub(crate) fn create<D: Dialect>(t: &Tables, key: &StoreKey, record: &Record, now: Timestamp) -> Batch {
    let mut statements = vec![
        // Entries of an expired or deleted predecessor must not show up in the new session.
        Statement::new()
            .sql(format!("DELETE FROM {} WHERE store_key = ", t.entries))
            .key(key)
            .sql(" AND NOT ")
            .append(&exists_live(t, key, now)),
        Statement::new()
            .sql(format!("DELETE FROM {} WHERE store_key = ", t.sessions))
            .key(key)
            .sql(" AND expires_at <= ")
            .time(now),
        insert_session(t, key, &record.meta),
    ];
    statements.extend(upsert_entries::<D>(t, key, &record.entries, |s| s.sql("1 = 1")));
    Batch::new(Kind::Write, statements)
}

/// `INSERT INTO sessions (...) VALUES (...)`.
pub(crate) fn insert_session(t: &Tables, key: &StoreKey, meta: &Meta) -> Statement {
    Statement::new()
        .sql(format!(
            "INSERT INTO {} (store_key, created_at, idle_deadline, absolute_deadline, expires_at, remember_me, \
             last_active, lifetime) VALUES (",
            t.sessions
        ))
        .key(key)
        .sql(", ")
        .time(meta.created_at)
        .sql(", ")
        .deadline(meta.idle_deadline)
        .sql(", ")
        .deadline(meta.absolute_deadline)
        .sql(", ")
        .deadline(meta.expires_at())
        .sql(", ")
        .arg(Value::Int(Some(i64::from(meta.remember_me))))
        .sql(", ")
        .time(meta.last_active)
        .sql(", ")
        .arg(Value::Int(meta.lifetime.map(duration_millis)))
        .sql(")")
}

/// The upsert of all `entries` in one statement: `INSERT ... SELECT * FROM (<rows>) AS v
/// WHERE <condition> <upsert>`. `None` when there are none.
pub(crate) fn upsert_entries<D: Dialect>(
    t: &Tables,
    key: &StoreKey,
    entries: &[(String, Entry)],
    condition: impl FnOnce(Statement) -> Statement,
) -> Option<Statement> {
    if entries.is_empty() {
        return None;
    }
    let mut s = Statement::new()
        .sql(format!("INSERT INTO {} (store_key, field, value, expires_at) SELECT * FROM (", t.entries));
    for (i, (field, entry)) in entries.iter().enumerate() {
        // Named columns in the first row: MySQL refuses a derived table with duplicate names.
        let (k, f, v, x) = if i == 0 { (" AS k, ", " AS f, ", " AS v, ", " AS x") } else { (", ", ", ", ", ", "") };
        s = s
            .sql(if i == 0 { "SELECT " } else { " UNION ALL SELECT " })
            .key(key)
            .sql(k)
            .arg(Value::Text(Some(field.clone())))
            .sql(f)
            .arg(Value::Blob(Some(entry.value.clone())))
            .sql(v)
            .deadline(entry.expires_at)
            .sql(x);
    }
    // The WHERE also lets SQLite parse `INSERT ... SELECT ... ON CONFLICT`.
    Some(condition(s.sql(") AS v WHERE ")).sql(D::UPSERT_ENTRY))
}

/// A guarded batch: removals, upserts (one statement for all), new metadata, each conditional
/// on the session being live, so a change to a dead session writes nothing. An empty change
/// only reads whether the session is live: no transaction, no write lock.
pub(crate) fn apply<D: Dialect>(t: &Tables, key: &StoreKey, change: &Change, now: Timestamp) -> Batch {
    if change.is_empty() {
        return Batch::new(Kind::Read, vec![select_live(t, key, now, "")]);
    }
    let live = exists_live(t, key, now);
    let mut statements = Vec::with_capacity(3);
    // A key both removed and set ends up set, as in `Record::apply`: the upsert sets it, so
    // the removal leaves it out (statements never touch the same row: see the module docs).
    let removed: Vec<&String> =
        change.remove.iter().filter(|field| change.set.iter().all(|(set, _)| set != *field)).collect();
    if !removed.is_empty() {
        let mut s = Statement::new()
            .sql(format!("DELETE FROM {} WHERE store_key = ", t.entries))
            .key(key)
            .sql(" AND field IN (");
        for (i, field) in removed.into_iter().enumerate() {
            s = s.sql(if i == 0 { "" } else { ", " }).arg(Value::Text(Some(field.clone())));
        }
        statements.push(s.sql(") AND ").live(&live));
    }
    statements.extend(upsert_entries::<D>(t, key, &change.set, |s| s.live(&live)));
    // Last: the guard of the statements before it must see the deadlines it was called with.
    if let Some(meta) = &change.meta {
        let s = Statement::new()
            .sql(format!("UPDATE {} SET created_at = ", t.sessions))
            .time(meta.created_at)
            .sql(", idle_deadline = ")
            .deadline(meta.idle_deadline)
            .sql(", absolute_deadline = ")
            .deadline(meta.absolute_deadline)
            .sql(", expires_at = ")
            .deadline(meta.expires_at())
            .sql(", remember_me = ")
            .arg(Value::Int(Some(i64::from(meta.remember_me))))
            .sql(", last_active = ")
            .time(meta.last_active)
            .sql(", lifetime = ")
            .arg(Value::Int(meta.lifetime.map(duration_millis)))
            .sql(" WHERE store_key = ")
            .key(key)
            .not_expired("expires_at", now);
        statements.push(s);
    }
    guarded::<D>(t, key, now, statements)
}

/// The session row, then its entries (in case foreign keys are off).
pub(crate) fn delete(t: &Tables, key: &StoreKey) -> Batch {
    let statements = vec![
        // Session first: once it is gone, no apply can add entries back.
        Statement::new().sql(format!("DELETE FROM {} WHERE store_key = ", t.sessions)).key(key),
        Statement::new().sql(format!("DELETE FROM {} WHERE store_key = ", t.entries)).key(key),
    ];
    Batch::new(Kind::Write, statements)
}

/// A guarded batch: clear an expired record under `to`, then move the session row (its
/// entries follow by `ON UPDATE CASCADE`, or by the last statement if foreign keys are off).
/// A live record under `to` fails the move on the primary key and the whole batch, which
/// leaves both records as they were.
pub(crate) fn rename<D: Dialect>(t: &Tables, from: &StoreKey, to: &StoreKey, now: Timestamp) -> Batch {
    let live = exists_live(t, from, now);
    // Its entries go by the cascade. Only for a live `from`: a refused rename writes nothing.
    let clear = Statement::new()
        .sql(format!("DELETE FROM {} WHERE store_key = ", t.sessions))
        .key(to)
        .sql(" AND expires_at <= ")
        .time(now)
        .sql(" AND ")
        .live(&live);
    // Entries under `to` with no session row, which foreign keys would not have left.
    let orphans = Statement::new()
        .sql(format!("DELETE FROM {} WHERE store_key = ", t.entries))
        .key(to)
        .sql(format!(" AND NOT EXISTS (SELECT 1 FROM {} WHERE store_key = ", t.sessions))
        .key(to)
        .sql(") AND ")
        .live(&live);
    let rename = Statement::new()
        .sql(format!("UPDATE {} SET store_key = ", t.sessions))
        .key(to)
        .sql(" WHERE store_key = ")
        .key(from)
        .not_expired("expires_at", now);
    let (clear, rename) = D::in_order(clear, rename);
    let entries = Statement::new()
        .sql(format!("UPDATE {} SET store_key = ", t.entries))
        .key(to)
        .sql(" WHERE store_key = ")
        .key(from)
        .sql(format!(" AND EXISTS (SELECT 1 FROM {} WHERE store_key = ", t.sessions))
        .key(to)
        .sql(format!(") AND NOT EXISTS (SELECT 1 FROM {} WHERE store_key = ", t.sessions))
        .key(from)
        .sql(")");
    guarded::<D>(t, from, now, vec![clear, orphans, rename, entries])
}

/// `SELECT COUNT(*)` of the session rows whose deadline has not passed.
pub(crate) fn count_live(t: &Tables, now: Timestamp) -> Batch {
    let s = Statement::new()
        .sql(format!("SELECT COUNT(*) FROM {} WHERE expires_at IS NULL OR expires_at > ", t.sessions))
        .time(now)
        .returning(&[Col::Int]);
    Batch::new(Kind::Read, vec![s])
}

/// One chunk of a collection, up to `limit` expired sessions, answering how many it removed;
/// the `first` also removes the expired entries of live sessions.
pub(crate) fn collect_chunk<D: Dialect>(t: &Tables, now: Timestamp, limit: i64, first: bool) -> Batch {
    let mut statements = Vec::new();
    if first {
        statements.push(Statement::new().sql(format!("DELETE FROM {} WHERE expires_at <= ", t.entries)).time(now));
    }
    statements.extend(D::collect_chunk(t, now, limit));
    Batch::new(Kind::Write, statements)
}

/// `EXISTS (a live session under key)`.
fn exists_live(t: &Tables, key: &StoreKey, now: Timestamp) -> Statement {
    Statement::new()
        .sql(format!("EXISTS (SELECT 1 FROM {} WHERE store_key = ", t.sessions))
        .key(key)
        .not_expired("expires_at", now)
        .sql(")")
}

fn select_live(t: &Tables, key: &StoreKey, now: Timestamp, lock: &'static str) -> Statement {
    Statement::new()
        .sql(format!("SELECT 1 FROM {} WHERE store_key = ", t.sessions))
        .key(key)
        .not_expired("expires_at", now)
        .sql(lock)
        .returning(&[Col::Int])
}

/// A write batch guarded by the liveness of the session under `key`.
fn guarded<D: Dialect>(t: &Tables, key: &StoreKey, now: Timestamp, statements: Vec<Statement>) -> Batch {
    Batch { kind: Kind::Write, guard: Some(select_live(t, key, now, D::LOCK)), statements }
}
