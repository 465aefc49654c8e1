//! Every file under `corpus/<target>/` (the seeds, and each input the fuzzer
//! ever found failing, kept once fixed) is run through its target: a panic or
//! a broken round trip fails the test naming the file. This is the part of
//! fuzzing that runs on every test run; the fuzzing itself is bench/fuzz.sh.

use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;

use tollgate_fuzz::TargetName;

fn corpus_files(target: TargetName) -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus").join(target.as_str());
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn run_corpus(target: TargetName) {
    let files = corpus_files(target);
    assert!(!files.is_empty(), "corpus/{} has no inputs", target.as_str());
    let mut instance = target.target();
    let mut failed = Vec::new();
    for file in &files {
        let input = std::fs::read(file).unwrap();
        if panic::catch_unwind(AssertUnwindSafe(|| instance.run(&input))).is_err() {
            failed.push(file.display().to_string());
            instance = target.target();
        }
    }
    assert!(failed.is_empty(), "{} input(s) of {} failed (messages above): {failed:#?}", failed.len(), target.as_str());
}

#[test]
fn query_corpus() {
    run_corpus(TargetName::Query);
}

#[test]
fn token_corpus() {
    run_corpus(TargetName::Token);
}

#[test]
fn import_ours_corpus() {
    run_corpus(TargetName::ImportOurs);
}

#[test]
fn import_twarc_corpus() {
    run_corpus(TargetName::ImportTwarc);
}

#[test]
fn ledger_entry_corpus() {
    run_corpus(TargetName::LedgerEntry);
}
