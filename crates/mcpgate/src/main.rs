//! The `mcpgate` binary: parse the command line, run, map the outcome to an exit code.

/// mimalloc instead of the system allocator: a server allocates small, short-lived buffers per
/// request on many threads, where glibc's arenas contend (measured in BENCHMARKS.md). The
/// library leaves the allocator to whoever embeds it. Arenas are committed as they are used,
/// not in full when reserved (the define in `.cargo/config.toml`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(mcpgate::cli::run());
}
