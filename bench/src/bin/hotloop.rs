//! Runs one contender's request in a loop, for profilers (`valgrind --tool=callgrind`,
//! `--tool=dhat`): `hotloop <contender> <read|write> <requests>`.
//!
//! Contenders: `bare`, `kit-memory`, `ts-memory`, `kit-sealed`, `kit-signed`, `jar`. The
//! session is seeded first; run twice with different counts and subtract to get per-request
//! figures without the set-up.

use session_kit_bench::{
    bare_router, jar_router, kit_memory_router, kit_sealed_router, kit_signed_router, runtime, ts_memory_router, Client,
};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(contender), Some(kind), Some(count)) = (args.get(1), args.get(2), args.get(3)) else {
        eprintln!("usage: hotloop <bare|kit-memory|ts-memory|kit-sealed|kit-signed|jar> <read|write> <requests>");
        std::process::exit(2);
    };
    let router = match contender.as_str() {
        "bare" => bare_router(),
        "kit-memory" => kit_memory_router(),
        "ts-memory" => ts_memory_router(),
        "kit-sealed" => kit_sealed_router(),
        "kit-signed" => kit_signed_router(),
        "jar" => jar_router(),
        other => {
            eprintln!("unknown contender {other}");
            std::process::exit(2);
        }
    };
    let path = if kind == "write" { "/write" } else { "/read" };
    let count: u64 = count.parse().unwrap_or(0);
    let rt = runtime();
    let mut client = Client::new(router);
    rt.block_on(async {
        client.seed().await;
        for _ in 0..count {
            std::hint::black_box(client.get(path).await);
        }
    });
}
