//! `tollgate ledger ...`: inspect and verify the delivery ledger.

use clap::{Args, Subcommand};
use serde_json::json;
use tollgate_ledger::Entry;

use crate::cmd::print_json;
use crate::config::Config;
use crate::{Failure, exit, runtime};

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Recompute the hash chain and report the first entry where it breaks.
    Verify(JsonArg),
    /// Print entries from `--from` on.
    Tail(TailArgs),
}

#[derive(Debug, Args)]
pub struct JsonArg {
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct TailArgs {
    #[arg(long, default_value_t = 0)]
    pub from: u64,
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
}

pub fn run(config: &Config, command: LedgerCommand) -> Result<(), Failure> {
    let store = runtime::open_store(config)?;
    match command {
        LedgerCommand::Verify(a) => {
            let report = tollgate_ledger::verify(store.as_ref())?;
            if a.json {
                print_json(&json!({
                    "ok": report.ok(),
                    "entries": report.entries,
                    "first_break": report.first_break.as_ref().map(|(seq, why)| json!({ "entry": seq, "reason": why })),
                }));
            } else if let Some((seq, why)) = &report.first_break {
                println!("ledger altered at entry {seq}: {why}");
            } else {
                println!("ledger ok: {} entries verified", report.entries);
            }
            if report.ok() {
                Ok(())
            } else {
                Err(Failure { code: exit::VERIFY_FAILED, message: "the ledger does not verify".into() })
            }
        }
        LedgerCommand::Tail(a) => {
            for row in store.ledger_read(a.from, a.limit)? {
                let entry = Entry::decode(&row.body).map_err(|e| Failure::failed(format!("entry {}: {e}", row.seq)))?;
                let mut v = serde_json::to_value(&entry).unwrap_or_default();
                v["seq"] = json!(row.seq);
                v["hash"] = json!(hex::encode(row.hash));
                println!("{v}");
            }
            Ok(())
        }
    }
}
