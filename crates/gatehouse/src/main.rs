//! Entry point; everything lives in the library so tests can drive it.

/// glibc's allocator spent about a fifth of the CPU of a session check in `malloc`, `free` and
/// heap consolidation under load (see docs/benchmarks.md); mimalloc's thread-local free lists fit a
/// server that allocates many small, short-lived buffers per request.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    gatehouse::cli::main()
}
