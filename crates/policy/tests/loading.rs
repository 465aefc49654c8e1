//! Loading operator policy directories: `replace` and `extend`, the checks on
//! annotations, and the messages an operator sees when a policy is wrong.

use std::path::{Path, PathBuf};

use tollgate_domain::Purpose;
use tollgate_domain::{AccountStatus, AgreementState, AppId, AppStatus, AuthorFacts, Decision, ItemFacts, PostFacts};
use tollgate_domain::{Reason, RegionGroup, Tier};
use tollgate_policy::{AppFacts, PolicyEngine, PolicyError, PolicyMode};

/// A fresh directory holding `files`, removed again on drop.
struct PolicyDir(PathBuf);

impl PolicyDir {
    fn new(name: &str, files: &[(&str, &str)]) -> PolicyDir {
        let dir = std::env::temp_dir().join(format!("tollgate-policy-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (file, text) in files {
            std::fs::write(dir.join(file), text).unwrap();
        }
        PolicyDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for PolicyDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn load(dir: &PolicyDir, mode: PolicyMode) -> Result<PolicyEngine, PolicyError> {
    PolicyEngine::load(Some(dir.path()), mode)
}

fn researcher() -> AppFacts {
    AppFacts {
        app_id: AppId(3),
        tier: Tier::Partner,
        purposes: vec![Purpose::Display, Purpose::Research],
        licensed_purposes: vec![],
        status: AppStatus::Active,
        agreement: AgreementState::Current,
    }
}

fn post_in(region_group: RegionGroup) -> PostFacts {
    PostFacts {
        author: AuthorFacts {
            consent: [[true; 2]; 3],
            protected: false,
            minor: false,
            region_group,
            status: AccountStatus::Active,
        },
        no_ai: false,
        deleted: false,
    }
}

const EMBARGO: &str = r#"
// Research access stops at the restricted region group's border.
@id("no-research-in-restricted-regions")
@reason("embargoed_region")
@precedence("35")
forbid (principal, action == Tollgate::Action::"research", resource)
when { resource.region_group == "restricted" };
"#;

#[test]
fn extend_mode_adds_operator_policies() {
    let dir = PolicyDir::new("extend", &[("embargo.cedar", EMBARGO), ("README.txt", "not a policy")]);
    let engine = load(&dir, PolicyMode::Extend).unwrap();
    let app = researcher();
    let restricted = post_in(RegionGroup::Restricted);
    let embargoed = Decision::Withhold(Reason::intern("embargoed_region"));
    assert_eq!(engine.evaluate(&app, Purpose::Research, restricted), embargoed);
    assert_eq!(engine.decide(&app, Purpose::Research, restricted.class()), embargoed);
    assert_eq!(engine.decide(&app, Purpose::Research, post_in(RegionGroup::Default).class()), Decision::Allow);
    // Only one region group is embargoed, so the request as a whole is not refused.
    assert_eq!(engine.refusal(&app, Purpose::Research), None);
    // The built-in pack still applies.
    assert_eq!(
        engine.decide(&app, Purpose::Search, restricted.class()),
        Decision::Withhold(Reason::PURPOSE_NOT_DECLARED)
    );
    let ids = engine.policy_ids();
    assert!(ids.iter().any(|i| i == "base-permit") && ids.iter().any(|i| i == "no-research-in-restricted-regions"));
    assert_ne!(engine.version(), PolicyEngine::builtin().unwrap().version());
    // The operator's precedence (35) puts the embargo before `purpose_not_declared` (40).
    let undeclared = AppFacts { purposes: vec![Purpose::Display], ..app };
    assert_eq!(engine.evaluate(&undeclared, Purpose::Research, restricted), embargoed);
    let x = engine.explain(&undeclared, Purpose::Research, restricted);
    assert_eq!(x.determining[0].source, "embargo.cedar");
    assert_eq!(x.determining[0].line, 3);
    assert_eq!(x.determining[1].id, "undeclared-purposes-are-refused");
}

#[test]
fn replace_mode_uses_only_operator_policies() {
    let only_display = r#"
@id("display-only")
permit (principal, action == Tollgate::Action::"display", resource);
"#;
    let dir = PolicyDir::new("replace", &[("b.cedar", EMBARGO), ("a.cedar", only_display)]);
    let engine = load(&dir, PolicyMode::Replace).unwrap();
    assert_eq!(engine.policy_ids(), ["display-only", "no-research-in-restricted-regions"], "sorted by file name");
    let app = researcher();
    let mut post = post_in(RegionGroup::Default);
    post.author.protected = true;
    // The built-in forbid on protected posts is gone...
    assert_eq!(engine.evaluate(&app, Purpose::Display, post), Decision::Allow);
    // ...and so is the base permit: what nothing permits is not permitted.
    assert_eq!(engine.evaluate(&app, Purpose::Research, post), Decision::Withhold(Reason::NOT_PERMITTED));
    assert_eq!(engine.refusal(&app, Purpose::Research), Some(Reason::NOT_PERMITTED));
    let x = engine.explain(&app, Purpose::Research, post);
    assert!(x.determining.is_empty());
    assert!(x.to_string().contains("no policy permits"), "{x}");
}

#[test]
fn no_directory_means_the_built_in_pack() {
    let engine = PolicyEngine::load(None, PolicyMode::Replace).unwrap();
    assert_eq!(engine.version(), PolicyEngine::builtin().unwrap().version());
}

#[test]
fn invalid_policy_dir_is_refused_with_cedar_diagnostics() {
    // A syntax error: Cedar's parser message, the file and the line.
    let broken = "@id(\"broken\")\n@reason(\"x\")\nforbid (principal, action, resource)\nwhen { resource.deleted ";
    let dir = PolicyDir::new("parse", &[("broken.cedar", broken)]);
    let err = load(&dir, PolicyMode::Extend).unwrap_err();
    assert!(matches!(err, PolicyError::Parse { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("broken.cedar") && msg.contains("unexpected end of input"), "{msg}");
    assert!(msg.contains("broken.cedar:4:"), "{msg}");

    // A typo in an attribute: the validator's message, the policy id, the file.
    let typo = "@id(\"typo\")\n@reason(\"gone\")\nforbid (principal, action, resource)\nwhen { resource.delted };\n";
    let dir = PolicyDir::new("validate", &[("typo.cedar", typo)]);
    let err = load(&dir, PolicyMode::Extend).unwrap_err();
    assert!(matches!(err, PolicyError::Validation { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("`typo`") && msg.contains("typo.cedar:4:") && msg.contains("delted"), "{msg}");

    // A type error and an unknown action.
    let wrong = concat!(
        "@id(\"wrong-type\") @reason(\"x\") forbid (principal, action, resource) when { resource.minor == \"yes\" };\n",
        "@id(\"no-such-action\") @reason(\"x\") forbid (principal, action == Tollgate::Action::\"sell\", resource);\n"
    );
    let dir = PolicyDir::new("types", &[("wrong.cedar", wrong)]);
    let msg = load(&dir, PolicyMode::Replace).unwrap_err().to_string();
    assert!(msg.contains("`wrong-type`") && msg.contains("`no-such-action`"), "{msg}");
    assert!(msg.contains("wrong.cedar:1:") && msg.contains("wrong.cedar:2:"), "{msg}");
}

/// Profiles (`Tollgate::Account`) have no `no_ai` or `deleted`: a policy
/// reading them unguarded is refused with a message naming the entity type,
/// and the same policy guarded with `resource is Tollgate::Post` loads and
/// leaves profiles alone.
#[test]
fn post_only_attributes_need_an_is_guard() {
    let unguarded =
        "@id(\"quiet\")\n@reason(\"quiet\")\nforbid (principal, action, resource)\nwhen { resource.no_ai };\n";
    let dir = PolicyDir::new("unguarded", &[("quiet.cedar", unguarded)]);
    let err = load(&dir, PolicyMode::Extend).unwrap_err();
    assert!(matches!(err, PolicyError::Validation { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("`quiet`") && msg.contains("no_ai") && msg.contains("Tollgate::Account"), "{msg}");

    let guarded = unguarded.replace("resource.no_ai", "resource is Tollgate::Post && resource.no_ai");
    let dir = PolicyDir::new("guarded", &[("quiet.cedar", &guarded)]);
    let engine = load(&dir, PolicyMode::Extend).unwrap();
    let app = researcher();
    let marked = PostFacts { no_ai: true, ..post_in(RegionGroup::Default) };
    assert_eq!(engine.evaluate(&app, Purpose::Display, marked), Decision::Withhold(Reason::intern("quiet")));
    let profile = ItemFacts::Profile(marked.author);
    assert_eq!(engine.evaluate(&app, Purpose::Display, profile), Decision::Allow);
    assert_eq!(engine.decide(&app, Purpose::Display, profile.class()), Decision::Allow);
}

/// A policy can tell a profile from a post, so the compiled path must never
/// answer one from the other's slot: a post and a profile with the same
/// author facts, decided one after the other on one engine, each get their
/// own answer.
#[test]
fn profiles_and_posts_never_share_a_cached_answer() {
    let text = "@id(\"no-profiles\")\n@reason(\"no_profiles\")\nforbid (principal, action, resource)\nwhen { resource is Tollgate::Account };\n";
    let dir = PolicyDir::new("kinds", &[("kinds.cedar", text)]);
    let engine = load(&dir, PolicyMode::Extend).unwrap();
    let app = researcher();
    let post = post_in(RegionGroup::Default);
    let profile = ItemFacts::Profile(post.author);
    assert_eq!(engine.decide(&app, Purpose::Display, post.class()), Decision::Allow);
    assert_eq!(
        engine.decide(&app, Purpose::Display, profile.class()),
        Decision::Withhold(Reason::intern("no_profiles"))
    );
    assert_eq!(engine.decide(&app, Purpose::Display, post.class()), Decision::Allow);
    // Only posts can still go, so the request as a whole is not refused.
    assert_eq!(engine.refusal(&app, Purpose::Display), None);
}

#[test]
fn forbid_without_reason_is_refused() {
    let text = "@id(\"silent\")\nforbid (principal, action, resource) when { resource.minor };\n";
    let dir = PolicyDir::new("noreason", &[("silent.cedar", text)]);
    let err = load(&dir, PolicyMode::Extend).unwrap_err();
    assert!(matches!(err, PolicyError::MissingReason { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("`silent`") && msg.contains("silent.cedar:1") && msg.contains("@reason"), "{msg}");
}

#[test]
fn malformed_reason_or_precedence_is_refused() {
    let text = "@id(\"loud\") @reason(\"Not Snake\") forbid (principal, action, resource);\n";
    let dir = PolicyDir::new("badreason", &[("loud.cedar", text)]);
    let msg = load(&dir, PolicyMode::Extend).unwrap_err().to_string();
    assert!(msg.contains("`Not Snake`") && msg.contains("`loud`"), "{msg}");

    let text = "@id(\"soon\") @reason(\"soon\") @precedence(\"first\") forbid (principal, action, resource);\n";
    let dir = PolicyDir::new("badprecedence", &[("soon.cedar", text)]);
    let err = load(&dir, PolicyMode::Extend).unwrap_err();
    assert!(matches!(err, PolicyError::InvalidPrecedence { .. }) && err.to_string().contains("`first`"), "{err}");
}

#[test]
fn duplicate_policy_ids_are_refused() {
    let text = "@id(\"base-permit\")\npermit (principal, action, resource);\n";
    let dir = PolicyDir::new("dup", &[("mine.cedar", text)]);
    let err = load(&dir, PolicyMode::Extend).unwrap_err();
    assert!(matches!(err, PolicyError::DuplicateId { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("`base-permit`") && msg.contains("built-in:base.cedar") && msg.contains("mine.cedar"),
        "{msg}"
    );
    // In replace mode the built-in pack is not there to collide with.
    assert!(load(&dir, PolicyMode::Replace).is_ok());

    let twice = "@id(\"a\") permit (principal, action, resource);\n@id(\"a\") permit (principal, action, resource);\n";
    let dir = PolicyDir::new("dup2", &[("twice.cedar", twice)]);
    assert!(matches!(load(&dir, PolicyMode::Replace), Err(PolicyError::DuplicateId { .. })));
}

#[test]
fn policies_without_an_id_are_named_after_their_file() {
    let text = "permit (principal, action, resource);\n@reason(\"x\") forbid (principal, action, resource) when { resource.minor };\n";
    let dir = PolicyDir::new("noid", &[("anon.cedar", text)]);
    let engine = load(&dir, PolicyMode::Replace).unwrap();
    assert_eq!(engine.policy_ids(), ["anon-1", "anon-2"]);
}

#[test]
fn templates_are_refused() {
    let text = "@id(\"t\") permit (principal == ?principal, action, resource);\n";
    let dir = PolicyDir::new("template", &[("t.cedar", text)]);
    assert!(matches!(load(&dir, PolicyMode::Extend), Err(PolicyError::Template { .. })));
}

#[test]
fn missing_or_empty_directories_are_refused() {
    let missing = std::env::temp_dir().join(format!("tollgate-policy-{}-missing", std::process::id()));
    let err = PolicyEngine::load(Some(&missing), PolicyMode::Extend).unwrap_err();
    assert!(matches!(err, PolicyError::ReadDir { .. }));
    assert!(err.to_string().contains(&format!("`{}`", missing.display())), "{err}");

    let dir = PolicyDir::new("empty", &[("notes.md", "# nothing here")]);
    assert!(matches!(load(&dir, PolicyMode::Replace), Err(PolicyError::NoPolicies { .. })));
    // Extending with nothing is just the built-in pack.
    let engine = load(&dir, PolicyMode::Extend).unwrap();
    assert_eq!(engine.version(), PolicyEngine::builtin().unwrap().version());
}

#[test]
fn version_is_stable_and_follows_every_byte() {
    let a = PolicyDir::new("v1", &[("embargo.cedar", EMBARGO)]);
    let v1 = load(&a, PolicyMode::Extend).unwrap().version().to_owned();
    assert_eq!(v1, load(&a, PolicyMode::Extend).unwrap().version());
    // The same file under another directory hashes the same...
    let b = PolicyDir::new("v1-copy", &[("embargo.cedar", EMBARGO)]);
    assert_eq!(v1, load(&b, PolicyMode::Extend).unwrap().version());
    // ...but another name, another text or another mode does not.
    let c = PolicyDir::new("v2", &[("embargo2.cedar", EMBARGO)]);
    assert_ne!(v1, load(&c, PolicyMode::Extend).unwrap().version());
    let d = PolicyDir::new("v3", &[("embargo.cedar", &EMBARGO.replace("35", "36"))]);
    assert_ne!(v1, load(&d, PolicyMode::Extend).unwrap().version());
    assert_ne!(v1, load(&a, PolicyMode::Replace).unwrap().version());
}
