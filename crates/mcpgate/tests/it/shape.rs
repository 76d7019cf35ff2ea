//! The shape of `src/`: module dependencies run one way, so no two modules import each other,
//! directly or around a loop. A failure names the loop and the line that makes each step:
//!
//! ```text
//! import cycle: config -> edge -> config (config/auth.rs:10 uses edge::JwtSettings; edge/auth.rs:25 uses config::AuthConfig)
//! ```
//!
//! # The rule
//!
//! Every module with children is checked on its own: the crate root (whose children are `app`,
//! `cli`, `config`, `edge`, `http`, ...), and each folder (`config/` with `auth`, `resolve`, ...;
//! `edge/jwt/` with `keys`, `fetch`, ...). Among the children of one module, child `a` depends on
//! child `b` when any file in `a`'s subtree names an item that `b`'s subtree defines, through a
//! `crate::`, `super::` or `self::` path, in a `use` or in code. Those dependencies must not form
//! a cycle. So `config -> edge -> config` fails at the crate root, and `config/resolve ->
//! config/auth -> config/resolve` fails in `config/`, whichever files inside the two subtrees
//! carry the uses.
//!
//! A module's own file (`config.rs` for `config/`) is its front door, not one of its children:
//! it declares the children, re-exports their items, and may hold what they all share. So a
//! child naming an item its parent (or any ancestor) defines is not an edge, and neither is a
//! parent naming its children's items. A name the parent only re-exports is followed to the
//! module that defines it: `super::AuthConfig` in `config/resolve.rs`, with `pub use
//! auth::AuthConfig` in `config.rs`, is an edge from `resolve` to `auth`, so a re-export cannot
//! hide a cycle (and one that names another subsystem's item, such as `pub use
//! crate::edge::AuthConfig`, is a dependency of the module that re-exports).
//!
//! Code under `#[cfg(test)]` (test modules, test-only files such as `props.rs`, test helpers)
//! is not a dependency: nothing the crate ships can use it, so it sits above everything it
//! tests, and a unit test of the edge may build a whole `Config` although `config` depends on
//! the edge. `main.rs` is another crate (the binary) and is not read.
//!
//! # What the scan cannot see
//!
//! It reads text, not types: names brought in by a glob (`use super::*`) are not followed, and a
//! path that only a macro expansion writes, or that sits in a string (`#[serde(with = "..")]`),
//! is invisible. Write the path out, as the rest of the crate does.

mod graph;
mod scan;

use std::path::Path;

/// The check: `Ok`, or the message to fail with, naming every loop. No cycle is allowed.
fn check(files: &[(String, String)]) -> Result<(), String> {
    let loops = loops(files);
    if loops.is_empty() {
        return Ok(());
    }
    Err(format!(
        "module dependencies in src/ must run one way:\n{}",
        loops.join("\n")
    ))
}

/// Every `.rs` file under `dir`, as (path relative to `root` with `/` separators, source).
fn sources(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
    let entries = std::fs::read_dir(dir).expect("src/ and its folders are readable");
    for entry in entries {
        let path = entry.expect("a directory entry can be read").path();
        if path.is_dir() {
            sources(root, &path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            let rel = path.strip_prefix(root).expect("the walk stays under src/");
            let rel: Vec<_> = rel.iter().map(|part| part.to_string_lossy()).collect();
            let source = std::fs::read_to_string(&path).expect("source files are UTF-8");
            out.push((rel.join("/"), source));
        }
    }
}

/// The crate's library sources (`main.rs` is the binary, another crate).
fn library_sources() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &root, &mut files);
    files.retain(|(rel, _)| rel != "main.rs");
    files.sort();
    files
}

fn owned(files: &[(&str, &str)]) -> Vec<(String, String)> {
    files
        .iter()
        .map(|(rel, source)| (rel.to_string(), source.to_string()))
        .collect()
}

/// Every loop the check reports for `files`.
fn loops(files: &[(String, String)]) -> Vec<String> {
    graph::cycles(files)
        .into_iter()
        .flat_map(|cycle| cycle.loops)
        .collect()
}

#[test]
fn no_import_cycle_between_modules_of_src() {
    let files = library_sources();
    let dependencies = graph::dependencies(&files);
    // The scan sees the dependencies the layout is built on; if it saw none, passing would mean
    // nothing.
    assert!(
        dependencies.iter().any(|d| d.starts_with("http -> mcp ")),
        "the scan should see http using mcp; it saw:\n{}",
        dependencies.join("\n")
    );
    if let Err(message) = check(&files) {
        panic!("{message}");
    }
}

#[test]
fn store_and_workspace_using_each_other_fail_and_a_port_one_way_passes() {
    let both = [
        ("lib.rs", "mod store;\nmod workspace;\n"),
        (
            "store.rs",
            "use crate::workspace::Record;\npub trait Store {}\n",
        ),
        (
            "workspace.rs",
            "use crate::store::Store;\npub struct Record;\n",
        ),
    ];
    let groups: Vec<Vec<String>> = graph::cycles(&owned(&both))
        .into_iter()
        .map(|cycle| cycle.group)
        .collect();
    assert_eq!(groups, [["store", "workspace"]]);
    assert_eq!(
        check(&owned(&both)),
        Err("module dependencies in src/ must run one way:\n\
             import cycle: store -> workspace -> store \
             (store.rs:1 uses workspace::Record; workspace.rs:1 uses store::Store)"
            .into())
    );

    let mut port = both;
    port[1].1 = "use crate::workspace::{Record, RecordStore};\npub struct Sqlite;\n\
                 impl RecordStore for Sqlite {}\n";
    port[2].1 = "pub struct Record;\npub trait RecordStore {}\n";
    assert_eq!(check(&owned(&port)), Ok(()));
}

#[test]
fn a_cycle_between_top_level_modules_is_named_with_the_uses_that_make_it() {
    let files = owned(&[
        ("lib.rs", "pub mod config;\npub mod edge;\n"),
        ("config.rs", "mod resolve;\npub use resolve::Config;\n"),
        (
            "config/resolve.rs",
            "use crate::edge::Quota;\npub struct Config(Quota);\n",
        ),
        ("edge.rs", "mod gate;\npub use gate::{Gate, Quota};\n"),
        (
            "edge/gate.rs",
            "pub struct Quota;\npub struct Gate;\nfn f(c: &crate::config::Config) {}\n",
        ),
    ]);
    assert_eq!(
        loops(&files),
        ["import cycle: config -> edge -> config \
          (config/resolve.rs:1 uses edge::Quota; edge/gate.rs:3 uses config::Config)"]
    );
}

#[test]
fn a_cycle_between_files_of_one_folder_is_found_through_the_parent_re_export() {
    let files = owned(&[
        ("lib.rs", "mod config;\n"),
        (
            "config.rs",
            "mod auth;\nmod resolve;\npub use auth::AuthConfig;\npub use resolve::{resolve};\n\
             pub struct Config;\n",
        ),
        (
            "config/auth.rs",
            "use super::{Config, resolve::Layer};\npub struct AuthConfig;\n",
        ),
        (
            "config/resolve.rs",
            "use super::{AuthConfig, Config};\npub struct Layer;\npub fn resolve() {}\n",
        ),
    ]);
    assert_eq!(
        loops(&files),
        [
            "import cycle: config/auth -> config/resolve -> config/auth \
          (config/auth.rs:1 uses super::resolve::Layer; config/resolve.rs:1 uses super::AuthConfig)"
        ]
    );
}

#[test]
fn a_longer_loop_is_reported_once_with_every_step() {
    let files = owned(&[
        ("lib.rs", "mod a;\nmod b;\nmod c;\n"),
        ("a.rs", "use crate::b::B;\npub struct A;\n"),
        ("b.rs", "pub struct B(crate::c::C);\n"),
        (
            "c.rs",
            "pub struct C;\n// crate::a::A in a comment is not a use\nfn f() -> crate::a::A { todo!() }\n",
        ),
    ]);
    assert_eq!(
        loops(&files),
        ["import cycle: a -> b -> c -> a (a.rs:1 uses b::B; b.rs:1 uses c::C; c.rs:3 uses a::A)"]
    );
}

#[test]
fn test_code_may_use_what_depends_on_it() {
    let files = owned(&[
        (
            "lib.rs",
            "mod config;\nmod edge;\nmod store;\n#[cfg(test)]\nmod props;\n",
        ),
        ("config.rs", "use crate::edge::Quota;\npub struct Config;\n"),
        (
            "edge.rs",
            "pub struct Quota;\n#[cfg(test)]\nmod tests {\n    use crate::config::Config;\n}\n\
             #[cfg(test)]\nfn fixture() -> [u8; 2] { crate::config::Config; [0; 2] }\n\
             fn shipped(row: crate::store::Row) {}\n",
        ),
        ("store.rs", "pub struct Row;\n"),
        ("props.rs", "use crate::config::Config;\n"),
    ]);
    assert_eq!(loops(&files), Vec::<String>::new());
    assert_eq!(
        graph::dependencies(&files),
        [
            "config -> edge (config.rs:1 uses edge::Quota)",
            "edge -> store (edge.rs:8 uses store::Row)",
        ]
    );
}

#[test]
fn children_using_their_parent_and_one_way_siblings_are_no_cycle() {
    let files = owned(&[
        ("lib.rs", "mod config;\nmod edge;\n"),
        (
            "config.rs",
            "mod auth;\nmod resolve;\npub use self::auth::Auth;\npub struct Config;\n\
             fn load() -> Config { resolve::resolve() }\n",
        ),
        ("config/auth.rs", "use super::Config;\npub struct Auth;\n"),
        (
            "config/resolve.rs",
            "use super::{Auth, Config};\nuse crate::edge::Quota;\n\
             pub fn resolve() -> Config { Config }\n\
             #[cfg(test)]\nmod tests {\n    use super::*;\n    use crate::config::Config;\n}\n",
        ),
        (
            "edge.rs",
            "pub struct Quota;\n\"crate::config::Config in a string\";\n",
        ),
    ]);
    assert_eq!(loops(&files), Vec::<String>::new());
    assert_eq!(
        graph::dependencies(&files),
        [
            "config -> edge (config/resolve.rs:2 uses edge::Quota)",
            "config/resolve -> config/auth (config/resolve.rs:1 uses super::Auth)",
        ]
    );
}
