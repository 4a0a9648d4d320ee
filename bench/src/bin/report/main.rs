//! Turns criterion's results into the Markdown tables of `BENCHMARKS.md`: session-kit's
//! median, the peer's median from the same run, and the ratio (peer time / our time, above 1
//! means session-kit is faster); and draws the chart at the top of `BENCHMARKS.md` (SVG).
//!
//! `report [CRITERION_DIR...] [--svg PATH | --no-svg]`: the directory defaults to
//! `$CARGO_TARGET_DIR/criterion`, else `target/criterion`; the chart to `bench/chart.svg` in the
//! source tree (its path is printed on stderr).
//!
//! Given the directories of several runs (full runs of one commit, each copied away before the
//! next), every figure is the median over the runs of criterion's medians, and a last table
//! gives each pair's ratio in every run: on a machine whose wall-clock figures move by tens of
//! percent from run to run, the median of a few runs is the steadier figure and the spread
//! says how far one run can be trusted.
//!
//! Besides the named rows below, every whole-request row is paired by its id
//! (`{group}/{contender}/{kind}`, see `pairs.rs`), so groups added later show up in the
//! "paired by name" table and in the chart; rows missing from a run (a feature off) are
//! skipped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

mod chart;
mod pairs;

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

/// Where the chart goes unless told: `bench/chart.svg`, next to this crate's manifest.
const DEFAULT_SVG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/chart.svg");

fn main() {
    let mut dirs = Vec::new();
    let mut svg = Some(PathBuf::from(DEFAULT_SVG));
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--svg" => match args.next() {
                Some(path) => svg = Some(PathBuf::from(path)),
                None => usage(),
            },
            "--no-svg" => svg = None,
            flag if flag.starts_with('-') => usage(),
            _ => dirs.push(PathBuf::from(arg)),
        }
    }
    if dirs.is_empty() {
        let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from);
        dirs.push(target.join("criterion"));
    }
    let mut runs = Vec::new();
    for dir in &dirs {
        let mut medians = BTreeMap::new();
        let mut written = Vec::new();
        collect(dir, &mut medians, &mut written);
        if medians.is_empty() {
            eprintln!("no criterion results under {}: run `cargo bench -p session-kit-bench` first", dir.display());
            std::process::exit(1);
        }
        // Criterion keeps the figures of earlier runs: a span much longer than one run means
        // rows from several runs are mixed (start from an empty criterion directory per run).
        if let (Some(first), Some(last)) = (written.iter().min(), written.iter().max()) {
            let span = last.duration_since(*first).unwrap_or_default().as_secs();
            eprintln!(
                "{} medians from {}, written over {} min {} s",
                medians.len(),
                dir.display(),
                span / 60,
                span % 60
            );
        }
        runs.push(medians);
    }
    let medians = median_of_runs(&runs);
    let rows = pairs::request_rows(&medians);
    let mut out = named_tables(&medians);
    out.push_str(&paired_by_name(&rows));
    out.push_str(&growth_table(&rows));
    out.push_str("\n#### every measurement (median)\n\n| id | time |\n|---|---:|\n");
    for (id, ns) in &medians {
        out.push_str(&format!("| `{id}` | {} |\n", show(Some(ns))));
    }
    if runs.len() > 1 {
        out.push_str(&spread_table(&runs, &medians, &rows));
    }
    #[allow(clippy::print_stdout)]
    {
        print!("{out}");
    }
    if let Some(svg) = svg {
        let (panels, sizes) = (pairs::request_panels(&rows), pairs::size_panels(&rows));
        if panels.is_empty() && sizes.is_empty() {
            eprintln!("no whole-request rows: no chart drawn");
        } else if let Err(error) = chart::draw(&svg, &panels, &sizes, runs.len()) {
            eprintln!("cannot draw the chart at {}: {error}", svg.display());
            std::process::exit(1);
        } else {
            eprintln!("chart written to {}", svg.display());
        }
    }
}

fn usage() -> ! {
    eprintln!("usage: report [CRITERION_DIR...] [--svg PATH | --no-svg]");
    std::process::exit(2);
}

/// The tables of [`ROWS`], one per table name.
fn named_tables(medians: &BTreeMap<String, f64>) -> String {
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
        out.push_str(&format!("| {label} | {} | {} | {} |\n", show(a), show(b), ratio(a, b)));
    }
    out
}

/// Every session-kit request row beside each peer of its group and kind that [`ROWS`] does not
/// already show (new stores, variants, frameworks), by naming convention; size groups have
/// their own table.
fn paired_by_name(rows: &[pairs::Row]) -> String {
    let named: Vec<(&str, &str)> = ROWS.iter().map(|(_, _, ours, peer)| (*ours, *peer)).collect();
    let extra: Vec<(&pairs::Row, &pairs::Row)> = pairs::pairs(rows)
        .into_iter()
        .filter(|(ours, peer)| {
            pairs::size_group(&ours.group).is_none() && !named.contains(&(ours.id.as_str(), peer.id.as_str()))
        })
        .collect();
    if extra.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "\n#### requests paired by name\n\n| session-kit | peer | session-kit | peer | ratio (peer / ours) |\n|---|---|---:|---:|---:|\n",
    );
    for (ours, peer) in extra {
        out.push_str(&format!(
            "| `{}` | `{}` | {} | {} | {} |\n",
            ours.id,
            peer.id,
            show(Some(&ours.ns)),
            show(Some(&peer.ns)),
            ratio(Some(&ours.ns), Some(&peer.ns))
        ));
    }
    out
}

/// Cost as the session grows: each side's time at 5 and 50 fields, its growth, and the ratio
/// at each size, per store and request kind.
fn growth_table(rows: &[pairs::Row]) -> String {
    let panels = pairs::size_panels(rows);
    if panels.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "\n#### cost as the session grows (5 → 50 fields of ~150 bytes)\n\n\
         | store | request | session-kit 5 / 50 fields | growth | peer | peer 5 / 50 fields | growth | ratio at 5 / 50 |\n\
         |---|---|---:|---:|---|---:|---:|---:|\n",
    );
    for panel in &panels {
        let ours = panel.lines.iter().filter(|l| l.role == pairs::Role::Ours);
        for line in ours {
            let peers = panel.lines.iter().filter(|p| p.role == pairs::Role::Peer && p.kind == line.kind);
            for peer in peers {
                let at = |l: &pairs::SizeLine, n| l.at(n);
                out.push_str(&format!(
                    "| {} | {}{} | {} / {} | {} | {} | {} / {} | {} | {} / {} |\n",
                    panel.store,
                    line.kind,
                    if line.contender == "session-kit" { String::new() } else { format!(" ({})", line.contender) },
                    show(at(line, 5).as_ref()),
                    show(at(line, 50).as_ref()),
                    line.growth().map_or_else(|| "pending".to_owned(), |g| format!("{g:.2}x")),
                    peer.contender,
                    show(at(peer, 5).as_ref()),
                    show(at(peer, 50).as_ref()),
                    peer.growth().map_or_else(|| "pending".to_owned(), |g| format!("{g:.2}x")),
                    ratio(at(line, 5).as_ref(), at(peer, 5).as_ref()),
                    ratio(at(line, 50).as_ref(), at(peer, 50).as_ref()),
                ));
            }
        }
    }
    out
}

/// The median of sorted, non-empty `values` (of an even count, the mean of the middle two).
fn median(values: &[f64]) -> f64 {
    let mid = values.len() / 2;
    if values.len() % 2 == 0 {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}

/// Each benchmark's median over the runs that have it.
fn median_of_runs(runs: &[BTreeMap<String, f64>]) -> BTreeMap<String, f64> {
    let mut all: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for run in runs {
        for (id, ns) in run {
            all.entry(id).or_default().push(*ns);
        }
    }
    all.into_iter()
        .map(|(id, mut values)| {
            values.sort_by(f64::total_cmp);
            (id.to_owned(), median(&values))
        })
        .collect()
}

/// Every pair of the tables above (named rows, pairs by name, sizes), its ratio in each run,
/// the median of those ratios (each taken within one run, the figure to quote), the ratio of
/// the medians (what the tables above show), and the lowest and highest run.
fn spread_table(runs: &[BTreeMap<String, f64>], medians: &BTreeMap<String, f64>, rows: &[pairs::Row]) -> String {
    let mut ids: Vec<(String, String)> =
        ROWS.iter().map(|(_, _, ours, peer)| ((*ours).to_owned(), (*peer).to_owned())).collect();
    for (ours, peer) in pairs::pairs(rows) {
        let pair = (ours.id.clone(), peer.id.clone());
        if !ids.contains(&pair) {
            ids.push(pair);
        }
    }
    let mut out = format!(
        "\n#### ratio (peer / ours) in each of the {} runs\n\n| session-kit | peer |{} median | of the medians | lowest | highest |\n|---|---|{}---:|---:|---:|\n",
        runs.len(),
        (1..=runs.len()).map(|i| format!(" run {i} |")).collect::<String>(),
        "---:|".repeat(runs.len() + 1),
    );
    for (ours, peer) in ids {
        let each: Vec<Option<f64>> = runs
            .iter()
            .map(|run| match (run.get(&ours), run.get(&peer)) {
                (Some(a), Some(b)) if *a > 0.0 => Some(b / a),
                _ => None,
            })
            .collect();
        let mut known: Vec<f64> = each.iter().flatten().copied().collect();
        if known.is_empty() {
            continue;
        }
        known.sort_by(f64::total_cmp);
        let cell = |r: Option<f64>| r.map_or_else(|| "pending".to_owned(), |r| format!("{r:.2}x"));
        out.push_str(&format!(
            "| `{ours}` | `{peer}` |{} {} | {} | {} | {} |\n",
            each.iter().map(|r| format!(" {} |", cell(*r))).collect::<String>(),
            cell(Some(median(&known))),
            ratio(medians.get(&ours), medians.get(&peer)),
            cell(known.first().copied()),
            cell(known.last().copied()),
        ));
    }
    out
}

/// Peer time / our time, or "pending" when either is missing.
fn ratio(ours: Option<&f64>, peer: Option<&f64>) -> String {
    match (ours, peer) {
        (Some(a), Some(b)) if *a > 0.0 => format!("{:.2}x", b / a),
        _ => "pending".to_owned(),
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

/// Finds every `new/benchmark.json` under `dir` and records its median in ns by full id, and
/// the time its estimates were written in `written`.
fn collect(dir: &Path, medians: &mut BTreeMap<String, f64>, written: &mut Vec<SystemTime>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        if path.file_name().is_some_and(|n| n == "new") {
            if let Some((id, ns)) = read_one(&path) {
                medians.insert(id, ns);
                written.extend(std::fs::metadata(path.join("estimates.json")).and_then(|m| m.modified()));
            }
        } else if path.file_name().is_some_and(|n| n != "report" && n != "base" && n != "change") {
            collect(&path, medians, written);
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
