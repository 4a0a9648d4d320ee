//! README.md against Cargo.toml: the store table's feature column and the stated MSRV cannot
//! drift from what the crate declares. (The feature list in the crate docs is generated from
//! the same `##` comments by `document-features`; the README's code blocks are doc tests.)

const README: &str = include_str!("../README.md");
const MANIFEST: &str = include_str!("../Cargo.toml");

/// The facade's features with the `##` comments above them, in order.
fn features() -> Vec<(String, String)> {
    let mut features = Vec::new();
    let mut doc = String::new();
    let mut in_features = false;
    for line in MANIFEST.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_features = line == "[features]";
            continue;
        }
        if !in_features {
            continue;
        }
        if let Some(text) = line.strip_prefix("##") {
            doc.push_str(text.trim());
            doc.push(' ');
        } else if let Some((name, _)) = line.split_once('=') {
            features.push((name.trim().to_owned(), std::mem::take(&mut doc)));
        } else {
            doc.clear();
        }
    }
    features
}

/// The rows of the README's store table: the store cell's first code span, and every code
/// span of the feature cell.
fn store_rows() -> Vec<(String, Vec<String>)> {
    let mut lines = README.lines().skip_while(|line| !line.starts_with("| store | feature |"));
    assert!(lines.next().is_some(), "README.md has no table headed `| store | feature |`");
    lines
        .skip(1) // the |---| line
        .take_while(|line| line.starts_with('|'))
        .map(|row| {
            let cells: Vec<&str> = row.split('|').collect();
            let store = code_spans(cells[1]).into_iter().next().unwrap_or_else(|| panic!("no store in {row}"));
            (store, code_spans(cells[2]))
        })
        .collect()
}

fn code_spans(cell: &str) -> Vec<String> {
    cell.split('`').skip(1).step_by(2).map(str::to_owned).collect()
}

#[test]
fn every_store_row_names_a_feature_that_gates_that_store() {
    let features = features();
    let rows = store_rows();
    assert!(rows.len() >= 8, "the store table has {} rows", rows.len());
    for (store, names) in rows {
        assert!(!names.is_empty(), "the row of `{store}` names no feature");
        for name in names {
            let (_, doc) = features.iter().find(|(feature, _)| *feature == name).unwrap_or_else(|| {
                panic!("README names feature `{name}` for `{store}`; Cargo.toml has no such feature")
            });
            assert!(
                doc.contains(&format!("[`{store}`]")),
                "feature `{name}`'s `##` comment in Cargo.toml does not name `{store}`, which README's table gives it: {doc:?}"
            );
        }
    }
}

#[test]
fn every_store_feature_has_its_row() {
    let rows = store_rows();
    for (feature, doc) in features() {
        // A store feature's comment starts with the store it adds: "[`MemoryStore`]: ...".
        let Some(store) = doc.strip_prefix("[`").and_then(|rest| rest.split_once("`]")).map(|(store, _)| store) else {
            continue;
        };
        if !store.contains("Store") {
            continue;
        }
        assert!(
            rows.iter().any(|(s, names)| s == store && names.contains(&feature)),
            "feature `{feature}` adds `{store}`, but README's store table has no row for it"
        );
    }
}

#[test]
fn readme_states_the_msrv() {
    let msrv = MANIFEST
        .lines()
        .find_map(|line| line.strip_prefix("rust-version = "))
        .map(|value| value.trim_matches('"'))
        .expect("the workspace declares a rust-version");
    assert!(README.contains(&format!("Rust {msrv} or newer")), "README.md does not state the MSRV {msrv}");
}
