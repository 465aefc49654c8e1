//! Benchmark of the policy engine: the same generated cases decided by the
//! compiled path (`decide`) and by the reference path (`evaluate`, Cedar every
//! time), and the latency of deciding a 100-post page including gathering each
//! post's facts from its author's account. Prints plain-text lines for
//! `BENCHMARKS.md`.
//!
//! `cargo run --release -p tollgate-policy --example bench_policy -- [--cases N] [--pages N]`

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::HashSet;
use std::hint::black_box;
use std::time::{Duration, Instant};

use support::{NOW, Rng};
use tollgate_domain::{AuthorFacts, ConsentDefaults, ContentClass, Decision, PostFacts, Purpose};
use tollgate_policy::PolicyEngine;

const AUTHORS: usize = 10_000;
const APPS: usize = 64;
const POSTS: usize = 100_000;
const PAGE: usize = 100;

#[derive(Debug, thiserror::Error)]
enum ArgError {
    #[error("`{0}` needs a value")]
    Missing(String),
    #[error("`{flag}` expects a positive whole number, not `{value}`")]
    NotANumber { flag: String, value: String },
    #[error("unknown argument `{0}`; expected `--cases N` or `--pages N`")]
    Unknown(String),
}

fn args() -> Result<(usize, usize), ArgError> {
    let (mut cases, mut pages) = (1_000_000, 20_000);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let target = match flag.as_str() {
            "--cases" => &mut cases,
            "--pages" => &mut pages,
            _ => return Err(ArgError::Unknown(flag)),
        };
        let value = it.next().ok_or_else(|| ArgError::Missing(flag.clone()))?;
        *target = value.replace('_', "").parse().ok().filter(|n| *n > 0).ok_or(ArgError::NotANumber { flag, value })?;
    }
    Ok((cases, pages))
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (cases, pages) = args()?;
    let engine = PolicyEngine::builtin()?;
    let defaults = ConsentDefaults::default();
    let mut rng = Rng::new(0xbe9c_4a11_7011_6a7e);
    let mut accounts: Vec<_> = (0..AUTHORS as u64).map(|id| support::account(&mut rng, id + 1)).collect();
    let apps: Vec<_> = (0..APPS as u64).map(|id| support::app_facts(&mut rng, id + 1)).collect();

    // The cases, with authors changing their settings as they go.
    let mut generated: Vec<(usize, Purpose, PostFacts)> = Vec::with_capacity(cases);
    for i in 0..cases {
        if rng.chance(25) {
            let a = rng.below(AUTHORS);
            support::mutate(&mut rng, &mut accounts[a]);
        }
        let app = rng.below(APPS);
        let purpose = support::purpose(&mut rng, &apps[app]);
        let account = &accounts[rng.below(AUTHORS)];
        let post = support::post(&mut rng, i as u64 + 1, account);
        generated.push((app, purpose, PostFacts::of(&post, AuthorFacts::of(account, &defaults, NOW))));
    }
    let distinct: HashSet<(usize, Purpose, ContentClass)> =
        generated.iter().map(|(a, p, f)| (*a, *p, f.class())).collect();

    // (a) The compiled path, first with an empty cache, then warm.
    let t = Instant::now();
    let compiled: Vec<Decision> = generated.iter().map(|(a, p, f)| engine.decide(&apps[*a], *p, f.class())).collect();
    let cold = t.elapsed();
    let t = Instant::now();
    for (a, p, f) in &generated {
        black_box(engine.decide(&apps[*a], *p, black_box(f).class()));
    }
    let warm = t.elapsed();

    // (b) The reference path: Cedar for every case.
    let t = Instant::now();
    let reference: Vec<Decision> = generated.iter().map(|(a, p, f)| engine.evaluate(&apps[*a], *p, f)).collect();
    let cedar = t.elapsed();

    let same = compiled.iter().zip(&reference).filter(|(c, r)| c == r).count();
    let oracle =
        generated.iter().zip(&reference).filter(|((a, p, f), r)| support::oracle(&apps[*a], *p, f) == **r).count();
    let allowed = reference.iter().filter(|d| d.is_allowed()).count();

    // Pages: gather each post's facts from its author's account, then decide.
    // Authors keep changing their settings before the pages are read.
    for _ in 0..AUTHORS {
        let a = rng.below(AUTHORS);
        support::mutate(&mut rng, &mut accounts[a]);
    }
    let posts: Vec<_> = (0..POSTS)
        .map(|i| {
            let author = rng.below(AUTHORS);
            (author, support::post(&mut rng, (cases + i) as u64, &accounts[author]))
        })
        .collect();
    let specs: Vec<(usize, Purpose, usize)> = (0..pages)
        .map(|_| {
            let app = rng.below(APPS);
            (app, support::purpose(&mut rng, &apps[app]), rng.below(POSTS - PAGE))
        })
        .collect();
    let mut classes = Vec::with_capacity(PAGE);
    let mut out = Vec::with_capacity(PAGE);
    // Per page: the whole time (gathering and deciding) and deciding alone.
    let mut run_pages = || {
        let mut latencies = Vec::with_capacity(pages);
        let mut deciding = Vec::with_capacity(pages);
        for &(app, purpose, start) in &specs {
            let t = Instant::now();
            classes.clear();
            for (author, post) in &posts[start..start + PAGE] {
                let facts = PostFacts::of(post, AuthorFacts::of(&accounts[*author], &defaults, NOW));
                classes.push(facts.class());
            }
            let gathered = Instant::now();
            engine.decide_page(&apps[app], purpose, &classes, &mut out);
            black_box(&out);
            let done = Instant::now();
            latencies.push(done - t);
            deciding.push(done - gathered);
        }
        latencies.sort_unstable();
        deciding.sort_unstable();
        (latencies, deciding)
    };
    // First sight: some posts' (app, purpose, class) have not been seen yet
    // and go to Cedar. Second pass over the same pages: all from memory.
    let (first, _) = run_pages();
    let (again, deciding) = run_pages();
    let pct = |l: &[Duration], q: f64| micros(l[((l.len() as f64 * q) as usize).min(l.len() - 1)]);

    println!(
        "bench_policy: {cases} cases ({allowed} allowed), {APPS} apps, {AUTHORS} authors, built-in pack {}",
        &engine.version()[..12]
    );
    println!(
        "decide, first pass (empty cache, {} distinct app/purpose/class keys sent to Cedar): {:.0} decisions/s ({:.2} s)",
        distinct.len(),
        rate(cases, cold),
        cold.as_secs_f64()
    );
    println!(
        "decide, warm cache: {:.0} decisions/s ({:.1} ns/decision)",
        rate(cases, warm),
        warm.as_nanos() as f64 / cases as f64
    );
    println!(
        "evaluate (Cedar every time): {:.0} decisions/s ({:.1} µs/decision)",
        rate(cases, cedar),
        micros(cedar) / cases as f64
    );
    println!(
        "ratio decide/evaluate: {:.0}x warm, {:.1}x including the first pass",
        cedar.as_secs_f64() / warm.as_secs_f64(),
        cedar.as_secs_f64() / cold.as_secs_f64()
    );
    println!(
        "results identical: {} ({same}/{cases} decide == evaluate; {oracle}/{cases} agree with the plain-Rust oracle)",
        if same == cases && oracle == cases { "yes" } else { "NO" }
    );
    println!(
        "page of {PAGE} (AuthorFacts::of + PostFacts::of + class per post, then decide_page), {pages} pages, cache warm: p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
        pct(&again, 0.50),
        pct(&again, 0.99),
        pct(&again, 1.0)
    );
    println!(
        "of which decide_page alone, cache warm: p50 {:.2} µs, p99 {:.2} µs",
        pct(&deciding, 0.50),
        pct(&deciding, 0.99)
    );
    println!(
        "same pages at first sight (cache misses go to Cedar): p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
        pct(&first, 0.50),
        pct(&first, 0.99),
        pct(&first, 1.0)
    );
    if same != cases || oracle != cases {
        return Err("the compiled path, Cedar and the oracle disagree".into());
    }
    Ok(())
}
