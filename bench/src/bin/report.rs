//! Turns criterion's results into the Markdown tables of `BENCHMARKS.md`: session-kit's
//! median, the peer's median from the same run, and the ratio (peer time / our time, above 1
//! means session-kit is faster).
//!
//! `report [criterion-dir]`; the directory defaults to `$CARGO_TARGET_DIR/criterion`, else
//! `target/criterion`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Rows of the tables: (table, label, session-kit id, peer id); ids are criterion's full ids.
const ROWS: &[(&str, &str, &str, &str)] = &[
    ("memory", "read-only request", "memory/session-kit/read", "memory/tower-sessions/read"),
    ("memory", "read-write request", "memory/session-kit/write", "memory/tower-sessions/write"),
    ("memory", "read-only vs bare handler", "memory/session-kit/read", "memory/bare/read"),
    ("sqlite", "read-only request", "sqlite/session-kit/read", "sqlite/tower-sessions/read"),
    ("sqlite", "read-write request", "sqlite/session-kit/write", "sqlite/tower-sessions/write"),
    ("redis", "read-only request", "redis/session-kit/read", "redis/tower-sessions/read"),
    ("redis", "read-write request", "redis/session-kit/write", "redis/tower-sessions/write"),
    (
        "cookie",
        "read-only, sealed vs PrivateCookieJar+JSON",
        "cookie/session-kit-sealed/read",
        "cookie/private-jar-json/read",
    ),
    (
        "cookie",
        "read-write, sealed vs PrivateCookieJar+JSON",
        "cookie/session-kit-sealed/write",
        "cookie/private-jar-json/write",
    ),
    (
        "cookie",
        "read-only, signed vs PrivateCookieJar+JSON",
        "cookie/session-kit-signed/read",
        "cookie/private-jar-json/read",
    ),
    (
        "cookie",
        "read-write, signed vs PrivateCookieJar+JSON",
        "cookie/session-kit-signed/write",
        "cookie/private-jar-json/write",
    ),
    (
        "micro: codec",
        "encode 5 fields, postcard vs peer serde_json",
        "codec/postcard/encode",
        "codec/peer-serde_json/encode",
    ),
    (
        "micro: codec",
        "decode 5 fields, postcard vs peer serde_json",
        "codec/postcard/decode",
        "codec/peer-serde_json/decode",
    ),
    (
        "micro: codec",
        "encode 5 fields, JSON codec vs peer serde_json",
        "codec/json/encode",
        "codec/peer-serde_json/encode",
    ),
    (
        "micro: codec",
        "decode 5 fields, JSON codec vs peer serde_json",
        "codec/json/decode",
        "codec/peer-serde_json/decode",
    ),
    ("micro: cookie", "seal, sealed vs private jar", "cookie/sealed/seal", "cookie/private-jar-json/seal"),
    ("micro: cookie", "open, sealed vs private jar", "cookie/sealed/open", "cookie/private-jar-json/open"),
    ("micro: cookie", "seal, signed vs private jar", "cookie/signed/seal", "cookie/private-jar-json/seal"),
    ("micro: cookie", "open, signed vs private jar", "cookie/signed/open", "cookie/private-jar-json/open"),
    ("micro: ids", "generate", "ids/session-kit/generate", "ids/tower-sessions/generate"),
    (
        "micro: ids",
        "generate + store key (SHA-256)",
        "ids/session-kit/generate+store_key",
        "ids/tower-sessions/generate",
    ),
    ("micro: store", "memory load", "store/session-kit-memory/load", "store/tower-sessions-memory/load"),
    (
        "micro: store",
        "memory apply (kit) vs save (peer)",
        "store/session-kit-memory/apply",
        "store/tower-sessions-memory/save",
    ),
    ("micro: store", "SQLite load", "store/session-kit-sqlite/load", "store/tower-sessions-sqlite/load"),
    (
        "micro: store",
        "SQLite apply (kit) vs save (peer)",
        "store/session-kit-sqlite/apply",
        "store/tower-sessions-sqlite/save",
    ),
    ("micro: store", "Redis load", "store/session-kit-redis/load", "store/tower-sessions-redis/load"),
    (
        "micro: store",
        "Redis apply (kit) vs save (peer)",
        "store/session-kit-redis/apply",
        "store/tower-sessions-redis/save",
    ),
];

fn main() {
    let dir = std::env::args().nth(1).map(PathBuf::from).unwrap_or_else(|| {
        let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from);
        target.join("criterion")
    });
    let mut medians = BTreeMap::new();
    collect(&dir, &mut medians);
    if medians.is_empty() {
        eprintln!("no criterion results under {}: run `cargo bench -p session-kit-bench` first", dir.display());
        std::process::exit(1);
    }
    let mut out = String::new();
    let mut table = "";
    for (name, label, ours, peer) in ROWS {
        if *name != table {
            table = name;
            out.push_str(&format!(
                "\n#### {name}\n\n| work | session-kit | peer | ratio (peer / ours) |\n|---|---:|---:|---:|\n"
            ));
        }
        let (a, b) = (medians.get(*ours), medians.get(*peer));
        let ratio = match (a, b) {
            (Some(a), Some(b)) if *a > 0.0 => format!("{:.2}x", b / a),
            _ => "pending".to_owned(),
        };
        out.push_str(&format!("| {label} | {} | {} | {ratio} |\n", show(a), show(b)));
    }
    out.push_str("\n#### every measurement (median)\n\n| id | time |\n|---|---:|\n");
    for (id, ns) in &medians {
        out.push_str(&format!("| `{id}` | {} |\n", show(Some(ns))));
    }
    #[allow(clippy::print_stdout)]
    {
        print!("{out}");
    }
}

fn show(ns: Option<&f64>) -> String {
    match ns {
        None => "pending".to_owned(),
        Some(ns) if *ns >= 1e6 => format!("{:.2} ms", ns / 1e6),
        Some(ns) if *ns >= 1e3 => format!("{:.2} µs", ns / 1e3),
        Some(ns) => format!("{ns:.1} ns"),
    }
}

/// Finds every `new/benchmark.json` under `dir` and records its median in ns by full id.
fn collect(dir: &Path, medians: &mut BTreeMap<String, f64>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        if path.file_name().is_some_and(|n| n == "new") {
            if let Some((id, ns)) = read_one(&path) {
                medians.insert(id, ns);
            }
        } else if path.file_name().is_some_and(|n| n != "report" && n != "base" && n != "change") {
            collect(&path, medians);
        }
    }
}

fn read_one(new: &Path) -> Option<(String, f64)> {
    let bench: serde_json::Value = serde_json::from_slice(&std::fs::read(new.join("benchmark.json")).ok()?).ok()?;
    let estimates: serde_json::Value = serde_json::from_slice(&std::fs::read(new.join("estimates.json")).ok()?).ok()?;
    let id = bench.get("full_id")?.as_str()?.to_owned();
    let ns = estimates.get("median")?.get("point_estimate")?.as_f64()?;
    Some((id, ns))
}
