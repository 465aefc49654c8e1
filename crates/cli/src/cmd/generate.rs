//! `tollgate generate`: write a synthetic platform as JSON-lines files.

use std::path::PathBuf;

use clap::Args;
use tollgate_ingest::{GenerateOptions, generate};

use crate::Failure;

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[arg(long, default_value_t = 10_000)]
    pub accounts: u64,
    #[arg(long, default_value_t = 200_000)]
    pub posts: u64,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// The directory to write `accounts.jsonl` and `posts.jsonl` into.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: &GenerateArgs) -> Result<(), Failure> {
    let options = GenerateOptions {
        accounts: args.accounts,
        posts: args.posts,
        seed: args.seed,
        ..tollgate_ingest::demo_defaults()
    };
    let summary = generate(&options, &args.out).map_err(|e| Failure::invalid(e.to_string()))?;
    eprintln!(
        "wrote {} accounts to `{}` and {} posts to `{}` ({} bytes) in {:.1?}",
        summary.accounts,
        summary.accounts_path.display(),
        summary.posts,
        summary.posts_path.display(),
        summary.bytes,
        summary.elapsed
    );
    Ok(())
}
