//! Measures generation and import speed against the SQLite store.
//!
//! ```text
//! cargo run --release -p tollgate-ingest --example bench -- generate DIR ACCOUNTS POSTS [SEED]
//! cargo run --release -p tollgate-ingest --example bench -- import DIR STORE_DIR
//! cargo run --release -p tollgate-ingest --example bench -- raw ACCOUNTS POSTS STORE_DIR [SEED]
//! ```
//!
//! `raw` writes the same platform through `Store::bulk_load` straight from the
//! generator, with no JSON in between: the floor an import can approach.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use tollgate_ingest::{GenerateOptions, Generator, TerminalProgress, demo_defaults, generate, import};
use tollgate_store::Store;
use tollgate_store_sqlite::{SqliteOptions, SqliteStore};

fn options(accounts: &str, posts: &str, seed: Option<String>) -> GenerateOptions {
    GenerateOptions {
        accounts: accounts.parse().expect("ACCOUNTS is a number"),
        posts: posts.parse().expect("POSTS is a number"),
        seed: seed.map_or(42, |s| s.parse().expect("SEED is a number")),
        ..demo_defaults()
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["generate", dir, accounts, posts, rest @ ..] => {
            let options = options(accounts, posts, rest.first().map(|s| (*s).to_owned()));
            let summary = generate(&options, Path::new(dir)).expect("generate");
            let secs = summary.elapsed.as_secs_f64();
            println!(
                "generated {} accounts and {} posts ({:.1} MB) in {secs:.2} s: {:.0} posts/s, {:.0} MB/s",
                summary.accounts,
                summary.posts,
                summary.bytes as f64 / 1e6,
                summary.posts as f64 / secs,
                summary.bytes as f64 / 1e6 / secs
            );
        }
        ["import", dir, store_dir] => {
            let store = SqliteStore::open(Path::new(store_dir), &SqliteOptions::default()).expect("open the store");
            let dir = Path::new(dir);
            let summary = import(
                &store,
                Some(&dir.join("accounts.jsonl")),
                Some(&dir.join("posts.jsonl")),
                &mut TerminalProgress::new(),
            )
            .unwrap_or_else(|e| panic!("{e}"));
            println!("{summary}");
        }
        ["raw", accounts, posts, store_dir, rest @ ..] => {
            let options = options(accounts, posts, rest.first().map(|s| (*s).to_owned()));
            let store = SqliteStore::open(Path::new(store_dir), &SqliteOptions::default()).expect("open the store");
            let mut generator = Generator::new(&options).expect("options");
            let started = Instant::now();
            store
                .bulk_load(&mut |w| {
                    while let Some(a) = generator.next_account() {
                        w.put_account(a)?;
                    }
                    while let Some(p) = generator.next_post() {
                        w.put_post(p)?;
                    }
                    Ok(())
                })
                .expect("bulk load");
            let secs = started.elapsed().as_secs_f64();
            println!(
                "raw bulk load of {} accounts and {} posts in {secs:.2} s ({:.0} records/s)",
                options.accounts,
                options.posts,
                (options.accounts + options.posts) as f64 / secs
            );
        }
        _ => {
            eprintln!(
                "usage: bench generate DIR ACCOUNTS POSTS [SEED] | import DIR STORE_DIR | raw ACCOUNTS POSTS STORE_DIR [SEED]"
            );
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
