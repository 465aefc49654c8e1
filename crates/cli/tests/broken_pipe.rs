//! Output into a pipe whose reader has gone (`tollgate ledger verify --json |
//! head -c 10`, once `head` has exited) ends the command quietly with
//! `exit::BROKEN_PIPE`, instead of a panic message and exit code 101.
//!
//! The pipe's read end is closed before the binary starts, so its first
//! write to stdout fails with `EPIPE`, whenever it comes.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use tollgate_cli::exit;
use tollgate_domain::{AppId, PostId, Purpose, Timestamp};
use tollgate_ledger::{Channel, Entry, LedgerWriter, Outcome};
use tollgate_store_sqlite::SqliteOptions;

struct DataDir(PathBuf);

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A data directory whose ledger holds a few entries under a signed head.
fn data_dir() -> DataDir {
    let dir = std::env::temp_dir().join(format!("tollgate-cli-pipe-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Arc::new(tollgate_ledger::LedgerDb::open(&dir, &SqliteOptions::default()).unwrap());
    let writer = LedgerWriter::start(store, &dir).unwrap();
    for i in 0..20 {
        writer
            .record_blocking(Entry {
                v: Entry::VERSION,
                time: Timestamp::from_millis(1_750_000_000_000 + i),
                request_id: format!("r{i}"),
                channel: Channel::Api,
                app_id: Some(AppId(1)),
                key_id: None,
                client: None,
                endpoint: "/2/tweets".into(),
                purpose: Some(Purpose::Display),
                outcome: Outcome::Served,
                posts: vec![PostId(1000 + i as u64)],
                authors: Vec::new(),
                accounts: Vec::new(),
                withheld: Default::default(),
                notices: Vec::new(),
                policy_version: "p1".into(),
                guard: None,
            })
            .unwrap();
    }
    writer.shutdown();
    DataDir(dir)
}

/// Runs `tollgate --data-dir DIR args...` with stdout a pipe nobody reads.
fn run_into_closed_pipe(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let output = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        // No `tollgate.toml` of the working directory.
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn output_into_a_closed_pipe_ends_quietly_without_a_panic() {
    let dir = data_dir();
    for args in [
        &["ledger", "verify", "--json"][..],
        &["ledger", "verify"],
        &["ledger", "tail"],
        &["ledger", "key", "--json"],
        &["ledger", "checkpoint"],
        &["ledger", "prove", "--entry", "3", "--json"],
    ] {
        let (code, stderr) = run_into_closed_pipe(&dir.0, args);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(stderr, "", "{args:?}: nothing is said");
        assert_eq!(code, Some(exit::BROKEN_PIPE), "{args:?}: {stderr}");
    }
}
