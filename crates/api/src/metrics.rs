//! Prometheus metrics in the text exposition format, kept in atomics: no
//! registry crate, no locks on the request path except one for the
//! per-(endpoint, status) map.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use tollgate_domain::{Purpose, Reason};

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    delivered: [AtomicU64; 9],
    withheld: Mutex<BTreeMap<Reason, u64>>,
    refused: AtomicU64,
    request_nanos: AtomicU64,
    policy_nanos: AtomicU64,
    ledger_nanos: AtomicU64,
}

impl Metrics {
    pub fn request(&self, endpoint: &'static str, status: u16, nanos: u64) {
        *self.requests.lock().unwrap_or_else(|e| e.into_inner()).entry((endpoint, status)).or_insert(0) += 1;
        self.request_nanos.fetch_add(nanos, Relaxed);
    }

    pub fn delivery(
        &self,
        purpose: Purpose,
        delivered: usize,
        withheld: &BTreeMap<Reason, u32>,
        policy: u64,
        ledger: u64,
    ) {
        self.delivered[purpose.index()].fetch_add(delivered as u64, Relaxed);
        if !withheld.is_empty() {
            let mut w = self.withheld.lock().unwrap_or_else(|e| e.into_inner());
            for (reason, n) in withheld {
                *w.entry(*reason).or_insert(0) += u64::from(*n);
            }
        }
        self.policy_nanos.fetch_add(policy, Relaxed);
        self.ledger_nanos.fetch_add(ledger, Relaxed);
    }

    pub fn refusal(&self) {
        self.refused.fetch_add(1, Relaxed);
    }

    /// The exposition; `index_lag` is the entries the audit index has not
    /// reached yet.
    pub fn render(
        &self,
        ledger: Option<tollgate_ledger::WriterStats>,
        index_lag: Option<u64>,
        cache: tollgate_cache::CacheStats,
    ) -> String {
        let mut out = String::new();
        out.push_str("# HELP tollgate_http_requests_total Requests answered, by endpoint and status.\n");
        out.push_str("# TYPE tollgate_http_requests_total counter\n");
        for ((endpoint, status), n) in self.requests.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(out, "tollgate_http_requests_total{{endpoint=\"{endpoint}\",status=\"{status}\"}} {n}");
        }
        out.push_str("# HELP tollgate_posts_delivered_total Posts released, by purpose.\n");
        out.push_str("# TYPE tollgate_posts_delivered_total counter\n");
        for p in Purpose::ALL {
            let _ = writeln!(
                out,
                "tollgate_posts_delivered_total{{purpose=\"{p}\"}} {}",
                self.delivered[p.index()].load(Relaxed)
            );
        }
        out.push_str("# HELP tollgate_posts_withheld_total Posts withheld, by reason.\n");
        out.push_str("# TYPE tollgate_posts_withheld_total counter\n");
        for (reason, n) in self.withheld.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(out, "tollgate_posts_withheld_total{{reason=\"{reason}\"}} {n}");
        }
        let secs = |a: &AtomicU64| a.load(Relaxed) as f64 / 1e9;
        let _ = write!(
            out,
            "# HELP tollgate_requests_refused_total Requests the policy refused whole.\n\
             # TYPE tollgate_requests_refused_total counter\n\
             tollgate_requests_refused_total {}\n\
             # HELP tollgate_request_seconds_total Time spent in handlers.\n\
             # TYPE tollgate_request_seconds_total counter\n\
             tollgate_request_seconds_total {}\n\
             # HELP tollgate_policy_seconds_total Time spent deciding (attributes, classes, lookups).\n\
             # TYPE tollgate_policy_seconds_total counter\n\
             tollgate_policy_seconds_total {}\n\
             # HELP tollgate_ledger_wait_seconds_total Time responses waited for their ledger entry to be durable.\n\
             # TYPE tollgate_ledger_wait_seconds_total counter\n\
             tollgate_ledger_wait_seconds_total {}\n",
            self.refused.load(Relaxed),
            secs(&self.request_nanos),
            secs(&self.policy_nanos),
            secs(&self.ledger_nanos),
        );
        if let Some(l) = ledger {
            let _ = write!(
                out,
                "# HELP tollgate_ledger_commits_total Ledger transactions committed (one fsync each), since start.\n\
                 # TYPE tollgate_ledger_commits_total counter\n\
                 tollgate_ledger_commits_total {}\n\
                 # HELP tollgate_ledger_entries_total Ledger entries made durable, since start.\n\
                 # TYPE tollgate_ledger_entries_total counter\n\
                 tollgate_ledger_entries_total {}\n\
                 # HELP tollgate_ledger_unsigned_entries Entries committed after the newest signed head (normally 0: every commit's head is signed before its responses leave).\n\
                 # TYPE tollgate_ledger_unsigned_entries gauge\n\
                 tollgate_ledger_unsigned_entries {}\n",
                l.commits,
                l.entries,
                l.end.saturating_sub(l.signed)
            );
        }
        if let Some(lag) = index_lag {
            let _ = write!(
                out,
                "# HELP tollgate_ledger_index_lag_entries Entries committed that the audit index has not reached yet.\n\
                 # TYPE tollgate_ledger_index_lag_entries gauge\n\
                 tollgate_ledger_index_lag_entries {lag}\n"
            );
        }
        let _ = write!(
            out,
            "# HELP tollgate_cache_hits_total Reads answered from memory, since start.\n\
             # TYPE tollgate_cache_hits_total counter\n\
             tollgate_cache_hits_total {}\n\
             # HELP tollgate_cache_misses_total Reads that went to the store, since start.\n\
             # TYPE tollgate_cache_misses_total counter\n\
             tollgate_cache_misses_total {}\n\
             # HELP tollgate_cache_changes_total Changes applied from the store's change log, since start.\n\
             # TYPE tollgate_cache_changes_total counter\n\
             tollgate_cache_changes_total {}\n\
             # HELP tollgate_cache_applied_seq The last change of the store's log the cache applied.\n\
             # TYPE tollgate_cache_applied_seq gauge\n\
             tollgate_cache_applied_seq {}\n\
             # HELP tollgate_cache_items Items held in memory, by kind.\n\
             # TYPE tollgate_cache_items gauge\n\
             tollgate_cache_items{{kind=\"accounts\"}} {}\n\
             tollgate_cache_items{{kind=\"posts\"}} {}\n\
             tollgate_cache_items{{kind=\"timelines\"}} {}\n",
            cache.hits, cache.misses, cache.changes, cache.applied, cache.accounts, cache.posts, cache.timelines
        );
        out
    }
}
