//! Tollgate's policy engine: decides, for every post and every account profile
//! and every recipient app, whether the item may be released for a purpose,
//! using Cedar.
//!
//! The rules live in Cedar policies validated against a fixed schema
//! (`schema/tollgate.cedarschema`); a built-in pack (`pack/*.cedar`) implements
//! the platform's rules, and an operator may replace or extend it with a
//! directory of their own. Two paths give the same answers:
//!
//! - the reference path (`PolicyEngine::evaluate`) builds a Cedar request for
//!   every decision;
//! - the compiled path (`PolicyEngine::decide`, `decide_page`) asks Cedar once
//!   per (app facts, purpose, content class) and then answers from memory.
//!
//! They agree because a `ContentClass` packs every fact a policy can see about
//! a post or a profile, losslessly, and the Cedar resource is built from those
//! facts alone; the differential test checks it on a million random cases.
//! See `docs/policy.md`.
//!
//! The guard policy (`GuardPolicy`, `guard.rs`) is a second policy set of the
//! same kind: its own schema (`schema/guard.cedarschema`) and built-in pack
//! (`pack/guard/`), decided per `GuardClass`. See `docs/guard.md`.

mod cache;
mod engine;
mod error;
mod explain;
mod guard;
mod pack;

pub use engine::{POLICY_ERROR, PolicyEngine};
pub use error::PolicyError;
pub use explain::{Explanation, PolicyRef};
pub use guard::{GuardDecision, GuardExplanation, GuardMatch, GuardPolicy, SEVERITY};

use tollgate_domain::{AgreementState, App, AppId, AppStatus, Purpose, Tier};

/// Everything about a recipient app that a decision may depend on. Decisions
/// are cached per distinct `AppFacts`, so a change to any of these (a new
/// license, a lapsed agreement) is a new key and is decided afresh.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AppFacts {
    pub app_id: AppId,
    pub tier: Tier,
    pub purposes: Vec<Purpose>,
    pub licensed_purposes: Vec<Purpose>,
    pub status: AppStatus,
    pub agreement: AgreementState,
}

impl AppFacts {
    pub fn of(app: &App, agreement: AgreementState) -> AppFacts {
        AppFacts {
            app_id: app.id,
            tier: app.tier,
            purposes: app.purposes.clone(),
            licensed_purposes: app.licensed_purposes.clone(),
            status: app.status,
            agreement,
        }
    }
}

/// How an operator's policy directory combines with the built-in pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PolicyMode {
    /// Only the operator's policies apply.
    Replace,
    /// The built-in pack applies, and the operator's policies on top of it.
    #[default]
    Extend,
}

impl PolicyMode {
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyMode::Replace => "replace",
            PolicyMode::Extend => "extend",
        }
    }
}

impl std::str::FromStr for PolicyMode {
    type Err = tollgate_domain::ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "replace" => Ok(PolicyMode::Replace),
            "extend" => Ok(PolicyMode::Extend),
            _ => Err(tollgate_domain::ParseError::new("policy mode", s, "one of replace, extend")),
        }
    }
}

#[cfg(test)]
mod tests {
    use tollgate_domain::{Decision, Reason};

    use super::*;

    #[test]
    fn engine_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<PolicyEngine>();
    }

    #[test]
    fn builtin_pack_loads_and_every_policy_has_an_id() {
        let engine = PolicyEngine::builtin().unwrap();
        let ids = engine.policy_ids();
        assert!(ids.contains(&"base-permit".to_owned()));
        assert!(ids.contains(&"deleted-posts-go-to-nobody".to_owned()));
        assert_eq!(ids.len(), 16, "{ids:?}");
        assert_eq!(engine.version().len(), 64);
        assert_eq!(engine.version(), PolicyEngine::builtin().unwrap().version());
    }

    #[test]
    fn policy_mode_parses() {
        assert_eq!("replace".parse::<PolicyMode>().unwrap(), PolicyMode::Replace);
        assert!("merge".parse::<PolicyMode>().unwrap_err().to_string().contains("`merge`"));
    }

    #[test]
    fn cache_holds_one_table_per_app_facts() {
        let engine = PolicyEngine::builtin().unwrap();
        let app = AppFacts {
            app_id: AppId(1),
            tier: Tier::Partner,
            purposes: vec![Purpose::Display],
            licensed_purposes: vec![],
            status: AppStatus::Active,
            agreement: AgreementState::Current,
        };
        let class = tollgate_domain::ContentClass::from_index(0).unwrap();
        engine.decide(&app, Purpose::Display, class);
        engine.decide(&app, Purpose::Search, class);
        assert_eq!(engine.cached_apps(), 1);
        let other = AppFacts { agreement: AgreementState::Lapsed, ..app };
        engine.decide(&other, Purpose::Display, class);
        assert_eq!(engine.cached_apps(), 2);
    }

    #[test]
    fn cache_is_emptied_past_its_bound_and_stays_right() {
        let engine = PolicyEngine::builtin().unwrap();
        let class = tollgate_domain::ContentClass::from_index(0).unwrap();
        let app = |id| AppFacts {
            app_id: AppId(id),
            tier: Tier::Standard,
            purposes: vec![Purpose::Display],
            licensed_purposes: vec![],
            status: if id % 2 == 0 { AppStatus::Active } else { AppStatus::Suspended },
            agreement: AgreementState::Current,
        };
        for id in 0..=cache::MAX_TABLES as u64 + 10 {
            let expected = engine.evaluate(&app(id), Purpose::Display, class.facts());
            assert_eq!(engine.decide(&app(id), Purpose::Display, class), expected, "app {id}");
            assert!(engine.cached_apps() <= cache::MAX_TABLES);
        }
        assert_eq!(engine.cached_apps(), 11, "emptied once, then refilled");
        assert_eq!(engine.decide(&app(1), Purpose::Display, class), Decision::Withhold(Reason::APP_SUSPENDED));
        assert_eq!(engine.decide(&app(2), Purpose::Display, class), Decision::Allow);
    }
}
