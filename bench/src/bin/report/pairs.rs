//! How criterion's ids pair up, by naming convention, so rows added later (a `postgres` or
//! `actix` group, a `session-kit-cached` contender, a `redis-cached` group) are picked up
//! without a table to edit.
//!
//! A request row's id is `{group}/{contender}/{kind}`:
//! - `group`: the store or setting (`memory`, `sqlite`, `cookie`, ...), or `five-{store}` /
//!   `fifty-{store}` for the wide 5- and 50-field sessions;
//! - `contender`: `session-kit` or `session-kit-{variant}` for ours, `bare` for the handler
//!   without a session, anything else is a peer (`tower-sessions`, `private-jar-json`, ...);
//! - `kind`: one of [`REQUEST_KINDS`]; other kinds (`seal`, `load`, ...) are micro benchmarks.
//!
//! Ours is compared with the peers of the same group and kind; a group `{base}-{variant}`
//! without peers of its own (e.g. `redis-cached`) borrows those of `{base}`. Where a group holds
//! several stores side by side (the `actix` group: `session-kit-redis` beside
//! `actix-session-redis`, `session-kit-sealed` beside `actix-session-cookie`), ours is compared
//! only with the peers of its own store: see [`store_of`].

use std::collections::BTreeMap;

/// The kinds of whole-request rows.
pub(crate) const REQUEST_KINDS: &[&str] = &["read", "write", "write-one"];

/// The prefixes of the wide-session groups and their field counts.
pub(crate) const SIZES: &[(&str, u32)] = &[("five", 5), ("fifty", 50)];

/// Who a contender is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Role {
    /// `session-kit` or `session-kit-{variant}`.
    Ours,
    /// Any other library.
    Peer,
    /// `bare`: the same handler without a session.
    Baseline,
}

/// The role of a contender, by name.
pub(crate) fn role(contender: &str) -> Role {
    if contender == "session-kit" || contender.starts_with("session-kit-") {
        Role::Ours
    } else if contender == "bare" {
        Role::Baseline
    } else {
        Role::Peer
    }
}

/// One whole-request measurement.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    /// Full criterion id.
    pub(crate) id: String,
    /// `memory`, `fifty-redis`, ...
    pub(crate) group: String,
    /// `session-kit`, `tower-sessions`, ...
    pub(crate) contender: String,
    /// `read`, `write` or `write-one`.
    pub(crate) kind: String,
    /// Median, nanoseconds.
    pub(crate) ns: f64,
}

impl Row {
    /// Who measured this row.
    pub(crate) fn role(&self) -> Role {
        role(&self.contender)
    }
}

/// The whole-request rows among criterion's medians (ids of any other shape are skipped).
pub(crate) fn request_rows(medians: &BTreeMap<String, f64>) -> Vec<Row> {
    medians
        .iter()
        .filter_map(|(id, ns)| {
            let mut parts = id.rsplitn(3, '/');
            let (kind, contender, group) = (parts.next()?, parts.next()?, parts.next()?);
            REQUEST_KINDS.contains(&kind).then(|| Row {
                id: id.clone(),
                group: group.to_owned(),
                contender: contender.to_owned(),
                kind: kind.to_owned(),
                ns: *ns,
            })
        })
        .collect()
}

/// `fifty-memory` → `("memory", 50)`; `None` for other groups.
pub(crate) fn size_group(group: &str) -> Option<(&str, u32)> {
    SIZES.iter().find_map(|(prefix, fields)| {
        group.strip_prefix(prefix).and_then(|rest| rest.strip_prefix('-')).map(|store| (store, *fields))
    })
}

/// The groups a row of `group` is compared within, nearest first: the group, then each shorter
/// `-`-separated prefix (`redis-cached` → `redis-cached`, `redis`).
fn lineage(group: &str) -> impl Iterator<Item = &str> {
    std::iter::successors(Some(group), |g| g.rsplit_once('-').map(|(base, _)| base))
}

/// The peer rows `ours` is compared with: same kind, in the nearest group of its lineage that
/// has any (see the module docs). Size groups never borrow: `five-x` and `fifty-x` stand alone.
pub(crate) fn peers_of<'a>(rows: &'a [Row], ours: &Row) -> Vec<&'a Row> {
    let same = |group: &str| -> Vec<&'a Row> {
        rows.iter().filter(|r| r.group == group && r.kind == ours.kind && r.role() == Role::Peer).collect()
    };
    let peers = if size_group(&ours.group).is_some() {
        same(&ours.group)
    } else {
        lineage(&ours.group).map(same).find(|peers| !peers.is_empty()).unwrap_or_default()
    };
    // Several stores in one group: keep the peers of ours' store, if the group names any.
    let ours_store = ours.contender.strip_prefix("session-kit-").map(store_of);
    match ours_store {
        Some(store) if peers.iter().any(|p| p.contender.rsplit('-').next() == Some(store)) => {
            peers.into_iter().filter(|p| p.contender.rsplit('-').next() == Some(store)).collect()
        }
        _ => peers,
    }
}

/// The store a contender's variant names: `sealed` and `signed` are cookie sessions, any other
/// variant (`redis`, `cached`, ...) names itself. A peer's store is the last `-`-separated word
/// of its name (`actix-session-cookie` → `cookie`).
fn store_of(variant: &str) -> &str {
    match variant {
        "sealed" | "signed" => "cookie",
        other => other,
    }
}

/// Every (ours, peer) pair of request rows, in id order.
pub(crate) fn pairs(rows: &[Row]) -> Vec<(&Row, &Row)> {
    rows.iter()
        .filter(|r| r.role() == Role::Ours)
        .flat_map(|ours| peers_of(rows, ours).into_iter().map(move |p| (ours, p)))
        .collect()
}

/// One bar of a request panel.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Bar {
    /// `read`, `write`, `write-one`.
    pub(crate) kind: String,
    /// Contender, with the variant of a borrowed-into group: `session-kit (cached)`.
    pub(crate) label: String,
    /// Who it is.
    pub(crate) role: Role,
    /// Median, ns.
    pub(crate) ns: f64,
    /// Ours: the first peer's time / ours (above 1: session-kit faster).
    pub(crate) ratio: Option<f64>,
}

/// One panel of the chart: a store or setting, its request kinds and contenders.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Panel {
    /// The group name.
    pub(crate) name: String,
    /// Bars, by kind, then ours / peers / baseline, then name.
    pub(crate) bars: Vec<Bar>,
}

/// Where a group's panel goes first; the rest follow by name.
const PANEL_ORDER: &[&str] = &["memory", "cookie", "sqlite", "postgres", "mysql", "redis"];

/// The request panels: one per group that is not a size group; a group `{base}-{variant}` is
/// drawn in `{base}`'s panel when that exists, its contenders labelled `{contender} ({variant})`.
pub(crate) fn request_panels(rows: &[Row]) -> Vec<Panel> {
    let groups: Vec<&str> = {
        let mut g: Vec<&str> = rows.iter().map(|r| r.group.as_str()).filter(|g| size_group(g).is_none()).collect();
        g.sort();
        g.dedup();
        g
    };
    let home = |group: &str| -> String {
        lineage(group).skip(1).find(|base| groups.contains(base)).unwrap_or(group).to_owned()
    };
    let mut panels: BTreeMap<String, Vec<Bar>> = BTreeMap::new();
    for row in rows.iter().filter(|r| size_group(&r.group).is_none()) {
        let panel = home(&row.group);
        let label = match row.group.strip_prefix(panel.as_str()).and_then(|v| v.strip_prefix('-')) {
            Some(variant) => format!("{} ({variant})", row.contender),
            None => row.contender.clone(),
        };
        let ratio =
            (row.role() == Role::Ours).then(|| peers_of(rows, row).first().map(|peer| peer.ns / row.ns)).flatten();
        panels.entry(panel).or_default().push(Bar {
            kind: row.kind.clone(),
            label,
            role: row.role(),
            ns: row.ns,
            ratio,
        });
    }
    let kind_order = |k: &str| REQUEST_KINDS.iter().position(|x| *x == k).unwrap_or(usize::MAX);
    let mut out: Vec<Panel> = panels
        .into_iter()
        .map(|(name, mut bars)| {
            bars.sort_by(|a, b| (kind_order(&a.kind), a.role, &a.label).cmp(&(kind_order(&b.kind), b.role, &b.label)));
            Panel { name, bars }
        })
        .collect();
    let rank = |name: &str| PANEL_ORDER.iter().position(|x| *x == name).unwrap_or(PANEL_ORDER.len());
    out.sort_by(|a, b| (rank(&a.name), &a.name).cmp(&(rank(&b.name), &b.name)));
    out
}

/// One line of a size panel: a contender's time for one kind at each size.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SizeLine {
    /// Contender.
    pub(crate) contender: String,
    /// Who it is.
    pub(crate) role: Role,
    /// `read` or `write-one`.
    pub(crate) kind: String,
    /// (fields, median ns), by field count.
    pub(crate) points: Vec<(u32, f64)>,
}

impl SizeLine {
    /// Time at the largest size / time at the smallest, when both were measured.
    pub(crate) fn growth(&self) -> Option<f64> {
        match (self.points.first(), self.points.last()) {
            (Some(a), Some(b)) if self.points.len() > 1 && a.1 > 0.0 => Some(b.1 / a.1),
            _ => None,
        }
    }

    /// The median at `fields`, if measured.
    pub(crate) fn at(&self, fields: u32) -> Option<f64> {
        self.points.iter().find(|(f, _)| *f == fields).map(|(_, ns)| *ns)
    }
}

/// Cost against session size for one store.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SizePanel {
    /// `memory`, `sqlite`, ...
    pub(crate) store: String,
    /// Ours first, then peers; reads before writes.
    pub(crate) lines: Vec<SizeLine>,
}

/// The size panels: one per store with `five-{store}` or `fifty-{store}` rows.
pub(crate) fn size_panels(rows: &[Row]) -> Vec<SizePanel> {
    // (store, role, contender, kind) → (fields, ns) points
    type LineKey = (String, Role, String, String);
    let mut lines: BTreeMap<LineKey, Vec<(u32, f64)>> = BTreeMap::new();
    for row in rows {
        if let Some((store, fields)) = size_group(&row.group) {
            lines
                .entry((store.to_owned(), row.role(), row.contender.clone(), row.kind.clone()))
                .or_default()
                .push((fields, row.ns));
        }
    }
    let mut panels: BTreeMap<String, Vec<SizeLine>> = BTreeMap::new();
    for ((store, role, contender, kind), mut points) in lines {
        points.sort_by_key(|(fields, _)| *fields);
        panels.entry(store).or_default().push(SizeLine { contender, role, kind, points });
    }
    let rank = |name: &str| PANEL_ORDER.iter().position(|x| *x == name).unwrap_or(PANEL_ORDER.len());
    let mut out: Vec<SizePanel> = panels.into_iter().map(|(store, lines)| SizePanel { store, lines }).collect();
    out.sort_by(|a, b| (rank(&a.store), &a.store).cmp(&(rank(&b.store), &b.store)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn medians(ids: &[(&str, f64)]) -> BTreeMap<String, f64> {
        ids.iter().map(|(id, ns)| ((*id).to_owned(), *ns)).collect()
    }

    #[test]
    fn rows_keep_request_kinds_only() {
        let rows = request_rows(&medians(&[
            ("memory/session-kit/read", 1.0),
            ("cookie/sealed/seal", 2.0),
            ("store/session-kit-memory/load", 3.0),
            ("fifty-redis/tower-sessions/write-one", 4.0),
        ]));
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["fifty-redis/tower-sessions/write-one", "memory/session-kit/read"]);
        assert_eq!(rows[0].group, "fifty-redis");
    }

    #[test]
    fn new_groups_pair_by_name_and_variants_borrow_their_base_peers() {
        let rows = request_rows(&medians(&[
            ("postgres/session-kit/read", 100.0),
            ("postgres/tower-sessions/read", 150.0),
            ("redis/session-kit/read", 50.0),
            ("redis/tower-sessions/read", 40.0),
            ("redis/session-kit-cached/read", 5.0),
            ("redis-cached/session-kit/read", 4.0),
            ("actix/session-kit/write", 10.0),
            ("actix/actix-session/write", 20.0),
            ("memory/bare/read", 1.0),
        ]));
        let found: Vec<(&str, &str)> = pairs(&rows).into_iter().map(|(a, b)| (a.id.as_str(), b.id.as_str())).collect();
        assert_eq!(
            found,
            [
                ("actix/session-kit/write", "actix/actix-session/write"),
                ("postgres/session-kit/read", "postgres/tower-sessions/read"),
                ("redis-cached/session-kit/read", "redis/tower-sessions/read"),
                ("redis/session-kit-cached/read", "redis/tower-sessions/read"),
                ("redis/session-kit/read", "redis/tower-sessions/read"),
            ]
        );
        let panels = request_panels(&rows);
        let names: Vec<&str> = panels.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["memory", "postgres", "redis", "actix"]);
        let redis: Vec<(&str, Option<f64>)> = panels[2].bars.iter().map(|b| (b.label.as_str(), b.ratio)).collect();
        assert_eq!(
            redis,
            [
                ("session-kit", Some(0.8)),
                ("session-kit (cached)", Some(10.0)),
                ("session-kit-cached", Some(8.0)),
                ("tower-sessions", None)
            ]
        );
    }

    #[test]
    fn a_group_of_several_stores_pairs_ours_with_the_peer_of_its_store() {
        let rows = request_rows(&medians(&[
            ("actix/session-kit-sealed/read", 4.0),
            ("actix/session-kit-redis/read", 100.0),
            ("actix/actix-session-cookie/read", 5.0),
            ("actix/actix-session-redis/read", 120.0),
            ("cookie/session-kit-signed/read", 3.0),
            ("cookie/private-jar-json/read", 4.0),
        ]));
        let found: Vec<(&str, &str)> = pairs(&rows).into_iter().map(|(a, b)| (a.id.as_str(), b.id.as_str())).collect();
        assert_eq!(
            found,
            [
                ("actix/session-kit-redis/read", "actix/actix-session-redis/read"),
                ("actix/session-kit-sealed/read", "actix/actix-session-cookie/read"),
                // No peer of the group names a store: every peer of the group.
                ("cookie/session-kit-signed/read", "cookie/private-jar-json/read"),
            ]
        );
    }

    #[test]
    fn size_groups_make_size_panels_and_never_borrow() {
        let rows = request_rows(&medians(&[
            ("five-memory/session-kit/read", 10.0),
            ("fifty-memory/session-kit/read", 30.0),
            ("five-memory/tower-sessions/read", 10.0),
            ("fifty-memory/tower-sessions/read", 60.0),
            ("fifty-sqlite/tower-sessions/write-one", 9.0),
            ("five-sqlite/session-kit/write-one", 8.0),
            ("sqlite/tower-sessions/write-one", 1.0),
        ]));
        assert!(request_panels(&rows).iter().all(|p| p.name == "sqlite"));
        let panels = size_panels(&rows);
        assert_eq!(panels.len(), 2);
        let memory = &panels[0];
        assert_eq!(memory.store, "memory");
        assert_eq!(memory.lines[0].growth(), Some(3.0));
        assert_eq!(memory.lines[1].growth(), Some(6.0));
        assert_eq!(memory.lines[1].at(50), Some(60.0));
        let sqlite_ours = rows.iter().find(|r| r.id == "five-sqlite/session-kit/write-one");
        assert!(sqlite_ours.is_some_and(|r| peers_of(&rows, r).is_empty()));
        assert_eq!(panels[1].lines[0].growth(), None);
    }
}
