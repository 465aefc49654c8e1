//! Per-app, per-endpoint rate limits in fixed windows, answered with X's
//! `x-rate-limit-*` headers. Limits are per tier (see `docs/configuration.md`);
//! 0 means unlimited. Counters live in memory: a restart starts fresh windows,
//! which errs on the side of the developer.

use std::collections::HashMap;
use std::sync::Mutex;

use tollgate_domain::{AppId, Tier, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    pub window_secs: u64,
    pub standard: u32,
    pub partner: u32,
    pub first_party: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits { window_secs: 900, standard: 900, partner: 9_000, first_party: 0 }
    }
}

impl RateLimits {
    pub fn for_tier(&self, tier: Tier) -> u32 {
        match tier {
            Tier::Standard => self.standard,
            Tier::Partner => self.partner,
            Tier::FirstParty => self.first_party,
        }
    }
}

/// The state of one window after counting a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub limit: u32,
    pub remaining: u32,
    /// Epoch seconds when the window resets.
    pub reset: u64,
    pub allowed: bool,
}

/// The requests counted so far in the window that starts at `start`.
#[derive(Debug, Clone, Copy)]
struct Count {
    start: u64,
    requests: u32,
}

pub struct RateLimiter {
    limits: RateLimits,
    windows: Mutex<HashMap<(AppId, &'static str), Count>>,
}

impl RateLimiter {
    pub fn new(limits: RateLimits) -> RateLimiter {
        RateLimiter { limits, windows: Mutex::new(HashMap::new()) }
    }

    /// Counts one request; `None` when the tier is unlimited.
    pub fn hit(&self, app: AppId, tier: Tier, endpoint: &'static str, now: Timestamp) -> Option<Window> {
        let limit = self.limits.for_tier(tier);
        if limit == 0 {
            return None;
        }
        let window = self.limits.window_secs.max(1);
        let now_s = now.seconds().max(0) as u64;
        let start = now_s - now_s % window;
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let count = windows.entry((app, endpoint)).or_insert(Count { start, requests: 0 });
        if count.start != start {
            *count = Count { start, requests: 0 };
        }
        let allowed = count.requests < limit;
        if allowed {
            count.requests += 1;
        }
        Some(Window { limit, remaining: limit - count.requests, reset: start + window, allowed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_after_the_limit_is_refused_until_the_window_resets() {
        let rl = RateLimiter::new(RateLimits { window_secs: 60, standard: 2, partner: 0, first_party: 0 });
        let t = Timestamp::from_millis(120_000);
        assert!(rl.hit(AppId(1), Tier::Standard, "e", t).unwrap().allowed);
        let w = rl.hit(AppId(1), Tier::Standard, "e", t).unwrap();
        assert!(w.allowed && w.remaining == 0);
        let w = rl.hit(AppId(1), Tier::Standard, "e", t).unwrap();
        assert!(!w.allowed && w.reset == 180);
        assert!(rl.hit(AppId(1), Tier::Standard, "other", t).unwrap().allowed, "limits are per endpoint");
        assert!(rl.hit(AppId(1), Tier::Standard, "e", Timestamp::from_millis(180_000)).unwrap().allowed);
        assert!(rl.hit(AppId(2), Tier::Partner, "e", t).is_none(), "0 means unlimited");
    }
}
