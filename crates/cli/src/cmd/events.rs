//! `tollgate events ...`: read the change log, and apply changes to the
//! platform's data from a file, all or nothing.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use tollgate_domain::{EventChange, Timestamp};

use crate::config::Config;
use crate::{Failure, runtime};

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Print the change log's events as JSON lines, oldest first.
    List(ListArgs),
    /// Apply the changes of a JSON-lines file (one event per line), all or none.
    Apply(ApplyArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only events after this sequence number.
    #[arg(long, default_value_t = 0)]
    pub after: u64,
    /// At most this many events (0: all).
    #[arg(long, default_value_t = 0)]
    pub limit: usize,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// JSON lines: `{"type": "post_deleted", "post_id": 1}`..., or the output of `events list`.
    pub file: PathBuf,
}

pub fn run(config: &Config, command: EventsCommand) -> Result<(), Failure> {
    let store = runtime::open_store(config)?;
    match command {
        EventsCommand::List(a) => {
            let mut after = a.after;
            let mut left = if a.limit == 0 { usize::MAX } else { a.limit };
            while left > 0 {
                let batch = store.events_since(after, left.min(4096))?;
                let Some(last) = batch.last() else { break };
                after = last.seq;
                left -= batch.len();
                for event in &batch {
                    let line = serde_json::to_string(event)
                        .map_err(|e| Failure::failed(format!("encoding event {}: {e}", event.seq)))?;
                    outln!("{line}");
                }
            }
            Ok(())
        }
        EventsCommand::Apply(a) => {
            let (changes, lines, skipped) = read_changes(&a.file)?;
            let applied = store.apply_events(&changes).map_err(|e| {
                let message = name_line(&e.to_string(), &lines, &a.file);
                match e {
                    tollgate_store::StoreError::Backend(_) => Failure::failed(message),
                    _ => Failure::invalid(message),
                }
            })?;
            outln!(
                "applied {} change(s) from {}: {applied} event(s) recorded{}",
                changes.len(),
                a.file.display(),
                if skipped > 0 {
                    format!(
                        "; skipped {skipped} event(s) about apps, keys, agreements or imports, which are not replayed"
                    )
                } else {
                    String::new()
                }
            );
            Ok(())
        }
    }
}

/// The changes of `file` with their times, the line of each, and how many
/// events were skipped (not platform data).
type Read = (Vec<(Timestamp, EventChange)>, Vec<usize>, usize);

fn read_changes(file: &PathBuf) -> Result<Read, Failure> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Failure::invalid(format!("cannot read `{}`: {e}; nothing was applied", file.display())))?;
    let now = Timestamp::now();
    let (mut changes, mut lines, mut skipped) = (Vec::new(), Vec::new(), 0);
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |why: String| Failure::invalid(format!("{}:{n}: {why}; nothing was applied", file.display()));
        let mut object = match serde_json::from_str::<serde_json::Value>(line) {
            Ok(serde_json::Value::Object(o)) => o,
            Ok(_) => return Err(bad("each line must be one JSON object".into())),
            Err(e) => return Err(bad(format!("not JSON: {e}"))),
        };
        // `events list` writes the sequence number and the time; the
        // sequence number is the log's to assign, the time is kept.
        object.remove("seq");
        let time = match object.remove("time") {
            None => now,
            Some(serde_json::Value::String(t)) => Timestamp::parse(&t).map_err(|e| bad(format!("`time`: {e}")))?,
            Some(other) => return Err(bad(format!("`time` must be an RFC 3339 string, not {other}"))),
        };
        let change: EventChange =
            serde_json::from_value(serde_json::Value::Object(object)).map_err(|e| bad(e.to_string()))?;
        if !change.is_platform_data() {
            skipped += 1;
            continue;
        }
        changes.push((time, change));
        lines.push(n);
    }
    if changes.is_empty() && skipped == 0 {
        return Err(Failure::invalid(format!("`{}` holds no events; nothing was applied", file.display())));
    }
    Ok((changes, lines, skipped))
}

/// The store names a failed change by its index; the user knows it by its line.
fn name_line(message: &str, lines: &[usize], file: &std::path::Path) -> String {
    let Some(at) = message.find("change ") else { return format!("{message}; nothing was applied") };
    let digits: String = message[at + 7..].chars().take_while(char::is_ascii_digit).collect();
    let Some(line) = digits.parse::<usize>().ok().and_then(|i| lines.get(i)) else {
        return format!("{message}; nothing was applied");
    };
    format!(
        "{}:{line}: {}; nothing was applied",
        file.display(),
        message.replace(&format!("change {digits}: "), "").replace(&format!(" (change {digits})"), "")
    )
}
