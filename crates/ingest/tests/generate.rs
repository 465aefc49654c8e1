//! The synthetic platform: reproducible to the byte, and shaped like the
//! documented distributions.

mod common;

use std::collections::{HashMap, HashSet};

use common::{TempDir, generate_into, read_accounts, read_posts, small};
use tollgate_domain::{AccountStatus, Category, ConsentDefaults, RegionGroup, Scope, Timestamp, Tri};
use tollgate_ingest::{
    DEACTIVATED_SHARE, DELETED_SHARE, MINOR_SHARE, NO_AI_SHARE, PREFERENCE_RATES, PROTECTED_SHARE, REPLY_SHARE,
    SUSPENDED_SHARE,
};

#[test]
fn the_same_seed_gives_the_same_bytes_and_another_seed_other_bytes() {
    let (a, b, c) = (TempDir::new("same-a"), TempDir::new("same-b"), TempDir::new("same-c"));
    let summary = generate_into(a.path(), &small(7, 400, 4_000));
    generate_into(b.path(), &small(7, 400, 4_000));
    generate_into(c.path(), &small(8, 400, 4_000));
    for file in ["accounts.jsonl", "posts.jsonl"] {
        let (x, y, z) = (
            std::fs::read(a.join(file)).unwrap(),
            std::fs::read(b.join(file)).unwrap(),
            std::fs::read(c.join(file)).unwrap(),
        );
        assert!(!x.is_empty());
        assert!(x == y, "{file} differs between two runs with the same seed");
        assert!(x != z, "{file} is the same for two seeds");
    }
    assert_eq!((summary.accounts, summary.posts), (400, 4_000));
    let on_disk = std::fs::metadata(&summary.accounts_path).unwrap().len()
        + std::fs::metadata(&summary.posts_path).unwrap().len();
    assert_eq!(summary.bytes, on_disk);
}

#[test]
fn generate_leaves_only_the_two_files_behind() {
    let dir = TempDir::new("leftovers");
    let out = dir.join("nested/out");
    generate_into(&out, &small(1, 50, 500));
    // Again over the existing files: they are replaced whole.
    generate_into(&out, &small(2, 60, 600));
    let mut names: Vec<String> =
        std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names, ["accounts.jsonl", "posts.jsonl"]);
    assert_eq!(read_accounts(&out.join("accounts.jsonl")).len(), 60);
    assert_eq!(read_posts(&out.join("posts.jsonl")).len(), 600);
}

fn share(count: usize, total: usize) -> f64 {
    count as f64 / total as f64
}

fn assert_near(what: &str, actual: f64, expected: f64, tolerance: f64) {
    assert!((actual - expected).abs() <= tolerance, "{what}: {actual:.4}, expected {expected:.4} ± {tolerance}");
}

#[test]
fn the_distributions_are_the_documented_ones() {
    let dir = TempDir::new("distribution");
    let options = small(11, 20_000, 100_000);
    generate_into(dir.path(), &options);
    let accounts = read_accounts(&dir.join("accounts.jsonl"));
    let posts = read_posts(&dir.join("posts.jsonl"));
    let n = accounts.len();
    assert_eq!((n, posts.len()), (20_000, 100_000));

    // Every account is valid, handles are unique ignoring case, ids and
    // creation times grow together.
    let mut handles = HashSet::new();
    for pair in accounts.windows(2) {
        assert!(pair[0].id < pair[1].id && pair[0].created_at <= pair[1].created_at);
    }
    for a in &accounts {
        a.validate().unwrap();
        assert!(handles.insert(a.handle.to_lowercase()), "duplicate handle {}", a.handle);
        assert!(a.created_at < options.start);
    }

    // Regions: about 30% in the EU, the EEA and the UK, and a spread elsewhere.
    let defaults = ConsentDefaults::default();
    let eu = accounts.iter().filter(|a| defaults.region_group(&a.region) == RegionGroup::Restricted).count();
    assert_near("EU/EEA/UK share", share(eu, n), 0.30, 0.03);
    let regions: HashSet<&str> = accounts.iter().map(|a| a.region.as_str()).collect();
    for r in ["US", "BR", "IN", "JP", "DE", "FR", "GB"] {
        assert!(regions.contains(r), "no account in {r}");
    }

    // Minors, protected, suspended and deactivated accounts.
    let end = Timestamp::from_millis(options.start.millis() + i64::from(options.days) * 86_400_000);
    let minors = accounts.iter().filter(|a| a.is_minor_at(options.start, 18) && a.is_minor_at(end, 18)).count();
    assert_near("minors", share(minors, n), MINOR_SHARE, 0.006);
    assert!(accounts.iter().any(|a| a.is_minor == Some(true)) && accounts.iter().any(|a| a.birth_year.is_some()));
    assert_near("protected", share(accounts.iter().filter(|a| a.protected).count(), n), PROTECTED_SHARE, 0.008);
    let status = |s| accounts.iter().filter(|a| a.status == s).count();
    assert_near("suspended", share(status(AccountStatus::Suspended), n), SUSPENDED_SHARE, 0.003);
    assert_near("deactivated", share(status(AccountStatus::Deactivated), n), DEACTIVATED_SHARE, 0.003);

    // AI preferences: deny and allow rates per category and scope, with the
    // time of the choice on every value that is set.
    for category in Category::ALL {
        for scope in Scope::ALL {
            let rate = PREFERENCE_RATES[category.index()][scope.index()];
            let values: Vec<_> = accounts.iter().map(|a| a.ai_preferences.get(category, scope)).collect();
            let deny = values.iter().filter(|p| p.value == Tri::Deny).count();
            let allow = values.iter().filter(|p| p.value == Tri::Allow).count();
            assert_near(&format!("{category} {scope} deny"), share(deny, n), rate.deny, 0.015);
            assert_near(&format!("{category} {scope} allow"), share(allow, n), rate.allow, 0.015);
            assert!(values.iter().all(|p| (p.value == Tri::Unset) == p.updated_at.is_none()));
        }
    }
    let third_genai =
        |a: &tollgate_domain::Account| a.ai_preferences.get(Category::TrainGenai, Scope::ThirdParties).value;
    let first_genai =
        |a: &tollgate_domain::Account| a.ai_preferences.get(Category::TrainGenai, Scope::FirstParty).value;
    let deny_third = accounts.iter().filter(|a| third_genai(a) == Tri::Deny).count();
    let deny_first = accounts.iter().filter(|a| first_genai(a) == Tri::Deny).count();
    assert!(deny_third > deny_first, "third parties are refused more often than the platform itself");

    // Posts: time-ordered ids, authors created before their posts, the
    // documented shares of replies, `no_ai` and deleted posts.
    let created: HashMap<_, _> = accounts.iter().map(|a| (a.id, a.created_at)).collect();
    let mut by_author: HashMap<_, usize> = HashMap::new();
    let mut langs: HashMap<&str, usize> = HashMap::new();
    for pair in posts.windows(2) {
        assert!(pair[0].id < pair[1].id && pair[0].created_at <= pair[1].created_at);
    }
    for p in &posts {
        p.validate().unwrap();
        assert!(created[&p.author_id] < p.created_at);
        assert!(p.created_at >= options.start && p.created_at < end);
        *by_author.entry(p.author_id).or_default() += 1;
        *langs.entry(p.lang.as_str()).or_default() += 1;
        if let Some(at) = p.deleted_at {
            assert!(at > p.created_at);
        }
    }
    let replies = posts.iter().filter(|p| p.in_reply_to.is_some()).count();
    assert_near("replies", share(replies, posts.len()), REPLY_SHARE, 0.02);
    assert_near("no_ai", share(posts.iter().filter(|p| p.no_ai).count(), posts.len()), NO_AI_SHARE, 0.004);
    assert_near("deleted", share(posts.iter().filter(|p| p.is_deleted()).count(), posts.len()), DELETED_SHARE, 0.002);
    let roots: HashSet<_> = posts.iter().filter(|p| p.in_reply_to.is_none()).map(|p| p.id).collect();
    let threaded = posts.iter().filter(|p| p.in_reply_to.is_some() && p.conversation_id != p.in_reply_to).count();
    assert!(threaded > replies / 10, "replies to replies form threads deeper than one");
    assert!(posts.iter().all(|p| roots.contains(&p.conversation())));

    // Languages: English first, then a spread, with undetermined posts.
    let mut ranked: Vec<_> = langs.iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(a.1));
    assert_eq!(*ranked[0].0, "en");
    for l in ["es", "ja", "pt", "de", "fr", "ar", "hi", "ko", "tr", "und"] {
        assert!(langs.get(l).copied().unwrap_or(0) > posts.len() / 200, "too few `{l}` posts: {langs:?}");
    }

    // Zipf: the top 1% of authors write a large share of posts; most
    // accounts write little.
    let mut counts: Vec<usize> = by_author.values().copied().collect();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    let top: usize = counts.iter().take(n / 100).sum();
    assert!(share(top, posts.len()) > 0.4, "top 1% wrote {:.3}", share(top, posts.len()));
    assert!(by_author.len() < n, "some accounts never post");

    // Search terms recur: a topic word appears in many posts.
    let coffee = posts.iter().filter(|p| p.text.contains("coffee")).count();
    assert!(coffee > 500, "{coffee} posts mention coffee");
}
