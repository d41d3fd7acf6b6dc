//! The module rules of `docs/architecture.md` that the compiler does not keep: which part of
//! `src/` may use which. Each reads the sources as text, so a rule broken by a new `use` fails
//! here with the file and the line.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");

/// Every `.rs` file under `dir`, with its text.
fn sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut dirs: Vec<PathBuf> = Some(dir.to_path_buf())
        .filter(|d| d.is_dir())
        .into_iter()
        .collect();
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("read source");
                out.push((path, text));
            }
        }
    }
    out.sort();
    out
}

/// The lines of the files under `src/<dir>` (or the file `src/<dir>.rs`) that contain any of
/// `needles`, outside comments: `file:line: text`.
fn offending(dir: &str, needles: &[&str], except: &[&str]) -> Vec<String> {
    let root = Path::new(SRC);
    let mut files = sources(&root.join(dir));
    let single = root.join(format!("{dir}.rs"));
    if single.exists() {
        files.push((
            single.clone(),
            std::fs::read_to_string(&single).expect("read"),
        ));
    }
    let mut found = Vec::new();
    for (path, text) in files {
        let name = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .display()
            .to_string();
        if except.iter().any(|e| name == *e) {
            continue;
        }
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            if needles.iter().any(|needle| code.contains(needle)) {
                found.push(format!("src/{name}:{}: {}", n + 1, code));
            }
        }
    }
    found
}

/// `crate::<module>` uses between the top-level modules of the library.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let root = Path::new(SRC);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, text) in sources(root) {
        let rel = path.strip_prefix(root).unwrap_or(&path);
        let Some(first) = rel.components().next() else {
            continue;
        };
        let top = first
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        if top == "lib" || top == "main" {
            continue;
        }
        let code: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        for (i, _) in code.match_indices("crate::") {
            let name: String = code[i + 7..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() && name != top {
                graph.entry(top.clone()).or_default().insert(name);
            }
        }
    }
    graph
}

/// A path back to `from` through the graph, if there is one.
fn cycle_through(graph: &BTreeMap<String, BTreeSet<String>>, from: &str) -> Option<Vec<String>> {
    let mut stack = vec![vec![from.to_owned()]];
    let mut seen = BTreeSet::new();
    while let Some(path) = stack.pop() {
        let last = path.last().cloned().unwrap_or_default();
        for next in graph.get(&last).into_iter().flatten() {
            if next == from {
                let mut cycle = path.clone();
                cycle.push(next.clone());
                return Some(cycle);
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push(longer);
            }
        }
    }
    None
}

#[test]
fn the_top_level_modules_form_no_cycle() {
    let graph = module_graph();
    assert!(graph.contains_key("api"), "the graph is read: {graph:?}");
    let cycles: Vec<String> = graph
        .keys()
        .filter_map(|m| cycle_through(&graph, m))
        .map(|c| c.join(" -> "))
        .collect();
    assert!(cycles.is_empty(), "module cycles: {cycles:#?}");
}

/// What building or running a query looks like with SeaORM.
const SQL: &[&str] = &[
    "EntityTrait",
    "QueryFilter",
    "QueryOrder",
    "QuerySelect",
    "ActiveModelTrait",
    "ActiveValue",
    "ConnectionTrait",
    "TransactionTrait",
    "::Entity",
    "::Column::",
    "Set(",
];

#[test]
fn handlers_import_no_entity() {
    let found = offending("api", &["entity::", "sea_orm::Entity"], &[]);
    assert!(
        found.is_empty(),
        "handlers using entities:\n{}",
        found.join("\n")
    );
}

#[test]
fn only_the_owners_of_the_data_build_sql() {
    // The others may hold a connection and a row and hand them on; the queries are the
    // accounts', billing's and the migrations'.
    for dir in [
        "api", "admin", "login", "vision", "audit", "cli", "session", "auth", "http",
    ] {
        let found = offending(dir, SQL, &[]);
        assert!(
            found.is_empty(),
            "SQL outside its owners:\n{}",
            found.join("\n")
        );
    }
}

#[test]
fn the_http_toolkit_knows_nothing_of_the_application() {
    let found = offending("http", &["crate::api", "AppState", "crate::auth"], &[]);
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn the_session_store_knows_nothing_of_http() {
    let found = offending(
        "session",
        &["crate::http", "crate::api", "actix_web", "crate::config"],
        &[],
    );
    assert!(found.is_empty(), "{}", found.join("\n"));
}
