//! From scanned files to module dependencies, and from dependencies to import cycles, under the
//! rule written in the doc comment of [`super`].

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use super::scan::{self, PathRef};

/// Why one module depends on another: the first path that says so.
#[derive(Debug, Clone)]
struct Evidence {
    file: String,
    line: usize,
    written: String,
}

/// The modules of a source tree, the names each one imports, and every path each file names.
struct Tree {
    modules: BTreeSet<Vec<String>>,
    /// Modules compiled for tests only (`#[cfg(test)] mod ..`).
    test_modules: BTreeSet<Vec<String>>,
    /// Per module, the names its `use` declarations bind, with the path as written there.
    imports: HashMap<Vec<String>, HashMap<String, Vec<String>>>,
    refs: Vec<(String, PathRef)>,
}

impl Tree {
    fn new(files: &[(String, String)]) -> Self {
        let mut modules = BTreeSet::from([Vec::new()]);
        let mut test_modules = BTreeSet::new();
        let mut imports: HashMap<Vec<String>, HashMap<String, Vec<String>>> = HashMap::new();
        let mut refs = Vec::new();
        for (rel, source) in files {
            let module = scan::module_path(rel);
            let scanned = scan::scan(&module, source);
            modules.insert(module);
            modules.extend(scanned.inline_modules);
            test_modules.extend(scanned.test_modules);
            for path in scanned.refs {
                if let Some(name) = path.binds.as_ref().filter(|_| !path.test) {
                    imports
                        .entry(path.module.clone())
                        .or_default()
                        .insert(name.clone(), path.segments.clone());
                }
                refs.push((rel.clone(), path));
            }
        }
        Tree {
            modules,
            test_modules,
            imports,
            refs,
        }
    }

    /// Whether `module` is compiled for tests only: it or one of its ancestors is declared under
    /// `#[cfg(test)]`.
    fn test_only(&self, module: &[String]) -> bool {
        (1..=module.len()).any(|k| self.test_modules.contains(&module[..k]))
    }

    /// `segments`, written in `module`, as a path from the crate root; `None` when it leads
    /// outside the crate (`std::..`, another crate).
    fn absolute(&self, module: &[String], segments: &[String], hops: usize) -> Option<Vec<String>> {
        let (first, rest) = segments.split_first()?;
        match first.as_str() {
            "crate" => Some(rest.to_vec()),
            "self" => Some([module, rest].concat()),
            "super" => {
                let mut base = module.to_vec();
                let mut rest = segments;
                while let Some(("super", tail)) = rest.split_first().map(|(s, t)| (s.as_str(), t)) {
                    base.pop()?;
                    rest = tail;
                }
                Some([base.as_slice(), rest].concat())
            }
            _ => {
                let child = [module, std::slice::from_ref(first)].concat();
                if self.modules.contains(&child) {
                    return Some([module, segments].concat());
                }
                let imported = self.imports.get(module)?.get(first)?;
                if hops > 16 || imported.as_slice() == segments {
                    return None;
                }
                let base = self.absolute(module, imported, hops + 1)?;
                Some([base.as_slice(), rest].concat())
            }
        }
    }

    /// The module that defines what an absolute path names: the longest known module prefix,
    /// followed through `use` re-exports (`pub use auth::AuthConfig` in `config.rs` sends
    /// `config::AuthConfig` on to `config::auth`).
    fn defining_module(&self, path: &[String], hops: usize) -> Vec<String> {
        let known = (0..=path.len())
            .rev()
            .find(|k| self.modules.contains(&path[..*k]))
            .unwrap_or(0);
        let module = &path[..known];
        let Some(name) = path.get(known) else {
            return module.to_vec();
        };
        let Some(imported) = self.imports.get(module).and_then(|names| names.get(name)) else {
            return module.to_vec();
        };
        if hops > 16 {
            return module.to_vec();
        }
        match self.absolute(module, imported, hops + 1) {
            Some(target) => {
                let target = [target.as_slice(), &path[known + 1..]].concat();
                self.defining_module(&target, hops + 1)
            }
            None => module.to_vec(),
        }
    }
}

/// Module dependencies grouped by the module whose children they connect: for each such parent,
/// child -> child -> the first path that makes the edge.
type Levels = BTreeMap<Vec<String>, BTreeMap<String, BTreeMap<String, Evidence>>>;

fn levels(tree: &Tree) -> Levels {
    let mut levels = Levels::new();
    for (file, path) in &tree.refs {
        if path.test || tree.test_only(&path.module) {
            continue;
        }
        let Some(absolute) = tree.absolute(&path.module, &path.segments, 0) else {
            continue;
        };
        let target = tree.defining_module(&absolute, 0);
        let from = &path.module;
        let common = from.iter().zip(&target).take_while(|(a, b)| a == b).count();
        // A module naming its own descendants (declaring, re-exporting, calling them), or naming
        // an item of one of its ancestors, is the parent/child relation, not an edge.
        if common == from.len() || common == target.len() {
            continue;
        }
        let written = match path.segments.first().map(String::as_str) {
            Some("crate") => path.segments[1..].join("::"),
            _ => path.segments.join("::"),
        };
        levels
            .entry(from[..common].to_vec())
            .or_default()
            .entry(from[common].clone())
            .or_default()
            .entry(target[common].clone())
            .or_insert(Evidence {
                file: file.clone(),
                line: path.line,
                written,
            });
    }
    levels
}

/// A group of modules that import each other, and the loops that show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle {
    /// The modules of the group (strongly connected), as paths such as `config/auth`, sorted.
    pub group: Vec<String>,
    /// One line per loop, enough loops to pass through every member:
    /// `import cycle: a -> b -> a (a.rs:3 uses b::B; b.rs:9 uses a::A)`.
    pub loops: Vec<String>,
}

/// Every import cycle among the modules of `files` (paths relative to `src/`, with their
/// source), one per group of modules that import each other, in a stable order.
pub fn cycles(files: &[(String, String)]) -> Vec<Cycle> {
    let tree = Tree::new(files);
    let mut found = Vec::new();
    for (parent, edges) in levels(&tree) {
        let name = |child: &String| {
            [parent.as_slice(), std::slice::from_ref(child)]
                .concat()
                .join("/")
        };
        for group in strongly_connected(&edges) {
            let mut loops = Vec::new();
            let mut covered = BTreeSet::new();
            for start in &group {
                if covered.contains(start) {
                    continue;
                }
                let cycle = shortest_cycle(&edges, &group, start);
                covered.extend(cycle.iter().cloned());
                let names: Vec<String> = cycle.iter().chain(cycle.first()).map(name).collect();
                let because: Vec<String> = cycle
                    .iter()
                    .zip(cycle.iter().cycle().skip(1))
                    .map(|(from, to)| {
                        let evidence = &edges[from][to];
                        format!(
                            "{}:{} uses {}",
                            evidence.file, evidence.line, evidence.written
                        )
                    })
                    .collect();
                loops.push(format!(
                    "import cycle: {} ({})",
                    names.join(" -> "),
                    because.join("; ")
                ));
            }
            found.push(Cycle {
                group: group.iter().map(name).collect(),
                loops,
            });
        }
    }
    found
}

/// Every dependency between two modules of `files`, as `from -> to (file:line uses path)`.
pub fn dependencies(files: &[(String, String)]) -> Vec<String> {
    let tree = Tree::new(files);
    let mut out = Vec::new();
    for (parent, edges) in levels(&tree) {
        for (from, targets) in &edges {
            for (to, evidence) in targets {
                let at = |child: &String| [parent.as_slice(), std::slice::from_ref(child)].concat();
                out.push(format!(
                    "{} -> {} ({}:{} uses {})",
                    at(from).join("/"),
                    at(to).join("/"),
                    evidence.file,
                    evidence.line,
                    evidence.written
                ));
            }
        }
    }
    out
}

type Edges = BTreeMap<String, BTreeMap<String, Evidence>>;

/// Tarjan's strongly connected components with more than one member, each sorted.
fn strongly_connected(edges: &Edges) -> Vec<Vec<String>> {
    struct State<'a> {
        edges: &'a Edges,
        index: HashMap<&'a str, usize>,
        low: HashMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        groups: Vec<Vec<String>>,
    }
    fn visit<'a>(state: &mut State<'a>, node: &'a str) {
        let next = state.index.len();
        state.index.insert(node, next);
        state.low.insert(node, next);
        state.stack.push(node);
        state.on_stack.insert(node);
        let targets = state.edges.get(node).into_iter().flat_map(|t| t.keys());
        for target in targets {
            let target = target.as_str();
            if !state.index.contains_key(target) {
                visit(state, target);
                let low = state.low[node].min(state.low[target]);
                state.low.insert(node, low);
            } else if state.on_stack.contains(target) {
                let low = state.low[node].min(state.index[target]);
                state.low.insert(node, low);
            }
        }
        if state.low[node] == state.index[node] {
            let mut group = Vec::new();
            while let Some(member) = state.stack.pop() {
                state.on_stack.remove(member);
                group.push(member.to_owned());
                if member == node {
                    break;
                }
            }
            if group.len() > 1 {
                group.sort();
                state.groups.push(group);
            }
        }
    }
    let mut state = State {
        edges,
        index: HashMap::new(),
        low: HashMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        groups: Vec::new(),
    };
    for node in edges.keys() {
        if !state.index.contains_key(node.as_str()) {
            visit(&mut state, node);
        }
    }
    state.groups.sort();
    state.groups
}

/// The shortest cycle through `start`, by breadth-first search inside its `group`.
fn shortest_cycle(edges: &Edges, group: &[String], start: &String) -> Vec<String> {
    let mut came_from: HashMap<&String, &String> = HashMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        for target in edges.get(node).into_iter().flat_map(|t| t.keys()) {
            if target == start {
                let mut cycle = vec![node.clone()];
                let mut at = node;
                while let Some(previous) = came_from.get(at) {
                    cycle.push((*previous).clone());
                    at = previous;
                }
                cycle.reverse();
                return cycle;
            }
            if group.contains(target) && !came_from.contains_key(target) && target != start {
                came_from.insert(target, node);
                queue.push_back(target);
            }
        }
    }
    group.to_vec()
}
