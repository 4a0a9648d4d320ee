//! Golden tests of the SQL layer: the exact text and bound values each dialect sends for every
//! operation, pinned in `golden/<dialect>.sql` beside this file, so that a change to a statement
//! shows up in review as a diff of SQL. No database is needed: the statements are built and
//! rendered as the stores do, and never run.
//!
//! After a deliberate change, regenerate the files and review the diff:
//!
//! ```text
//! SQL_GOLDEN=overwrite cargo test -p session-core --features sqlite,postgres,mysql --lib store::sql::golden
//! ```
//!
//! The files break long statements into lines for reading. [`pretty`] adds the breaks and
//! [`unbreak`] takes them out again; each rendered call is checked to come back unchanged, so a
//! file pins the text byte for byte, not just up to whitespace.

use std::fmt::Write as _;
use std::time::Duration;

use super::{statements, Dialect, Kind, Statement, Tables, Value, ADDED_COLUMNS, COLLECT_CHUNK, MOVE_CHUNK};
use crate::id::StoreKey;
use crate::record::{Change, Entry, Meta, Record};
use crate::test_support::{key, NOW};

/// How the regeneration is asked for, as with `TRYBUILD=overwrite`.
const OVERWRITE: &str = "SQL_GOLDEN";

/// One call to the database: its text and the values bound to it, in order.
type Call = (String, Vec<Value>);

/// The operations every dialect is pinned for, with their inputs.
struct Inputs {
    key: StoreKey,
    to: StoreKey,
    record: Record,
    /// A record without fields.
    bare: Record,
    /// Sets two fields (one with a deadline), removes two (one of which it also sets), and
    /// new metadata.
    change: Change,
    /// Sets one field only: what most requests that write send.
    set_only: Change,
    /// Removes one field only (a flash read).
    remove_only: Change,
    /// New metadata only: a slid idle deadline.
    meta_only: Change,
}

impl Inputs {
    fn new() -> Self {
        let minutes = |m: u64| NOW.after(Duration::from_secs(60 * m));
        let meta = Meta {
            created_at: NOW,
            idle_deadline: Some(minutes(30)),
            absolute_deadline: Some(minutes(12 * 60)),
            remember_me: true,
            last_active: NOW,
            lifetime: Some(Duration::from_secs(30 * 24 * 3600)),
        };
        let record = Record {
            meta,
            entries: vec![
                ("user_id".into(), Entry { value: vec![1, 2, 3], expires_at: None }),
                ("otp".into(), Entry { value: vec![4], expires_at: Some(minutes(10)) }),
            ],
        };
        let slid = Meta { idle_deadline: Some(minutes(31)), last_active: minutes(1), ..meta };
        let change = Change {
            set: vec![
                ("notice".into(), Entry { value: vec![5], expires_at: None }),
                ("otp".into(), Entry { value: vec![6], expires_at: Some(minutes(11)) }),
            ],
            remove: vec!["alerts".into(), "otp".into()],
            meta: Some(Meta { remember_me: false, lifetime: None, absolute_deadline: None, ..slid }),
        };
        Self {
            key: key(1),
            to: key(2),
            bare: Record::new(meta),
            record,
            change,
            set_only: Change {
                set: vec![("notice".into(), Entry { value: vec![7], expires_at: None })],
                ..Change::default()
            },
            remove_only: Change { remove: vec!["notice".into()], ..Change::default() },
            meta_only: Change { meta: Some(slid), ..Change::default() },
        }
    }
}

/// One operation as a dialect runs it: a title, what kind of work it is, and its calls in order.
struct Case {
    title: String,
    kind: &'static str,
    calls: Vec<Call>,
}

impl Case {
    fn new(title: &str, statements: Vec<Statement>, render: &impl Fn(Statement) -> Call) -> Self {
        let kind = match statements.first().map(|s| s.kind) {
            Some(Kind::ReadOne) => "read, one row",
            Some(Kind::Read) => "read",
            Some(Kind::Write) => "write",
            Some(Kind::Schema) | None => "schema",
        };
        Self { title: title.to_owned(), kind, calls: statements.into_iter().map(render).collect() }
    }
}

/// The statements of every operation of `D`, each rendered by `render` into the call the
/// dialect makes for it.
fn cases<D: Dialect>(render: impl Fn(Statement) -> Call) -> Vec<Case> {
    let (t, i) = (Tables::default(), Inputs::new());
    let apply =
        |title: &str, change: &Change| Case::new(title, vec![statements::apply::<D>(&t, &i.key, change, NOW)], &render);
    let one = |title: &str, statement: Statement| Case::new(title, vec![statement], &render);
    let live = vec![("user_id".to_owned(), Entry { value: vec![1, 2, 3], expires_at: None })];
    vec![
        Case::new("migrate: the table, then its indexes", D::schema(&t), &render),
        Case::new(
            "migrate: a column tables of an earlier release lack, each",
            ADDED_COLUMNS.iter().map(|column| D::add_column(&t, *column)).collect(),
            &render,
        ),
        one("load", statements::load::<D>(&t, &i.key, NOW)),
        one("create; a record under the key fails it", statements::insert::<D>(&t, &i.key, &i.record)),
        one("create: no fields", statements::insert::<D>(&t, &i.key, &i.bare)),
        one("create or rename onto a key: clear an expired record", statements::clear_expired(&t, &i.key, NOW)),
        apply("apply: sets, removes (one also set) and new metadata", &i.change),
        apply("apply: sets only", &i.set_only),
        apply("apply: removes only", &i.remove_only),
        apply("apply: new metadata only", &i.meta_only),
        apply("apply: nothing to write", &Change::default()),
        one("delete", statements::delete(&t, &i.key)),
        one("rename; a record under the new key fails it", statements::rename(&t, &i.key, &i.to, NOW)),
        one("count_live", statements::count_live(&t, NOW)),
        one("collect_expired: a chunk of expired sessions", D::collect_chunk(&t, NOW, COLLECT_CHUNK)),
        one(
            "collect_expired: sessions holding expired fields",
            statements::expired_entries::<D>(&t, NOW, COLLECT_CHUNK),
        ),
        one(
            "collect_expired: prune a session's expired fields, unless it changed",
            statements::prune::<D>(
                &t,
                &i.key,
                "{\"user_id\":\"\u{101}\u{102}\u{103}\",\"otp\":[\"\u{104}\",1700000600000]}",
                &live,
            ),
        ),
        one("upgrade from 0.2: rename the entries table", statements::start_moving(&t)),
        one("upgrade from 0.2: the rows of a chunk of sessions", statements::old_entries(&t, MOVE_CHUNK)),
        one(
            "upgrade from 0.2: a session's fields",
            statements::moved::<D>(&t, i.key.as_str(), "{\"user_id\":\"\u{101}\u{102}\u{103}\"}".to_owned(), None),
        ),
        one("upgrade from 0.2: forget the chunk", statements::forget_moved(&t, i.key.as_str())),
        one("upgrade from 0.2: drop the emptied table", statements::finish_moving(&t)),
    ]
}

/// A statement as SQLite and MySQL send it.
#[cfg(any(feature = "sqlite", feature = "mysql"))]
fn call(statement: Statement) -> Call {
    let super::Rendered { sql, values, .. } = statement.rendered();
    (sql, values)
}

/// The golden document of one dialect.
fn document(dialect: &str, cases: Vec<Case>) -> String {
    let mut doc = format!(
        "-- The SQL the {dialect} store sends for each operation, with the values bound to it.\n\
         -- Pinned by session-core/src/store/sql/golden.rs; regenerate with {OVERWRITE}=overwrite (see there).\n\
         -- Line breaks and indentation are for reading: a break stands for one space, or for nothing after\n\
         -- `(` and before `)`; after a `;` that ends a line it is a real line break.\n"
    );
    for Case { title, kind, calls } in cases {
        let _ = write!(doc, "\n-- ===== {title} ({kind}) =====\n");
        for (i, (sql, values)) in calls.into_iter().enumerate() {
            if i > 0 {
                doc.push('\n');
            }
            let shown = pretty(&sql);
            assert_eq!(unbreak(&shown), sql, "{dialect}, {title}: the line breaks must not lose any text");
            doc.push_str(&shown);
            doc.push('\n');
            for (n, value) in values.iter().enumerate() {
                let _ = writeln!(doc, "-- {}: {}", n + 1, show(value));
            }
        }
    }
    doc
}

/// Compares `doc` with the dialect's golden file, or writes the file when asked to.
fn check(dialect: &str, doc: &str) {
    let path = format!("{}/src/store/sql/golden/{dialect}.sql", env!("CARGO_MANIFEST_DIR"));
    if std::env::var(OVERWRITE).is_ok_and(|v| v == "overwrite") {
        std::fs::write(&path, doc).unwrap_or_else(|e| panic!("writing {path}: {e}"));
        return;
    }
    let golden = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    if golden != doc {
        let line = golden
            .lines()
            .zip(doc.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(golden.lines().count().min(doc.lines().count()));
        panic!(
            "the {dialect} SQL differs from {path} from line {} on:\n  golden: {:?}\n  now:    {:?}\n\
             If the change is meant, regenerate with {OVERWRITE}=overwrite and review the diff.",
            line + 1,
            golden.lines().nth(line).unwrap_or("(end)"),
            doc.lines().nth(line).unwrap_or("(end)"),
        );
    }
}

fn show(value: &Value) -> String {
    match value {
        Value::Int(Some(n)) => format!("integer {n}"),
        Value::Text(Some(text)) => format!("text '{text}'"),
        Value::Blob(Some(bytes)) => {
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            format!("blob x'{hex}'")
        }
        Value::Int(None) => "integer NULL".into(),
        Value::Text(None) => "text NULL".into(),
        Value::Blob(None) => "blob NULL".into(),
    }
}

/// Keywords that start a new line where they stand in a statement (not inside a short
/// parenthesis).
const BREAK_BEFORE: &[&str] =
    &["FROM", "LEFT JOIN", "WHERE", "UNION ALL", "ON CONFLICT", "ON DUPLICATE KEY", "ORDER BY", "RETURNING", "VALUES"];

/// Keywords that make a long parenthesis a block of its own lines.
const SUBQUERY: &[&str] = &["SELECT", "DELETE", "INSERT", "UPDATE", "WITH"];

/// `sql` with line breaks and indentation added for reading; [`unbreak`] undoes them.
fn pretty(sql: &str) -> String {
    // Real line breaks only ever follow a `;`: each line is a statement of its own.
    sql.split('\n').map(pretty_statement).collect::<Vec<_>>().join("\n")
}

fn pretty_statement(sql: &str) -> String {
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len() * 2);
    // Per open parenthesis: whether it is a block (its content on lines of their own).
    let mut open: Vec<bool> = Vec::new();
    let list = sql.starts_with("CREATE TABLE");
    let mut i = 0;
    while i < bytes.len() {
        let rest = &sql[i..];
        let level = open.iter().filter(|block| **block).count();
        let at_block_level = open.last().is_none_or(|block| *block);
        let newline = |out: &mut String, level: usize| {
            out.push('\n');
            out.push_str(&"  ".repeat(level));
        };
        match bytes[i] {
            b'\'' => {
                let end = rest[1..].find('\'').map_or(rest.len(), |e| e + 2);
                out.push_str(&rest[..end]);
                i += end;
                continue;
            }
            b'(' => {
                let content = &rest[1..matching(rest)];
                let block = (content.len() > 40 && SUBQUERY.iter().any(|k| starts_with_word(content, k)))
                    || (list && open.is_empty());
                out.push('(');
                if block {
                    newline(&mut out, level + 1);
                }
                open.push(block);
            }
            b')' => {
                if open.pop() == Some(true) {
                    newline(&mut out, level - 1);
                }
                out.push(')');
            }
            b' ' if at_block_level && breaks_before(rest, &out) => newline(&mut out, level),
            b',' if list && open.len() == 1 && rest.starts_with(", ") => {
                out.push(',');
                newline(&mut out, level);
                i += 2;
                continue;
            }
            _ => {
                let len = rest.chars().next().map_or(1, char::len_utf8);
                out.push_str(&rest[..len]);
                i += len;
                continue;
            }
        }
        i += 1;
    }
    out
}

/// Whether the space starting `rest` is better a line break, given the line so far in `out`.
fn breaks_before(rest: &str, out: &str) -> bool {
    let next = &rest[1..];
    let line = out.rsplit('\n').next().unwrap_or(out).trim_start();
    if starts_with_word(next, "FROM") {
        // Not in `DELETE FROM`, `SELECT * FROM`, `SELECT COUNT(*) FROM`...
        return line.len() > 16;
    }
    // The main query after `WITH` clauses.
    if line == ")" {
        return SUBQUERY.iter().any(|k| starts_with_word(next, k));
    }
    // The query after an `INSERT`'s columns.
    if starts_with_word(next, "SELECT") {
        return out.ends_with(')');
    }
    // Keywords as clauses, not as functions (MySQL's `VALUES(value)`).
    BREAK_BEFORE.iter().any(|k| next.strip_prefix(k).is_some_and(|after| after.starts_with(' ')))
}

fn starts_with_word(text: &str, word: &str) -> bool {
    text.starts_with(word) && !text[word.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
}

/// The index in `text` (which starts with `(`) of the matching `)`, quotes skipped.
fn matching(text: &str) -> usize {
    let mut depth = 0;
    let mut quoted = false;
    for (i, c) in text.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    text.len()
}

/// The text [`pretty`] was given: every added break taken out again.
fn unbreak(shown: &str) -> String {
    let mut out = String::with_capacity(shown.len());
    for (i, line) in shown.split('\n').enumerate() {
        let body = line.trim_start_matches(' ');
        if i > 0 {
            if out.ends_with(';') {
                out.push('\n');
            } else if !(out.ends_with('(') || body.starts_with(')')) {
                out.push(' ');
            }
        }
        out.push_str(body);
    }
    out
}

#[test]
fn the_pretty_printer_loses_nothing() {
    for sql in [
        "SELECT a, b FROM t WHERE x = ? AND EXISTS (SELECT 1 FROM u)",
        "WITH a AS (DELETE FROM t WHERE k = $1 AND EXISTS (SELECT 1 FROM live) RETURNING 1), b AS (SELECT 2) SELECT 1",
        "CREATE TABLE t (a INT, b TEXT);\nCREATE INDEX i ON t (a);\n",
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attname = 'x (y' AND NOT attisdropped) THEN \
         ALTER TABLE t ADD COLUMN x BIGINT; END IF; END $$",
    ] {
        assert_eq!(unbreak(&pretty(sql)), sql);
    }
}

#[cfg(feature = "sqlite")]
#[test]
fn sqlite() {
    let mut cases = cases::<super::sqlite::Sqlite>(call);
    let calls = vec![
        call(super::sqlite::columns(&Tables::default())),
        (super::sqlite::TABLE_EXISTS.to_owned(), vec![Value::Text(Some("session_kit_entries".into()))]),
    ];
    cases.push(Case { title: "upgrade: the columns there are; whether a table exists".into(), kind: "read", calls });
    check("sqlite", &document("sqlite", cases));
}

#[cfg(feature = "postgres")]
#[test]
fn postgres() {
    let render = |s: Statement| {
        let super::Rendered { sql, values, .. } = super::postgres::rendered(s);
        (sql, values)
    };
    let mut cases = cases::<super::postgres::Postgres>(render);
    let upgrade = vec![
        super::postgres::lock("session_kit_sessions"),
        super::postgres::table_exists("session_kit_entries"),
        super::postgres::unlock("session_kit_sessions"),
    ];
    cases.push(Case::new("upgrade: take turns; whether a table exists; give the turn back", upgrade, &render));
    check("postgres", &document("postgres", cases));
}

#[cfg(feature = "mysql")]
#[test]
fn mysql() {
    let mut cases = cases::<super::mysql::Mysql>(call);
    let t = Tables::default();
    let upgrade = vec![
        super::mysql::lock(&t.sessions),
        super::mysql::column_exists(&t, "entries"),
        super::mysql::table_exists("session_kit_entries"),
        super::mysql::unlock(&t.sessions),
    ];
    cases.push(Case::new(
        "upgrade: take the lock; whether a column, a table exists; give the lock back",
        upgrade,
        &call,
    ));
    check("mysql", &document("mysql", cases));
}
