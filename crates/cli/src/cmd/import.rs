//! `tollgate import`: load accounts and posts, all or nothing.

use std::path::PathBuf;

use clap::Args;
use tollgate_ingest::{ImportOptions, TerminalProgress, import_with};

use crate::config::Config;
use crate::{Failure, runtime};

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Accounts, one JSON object per line (or twarc2 pages).
    #[arg(long, value_name = "FILE")]
    pub accounts: Option<PathBuf>,
    /// Posts, one JSON object per line (or twarc2 pages).
    #[arg(long, value_name = "FILE")]
    pub posts: Option<PathBuf>,
    /// The region given to accounts from twarc2 pages, which carry none.
    #[arg(long, default_value = "US", value_name = "CODE")]
    pub default_region: String,
}

pub fn run(config: &Config, args: &ImportArgs) -> Result<(), Failure> {
    if args.accounts.is_none() && args.posts.is_none() {
        return Err(Failure { code: crate::exit::USAGE, message: "give --accounts FILE, --posts FILE or both".into() });
    }
    let store = runtime::open_store(config)?;
    let mut progress = TerminalProgress::new();
    let options = ImportOptions { default_region: args.default_region.clone() };
    let summary = import_with(store.as_ref(), args.accounts.as_deref(), args.posts.as_deref(), &options, &mut progress)
        .map_err(|e| Failure::invalid(e.to_string()))?;
    eprintln!("{summary}");
    Ok(())
}
