//! Shared fixtures of the session-kit benchmarks: the 5-field session, one axum router per
//! contender doing the same work, and an in-process client that feeds the session cookie back.
//!
//! Every contender serves the same three routes:
//!
//! | route | work |
//! |---|---|
//! | `/seed` | writes all five fields (run once, before measuring) |
//! | `/read` | reads all five fields and renders them |
//! | `/write` | reads all five fields, bumps `seen_at`, renders them |
//!
//! The contenders: session-kit with its memory store, sealed and signed cookies (and SQLite
//! with the `sqlite` feature, PostgreSQL, MySQL and Redis with the features of those names); tower-sessions 0.14 with its
//! memory store, tower-sessions-sqlx-store's SQLite store (and its PostgreSQL and MySQL stores
//! with the `postgres` and `mysql` features, tower-sessions-redis-store with the `redis`
//! feature); axum-extra's `PrivateCookieJar` holding the session as JSON; and a
//! bare handler without any session.
//!
//! [`wide`] has the 5- and 50-field sessions of ~150-byte strings (read all, or change one
//! field) and [`load`] the servers `scripts/load.sh` drives.

use std::path::Path;

#[cfg(feature = "actix")]
pub mod actix;

use axum::body::Body;
use axum::extract::FromRef;
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderValue, Request, StatusCode};
use axum::routing::get;
use axum::Router;
use axum_extra::extract::cookie::{Cookie, PrivateCookieJar};
use bytes::Bytes;
use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};
use session_kit::clock::{Clock, SystemClock, Timestamp};
use session_kit::codec::Codec;
use session_kit::store::{Entry, Meta, Record};
use session_kit::{CookieStore, Key, KeyRing, MemoryStore, Session, SessionData, SessionLayer};
use tower::ServiceExt;

pub mod load;
pub mod wide;

/// The cookie name every cookie-carrying contender uses (tower-sessions too).
pub const COOKIE_NAME: &str = "bench";

/// The key tower-sessions stores the profile under.
pub const PEER_KEY: &str = "profile";

/// The benchmarked session, as session-kit users write it: five typed fields.
#[derive(Session, Debug, Clone, PartialEq)]
#[session(name = "bench")]
pub struct Profile {
    /// User id.
    pub user_id: u64,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: String,
    /// A small list (two items in the fixtures).
    pub tags: Vec<String>,
    /// Last time seen, ms since the epoch; the field the write requests change.
    pub seen_at: u64,
}

/// [`Profile`] with its `user_id` marked as the session's owner (`#[session(owner)]`): the rows
/// `memory/session-kit-owned/*` show what keeping an owner index costs a request whose owner
/// did not change (the seed sets it, the measured requests never touch it).
#[derive(Session, Debug, Clone, PartialEq)]
#[session(name = "bench-owned")]
pub struct OwnedProfile {
    /// User id, the session's owner.
    #[session(owner)]
    pub user_id: u64,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: String,
    /// A small list (two items in the fixtures).
    pub tags: Vec<String>,
    /// Last time seen, ms since the epoch; the field the write requests change.
    pub seen_at: u64,
}

/// What the session-kit handlers need of a 5-field session type.
pub trait FiveFields: SessionData {
    /// The fixture values.
    fn sample() -> Self;
    /// The response body of its five fields.
    fn render(&self) -> String;
    /// The write requests' change.
    fn bump(&mut self);
}

macro_rules! five_fields {
    ($($t:ty),*) => {$(
        impl FiveFields for $t {
            fn sample() -> Self {
                let PeerProfile { user_id, name, role, tags, seen_at } = sample_peer();
                Self { user_id, name, role, tags, seen_at }
            }
            fn render(&self) -> String {
                render(self.user_id, &self.name, &self.role, &self.tags, self.seen_at)
            }
            fn bump(&mut self) {
                self.seen_at += 1;
            }
        }
    )*};
}
five_fields!(Profile, OwnedProfile);

/// The same session as the peers keep it: one serde struct (tower-sessions stores it under
/// [`PEER_KEY`]; the cookie-jar route serializes it to JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerProfile {
    /// User id.
    pub user_id: u64,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: String,
    /// A small list.
    pub tags: Vec<String>,
    /// Last time seen, ms since the epoch.
    pub seen_at: u64,
}

/// The fixture values, in the peers' struct.
pub fn sample_peer() -> PeerProfile {
    PeerProfile {
        user_id: 4_242_424_242,
        name: "Ada Lovelace".to_owned(),
        role: "admin".to_owned(),
        tags: vec!["beta".to_owned(), "staff".to_owned()],
        seen_at: 1_767_225_600_000,
    }
}

/// The fixture values, in session-kit's struct.
pub fn sample_profile() -> Profile {
    Profile::sample()
}

/// The response body every contender renders from the five fields.
pub fn render(user_id: u64, name: &str, role: &str, tags: &[String], seen_at: u64) -> String {
    format!("{user_id} {name} {role} {} {seen_at}", tags.len())
}

/// The body `/read` returns right after `/seed`.
pub fn expected_read_body() -> String {
    let p = sample_peer();
    render(p.user_id, &p.name, &p.role, &p.tags, p.seen_at)
}

// ---------------------------------------------------------------------------------------------
// Bare handler.

/// The baseline: the same routes and rendering, no session at all.
pub fn bare_router() -> Router {
    async fn read() -> String {
        expected_read_body()
    }
    Router::new().route("/seed", get(read)).route("/read", get(read)).route("/write", get(read))
}

// ---------------------------------------------------------------------------------------------
// session-kit.

async fn kit_seed<T: FiveFields>(mut session: Session<T>) -> &'static str {
    *session = T::sample();
    "seeded"
}

async fn kit_read<T: FiveFields>(session: Session<T>) -> String {
    session.render()
}

async fn kit_write<T: FiveFields>(mut session: Session<T>) -> String {
    session.bump();
    session.render()
}

fn kit_routes_of<T: FiveFields>() -> Router {
    Router::new()
        .route("/seed", get(kit_seed::<T>))
        .route("/read", get(kit_read::<T>))
        .route("/write", get(kit_write::<T>))
}

fn kit_routes() -> Router {
    kit_routes_of::<Profile>()
}

/// session-kit with its in-process [`MemoryStore`].
pub fn kit_memory_router() -> Router {
    kit_routes().layer(SessionLayer::<Profile>::new(MemoryStore::new()).secure(false))
}

/// session-kit with its in-process [`MemoryStore`], the session's `user_id` its owner
/// ([`OwnedProfile`]).
pub fn kit_memory_owned_router() -> Router {
    kit_routes_of::<OwnedProfile>().layer(SessionLayer::<OwnedProfile>::new(MemoryStore::new()).secure(false))
}

/// session-kit with the whole session sealed (AES-SIV) into the cookie.
pub fn kit_sealed_router() -> Router {
    let store = CookieStore::sealed(KeyRing::new(Key::generate()));
    kit_routes().layer(SessionLayer::<Profile>::new(store).secure(false))
}

/// session-kit with the whole session signed (HMAC-SHA256) into the cookie.
pub fn kit_signed_router() -> Router {
    let store = CookieStore::signed(KeyRing::new(Key::generate()));
    kit_routes().layer(SessionLayer::<Profile>::new(store).secure(false))
}

// ---------------------------------------------------------------------------------------------
// tower-sessions.

async fn ts_seed(session: tower_sessions::Session) -> Result<&'static str, StatusCode> {
    session.insert(PEER_KEY, sample_peer()).await.map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    Ok("seeded")
}

async fn ts_load(session: &tower_sessions::Session) -> Result<PeerProfile, StatusCode> {
    session
        .get::<PeerProfile>(PEER_KEY)
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?
        .ok_or(StatusCode::UNAUTHORIZED)
}

async fn ts_read(session: tower_sessions::Session) -> Result<String, StatusCode> {
    let p = ts_load(&session).await?;
    Ok(render(p.user_id, &p.name, &p.role, &p.tags, p.seen_at))
}

async fn ts_write(session: tower_sessions::Session) -> Result<String, StatusCode> {
    let mut p = ts_load(&session).await?;
    p.seen_at += 1;
    let body = render(p.user_id, &p.name, &p.role, &p.tags, p.seen_at);
    session.insert(PEER_KEY, p).await.map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    Ok(body)
}

fn ts_router<S: tower_sessions::SessionStore + Clone>(store: S) -> Router {
    let layer = tower_sessions::SessionManagerLayer::new(store).with_secure(false).with_name(COOKIE_NAME);
    Router::new().route("/seed", get(ts_seed)).route("/read", get(ts_read)).route("/write", get(ts_write)).layer(layer)
}

/// tower-sessions with its `MemoryStore`.
pub fn ts_memory_router() -> Router {
    ts_router(tower_sessions::MemoryStore::default())
}

/// tower-sessions with tower-sessions-sqlx-store's `SqliteStore` in the database file `path`
/// (created, schema migrated), with the pragmas session-kit's `SqliteStore::open` sets (WAL
/// journal, `synchronous = NORMAL`) so both write to SQLite the same way.
pub async fn ts_sqlite_router(path: &Path) -> Result<Router, sqlx::Error> {
    Ok(ts_router(ts_sqlite_store(path).await?))
}

/// The store of [`ts_sqlite_router`], on its own.
pub async fn ts_sqlite_store(path: &Path) -> Result<tower_sessions_sqlx_store::SqliteStore, sqlx::Error> {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal);
    let pool = sqlx::SqlitePool::connect_with(options).await?;
    let store = tower_sessions_sqlx_store::SqliteStore::new(pool);
    store.migrate().await?;
    Ok(store)
}

/// session-kit with its own SQLite store, in the database file `path` (created, migrated).
#[cfg(feature = "sqlite")]
pub async fn kit_sqlite_router(path: &Path) -> Result<Router, session_kit::StoreError> {
    let store = session_kit::SqliteStore::open(&path.to_string_lossy()).await?;
    Ok(kit_routes().layer(SessionLayer::<Profile>::new(store).secure(false)))
}

// ---------------------------------------------------------------------------------------------
// Redis (feature `redis`): session-kit's `RedisStore` and tower-sessions-redis-store (fred).

/// The Redis server of the Redis contenders: `$REDIS_URL`, else `redis://127.0.0.1:6379`.
#[cfg(feature = "redis")]
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A key prefix of its own for this run (`skbench:{pid}-{nanos}:`), so that runs never see each
/// other's keys and [`redis_cleanup`] removes exactly this run's session-kit keys.
#[cfg(feature = "redis")]
pub fn redis_prefix() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("skbench:{}-{nanos}:", std::process::id())
}

/// session-kit's Redis store on [`redis_url`], filing sessions under `prefix`.
#[cfg(feature = "redis")]
pub async fn kit_redis_store(prefix: &str) -> Result<session_kit::RedisStore, session_kit::StoreError> {
    Ok(session_kit::RedisStore::connect(&redis_url()).await?.with_prefix(prefix))
}

/// session-kit with its Redis store, sessions under `prefix`.
#[cfg(feature = "redis")]
pub async fn kit_redis_router(prefix: &str) -> Result<Router, session_kit::StoreError> {
    let store = kit_redis_store(prefix).await?;
    Ok(kit_routes().layer(SessionLayer::<Profile>::new(store).secure(false)))
}

/// session-kit with its Redis store and the client-side cache (up to 10,000 sessions), sessions
/// under `prefix`: a read-only request for a session read before costs no round trip.
#[cfg(feature = "redis")]
pub async fn kit_redis_cached_router(prefix: &str) -> Result<Router, session_kit::StoreError> {
    let store = session_kit::RedisStore::builder(redis_url()).prefix(prefix).client_cache(10_000).connect().await?;
    Ok(kit_routes().layer(SessionLayer::<Profile>::new(store).secure(false)))
}

/// The peer's Redis store: tower-sessions-redis-store on one fred client (one multiplexed
/// connection, as session-kit's `ConnectionManager`). The peer has no key prefix: its keys are
/// the bare session ids, removed by [`redis_cleanup`].
#[cfg(feature = "redis")]
pub async fn ts_redis_store(
) -> Result<tower_sessions_redis_store::RedisStore<tower_sessions_redis_store::fred::prelude::Client>, String> {
    use tower_sessions_redis_store::fred::prelude::{Builder, ClientLike, Config};
    let config = Config::from_url(&redis_url()).map_err(|e| e.to_string())?;
    let client = Builder::from_config(config).build().map_err(|e| e.to_string())?;
    // The connection task runs on the current runtime for as long as the client lives.
    drop(client.init().await.map_err(|e| e.to_string())?);
    Ok(tower_sessions_redis_store::RedisStore::new(client))
}

/// tower-sessions with tower-sessions-redis-store.
#[cfg(feature = "redis")]
pub async fn ts_redis_router() -> Result<Router, String> {
    Ok(ts_router(ts_redis_store().await?))
}

/// The session id a tower-sessions client holds (its cookie value), which is the peer's Redis key.
pub fn cookie_value(client: &Client) -> Option<String> {
    let pair = client.cookie()?.to_str().ok()?;
    pair.split_once('=').map(|(_, value)| value.to_owned())
}

/// Removes a run's keys from Redis: every key under `prefix` (session-kit's) and the bare
/// `keys` (the peer's session ids). Never touches anything else.
#[cfg(feature = "redis")]
pub fn redis_cleanup(prefix: &str, keys: &[String]) -> Result<u64, redis::RedisError> {
    let mut conn = redis::Client::open(redis_url())?.get_connection()?;
    let pattern = format!("{prefix}*");
    let mut doomed: Vec<Vec<u8>> = keys.iter().map(|k| k.as_bytes().to_vec()).collect();
    let mut cursor = 0u64;
    loop {
        let (next, found): (u64, Vec<Vec<u8>>) =
            redis::cmd("SCAN").arg(cursor).arg("MATCH").arg(&pattern).arg("COUNT").arg(1000).query(&mut conn)?;
        doomed.extend(found);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    let mut removed = 0;
    for chunk in doomed.chunks(500) {
        removed += redis::cmd("DEL").arg(chunk).query::<u64>(&mut conn)?;
    }
    Ok(removed)
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL and MySQL (features `postgres`, `mysql`): session-kit's stores and
// tower-sessions-sqlx-store's, each on tables of this run's own.

/// A name of its own for this run's tables (`skbench_{pid}_{nanos}`): runs never see each other's
/// sessions, and [`postgres_cleanup`] / [`mysql_cleanup`] drop exactly this run's tables.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub fn sql_run_name() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("skbench_{}_{nanos}", std::process::id())
}

/// The tables of a run: session-kit's two (`{run}_s`, `{run}_e`) and the peer's one (`{run}_ts`).
#[cfg(any(feature = "postgres", feature = "mysql"))]
fn run_tables(run: &str) -> (String, String, String) {
    (format!("{run}_s"), format!("{run}_e"), format!("{run}_ts"))
}

/// The PostgreSQL server of the PostgreSQL contenders: `$POSTGRES_URL`, else
/// `postgres://postgres@127.0.0.1:5432/postgres`.
#[cfg(feature = "postgres")]
pub fn postgres_url() -> String {
    std::env::var("POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// session-kit with its PostgreSQL store on [`postgres_url`], on the tables of `run`.
#[cfg(feature = "postgres")]
pub async fn kit_postgres_router(run: &str) -> Result<Router, session_kit::StoreError> {
    let (sessions, entries, _) = run_tables(run);
    let store = session_kit::PostgresStore::builder(&postgres_url()).table_names(&sessions, &entries).open().await?;
    Ok(kit_routes().layer(SessionLayer::<Profile>::new(store).secure(false)))
}

/// tower-sessions with tower-sessions-sqlx-store's `PostgresStore` on [`postgres_url`] (a pool
/// with sqlx's defaults, as session-kit's), its table in the `public` schema.
#[cfg(feature = "postgres")]
pub async fn ts_postgres_router(run: &str) -> Result<Router, String> {
    let (_, _, table) = run_tables(run);
    let pool = sqlx::PgPool::connect(&postgres_url()).await.map_err(|e| e.to_string())?;
    let store =
        tower_sessions_sqlx_store::PostgresStore::new(pool).with_schema_name("public")?.with_table_name(table)?;
    store.migrate().await.map_err(|e| e.to_string())?;
    Ok(ts_router(store))
}

/// Drops the tables of `run` from PostgreSQL. Never touches anything else.
#[cfg(feature = "postgres")]
pub async fn postgres_cleanup(run: &str) -> Result<(), sqlx::Error> {
    let (sessions, entries, peer) = run_tables(run);
    let pool = sqlx::PgPool::connect(&postgres_url()).await?;
    sqlx::raw_sql(&format!("DROP TABLE IF EXISTS {entries}, {sessions}, {peer}")).execute(&pool).await?;
    pool.close().await;
    Ok(())
}

/// The MySQL server of the MySQL contenders: `$MYSQL_URL`, else
/// `mysql://root@127.0.0.1:3306/session_kit_test`.
#[cfg(feature = "mysql")]
pub fn mysql_url() -> String {
    std::env::var("MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/session_kit_test".to_owned())
}

/// The database [`mysql_url`] names, created if the server has none of that name yet.
#[cfg(feature = "mysql")]
async fn mysql_database() -> Result<String, String> {
    use sqlx::{ConnectOptions as _, Executor as _};
    let options: sqlx::mysql::MySqlConnectOptions = mysql_url().parse().map_err(|e: sqlx::Error| e.to_string())?;
    let database = options.get_database().ok_or("MYSQL_URL names no database")?.to_owned();
    if !database.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!("database name {database:?} is not a plain identifier"));
    }
    let mut conn = options.database("information_schema").connect().await.map_err(|e| e.to_string())?;
    conn.execute(format!("CREATE DATABASE IF NOT EXISTS {database}").as_str()).await.map_err(|e| e.to_string())?;
    Ok(database)
}

/// session-kit with its MySQL store on [`mysql_url`], on the tables of `run`.
#[cfg(feature = "mysql")]
pub async fn kit_mysql_router(run: &str) -> Result<Router, String> {
    mysql_database().await?;
    let (sessions, entries, _) = run_tables(run);
    let store = session_kit::MysqlStore::builder(&mysql_url())
        .table_names(&sessions, &entries)
        .open()
        .await
        .map_err(|e| e.to_string())?;
    Ok(kit_routes().layer(SessionLayer::<Profile>::new(store).secure(false)))
}

/// tower-sessions with tower-sessions-sqlx-store's `MySqlStore` on [`mysql_url`] (a pool with
/// sqlx's defaults, as session-kit's), its table in the URL's database.
#[cfg(feature = "mysql")]
pub async fn ts_mysql_router(run: &str) -> Result<Router, String> {
    let database = mysql_database().await?;
    let (_, _, table) = run_tables(run);
    let pool = sqlx::MySqlPool::connect(&mysql_url()).await.map_err(|e| e.to_string())?;
    let store = tower_sessions_sqlx_store::MySqlStore::new(pool).with_schema_name(database)?.with_table_name(table)?;
    store.migrate().await.map_err(|e| e.to_string())?;
    Ok(ts_router(store))
}

/// Drops the tables of `run` from MySQL. Never touches anything else.
#[cfg(feature = "mysql")]
pub async fn mysql_cleanup(run: &str) -> Result<(), sqlx::Error> {
    let (sessions, entries, peer) = run_tables(run);
    let pool = sqlx::MySqlPool::connect(&mysql_url()).await?;
    sqlx::raw_sql(&format!("DROP TABLE IF EXISTS {entries}, {sessions}, {peer}")).execute(&pool).await?;
    pool.close().await;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// axum-extra PrivateCookieJar + serde_json: the do-it-yourself cookie session.

/// State of the cookie-jar router: the jar's key.
#[derive(Clone)]
struct JarState {
    key: axum_extra::extract::cookie::Key,
}

impl FromRef<JarState> for axum_extra::extract::cookie::Key {
    fn from_ref(state: &JarState) -> Self {
        state.key.clone()
    }
}

fn jar_cookie(p: &PeerProfile) -> Result<Cookie<'static>, StatusCode> {
    let json = serde_json::to_string(p).map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    Ok(Cookie::build((COOKIE_NAME, json)).path("/").http_only(true).same_site(cookie_same_site()).build())
}

fn cookie_same_site() -> axum_extra::extract::cookie::SameSite {
    axum_extra::extract::cookie::SameSite::Lax
}

fn jar_load(jar: &PrivateCookieJar) -> Result<PeerProfile, StatusCode> {
    let cookie = jar.get(COOKIE_NAME).ok_or(StatusCode::UNAUTHORIZED)?;
    serde_json::from_str(cookie.value()).map_err(|_| StatusCode::UNAUTHORIZED)
}

async fn jar_seed(jar: PrivateCookieJar) -> Result<(PrivateCookieJar, &'static str), StatusCode> {
    Ok((jar.add(jar_cookie(&sample_peer())?), "seeded"))
}

async fn jar_read(jar: PrivateCookieJar) -> Result<String, StatusCode> {
    let p = jar_load(&jar)?;
    Ok(render(p.user_id, &p.name, &p.role, &p.tags, p.seen_at))
}

async fn jar_write(jar: PrivateCookieJar) -> Result<(PrivateCookieJar, String), StatusCode> {
    let mut p = jar_load(&jar)?;
    p.seen_at += 1;
    let body = render(p.user_id, &p.name, &p.role, &p.tags, p.seen_at);
    Ok((jar.add(jar_cookie(&p)?), body))
}

/// axum-extra's `PrivateCookieJar` (AES-256-GCM) holding the session as JSON.
pub fn jar_router() -> Router {
    let state = JarState { key: axum_extra::extract::cookie::Key::generate() };
    Router::new()
        .route("/seed", get(jar_seed))
        .route("/read", get(jar_read))
        .route("/write", get(jar_write))
        .with_state(state)
}

// ---------------------------------------------------------------------------------------------
// The in-process client.

/// Drives a router in-process through `tower::ServiceExt::oneshot` on a clone of it, like a
/// browser: the last `Set-Cookie` it received goes back in the `Cookie` header.
#[derive(Clone)]
pub struct Client {
    router: Router,
    cookie: Option<HeaderValue>,
}

impl Client {
    /// A client of `router`, holding no cookie yet.
    ///
    /// The router is finalized with `with_state(())`, as `axum::serve` does: otherwise axum
    /// turns handlers into services, layers included, again on every request.
    pub fn new(router: Router) -> Self {
        Self { router: router.with_state(()), cookie: None }
    }

    /// The `name=value` the client sends, if any.
    pub fn cookie(&self) -> Option<&HeaderValue> {
        self.cookie.as_ref()
    }

    /// `GET path`, returning the status and the collected body.
    pub async fn get(&mut self, path: &'static str) -> (StatusCode, Bytes) {
        let mut request = Request::get(path);
        if let Some(cookie) = &self.cookie {
            request = request.header(COOKIE, cookie.clone());
        }
        let request = match request.body(Body::empty()) {
            Ok(request) => request,
            Err(error) => panic!("static request is valid: {error}"),
        };
        let response = match self.router.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        if let Some(set) = response.headers().get(SET_COOKIE) {
            self.cookie = cookie_pair(set);
        }
        let status = response.status();
        let body = match response.into_body().collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(error) => panic!("in-memory body fails: {error}"),
        };
        (status, body)
    }

    /// Creates the session (`/seed`) and checks that `/read` returns the seeded data, so that
    /// measured requests run against an existing session.
    ///
    /// # Panics
    ///
    /// If the contender does not return the seeded data: its benchmark would measure nothing.
    pub async fn seed(&mut self) {
        self.seed_expecting(&expected_read_body()).await;
    }

    /// [`seed`](Self::seed) for routes whose `/read` after `/seed` returns `expected` (the
    /// [`wide`] sessions).
    ///
    /// # Panics
    ///
    /// If `/read` does not return `expected`.
    pub async fn seed_expecting(&mut self, expected: &str) {
        let (status, _) = self.get("/seed").await;
        assert_eq!(status, StatusCode::OK, "seed failed");
        let (status, body) = self.get("/read").await;
        assert_eq!(status, StatusCode::OK, "read after seed failed");
        assert_eq!(body, expected.as_bytes(), "read after seed returned other data");
    }
}

/// The `name=value` part of a `Set-Cookie` header value.
pub fn cookie_pair(set_cookie: &HeaderValue) -> Option<HeaderValue> {
    let bytes = set_cookie.as_bytes();
    let end = bytes.iter().position(|b| *b == b';').unwrap_or(bytes.len());
    HeaderValue::from_bytes(&bytes[..end]).ok()
}

/// The length of the cookie value (after `name=`) a client holds.
pub fn cookie_value_len(pair: &HeaderValue) -> usize {
    let bytes = pair.as_bytes();
    bytes.iter().position(|b| *b == b'=').map_or(bytes.len(), |eq| bytes.len() - eq - 1)
}

// ---------------------------------------------------------------------------------------------
// Micro-benchmark fixtures.

/// Appends the encoding of every stored field of `profile` to `out`, one after another,
/// recording each field's end offset in `ends`.
pub fn encode_all<C: Codec>(profile: &Profile, codec: &C, out: &mut Vec<u8>, ends: &mut Vec<usize>) {
    for index in 0..Profile::FIELDS.len() {
        if let Err(error) = profile.encode_field(index, codec, out) {
            panic!("fixture field {index} does not encode: {error}");
        }
        ends.push(out.len());
    }
}

/// Decodes every stored field from the buffers [`encode_all`] wrote into a fresh session.
pub fn decode_all<C: Codec>(codec: &C, bytes: &[u8], ends: &[usize]) -> Profile {
    let mut profile = Profile::fresh();
    let mut start = 0;
    for (index, end) in ends.iter().enumerate() {
        if let Err(error) = profile.decode_field(index, codec, &bytes[start..*end]) {
            panic!("fixture field {index} does not decode: {error}");
        }
        start = *end;
    }
    profile
}

/// Metadata of a session created at `now` with a 24-hour idle timeout.
pub fn meta_at(now: Timestamp) -> Meta {
    Meta { idle_deadline: Some(now.after(std::time::Duration::from_secs(24 * 3600))), ..Meta::new(now) }
}

/// The record a store or cookie holds for [`sample_profile`], field values encoded with `codec`.
pub fn sample_record<C: Codec>(codec: &C, now: Timestamp) -> Record {
    let profile = sample_profile();
    let mut record = Record::new(meta_at(now));
    for (index, spec) in Profile::FIELDS.iter().enumerate() {
        let mut value = Vec::new();
        if let Err(error) = profile.encode_field(index, codec, &mut value) {
            panic!("fixture field {index} does not encode: {error}");
        }
        record.entries.push((spec.key.to_owned(), Entry { value, expires_at: None }));
    }
    record
}

/// The current time, as session-kit reads it.
pub fn now() -> Timestamp {
    SystemClock.now()
}

/// A single-threaded tokio runtime for driving in-process requests.
pub fn runtime() -> tokio::runtime::Runtime {
    match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => panic!("cannot start a tokio runtime: {error}"),
    }
}
