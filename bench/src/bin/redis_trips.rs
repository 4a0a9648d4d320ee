//! Counts the Redis round trips of one request, read-only (`/read`) and read-write (`/write`),
//! for session-kit's `RedisStore` and for tower-sessions-redis-store, and prints a Markdown table.
//!
//! `redis_trips [requests]` (default 200; feature `redis`, server at `$REDIS_URL`, default
//! `redis://127.0.0.1:6379`).
//!
//! A connection of its own runs `MONITOR` while the in-process client makes the requests on a
//! seeded session (after one warm-up request of each kind, so scripts are already loaded). Only
//! commands naming this run's keys count: session-kit's keys carry a prefix unique to the run,
//! the peer's key is its session id. A command the client sends is one round trip (neither store
//! pipelines); commands a Lua script runs inside Redis show as `[db lua]` and are listed apart.
//! Other clients of the same server do not disturb the count. The run's keys are removed after.
//!
//! Before `MONITOR` starts (a monitor slows every command, most of all a script, whose inner
//! commands are each fed to it), a first pass of the same requests reads `INFO commandstats`
//! before and after each phase, and the table gives the server time per request of the
//! commands the client sent (a script's time includes the commands it runs): that column is
//! exact only on a server no one else uses meanwhile (e.g. a private
//! `redis-server --port 6390 --save ''` with `REDIS_URL=redis://127.0.0.1:6390`).

use std::collections::BTreeMap;
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

use axum::http::StatusCode;
use session_kit_bench::{
    cookie_value, kit_redis_cached_router, kit_redis_router, redis_cleanup, redis_prefix, redis_url, runtime,
    ts_redis_router, Client,
};
use tokio::runtime::Runtime;

/// Commands seen for one contender and one kind of request.
struct Counts {
    client: BTreeMap<String, u64>,
    script: BTreeMap<String, u64>,
    /// Server microseconds spent in the commands the client sent, per request.
    server_us: f64,
}

fn main() {
    let requests: u64 = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(200);
    let rt = runtime();
    let prefix = redis_prefix();

    let kit = match rt.block_on(kit_redis_router(&prefix)) {
        Ok(router) => router,
        Err(error) => fail(&format!("session-kit Redis store: {error}")),
    };
    let mut kit = Client::new(kit);
    rt.block_on(kit.seed());

    let cached_prefix = format!("{prefix}cached:");
    let cached = match rt.block_on(kit_redis_cached_router(&cached_prefix)) {
        Ok(router) => router,
        Err(error) => fail(&format!("session-kit Redis store with the client cache: {error}")),
    };
    let mut cached = Client::new(cached);
    rt.block_on(cached.seed());

    let peer = match rt.block_on(ts_redis_router()) {
        Ok(router) => router,
        Err(error) => fail(&format!("tower-sessions Redis store: {error}")),
    };
    let mut peer = Client::new(peer);
    rt.block_on(peer.seed());
    let peer_key = cookie_value(&peer).unwrap_or_else(|| fail("tower-sessions sent no session cookie"));

    let mut contenders = [
        ("session-kit", &mut kit, prefix.as_str()),
        ("session-kit, client cache", &mut cached, cached_prefix.as_str()),
        ("tower-sessions", &mut peer, peer_key.as_str()),
    ];
    // Server time first, without a monitor.
    let mut server_time = Vec::new();
    for (_, client, _) in &mut contenders {
        for path in ["/read", "/write"] {
            get(&rt, client, path);
            let before = command_stats();
            for _ in 0..requests {
                get(&rt, client, path);
            }
            server_time.push(delta(&before, &command_stats()));
        }
    }
    let lines = match monitor() {
        Ok(lines) => lines,
        Err(error) => fail(&format!("cannot MONITOR {}: {error}", redis_url())),
    };
    let mut rows = Vec::new();
    let mut server_time = server_time.into_iter();
    for (name, client, marker) in &mut contenders {
        for path in ["/read", "/write"] {
            let mut counts = phase(&rt, &lines, client, path, requests, marker);
            let spent = server_time.next().unwrap_or_default();
            let usec: u64 = counts.client.keys().map(|c| spent.get(c).copied().unwrap_or(0)).sum();
            counts.server_us = usec as f64 / requests as f64;
            rows.push((*name, path, counts));
        }
    }

    if let Err(error) = redis_cleanup(&prefix, &[peer_key]) {
        eprintln!("could not remove this run's Redis keys (prefix {prefix}): {error}");
    }

    #[allow(clippy::print_stdout)]
    {
        println!("{requests} requests of each kind on one seeded session, counted with MONITOR:\n");
        println!("| store | request | round trips per request | commands sent (total) | run inside Lua scripts, per request | server µs per request |");
        println!("|---|---|---:|---|---|---:|");
        for (name, path, counts) in rows {
            let total: u64 = counts.client.values().sum();
            println!(
                "| {name} | {} | {} | {} | {} | {:.2} |",
                if path == "/read" { "read-only" } else { "read-write" },
                per(total, requests),
                list(&counts.client, None),
                if counts.script.is_empty() { "none".to_owned() } else { list(&counts.script, Some(requests)) },
                counts.server_us,
            );
        }
    }
}

/// Warms up with one request, then counts the commands naming `marker` during `requests` more.
fn phase(
    rt: &Runtime,
    lines: &Receiver<String>,
    client: &mut Client,
    path: &'static str,
    requests: u64,
    marker: &str,
) -> Counts {
    get(rt, client, path);
    settle(lines);
    for _ in 0..requests {
        get(rt, client, path);
    }
    let mut counts = Counts { client: BTreeMap::new(), script: BTreeMap::new(), server_us: 0.0 };
    for line in settle(lines) {
        if !line.contains(marker) {
            continue;
        }
        // `1700000000.123456 [0 127.0.0.1:4242] "HGETALL" "key"`, or `[0 lua]` inside a script.
        let Some((source, rest)) = line.split_once("] ") else { continue };
        let command = rest.split('"').nth(1).unwrap_or("?").to_ascii_uppercase();
        let map = if source.ends_with(" lua") { &mut counts.script } else { &mut counts.client };
        *map.entry(command).or_default() += 1;
    }
    counts
}

/// One request of `path`, which must answer 200.
fn get(rt: &Runtime, client: &mut Client, path: &'static str) {
    let (status, _) = rt.block_on(client.get(path));
    if status != StatusCode::OK {
        fail(&format!("{path} answered {status}"));
    }
}

/// Server microseconds per command between two `command_stats` readings.
fn delta(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after.iter().map(|(c, us)| (c.clone(), us.saturating_sub(before.get(c).copied().unwrap_or(0)))).collect()
}

/// Microseconds the server has spent in each command so far (`INFO commandstats`), by upper
/// case command name; empty if it cannot be read.
fn command_stats() -> BTreeMap<String, u64> {
    let info: redis::RedisResult<String> = redis::Client::open(redis_url())
        .and_then(|c| c.get_connection())
        .and_then(|mut c| redis::cmd("INFO").arg("commandstats").query(&mut c));
    let mut stats = BTreeMap::new();
    for line in info.unwrap_or_default().lines() {
        // cmdstat_hgetall:calls=2000,usec=1709,usec_per_call=0.85,...
        let Some((name, rest)) = line.strip_prefix("cmdstat_").and_then(|l| l.split_once(':')) else { continue };
        let usec = rest.split(',').find_map(|kv| kv.strip_prefix("usec=")).and_then(|u| u.parse().ok());
        if let Some(usec) = usec {
            stats.insert(name.to_ascii_uppercase(), usec);
        }
    }
    stats
}

/// Waits until MONITOR has been quiet for a moment and returns what arrived meanwhile.
fn settle(lines: &Receiver<String>) -> Vec<String> {
    let mut seen = Vec::new();
    while let Ok(line) = lines.recv_timeout(Duration::from_millis(300)) {
        seen.push(line);
    }
    seen
}

/// Opens a `MONITOR` connection; its lines arrive on the returned channel.
fn monitor() -> redis::RedisResult<Receiver<String>> {
    let mut conn = redis::Client::open(redis_url())?.get_connection()?;
    conn.send_packed_command(&redis::cmd("MONITOR").get_packed_command())?;
    conn.recv_response()?; // +OK
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        while let Ok(value) = conn.recv_response() {
            if let redis::Value::SimpleString(line) = value {
                if tx.send(line).is_err() {
                    break;
                }
            }
        }
    });
    Ok(rx)
}

fn per(n: u64, requests: u64) -> String {
    if n % requests == 0 {
        (n / requests).to_string()
    } else {
        format!("{:.2}", n as f64 / requests as f64)
    }
}

/// `EVALSHA ×200, HGETALL ×200`, or per request with `Some(requests)`.
fn list(counts: &BTreeMap<String, u64>, per_request: Option<u64>) -> String {
    if counts.is_empty() {
        return "none".to_owned();
    }
    let items: Vec<String> = counts
        .iter()
        .map(|(command, n)| match per_request {
            Some(r) => format!("{command} {}", per(*n, r)),
            None => format!("{command} ×{n}"),
        })
        .collect();
    items.join(", ")
}

fn fail(message: &str) -> ! {
    eprintln!("redis_trips: {message}");
    std::process::exit(1);
}
