//! The crate's layering, checked on its sources: `handlers` may use `runtime` and
//! `decide`, `runtime` may use `decide`, `decide` uses neither and never names `worker`;
//! and no two files (or folders) import each other, directly or through others.
//!
//! The layer rules are textual and strict (comments included), so the words cannot creep
//! back in even as a doc link; the cycle check reads `crate::` paths outside comments.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

const LAYERS: [&str; 3] = ["handlers", "runtime", "decide"];

/// Every `.rs` file under `src/<dir>`, as (module path, text), e.g. `decide::route`.
fn sources(dir: &str) -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(dir);
    let mut files = Vec::new();
    let mut pending = vec![root.clone()];
    while let Some(folder) = pending.pop() {
        for entry in fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path.strip_prefix(&root).unwrap().with_extension("");
                let mut module = vec![dir.to_string()];
                module.extend(
                    relative
                        .iter()
                        .map(|part| part.to_string_lossy().into_owned())
                        .filter(|part| part != "mod"),
                );
                files.push((module.join("::"), fs::read_to_string(&path).unwrap()));
            }
        }
    }
    files.sort();
    assert!(!files.is_empty(), "no sources under src/{dir}");
    files
}

fn assert_never_named(dir: &str, forbidden: &[&str]) {
    for (module, text) in sources(dir) {
        for (n, line) in text.lines().enumerate() {
            for word in forbidden {
                assert!(
                    !line.contains(word),
                    "src/{dir}: {module} line {} names `{word}`: {line}",
                    n + 1
                );
            }
        }
    }
}

#[test]
fn decisions_name_neither_the_runtime_nor_anything_above() {
    assert_never_named(
        "decide",
        &[
            "worker::",
            "use worker",
            "extern crate worker",
            "crate::runtime",
            "crate::handlers",
            "super::super",
        ],
    );
}

#[test]
fn the_runtime_never_names_the_handlers() {
    assert_never_named("runtime", &["crate::handlers", "super::super"]);
}

#[test]
fn handlers_are_reached_only_from_the_entry() {
    assert_never_named("handlers", &["super::super"]);
}

/// The modules a line of code names through `crate::<layer>::...`, including grouped
/// imports (`crate::decide::{a, b::C}`), as `layer::module` (the file's module path).
fn named_modules(code: &str, known: &BTreeSet<String>) -> BTreeSet<String> {
    let mut named = BTreeSet::new();
    for layer in LAYERS {
        let needle = format!("crate::{layer}::");
        let mut rest = code;
        while let Some(at) = rest.find(&needle) {
            rest = &rest[at + needle.len()..];
            let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                group[..end].split(',').collect()
            } else {
                vec![rest]
            };
            for name in names {
                let name: String = name
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                let module = format!("{layer}::{name}");
                if known.contains(&module) {
                    named.insert(module);
                }
            }
        }
    }
    named
}

#[test]
fn no_file_or_folder_imports_in_a_cycle() {
    let files: Vec<(String, String)> = LAYERS.iter().flat_map(|dir| sources(dir)).collect();
    let known: BTreeSet<String> = files.iter().map(|(module, _)| module.clone()).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, text) in &files {
        let code: String = text
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let mut uses = named_modules(&code, &known);
        uses.remove(module);
        graph.insert(module.clone(), uses);
    }

    // Folders: an edge between two layers must point down the list.
    let rank = |module: &str| LAYERS.iter().position(|l| module.starts_with(l)).unwrap();
    for (module, uses) in &graph {
        for used in uses {
            assert!(
                rank(module) <= rank(used),
                "{module} (a layer below) uses {used}"
            );
        }
    }

    // Files: depth-first search for a back edge.
    fn visit(
        module: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if done.contains(module) {
            return;
        }
        if let Some(at) = path.iter().position(|m| m == module) {
            panic!("import cycle: {} -> {module}", path[at..].join(" -> "));
        }
        path.push(module.to_string());
        for used in &graph[module] {
            visit(used, graph, path, done);
        }
        path.pop();
        done.insert(module.to_string());
    }
    let mut done = BTreeSet::new();
    for module in graph.keys() {
        visit(module, &graph, &mut Vec::new(), &mut done);
    }
    assert!(
        graph.len() >= 20,
        "expected every source file: {:?}",
        graph.keys()
    );
}

#[test]
fn the_cycle_check_sees_grouped_and_single_imports() {
    let known: BTreeSet<String> = ["decide::a", "decide::b", "runtime::c"]
        .into_iter()
        .map(String::from)
        .collect();
    let named = named_modules(
        "use crate::decide::{a::X, b};\nuse crate::runtime::c::f;\nuse crate::decide::z;",
        &known,
    );
    assert_eq!(
        named.into_iter().collect::<Vec<_>>(),
        vec!["decide::a", "decide::b", "runtime::c"]
    );
}
