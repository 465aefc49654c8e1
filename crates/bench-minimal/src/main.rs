//! `bench-minimal --db DATA_DIR/tollgate.db --listen 127.0.0.1:PORT`: serves
//! the API benchmark's endpoints from a Tollgate platform file with no
//! authentication, policy or ledger (see the library's documentation). For
//! `bench/api.sh` only; it is not part of Tollgate.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: bench-minimal --db DATA_DIR/tollgate.db --listen 127.0.0.1:PORT";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("bench-minimal: error: {message}\n{USAGE}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let (mut db, mut listen) = (None, None);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("`{flag}` needs a value"))?;
        match flag.as_str() {
            "--db" => db = Some(PathBuf::from(value)),
            "--listen" => {
                listen = Some(value.parse::<SocketAddr>().map_err(|e| format!("`{value}` is not an address: {e}"))?)
            }
            _ => return Err(format!("unknown flag `{flag}`")),
        }
    }
    let db = db.ok_or("`--db` is required")?;
    let listen = listen.ok_or("`--listen` is required")?;
    if !db.is_file() {
        return Err(format!("no database file at `{}`", db.display()));
    }
    // The same runtime as `tollgate serve`: one worker thread per core.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async move {
        let listener =
            tokio::net::TcpListener::bind(listen).await.map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        eprintln!("bench-minimal: serving `{}` on http://{listen}", db.display());
        axum::serve(listener, bench_minimal::router(db)).await.map_err(|e| format!("server: {e}"))
    })
}
