//! Runs one contender's request in a loop, for profilers (`valgrind --tool=callgrind`,
//! `--tool=dhat`): `hotloop <contender> <read|write> <requests>`.
//!
//! Contenders: `bare`, `kit-memory`, `kit-memory-owned` (the same session with an owner field),
//! `ts-memory`, `kit-sealed`, `kit-signed`, `jar` (the
//! 5-field profile of the request rows: `write` bumps one field), and `kit-memory-wide5`,
//! `ts-memory-wide5`, `kit-memory-wide50`, `ts-memory-wide50` (the wide sessions: `write` is
//! `/write-one`); with the `redis` feature also `kit-redis-wide5`, `ts-redis-wide5`,
//! `kit-redis-wide50`, `ts-redis-wide50` on the server at `$REDIS_URL` (what the client
//! side of a Redis request costs; the keys are left to their TTL).
//!
//! The session is seeded and warmed up first; the measured requests all run inside
//! [`measured_requests`], so `valgrind --tool=callgrind --collect-atstart=no
//! --toggle-collect='*measured_requests*'` counts exactly them (`scripts/callgrind.sh` does).
//! Without a profiler's toggle, run twice with different counts and subtract.

use session_kit::MemoryStore;
use session_kit_bench::wide::{self, PeerWide5, PeerWide50, Wide5, Wide50};
use session_kit_bench::{
    bare_router, jar_router, kit_memory_owned_router, kit_memory_router, kit_sealed_router, kit_signed_router, runtime,
    ts_memory_router, Client,
};
use tokio::runtime::Runtime;

/// Requests made before measuring, so one-time costs (first allocation of caches, lazy statics,
/// the first save of a fresh session) stay out of the count.
const WARM_UP: u64 = 50;

const USAGE: &str =
    "usage: hotloop <bare|kit-memory|kit-memory-owned|ts-memory|kit-sealed|kit-signed|jar|kit-memory-wide5|\
                     ts-memory-wide5|kit-memory-wide50|ts-memory-wide50|kit-redis-wide5|ts-redis-wide5|\
                     kit-redis-wide50|ts-redis-wide50> <read|write> <requests>";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(contender), Some(kind), Some(count)) = (args.get(1), args.get(2), args.get(3)) else {
        fail(USAGE);
    };
    // (router, expected body of `/read` after `/seed`, path of a write)
    let rt = runtime();
    let (router, expected, write) = match contender.as_str() {
        "bare" => (bare_router(), session_kit_bench::expected_read_body(), "/write"),
        "kit-memory" => (kit_memory_router(), session_kit_bench::expected_read_body(), "/write"),
        "kit-memory-owned" => (kit_memory_owned_router(), session_kit_bench::expected_read_body(), "/write"),
        "ts-memory" => (ts_memory_router(), session_kit_bench::expected_read_body(), "/write"),
        "kit-sealed" => (kit_sealed_router(), session_kit_bench::expected_read_body(), "/write"),
        "kit-signed" => (kit_signed_router(), session_kit_bench::expected_read_body(), "/write"),
        "jar" => (jar_router(), session_kit_bench::expected_read_body(), "/write"),
        "kit-memory-wide5" => {
            (wide::kit_router::<Wide5>(MemoryStore::new()), wide::expected_read_body::<Wide5>(), "/write-one")
        }
        "ts-memory-wide5" => (
            wide::ts_router::<PeerWide5, _>(tower_sessions::MemoryStore::default()),
            wide::expected_read_body::<Wide5>(),
            "/write-one",
        ),
        "kit-memory-wide50" => {
            (wide::kit_router::<Wide50>(MemoryStore::new()), wide::expected_read_body::<Wide50>(), "/write-one")
        }
        "ts-memory-wide50" => (
            wide::ts_router::<PeerWide50, _>(tower_sessions::MemoryStore::default()),
            wide::expected_read_body::<Wide50>(),
            "/write-one",
        ),
        #[cfg(feature = "redis")]
        "kit-redis-wide5" => (kit_redis::<Wide5>(&rt), wide::expected_read_body::<Wide5>(), "/write-one"),
        #[cfg(feature = "redis")]
        "ts-redis-wide5" => (ts_redis::<PeerWide5>(&rt), wide::expected_read_body::<Wide5>(), "/write-one"),
        #[cfg(feature = "redis")]
        "kit-redis-wide50" => (kit_redis::<Wide50>(&rt), wide::expected_read_body::<Wide50>(), "/write-one"),
        #[cfg(feature = "redis")]
        "ts-redis-wide50" => (ts_redis::<PeerWide50>(&rt), wide::expected_read_body::<Wide50>(), "/write-one"),
        _ => fail(USAGE),
    };
    let path = match kind.as_str() {
        "read" => "/read",
        "write" => write,
        _ => fail(USAGE),
    };
    let Ok(count) = count.parse::<u64>() else { fail(USAGE) };
    let mut client = Client::new(router);
    rt.block_on(async {
        client.seed_expecting(&expected).await;
        for _ in 0..WARM_UP {
            check(client.get(path).await.0);
        }
    });
    measured_requests(&rt, &mut client, path, count);
}

/// The measured loop; kept out of line so a profiler can count exactly what runs inside it.
#[inline(never)]
fn measured_requests(rt: &Runtime, client: &mut Client, path: &'static str, count: u64) {
    rt.block_on(async {
        for _ in 0..count {
            check(std::hint::black_box(client.get(path).await).0);
        }
    });
}

/// session-kit's wide routes for `T` on its Redis store, under a prefix of this run's own.
#[cfg(feature = "redis")]
fn kit_redis<T: wide::Wide + session_kit::SessionData>(rt: &Runtime) -> axum::Router {
    let prefix = session_kit_bench::redis_prefix();
    match rt.block_on(session_kit_bench::kit_redis_store(&prefix)) {
        Ok(store) => wide::kit_router::<T>(store),
        Err(e) => fail(&format!("redis: {e}")),
    }
}

/// tower-sessions' wide routes for `P` on tower-sessions-redis-store.
#[cfg(feature = "redis")]
fn ts_redis<P: wide::Wide + serde::Serialize + serde::de::DeserializeOwned>(rt: &Runtime) -> axum::Router {
    match rt.block_on(session_kit_bench::ts_redis_store()) {
        Ok(store) => wide::ts_router::<P, _>(store),
        Err(e) => fail(&format!("redis: {e}")),
    }
}

fn check(status: axum::http::StatusCode) {
    if status != axum::http::StatusCode::OK {
        fail(&format!("request answered {status}"));
    }
}

fn fail(message: &str) -> ! {
    eprintln!("{message}");
    std::process::exit(2);
}
