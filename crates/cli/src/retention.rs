//! Ledger retention: the cut-off a retention period gives, what a prune did
//! in words, and the prune `serve` runs on a schedule beside the writer
//! (docs/ledger.md, "Retention").

use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::Duration;

use tollgate_domain::Timestamp;
use tollgate_ledger::DAY_MILLIS;
use tollgate_ledger::{Ledger, PruneOutcome};

/// The first scheduled prune runs this long after `serve` starts, so that a
/// start (or a restart loop) is not slowed by a verification of the whole
/// ledger.
pub const PRUNE_FIRST_DELAY: Duration = Duration::from_secs(10 * 60);
/// Then once a day: retention is counted in days, and a prune verifies the
/// whole ledger first (about 24 s for 10M entries), so more often buys
/// nothing.
pub const PRUNE_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);

/// Entries older than this are expired at `now` under a retention of `days`.
pub fn cutoff(now: Timestamp, days: u32) -> Timestamp {
    Timestamp::from_millis(now.millis().saturating_sub(i64::from(days) * DAY_MILLIS))
}

/// One line on what a prune with cut-off `before` did (or, on a dry run,
/// would do).
pub fn describe(outcome: &PruneOutcome, before: Timestamp, dry_run: bool) -> String {
    let (seal, delete) = if dry_run { ("would seal", "would delete") } else { ("sealed", "deleted") };
    let deleted = match outcome.rows_deleted {
        0 => String::new(),
        n => format!("{delete} {n} stored rows of sealed entries"),
    };
    match &outcome.record {
        None if deleted.is_empty() => format!(
            "nothing to prune: no whole segment of entries from {} on is older than {before} and signed",
            outcome.cut
        ),
        None => format!("no new segment expired before {before}; {deleted} (sealed earlier)"),
        Some(r) => {
            let rows = if deleted.is_empty() {
                "; the rows stay stored for now: the segment holding the ledger's last entry goes once entries \
                 follow it"
                    .to_owned()
            } else {
                format!("; {deleted}")
            };
            let segments = match r.segments.len() {
                1 => "1 segment".to_owned(),
                n => format!("{n} segments"),
            };
            format!(
                "{seal} entries {}..{} ({segments} of 65,536) as expired before {before}, root {}{rows}",
                r.from,
                r.to - 1,
                hex::encode(r.range_root),
            )
        }
    }
}

/// The scheduled prune: a thread that prunes entries older than the
/// retention period `PRUNE_FIRST_DELAY` after it starts, then every
/// `PRUNE_INTERVAL`, and reports each run to `log`. A failed run is
/// reported and tried again at the next tick.
///
/// It runs on a thread of its own, never on the server's runtime: a run
/// verifies the whole ledger before it seals anything. It is safe beside the
/// running `LedgerWriter`, which only appends after the last row, the one row
/// a prune never deletes; `prune.lock` keeps it apart from a `ledger prune`
/// run by hand (the later of the two reports the ledger busy and stops).
/// An append waits for the deletion of at most one segment (one store
/// transaction) at a time.
#[derive(Debug)]
pub struct PruneSchedule {
    /// Dropping it stops the thread at its next wake-up; a run under way is
    /// not waited for (each of its steps is crash-safe).
    _stop: mpsc::Sender<()>,
}

impl PruneSchedule {
    pub fn start(
        ledger: Ledger,
        retention_days: u32,
        first_delay: Duration,
        interval: Duration,
        log: impl Fn(&str) + Send + 'static,
    ) -> std::io::Result<PruneSchedule> {
        let (stop, stopped) = mpsc::channel::<()>();
        thread::Builder::new().name("ledger-prune".into()).spawn(move || {
            let mut wait = first_delay;
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(wait) {
                let before = cutoff(Timestamp::now(), retention_days);
                match ledger.prune(before, false) {
                    Ok(outcome) => {
                        log(&format!("ledger retention ({retention_days} days): {}", describe(&outcome, before, false)))
                    }
                    Err(e) => log(&format!(
                        "ledger retention ({retention_days} days): the prune failed and is tried again in {} h: {e}",
                        interval.as_secs() / 3600
                    )),
                }
                wait = interval;
            }
        })?;
        Ok(PruneSchedule { _stop: stop })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cutoff_is_the_retention_period_before_now() {
        let now = Timestamp::from_millis(1_800_000_000_000);
        assert_eq!(cutoff(now, 730).millis(), 1_800_000_000_000 - 730 * DAY_MILLIS);
        assert_eq!(cutoff(Timestamp::from_millis(i64::MIN + 5), 1).millis(), i64::MIN);
    }
}
