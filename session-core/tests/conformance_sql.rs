//! The store conformance suite on real PostgreSQL and MySQL servers, named by
//! `SESSION_KIT_POSTGRES_URL` (e.g. `postgres://postgres@127.0.0.1:5432/test`) and
//! `SESSION_KIT_MYSQL_URL` (e.g. `mysql://root@127.0.0.1:3306/session_kit_test`);
//! `bash scripts/test.sh` sets both. A missing variable fails the tests rather than skipping
//! them.
//!
//! Each run of this test binary uses its own pair of tables (a random suffix), shared by the
//! checks of that run (the checks use random keys, so they do not meet), and the last check
//! of a run to finish drops them; so concurrent runs never meet, and a run that is killed
//! leaves at most its own two tables behind (`session_kit_t_<hex>_s` / `_e`).

#![cfg(feature = "conformance")]
#![cfg(any(feature = "postgres", feature = "mysql"))]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test fixtures: a failed unwrap is a failed test

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::LazyLock;

/// The conformance checks per store module, counted in the list `store_conformance!` runs:
/// the last one to finish drops the tables, so a miscount would drop them under a check
/// still running.
static CHECKS: LazyLock<usize> = LazyLock::new(|| {
    let suite = include_str!("../src/conformance.rs");
    let list = suite
        .split_once("$crate::__store_conformance_tests!(")
        .and_then(|(_, rest)| rest.split_once(");"))
        .map(|(list, _)| list)
        .expect("the check list of store_conformance! in src/conformance.rs");
    let count = list.lines().filter(|line| line.trim().ends_with(',') && !line.contains('$')).count();
    assert!(count > 0, "no checks found in the list of store_conformance!");
    count
});

/// The URL in `var`; a missing variable fails the test rather than skipping it.
fn url(var: &str, example: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: point it at a server (e.g. {example}), or run `bash scripts/test.sh`, which sets it")
    })
}

/// This run's table names.
static TABLES: LazyLock<(String, String)> = LazyLock::new(|| {
    let suffix = format!("{:016x}", rand::random::<u64>());
    (format!("session_kit_t_{suffix}_s"), format!("session_kit_t_{suffix}_e"))
});

/// Counts the checks of one store that have finished; the last one drops the tables.
struct Finished {
    done: &'static AtomicUsize,
    drop_tables: Box<dyn FnOnce() + Send>,
}

impl Drop for Finished {
    fn drop(&mut self) {
        if self.done.fetch_add(1, Ordering::SeqCst) + 1 == *CHECKS {
            let drop_tables = std::mem::replace(&mut self.drop_tables, Box::new(|| {}));
            drop_tables();
        }
    }
}

/// Runs `sql` on a fresh connection of its own (the check's runtime is shutting down when
/// the guard drops), on a runtime of its own.
fn run_sql<F, Fut>(f: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(f());
    })
    .join()
    .expect("dropping the test tables");
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;

    const VAR: &str = "SESSION_KIT_POSTGRES_URL";
    static DONE: AtomicUsize = AtomicUsize::new(0);
    /// Migrations of one table pair run one at a time (they are also safe in parallel, but
    /// there is no need to make every check wait on the advisory lock).
    static MIGRATED: tokio::sync::Mutex<bool> = tokio::sync::Mutex::const_new(false);

    pub(super) async fn store() -> (session_core::PostgresStore, Finished) {
        let url = url(VAR, "postgres://postgres@127.0.0.1:5432/test");
        let (sessions, entries) = &*TABLES;
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(20)
            .connect(&url)
            .await
            .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {VAR}={url}: {e}"));
        let store = session_core::PostgresStore::new(pool).with_table_names(sessions, entries).expect("table names");
        {
            let mut migrated = MIGRATED.lock().await;
            if !*migrated {
                store.migrate().await.expect("migrate");
                *migrated = true;
            }
        }
        let drop_tables = Box::new(move || {
            run_sql(move || async move {
                let pool = sqlx::PgPool::connect(&url).await.expect("connect to drop the tables");
                let sql =
                    format!("DROP TABLE IF EXISTS {entries}, {sessions}", entries = TABLES.1, sessions = TABLES.0);
                sqlx::raw_sql(&sql).execute(&pool).await.expect("drop the test tables");
            })
        });
        (store, Finished { done: &DONE, drop_tables })
    }
}

#[cfg(feature = "postgres")]
session_core::store_conformance!(postgres_store, async { postgres::store().await });

#[cfg(feature = "mysql")]
mod mysql {
    use std::str::FromStr as _;

    use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};
    use sqlx::ConnectOptions as _;
    use sqlx::Executor as _;

    use super::*;

    const VAR: &str = "SESSION_KIT_MYSQL_URL";
    static DONE: AtomicUsize = AtomicUsize::new(0);
    static MIGRATED: tokio::sync::Mutex<bool> = tokio::sync::Mutex::const_new(false);

    /// Creates the URL's database if it does not exist (a fresh server has none).
    pub(super) async fn create_database(url: &str) {
        let options = MySqlConnectOptions::from_str(url).unwrap_or_else(|e| panic!("{VAR}={url}: {e}"));
        let Some(database) = options.get_database().map(str::to_owned) else { return };
        assert!(database.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "database name {database:?}");
        let mut conn = options
            .database("information_schema")
            .connect()
            .await
            .unwrap_or_else(|e| panic!("cannot reach MySQL at {VAR}={url}: {e}"));
        conn.execute(format!("CREATE DATABASE IF NOT EXISTS {database}").as_str()).await.expect("create database");
    }

    pub(super) async fn store() -> (session_core::MysqlStore, Finished) {
        let url = url(VAR, "mysql://root@127.0.0.1:3306/session_kit_test");
        let (sessions, entries) = &*TABLES;
        let mut migrated = MIGRATED.lock().await;
        if !*migrated {
            create_database(&url).await;
        }
        let pool = MySqlPoolOptions::new()
            .max_connections(20)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED").await.map(drop)
                })
            })
            .connect(&url)
            .await
            .unwrap_or_else(|e| panic!("cannot reach MySQL at {VAR}={url}: {e}"));
        let store = session_core::MysqlStore::new(pool).with_table_names(sessions, entries).expect("table names");
        if !*migrated {
            store.migrate().await.expect("migrate");
            *migrated = true;
        }
        drop(migrated);
        let drop_tables = Box::new(move || {
            run_sql(move || async move {
                let pool = sqlx::MySqlPool::connect(&url).await.expect("connect to drop the tables");
                let sql =
                    format!("DROP TABLE IF EXISTS {entries}, {sessions}", entries = TABLES.1, sessions = TABLES.0);
                sqlx::raw_sql(&sql).execute(&pool).await.expect("drop the test tables");
            })
        });
        (store, Finished { done: &DONE, drop_tables })
    }
}

#[cfg(feature = "mysql")]
session_core::store_conformance!(mysql_store, async { mysql::store().await });

/// `open` on each server: creates the default tables (idempotently) and serves a session.
#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_open_creates_its_schema() {
    let url = url("SESSION_KIT_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test");
    let store = session_core::PostgresStore::open(&url).await.expect("open");
    store.migrate().await.expect("migrate again");
}

/// `open` on each server: creates the default tables (idempotently).
#[cfg(feature = "mysql")]
#[tokio::test]
async fn mysql_open_creates_its_schema() {
    let url = url("SESSION_KIT_MYSQL_URL", "mysql://root@127.0.0.1:3306/session_kit_test");
    mysql::create_database(&url).await;
    let store = session_core::MysqlStore::open(&url).await.expect("open");
    store.migrate().await.expect("migrate again");
}

/// Clones share the pool and so the sessions (on the default tables, like `open`).
#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_clones_share_sessions() {
    let url = url("SESSION_KIT_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test");
    let store = session_core::PostgresStore::open(&url).await.expect("open");
    session_core::conformance::clones_share_sessions(store.clone()).await;
    store.pool().close().await;
}

/// Clones share the pool and so the sessions (on the default tables, like `open`).
#[cfg(feature = "mysql")]
#[tokio::test]
async fn mysql_clones_share_sessions() {
    let url = url("SESSION_KIT_MYSQL_URL", "mysql://root@127.0.0.1:3306/session_kit_test");
    mysql::create_database(&url).await;
    let store = session_core::MysqlStore::open(&url).await.expect("open");
    session_core::conformance::clones_share_sessions(store.clone()).await;
    store.pool().close().await;
}
