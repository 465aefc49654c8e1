//! The guard policy: which answer the guard gives a client, decided by Cedar
//! from the client's `GuardClass` (the signals that fired for its actor, what
//! it is, its network, what it asks for).
//!
//! The guard policy is a second policy set beside the content policy, with a
//! schema of its own (`schema/guard.cedarschema`, namespace `Guard`) and a
//! built-in pack (`pack/guard/*.cedar`), loaded, validated and explained the
//! same way. Each response is a Cedar action; a permit says the guard may
//! answer with it, a forbid that it may not. The guard asks about every
//! action and answers with the severest one permitted, in the order block,
//! tarpit, challenge, license, throttle, charge; none permitted means the
//! request is served (`Allow`).
//!
//! Decisions are cached per class (`GuardClass::bits`): the `Guard::Client`
//! entity is built from the class alone, so the answer for a class never
//! changes for one loaded policy. The road not taken: a decision per
//! request, with the request's own facts in the context; that would make the
//! cache inexact and each request cost six Cedar evaluations.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::{PoisonError, RwLock};

use cedar_policy::{
    Authorizer, Context, Effect, Entities, Entity, EntityId, EntityTypeName, EntityUid, PolicyId, PolicySet, Request,
    Response, RestrictedExpression, Schema,
};
use serde_json::json;
use tollgate_domain::{GuardAction, GuardClass};

use crate::pack::{self, CompiledPack, PolicyMeta, Rules, Source};
use crate::{PolicyError, PolicyMode, PolicyRef};

/// The actions the guard asks about, severest first: the first one the
/// policy permits is the answer.
pub const SEVERITY: [GuardAction; 6] = [
    GuardAction::Block,
    GuardAction::Tarpit,
    GuardAction::Challenge,
    GuardAction::License,
    GuardAction::Throttle,
    GuardAction::Charge,
];

/// Beyond this many distinct classes the cache is emptied and refilled. Real
/// traffic shows a few hundred classes; only an attack on the signals could
/// produce more, and then the cost is a Cedar evaluation, never a wrong answer.
pub(crate) const MAX_CACHED_CLASSES: usize = 1 << 16;

/// The guard policy's answer for one class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardDecision {
    pub action: GuardAction,
    /// The permit that chose the action (`None` for `Allow`): of the permits
    /// for the action that applied, the one with the lowest `@precedence`,
    /// then the lowest id.
    pub policy_id: Option<String>,
    /// That policy's `@reason`.
    pub reason: Option<String>,
}

impl GuardDecision {
    pub const ALLOW: GuardDecision = GuardDecision { action: GuardAction::Allow, policy_id: None, reason: None };
}

/// Decides the guard's answer for a client's class. Cheap to share: every
/// method takes `&self`.
pub struct GuardPolicy {
    schema: Schema,
    policies: PolicySet,
    /// The permits alone: what `explain` asks to list every permit that
    /// applied, even those a forbid overrode.
    permits: PolicySet,
    authorizer: Authorizer,
    meta: Vec<PolicyMeta>,
    index: HashMap<PolicyId, usize>,
    version: String,
    client: EntityTypeName,
    /// `Guard::Request::"request"`, the resource of every request.
    request: Entity,
    /// One action per entry of `SEVERITY`.
    actions: Vec<EntityUid>,
    /// The schema's action entities, built once.
    action_entities: Entities,
    cache: RwLock<HashMap<u64, GuardDecision>>,
}

impl fmt::Debug for GuardPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardPolicy")
            .field("version", &self.version)
            .field("policies", &self.meta.len())
            .finish_non_exhaustive()
    }
}

impl GuardPolicy {
    /// The built-in guard pack.
    pub fn builtin() -> Result<GuardPolicy, PolicyError> {
        Self::from_sources(builtin_sources())
    }

    /// Loads `dir/*.cedar` (sorted by file name). Replace: those and the
    /// guarantees (`pack/guard/guarantees.cedar`, kept in every mode); Extend:
    /// the built-in guard pack and those. Without a directory, the built-in
    /// pack.
    pub fn load(dir: Option<&Path>, mode: PolicyMode) -> Result<GuardPolicy, PolicyError> {
        let Some(dir) = dir else { return Self::builtin() };
        let own = pack::dir_sources(dir)?;
        let sources = match mode {
            PolicyMode::Replace => {
                if own.is_empty() {
                    return Err(PolicyError::NoPolicies { dir: dir.to_owned() });
                }
                let mut all = pack::sources_of(&[pack::GUARD_KEPT]);
                all.extend(own);
                all
            }
            PolicyMode::Extend => {
                let mut all = builtin_sources();
                all.extend(own);
                all
            }
        };
        Self::from_sources(sources)
    }

    /// A guard policy from texts given directly, as `(file name, text)`, with
    /// the guarantees: what `load` does in `replace` mode.
    pub fn from_texts(texts: &[(&str, &str)]) -> Result<GuardPolicy, PolicyError> {
        let mut sources = pack::sources_of(&[pack::GUARD_KEPT]);
        sources.extend(texts.iter().map(|(name, text)| Source {
            name: (*name).to_owned(),
            path: None,
            text: (*text).to_owned(),
        }));
        Self::from_sources(sources)
    }

    fn from_sources(sources: Vec<Source>) -> Result<GuardPolicy, PolicyError> {
        let bad = |e: cedar_policy::ParseErrors| PolicyError::Schema(e.to_string());
        let (schema, _warnings) =
            Schema::from_cedarschema_str(pack::GUARD_SCHEMA).map_err(|e| PolicyError::Schema(e.to_string()))?;
        let CompiledPack { set, meta, index } = pack::compile(&schema, &sources, Rules::Guard)?;
        let mut permits = PolicySet::new();
        for p in set.policies().filter(|p| p.effect() == Effect::Permit) {
            permits.add(p.clone()).map_err(|e| PolicyError::Schema(e.to_string()))?;
        }
        let version = pack::version_hash_with("schema:guard.cedarschema", pack::GUARD_SCHEMA, &sources);
        let action = EntityTypeName::from_str("Guard::Action").map_err(bad)?;
        let request_type = EntityTypeName::from_str("Guard::Request").map_err(bad)?;
        let request = Entity::new_no_attrs(
            EntityUid::from_type_name_and_id(request_type, EntityId::new("request")),
            HashSet::new(),
        );
        Ok(GuardPolicy {
            action_entities: schema.action_entities().map_err(|e| PolicyError::Schema(e.to_string()))?,
            schema,
            policies: set,
            permits,
            authorizer: Authorizer::new(),
            meta,
            index,
            version,
            client: EntityTypeName::from_str("Guard::Client").map_err(bad)?,
            request,
            actions: SEVERITY
                .iter()
                .map(|a| EntityUid::from_type_name_and_id(action.clone(), EntityId::new(a.as_str())))
                .collect(),
            cache: RwLock::default(),
        })
    }

    /// Hex SHA-256 over the guard schema and every guard policy source.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The guard schema, in Cedar schema syntax.
    pub fn schema_text() -> &'static str {
        pack::GUARD_SCHEMA
    }

    /// The ids of the loaded guard policies, in load order.
    pub fn policy_ids(&self) -> Vec<String> {
        self.meta.iter().map(|m| m.id.clone()).collect()
    }

    /// The answer for `class`: from memory once the class has been decided;
    /// the first time, `evaluate` decides and the answer is kept.
    pub fn decide(&self, class: &GuardClass) -> GuardDecision {
        let bits = class.bits();
        if let Some(d) = self.cache.read().unwrap_or_else(PoisonError::into_inner).get(&bits) {
            return d.clone();
        }
        let decision = self.evaluate(class);
        let mut cache = self.cache.write().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= MAX_CACHED_CLASSES {
            cache.clear();
        }
        cache.insert(bits, decision.clone());
        decision
    }

    /// The reference path: asks Cedar about every action, severest first,
    /// without any caching. A policy whose evaluation fails is ignored, as
    /// Cedar ignores it (strict validation leaves little that can fail); the
    /// guard then fails open, toward serving, rather than refusing everyone
    /// over a broken rule. `explain` shows such errors.
    pub fn evaluate(&self, class: &GuardClass) -> GuardDecision {
        let Ok(entities) = self.entities(class) else { return GuardDecision::ALLOW };
        for (i, action) in SEVERITY.iter().enumerate() {
            let Ok(response) = self.ask(class, i, &self.policies, &entities) else { continue };
            if response.decision() == cedar_policy::Decision::Allow {
                let deciding = self.deciding(&response);
                return GuardDecision {
                    action: *action,
                    policy_id: deciding.map(|m| m.id.clone()),
                    reason: deciding.and_then(|m| m.reason).map(|r| r.as_str().to_owned()),
                };
            }
        }
        GuardDecision::ALLOW
    }

    /// Decides like `evaluate` and lists every policy that applied to the
    /// class, for each action, with whether it was in force.
    pub fn explain(&self, class: &GuardClass) -> GuardExplanation {
        let mut explanation = GuardExplanation {
            class: *class,
            decision: GuardDecision::ALLOW,
            deciding: None,
            matched: Vec::new(),
            errors: Vec::new(),
        };
        let entities = match self.entities(class) {
            Ok(e) => e,
            Err(message) => {
                explanation.errors.push(message);
                return explanation;
            }
        };
        for (i, action) in SEVERITY.iter().enumerate() {
            let asked = self
                .ask(class, i, &self.policies, &entities)
                .and_then(|full| Ok((full, self.ask(class, i, &self.permits, &entities)?)));
            let (full, permits) = match asked {
                Ok(r) => r,
                Err(message) => {
                    explanation.errors.push(format!("{}: {message}", action.as_str()));
                    continue;
                }
            };
            explanation.errors.extend(full.diagnostics().errors().map(|e| format!("{}: {e}", action.as_str())));
            let permitted = full.decision() == cedar_policy::Decision::Allow;
            let chosen = permitted && explanation.decision.action == GuardAction::Allow;
            let deciding = if chosen { self.deciding(&full) } else { None };
            if chosen {
                explanation.decision = GuardDecision {
                    action: *action,
                    policy_id: deciding.map(|m| m.id.clone()),
                    reason: deciding.and_then(|m| m.reason).map(|r| r.as_str().to_owned()),
                };
                explanation.deciding = deciding.map(policy_ref);
            }
            let forbids = if permitted { Vec::new() } else { self.satisfied(&full) };
            let mut applied = self.satisfied(&permits);
            applied.extend(forbids);
            for m in applied {
                if deciding.is_some_and(|d| d.id == m.id) {
                    continue;
                }
                let in_force = if m.effect == "forbid" { true } else { permitted };
                explanation.matched.push(GuardMatch { action: *action, policy: policy_ref(m), in_force });
            }
        }
        explanation
    }

    /// The policies Cedar reports as determining a response, by (precedence, id).
    fn satisfied(&self, response: &Response) -> Vec<&PolicyMeta> {
        let mut found: Vec<&PolicyMeta> =
            response.diagnostics().reason().filter_map(|id| self.index.get(id)).map(|&i| &self.meta[i]).collect();
        found.sort_by(|a, b| a.precedence.cmp(&b.precedence).then_with(|| a.id.cmp(&b.id)));
        found
    }

    /// The permit that decides a permitted action.
    fn deciding(&self, response: &Response) -> Option<&PolicyMeta> {
        self.satisfied(response).into_iter().next()
    }

    /// The entities of a request about `class`: the client, the request and
    /// the schema's actions.
    fn entities(&self, class: &GuardClass) -> Result<Entities, String> {
        let client = self.client_entity(class)?;
        self.action_entities
            .clone()
            .add_entities([client, self.request.clone()], None)
            .map_err(|e| format!("cannot build the entities: {e}"))
    }

    fn ask(&self, class: &GuardClass, action: usize, set: &PolicySet, entities: &Entities) -> Result<Response, String> {
        let request = Request::new(
            self.client_uid(class),
            self.actions[action].clone(),
            self.request.uid(),
            Context::empty(),
            Some(&self.schema),
        )
        .map_err(|e| format!("request does not match the guard schema: {e}"))?;
        Ok(self.authorizer.is_authorized(&request, set, entities))
    }

    fn client_uid(&self, class: &GuardClass) -> EntityUid {
        EntityUid::from_type_name_and_id(self.client.clone(), EntityId::new(format!("class-{}", class.bits())))
    }

    /// `Guard::Client::"class-<bits>"`, built from the class alone.
    // INVARIANT (guard-class-exact): every attribute comes from `class`, so
    // caching the decision per `class.bits()` is exact.
    fn client_entity(&self, class: &GuardClass) -> Result<Entity, String> {
        let string = |s: &str| RestrictedExpression::new_string(s.to_owned());
        let attrs = HashMap::from([
            ("signals".to_owned(), RestrictedExpression::new_set(class.signals.iter().map(|s| string(s.as_str())))),
            ("kind".to_owned(), string(class.kind.as_str())),
            ("network".to_owned(), string(class.network.as_str())),
            ("resource".to_owned(), string(class.resource.as_str())),
            ("disallowed".to_owned(), RestrictedExpression::new_bool(class.disallowed)),
            ("offers_price".to_owned(), RestrictedExpression::new_bool(class.offers_price)),
            ("passed_challenge".to_owned(), RestrictedExpression::new_bool(class.passed_challenge)),
        ]);
        Entity::new(self.client_uid(class), attrs, HashSet::new())
            .map_err(|e| format!("cannot build the client entity: {e}"))
    }

    #[cfg(test)]
    pub(crate) fn cached_classes(&self) -> usize {
        self.cache.read().unwrap_or_else(PoisonError::into_inner).len()
    }
}

fn builtin_sources() -> Vec<Source> {
    let mut all = pack::sources_of(&pack::GUARD_BUILT_IN);
    all.extend(pack::sources_of(&[pack::GUARD_KEPT]));
    all
}

fn policy_ref(m: &PolicyMeta) -> PolicyRef {
    PolicyRef {
        id: m.id.clone(),
        effect: m.effect,
        reason: m.reason.map(|r| r.as_str().to_owned()),
        source: m.source.clone(),
        line: m.line,
        text: m.text.clone(),
    }
}

/// One guard decision and the policies behind it: what `tollgate guard
/// explain` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardExplanation {
    pub class: GuardClass,
    pub decision: GuardDecision,
    /// The permit that chose the action; `None` for `Allow`.
    pub deciding: Option<PolicyRef>,
    /// Every other policy that applied, action by action, severest first.
    pub matched: Vec<GuardMatch>,
    /// Cedar's evaluation errors, if any (the failing policies were ignored).
    pub errors: Vec<String>,
}

/// A policy that applied to the class for one action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardMatch {
    pub action: GuardAction,
    pub policy: PolicyRef,
    /// A forbid always is; a permit is unless a forbid overrode it.
    pub in_force: bool,
}

impl GuardExplanation {
    /// `{action, policy_id, reason, class: {...}, deciding, matched: [...], errors}`.
    pub fn to_json(&self) -> serde_json::Value {
        let policy = |p: &PolicyRef| {
            json!({
                "id": p.id, "effect": p.effect, "reason": p.reason,
                "source": p.source, "line": p.line, "text": p.text,
            })
        };
        let c = &self.class;
        json!({
            "action": self.decision.action.as_str(),
            "policy_id": self.decision.policy_id,
            "reason": self.decision.reason,
            "class": {
                "kind": c.kind.as_str(),
                "network": c.network.as_str(),
                "resource": c.resource.as_str(),
                "signals": c.signals.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
                "disallowed": c.disallowed,
                "offers_price": c.offers_price,
                "passed_challenge": c.passed_challenge,
                "bits": c.bits(),
            },
            "deciding": self.deciding.as_ref().map(policy),
            "matched": self.matched.iter().map(|m| {
                let mut v = policy(&m.policy);
                v["action"] = json!(m.action.as_str());
                v["in_force"] = json!(m.in_force);
                v
            }).collect::<Vec<_>>(),
            "errors": self.errors,
        })
    }
}

impl fmt::Display for GuardExplanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.class;
        let signals: Vec<&str> = c.signals.iter().map(|s| s.as_str()).collect();
        let yes = |b: bool| if b { "yes" } else { "no" };
        writeln!(
            f,
            "client: kind {}, network {}, resource {}, signals {}, disallowed {}, offers price {}, passed challenge {}",
            c.kind.as_str(),
            c.network.as_str(),
            c.resource.as_str(),
            if signals.is_empty() { "none".to_owned() } else { signals.join(",") },
            yes(c.disallowed),
            yes(c.offers_price),
            yes(c.passed_challenge),
        )?;
        writeln!(f, "action: {}", self.decision.action.as_str())?;
        match &self.deciding {
            Some(p) => {
                let reason = p.reason.as_deref().unwrap_or("-");
                writeln!(f, "deciding policy: {} (reason {reason}) at {}", p.id, p.location())?;
                for line in p.text.lines() {
                    writeln!(f, "    {line}")?;
                }
            }
            None => writeln!(f, "deciding policy: none (no policy permits an answer, so the request is served)")?,
        }
        if self.matched.is_empty() {
            writeln!(f, "other policies that matched: none")?;
        } else {
            writeln!(f, "other policies that matched:")?;
            for m in &self.matched {
                let verb = if m.policy.effect == "forbid" { "forbids" } else { "permits" };
                let note = if m.in_force { "" } else { ", overridden by a forbid" };
                let reason = m.policy.reason.as_deref().unwrap_or("-");
                writeln!(
                    f,
                    "  - {} ({verb} {}{note}, reason {reason}) at {}",
                    m.policy.id,
                    m.action.as_str(),
                    m.policy.location()
                )?;
            }
        }
        if !self.errors.is_empty() {
            writeln!(f, "errors:")?;
            for e in &self.errors {
                writeln!(f, "  - {e}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use tollgate_domain::{ClientKind, NetClass, Resource};

    use super::*;

    #[test]
    fn guard_policy_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<GuardPolicy>();
    }

    #[test]
    fn builtin_guard_pack_loads_with_an_id_and_a_reason_for_every_policy() {
        let guard = GuardPolicy::builtin().unwrap();
        assert!(guard.meta.iter().all(|m| m.reason.is_some() && !m.id.starts_with("guard/")), "{:?}", guard.meta);
        assert_eq!(guard.version().len(), 64);
        assert_eq!(guard.version(), GuardPolicy::builtin().unwrap().version());
        assert_ne!(guard.version(), crate::PolicyEngine::builtin().unwrap().version());
    }

    /// `entities` adds the client without a schema check; this is the check.
    #[test]
    fn client_entities_conform_to_the_schema() {
        let guard = GuardPolicy::builtin().unwrap();
        for kind in ClientKind::ALL {
            for network in NetClass::ALL {
                for resource in Resource::ALL {
                    let signals = tollgate_domain::Signal::ALL.into_iter().collect();
                    let class = GuardClass { signals, kind, network, resource, disallowed: true, ..Default::default() };
                    let entities = [guard.client_entity(&class).unwrap(), guard.request.clone()];
                    if let Err(e) = Entities::from_entities(entities, Some(&guard.schema)) {
                        panic!("{class:?} does not conform: {e}");
                    }
                }
            }
        }
    }

    #[test]
    fn cache_is_emptied_past_its_bound() {
        let guard = GuardPolicy::builtin().unwrap();
        guard.decide(&GuardClass::default());
        assert_eq!(guard.cached_classes(), 1);
        guard.decide(&GuardClass::default());
        assert_eq!(guard.cached_classes(), 1);
        {
            let mut cache = guard.cache.write().unwrap();
            for b in 0..MAX_CACHED_CLASSES as u64 {
                cache.insert(b | 1 << 40, GuardDecision::ALLOW);
            }
        }
        let class = GuardClass { kind: ClientKind::App, ..Default::default() };
        assert_eq!(guard.decide(&class), GuardDecision::ALLOW);
        assert_eq!(guard.cached_classes(), 1);
    }
}
