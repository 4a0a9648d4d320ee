//! The servers of the load test (`scripts/load.sh`): session-kit's (`kit_hello`) and
//! tower-sessions' (`ts_hello`), on the memory store, SQLite or Redis, serving the same routes:
//!
//! | route | work |
//! |---|---|
//! | `/set?name=X` | remembers a name (one field) |
//! | `/` | greets the name: the read-only request of the hello rows |
//! | `/w5/seed`, `/w5/read`, `/w5/write-one` | the 5-field [`wide`](mod@crate::wide) session's routes |
//! | `/w50/seed`, `/w50/read`, `/w50/write-one` | the same on the 50-field session |
//!
//! Each side keeps all its sessions in one store (session-kit: one store shared by three
//! layers, one per session type; tower-sessions: one store shared by three session layers).

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::Query;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use session_kit::store::Store;
use session_kit::{MemoryStore, Session, SessionLayer};

use crate::wide::{self, PeerWide5, PeerWide50, Wide5, Wide50};

/// The session of the hello routes: a name, set by `/set?name=X`.
#[derive(Session, Debug)]
#[session(name = "hello")]
pub struct Hello {
    /// The name `/set` stored.
    pub name: Option<String>,
}

/// The query of `/set`.
#[derive(Debug, Deserialize)]
pub struct SetName {
    /// The name to remember.
    pub name: String,
}

fn greeting(name: Option<&str>) -> String {
    match name {
        Some(name) => format!("Name: {name}"),
        None => "No name yet: visit /set?name=...".to_owned(),
    }
}

/// Where a load-test server keeps its sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadStore {
    /// The in-process memory store.
    Memory,
    /// SQLite, in this database file (created).
    Sqlite(PathBuf),
    /// Redis at `$REDIS_URL`, default `redis://127.0.0.1:6379` (feature `redis`); session-kit
    /// files its keys under this prefix (the peer's keys are its bare session ids).
    Redis(String),
}

impl LoadStore {
    /// Reads the servers' command line: nothing or `memory`, `sqlite DB_PATH`, `redis PREFIX`.
    pub fn from_args(args: &[String]) -> Result<Self, String> {
        match args {
            [] => Ok(Self::Memory),
            [kind] if kind == "memory" => Ok(Self::Memory),
            [kind, path] if kind == "sqlite" => Ok(Self::Sqlite(PathBuf::from(path))),
            [kind, prefix] if kind == "redis" => Ok(Self::Redis(prefix.clone())),
            _ => Err("usage: [memory | sqlite DB_PATH | redis KEY_PREFIX]".to_owned()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// session-kit.

fn kit_routes<S: Store>(store: Arc<S>) -> Router {
    async fn greet(session: Session<Hello>) -> String {
        greeting(session.name.as_deref())
    }
    async fn set(mut session: Session<Hello>, Query(q): Query<SetName>) -> String {
        let body = format!("Name set to {}", q.name);
        session.name = Some(q.name);
        body
    }
    Router::new()
        .route("/", get(greet))
        .route("/set", get(set))
        .layer(SessionLayer::<Hello>::new(store.clone()).secure(false))
        .nest("/w5", wide::kit_router::<Wide5>(store.clone()))
        .nest("/w50", wide::kit_router::<Wide50>(store))
}

/// session-kit's load-test server on `store`.
pub async fn kit_router(store: &LoadStore) -> Result<Router, String> {
    match store {
        LoadStore::Memory => Ok(kit_routes(Arc::new(MemoryStore::new()))),
        #[cfg(feature = "sqlite")]
        LoadStore::Sqlite(path) => {
            let store = session_kit::SqliteStore::open(&path.to_string_lossy()).await.map_err(|e| e.to_string())?;
            Ok(kit_routes(Arc::new(store)))
        }
        #[cfg(not(feature = "sqlite"))]
        LoadStore::Sqlite(_) => Err("session-kit's SQLite store needs the `sqlite` feature".to_owned()),
        #[cfg(feature = "redis")]
        LoadStore::Redis(prefix) => {
            let store = crate::kit_redis_store(prefix).await.map_err(|e| e.to_string())?;
            Ok(kit_routes(Arc::new(store)))
        }
        #[cfg(not(feature = "redis"))]
        LoadStore::Redis(_) => Err("the Redis servers need the `redis` feature".to_owned()),
    }
}

// ---------------------------------------------------------------------------------------------
// tower-sessions.

fn ts_routes<S: tower_sessions::SessionStore + Clone>(store: S) -> Router {
    async fn greet(session: tower_sessions::Session) -> Result<String, StatusCode> {
        let name: Option<String> = session.get("name").await.map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
        Ok(greeting(name.as_deref()))
    }
    async fn set(session: tower_sessions::Session, Query(q): Query<SetName>) -> Result<String, StatusCode> {
        let body = format!("Name set to {}", q.name);
        session.insert("name", q.name).await.map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
        Ok(body)
    }
    let layer = tower_sessions::SessionManagerLayer::new(store.clone()).with_secure(false).with_name("hello");
    Router::new()
        .route("/", get(greet))
        .route("/set", get(set))
        .layer(layer)
        .nest("/w5", wide::ts_router::<PeerWide5, _>(store.clone()))
        .nest("/w50", wide::ts_router::<PeerWide50, _>(store))
}

/// tower-sessions' load-test server on `store`: its `MemoryStore`, tower-sessions-sqlx-store's
/// `SqliteStore` (same pragmas as session-kit's) or tower-sessions-redis-store.
pub async fn ts_router(store: &LoadStore) -> Result<Router, String> {
    match store {
        LoadStore::Memory => Ok(ts_routes(tower_sessions::MemoryStore::default())),
        LoadStore::Sqlite(path) => Ok(ts_routes(crate::ts_sqlite_store(path).await.map_err(|e| e.to_string())?)),
        #[cfg(feature = "redis")]
        LoadStore::Redis(_) => Ok(ts_routes(crate::ts_redis_store().await?)),
        #[cfg(not(feature = "redis"))]
        LoadStore::Redis(_) => Err("the Redis servers need the `redis` feature".to_owned()),
    }
}

/// Serves `router` on `ADDR` (default `127.0.0.1:0`, a free loopback port) and prints
/// `listening on http://ADDR` first, for the load script to read.
pub async fn serve(router: Router) -> std::io::Result<()> {
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:0".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let local = listener.local_addr()?;
    #[allow(clippy::print_stdout)] // the one line the load script waits for
    {
        use std::io::Write as _;
        println!("listening on http://{local}");
        std::io::stdout().flush()?;
    }
    axum::serve(listener, router).await
}

/// The `main` of both servers: reads the store from the command line, builds the router with
/// `build` and serves it; exits with status 2 on a bad command line, 1 if the store fails.
pub async fn run<F, Fut>(name: &str, build: F) -> std::io::Result<()>
where
    F: FnOnce(LoadStore) -> Fut,
    Fut: std::future::Future<Output = Result<Router, String>>,
{
    let args: Vec<String> = std::env::args().skip(1).collect();
    let store = match LoadStore::from_args(&args) {
        Ok(store) => store,
        Err(usage) => {
            eprintln!("{name} {usage}");
            std::process::exit(2);
        }
    };
    match build(store).await {
        Ok(router) => serve(router).await,
        Err(error) => {
            eprintln!("{name}: {error}");
            std::process::exit(1);
        }
    }
}
