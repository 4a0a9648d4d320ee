//! Counts the Redis round trips of one request, read-only (`/read`) and read-write (`/write`),
//! for session-kit's `RedisStore` and for tower-sessions-redis-store, and the bytes each request
//! sends Redis, and prints Markdown tables: for the 5-field profile of the request rows, then for
//! the wide sessions (5 and 50 fields of ~150 bytes; `/read` and `/write-one`).
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

use std::collections::BTreeMap;
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

use axum::http::StatusCode;
use session_kit_bench::wide::{self, PeerWide5, PeerWide50, Wide5, Wide50};
use session_kit_bench::{
    cookie_value, kit_redis_router, kit_redis_store, redis_cleanup, redis_prefix, redis_url, runtime, ts_redis_router,
    ts_redis_store, Client,
};
use tokio::runtime::Runtime;

/// Commands seen for one contender and one kind of request.
struct Counts {
    client: BTreeMap<String, u64>,
    script: BTreeMap<String, u64>,
    /// Argument bytes of the commands the client sent.
    bytes: u64,
}

/// One session shape: its label, each side's seeded client, the requests to count.
struct Scenario {
    label: &'static str,
    kit: Client,
    peer: Client,
    paths: [&'static str; 2],
}

fn main() {
    let requests: u64 = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(200);
    let lines = match monitor() {
        Ok(lines) => lines,
        Err(error) => fail(&format!("cannot MONITOR {}: {error}", redis_url())),
    };
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

    let kit = match rt.block_on(kit_redis_router(&prefix)) {
        Ok(router) => router,
        Err(error) => fail(&format!("session-kit Redis store: {error}")),
    };
    let peer = match rt.block_on(ts_redis_router()) {
        Ok(router) => router,
        Err(error) => fail(&format!("tower-sessions Redis store: {error}")),
    };
    let profile = session_kit_bench::expected_read_body();
    let five = wide::expected_read_body::<Wide5>();
    let fifty = wide::expected_read_body::<Wide50>();
    let mut scenarios = [
        Scenario {
            label: "profile, 5 small fields",
            kit: seeded(kit, &profile),
            peer: seeded(peer, &profile),
            paths: ["/read", "/write"],
        },
        Scenario {
            label: "wide, 5 fields of 150 B",
            kit: seeded(wide::kit_router::<Wide5>(kit_store()), &five),
            peer: seeded(wide::ts_router::<PeerWide5, _>(peer_store()), &five),
            paths: ["/read", "/write-one"],
        },
        Scenario {
            label: "wide, 50 fields of 150 B",
            kit: seeded(wide::kit_router::<Wide50>(kit_store()), &fifty),
            peer: seeded(wide::ts_router::<PeerWide50, _>(peer_store()), &fifty),
            paths: ["/read", "/write-one"],
        },
    ];

    let mut rows = Vec::new();
    let mut peer_keys = Vec::new();
    for scenario in &mut scenarios {
        let peer_key = cookie_value(&scenario.peer).unwrap_or_else(|| fail("tower-sessions sent no session cookie"));
        for (name, client, marker) in [
            ("session-kit", &mut scenario.kit, prefix.as_str()),
            ("tower-sessions", &mut scenario.peer, peer_key.as_str()),
        ] {
            for path in scenario.paths {
                let counts = phase(&rt, &lines, client, path, requests, marker);
                rows.push((scenario.label, name, path, counts));
            }
        }
        peer_keys.push(peer_key);
    }

    if let Err(error) = redis_cleanup(&prefix, &peer_keys) {
        eprintln!("could not remove this run's Redis keys (prefix {prefix}): {error}");
    }

    #[allow(clippy::print_stdout)]
    {
        println!("{requests} requests of each kind on one seeded session per contender, counted with MONITOR:\n");
        println!("| session | store | request | round trips per request | commands sent (total) | run inside Lua scripts, per request | bytes sent per request |");
        println!("|---|---|---|---:|---|---|---:|");
        for (label, name, path, counts) in rows {
            let total: u64 = counts.client.values().sum();
            println!(
                "| {label} | {name} | {} | {} | {} | {} | {} |",
                path.trim_start_matches('/'),
                per(total, requests),
                list(&counts.client, None),
                if counts.script.is_empty() { "none".to_owned() } else { list(&counts.script, Some(requests)) },
                per(counts.bytes, requests),
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
    let get = |client: &mut Client| {
        let (status, _) = rt.block_on(client.get(path));
        if status != StatusCode::OK {
            fail(&format!("{path} answered {status}"));
        }
    };
    get(client);
    settle(lines);
    for _ in 0..requests {
        get(client);
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
