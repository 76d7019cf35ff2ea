//! Two things cargo cannot know without this script.
//!
//! `sqlx::migrate!` embeds the migration folders when the crate compiles; without the
//! `rerun-if-changed`, a new migration file alone would not make cargo compile the crate again.
//!
//! The executable's code layout, in optimised builds: the functions mcpgate runs
//! (`hot-code.txt`, written by `scripts/hot_code.sh`) are laid out together at the front of its
//! code by a linker script made from that file, so that what the kernel maps of the executable
//! is about what runs (BENCHMARKS.md, "Code layout"). Each line is a function's v0 symbol name
//! with the crates' hashes left open (`*`), so a rebuild still finds it; a line that matches
//! nothing changes the layout, never the build. Relative relocations are packed too (DT_RELR),
//! where the C library reads them. Only where the linker is LLD (Rust's default for x86_64
//! Linux since 1.90) and symbols are v0 (`.cargo/config.toml`); `MCPGATE_CODE_LAYOUT=off` at
//! build time links the executable as rustc would alone.
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=hot-code.txt");
    println!("cargo:rerun-if-env-changed=MCPGATE_CODE_LAYOUT");
    let optimised = std::env::var("PROFILE").as_deref() == Ok("release");
    if std::env::var("MCPGATE_CODE_LAYOUT").as_deref() == Ok("off")
        || !optimised
        || !links_with_lld()
    {
        return;
    }
    if glibc_reads_packed_relocations() {
        // Relative relocations packed (DT_RELR): a table of ~10 KiB instead of ~760 KiB that
        // the loader reads, and keeps mapped, at every start.
        println!("cargo:rustc-link-arg-bin=mcpgate=-Wl,-z,pack-relative-relocs");
    }
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let Ok(hot) = std::fs::read_to_string(manifest.join("hot-code.txt")) else {
        return;
    };
    // One input section description a line keeps the file's order: what serving runs, then
    // what only start-up runs. `.text.*` also takes the sections LLVM names by temperature
    // (`.text.unlikely.`, `.text.hot.`).
    let mut script = String::from("SECTIONS\n{\n  .text.mcpgate_runs :\n  {\n");
    for symbol in hot
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        if symbol
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"(){};\"".contains(&b))
        {
            let _ = writeln!(script, "    *(.text.{symbol} .text.*.{symbol})");
        }
    }
    script.push_str("  }\n}\nINSERT BEFORE .text;\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo")).join("layout.ld");
    std::fs::write(&out, script).expect("write the layout script");
    println!("cargo:rustc-link-arg-bin=mcpgate=-Wl,-T,{}", out.display());
}

/// Whether the C library the executable will run with reads packed relative relocations
/// (glibc 2.36 and later): the build host's, which is where a build of this target runs, or
/// the image's (Debian bookworm: 2.36).
fn glibc_reads_packed_relocations() -> bool {
    let Ok(out) = Command::new("getconf").arg("GNU_LIBC_VERSION").output() else {
        return false;
    };
    version(&out.stdout) >= (2, 36) // "glibc 2.36"
}

/// Whether rustc links this target with its own LLD (x86_64 Linux with the GNU toolchain, from
/// Rust 1.90, unless the build chose another linker) and names symbols in the v0 scheme.
fn links_with_lld() -> bool {
    let target = std::env::var("TARGET").unwrap_or_default();
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if target != "x86_64-unknown-linux-gnu"
        || flags.contains("link")
        || !flags.contains("symbol-mangling-version=v0")
    {
        return false;
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let Ok(out) = Command::new(rustc).arg("--version").output() else {
        return false;
    };
    version(&out.stdout) >= (1, 90) // "rustc 1.95.0 (59807616e 2026-04-14)"
}

/// The major and minor version in a tool's "name X.Y[.Z] …" line.
fn version(line: &[u8]) -> (u32, u32) {
    let line = String::from_utf8_lossy(line);
    let mut numbers = line
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .split('.')
        .map(|n| n.parse::<u32>().unwrap_or(0));
    (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0))
}
