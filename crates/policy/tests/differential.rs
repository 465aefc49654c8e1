//! The differential test: on a million random (app facts, purpose, item)
//! cases, the item a post or an account's profile, the compiled path
//! (`decide`, `decide_page`) must give exactly what the reference path
//! (`evaluate`, Cedar every time) gives, and both must give what a plain-Rust
//! oracle of the built-in pack gives. Authors change their preferences, flags
//! and status between requests, and apps their facts, all against one engine,
//! so a stale cache entry would show up as a mismatch; posts and profiles
//! share that engine and its tables, so a profile answered from a post's slot
//! (or the reverse) would too.

mod support;

use support::{NOW, Rng};
use tollgate_domain::{AuthorFacts, ConsentDefaults, ContentClass, Decision, ItemFacts, PostFacts, RegionGroup};
use tollgate_policy::PolicyEngine;

/// Override with `TOLLGATE_DIFFERENTIAL_CASES` for a quicker or longer run.
const CASES: usize = 1_000_000;
const ACCOUNTS: usize = 2_000;
const APPS: usize = 64;
const PAGE: usize = 100;

/// What one worker saw.
#[derive(Default)]
struct Stats {
    checked: usize,
    profiles: usize,
    allowed: usize,
    pages: usize,
    mutations: usize,
}

/// Two workers share the one engine, as the server's request handlers do; each
/// has its own accounts and apps and a seed of its own.
#[test]
fn compiled_path_equals_cedar_equals_oracle() {
    let cases = std::env::var("TOLLGATE_DIFFERENTIAL_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(CASES);
    let engine = PolicyEngine::builtin().unwrap();
    let workers = 2;
    let stats: Vec<Stats> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let share = cases / workers + usize::from(w < cases % workers);
                let engine = &engine;
                scope.spawn(move || run(engine, 0x7011_6a7e_d1ff_0001 + w as u64, w as u64, share))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let total = |f: fn(&Stats) -> usize| stats.iter().map(f).sum::<usize>();
    let (checked, allowed) = (total(|s| s.checked), total(|s| s.allowed));
    println!(
        "differential: {checked} cases checked ({} profiles, {allowed} allowed), {} pages of {PAGE}, {} account changes, {workers} threads",
        total(|s| s.profiles),
        total(|s| s.pages),
        total(|s| s.mutations),
    );
    assert_eq!(checked, cases);
    assert!(allowed > cases / 50 && allowed < cases - cases / 50, "the cases should mix outcomes: {allowed} allowed");
    let profiles = total(|s| s.profiles);
    assert!(profiles > cases / 8 && profiles < cases / 2, "about one case in four is a profile: {profiles}");
}

fn run(engine: &PolicyEngine, seed: u64, worker: u64, cases: usize) -> Stats {
    let defaults = ConsentDefaults::default();
    let mut rng = Rng::new(seed);
    // Ids are spread by worker so that the two never share an app id (and so
    // never an `AppFacts` key) by accident.
    let base = worker * 1_000_000_000;
    let mut accounts: Vec<_> = (0..ACCOUNTS as u64).map(|id| support::account(&mut rng, base + id + 1)).collect();
    let mut apps: Vec<_> = (0..APPS as u64).map(|id| support::app_facts(&mut rng, base + id + 1)).collect();
    let mut next_app_id = base + APPS as u64 + 1;
    let mut stats = Stats::default();
    let mut page_classes = Vec::with_capacity(PAGE);
    let mut page_items = Vec::with_capacity(PAGE);
    let mut out = Vec::with_capacity(PAGE);

    for i in 0..cases {
        // Authors change their minds between requests.
        if rng.chance(25) {
            let a = rng.below(ACCOUNTS);
            support::mutate(&mut rng, &mut accounts[a]);
            stats.mutations += 1;
        }
        // Now and then an app's facts change (a new license, a lapsed agreement).
        if rng.below(2_000) == 0 {
            let a = rng.below(APPS);
            apps[a] = support::app_facts(&mut rng, next_app_id);
            next_app_id += 1;
        }
        let app = &apps[rng.below(APPS)];
        let purpose = support::purpose(&mut rng, app);
        let account = &accounts[rng.below(ACCOUNTS)];
        let item = random_item(&mut rng, base + i as u64 + 1, account, &defaults);

        let reference = engine.evaluate(app, purpose, item);
        let compiled = engine.decide(app, purpose, item.class());
        assert_eq!(compiled, reference, "case {i}: compiled path differs for {app:?} {purpose} {item:?}");
        let expected = support::oracle(app, purpose, item);
        assert_eq!(reference, expected, "case {i}: Cedar differs from the oracle for {app:?} {purpose} {item:?}");
        if let ItemFacts::Profile(owner) = item {
            // A profile goes wherever a plain post of its owner goes.
            let plain = PostFacts { author: owner, no_ai: false, deleted: false };
            assert_eq!(reference, engine.decide(app, purpose, plain.class()), "case {i}: profile and post differ");
            stats.profiles += 1;
        }
        stats.allowed += usize::from(reference.is_allowed());
        stats.checked += 1;

        // Every so often a whole page through `decide_page`.
        if i % 1_000 == 999 {
            page_classes.clear();
            page_items.clear();
            for _ in 0..PAGE {
                let account = &accounts[rng.below(ACCOUNTS)];
                let item = random_item(&mut rng, base + 999_999_999, account, &defaults);
                page_classes.push(item.class());
                page_items.push(item);
            }
            engine.decide_page(app, purpose, &page_classes, &mut out);
            assert_eq!(out.len(), PAGE);
            for (n, item) in page_items.iter().enumerate() {
                assert_eq!(out[n], engine.evaluate(app, purpose, item), "page case {i}/{n}");
                assert_eq!(out[n], support::oracle(app, purpose, item), "page case {i}/{n} against the oracle");
            }
            // The whole-request refusal, against the oracle on the most
            // permissive post and profile of each region group.
            let best = |region_group| {
                let owner = AuthorFacts {
                    consent: [[true; 2]; 3],
                    protected: false,
                    minor: false,
                    region_group,
                    status: tollgate_domain::AccountStatus::Active,
                };
                let post = PostFacts { author: owner, no_ai: false, deleted: false };
                [support::oracle(app, purpose, post), support::oracle(app, purpose, ItemFacts::Profile(owner))]
            };
            let [post_default, profile_default] = best(RegionGroup::Default);
            let [post_restricted, profile_restricted] = best(RegionGroup::Restricted);
            let expected = match post_default {
                Decision::Withhold(reason)
                    if [profile_default, post_restricted, profile_restricted].iter().all(|d| !d.is_allowed()) =>
                {
                    Some(reason)
                }
                _ => None,
            };
            assert_eq!(engine.refusal(app, purpose), expected, "refusal at case {i} for {app:?} {purpose}");
            stats.pages += 1;
        }
    }
    stats
}

/// One case: usually a post of `account`, one time in four its profile.
fn random_item(
    rng: &mut Rng,
    post_id: u64,
    account: &tollgate_domain::Account,
    defaults: &ConsentDefaults,
) -> ItemFacts {
    let author = AuthorFacts::of(account, defaults, NOW);
    if rng.chance(25) {
        ItemFacts::Profile(author)
    } else {
        ItemFacts::Post(PostFacts::of(&support::post(rng, post_id, account), author))
    }
}

/// Every class, post and profile, for every purpose, for a spread of app
/// facts: the compiled table filled through `decide` must match Cedar and the
/// oracle everywhere.
#[test]
fn every_class_agrees_for_a_few_apps() {
    let engine = PolicyEngine::builtin().unwrap();
    let mut rng = Rng::new(42);
    for id in 0..6 {
        let app = support::app_facts(&mut rng, id);
        for purpose in tollgate_domain::Purpose::ALL {
            for index in (0..ContentClass::COUNT).step_by(7) {
                let class = ContentClass::from_index(index).unwrap();
                let facts = class.facts();
                let reference = engine.evaluate(&app, purpose, facts);
                assert_eq!(engine.decide(&app, purpose, class), reference);
                assert_eq!(reference, support::oracle(&app, purpose, facts), "{app:?} {purpose} {facts:?}");
            }
        }
    }
}
