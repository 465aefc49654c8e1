//! `tollgate ledger ...`: inspect, verify, prove and prune the delivery ledger,
//! and export what an auditor needs (the public key, signed checkpoints).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::json;
use tollgate_domain::Timestamp;
use tollgate_ledger::{
    Audit, Checkpoint, Entry, Ledger, LedgerError, ProofTarget, PublicKey, VerifyOptions, VerifyReport,
};

use crate::cmd::ledger_query::{self, QueryCommand};
use crate::cmd::print_json;
use crate::config::Config;
use crate::{Failure, exit, retention, runtime};

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Recompute the chain and the Merkle tree, check every signed checkpoint,
    /// and report the first entry where the ledger was altered.
    Verify(VerifyArgs),
    /// Print entries from `--from` on.
    Tail(TailArgs),
    /// Print the public key checkpoints are signed with (creating the key if
    /// there is none yet).
    Key(JsonArg),
    /// Export the latest signed checkpoint.
    Checkpoint(CheckpointArgs),
    /// Print an inclusion proof of one entry against a signed checkpoint.
    Prove(ProveArgs),
    /// Seal whole segments of expired entries in a signed prune record, then
    /// delete their rows.
    Prune(PruneArgs),
    /// Answer audit questions from the ledger's index.
    #[command(subcommand)]
    Query(QueryCommand),
    /// Rebuild the ledger's index from the entries (safe while serving).
    Reindex(JsonArg),
}

#[derive(Debug, Args)]
pub struct JsonArg {
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[arg(long)]
    pub json: bool,
    /// Check signatures against this public key (hex) instead of the data
    /// directory's own: the copy an auditor got from the published key.
    #[arg(long, value_name = "HEX")]
    pub key: Option<String>,
    /// A checkpoint exported earlier (`ledger checkpoint --out`) that the
    /// ledger must still match; repeatable.
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Vec<PathBuf>,
    /// Check the signature of every commit's head in the segment files, not
    /// only the newest (which covers every entry before it): slower, and
    /// finds only superseded heads forged apart from their chain hash.
    #[arg(long)]
    pub all_heads: bool,
}

#[derive(Debug, Args)]
pub struct TailArgs {
    #[arg(long, default_value_t = 0)]
    pub from: u64,
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
}

#[derive(Debug, Args)]
pub struct CheckpointArgs {
    #[arg(long)]
    pub json: bool,
    /// Write the checkpoint (as JSON) to FILE, atomically, instead of printing it.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ProveArgs {
    /// The entry's sequence number (its leaf index).
    #[arg(long, value_name = "SEQ")]
    pub entry: u64,
    /// `latest`, or the tree size of an earlier checkpoint.
    #[arg(long, value_name = "latest|SIZE", default_value = "latest")]
    pub checkpoint: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Entries older than this (RFC 3339) are expired; default: now less
    /// the retention period.
    #[arg(long, value_name = "TIME", conflicts_with = "retention_days")]
    pub before: Option<String>,
    /// The retention period; default: the configuration key
    /// `ledger_retention_days` (730).
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..))]
    pub retention_days: Option<u32>,
    /// Show what would be sealed and deleted without writing anything.
    #[arg(long)]
    pub dry_run: bool,
    #[arg(long)]
    pub json: bool,
}

/// Exit codes: an altered ledger is `VERIFY_FAILED`, a request the ledger
/// cannot answer (no such entry or checkpoint) is `INVALID_INPUT`.
fn failure(e: LedgerError) -> Failure {
    match e {
        LedgerError::Altered(_) => Failure { code: exit::VERIFY_FAILED, message: e.to_string() },
        LedgerError::Invalid(_) => Failure::invalid(e.to_string()),
        _ => Failure::failed(e.to_string()),
    }
}

pub fn run(config: &Config, command: LedgerCommand) -> Result<(), Failure> {
    let store = runtime::open_ledger_db(config)?;
    let ledger = Ledger::new(store.clone(), &config.data_dir);
    // The commands that read entries from the store's copy see every durable
    // one, even right after a crash (`Ledger::catch_up_copy`); `verify`
    // compares the copy with the segment files as it stands.
    if matches!(
        command,
        LedgerCommand::Tail(_) | LedgerCommand::Query(_) | LedgerCommand::Reindex(_) | LedgerCommand::Prove(_)
    ) {
        ledger.catch_up_copy().map_err(failure)?;
    }
    match command {
        LedgerCommand::Verify(a) => verify(&ledger, &a),
        LedgerCommand::Tail(a) => {
            for row in store.ledger_read(a.from, a.limit)? {
                let entry = Entry::decode(&row.body).map_err(|e| Failure::failed(format!("entry {}: {e}", row.seq)))?;
                let mut v = entry.to_readable_json().map_err(|e| Failure::failed(format!("entry {}: {e}", row.seq)))?;
                v["seq"] = json!(row.seq);
                v["hash"] = json!(hex::encode(row.hash));
                outln!("{v}");
            }
            Ok(())
        }
        LedgerCommand::Query(q) => ledger_query::run(store.as_ref(), q, failure),
        LedgerCommand::Reindex(a) => {
            let started = std::time::Instant::now();
            let mut shown = 0;
            let report = Audit::new(store.as_ref())
                .reindex(|done| {
                    if !a.json && done >= shown + 1_000_000 {
                        shown = done;
                        eprintln!("indexed {done} entries");
                    }
                })
                .map_err(failure)?;
            let seconds = started.elapsed().as_secs_f64();
            if a.json {
                print_json(&json!({ "entries": report.entries, "seconds": seconds }));
            } else {
                outln!("indexed {} entries in {seconds:.1} s", report.entries);
            }
            Ok(())
        }
        LedgerCommand::Key(a) => {
            let existed = ledger.public_key().map_err(failure)?.is_some();
            let key = ledger.create_key().map_err(failure)?;
            if !existed {
                eprintln!("created the ledger key in {}", ledger.files().key_path().display());
            }
            if a.json {
                print_json(&key.to_json());
            } else {
                outln!("{}", key.hex());
            }
            Ok(())
        }
        LedgerCommand::Checkpoint(a) => {
            let (cp, key) = ledger.latest_checkpoint().map_err(failure)?.ok_or_else(|| {
                Failure::failed("there is no signed checkpoint yet: the server signs one once entries exist")
            })?;
            let doc = cp.to_json(&key);
            if let Some(out) = &a.out {
                let text = serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n";
                tollgate_ledger::write_atomic(out, text.as_bytes()).map_err(failure)?;
                if !a.json {
                    outln!("checkpoint of size {} ({}) written to {}", cp.size, cp.time, out.display());
                }
            } else if a.json {
                print_json(&doc);
            } else {
                print_checkpoint(&cp, &key);
            }
            Ok(())
        }
        LedgerCommand::Prove(a) => {
            let target = match a.checkpoint.as_str() {
                "latest" => ProofTarget::Latest,
                size => ProofTarget::Size(size.parse().map_err(|_| {
                    Failure::invalid(format!("`--checkpoint {size}`: expected `latest` or a tree size"))
                })?),
            };
            let proof = ledger.prove(a.entry, target).map_err(failure)?;
            if a.json {
                print_json(&proof.to_json());
            } else {
                outln!("entry:       {}", proof.seq);
                outln!("body:        {}", String::from_utf8_lossy(&proof.body));
                outln!("leaf hash:   {}", hex::encode(proof.leaf_hash()));
                outln!("tree size:   {}", proof.checkpoint.size);
                outln!("audit path:  {} hashes, the leaf's sibling first", proof.path.len());
                for h in &proof.path {
                    outln!("  {}", hex::encode(h));
                }
                print_checkpoint(&proof.checkpoint, &proof.public_key);
                outln!("the proof verifies: the entry is in the tree the checkpoint signs");
            }
            Ok(())
        }
        LedgerCommand::Prune(a) => {
            let before = match (&a.before, a.retention_days.or(config.ledger_retention_days)) {
                (Some(t), _) => Timestamp::parse(t).map_err(|e| Failure::invalid(format!("`--before {t}`: {e}")))?,
                (None, Some(days)) => retention::cutoff(Timestamp::now(), days),
                (None, None) => {
                    return Err(Failure::invalid(
                        "ledger retention is off (`ledger_retention_days = 0`), so nothing expires: give `--before \
                         TIME` or `--retention-days N` to prune anyway",
                    ));
                }
            };
            let outcome = ledger.prune(before, a.dry_run).map_err(failure)?;
            if a.json {
                print_json(&json!({
                    "before": before.to_string(),
                    "dry_run": a.dry_run,
                    "recorded": outcome.recorded,
                    "cut": outcome.cut,
                    "record": outcome.record.as_ref().map(|r| r.to_json()),
                    "rows_deleted": outcome.rows_deleted,
                }));
            } else {
                outln!("{}", retention::describe(&outcome, before, a.dry_run));
            }
            Ok(())
        }
    }
}

fn verify(ledger: &Ledger, a: &VerifyArgs) -> Result<(), Failure> {
    let key = a.key.as_deref().map(PublicKey::from_hex).transpose().map_err(|e| Failure::invalid(e.to_string()))?;
    let mut extra = Vec::new();
    for path in &a.checkpoint {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure::invalid(format!("cannot read {}: {e}", path.display())))?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Failure::invalid(format!("{} is not JSON: {e}", path.display())))?;
        // A proof carries its checkpoint inside; a checkpoint file is one.
        let doc = value.get("checkpoint").unwrap_or(&value);
        extra.push(Checkpoint::from_json(doc).map_err(|e| Failure::invalid(format!("{}: {e}", path.display())))?);
    }
    let options = VerifyOptions { key, extra_checkpoints: extra, all_heads: a.all_heads };
    let report = ledger.verify(&options).map_err(failure)?;
    if a.json {
        print_json(&report_json(&report));
    } else {
        print_report(&report);
    }
    if report.ok() {
        Ok(())
    } else {
        Err(Failure { code: exit::VERIFY_FAILED, message: "the ledger does not verify".into() })
    }
}

fn report_json(r: &VerifyReport) -> serde_json::Value {
    let brk = |b: &tollgate_ledger::Break| json!({ "entry": b.entry, "kind": b.kind.as_str(), "reason": b.reason });
    json!({
        "ok": r.ok(),
        "entries": r.entries,
        "stored": r.stored,
        "root": hex::encode(r.root),
        "chain": hex::encode(r.chain),
        "checkpoints": {
            "verified": r.checkpoints,
            "matched": r.checkpoints_matched,
            "latest": r.latest_checkpoint.as_ref().map(|c| json!({
                "size": c.size, "time": c.time.to_string(), "root": hex::encode(c.root),
            })),
        },
        "pruned": r.pruned.iter().map(|p| {
            let mut v = p.record.to_json();
            v["rows_removed"] = json!(p.rows_removed);
            v
        }).collect::<Vec<_>>(),
        "first_break": r.first_break().map(brk),
        "breaks": r.breaks.iter().map(brk).collect::<Vec<_>>(),
        "notes": r.notes,
    })
}

fn print_report(r: &VerifyReport) {
    match r.first_break() {
        Some(b) => match b.entry {
            Some(entry) => outln!("ledger altered at entry {entry} ({}): {}", b.kind.as_str(), b.reason),
            None => outln!("ledger record altered ({}): {}", b.kind.as_str(), b.reason),
        },
        None => {
            outln!("ledger ok: {} entries verified, root {}", r.entries, hex::encode(r.root));
            match &r.latest_checkpoint {
                Some(c) => outln!(
                    "{} signed checkpoints verified, {} matched; the latest covers {} entries, signed at {}",
                    r.checkpoints,
                    r.checkpoints_matched,
                    c.size,
                    c.time
                ),
                None => outln!("no signed checkpoint yet"),
            }
        }
    }
    for b in r.breaks.iter().skip(1) {
        outln!("also: {} ({})", b.reason, b.kind.as_str());
    }
    for p in &r.pruned {
        let state = if p.rows_removed { "removed" } else { "still stored" };
        outln!(
            "pruned: entries {}..{} expired before {} (sealed at {}, rows {state})",
            p.record.from,
            p.record.to - 1,
            p.record.before,
            p.record.time
        );
    }
    for n in &r.notes {
        outln!("note: {n}");
    }
}

fn print_checkpoint(cp: &Checkpoint, key: &PublicKey) {
    outln!("checkpoint:  {} entries, signed at {}", cp.size, cp.time);
    outln!("  root:       {}", hex::encode(cp.root));
    outln!("  chain:      {}", hex::encode(cp.chain));
    outln!("  key id:     {}", hex::encode(cp.key_id));
    outln!("  public key: {} (ed25519)", key.hex());
    outln!("  signature:  {}", hex::encode(cp.signature));
}
