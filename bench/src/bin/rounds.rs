//! Per-request CPU time of session-kit's memory store against tower-sessions', and of its sealed
//! cookie against `PrivateCookieJar` + JSON, in interleaved rounds: `rounds [rounds] [requests
//! per round]` (default 15 and 2000).
//!
//! For a loaded machine, where criterion's wall-clock figures move by tens of percent: every
//! round runs every row once, in a rotating order, timing each on the thread's CPU clock (time
//! this thread spent running, not time it waited for a core), and the medians over the rounds
//! are printed with the ratio peer / session-kit. Rows: the 5-field session of the other
//! benchmarks (read, write one field), a 50-field session of about 8 KB of 150-byte strings
//! (read every field; write one), and the 5-field session in a sealed cookie (the routers of the
//! `cookie` group of the request benchmarks).

use std::hint::black_box;
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};
use session_kit::{MemoryStore, Session, SessionLayer};
use session_kit_bench::{jar_router, kit_memory_router, kit_sealed_router, runtime, ts_memory_router, Client};

/// Declares the 50-field session twice, as session-kit's derive and as the peer's serde struct,
/// with a function filling the peer's.
macro_rules! wide {
    ($($field:ident),* $(,)?) => {
        /// session-kit's 50-field session.
        #[derive(Session, Debug)]
        #[session(name = "wide")]
        struct Wide {
            $($field: String,)*
        }

        /// The peer's 50-field session, stored whole under one key.
        #[derive(Debug, Serialize, Deserialize)]
        struct PeerWide {
            $($field: String,)*
        }

        impl PeerWide {
            fn sample() -> Self {
                Self { $($field: value(stringify!($field), 0),)* }
            }
        }

        impl Wide {
            fn fill(&mut self) {
                $(self.$field = value(stringify!($field), 0);)*
            }

            fn total_len(&self) -> usize {
                0 $(+ self.$field.len())*
            }
        }

        impl PeerWide {
            fn total_len(&self) -> usize {
                0 $(+ self.$field.len())*
            }
        }
    };
}

wide!(
    f00, f01, f02, f03, f04, f05, f06, f07, f08, f09, f10, f11, f12, f13, f14, f15, f16, f17, f18, f19, f20, f21, f22,
    f23, f24, f25, f26, f27, f28, f29, f30, f31, f32, f33, f34, f35, f36, f37, f38, f39, f40, f41, f42, f43, f44, f45,
    f46, f47, f48, f49,
);

/// A 150-byte value for `field`, varied by `n` so that a write changes it.
fn value(field: &str, n: u64) -> String {
    let mut s = format!("{field}:{n}:");
    while s.len() < 150 {
        s.push('x');
    }
    s
}

const WIDE_KEY: &str = "wide";

fn kit_wide_router() -> Router {
    async fn seed(mut session: Session<Wide>) -> &'static str {
        session.fill();
        "seeded"
    }
    async fn read(session: Session<Wide>) -> String {
        session.total_len().to_string()
    }
    async fn write(mut session: Session<Wide>) -> String {
        let n = if session.f00.starts_with("f00:10:") { 20 } else { 10 };
        session.f00 = value("f00", n);
        session.total_len().to_string()
    }
    Router::new()
        .route("/seed", get(seed))
        .route("/read", get(read))
        .route("/write", get(write))
        .layer(SessionLayer::<Wide>::new(MemoryStore::new()).secure(false))
}

fn ts_wide_router() -> Router {
    type Peer = tower_sessions::Session;
    async fn seed(session: Peer) -> Result<&'static str, StatusCode> {
        session.insert(WIDE_KEY, PeerWide::sample()).await.map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
        Ok("seeded")
    }
    async fn load(session: &Peer) -> Result<PeerWide, StatusCode> {
        session.get(WIDE_KEY).await.map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?.ok_or(StatusCode::UNAUTHORIZED)
    }
    async fn read(session: Peer) -> Result<String, StatusCode> {
        Ok(load(&session).await?.total_len().to_string())
    }
    async fn write(session: Peer) -> Result<String, StatusCode> {
        let mut wide = load(&session).await?;
        let n = if wide.f00.starts_with("f00:10:") { 20 } else { 10 };
        wide.f00 = value("f00", n);
        let body = wide.total_len().to_string();
        session.insert(WIDE_KEY, wide).await.map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
        Ok(body)
    }
    let layer = tower_sessions::SessionManagerLayer::new(tower_sessions::MemoryStore::default())
        .with_secure(false)
        .with_name("wide");
    Router::new().route("/seed", get(seed)).route("/read", get(read)).route("/write", get(write)).layer(layer)
}

/// The CPU time this thread has run.
fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec.unsigned_abs(), u32::try_from(t.tv_nsec).unwrap_or(0))
}

struct Row {
    name: &'static str,
    client: Client,
    path: &'static str,
    per_request_ns: Vec<f64>,
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let rounds = args.first().copied().unwrap_or(15).max(1);
    let requests = args.get(1).copied().unwrap_or(2000).max(1);
    let rt = runtime();
    let seeded = |router: Router| {
        let mut client = Client::new(router);
        rt.block_on(async {
            let (status, _) = client.get("/seed").await;
            assert_eq!(status, StatusCode::OK, "seed failed");
        });
        client
    };
    let (kit5, ts5, kit50, ts50) =
        (seeded(kit_memory_router()), seeded(ts_memory_router()), seeded(kit_wide_router()), seeded(ts_wide_router()));
    let (sealed, jar) = (seeded(kit_sealed_router()), seeded(jar_router()));
    let mut rows = [
        Row { name: "5 fields, read / session-kit", client: kit5.clone(), path: "/read", per_request_ns: vec![] },
        Row { name: "5 fields, read / tower-sessions", client: ts5.clone(), path: "/read", per_request_ns: vec![] },
        Row { name: "5 fields, write / session-kit", client: kit5, path: "/write", per_request_ns: vec![] },
        Row { name: "5 fields, write / tower-sessions", client: ts5, path: "/write", per_request_ns: vec![] },
        Row { name: "50 fields, read / session-kit", client: kit50.clone(), path: "/read", per_request_ns: vec![] },
        Row { name: "50 fields, read / tower-sessions", client: ts50.clone(), path: "/read", per_request_ns: vec![] },
        Row { name: "50 fields, write one / session-kit", client: kit50, path: "/write", per_request_ns: vec![] },
        Row { name: "50 fields, write one / tower-sessions", client: ts50, path: "/write", per_request_ns: vec![] },
        Row {
            name: "sealed cookie, read / session-kit",
            client: sealed.clone(),
            path: "/read",
            per_request_ns: vec![],
        },
        Row { name: "sealed cookie, read / private jar", client: jar.clone(), path: "/read", per_request_ns: vec![] },
        Row { name: "sealed cookie, write / session-kit", client: sealed, path: "/write", per_request_ns: vec![] },
        Row { name: "sealed cookie, write / private jar", client: jar, path: "/write", per_request_ns: vec![] },
    ];
    let count = rows.len();
    for round in 0..rounds {
        for i in 0..count {
            let row = &mut rows[(i + round as usize) % count];
            let client = &mut row.client;
            let path = row.path;
            let elapsed = rt.block_on(async {
                let start = thread_cpu();
                for _ in 0..requests {
                    let (status, body) = client.get(path).await;
                    assert_eq!(status, StatusCode::OK);
                    black_box(body);
                }
                thread_cpu().saturating_sub(start)
            });
            row.per_request_ns.push(elapsed.as_nanos() as f64 / requests as f64);
        }
    }
    let mut out = String::from("| row | session-kit µs | peer µs | ratio peer / ours |\n|---|---:|---:|---:|\n");
    for pair in rows.chunks(2) {
        let (ours, peer) = (median(&pair[0].per_request_ns) / 1000.0, median(&pair[1].per_request_ns) / 1000.0);
        let name = pair[0].name.trim_end_matches(" / session-kit");
        out.push_str(&format!("| {name} | {ours:.2} | {peer:.2} | {:.2}x |\n", peer / ours));
    }
    #[allow(clippy::print_stdout)] // the report
    {
        print!("{out}");
        println!("(medians of {rounds} interleaved rounds of {requests} requests, thread CPU time)");
    }
}
