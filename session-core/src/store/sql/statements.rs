//! The statements of the SQL model, one function per operation: pure text and values for a
//! sessions table, no connection. A dialect adds its own pieces through [`Dialect`]'s
//! associated items; `golden/<dialect>.sql` shows what each renders to.

use super::{duration_millis, entries, Col, Dialect, Statement, Tables, Value, LOAD_COLUMNS};
use crate::id::StoreKey;
use crate::record::{Change, Entry, Record};
use crate::time::Timestamp;

/// The session's metadata and `entries`, if it is live: one row or none.
pub(crate) fn load<D: Dialect>(t: &Tables, key: &StoreKey, now: Timestamp) -> Statement {
    Statement::read_one(LOAD_COLUMNS)
        .sql(format!(
            "SELECT created_at, idle_deadline, absolute_deadline, remember_me, last_active, lifetime, {} \
             FROM {} WHERE store_key = ",
            D::ENTRIES_TEXT,
            t.sessions
        ))
        .key(key)
        .not_expired("expires_at", now)
}

/// `INSERT INTO sessions (...) VALUES (...)`: a record under `key` (live or expired) fails it
/// on the primary key.
pub(crate) fn insert<D: Dialect>(t: &Tables, key: &StoreKey, record: &Record) -> Statement {
    let meta = &record.meta;
    let json = entries::to_json(record.entries.iter().map(|(k, e)| (k.as_str(), Some(e))));
    Statement::write()
        .sql(format!(
            "INSERT INTO {} (store_key, created_at, idle_deadline, absolute_deadline, expires_at, remember_me, \
             last_active, lifetime, entries, entries_expire_at) VALUES (",
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
        .int(Some(i64::from(meta.remember_me)))
        .sql(", ")
        .time(meta.last_active)
        .sql(", ")
        .int(meta.lifetime.map(duration_millis))
        .sql(", ")
        .json::<D>(json)
        .sql(", ")
        .int(entries::earliest_deadline(record.entries.iter().map(|(_, e)| e)))
        .sql(")")
}

/// Removes the record under `key` if it has expired at `now`: before a create or a rename
/// takes the key it holds.
pub(crate) fn clear_expired(t: &Tables, key: &StoreKey, now: Timestamp) -> Statement {
    Statement::write()
        .sql(format!("DELETE FROM {} WHERE store_key = ", t.sessions))
        .key(key)
        .sql(" AND expires_at <= ")
        .time(now)
}

/// ONE `UPDATE` of the live session: the merge of the change's fields, the earliest field
/// deadline lowered if it sets fields with deadlines, the new metadata. It matches no row if
/// the session is not live. An empty change only asks whether the session is live.
pub(crate) fn apply<D: Dialect>(t: &Tables, key: &StoreKey, change: &Change, now: Timestamp) -> Statement {
    if change.is_empty() {
        return Statement::read_one(&[Col::Int])
            .sql(format!("SELECT 1 FROM {} WHERE store_key = ", t.sessions))
            .key(key)
            .not_expired("expires_at", now);
    }
    let mut s = Statement::write().sql(format!("UPDATE {} SET ", t.sessions));
    let mut first = true;
    let mut next = |s: Statement| {
        let separator = if first { "" } else { ", " };
        first = false;
        s.sql(separator)
    };
    if !change.set.is_empty() || !change.remove.is_empty() {
        s = D::merge(next(s), change);
    }
    if let Some(earliest) = entries::earliest_deadline(change.set.iter().map(|(_, e)| e)) {
        // A lower bound: a later collection sets it exactly.
        s = next(s)
            .sql("entries_expire_at = CASE WHEN entries_expire_at <= ")
            .int(Some(earliest))
            .sql(" THEN entries_expire_at ELSE ")
            .int(Some(earliest))
            .sql(" END");
    }
    if let Some(meta) = &change.meta {
        s = next(s)
            .sql("created_at = ")
            .time(meta.created_at)
            .sql(", idle_deadline = ")
            .deadline(meta.idle_deadline)
            .sql(", absolute_deadline = ")
            .deadline(meta.absolute_deadline)
            .sql(", expires_at = ")
            .deadline(meta.expires_at())
            .sql(", remember_me = ")
            .int(Some(i64::from(meta.remember_me)))
            .sql(", last_active = ")
            .time(meta.last_active)
            .sql(", lifetime = ")
            .int(meta.lifetime.map(duration_millis));
    }
    s.sql(" WHERE store_key = ").key(key).not_expired("expires_at", now)
}

/// The fields a change sets and removes as a JSON patch (RFC 7396): a removed field is
/// `null`. A field both removed and set ends up set, as in `Record::apply`.
pub(crate) fn patch(change: &Change) -> String {
    let removed = change.remove.iter().filter(|field| change.set.iter().all(|(set, _)| set != *field));
    let set = change.set.iter().map(|(k, e)| (k.as_str(), Some(e)));
    entries::to_json(set.chain(removed.map(|k| (k.as_str(), None::<&Entry>))))
}

pub(crate) fn delete(t: &Tables, key: &StoreKey) -> Statement {
    Statement::write().sql(format!("DELETE FROM {} WHERE store_key = ", t.sessions)).key(key)
}

/// Moves the live session's row to `to`: the row moves whole. A record under `to` fails it on
/// the primary key; a session that is not live matches no row.
pub(crate) fn rename(t: &Tables, from: &StoreKey, to: &StoreKey, now: Timestamp) -> Statement {
    Statement::write()
        .sql(format!("UPDATE {} SET store_key = ", t.sessions))
        .key(to)
        .sql(" WHERE store_key = ")
        .key(from)
        .not_expired("expires_at", now)
}

/// `SELECT COUNT(*)` of the session rows whose deadline has not passed.
pub(crate) fn count_live(t: &Tables, now: Timestamp) -> Statement {
    Statement::read(&[Col::Int])
        .sql(format!("SELECT COUNT(*) FROM {} WHERE expires_at IS NULL OR expires_at > ", t.sessions))
        .time(now)
}

/// Up to `limit` live sessions that may hold a field whose own deadline has passed at `now`:
/// their key and `entries`.
pub(crate) fn expired_entries<D: Dialect>(t: &Tables, now: Timestamp, limit: i64) -> Statement {
    Statement::read(&[Col::Text, Col::Text])
        .sql(format!("SELECT store_key, {} FROM {} WHERE entries_expire_at <= ", D::ENTRIES_TEXT, t.sessions))
        .time(now)
        .not_expired("expires_at", now)
        .sql(" ORDER BY entries_expire_at LIMIT ")
        .int(Some(limit))
}

/// Sets the session's `entries` to `live` (what [`expired_entries`] read as `old`, without
/// the fields that expired), unless they changed since.
pub(crate) fn prune<D: Dialect>(t: &Tables, key: &StoreKey, old: &str, live: &[(String, Entry)]) -> Statement {
    Statement::write()
        .sql(format!("UPDATE {} SET entries = ", t.sessions))
        .json::<D>(entries::to_json(live.iter().map(|(k, e)| (k.as_str(), Some(e)))))
        .sql(", entries_expire_at = ")
        .int(entries::earliest_deadline(live.iter().map(|(_, e)| e)))
        .sql(" WHERE store_key = ")
        .key(key)
        .sql(format!(" AND {} = ", D::ENTRIES_TEXT))
        .text(old)
}

// The upgrade from the one-row-per-field layout of session-kit 0.2 (see `Dialect::upgrade`).

/// `ALTER TABLE <entries> RENAME TO <entries>_moving`.
pub(crate) fn start_moving(t: &Tables) -> Statement {
    Statement::schema(format!("ALTER TABLE {} RENAME TO {}", t.entries, t.moving()))
}

/// The rows of the first `limit` sessions still in `<entries>_moving`, ordered by key.
pub(crate) fn old_entries(t: &Tables, limit: i64) -> Statement {
    Statement::read(&[Col::Text, Col::Text, Col::Blob, Col::Int])
        .sql(format!(
            "SELECT e.store_key, e.field, e.value, e.expires_at FROM {0} e \
             JOIN (SELECT DISTINCT store_key FROM {0} ORDER BY store_key LIMIT ",
            t.moving()
        ))
        .int(Some(limit))
        .sql(") c ON c.store_key = e.store_key ORDER BY e.store_key")
}

/// The moved fields of the session under `key`, as [`super::moved_entries`] wrote them.
pub(crate) fn moved<D: Dialect>(t: &Tables, key: &str, json: String, next: Option<i64>) -> Statement {
    Statement::write()
        .sql(format!("UPDATE {} SET entries = ", t.sessions))
        .json::<D>(json)
        .sql(", entries_expire_at = ")
        .int(next)
        .sql(" WHERE store_key = ")
        .text(key)
}

/// Removes the rows of the sessions up to `last` (by key), once moved.
pub(crate) fn forget_moved(t: &Tables, last: &str) -> Statement {
    Statement::write()
        .sql(format!("DELETE FROM {} WHERE store_key <= ", t.moving()))
        .arg(Value::Text(Some(last.into())))
}

/// `DROP TABLE <entries>_moving`, once empty.
pub(crate) fn finish_moving(t: &Tables) -> Statement {
    Statement::schema(format!("DROP TABLE {}", t.moving()))
}
