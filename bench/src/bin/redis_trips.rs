//! Counts the Redis round trips of one request, read-only (`/read`) and read-write (`/write`),
//! for session-kit's `RedisStore` and for tower-sessions-redis-store, the bytes each request
//! sends Redis and the server time it costs, and prints a Markdown table: for the 5-field profile
//! of the request rows (where session-kit also runs with its client-side cache), then for the
//! wide sessions (5 and 50 fields of ~150 bytes; `/read` and `/write-one`).
//!
//! `redis_trips [requests]` (default 200; feature `redis`, server at `$REDIS_URL`, default
//! `redis://127.0.0.1:6379`).
//!
//! A connection of its own runs `MONITOR` while the in-process client makes the requests on a
//! seeded session (after one warm-up request of each kind, so scripts are already loaded). Only
//! commands naming this run's keys count: session-kit's keys carry a prefix unique to the run,
//! the peer's key is its session id. A command the client sends is one round trip (neither store
//! pipelines); commands a Lua script runs inside Redis show as `[db lua]` and are listed apart.
//! Bytes sent are the command's arguments as MONITOR shows them, unescaped (command name, keys,
//! values, script ids), without RESP framing.
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
use session_kit_bench::wide::{self, PeerWide5, PeerWide50, Wide5, Wide50};
use session_kit_bench::{
    cookie_value, kit_redis_cached_router, kit_redis_router, kit_redis_store, redis_cleanup, redis_prefix, redis_url,
    runtime, ts_redis_router, ts_redis_store, Client,
};
use tokio::runtime::Runtime;

/// Commands seen for one contender and one kind of request.
struct Counts {
    client: BTreeMap<String, u64>,
    script: BTreeMap<String, u64>,
    /// Argument bytes of the commands the client sent.
    bytes: u64,
}

/// The name of the tower-sessions contender, whose Redis key is its session id.
const PEER: &str = "tower-sessions";

/// One store with its seeded client, and the string every command on its keys contains.
struct Contender {
    name: &'static str,
    client: Client,
    marker: String,
}

/// One session shape: its label, its contenders, the requests to count.
struct Scenario {
    label: &'static str,
    contenders: Vec<Contender>,
    paths: [&'static str; 2],
}

fn main() {
    let requests: u64 = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(200);
    let rt = runtime();
    let prefix = redis_prefix();
    let kit_store = || match rt.block_on(kit_redis_store(&prefix)) {
        Ok(store) => store,
        Err(error) => fail(&format!("session-kit Redis store: {error}")),
    };
    let peer_store = || match rt.block_on(ts_redis_store()) {
        Ok(store) => store,
        Err(error) => fail(&format!("tower-sessions Redis store: {error}")),
    };
    let seeded = |router, expected: &str| {
        let mut client = Client::new(router);
        rt.block_on(client.seed_expecting(expected));
        client
    };
    // session-kit's keys carry the run's prefix; the peer's key is its session id.
    let kit = |name, router, key_prefix: &str, expected: &str| Contender {
        name,
        client: seeded(router, expected),
        marker: key_prefix.to_owned(),
    };
    let peer = |router, expected: &str| {
        let client = seeded(router, expected);
        let marker = cookie_value(&client).unwrap_or_else(|| fail("tower-sessions sent no session cookie"));
        Contender { name: PEER, client, marker }
    };

    let kit_router = match rt.block_on(kit_redis_router(&prefix)) {
        Ok(router) => router,
        Err(error) => fail(&format!("session-kit Redis store: {error}")),
    };
    let cached_prefix = format!("{prefix}cached:");
    let cached_router = match rt.block_on(kit_redis_cached_router(&cached_prefix)) {
        Ok(router) => router,
        Err(error) => fail(&format!("session-kit Redis store with the client cache: {error}")),
    };
    let peer_router = match rt.block_on(ts_redis_router()) {
        Ok(router) => router,
        Err(error) => fail(&format!("tower-sessions Redis store: {error}")),
    };
    let profile = session_kit_bench::expected_read_body();
    let five = wide::expected_read_body::<Wide5>();
    let fifty = wide::expected_read_body::<Wide50>();
    let mut scenarios = [
        Scenario {
            label: "profile, 5 small fields",
            contenders: vec![
                kit("session-kit", kit_router, &prefix, &profile),
                kit("session-kit, client cache", cached_router, &cached_prefix, &profile),
                peer(peer_router, &profile),
            ],
            paths: ["/read", "/write"],
        },
        Scenario {
            label: "wide, 5 fields of 150 B",
            contenders: vec![
                kit("session-kit", wide::kit_router::<Wide5>(kit_store()), &prefix, &five),
                peer(wide::ts_router::<PeerWide5, _>(peer_store()), &five),
            ],
            paths: ["/read", "/write-one"],
        },
        Scenario {
            label: "wide, 50 fields of 150 B",
            contenders: vec![
                kit("session-kit", wide::kit_router::<Wide50>(kit_store()), &prefix, &fifty),
                peer(wide::ts_router::<PeerWide50, _>(peer_store()), &fifty),
            ],
            paths: ["/read", "/write-one"],
        },
    ];

    // Server time first, without a monitor; then the same phases, in the same order, under one.
    let mut server_time = Vec::new();
    for_each_phase(&mut scenarios, |_, contender, path| {
        server_time.push(server_phase(&rt, &mut contender.client, path, requests));
    });
    let lines = match monitor() {
        Ok(lines) => lines,
        Err(error) => fail(&format!("cannot MONITOR {}: {error}", redis_url())),
    };
    let mut server_time = server_time.into_iter();
    let mut rows = Vec::new();
    for_each_phase(&mut scenarios, |label, contender, path| {
        let counts = phase(&rt, &lines, &mut contender.client, path, requests, &contender.marker);
        // Only the commands the client sent: a script's time already holds the ones it runs.
        let spent = server_time.next().unwrap_or_default();
        let usec: u64 = counts.client.keys().map(|c| spent.get(c).copied().unwrap_or(0)).sum();
        rows.push((label, contender.name, path, counts, usec as f64 / requests as f64));
    });

    let peer_keys: Vec<String> = scenarios
        .iter()
        .flat_map(|scenario| &scenario.contenders)
        .filter(|contender| contender.name == PEER)
        .map(|contender| contender.marker.clone())
        .collect();

    if let Err(error) = redis_cleanup(&prefix, &peer_keys) {
        eprintln!("could not remove this run's Redis keys (prefix {prefix}): {error}");
    }

    #[allow(clippy::print_stdout)]
    {
        println!("{requests} requests of each kind on one seeded session per contender, counted with MONITOR:\n");
        println!("| session | store | request | round trips per request | commands sent (total) | run inside Lua scripts, per request | bytes sent per request | server µs per request |");
        println!("|---|---|---|---:|---|---|---:|---:|");
        for (label, name, path, counts, server_us) in rows {
            let total: u64 = counts.client.values().sum();
            println!(
                "| {label} | {name} | {} | {} | {} | {} | {} | {server_us:.2} |",
                path.trim_start_matches('/'),
                per(total, requests),
                list(&counts.client, None),
                if counts.script.is_empty() { "none".to_owned() } else { list(&counts.script, Some(requests)) },
                per(counts.bytes, requests),
            );
        }
    }
}

/// Calls `measure` for every scenario, contender and path, always in the same order.
fn for_each_phase(scenarios: &mut [Scenario], mut measure: impl FnMut(&'static str, &mut Contender, &'static str)) {
    for scenario in scenarios {
        for contender in &mut scenario.contenders {
            for path in scenario.paths {
                measure(scenario.label, contender, path);
            }
        }
    }
}

/// Warms up with one request, then returns the server microseconds of each command during
/// `requests` more.
fn server_phase(rt: &Runtime, client: &mut Client, path: &'static str, requests: u64) -> BTreeMap<String, u64> {
    get(rt, client, path);
    let before = command_stats();
    for _ in 0..requests {
        get(rt, client, path);
    }
    let after = command_stats();
    after
        .into_iter()
        .map(|(command, usec)| {
            let spent = usec.saturating_sub(before.get(&command).copied().unwrap_or(0));
            (command, spent)
        })
        .collect()
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
    let mut counts = Counts { client: BTreeMap::new(), script: BTreeMap::new(), bytes: 0 };
    for line in settle(lines) {
        if !line.contains(marker) {
            continue;
        }
        // `1700000000.123456 [0 127.0.0.1:4242] "HGETALL" "key"`, or `[0 lua]` inside a script.
        let Some((source, rest)) = line.split_once("] ") else { continue };
        let command = rest.split('"').nth(1).unwrap_or("?").to_ascii_uppercase();
        if source.ends_with(" lua") {
            *counts.script.entry(command).or_default() += 1;
        } else {
            *counts.client.entry(command).or_default() += 1;
            counts.bytes += argument_bytes(rest);
        }
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

/// The bytes of the arguments of a MONITOR line's command (`"SET" "k" "\x01v"`): each quoted
/// argument unescaped as Redis escapes it (`\\`, `\"`, `\n`, `\r`, `\t`, `\a`, `\b`, `\xHH`).
fn argument_bytes(args: &str) -> u64 {
    let mut bytes = 0;
    let mut chars = args.chars();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (false, '"') => quoted = true,
            (false, _) => {}
            (true, '"') => quoted = false,
            (true, '\\') => {
                // `\xHH` is one byte written as four characters; every other escape is one byte.
                if chars.next() == Some('x') {
                    chars.next();
                    chars.next();
                }
                bytes += 1;
            }
            (true, c) => bytes += c.len_utf8() as u64,
        }
    }
    bytes
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

#[cfg(test)]
mod tests {
    use super::argument_bytes;

    #[test]
    fn monitor_arguments_are_counted_unescaped() {
        assert_eq!(argument_bytes(r#""GET" "key""#), 6);
        assert_eq!(argument_bytes(r#""SET" "k" "a\x00\xffb\"\\\n""#), 3 + 1 + 7);
        assert_eq!(argument_bytes(r#""EVALSHA" "" "0""#), 8);
    }
}
