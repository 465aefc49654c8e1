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
    let indexed = crate::blocking(|| state.store.ledger_indexed_end()).ok()?;
    let ledger = state.deliverer.ledger_stats()?;
    Some(ledger.end.saturating_sub(indexed))
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
            let last = crate::blocking(|| state.store.ledger_last());
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
            let tail = w.end.saturating_sub(w.signed);
            let now_ms =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
            let age = Duration::from_millis(now_ms.saturating_sub(w.signed_at_ms));
            if tail == 0 {
                check("ledger_signer", true, format!("the signed head covers all {} entries", w.end));
            } else if age < SIGNER_STALL {
                check("ledger_signer", true, format!("{tail} entries being signed"));
            } else {
                check(
                    "ledger_signer",
                    false,
                    format!(
                        "{tail} entries committed after the newest signed head, which was stored {}s ago",
                        age.as_secs()
                    ),
                );
            }
            match index_lag(state).await {
                Some(lag) if lag <= state.config.health.max_index_lag => {
                    check("ledger_indexer", true, format!("{lag} entries behind"))
                }
                Some(lag) => check(
                    "ledger_indexer",
                    false,
                    format!(
                        "{lag} entries behind, more than {} (`health_max_index_lag`)",
                        state.config.health.max_index_lag
                    ),
                ),
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
