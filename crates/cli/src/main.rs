//! The `tollgate` binary: parses the command line and maps failures to exit codes.

use clap::Parser;

fn main() {
    let cli = tollgate_cli::Cli::parse();
    if let Err(failure) = tollgate_cli::run(cli) {
        eprintln!("error: {}", failure.message);
        std::process::exit(failure.code);
    }
}
