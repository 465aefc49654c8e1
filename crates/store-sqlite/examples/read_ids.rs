//! The time to read posts by id through `Store::posts`, and their authors
//! through `Store::accounts`, with nothing else done: the baseline
//! `bench/compliance_job.sh` holds a compliance job of the same ids against.
//!
//! Reads the ids (one decimal id per line) and reads them from the store in
//! batches of 20,000, as a job reads them, then the distinct authors of the
//! posts found, batch by batch, as a job does.
//!
//! ```text
//! cargo run --release -p tollgate-store-sqlite --example read_ids -- --dir DATA --ids ids.txt
//! ```
//!
//! The last line on stdout is machine-readable:
//! `read_ids ids=N found=N posts_s=.. accounts_s=..`.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Instant;

use tollgate_domain::{AccountId, PostId};
use tollgate_store::Store;
use tollgate_store_sqlite::{SqliteOptions, SqliteStore};

/// Ids read at once, as `crates/api`'s compliance jobs read them.
const BATCH: usize = 20_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut dir = None;
    let mut ids_file = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--dir" => dir = args.next().map(PathBuf::from),
            "--ids" => ids_file = args.next().map(PathBuf::from),
            other => return Err(format!("unknown argument `{other}`: use --dir DATA --ids FILE").into()),
        }
    }
    let (Some(dir), Some(ids_file)) = (dir, ids_file) else {
        return Err("use --dir DATA --ids FILE".into());
    };
    let text = std::fs::read_to_string(&ids_file)?;
    let mut ids = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if !line.is_empty() {
            ids.push(PostId(line.parse().map_err(|e| format!("{}:{}: {e}", ids_file.display(), n + 1))?));
        }
    }
    let store = SqliteStore::open(&dir, &SqliteOptions::default())?;

    let started = Instant::now();
    let mut posts_s = 0.0;
    let mut accounts_s = 0.0;
    let mut found = 0;
    let mut seen: HashSet<AccountId> = HashSet::new();
    for chunk in ids.chunks(BATCH) {
        let t = Instant::now();
        let posts = store.posts(chunk)?;
        posts_s += t.elapsed().as_secs_f64();
        found += posts.len();
        let mut authors: Vec<AccountId> = posts.iter().map(|p| p.author_id).filter(|a| seen.insert(*a)).collect();
        authors.sort_unstable();
        let t = Instant::now();
        let accounts = store.accounts(&authors)?;
        accounts_s += t.elapsed().as_secs_f64();
        std::hint::black_box(accounts);
    }
    eprintln!("read {} ids ({found} posts) in {:.2} s", ids.len(), started.elapsed().as_secs_f64());
    println!("read_ids ids={} found={found} posts_s={posts_s:.3} accounts_s={accounts_s:.3}", ids.len());
    Ok(())
}
