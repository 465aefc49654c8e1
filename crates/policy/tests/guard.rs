//! The guard policy: the built-in guard pack's intent, stated case by case and
//! as properties over random classes; the differential test (the cached path
//! equals Cedar asked afresh, and both equal a plain-Rust statement of the
//! pack); and loading operator guard policies (`extend`, `replace`, the
//! guarantees kept in both, the messages an operator sees).

#[expect(dead_code, reason = "the guard tests use only the generator of the shared support")]
mod support;

use std::path::PathBuf;

use support::Rng;
use tollgate_domain::{ClientKind, GuardAction, GuardClass, NetClass, Resource, Signal, SignalSet};
use tollgate_policy::{GuardDecision, GuardPolicy, PolicyError, PolicyMode};

fn class(kind: ClientKind, network: NetClass, signals: &[Signal]) -> GuardClass {
    GuardClass { signals: signals.iter().copied().collect(), kind, network, ..GuardClass::default() }
}

fn action(guard: &GuardPolicy, class: &GuardClass) -> GuardAction {
    guard.decide(class).action
}

/// A random class: each signal fires with probability 1/6, so that pairs and
/// triples are common; every kind, network, resource and flag.
fn random_class(rng: &mut Rng) -> GuardClass {
    let signals: SignalSet = Signal::ALL.into_iter().filter(|_| rng.below(6) == 0).collect();
    GuardClass {
        signals,
        kind: rng.pick(&ClientKind::ALL),
        network: rng.pick(&NetClass::ALL),
        resource: if rng.chance(80) { Resource::Content } else { rng.pick(&Resource::ALL) },
        disallowed: rng.chance(50),
        offers_price: rng.chance(30),
        passed_challenge: rng.chance(30),
    }
}

/// The built-in guard pack in plain Rust, independent of Cedar: the severest
/// action it permits and does not forbid.
fn oracle(c: &GuardClass) -> GuardAction {
    let has = |s: Signal| c.signals.contains(s);
    let any = |ss: &[Signal]| ss.iter().any(|s| c.signals.contains(*s));
    let content = c.resource == Resource::Content;
    let verified = c.kind.is_verified();
    if c.resource == Resource::Terms {
        return GuardAction::Allow;
    }
    let block = has(Signal::Impersonation)
        || has(Signal::HiddenLink)
        || (has(Signal::RobotsIgnored) && c.disallowed)
        || has(Signal::Enumeration)
        || (has(Signal::Volume) && c.kind != ClientKind::App)
        || has(Signal::KeyFarm);
    if block && c.kind != ClientKind::VerifiedSearch {
        return GuardAction::Block;
    }
    let browser = c.kind == ClientKind::Browser && content;
    let fleet = browser
        && ((has(Signal::CookiesNeverReused)
            && (has(Signal::StaleBrowser) || matches!(c.network, NetClass::Hosting | NetClass::Vpn)))
            || (any(&[Signal::RatePrefix, Signal::RateAsn]) && c.network == NetClass::Hosting));
    let strong = [
        Signal::CookiesNeverReused,
        Signal::StaleBrowser,
        Signal::RatePrefix,
        Signal::RateAsn,
        Signal::RateActor,
        Signal::Breadth,
    ];
    let agreeing = strong.iter().filter(|s| has(**s)).count();
    if fleet && agreeing >= 2 && !verified {
        return GuardAction::Tarpit;
    }
    if c.kind == ClientKind::Tool && content && has(Signal::CookiesNeverReused) {
        return GuardAction::Tarpit;
    }
    let weak = browser
        && (any(&[Signal::StaleBrowser, Signal::CookiesDropped])
            || (has(Signal::RateIp) && matches!(c.network, NetClass::Residential | NetClass::Mobile)));
    if (fleet || weak) && !c.passed_challenge {
        return GuardAction::Challenge;
    }
    let ai = matches!(c.kind, ClientKind::AiCrawler | ClientKind::VerifiedAi) || has(Signal::DeclaredAiAgent);
    let pays = c.kind == ClientKind::VerifiedAi && c.offers_price;
    if content && c.disallowed && ai && !pays {
        return GuardAction::License;
    }
    let rates = [Signal::RateIp, Signal::RatePrefix, Signal::RateAsn, Signal::RateActor];
    let crawler = matches!(
        c.kind,
        ClientKind::AiCrawler | ClientKind::VerifiedSearch | ClientKind::VerifiedAi | ClientKind::Tool
    );
    let app = c.kind == ClientKind::App;
    if (content && crawler && any(&rates))
        || (browser && any(&[Signal::Breadth, Signal::RateActor]))
        || (app && any(&[Signal::RateKey, Signal::QuotaPacing]))
        || (app && has(Signal::KeyManyNetworks) && any(&rates))
    {
        return GuardAction::Throttle;
    }
    if content && c.disallowed && pays {
        return GuardAction::Charge;
    }
    GuardAction::Allow
}

/// Override with `TOLLGATE_GUARD_DIFFERENTIAL_CASES` for a longer run.
const CASES: usize = 20_000;

/// The cached path (`decide`) gives exactly what Cedar asked afresh
/// (`evaluate`) gives, whether the class is new or seen before, and both give
/// what the plain-Rust oracle of the pack gives. Classes are drawn from a
/// pool so that most asks after the first hit the cache.
#[test]
fn cached_guard_decisions_equal_cedar_equal_oracle() {
    let cases = std::env::var("TOLLGATE_GUARD_DIFFERENTIAL_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(CASES);
    let guard = GuardPolicy::builtin().unwrap();
    let mut rng = Rng::new(0x6a7d_0001);
    let pool: Vec<GuardClass> = (0..cases / 4 + 1).map(|_| random_class(&mut rng)).collect();
    let mut seen = [0usize; 7];
    for i in 0..cases {
        let c = if i % 3 == 0 { random_class(&mut rng) } else { pool[rng.below(pool.len())] };
        let cached = guard.decide(&c);
        let fresh = guard.evaluate(&c);
        assert_eq!(cached, fresh, "case {i}: {c:?}");
        assert_eq!(fresh.action, oracle(&c), "case {i}: {c:?} decided by {:?}", fresh.policy_id);
        assert_eq!(fresh.policy_id.is_some(), fresh.action != GuardAction::Allow, "{c:?}");
        seen[fresh.action as usize] += 1;
    }
    println!("guard differential: {cases} cases, by action {seen:?}");
    assert!(seen.iter().all(|n| *n > 0), "every action should be seen: {seen:?}");
}

#[test]
fn terms_are_always_served() {
    let guard = GuardPolicy::builtin().unwrap();
    let mut rng = Rng::new(7);
    for _ in 0..2_000 {
        let c = GuardClass { resource: Resource::Terms, ..random_class(&mut rng) };
        assert_eq!(guard.decide(&c), GuardDecision::ALLOW, "{c:?}");
    }
    let all =
        GuardClass { signals: Signal::ALL.into_iter().collect(), resource: Resource::Terms, ..GuardClass::default() };
    assert_eq!(action(&guard, &all), GuardAction::Allow);
}

#[test]
fn verified_crawlers_are_never_tarpitted_and_verified_search_never_blocked() {
    let guard = GuardPolicy::builtin().unwrap();
    let mut rng = Rng::new(8);
    for _ in 0..3_000 {
        let mut c = random_class(&mut rng);
        c.kind = if rng.chance(50) { ClientKind::VerifiedSearch } else { ClientKind::VerifiedAi };
        let a = action(&guard, &c);
        assert_ne!(a, GuardAction::Tarpit, "{c:?}");
        if c.kind == ClientKind::VerifiedSearch {
            assert_ne!(a, GuardAction::Block, "{c:?}");
        }
    }
    let search = class(ClientKind::VerifiedSearch, NetClass::Hosting, &[Signal::Impersonation, Signal::Enumeration]);
    assert_eq!(action(&guard, &search), GuardAction::Allow);
}

#[test]
fn an_app_without_a_rate_or_pacing_signal_is_never_throttled() {
    let guard = GuardPolicy::builtin().unwrap();
    let rate_or_pacing =
        [Signal::RateKey, Signal::QuotaPacing, Signal::RateIp, Signal::RatePrefix, Signal::RateAsn, Signal::RateActor];
    let mut rng = Rng::new(9);
    for _ in 0..3_000 {
        let mut c = random_class(&mut rng);
        c.kind = ClientKind::App;
        c.signals = c.signals.iter().filter(|s| !rate_or_pacing.contains(s)).collect();
        assert_ne!(action(&guard, &c), GuardAction::Throttle, "{c:?}");
    }
    let within_quota = class(ClientKind::App, NetClass::Hosting, &[Signal::KeyManyNetworks]);
    assert_eq!(action(&guard, &within_quota), GuardAction::Allow);
    for s in [Signal::RateKey, Signal::QuotaPacing] {
        assert_eq!(action(&guard, &class(ClientKind::App, NetClass::Hosting, &[s])), GuardAction::Throttle, "{s}");
    }
    let shared = class(ClientKind::App, NetClass::Unknown, &[Signal::KeyManyNetworks, Signal::RateAsn]);
    let d = guard.decide(&shared);
    assert_eq!(
        (d.action, d.policy_id.as_deref()),
        (GuardAction::Throttle, Some("shared-keys-going-too-fast-are-throttled"))
    );
}

#[test]
fn people_are_served() {
    let guard = GuardPolicy::builtin().unwrap();
    for network in NetClass::ALL {
        for resource in Resource::ALL {
            for flags in 0..8u8 {
                let c = GuardClass {
                    network,
                    resource,
                    disallowed: flags & 1 != 0,
                    offers_price: flags & 2 != 0,
                    passed_challenge: flags & 4 != 0,
                    ..GuardClass::default()
                };
                assert_eq!(guard.decide(&c), GuardDecision::ALLOW, "{c:?}");
            }
        }
    }
}

#[test]
fn ai_crawlers_get_a_license_offer_and_verified_ones_that_pay_are_charged() {
    let guard = GuardPolicy::builtin().unwrap();
    let disallowed = |kind, offers_price| GuardClass { kind, disallowed: true, offers_price, ..GuardClass::default() };
    let d = guard.decide(&disallowed(ClientKind::AiCrawler, false));
    assert_eq!(d.action, GuardAction::License);
    assert_eq!(d.policy_id.as_deref(), Some("ai-crawlers-are-offered-a-license"));
    assert_eq!(d.reason.as_deref(), Some("license_required"));
    // Offering to pay without a verified identity gets the offer again.
    assert_eq!(action(&guard, &disallowed(ClientKind::AiCrawler, true)), GuardAction::License);
    assert_eq!(action(&guard, &disallowed(ClientKind::VerifiedAi, false)), GuardAction::License);
    let paid = guard.decide(&disallowed(ClientKind::VerifiedAi, true));
    assert_eq!((paid.action, paid.reason.as_deref()), (GuardAction::Charge, Some("pay_per_crawl")));
    // What the crawler's use is granted for is served.
    let allowed = GuardClass { kind: ClientKind::AiCrawler, ..GuardClass::default() };
    assert_eq!(action(&guard, &allowed), GuardAction::Allow);
    // A declared AI agent that also follows a hidden link is blocked.
    let mut c = disallowed(ClientKind::AiCrawler, false);
    c.signals.insert(Signal::HiddenLink);
    assert_eq!(action(&guard, &c), GuardAction::Block);
}

#[test]
fn harvesting_signals_are_blocked() {
    let guard = GuardPolicy::builtin().unwrap();
    for (s, id) in [
        (Signal::Impersonation, "impersonators-are-blocked"),
        (Signal::HiddenLink, "hidden-link-followers-are-blocked"),
        (Signal::Enumeration, "enumerators-are-blocked"),
        (Signal::Volume, "volume-harvesters-are-blocked"),
        (Signal::KeyFarm, "key-farms-are-blocked"),
    ] {
        let d = guard.decide(&class(ClientKind::Browser, NetClass::Residential, &[s]));
        assert_eq!((d.action, d.policy_id.as_deref()), (GuardAction::Block, Some(id)), "{s}");
    }
    // An app's volume is bounded by its quota and license, not blocked.
    assert_eq!(action(&guard, &class(ClientKind::App, NetClass::Hosting, &[Signal::Volume])), GuardAction::Allow);
    let mut ignored = class(ClientKind::Tool, NetClass::Hosting, &[Signal::RobotsIgnored]);
    assert_eq!(action(&guard, &ignored), GuardAction::Allow, "robots-ignored on allowed content is not blocked");
    ignored.disallowed = true;
    assert_eq!(action(&guard, &ignored), GuardAction::Block);
}

#[test]
fn disguised_fleets_are_tarpitted_when_signals_agree_and_challenged_otherwise() {
    let guard = GuardPolicy::builtin().unwrap();
    let b = ClientKind::Browser;
    // Cookies never reused from a VPN: the pattern, one signal: challenge.
    assert_eq!(action(&guard, &class(b, NetClass::Vpn, &[Signal::CookiesNeverReused])), GuardAction::Challenge);
    // ... with a stale browser too: two signals agree: tarpit.
    let two = class(b, NetClass::Residential, &[Signal::CookiesNeverReused, Signal::StaleBrowser]);
    assert_eq!(guard.decide(&two).policy_id.as_deref(), Some("disguised-fleets-are-tarpitted"));
    let asn = class(b, NetClass::Hosting, &[Signal::RatePrefix, Signal::RateAsn]);
    assert_eq!(action(&guard, &asn), GuardAction::Tarpit);
    assert_eq!(action(&guard, &class(b, NetClass::Hosting, &[Signal::RateAsn])), GuardAction::Challenge);
    // The same rates from a residential network are not the fleet pattern.
    assert_eq!(
        action(&guard, &class(b, NetClass::Residential, &[Signal::RatePrefix, Signal::RateAsn])),
        GuardAction::Allow
    );
    // A solved challenge ends the challenge, not the tarpit.
    let passed = GuardClass { passed_challenge: true, ..class(b, NetClass::Vpn, &[Signal::CookiesNeverReused]) };
    assert_eq!(action(&guard, &passed), GuardAction::Allow);
    assert_eq!(action(&guard, &GuardClass { passed_challenge: true, ..two }), GuardAction::Tarpit);
}

/// An app's volume is bounded by its quota: a partner taking millions of
/// posts a day within it is served; anyone else taking as many is blocked.
#[test]
fn volume_blocks_harvesters_but_not_apps_within_their_quota() {
    let guard = GuardPolicy::builtin().unwrap();
    let app = class(ClientKind::App, NetClass::Hosting, &[Signal::Volume, Signal::Breadth, Signal::RateActor]);
    assert_eq!(action(&guard, &app), GuardAction::Allow);
    let browser = class(ClientKind::Browser, NetClass::Residential, &[Signal::Volume]);
    assert_eq!(action(&guard, &browser), GuardAction::Block);
    let crawler = class(ClientKind::VerifiedAi, NetClass::Hosting, &[Signal::Volume]);
    assert_eq!(action(&guard, &crawler), GuardAction::Block);
}

#[test]
fn automation_whose_cookies_never_come_back_is_tarpitted_even_with_a_pass() {
    let guard = GuardPolicy::builtin().unwrap();
    // A headless browser fleet passes challenges with a fresh cookie jar per
    // page: it is tarpitted, pass or not.
    let tool = class(ClientKind::Tool, NetClass::Hosting, &[Signal::CookiesNeverReused]);
    let d = guard.decide(&tool);
    assert_eq!((d.action, d.reason.as_deref()), (GuardAction::Tarpit, Some("automation_fleet")));
    assert_eq!(action(&guard, &GuardClass { passed_challenge: true, ..tool }), GuardAction::Tarpit);
    assert_eq!(
        action(&guard, &class(ClientKind::Tool, NetClass::Residential, &[Signal::CookiesNeverReused])),
        GuardAction::Tarpit
    );
    // A tool without the signal is served; the terms are still served to the fleet.
    assert_eq!(action(&guard, &class(ClientKind::Tool, NetClass::Hosting, &[])), GuardAction::Allow);
    assert_eq!(action(&guard, &GuardClass { resource: Resource::Terms, ..tool }), GuardAction::Allow);
    // Verified crawlers are never tarpitted.
    let verified = class(ClientKind::VerifiedAi, NetClass::Hosting, &[Signal::CookiesNeverReused]);
    assert_ne!(action(&guard, &verified), GuardAction::Tarpit);
}

#[test]
fn a_single_weak_signal_gets_a_challenge_until_passed() {
    let guard = GuardPolicy::builtin().unwrap();
    let c = class(ClientKind::Browser, NetClass::Mobile, &[Signal::StaleBrowser, Signal::RateIp]);
    let d = guard.decide(&c);
    assert_eq!((d.action, d.reason.as_deref()), (GuardAction::Challenge, Some("weak_signal")));
    assert_eq!(
        action(&guard, &class(ClientKind::Browser, NetClass::Residential, &[Signal::RateIp])),
        GuardAction::Challenge
    );
    assert_eq!(action(&guard, &GuardClass { passed_challenge: true, ..c }), GuardAction::Allow);
}

#[test]
fn a_browser_reading_more_than_a_person_reads_is_throttled_pass_or_not() {
    let guard = GuardPolicy::builtin().unwrap();
    let c = GuardClass {
        resource: Resource::Content,
        passed_challenge: true,
        ..class(ClientKind::Browser, NetClass::Residential, &[Signal::Breadth])
    };
    let d = guard.decide(&c);
    assert_eq!((d.action, d.reason.as_deref()), (GuardAction::Throttle, Some("breadth")));
    assert_eq!(d.policy_id.as_deref(), Some("broad-readers-are-throttled"));
    assert_eq!(action(&guard, &GuardClass { passed_challenge: false, ..c }), GuardAction::Throttle);
    // Only content: the terms and the guard's own paths are not slowed.
    assert_eq!(action(&guard, &GuardClass { resource: Resource::Terms, ..c }), GuardAction::Allow);
    assert_eq!(action(&guard, &GuardClass { resource: Resource::Other, ..c }), GuardAction::Allow);
    // A person reading without the signal is served.
    assert_eq!(action(&guard, &GuardClass { signals: SignalSet::default(), ..c }), GuardAction::Allow);
}

#[test]
fn explain_names_the_deciding_policy_and_the_others_that_matched() {
    let guard = GuardPolicy::builtin().unwrap();
    let c = GuardClass {
        resource: Resource::Content,
        ..class(ClientKind::VerifiedSearch, NetClass::Hosting, &[Signal::Enumeration, Signal::RateIp])
    };
    let x = guard.explain(&c);
    assert_eq!(x.decision, guard.decide(&c));
    assert_eq!(x.decision.action, GuardAction::Throttle);
    assert_eq!(x.deciding.as_ref().unwrap().id, "fast-crawlers-are-throttled");
    let matched: Vec<(&str, GuardAction, bool)> =
        x.matched.iter().map(|m| (m.policy.id.as_str(), m.action, m.in_force)).collect();
    assert!(matched.contains(&("enumerators-are-blocked", GuardAction::Block, false)), "{matched:?}");
    assert!(matched.contains(&("verified-search-is-never-blocked", GuardAction::Block, true)), "{matched:?}");
    let text = x.to_string();
    assert!(text.contains("action: throttle") && text.contains("overridden"), "{text}");
    assert!(text.contains("built-in:guard/crawlers.cedar:"), "{text}");
    let json = x.to_json();
    assert_eq!(json["action"], "throttle");
    assert_eq!(json["reason"], "crawl_rate");
    assert_eq!(json["class"]["signals"], serde_json::json!(["rate-ip", "enumeration"]));

    let people = guard.explain(&GuardClass::default());
    assert_eq!(people.decision, GuardDecision::ALLOW);
    assert!(people.to_string().contains("deciding policy: none"), "{people}");
}

/// A fresh directory holding `files`, removed again on drop.
struct PolicyDir(PathBuf);

impl PolicyDir {
    fn new(name: &str, files: &[(&str, &str)]) -> PolicyDir {
        let dir = std::env::temp_dir().join(format!("tollgate-guard-policy-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (file, text) in files {
            std::fs::write(dir.join(file), text).unwrap();
        }
        PolicyDir(dir)
    }
}

impl Drop for PolicyDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const BLOCK_TOOLS: &str = r#"
// Tools on hosting networks are blocked here.
@id("hosted-tools-are-blocked")
@reason("hosted_tool")
permit (principal, action == Guard::Action::"block", resource)
when { principal.kind == "tool" && principal.network == "hosting" };
"#;

#[test]
fn extend_mode_adds_operator_guard_policies() {
    let dir = PolicyDir::new("extend", &[("tools.cedar", BLOCK_TOOLS)]);
    let guard = GuardPolicy::load(Some(&dir.0), PolicyMode::Extend).unwrap();
    let tool = class(ClientKind::Tool, NetClass::Hosting, &[]);
    let d = guard.decide(&tool);
    assert_eq!(
        (d.action, d.policy_id.as_deref(), d.reason.as_deref()),
        (GuardAction::Block, Some("hosted-tools-are-blocked"), Some("hosted_tool"))
    );
    // The built-in pack still applies.
    assert_eq!(action(&guard, &class(ClientKind::App, NetClass::Unknown, &[Signal::RateKey])), GuardAction::Throttle);
    assert_ne!(guard.version(), GuardPolicy::builtin().unwrap().version());
    let x = guard.explain(&tool);
    assert_eq!(x.deciding.unwrap().location(), format!("tools.cedar:3"));
}

#[test]
fn replace_mode_keeps_the_guarantees() {
    let everything = r#"
@id("block-everyone")
@reason("closed")
permit (principal, action == Guard::Action::"block", resource);
@id("tarpit-everyone")
@reason("closed")
permit (principal, action == Guard::Action::"tarpit", resource);
"#;
    let dir = PolicyDir::new("replace", &[("closed.cedar", everything)]);
    let guard = GuardPolicy::load(Some(&dir.0), PolicyMode::Replace).unwrap();
    let ids = guard.policy_ids();
    assert!(ids.contains(&"terms-are-always-served".to_owned()), "{ids:?}");
    assert!(!ids.contains(&"apps-over-their-rate-are-throttled".to_owned()), "{ids:?}");
    assert_eq!(action(&guard, &GuardClass::default()), GuardAction::Block);
    assert_eq!(action(&guard, &GuardClass { resource: Resource::Terms, ..GuardClass::default() }), GuardAction::Allow);
    let search = class(ClientKind::VerifiedSearch, NetClass::Unknown, &[]);
    assert_eq!(action(&guard, &search), GuardAction::Allow, "neither blocked nor tarpitted");
    let ai = class(ClientKind::VerifiedAi, NetClass::Unknown, &[]);
    assert_eq!(action(&guard, &ai), GuardAction::Block, "blocked, but not tarpitted");
    // A replace directory without policies is refused, as for the content policy.
    let empty = PolicyDir::new("empty", &[]);
    assert!(matches!(GuardPolicy::load(Some(&empty.0), PolicyMode::Replace), Err(PolicyError::NoPolicies { .. })));
    // No directory: the built-in pack.
    assert_eq!(
        GuardPolicy::load(None, PolicyMode::Replace).unwrap().version(),
        GuardPolicy::builtin().unwrap().version()
    );
}

#[test]
fn invalid_guard_policies_are_refused_with_file_line_and_what() {
    let typo = "@id(\"typo\")\n@reason(\"x\")\npermit (principal, action == Guard::Action::\"block\", resource)\nwhen { principal.signal.contains(\"volume\") };\n";
    let dir = PolicyDir::new("typo", &[("typo.cedar", typo)]);
    let msg = GuardPolicy::load(Some(&dir.0), PolicyMode::Extend).unwrap_err().to_string();
    assert!(msg.contains("`typo`") && msg.contains("typo.cedar:4:") && msg.contains("signal"), "{msg}");

    let action = "@id(\"sell\")\n@reason(\"x\")\npermit (principal, action == Guard::Action::\"sell\", resource);\n";
    let dir = PolicyDir::new("action", &[("sell.cedar", action)]);
    let msg = GuardPolicy::load(Some(&dir.0), PolicyMode::Extend).unwrap_err().to_string();
    assert!(msg.contains("`sell`") && msg.contains("sell.cedar:3:"), "{msg}");

    // A content policy is not a guard policy.
    let content = "@id(\"c\")\n@reason(\"x\")\nforbid (principal, action, resource)\nwhen { resource.deleted };\n";
    let dir = PolicyDir::new("content", &[("c.cedar", content)]);
    assert!(matches!(GuardPolicy::load(Some(&dir.0), PolicyMode::Extend), Err(PolicyError::Validation { .. })));

    let no_reason = "@id(\"quiet\")\npermit (principal, action == Guard::Action::\"block\", resource);\n";
    let dir = PolicyDir::new("reason", &[("quiet.cedar", no_reason)]);
    let err = GuardPolicy::load(Some(&dir.0), PolicyMode::Extend).unwrap_err();
    assert!(matches!(err, PolicyError::MissingGuardReason { .. }), "{err:?}");
    assert!(err.to_string().contains("quiet.cedar:1"), "{err}");

    let broken = "@id(\"broken\")\n@reason(\"x\")\npermit (principal, action, resource)\nwhen { ";
    let dir = PolicyDir::new("parse", &[("broken.cedar", broken)]);
    let msg = GuardPolicy::load(Some(&dir.0), PolicyMode::Extend).unwrap_err().to_string();
    assert!(msg.contains("broken.cedar:4:"), "{msg}");

    let clash = "@id(\"terms-are-always-served\")\n@reason(\"x\")\npermit (principal, action, resource);\n";
    let dir = PolicyDir::new("clash", &[("clash.cedar", clash)]);
    let msg = GuardPolicy::load(Some(&dir.0), PolicyMode::Replace).unwrap_err().to_string();
    assert!(msg.contains("used twice"), "{msg}");
}
