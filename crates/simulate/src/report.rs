//! The run's results per class, beside the targets the guard must meet, as a
//! table for people and JSON for scripts; and the evidence file: what each
//! actor sent, for checking the ledger's account of the run against it.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::Serialize;

use crate::actor::ActorStats;
use crate::plan::Class;

/// A target and whether the run met it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Target {
    pub text: String,
    pub figure: String,
    pub met: bool,
    /// False when the class got neither a `200` nor an answer of the guard
    /// (every request a 404, say, where the pages are not served): a figure
    /// of nothing served then says nothing of the guard, and the target is
    /// not met.
    pub measured: bool,
}

/// Shares of a legitimate class's requests the guard answered other than by
/// serving.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Shares {
    /// `429`s (throttle or quota) and tarpits.
    pub slowed: f64,
    pub challenged: f64,
    /// Blocks and `402`s.
    pub blocked_or_402: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassReport {
    pub class: String,
    pub actors: usize,
    /// Client addresses its requests came from.
    pub addresses: usize,
    pub requests: u64,
    /// `200`s, with posts or without.
    pub served: u64,
    pub content_responses: u64,
    /// Distinct posts served to the class, all its actors together.
    pub posts: usize,
    /// The most any one actor got.
    pub max_actor_posts: usize,
    /// Distinct posts served from paths robots.txt disallows for its agent.
    pub disallowed_posts: usize,
    pub stopped: usize,
    pub done: usize,
    pub budget: usize,
    /// Milliseconds from an actor's first request to its giving up: median
    /// and slowest of the stopped actors.
    pub time_to_stop_ms_median: Option<u64>,
    pub time_to_stop_ms_max: Option<u64>,
    pub throttled: u64,
    pub quota: u64,
    pub tarpitted: u64,
    pub licensed: u64,
    pub challenged: u64,
    pub blocked: u64,
    pub paid: u64,
    pub challenge_submissions: u64,
    pub other: u64,
    pub errors: u64,
    pub shares: Option<Shares>,
    /// Key farms: the farm's request number at which the guard first answered
    /// one of its keys (the sign the server linked them).
    pub linked_at: Option<u64>,
    pub targets: Vec<Target>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub seed: u64,
    pub plan_digest: String,
    pub elapsed_secs: f64,
    pub requests: u64,
    pub classes: Vec<ClassReport>,
    pub targets_met: usize,
    pub targets: usize,
    pub targets_unmeasured: usize,
}

fn median(mut v: Vec<u64>) -> Option<u64> {
    v.sort_unstable();
    v.get(v.len() / 2).copied()
}

fn pct(x: f64) -> String {
    format!("{:.3} %", x * 100.0)
}

pub fn class_report(class: Class, actors: &[&ActorStats], swarm_addresses: u32) -> ClassReport {
    let sum = |f: fn(&ActorStats) -> u64| actors.iter().map(|a| f(a)).sum::<u64>();
    let posts: BTreeSet<u64> = actors.iter().flat_map(|a| a.posts.iter().copied()).collect();
    let disallowed: BTreeSet<u64> = actors.iter().flat_map(|a| a.disallowed_posts.iter().copied()).collect();
    let addresses: BTreeSet<_> = actors.iter().flat_map(|a| a.addresses.iter().copied()).collect();
    let stops: Vec<u64> = actors.iter().filter_map(|a| a.stopped_after_ms).collect();
    let ends = |e: &str| actors.iter().filter(|a| a.end == e).count();
    let requests = sum(|a| a.requests);
    let mut r = ClassReport {
        class: class.name().into(),
        actors: actors.len(),
        addresses: addresses.len(),
        requests,
        served: sum(|a| a.served),
        content_responses: sum(|a| a.content),
        posts: posts.len(),
        max_actor_posts: actors.iter().map(|a| a.posts.len()).max().unwrap_or(0),
        disallowed_posts: disallowed.len(),
        stopped: ends("stopped"),
        done: ends("done"),
        budget: ends("budget"),
        time_to_stop_ms_median: median(stops.clone()),
        time_to_stop_ms_max: stops.iter().max().copied(),
        throttled: sum(|a| a.throttled),
        quota: sum(|a| a.quota),
        tarpitted: sum(|a| a.tarpitted),
        licensed: sum(|a| a.licensed),
        challenged: sum(|a| a.challenged),
        blocked: sum(|a| a.blocked),
        paid: sum(|a| a.paid),
        challenge_submissions: sum(|a| a.submitted),
        other: sum(|a| a.other),
        errors: sum(|a| a.errors),
        shares: None,
        linked_at: actors.iter().filter_map(|a| a.first_guard_at).min(),
        targets: Vec::new(),
    };
    let share = |n: u64| if requests == 0 { 0.0 } else { n as f64 / requests as f64 };
    if class.is_legitimate() {
        r.shares = Some(Shares {
            slowed: share(r.throttled + r.quota + r.tarpitted),
            challenged: share(r.challenged),
            blocked_or_402: share(r.blocked + r.licensed),
        });
    }
    let at_most = |text: &str, figure: usize, limit: usize| Target {
        text: text.into(),
        figure: figure.to_string(),
        met: figure <= limit,
        measured: true,
    };
    r.targets = match class {
        Class::AiHonest => vec![at_most("posts on disallowed paths = 0", r.disallowed_posts, 0)],
        Class::StealthDc => vec![at_most("posts <= 50", r.posts, 50)],
        Class::HeadlessFleet => vec![at_most("posts <= 200", r.posts, 200)],
        Class::ResidentialSwarm => vec![Target {
            text: "posts <= 1,000 (a swarm of 100,000 addresses)".into(),
            figure: format!("{} ({} addresses)", r.posts, swarm_addresses),
            met: r.posts <= 1000,
            measured: true,
        }],
        Class::IdEnumerator => vec![at_most("ids <= 100", r.posts, 100)],
        Class::KeyFarm => vec![Target {
            text: "linked within 5,000 requests".into(),
            figure: r.linked_at.map_or_else(|| format!("not linked in {requests}"), |n| format!("at request {n}")),
            met: r.linked_at.is_some_and(|n| n <= 5000),
            measured: true,
        }],
        c if c.is_person() => {
            let s = r.shares.unwrap_or(Shares { slowed: 0.0, challenged: 0.0, blocked_or_402: 0.0 });
            vec![
                Target {
                    text: "blocked or 402 <= 0.01 %".into(),
                    figure: pct(s.blocked_or_402),
                    met: s.blocked_or_402 <= 0.0001,
                    measured: true,
                },
                Target {
                    text: "challenged <= 1 %".into(),
                    figure: pct(s.challenged),
                    met: s.challenged <= 0.01,
                    measured: true,
                },
            ]
        }
        Class::ApiApp | Class::Partner => {
            let n = r.throttled + r.quota + r.tarpitted;
            vec![Target {
                text: "throttled within quota = 0".into(),
                figure: n.to_string(),
                met: n == 0,
                measured: true,
            }]
        }
        _ => Vec::new(),
    };
    let guard_answers = r.throttled + r.tarpitted + r.licensed + r.challenged + r.blocked;
    if r.served == 0 && guard_answers == 0 {
        for t in &mut r.targets {
            t.measured = false;
            t.met = false;
        }
    }
    r
}

impl Report {
    pub fn new(seed: u64, plan_digest: String, elapsed_secs: f64, classes: Vec<ClassReport>) -> Report {
        let requests = classes.iter().map(|c| c.requests).sum();
        let targets = classes.iter().map(|c| c.targets.len()).sum();
        let targets_met = classes.iter().flat_map(|c| &c.targets).filter(|t| t.met).count();
        let targets_unmeasured = classes.iter().flat_map(|c| &c.targets).filter(|t| !t.measured).count();
        Report { seed, plan_digest, elapsed_secs, requests, classes, targets_met, targets, targets_unmeasured }
    }

    /// The human table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<20} {:>6} {:>8} {:>7} {:>9} {:>10} {:>8} {:>10} {:>10}  target",
            "class", "actors", "requests", "posts", "stopped", "stop (s)", "slowed", "challenged", "blocked/402"
        );
        for c in &self.classes {
            let (slowed, challenged, blocked) = match c.shares {
                Some(s) => (pct(s.slowed), pct(s.challenged), pct(s.blocked_or_402)),
                None => ("-".into(), "-".into(), "-".into()),
            };
            let stop = c.time_to_stop_ms_median.map_or("-".into(), |m| format!("{:.1}", m as f64 / 1000.0));
            let targets = if c.targets.is_empty() {
                String::new()
            } else {
                c.targets
                    .iter()
                    .map(|t| {
                        let verdict = match (t.measured, t.met) {
                            (false, _) => "UNMEASURED",
                            (true, true) => "MET",
                            (true, false) => "MISSED",
                        };
                        format!("{verdict} {}: {}", t.text, t.figure)
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            let _ = writeln!(
                out,
                "{:<20} {:>6} {:>8} {:>7} {:>4}/{:<4} {:>10} {:>8} {:>10} {:>10}  {}",
                c.class, c.actors, c.requests, c.posts, c.stopped, c.actors, stop, slowed, challenged, blocked, targets
            );
        }
        let _ = writeln!(
            out,
            "{} requests in {:.1} s; targets met: {} of {} ({} unmeasured); seed {}, plan {}",
            self.requests,
            self.elapsed_secs,
            self.targets_met,
            self.targets,
            self.targets_unmeasured,
            self.seed,
            &self.plan_digest[..16.min(self.plan_digest.len())]
        );
        out
    }
}

/// What each actor sent, for the evidence check.
#[derive(Debug, Serialize)]
pub struct Evidence<'a> {
    pub seed: u64,
    pub server: String,
    pub actors: Vec<EvidenceActor<'a>>,
}

#[derive(Debug, Serialize)]
pub struct EvidenceActor<'a> {
    pub label: &'a str,
    pub class: &'a str,
    pub addresses: &'a [std::net::Ipv4Addr],
    pub user_agents: &'a [String],
    pub requests: u64,
    pub first_ms: u64,
    pub last_ms: u64,
}

pub fn evidence<'a>(seed: u64, server: String, stats: &'a [ActorStats]) -> Evidence<'a> {
    Evidence {
        seed,
        server,
        actors: stats
            .iter()
            .filter(|s| s.requests > 0)
            .map(|s| EvidenceActor {
                label: &s.label,
                class: &s.class,
                addresses: &s.addresses,
                user_agents: &s.user_agents,
                requests: s.requests,
                first_ms: s.first_ms,
                last_ms: s.last_ms,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(class: Class, f: impl FnOnce(&mut ActorStats)) -> ActorStats {
        let mut s = ActorStats { class: class.name().into(), end: "done".into(), ..ActorStats::default() };
        f(&mut s);
        s
    }

    #[test]
    fn a_key_farm_is_linked_at_the_first_guard_answer_to_any_of_its_keys() {
        let a = stats(Class::KeyFarm, |s| {
            s.requests = 3000;
            s.served = 2000;
            s.first_guard_at = Some(4800);
        });
        let b = stats(Class::KeyFarm, |s| {
            s.requests = 3000;
            s.served = 2000;
            s.first_guard_at = Some(5200);
        });
        let r = class_report(Class::KeyFarm, &[&a, &b], 0);
        assert_eq!(r.linked_at, Some(4800));
        assert!(r.targets[0].met, "{:?}", r.targets);
        let r = class_report(Class::KeyFarm, &[&b], 0);
        assert!(!r.targets[0].met);
        let never = stats(Class::KeyFarm, |s| {
            s.requests = 9000;
            s.served = 9000;
        });
        assert_eq!(class_report(Class::KeyFarm, &[&never], 0).targets[0].figure, "not linked in 9000");
    }

    #[test]
    fn peoples_shares_and_distinct_posts_over_the_class() {
        let a = stats(Class::PeopleMobile, |s| {
            s.requests = 10_000;
            s.challenged = 100;
            s.licensed = 1;
            s.posts = BTreeSet::from([1, 2, 3]);
        });
        let b = stats(Class::PeopleMobile, |s| {
            s.requests = 10_000;
            s.blocked = 1;
            s.throttled = 20;
            s.posts = BTreeSet::from([3, 4]);
            s.end = "stopped".into();
            s.stopped_after_ms = Some(1500);
        });
        let r = class_report(Class::PeopleMobile, &[&a, &b], 0);
        assert_eq!((r.posts, r.max_actor_posts, r.stopped, r.time_to_stop_ms_median), (4, 3, 1, Some(1500)));
        let s = r.shares.unwrap();
        assert_eq!((s.slowed, s.challenged, s.blocked_or_402), (0.001, 0.005, 0.0001));
        assert!(r.targets.iter().all(|t| t.met), "{:?}", r.targets);
        let c = stats(Class::PeopleMobile, |s| {
            s.requests = 100;
            s.served = 99;
            s.blocked = 1;
        });
        let r = class_report(Class::PeopleMobile, &[&c], 0);
        assert!(!r.targets[0].met && r.targets[1].met);
        let report = Report::new(1, "ab".repeat(32), 1.0, vec![r]);
        assert_eq!((report.targets_met, report.targets), (1, 2));
        assert!(report.table().contains("MISSED blocked or 402 <= 0.01 %: 1.000 %"), "{}", report.table());
    }

    #[test]
    fn a_class_nothing_was_served_to_measures_nothing() {
        // Every request a 404: no post served, yet the guard stopped nobody.
        let lost = stats(Class::StealthDc, |s| {
            s.requests = 500;
            s.other = 500;
        });
        let r = class_report(Class::StealthDc, &[&lost], 0);
        assert_eq!(r.posts, 0);
        assert!(!r.targets[0].measured && !r.targets[0].met);
        let blocked = stats(Class::StealthDc, |s| {
            s.requests = 500;
            s.blocked = 500;
        });
        let r = class_report(Class::StealthDc, &[&blocked], 0);
        assert!(r.targets[0].measured && r.targets[0].met);
        let report = Report::new(1, "ab".repeat(32), 1.0, vec![class_report(Class::StealthDc, &[&lost], 0)]);
        assert!(report.table().contains("UNMEASURED posts <= 50: 0"), "{}", report.table());
    }
}
