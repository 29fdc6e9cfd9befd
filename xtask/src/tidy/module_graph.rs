//! A crate's module import graph, read from its source text, and the cycles in it.
//!
//! A module is named by its path from the crate root (`cases::config`), cut to `depth` components so
//! that a module's files count as one node. `crate::a::b::Item`, `super::…` and `self::…` paths are
//! resolved to the longest module prefix. Edges between a module and its own ancestor or descendant
//! are ignored: a parent declares its children and children use their parent's items by nature.

use std::collections::{BTreeMap, BTreeSet};

type Graph = BTreeMap<Vec<String>, BTreeSet<Vec<String>>>;

/// The module path of a file relative to the crate's `src/` (`cases/config/apply.rs` →
/// `[cases, config, apply]`; `mod.rs`, `lib.rs` and `main.rs` name their directory).
fn module_of(rel: &str) -> Vec<String> {
    let rel = rel.trim_end_matches(".rs");
    let mut parts: Vec<String> = rel.split('/').map(str::to_owned).collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// Every `crate::`, `super::` or `self::` path in `code`, as components (`use` groups are not
/// expanded: their common prefix is enough to name the module).
fn paths(code: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for root in ["crate::", "super::", "self::"] {
        let mut rest = code;
        while let Some(at) = rest.find(root) {
            let before = rest[..at].chars().last();
            rest = &rest[at + root.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let mut comps = vec![root.trim_end_matches("::").to_owned()];
            let mut tail = rest;
            loop {
                let end = tail
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .unwrap_or(tail.len());
                if end == 0 {
                    break;
                }
                comps.push(tail[..end].to_owned());
                if tail[end..].starts_with("::") {
                    tail = &tail[end + 2..];
                } else {
                    break;
                }
            }
            out.push((comps[0].clone(), comps[1..].to_vec()));
        }
    }
    out
}

fn is_prefix(a: &[String], b: &[String]) -> bool {
    a.len() <= b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// Cycles among the crate's modules (each as the list of its members), given every source file as
/// `(path relative to src/, text)`.
pub(super) fn cycles(files: &[(String, String)], depth: usize) -> Vec<Vec<String>> {
    let modules: BTreeSet<Vec<String>> = files.iter().map(|(rel, _)| module_of(rel)).collect();
    let node = |m: &[String]| m[..m.len().min(depth)].to_vec();
    let mut graph: Graph = BTreeMap::new();
    for (rel, code) in files {
        let me = module_of(rel);
        for (root, comps) in paths(code) {
            let mut target: Vec<String> = match root.as_str() {
                "crate" => Vec::new(),
                "super" => me[..me.len().saturating_sub(1)].to_vec(),
                _ => me.clone(),
            };
            let mut rest = comps.as_slice();
            while rest.first().map(String::as_str) == Some("super") {
                target.pop();
                rest = &rest[1..];
            }
            // The longest prefix that is a module.
            for c in rest {
                let mut next = target.clone();
                next.push(c.clone());
                if modules.iter().any(|m| is_prefix(&next, m)) {
                    target = next;
                } else {
                    break;
                }
            }
            let (from, to) = (node(&me), node(&target));
            if !is_prefix(&from, &to) && !is_prefix(&to, &from) {
                graph.entry(from).or_default().insert(to);
            }
        }
    }
    strongly_connected(&graph)
        .into_iter()
        .filter(|c| c.len() > 1)
        .map(|c| c.into_iter().map(|m| m.join("::")).collect())
        .collect()
}

/// Tarjan's strongly connected components.
fn strongly_connected(g: &Graph) -> Vec<Vec<Vec<String>>> {
    struct State<'g> {
        g: &'g Graph,
        index: BTreeMap<&'g Vec<String>, usize>,
        low: BTreeMap<&'g Vec<String>, usize>,
        stack: Vec<&'g Vec<String>>,
        on_stack: BTreeSet<&'g Vec<String>>,
        out: Vec<Vec<Vec<String>>>,
    }
    fn visit<'g>(s: &mut State<'g>, v: &'g Vec<String>) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.g.get(v).into_iter().flatten() {
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low[v];
                s.low.insert(v, lv.min(lw));
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low[v];
                s.low.insert(v, lv.min(iw));
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                comp.push(w.clone());
                if w == v {
                    break;
                }
            }
            s.out.push(comp);
        }
    }
    let mut s = State {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    let nodes: Vec<&Vec<String>> = g.keys().chain(g.values().flatten()).collect();
    for v in nodes {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.out
}

#[test]
fn finds_a_cycle_and_ignores_parents() {
    let files = vec![
        ("a.rs".to_owned(), "use crate::b::X;".to_owned()),
        ("b/mod.rs".to_owned(), "use crate::a::Y; mod c;".to_owned()),
        (
            "b/c.rs".to_owned(),
            "use super::Z; use crate::b::W;".to_owned(),
        ),
        ("d.rs".to_owned(), "use crate::a;".to_owned()),
    ];
    assert_eq!(
        cycles(&files, 2),
        vec![vec!["b".to_owned(), "a".to_owned()]]
    );
    let acyclic = vec![
        ("a.rs".to_owned(), "use crate::b::X;".to_owned()),
        ("b/mod.rs".to_owned(), "mod c;".to_owned()),
        ("b/c.rs".to_owned(), "use super::Z;".to_owned()),
    ];
    assert!(cycles(&acyclic, 2).is_empty());
}
