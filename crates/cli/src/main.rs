//! The `tollgate` binary: parses the command line and maps failures to exit codes.

use std::io::Write as _;

use clap::Parser;

/// Allocation is a fifth of a request's CPU with the system allocator on the
/// API benchmark; mimalloc's per-thread free lists cut it (BENCHMARKS.md).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = tollgate_cli::Cli::parse();
    let result = tollgate_cli::run(cli);
    tollgate_cli::logging::flush();
    if let Err(failure) = result {
        // Not `eprintln!`, which panics when stderr is closed.
        let _ = writeln!(std::io::stderr(), "error: {}", failure.message);
        std::process::exit(failure.code);
    }
}
