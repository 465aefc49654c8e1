//! `/healthz`: whether this server can answer, and if not, what is wrong.
//!
//! Four checks, each cheap enough for a load balancer's probe every second:
//! the store answers a query (the change log's last sequence number, the
//! query every content request starts with); the ledger's writer thread
//! runs; the signed head keeps up with the commits (a commit's responses
//! wait for a head covering it, so entries committed after the newest head
//! for longer than `SIGNER_STALL` mean the head thread is stuck or failing);
//! and the audit index is no more than `max_index_lag` entries behind the
//! ledger. `200` when every check passes, `503` when one fails; the body
//! lists each check with its status and a detail either way.
//!
//! Nothing here counts rows: an answer costs two indexed reads.

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::ApiState;

/// How long entries may stay committed without a signed head covering them
/// before the signer counts as unhealthy. A head is normally stored within
/// a commit's time (milliseconds); seconds mean it is not being stored.
pub const SIGNER_STALL: Duration = Duration::from_secs(10);

/// When `/healthz` calls the ledger unhealthy (configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthLimits {
    /// Entries the audit index may lag behind the ledger (`health_max_index_lag`).
    pub max_index_lag: u64,
}

impl HealthLimits {
    pub const DEFAULT: HealthLimits = HealthLimits { max_index_lag: 100_000 };
}

impl Default for HealthLimits {
    fn default() -> Self {
        HealthLimits::DEFAULT
    }
}

/// Entries committed that the audit index has not reached (`None` when
/// nothing is recorded, or the store cannot say).
pub(crate) async fn index_lag(state: &ApiState) -> Option<u64> {
    // The index's end is read first: it only grows, and never past the
    // writer's end read after it.
    let indexed = crate::blocking(|| state.ledger_db.ledger_indexed_end()).ok()?;
    let ledger = state.deliverer.ledger_stats()?;
    Some(ledger.end.saturating_sub(indexed))
}

/// The signer's check: healthy while every committed entry is covered by
/// the newest signed head, or the uncovered ones are younger than
/// `SIGNER_STALL` (a head is being signed).
fn signer(w: &tollgate_ledger::WriterStats, now_ms: u64) -> (bool, String) {
    let tail = w.end.saturating_sub(w.signed);
    let age = Duration::from_millis(now_ms.saturating_sub(w.signed_at_ms));
    if tail == 0 {
        (true, format!("the signed head covers all {} entries", w.end))
    } else if age < SIGNER_STALL {
        (true, format!("{tail} entries being signed"))
    } else {
        (
            false,
            format!("{tail} entries committed after the newest signed head, which was stored {}s ago", age.as_secs()),
        )
    }
}

/// The indexer's check: healthy within `max` entries of the ledger's end.
fn indexer(lag: u64, max: u64) -> (bool, String) {
    if lag <= max {
        (true, format!("{lag} entries behind"))
    } else {
        (false, format!("{lag} entries behind, more than {max} (`health_max_index_lag`)"))
    }
}

pub(crate) async fn healthz(state: &ApiState) -> Response {
    let mut checks = serde_json::Map::new();
    let mut healthy = true;
    let mut check = |name: &str, ok: bool, detail: String| {
        healthy &= ok;
        checks.insert(name.to_owned(), json!({ "status": if ok { "ok" } else { "failing" }, "detail": detail }));
    };
    match crate::blocking(|| state.store.change_seq()) {
        Ok(seq) => check("store", true, format!("answers (change log at {seq})")),
        Err(e) => check("store", false, format!("does not answer: {e}")),
    }
    let ledger_entries: Value;
    match state.deliverer.ledger_stats() {
        None => {
            let last = crate::blocking(|| state.ledger_db.ledger_last());
            ledger_entries = last.ok().map(|r| r.map_or(0, |r| r.seq + 1)).into();
            check("ledger_writer", true, "nothing is recorded (a benchmark build)".into());
        }
        Some(w) => {
            ledger_entries = w.end.into();
            if w.running {
                check("ledger_writer", true, format!("running; {} entries", w.end));
            } else {
                check("ledger_writer", false, "stopped: nothing can be released".into());
            }
            let now_ms =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
            let (ok, detail) = signer(&w, now_ms);
            check("ledger_signer", ok, detail);
            match index_lag(state).await {
                Some(lag) => {
                    let (ok, detail) = indexer(lag, state.config.health.max_index_lag);
                    check("ledger_indexer", ok, detail);
                }
                None => check("ledger_indexer", false, "the index's end cannot be read".into()),
            }
        }
    }
    let status = if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = json!({
        "status": if healthy { "ok" } else { "unhealthy" },
        "policy_version": state.deliverer.policy().version(),
        "ledger_entries": ledger_entries,
        "checks": checks,
    });
    (status, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_ledger::WriterStats;

    #[test]
    fn an_unsigned_tail_fails_only_once_it_is_stale() {
        let signed_at_ms = 1_000_000;
        let w = WriterStats { end: 10, signed: 10, signed_at_ms, running: true, ..WriterStats::default() };
        let later = signed_at_ms + 60_000;
        assert!(signer(&w, later).0, "nothing unsigned: healthy however old the head");
        let behind = WriterStats { end: 12, ..w };
        assert!(signer(&behind, signed_at_ms + 500).0, "a head is being signed");
        let stale = signer(&behind, signed_at_ms + SIGNER_STALL.as_millis() as u64);
        assert!(!stale.0 && stale.1.contains("2 entries"), "{}", stale.1);
    }

    #[test]
    fn the_index_lag_fails_past_its_limit() {
        assert!(indexer(100, 100).0);
        let (ok, detail) = indexer(101, 100);
        assert!(!ok && detail.contains("health_max_index_lag"), "{detail}");
    }
}
