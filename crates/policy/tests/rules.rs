//! The built-in pack, rule by rule: each test names the behaviour it pins and
//! checks it on both paths (`evaluate` and `decide`), plus `refusal` and
//! `explain` where they matter.

use tollgate_domain::{
    Account, AccountId, AccountStatus, AgreementState, AiPreferences, AppId, AppStatus, AuthorFacts, Category,
    ConsentDefaults, ContentClass, Decision, ItemFacts, PostFacts, Purpose, Reason, RegionGroup, Scope, Tier,
    Timestamp, Tri,
};
use tollgate_policy::{AppFacts, PolicyEngine};

fn engine() -> PolicyEngine {
    PolicyEngine::builtin().unwrap()
}

/// An active app in good standing that declared every purpose.
fn app(tier: Tier) -> AppFacts {
    AppFacts {
        app_id: AppId(1),
        tier,
        purposes: Purpose::ALL.to_vec(),
        licensed_purposes: Vec::new(),
        status: AppStatus::Active,
        agreement: AgreementState::Current,
    }
}

fn partner_licensed() -> AppFacts {
    AppFacts { licensed_purposes: vec![Purpose::TrainAi, Purpose::TrainGenai], ..app(Tier::Partner) }
}

/// A post every rule lets through: all consents given, nothing special.
fn open_post() -> PostFacts {
    PostFacts {
        author: AuthorFacts {
            consent: [[true; 2]; 3],
            protected: false,
            minor: false,
            region_group: RegionGroup::Default,
            status: AccountStatus::Active,
        },
        no_ai: false,
        deleted: false,
    }
}

/// Decides on both paths, checks that they agree, and returns the decision.
fn decide(engine: &PolicyEngine, app: &AppFacts, purpose: Purpose, facts: &PostFacts) -> Decision {
    let reference = engine.evaluate(app, purpose, facts);
    assert_eq!(engine.decide(app, purpose, facts.class()), reference, "{app:?} {purpose} {facts:?}");
    reference
}

fn withheld(reason: Reason) -> Decision {
    Decision::Withhold(reason)
}

fn account(region: &str) -> Account {
    Account {
        id: AccountId(9),
        handle: "ada".into(),
        display_name: "Ada".into(),
        description: String::new(),
        created_at: Timestamp::from_millis(0),
        region: region.into(),
        birth_year: None,
        is_minor: None,
        protected: false,
        status: AccountStatus::Active,
        ai_preferences: AiPreferences::default(),
    }
}

fn now() -> Timestamp {
    Timestamp::parse("2026-06-01T00:00:00Z").unwrap()
}

#[test]
fn open_posts_go_to_every_tier_for_every_declared_purpose() {
    let e = engine();
    for tier_app in [app(Tier::FirstParty), partner_licensed()] {
        for p in Purpose::ALL {
            assert_eq!(decide(&e, &tier_app, p, &open_post()), Decision::Allow, "{p} for {:?}", tier_app.tier);
        }
    }
    let standard = app(Tier::Standard);
    for p in Purpose::ALL.into_iter().filter(|p| *p != Purpose::TrainGenai) {
        assert_eq!(decide(&e, &standard, p, &open_post()), Decision::Allow, "{p}");
    }
}

#[test]
fn standard_app_never_gets_train_genai() {
    let e = engine();
    let standard = app(Tier::Standard);
    assert_eq!(decide(&e, &standard, Purpose::TrainGenai, &open_post()), withheld(Reason::AGREEMENT_PROHIBITS));
    assert_eq!(e.refusal(&standard, Purpose::TrainGenai), Some(Reason::AGREEMENT_PROHIBITS));
    // Other training is up to the author.
    assert_eq!(decide(&e, &standard, Purpose::TrainAi, &open_post()), Decision::Allow);
    // Even when the standard app claims a license, which only partners hold.
    let claims = AppFacts { licensed_purposes: vec![Purpose::TrainGenai], ..standard };
    assert_eq!(decide(&e, &claims, Purpose::TrainGenai, &open_post()), withheld(Reason::AGREEMENT_PROHIBITS));
}

#[test]
fn partner_trains_only_on_licensed_purposes() {
    let e = engine();
    let unlicensed = app(Tier::Partner);
    for p in [Purpose::TrainAi, Purpose::TrainGenai] {
        assert_eq!(decide(&e, &unlicensed, p, &open_post()), withheld(Reason::NOT_LICENSED));
        assert_eq!(e.refusal(&unlicensed, p), Some(Reason::NOT_LICENSED));
    }
    // `ai-input` is not training: no license needed.
    assert_eq!(decide(&e, &unlicensed, Purpose::AiInput, &open_post()), Decision::Allow);
    let only_ai = AppFacts { licensed_purposes: vec![Purpose::TrainAi], ..unlicensed };
    assert_eq!(decide(&e, &only_ai, Purpose::TrainAi, &open_post()), Decision::Allow);
    assert_eq!(decide(&e, &only_ai, Purpose::TrainGenai, &open_post()), withheld(Reason::NOT_LICENSED));
}

#[test]
fn protected_posts_go_to_no_third_party() {
    let e = engine();
    let mut post = open_post();
    post.author.protected = true;
    for third in [app(Tier::Standard), partner_licensed()] {
        for p in Purpose::ALL {
            let d = decide(&e, &third, p, &post);
            assert!(
                d == withheld(Reason::PROTECTED_ACCOUNT) || d == withheld(Reason::AGREEMENT_PROHIBITS),
                "{p} for {:?}: {d:?}",
                third.tier
            );
        }
    }
    // The platform itself sees them, but never uses them for AI.
    let first = app(Tier::FirstParty);
    assert_eq!(decide(&e, &first, Purpose::Display, &post), Decision::Allow);
    assert_eq!(decide(&e, &first, Purpose::Moderation, &post), Decision::Allow);
    for p in [Purpose::AiInput, Purpose::TrainAi, Purpose::TrainGenai] {
        assert_eq!(decide(&e, &first, p, &post), withheld(Reason::PROTECTED_ACCOUNT), "{p}");
    }
}

#[test]
fn minor_posts_are_never_used_for_ai() {
    let e = engine();
    let defaults = ConsentDefaults::default();
    let mut teen = account("US");
    teen.birth_year = Some(2010);
    // Even an explicit "allow" does not count for a minor.
    teen.ai_preferences.set(Category::TrainAi, Scope::FirstParty, Tri::Allow, now());
    let post = PostFacts { author: AuthorFacts::of(&teen, &defaults, now()), no_ai: false, deleted: false };
    assert!(post.author.minor);
    for who in [app(Tier::FirstParty), partner_licensed()] {
        for p in [Purpose::AiInput, Purpose::TrainAi, Purpose::TrainGenai] {
            assert_eq!(decide(&e, &who, p, &post), withheld(Reason::MINOR), "{p} for {:?}", who.tier);
        }
        assert_eq!(decide(&e, &who, Purpose::Display, &post), Decision::Allow);
    }
}

#[test]
fn posts_marked_no_ai_are_never_used_for_ai() {
    let e = engine();
    let post = PostFacts { no_ai: true, ..open_post() };
    let first = app(Tier::FirstParty);
    for p in [Purpose::AiInput, Purpose::TrainAi, Purpose::TrainGenai] {
        assert_eq!(decide(&e, &first, p, &post), withheld(Reason::POST_NO_AI), "{p}");
    }
    assert_eq!(decide(&e, &first, Purpose::Search, &post), Decision::Allow);
}

#[test]
fn first_party_uses_first_party_scope() {
    let e = engine();
    let defaults = ConsentDefaults::default();
    let mut author = account("US");
    author.ai_preferences.set(Category::TrainAi, Scope::FirstParty, Tri::Allow, now());
    author.ai_preferences.set(Category::TrainAi, Scope::ThirdParties, Tri::Deny, now());
    author.ai_preferences.set(Category::AiInput, Scope::FirstParty, Tri::Deny, now());
    author.ai_preferences.set(Category::AiInput, Scope::ThirdParties, Tri::Allow, now());
    let post = PostFacts { author: AuthorFacts::of(&author, &defaults, now()), no_ai: false, deleted: false };
    let (first, partner) = (app(Tier::FirstParty), partner_licensed());
    assert_eq!(decide(&e, &first, Purpose::TrainAi, &post), Decision::Allow);
    assert_eq!(decide(&e, &partner, Purpose::TrainAi, &post), withheld(Reason::AUTHOR_OPTED_OUT));
    assert_eq!(decide(&e, &first, Purpose::AiInput, &post), withheld(Reason::AUTHOR_OPTED_OUT));
    assert_eq!(decide(&e, &partner, Purpose::AiInput, &post), Decision::Allow);
}

#[test]
fn unset_preferences_follow_the_regional_default() {
    let e = engine();
    let defaults = ConsentDefaults::default();
    let facts = |region: &str| PostFacts {
        author: AuthorFacts::of(&account(region), &defaults, now()),
        no_ai: false,
        deleted: false,
    };
    let first = app(Tier::FirstParty);
    assert_eq!(decide(&e, &first, Purpose::TrainGenai, &facts("US")), Decision::Allow);
    assert_eq!(decide(&e, &first, Purpose::TrainGenai, &facts("DE")), withheld(Reason::AUTHOR_OPTED_OUT));
    assert_eq!(decide(&e, &first, Purpose::Display, &facts("DE")), Decision::Allow);
}

#[test]
fn lapsed_agreement_is_refused() {
    let e = engine();
    let lapsed = AppFacts { agreement: AgreementState::Lapsed, ..app(Tier::Standard) };
    assert_eq!(decide(&e, &lapsed, Purpose::Display, &open_post()), withheld(Reason::AGREEMENT_NOT_ACCEPTED));
    assert_eq!(e.refusal(&lapsed, Purpose::Display), Some(Reason::AGREEMENT_NOT_ACCEPTED));
    // During the grace period the app is still served.
    let grace = AppFacts { agreement: AgreementState::Grace, ..app(Tier::Standard) };
    assert_eq!(decide(&e, &grace, Purpose::Display, &open_post()), Decision::Allow);
    assert_eq!(e.refusal(&grace, Purpose::Display), None);
}

#[test]
fn suspended_app_gets_nothing() {
    let e = engine();
    let suspended = AppFacts { status: AppStatus::Suspended, ..app(Tier::FirstParty) };
    for p in Purpose::ALL {
        assert_eq!(decide(&e, &suspended, p, &open_post()), withheld(Reason::APP_SUSPENDED), "{p}");
        assert_eq!(e.refusal(&suspended, p), Some(Reason::APP_SUSPENDED));
    }
}

#[test]
fn undeclared_purpose_is_refused() {
    let e = engine();
    let display_only = AppFacts { purposes: vec![Purpose::Display], ..app(Tier::Partner) };
    assert_eq!(decide(&e, &display_only, Purpose::Display, &open_post()), Decision::Allow);
    assert_eq!(decide(&e, &display_only, Purpose::Research, &open_post()), withheld(Reason::PURPOSE_NOT_DECLARED));
    assert_eq!(e.refusal(&display_only, Purpose::Research), Some(Reason::PURPOSE_NOT_DECLARED));
    assert_eq!(e.refusal(&display_only, Purpose::Display), None);
}

#[test]
fn deleted_posts_and_gone_authors_go_to_nobody() {
    let e = engine();
    let first = app(Tier::FirstParty);
    let deleted = PostFacts { deleted: true, ..open_post() };
    assert_eq!(decide(&e, &first, Purpose::Display, &deleted), withheld(Reason::DELETED));
    for (status, reason) in [
        (AccountStatus::Deleted, Reason::DELETED),
        (AccountStatus::Suspended, Reason::AUTHOR_SUSPENDED),
        (AccountStatus::Deactivated, Reason::AUTHOR_DEACTIVATED),
    ] {
        let mut post = open_post();
        post.author.status = status;
        assert_eq!(decide(&e, &first, Purpose::Archive, &post), withheld(reason), "{status:?}");
        // A deleted post is reported as deleted whatever its author's status.
        post.deleted = true;
        assert_eq!(decide(&e, &first, Purpose::Archive, &post), withheld(Reason::DELETED), "{status:?}");
    }
}

#[test]
fn the_most_specific_reason_wins_by_precedence() {
    let e = engine();
    // Everything wrong at once: the post-lifecycle reason comes first...
    let mut post = open_post();
    post.deleted = true;
    post.author.protected = true;
    post.author.minor = true;
    post.no_ai = true;
    post.author.consent = [[false; 2]; 3];
    let bad_app = AppFacts {
        status: AppStatus::Suspended,
        agreement: AgreementState::Lapsed,
        purposes: vec![],
        ..app(Tier::Standard)
    };
    assert_eq!(decide(&e, &bad_app, Purpose::TrainGenai, &post), withheld(Reason::DELETED));
    // ...then the app's standing, then its purposes and terms...
    post.deleted = false;
    assert_eq!(decide(&e, &bad_app, Purpose::TrainGenai, &post), withheld(Reason::APP_SUSPENDED));
    let lapsed = AppFacts { status: AppStatus::Active, ..bad_app.clone() };
    assert_eq!(decide(&e, &lapsed, Purpose::TrainGenai, &post), withheld(Reason::AGREEMENT_NOT_ACCEPTED));
    let undeclared = AppFacts { agreement: AgreementState::Current, ..lapsed };
    assert_eq!(decide(&e, &undeclared, Purpose::TrainGenai, &post), withheld(Reason::PURPOSE_NOT_DECLARED));
    let standard = app(Tier::Standard);
    assert_eq!(decide(&e, &standard, Purpose::TrainGenai, &post), withheld(Reason::AGREEMENT_PROHIBITS));
    // ...then the author's side, most protective first.
    let first = app(Tier::FirstParty);
    assert_eq!(decide(&e, &first, Purpose::TrainGenai, &post), withheld(Reason::PROTECTED_ACCOUNT));
    post.author.protected = false;
    assert_eq!(decide(&e, &first, Purpose::TrainGenai, &post), withheld(Reason::MINOR));
    post.author.minor = false;
    assert_eq!(decide(&e, &first, Purpose::TrainGenai, &post), withheld(Reason::POST_NO_AI));
    post.no_ai = false;
    assert_eq!(decide(&e, &first, Purpose::TrainGenai, &post), withheld(Reason::AUTHOR_OPTED_OUT));
}

#[test]
fn refusal_is_none_when_some_post_could_go() {
    let e = engine();
    assert_eq!(e.refusal(&app(Tier::Standard), Purpose::Display), None);
    assert_eq!(e.refusal(&partner_licensed(), Purpose::TrainGenai), None);
}

#[test]
fn decide_page_matches_decide_in_order() {
    let e = engine();
    let partner = partner_licensed();
    let classes: Vec<ContentClass> =
        (0..ContentClass::COUNT).step_by(37).map(|i| ContentClass::from_index(i).unwrap()).collect();
    let mut out = vec![Decision::Allow; 3];
    e.decide_page(&partner, Purpose::TrainAi, &classes, &mut out);
    assert_eq!(out.len(), classes.len());
    for (class, got) in classes.iter().zip(&out) {
        assert_eq!(*got, e.evaluate(&partner, Purpose::TrainAi, class.facts()));
        assert_eq!(*got, e.decide(&partner, Purpose::TrainAi, *class));
    }
    e.decide_page(&partner, Purpose::TrainAi, &[], &mut out);
    assert!(out.is_empty());
}

#[test]
fn explain_names_the_determining_policy() {
    let e = engine();
    let x = e.explain(&app(Tier::Standard), Purpose::TrainGenai, open_post());
    assert_eq!(x.decision, withheld(Reason::AGREEMENT_PROHIBITS));
    assert_eq!(x.reason, Reason::AGREEMENT_PROHIBITS);
    assert!(x.errors.is_empty());
    let first = &x.determining[0];
    assert_eq!(first.id, "standard-apps-never-train-genai");
    assert_eq!(first.effect, "forbid");
    assert_eq!(first.reason.as_deref(), Some("agreement_prohibits"));
    assert_eq!(first.source, "built-in:apps.cedar");
    assert!(first.line > 0);
    assert!(first.text.contains("Tollgate::Action::\"train-genai\""), "{}", first.text);
    let shown = x.to_string();
    for needle in
        ["withhold", "agreement_prohibits", "standard-apps-never-train-genai", "built-in:apps.cedar:", "forbid"]
    {
        assert!(shown.contains(needle), "`{needle}` missing from:\n{shown}");
    }
    let json = x.to_json();
    assert_eq!(json["decision"], "withhold");
    assert_eq!(json["reason"], "agreement_prohibits");
    assert_eq!(json["determining"][0]["id"], "standard-apps-never-train-genai");
}

#[test]
fn explain_lists_every_applying_forbid_deciding_one_first() {
    let e = engine();
    let mut post = open_post();
    post.author.minor = true;
    post.no_ai = true;
    post.author.consent = [[false; 2]; 3];
    let x = e.explain(&app(Tier::FirstParty), Purpose::AiInput, post);
    let ids: Vec<&str> = x.determining.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(
        ids,
        ["minor-posts-are-never-used-for-ai", "no-ai-posts-are-never-used-for-ai", "author-opted-out-of-ai-input"]
    );
    assert_eq!(x.decision, withheld(Reason::MINOR));
}

#[test]
fn explain_of_an_allowed_post_names_the_permit() {
    let e = engine();
    let x = e.explain(&app(Tier::FirstParty), Purpose::Display, open_post());
    assert_eq!(x.decision, Decision::Allow);
    assert_eq!(x.reason, Reason::ALLOWED);
    assert_eq!(x.determining.len(), 1);
    assert_eq!(x.determining[0].id, "base-permit");
    assert_eq!(x.determining[0].effect, "permit");
    assert!(x.to_string().contains("decision: allow"));
}

#[test]
fn schema_text_declares_every_purpose() {
    let schema = PolicyEngine::schema_text();
    for p in Purpose::ALL {
        assert!(schema.contains(&format!("\"{p}\"")), "{p}");
    }
}

/// A profile is decided by the rules for its owner's posts, with the same
/// reasons: the minor rule, consent after the regional default, protected and
/// the owner's status; the post-only rules ("no AI", deleted) never apply.
#[test]
fn profiles_are_decided_by_their_owners_rules() {
    let e = engine();
    let partner = partner_licensed();
    let profile = |owner: AuthorFacts, app: &AppFacts, purpose: Purpose| {
        let item = ItemFacts::Profile(owner);
        let reference = e.evaluate(app, purpose, item);
        assert_eq!(e.decide(app, purpose, item.class()), reference, "{app:?} {purpose} {owner:?}");
        reference
    };
    let open = open_post().author;
    assert_eq!(profile(open, &partner, Purpose::TrainGenai), Decision::Allow);

    let minor = AuthorFacts::of(&Account { is_minor: Some(true), ..account("US") }, &ConsentDefaults::default(), now());
    assert_eq!(profile(minor, &partner, Purpose::TrainGenai), withheld(Reason::MINOR));
    assert_eq!(profile(minor, &partner, Purpose::Display), Decision::Allow);

    // Unset in a restricted region: the default denies.
    let german = AuthorFacts::of(&account("DE"), &ConsentDefaults::default(), now());
    assert_eq!(profile(german, &partner, Purpose::TrainGenai), withheld(Reason::AUTHOR_OPTED_OUT));
    let mut opted_out = open;
    opted_out.consent[Category::TrainGenai.index()][Scope::ThirdParties.index()] = false;
    assert_eq!(profile(opted_out, &partner, Purpose::TrainGenai), withheld(Reason::AUTHOR_OPTED_OUT));
    assert_eq!(profile(opted_out, &app(Tier::FirstParty), Purpose::TrainGenai), Decision::Allow, "first-party scope");

    let protected = AuthorFacts { protected: true, ..open };
    assert_eq!(profile(protected, &app(Tier::Standard), Purpose::Display), withheld(Reason::PROTECTED_ACCOUNT));
    assert_eq!(profile(protected, &app(Tier::FirstParty), Purpose::Display), Decision::Allow);

    for (status, reason) in [
        (AccountStatus::Suspended, Reason::AUTHOR_SUSPENDED),
        (AccountStatus::Deactivated, Reason::AUTHOR_DEACTIVATED),
        (AccountStatus::Deleted, Reason::DELETED),
    ] {
        assert_eq!(profile(AuthorFacts { status, ..open }, &app(Tier::FirstParty), Purpose::Display), withheld(reason));
    }

    // The explanation names the same policy as for the owner's post.
    let x = e.explain(&partner, Purpose::TrainGenai, ItemFacts::Profile(minor));
    assert_eq!(x.determining[0].id, "minor-posts-are-never-used-for-ai");
    let post = PostFacts { author: minor, no_ai: false, deleted: false };
    assert_eq!(e.explain(&partner, Purpose::TrainGenai, post).determining, x.determining);
}
