//! The floor plan stays true: the crate's top-level modules depend on each other without
//! cycles, the lowest layers depend only on what lies below them, and OS calls that signal
//! processes live in `src/os/` alone. Read from the source text, so it needs no extra tool.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What each low layer may use; layers not listed may use anything that keeps the graph acyclic.
const ALLOWED: &[(&str, &[&str])] = &[
    ("os", &[]),
    ("text", &[]),
    ("record", &["os", "text"]),
    ("analysis", &["record", "text", "os"]),
    ("store", &["record", "analysis"]),
];

fn source_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// Top-level modules: the folders and files directly under `src/`, less the crate roots.
fn top_level_modules(root: &Path) -> BTreeSet<String> {
    std::fs::read_dir(root)
        .expect("read src")
        .map(|entry| entry.expect("entry").path())
        .filter_map(|path| {
            let stem = path.file_stem()?.to_str()?.to_string();
            let is_module = path.is_dir() || path.extension().is_some_and(|e| e == "rs");
            (is_module && stem != "lib" && stem != "main").then_some(stem)
        })
        .collect()
}

/// The top-level module a file belongs to, or None for the crate roots.
fn owner(root: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(root).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib" && name != "main").then(|| name.to_string())
}

/// Modules named as `crate::NAME` in code (comment lines skipped).
fn references(text: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        for (at, _) in code.match_indices("crate::") {
            let rest = &code[at + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if modules.contains(&name) {
                found.insert(name);
            }
        }
    }
    found
}

fn dependency_graph() -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    let root = source_root();
    let modules = top_level_modules(&root);
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut graph: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for module in &modules {
        graph.entry(module.clone()).or_default();
    }
    for file in files {
        let Some(from) = owner(&root, &file) else {
            continue;
        };
        let text = std::fs::read_to_string(&file).expect("read source");
        for to in references(&text, &modules) {
            if to != from {
                let shown = file
                    .strip_prefix(&root)
                    .unwrap_or(&file)
                    .display()
                    .to_string();
                graph
                    .entry(from.clone())
                    .or_default()
                    .entry(to)
                    .or_default()
                    .push(shown);
            }
        }
    }
    graph
}

/// A cycle through the graph, if there is one, as the list of modules along it.
fn find_cycle(graph: &BTreeMap<String, BTreeMap<String, Vec<String>>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeMap<String, Vec<String>>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(node.to_string(), 1);
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flat_map(|edges| edges.keys()) {
            match state.get(next.as_str()).copied().unwrap_or(0) {
                1 => {
                    let start = path.iter().position(|m| m == next).unwrap_or(0);
                    let mut cycle = path[start..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(cycle) = visit(next, graph, state, path) {
                        return Some(cycle);
                    }
                }
                _ => {}
            }
        }
        path.pop();
        state.insert(node.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in graph.keys() {
        if state.get(node.as_str()).copied().unwrap_or(0) == 0 {
            if let Some(cycle) = visit(node, graph, &mut state, &mut Vec::new()) {
                return Some(cycle);
            }
        }
    }
    None
}

#[test]
fn modules_depend_on_each_other_without_cycles() {
    let graph = dependency_graph();
    if let Some(cycle) = find_cycle(&graph) {
        let witnesses: Vec<String> = cycle
            .windows(2)
            .map(|pair| {
                format!(
                    "{} -> {}: {:?}",
                    pair[0], pair[1], graph[&pair[0]][&pair[1]]
                )
            })
            .collect();
        panic!(
            "module cycle {}\n{}",
            cycle.join(" -> "),
            witnesses.join("\n")
        );
    }
}

#[test]
fn low_layers_depend_only_on_what_lies_below_them() {
    let graph = dependency_graph();
    let mut wrong = Vec::new();
    for (module, allowed) in ALLOWED {
        for (target, files) in graph.get(*module).into_iter().flatten() {
            if !allowed.contains(&target.as_str()) {
                wrong.push(format!("{module} -> {target} in {files:?}"));
            }
        }
    }
    assert!(wrong.is_empty(), "layering broken:\n{}", wrong.join("\n"));
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    let mut graph: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    graph
        .entry("a".into())
        .or_default()
        .insert("b".into(), vec![]);
    graph
        .entry("b".into())
        .or_default()
        .insert("c".into(), vec![]);
    graph
        .entry("c".into())
        .or_default()
        .insert("a".into(), vec![]);
    assert_eq!(
        find_cycle(&graph),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    graph.get_mut("c").expect("c").clear();
    assert_eq!(find_cycle(&graph), None);
}

#[test]
fn only_the_os_layer_signals_processes() {
    let root = source_root();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let offenders: Vec<String> = files
        .iter()
        .filter(|file| owner(&root, file).as_deref() != Some("os"))
        .filter(|file| {
            let text = std::fs::read_to_string(file).expect("read source");
            text.lines()
                .filter(|line| !line.trim_start().starts_with("//"))
                .any(|line| line.contains("libc::kill") || line.contains("libc::killpg"))
        })
        .map(|file| file.display().to_string())
        .collect();
    assert!(
        offenders.is_empty(),
        "signal through crate::os: {offenders:?}"
    );
}
