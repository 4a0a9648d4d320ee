//! Whole requests, in-process: an axum router per contender driven through
//! `tower::ServiceExt::oneshot` with the session cookie fed back, one request at a time.
//!
//! Each session is created (`/seed`) before measuring, so the figures are steady-state
//! requests against an existing session: `read` only reads the five fields, `write` also
//! changes one. Set `BENCH_QUICK=1` for a short run.
//!
//! The groups `five-{store}` and `fifty-{store}` (memory, sqlite, redis) run the wide sessions
//! of `session_kit_bench::wide`, 5 and 50 fields of ~150-byte strings: `read` reads every
//! field, `write-one` changes one; `cargo bench ... -- fifty` runs the 50-field ones only.
//!
//! Every id is `{group}/{contender}/{kind}`: `report` pairs `session-kit*` contenders with the
//! others of the same group and kind by that convention.

use std::hint::black_box;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use session_kit::MemoryStore;
use session_kit_bench::wide::{self, PeerWide5, PeerWide50, Wide, Wide5, Wide50};
use session_kit_bench::{
    bare_router, jar_router, kit_memory_owned_router, kit_memory_router, kit_sealed_router, kit_signed_router, runtime,
    ts_memory_router, ts_sqlite_router, Client,
};
use tokio::runtime::Runtime;

/// Whether `BENCH_QUICK` asks for a short run.
fn quick() -> bool {
    std::env::var_os("BENCH_QUICK").is_some_and(|v| v != "0")
}

/// Criterion settings: short with `BENCH_QUICK=1`, longer otherwise.
fn config() -> Criterion {
    // The tables use the median's point estimate; 20,000 bootstrap resamples (criterion's
    // default is 100,000) keep its confidence interval useful and the analysis of ~70 rows short.
    let base = Criterion::default().nresamples(20_000).configure_from_args();
    if quick() {
        base.warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_millis(1200)).sample_size(20)
    } else {
        base.warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4)).sample_size(50)
    }
}

/// Measures `GET path` on a seeded client, then checks the contender still answers 200.
fn measure(group: &mut BenchmarkGroup<'_, WallTime>, rt: &Runtime, id: &str, client: &mut Client, path: &'static str) {
    group.bench_function(id, |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(client.get(path).await);
                }
                start.elapsed()
            })
        })
    });
    let (status, _) = rt.block_on(client.get(path));
    assert_eq!(status, StatusCode::OK, "{id}: {path} stopped answering 200 during the run");
}

/// A seeded client of `router`.
fn seeded(rt: &Runtime, router: axum::Router) -> Client {
    let mut client = Client::new(router);
    rt.block_on(client.seed());
    client
}

/// `read` then `write` on a fresh session of each named router, kind by kind: every contender's
/// read, then every contender's write, in the order given, so the rows a ratio compares run
/// back to back (this machine's speed drifts over minutes; measured apart, a pair's two rows
/// could see different machines). Returns the clients, in the same order.
fn side_by_side(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &Runtime,
    contenders: Vec<(&str, axum::Router)>,
) -> Vec<Client> {
    let mut seeded: Vec<(&str, Client)> =
        contenders.into_iter().map(|(name, router)| (name, seeded(rt, router))).collect();
    for path in ["/read", "/write"] {
        for (name, client) in &mut seeded {
            measure(group, rt, &format!("{name}{path}"), client, path);
        }
    }
    seeded.into_iter().map(|(_, client)| client).collect()
}

fn memory(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("memory");
    let mut bare = seeded(&rt, bare_router());
    measure(&mut group, &rt, "bare/read", &mut bare, "/read");
    // The owner-index row beside the plain one it is compared with, the plain one beside the peer.
    side_by_side(
        &mut group,
        &rt,
        vec![
            ("session-kit-owned", kit_memory_owned_router()),
            ("session-kit", kit_memory_router()),
            ("tower-sessions", ts_memory_router()),
        ],
    );
    group.finish();
}

fn cookie(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("cookie");
    side_by_side(
        &mut group,
        &rt,
        vec![
            ("session-kit-signed", kit_signed_router()),
            ("session-kit-sealed", kit_sealed_router()),
            ("private-jar-json", jar_router()),
        ],
    );
    group.finish();
}

fn sqlite(c: &mut Criterion) {
    let rt = runtime();
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(error) => panic!("no temporary directory: {error}"),
    };
    let mut group = c.benchmark_group("sqlite");
    let mut contenders = Vec::new();
    #[cfg(feature = "sqlite")]
    match rt.block_on(session_kit_bench::kit_sqlite_router(&dir.path().join("kit.db"))) {
        Ok(router) => contenders.push(("session-kit", router)),
        Err(error) => panic!("session-kit SQLite store: {error}"),
    }
    match rt.block_on(ts_sqlite_router(&dir.path().join("tower.db"))) {
        Ok(router) => contenders.push(("tower-sessions", router)),
        Err(error) => panic!("tower-sessions SQLite store: {error}"),
    }
    side_by_side(&mut group, &rt, contenders);
    group.finish();
}

/// session-kit's `RedisStore` vs tower-sessions-redis-store, on the server at `$REDIS_URL`
/// (default `redis://127.0.0.1:6379`); this run's keys are removed afterwards.
#[cfg(feature = "redis")]
fn redis(c: &mut Criterion) {
    use session_kit_bench::{
        cookie_value, kit_redis_cached_router, kit_redis_router, redis_cleanup, redis_prefix, ts_redis_router,
    };
    let rt = runtime();
    let prefix = redis_prefix();
    let mut group = c.benchmark_group("redis");
    let cached = match rt.block_on(kit_redis_cached_router(&prefix)) {
        Ok(router) => router,
        Err(error) => panic!("session-kit Redis store with the client cache: {error}"),
    };
    let plain = match rt.block_on(kit_redis_router(&prefix)) {
        Ok(router) => router,
        Err(error) => panic!("session-kit Redis store: {error}"),
    };
    let peer = match rt.block_on(ts_redis_router()) {
        Ok(router) => router,
        Err(error) => panic!("tower-sessions Redis store: {error}"),
    };
    let clients = side_by_side(
        &mut group,
        &rt,
        vec![("session-kit-cached", cached), ("session-kit", plain), ("tower-sessions", peer)],
    );
    group.finish();
    // The peer's keys are its cookies' values; session-kit's share this run's prefix.
    let peer_keys: Vec<String> = clients.last().and_then(cookie_value).into_iter().collect();
    if let Err(error) = redis_cleanup(&prefix, &peer_keys) {
        eprintln!("could not remove this run's Redis keys (prefix {prefix}): {error}");
    }
}

/// Without the `redis` feature there is no Redis group.
#[cfg(not(feature = "redis"))]
fn redis(_: &mut Criterion) {}

/// The two wide groups of one store, `five-{store}` and `fifty-{store}`: session-kit (routers
/// from `kit`; `None` when its store's feature is off, the rows are then missing) beside
/// tower-sessions (routers from `peer`), `read` and `write-one` each. Returns the peer's
/// clients (their cookies name the peer's Redis keys).
fn wide_groups(
    c: &mut Criterion,
    rt: &Runtime,
    store: &str,
    mut kit: impl FnMut(usize) -> Option<axum::Router>,
    mut peer: impl FnMut(usize) -> axum::Router,
) -> Vec<Client> {
    let mut peers = Vec::new();
    for (size, fields, expected) in [
        ("five", Wide5::FIELD_COUNT, wide::expected_read_body::<Wide5>()),
        ("fifty", Wide50::FIELD_COUNT, wide::expected_read_body::<Wide50>()),
    ] {
        let mut group = c.benchmark_group(format!("{size}-{store}"));
        if !quick() {
            // 24 rows: a shorter measurement keeps the full run within its time budget.
            group.warm_up_time(Duration::from_millis(800)).measurement_time(Duration::from_millis(2500));
        }
        let contenders = [("session-kit", kit(fields)), ("tower-sessions", Some(peer(fields)))];
        let mut clients = Vec::new();
        for (contender, router) in contenders {
            let Some(router) = router else { continue };
            let mut client = Client::new(router);
            rt.block_on(client.seed_expecting(&expected));
            clients.push((contender, client));
        }
        // Kind by kind, so the two rows of a ratio run back to back (as in `side_by_side`).
        for path in ["/read", "/write-one"] {
            for (contender, client) in &mut clients {
                measure(&mut group, rt, &format!("{contender}{path}"), client, path);
            }
        }
        group.finish();
        peers.extend(clients.into_iter().filter(|(contender, _)| *contender != "session-kit").map(|(_, c)| c));
    }
    peers
}

/// Session-kit's wide router with `fields` fields (5 or 50) on `storage`.
fn kit_wide(fields: usize, storage: impl session_kit::integration::IntoStorage) -> axum::Router {
    if fields == Wide5::FIELD_COUNT {
        wide::kit_router::<Wide5>(storage)
    } else {
        wide::kit_router::<Wide50>(storage)
    }
}

/// tower-sessions' wide router with `fields` fields (5 or 50) on `store`.
fn ts_wide<S: tower_sessions::SessionStore + Clone>(fields: usize, store: S) -> axum::Router {
    if fields == Wide5::FIELD_COUNT {
        wide::ts_router::<PeerWide5, S>(store)
    } else {
        wide::ts_router::<PeerWide50, S>(store)
    }
}

fn wide_memory(c: &mut Criterion) {
    let rt = runtime();
    wide_groups(
        c,
        &rt,
        "memory",
        |n| Some(kit_wide(n, MemoryStore::new())),
        |n| ts_wide(n, tower_sessions::MemoryStore::default()),
    );
}

fn wide_sqlite(c: &mut Criterion) {
    let rt = runtime();
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(error) => panic!("no temporary directory: {error}"),
    };
    let kit = |n: usize| -> Option<axum::Router> {
        #[cfg(feature = "sqlite")]
        {
            let path = dir.path().join(format!("kit-{n}.db"));
            match rt.block_on(session_kit::SqliteStore::open(&path.to_string_lossy())) {
                Ok(store) => Some(kit_wide(n, store)),
                Err(error) => panic!("session-kit SQLite store: {error}"),
            }
        }
        #[cfg(not(feature = "sqlite"))]
        {
            let _ = n;
            None
        }
    };
    let peer =
        |n: usize| match rt.block_on(session_kit_bench::ts_sqlite_store(&dir.path().join(format!("tower-{n}.db")))) {
            Ok(store) => ts_wide(n, store),
            Err(error) => panic!("tower-sessions SQLite store: {error}"),
        };
    wide_groups(c, &rt, "sqlite", kit, peer);
}

/// The wide Redis groups; this run's keys are removed afterwards.
#[cfg(feature = "redis")]
fn wide_redis(c: &mut Criterion) {
    use session_kit_bench::{cookie_value, kit_redis_store, redis_cleanup, redis_prefix, ts_redis_store};
    let rt = runtime();
    let prefix = redis_prefix();
    let kit = |n: usize| match rt.block_on(kit_redis_store(&prefix)) {
        Ok(store) => Some(kit_wide(n, store)),
        Err(error) => panic!("session-kit Redis store: {error}"),
    };
    let peer = |n: usize| match rt.block_on(ts_redis_store()) {
        Ok(store) => ts_wide(n, store),
        Err(error) => panic!("tower-sessions Redis store: {error}"),
    };
    let peers = wide_groups(c, &rt, "redis", kit, peer);
    let keys: Vec<String> = peers.iter().filter_map(cookie_value).collect();
    if let Err(error) = redis_cleanup(&prefix, &keys) {
        eprintln!("could not remove this run's Redis keys (prefix {prefix}): {error}");
    }
}

/// Without the `redis` feature there are no wide Redis groups.
#[cfg(not(feature = "redis"))]
fn wide_redis(_: &mut Criterion) {}

/// session-kit's `PostgresStore` vs tower-sessions-sqlx-store's, on the server at
/// `$POSTGRES_URL`; this run's tables are dropped afterwards.
#[cfg(feature = "postgres")]
fn postgres(c: &mut Criterion) {
    use session_kit_bench::{kit_postgres_router, postgres_cleanup, sql_run_name, ts_postgres_router};
    let rt = runtime();
    let run = sql_run_name();
    let mut group = c.benchmark_group("postgres");
    let kit = match rt.block_on(kit_postgres_router(&run)) {
        Ok(router) => router,
        Err(error) => panic!("session-kit PostgreSQL store: {error}"),
    };
    let peer = match rt.block_on(ts_postgres_router(&run)) {
        Ok(router) => router,
        Err(error) => panic!("tower-sessions PostgreSQL store: {error}"),
    };
    side_by_side(&mut group, &rt, vec![("session-kit", kit), ("tower-sessions", peer)]);
    group.finish();
    if let Err(error) = rt.block_on(postgres_cleanup(&run)) {
        eprintln!("could not drop this run's PostgreSQL tables ({run}_*): {error}");
    }
}

/// Without the `postgres` feature there is no PostgreSQL group.
#[cfg(not(feature = "postgres"))]
fn postgres(_: &mut Criterion) {}

/// session-kit's `MysqlStore` vs tower-sessions-sqlx-store's `MySqlStore`, on the server at
/// `$MYSQL_URL`; this run's tables are dropped afterwards.
#[cfg(feature = "mysql")]
fn mysql(c: &mut Criterion) {
    use session_kit_bench::{kit_mysql_router, mysql_cleanup, sql_run_name, ts_mysql_router};
    let rt = runtime();
    let run = sql_run_name();
    let mut group = c.benchmark_group("mysql");
    let kit = match rt.block_on(kit_mysql_router(&run)) {
        Ok(router) => router,
        Err(error) => panic!("session-kit MySQL store: {error}"),
    };
    let peer = match rt.block_on(ts_mysql_router(&run)) {
        Ok(router) => router,
        Err(error) => panic!("tower-sessions MySQL store: {error}"),
    };
    side_by_side(&mut group, &rt, vec![("session-kit", kit), ("tower-sessions", peer)]);
    group.finish();
    if let Err(error) = rt.block_on(mysql_cleanup(&run)) {
        eprintln!("could not drop this run's MySQL tables ({run}_*): {error}");
    }
}

/// Without the `mysql` feature there is no MySQL group.
#[cfg(not(feature = "mysql"))]
fn mysql(_: &mut Criterion) {}

/// The actix-web group: session-kit's `SessionMiddleware` beside actix-session, cookie store
/// (session-kit sealed, actix-session private: both encrypted) and, with the `redis` feature,
/// Redis store, plus a bare handler; each driven in-process on an actix system.
#[cfg(feature = "actix")]
fn actix(c: &mut Criterion) {
    use session_kit_bench::actix::{
        actix_bare_app, actix_client, actix_kit_app, actix_kit_sealed, actix_session_app, actix_session_cookie,
        ActixClient, ActixService,
    };

    /// Measures `GET path` on a seeded actix client, then checks it still answers 200.
    fn measure_actix<S: ActixService>(
        group: &mut BenchmarkGroup<'_, WallTime>,
        system: &actix_web::rt::SystemRunner,
        id: &str,
        client: &mut ActixClient<S>,
        path: &'static str,
    ) {
        group.bench_function(id, |b| {
            b.iter_custom(|iters| {
                system.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        black_box(client.get(path).await);
                    }
                    start.elapsed()
                })
            })
        });
        let (status, _) = system.block_on(client.get(path));
        assert_eq!(status.as_u16(), 200, "{id}: {path} stopped answering 200 during the run");
    }

    /// Read and write on a fresh session of each of two clients, kind by kind, so the rows a
    /// ratio compares run back to back (as `side_by_side` does).
    fn pair_actix<A: ActixService, B: ActixService>(
        group: &mut BenchmarkGroup<'_, WallTime>,
        system: &actix_web::rt::SystemRunner,
        (kit, mut kit_client): (&str, ActixClient<A>),
        (peer, mut peer_client): (&str, ActixClient<B>),
    ) {
        system.block_on(kit_client.seed());
        system.block_on(peer_client.seed());
        for path in ["/read", "/write"] {
            measure_actix(group, system, &format!("{kit}{path}"), &mut kit_client, path);
            measure_actix(group, system, &format!("{peer}{path}"), &mut peer_client, path);
        }
    }

    let system = actix_web::rt::System::new();
    let mut group = c.benchmark_group("actix");
    let mut bare = system.block_on(actix_client(actix_bare_app()));
    system.block_on(bare.seed());
    measure_actix(&mut group, &system, "bare/read", &mut bare, "/read");
    let kit = system.block_on(actix_client(actix_kit_app(actix_kit_sealed())));
    let peer = system.block_on(actix_client(actix_session_app(actix_session_cookie())));
    pair_actix(&mut group, &system, ("session-kit-sealed", kit), ("actix-session-cookie", peer));
    #[cfg(feature = "redis")]
    {
        use session_kit_bench::actix::{actix_kit_redis, actix_session_redis};
        use session_kit_bench::{redis_cleanup, redis_prefix};
        let prefix = redis_prefix();
        let kit = match system.block_on(actix_kit_redis(&prefix)) {
            Ok(middleware) => system.block_on(actix_client(actix_kit_app(middleware))),
            Err(error) => panic!("session-kit Redis store: {error}"),
        };
        let peer = match system.block_on(actix_session_redis(&prefix)) {
            Ok(store) => system.block_on(actix_client(actix_session_app(store))),
            Err(error) => panic!("actix-session Redis store: {error}"),
        };
        pair_actix(&mut group, &system, ("session-kit-redis", kit), ("actix-session-redis", peer));
        if let Err(error) = redis_cleanup(&prefix, &[]) {
            eprintln!("could not remove this run's Redis keys (prefix {prefix}): {error}");
        }
    }
    group.finish();
}

/// Without the `actix` feature there is no actix group.
#[cfg(not(feature = "actix"))]
fn actix(_: &mut Criterion) {}

#[allow(missing_docs)] // criterion_group! makes an undocumented pub fn
mod harness {
    use super::*;

    criterion_group! {
        name = requests;
        config = config();
        targets = memory, cookie, sqlite, redis, postgres, mysql, actix, wide_memory, wide_sqlite, wide_redis
    }
}
criterion_main!(harness::requests);
