//! Standard output that a closed pipe does not turn into a panic.
//!
//! `println!` panics when stdout fails, and Rust ignores `SIGPIPE`, so
//! `tollgate ledger verify --json | head -c 10` used to end with a panic
//! message once `head` had gone. Every command prints through `outln!` and
//! `out!` instead: when the reader has gone (`EPIPE`) the process exits at
//! once, quietly, with `exit::BROKEN_PIPE`, as a program killed by `SIGPIPE`
//! would be seen by a shell; any other failure to write is an error.
//!
//! The road not taken: restoring `SIGPIPE`'s default action would do the
//! same for stdout, but also for the sockets `serve` writes to, where a
//! client that disconnects must not end the server.

use std::fmt;
use std::io::{self, Write};

use crate::exit;

/// Prints a line on stdout, as `println!` does.
#[macro_export]
macro_rules! outln {
    () => {
        $crate::output::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Prints on stdout, as `print!` does.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::write(format_args!($($arg)*))
    };
}

/// Writes `args` to stdout; exits the process if it cannot.
pub fn write(args: fmt::Arguments<'_>) {
    let mut stdout = io::stdout().lock();
    if let Err(e) = stdout.write_fmt(args).and_then(|()| stdout.flush()) {
        gone(&e);
    }
}

/// Ends the process after a failed write to stdout: quietly if the reader
/// went away, with an error otherwise.
fn gone(e: &io::Error) -> ! {
    if e.kind() == io::ErrorKind::BrokenPipe {
        std::process::exit(exit::BROKEN_PIPE);
    }
    let _ = writeln!(io::stderr(), "error: cannot write to standard output: {e}");
    std::process::exit(exit::FAILURE);
}
