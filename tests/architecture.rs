//! The core's import graph (docs/architecture.md). Reads `src/*.rs` (the
//! core, with each module's children in `src/<module>/`; `src/ffi/` is the
//! C boundary above it), collects every
//! `crate::<module>` a module names (`use` lines, grouped `use crate::{a,
//! b}` and paths in code), and checks:
//!
//! - the only circle (strongly connected component of more than one
//!   module) is the declared kernel, exactly;
//! - no core module imports `crate::ffi`.
//!
//! `cargo test --release --test architecture -- --nocapture` prints the
//! edges and the components.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// asyncio's kernel: the loop (with its selector and Unix parts, which
/// asyncio also builds into one loop class), handles, futures, tasks and
/// the executor that `run_in_executor` and the loop's shutdown use. They
/// call each other both ways, as asyncio's do (docs/architecture.md).
const KERNEL: &[&str] = &["base_events", "events", "executor", "futures", "selector_events", "tasks", "unix_events"];

/// The source without comments, string and character literals.
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 0;
                while i < b.len() {
                    if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                out.push_str("\"\"");
            }
            // A character literal ('x', '\n', '"'); a lifetime stays.
            b'\'' if b.get(i + 2) == Some(&b'\'') || b.get(i + 1) == Some(&b'\\') => {
                i += 1;
                while i < b.len() && b[i] != b'\'' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                out.push_str("' '");
            }
            c => {
                out.push(c as char);
                i += 1;
            }
        }
    }
    out
}

fn ident_at(s: &str) -> &str {
    let end = s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(s.len());
    &s[..end]
}

/// The modules `code` names as `crate::<module>` or inside `crate::{...}`.
fn imports(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$') {
            continue; // `$crate::` or a name ending in "crate"
        }
        let rest_trim = rest.trim_start();
        if let Some(group) = rest_trim.strip_prefix('{') {
            // The first segment of each top-level entry of the group.
            let mut depth = 0;
            let mut start_of_entry = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start_of_entry = true,
                    c if c.is_whitespace() => {}
                    _ if start_of_entry && depth == 0 => {
                        found.insert(ident_at(&group[i..]).to_string());
                        start_of_entry = false;
                    }
                    _ => {}
                }
            }
        } else {
            found.insert(ident_at(rest_trim).to_string());
        }
    }
    found
}

/// Tarjan's strongly connected components.
fn components(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<BTreeSet<String>> {
    struct State<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        out: Vec<BTreeSet<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in &s.graph[v] {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut scc = BTreeSet::new();
            loop {
                let w = s.stack.pop().expect("v is on the stack");
                s.on_stack.remove(w);
                scc.insert(w.to_string());
                if w == v {
                    break;
                }
            }
            s.out.push(scc);
        }
    }
    let mut s = State { graph, index: BTreeMap::new(), low: BTreeMap::new(), stack: Vec::new(), on_stack: BTreeSet::new(), out: Vec::new() };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.out
}

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Each core module and the core modules it imports.
fn core_graph() -> (BTreeMap<String, BTreeSet<String>>, Vec<String>) {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut sources: BTreeMap<String, String> = BTreeMap::new();
    for entry in std::fs::read_dir(&src).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        if path.extension().is_some_and(|e| e == "rs") && name != "lib" {
            *sources.entry(name).or_default() += &read(&path);
        } else if path.is_dir() && name != "ffi" {
            // src/<m>/*.rs are <m>'s child modules: part of <m>.
            for child in std::fs::read_dir(&path).expect("a readable directory") {
                *sources.entry(name.clone()).or_default() += &read(&child.expect("a directory entry").path());
            }
        }
    }
    let mut graph = BTreeMap::new();
    let mut ffi_users = Vec::new();
    for (name, text) in &sources {
        let used = imports(&code_only(text));
        if used.contains("ffi") {
            ffi_users.push(name.clone());
        }
        let deps = used.into_iter().filter(|m| m != name && sources.contains_key(m)).collect();
        graph.insert(name.clone(), deps);
    }
    (graph, ffi_users)
}

fn describe(graph: &BTreeMap<String, BTreeSet<String>>, sccs: &[BTreeSet<String>]) -> String {
    let mut s = String::from("edges (module -> modules it imports):\n");
    for (m, deps) in graph {
        s += &format!("  {m} -> {}\n", deps.iter().cloned().collect::<Vec<_>>().join(", "));
    }
    s += "circles (strongly connected components of more than one module):\n";
    for scc in sccs.iter().filter(|c| c.len() > 1) {
        s += &format!("  {{{}}}\n", scc.iter().cloned().collect::<Vec<_>>().join(", "));
    }
    s
}

#[test]
fn the_only_circle_is_the_kernel() {
    let (graph, _) = core_graph();
    let sccs = components(&graph);
    let report = describe(&graph, &sccs);
    println!("{report}");
    let circles: Vec<_> = sccs.iter().filter(|c| c.len() > 1).collect();
    let kernel: BTreeSet<String> = KERNEL.iter().map(|s| s.to_string()).collect();
    assert!(circles.len() == 1 && *circles[0] == kernel, "expected one circle, the kernel {kernel:?}\n{report}");
}

#[test]
fn the_core_does_not_import_ffi() {
    let (_, ffi_users) = core_graph();
    assert!(ffi_users.is_empty(), "core modules importing crate::ffi: {ffi_users:?}");
}

#[test]
fn the_reader_sees_grouped_imports_and_paths() {
    let code = code_only(
        "use crate::{a::X, b, c::{self, Y}};\n// use crate::comment;\nlet s = \"crate::string\";\nfn f() { crate::d::g(); }\n$crate::e::h();",
    );
    let found: Vec<String> = imports(&code).into_iter().collect();
    assert_eq!(found, ["a", "b", "c", "d"]);
}

#[test]
fn a_circle_outside_the_kernel_is_found() {
    let graph: BTreeMap<String, BTreeSet<String>> = [("a", vec!["b"]), ("b", vec!["c"]), ("c", vec!["a"]), ("d", vec!["a"])]
        .into_iter()
        .map(|(m, d)| (m.to_string(), d.into_iter().map(String::from).collect()))
        .collect();
    let circles: Vec<_> = components(&graph).into_iter().filter(|c| c.len() > 1).collect();
    assert_eq!(circles.len(), 1);
    assert_eq!(circles[0].iter().cloned().collect::<Vec<_>>(), ["a", "b", "c"]);
}
