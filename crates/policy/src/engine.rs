//! The policy engine: the validated Cedar policy set, the reference path that
//! asks Cedar for every decision, and the compiled path that asks it once per
//! (app facts, purpose, content class) and remembers the answer. Posts and
//! profiles go through both paths alike; only the resource entity differs.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use cedar_policy::{
    Authorizer, Context, Entities, Entity, EntityId, EntityTypeName, EntityUid, PolicyId, PolicySet, Request, Response,
    RestrictedExpression, Schema,
};
use tollgate_domain::{
    AccountStatus, AuthorFacts, Category, ContentClass, Decision, ItemFacts, PostFacts, Purpose, Reason, RegionGroup,
    Scope,
};

use crate::cache::{DecisionCache, EMPTY, Row};
use crate::pack::{self, CompiledPack, PolicyMeta, Source};
use crate::{AppFacts, Explanation, PolicyError, PolicyMode, PolicyRef};

/// The reason for a decision Cedar could not make cleanly.
pub const POLICY_ERROR: &str = "policy_error";

/// Decides, for a recipient app, a purpose and an item (a post or a profile),
/// whether the item may be released. Cheap to share: every method takes `&self`.
pub struct PolicyEngine {
    schema: Schema,
    policies: PolicySet,
    authorizer: Authorizer,
    meta: Vec<PolicyMeta>,
    index: HashMap<PolicyId, usize>,
    version: String,
    names: Names,
    /// The schema's action entities (the purposes and their groups), with
    /// their hierarchy closed once; every request's entities start from here.
    actions: Entities,
    /// Every reason a decision can carry; a cached `Withhold(reasons[i])` is
    /// stored as `i + 2` (0 is an empty slot, 1 is `Allow`).
    reasons: Vec<Reason>,
    codes: HashMap<Reason, u16>,
    policy_error: Reason,
    cache: DecisionCache,
}

/// The Cedar names requests are made of, parsed once.
struct Names {
    app: EntityTypeName,
    post: EntityTypeName,
    account: EntityTypeName,
    /// One action per purpose, indexed by `Purpose::index`.
    actions: Vec<EntityUid>,
}

impl Names {
    fn new() -> Result<Names, PolicyError> {
        let bad = |e: cedar_policy::ParseErrors| PolicyError::Schema(e.to_string());
        let action = EntityTypeName::from_str("Tollgate::Action").map_err(bad)?;
        Ok(Names {
            app: EntityTypeName::from_str("Tollgate::App").map_err(bad)?,
            post: EntityTypeName::from_str("Tollgate::Post").map_err(bad)?,
            account: EntityTypeName::from_str("Tollgate::Account").map_err(bad)?,
            actions: Purpose::ALL
                .iter()
                .map(|p| EntityUid::from_type_name_and_id(action.clone(), EntityId::new(p.as_str())))
                .collect(),
        })
    }
}

impl fmt::Debug for PolicyEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicyEngine")
            .field("version", &self.version)
            .field("policies", &self.meta.len())
            .field("cached_apps", &self.cache.len())
            .finish_non_exhaustive()
    }
}

impl PolicyEngine {
    /// The engine with the built-in pack only.
    pub fn builtin() -> Result<PolicyEngine, PolicyError> {
        Self::from_sources(pack::built_in_sources())
    }

    /// Loads `dir/*.cedar` (sorted by file name). Replace: only those; Extend:
    /// built-in pack + those. Without a directory, the built-in pack.
    pub fn load(dir: Option<&Path>, mode: PolicyMode) -> Result<PolicyEngine, PolicyError> {
        let Some(dir) = dir else { return Self::builtin() };
        let own = pack::dir_sources(dir)?;
        let sources = match mode {
            PolicyMode::Replace => {
                if own.is_empty() {
                    return Err(PolicyError::NoPolicies { dir: dir.to_owned() });
                }
                own
            }
            PolicyMode::Extend => {
                let mut all = pack::built_in_sources();
                all.extend(own);
                all
            }
        };
        Self::from_sources(sources)
    }

    /// An engine from policy texts given directly, as `(file name, text)`:
    /// what `load` does after reading a directory in `replace` mode.
    pub fn from_texts(texts: &[(&str, &str)]) -> Result<PolicyEngine, PolicyError> {
        Self::from_sources(
            texts
                .iter()
                .map(|(name, text)| Source { name: (*name).to_owned(), path: None, text: (*text).to_owned() })
                .collect(),
        )
    }

    fn from_sources(sources: Vec<Source>) -> Result<PolicyEngine, PolicyError> {
        let (schema, _warnings) =
            Schema::from_cedarschema_str(pack::SCHEMA).map_err(|e| PolicyError::Schema(e.to_string()))?;
        let CompiledPack { set, meta, index } = pack::compile(&schema, &sources, pack::Rules::Content)?;
        let version = pack::version_hash(&sources);
        let policy_error = Reason::intern(POLICY_ERROR);
        let mut reasons: Vec<Reason> = Reason::BUILT_IN.to_vec();
        reasons.push(policy_error);
        for m in &meta {
            if let Some(r) = m.reason
                && !reasons.contains(&r)
            {
                reasons.push(r);
            }
        }
        // Codes past u16 cannot be cached; such decisions are simply recomputed.
        let codes = reasons.iter().enumerate().filter_map(|(i, r)| Some((*r, u16::try_from(i + 2).ok()?))).collect();
        let actions = schema.action_entities().map_err(|e| PolicyError::Schema(e.to_string()))?;
        Ok(PolicyEngine {
            actions,
            schema,
            policies: set,
            authorizer: Authorizer::new(),
            meta,
            index,
            version,
            names: Names::new()?,
            reasons,
            codes,
            policy_error,
            cache: DecisionCache::default(),
        })
    }

    /// Hex SHA-256 over the schema text and every policy source (with file
    /// names): the policy version written in every ledger entry.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The schema every policy is validated against, in Cedar schema syntax.
    pub fn schema_text() -> &'static str {
        pack::SCHEMA
    }

    /// The ids of the loaded policies, in load order.
    pub fn policy_ids(&self) -> Vec<String> {
        self.meta.iter().map(|m| m.id.clone()).collect()
    }

    /// The compiled path: a memory lookup once (app facts, purpose, class) has
    /// been decided; the first time, the reference path decides and the answer
    /// is kept.
    pub fn decide(&self, app: &AppFacts, purpose: Purpose, class: ContentClass) -> Decision {
        if let Some(d) = self.cache.lookup(app, purpose, class).and_then(|code| self.decode(code)) {
            return d;
        }
        let table = self.cache.table(app);
        self.decide_in(table.row(purpose), app, purpose, class)
    }

    /// Decides a whole page: `out[i]` for `classes[i]`, posts and profiles
    /// mixed as they come. Looks the app's table up once, so a page costs one
    /// lock acquisition, not one per item.
    pub fn decide_page(&self, app: &AppFacts, purpose: Purpose, classes: &[ContentClass], out: &mut Vec<Decision>) {
        out.clear();
        out.reserve(classes.len());
        let table = self.cache.table(app);
        let row = table.row(purpose);
        out.extend(classes.iter().map(|&class| self.decide_in(row, app, purpose, class)));
    }

    #[inline]
    fn decide_in(&self, row: &Row, app: &AppFacts, purpose: Purpose, class: ContentClass) -> Decision {
        let code = row.get(class);
        if code != EMPTY
            && let Some(d) = self.decode(code)
        {
            return d;
        }
        let decision = self.evaluate(app, purpose, class.facts());
        if let Some(code) = self.encode(decision) {
            row.set(class, code);
        }
        decision
    }

    #[inline]
    fn decode(&self, code: u16) -> Option<Decision> {
        match code {
            EMPTY => None,
            1 => Some(Decision::Allow),
            n => self.reasons.get(usize::from(n) - 2).map(|r| Decision::Withhold(*r)),
        }
    }

    fn encode(&self, decision: Decision) -> Option<u16> {
        match decision {
            Decision::Allow => Some(1),
            Decision::Withhold(r) => self.codes.get(&r).copied(),
        }
    }

    /// The reference path: builds the Cedar request and entities from the
    /// item's facts and asks Cedar, without any caching. `item` is a post's
    /// facts (`&PostFacts` converts) or `ItemFacts::Profile(owner)`.
    pub fn evaluate(&self, app: &AppFacts, purpose: Purpose, item: impl Into<ItemFacts>) -> Decision {
        match self.ask(app, purpose, &item.into()) {
            Ok(response) => self.verdict(&response).0,
            Err(_) => Decision::Withhold(self.policy_error),
        }
    }

    /// Whether the whole request is refused before looking at any item: when
    /// even the most permissive post (every consent given, nothing protected,
    /// minor, marked "no AI" or deleted, author active) and the most
    /// permissive profile are withheld in both region groups. The reason is
    /// the one for the post in the default region group. Asking about both
    /// kinds means a request is never refused whole while an item of either
    /// kind could still be released.
    pub fn refusal(&self, app: &AppFacts, purpose: Purpose) -> Option<Reason> {
        let owner = |region_group| AuthorFacts {
            consent: [[true; 2]; 3],
            protected: false,
            minor: false,
            region_group,
            status: AccountStatus::Active,
        };
        let post = |region_group| PostFacts { author: owner(region_group), no_ai: false, deleted: false }.class();
        let classes = [
            post(RegionGroup::Default),
            post(RegionGroup::Restricted),
            owner(RegionGroup::Default).profile_class(),
            owner(RegionGroup::Restricted).profile_class(),
        ];
        let mut decisions = Vec::with_capacity(classes.len());
        self.decide_page(app, purpose, &classes, &mut decisions);
        match decisions.as_slice() {
            [Decision::Withhold(reason), rest @ ..] if rest.iter().all(|d| !d.is_allowed()) => Some(*reason),
            _ => None,
        }
    }

    /// Decides like `evaluate` and says which policies determined the outcome.
    pub fn explain(&self, app: &AppFacts, purpose: Purpose, item: impl Into<ItemFacts>) -> Explanation {
        let response = match self.ask(app, purpose, &item.into()) {
            Ok(r) => r,
            Err(message) => {
                let decision = Decision::Withhold(self.policy_error);
                return Explanation {
                    decision,
                    reason: decision.reason(),
                    determining: Vec::new(),
                    errors: vec![message],
                };
            }
        };
        let (decision, mut determining) = self.verdict(&response);
        if decision.is_allowed() {
            determining.sort_by(|a, b| a.id.cmp(&b.id));
        }
        let errors = response.diagnostics().errors().map(ToString::to_string).collect();
        Explanation {
            decision,
            reason: decision.reason(),
            determining: determining
                .into_iter()
                .map(|m| PolicyRef {
                    id: m.id.clone(),
                    effect: m.effect,
                    reason: m.reason.map(|r| r.as_str().to_owned()),
                    source: m.source.clone(),
                    line: m.line,
                    text: m.text.clone(),
                })
                .collect(),
            errors,
        }
    }

    /// The decision in a Cedar response and the policies behind it: for a
    /// deny, the satisfied forbids ordered by (precedence, id), the first one
    /// deciding the reason; no forbid means nothing permitted the request.
    /// Any evaluation error withholds with `policy_error`, whatever else held.
    fn verdict(&self, response: &Response) -> (Decision, Vec<&PolicyMeta>) {
        let diagnostics = response.diagnostics();
        let mut determining: Vec<&PolicyMeta> =
            diagnostics.reason().filter_map(|id| self.index.get(id)).map(|&i| &self.meta[i]).collect();
        if diagnostics.errors().next().is_some() {
            return (Decision::Withhold(self.policy_error), determining);
        }
        match response.decision() {
            cedar_policy::Decision::Allow => (Decision::Allow, determining),
            cedar_policy::Decision::Deny => {
                determining.sort_by(|a, b| a.precedence.cmp(&b.precedence).then_with(|| a.id.cmp(&b.id)));
                let reason = determining.first().and_then(|m| m.reason).unwrap_or(Reason::NOT_PERMITTED);
                (Decision::Withhold(reason), determining)
            }
        }
    }

    /// Builds the request and entities and asks Cedar.
    fn ask(&self, app: &AppFacts, purpose: Purpose, item: &ItemFacts) -> Result<Response, String> {
        let principal = self.principal(app)?;
        let resource = self.resource(item)?;
        let (p_uid, r_uid) = (principal.uid(), resource.uid());
        // The two entities are built to the schema's shape by the functions
        // below, and a test checks them against the schema for every class;
        // adding them to the prepared action entities keeps the reference path
        // at the cost of Cedar's evaluation rather than of building its store.
        let entities = self
            .actions
            .clone()
            .add_entities([principal, resource], None)
            .map_err(|e| format!("cannot build the entities: {e}"))?;
        let context = Context::from_pairs([(
            "purpose".to_owned(),
            RestrictedExpression::new_string(purpose.as_str().to_owned()),
        )])
        .map_err(|e| format!("cannot build the context: {e}"))?;
        let action = self.names.actions[purpose.index()].clone();
        let request = Request::new(p_uid, action, r_uid, context, Some(&self.schema))
            .map_err(|e| format!("request does not match the schema: {e}"))?;
        Ok(self.authorizer.is_authorized(&request, &self.policies, &entities))
    }

    /// `Tollgate::App::"<app id>"` with the app's facts as attributes.
    fn principal(&self, app: &AppFacts) -> Result<Entity, String> {
        let uid = EntityUid::from_type_name_and_id(self.names.app.clone(), EntityId::new(app.app_id.to_string()));
        let set = |ps: &[Purpose]| {
            RestrictedExpression::new_set(ps.iter().map(|p| RestrictedExpression::new_string(p.as_str().to_owned())))
        };
        let string = |s: &str| RestrictedExpression::new_string(s.to_owned());
        let attrs = HashMap::from([
            ("tier".to_owned(), string(app.tier.as_str())),
            ("purposes".to_owned(), set(&app.purposes)),
            ("licensed_purposes".to_owned(), set(&app.licensed_purposes)),
            ("status".to_owned(), string(app.status.as_str())),
            ("agreement".to_owned(), string(app.agreement.as_str())),
            ("scope".to_owned(), string(app.tier.scope().as_str())),
        ]);
        Entity::new(uid, attrs, HashSet::new()).map_err(|e| format!("cannot build the app entity: {e}"))
    }

    /// `Tollgate::Post::"class-<index>"` or `Tollgate::Account::"class-<index>"`,
    /// built from the item's facts alone: two posts (or two profiles) with the
    /// same facts are the same resource to every policy.
    fn resource(&self, item: &ItemFacts) -> Result<Entity, String> {
        let (kind, type_name) = match item {
            ItemFacts::Post(_) => ("post", &self.names.post),
            ItemFacts::Profile(_) => ("account", &self.names.account),
        };
        let id = format!("class-{}", item.class().index());
        let uid = EntityUid::from_type_name_and_id(type_name.clone(), EntityId::new(id));
        let author = item.author();
        let err = |e: cedar_policy::ExpressionConstructionError| format!("cannot build the {kind} entity: {e}");
        let consent = |scope: Scope| {
            RestrictedExpression::new_record([
                (
                    "train_genai".to_owned(),
                    RestrictedExpression::new_bool(author.consents(Category::TrainGenai, scope)),
                ),
                ("train_ai".to_owned(), RestrictedExpression::new_bool(author.consents(Category::TrainAi, scope))),
                ("ai_input".to_owned(), RestrictedExpression::new_bool(author.consents(Category::AiInput, scope))),
            ])
        };
        let consent = RestrictedExpression::new_record([
            ("first_party".to_owned(), consent(Scope::FirstParty).map_err(err)?),
            ("third_parties".to_owned(), consent(Scope::ThirdParties).map_err(err)?),
        ])
        .map_err(err)?;
        // INVARIANT (same-author-attributes): a Post and an Account carry the
        // author's facts under the same names, so that the pack's rules about
        // authors decide posts and profiles alike (see the schema).
        let mut attrs = HashMap::from([
            ("consent".to_owned(), consent),
            ("protected".to_owned(), RestrictedExpression::new_bool(author.protected)),
            ("minor".to_owned(), RestrictedExpression::new_bool(author.minor)),
            ("region_group".to_owned(), RestrictedExpression::new_string(author.region_group.as_str().to_owned())),
            ("author_status".to_owned(), RestrictedExpression::new_string(author.status.as_str().to_owned())),
        ]);
        if let ItemFacts::Post(post) = item {
            attrs.insert("no_ai".to_owned(), RestrictedExpression::new_bool(post.no_ai));
            attrs.insert("deleted".to_owned(), RestrictedExpression::new_bool(post.deleted));
        }
        Entity::new(uid, attrs, HashSet::new()).map_err(|e| format!("cannot build the {kind} entity: {e}"))
    }

    #[cfg(test)]
    pub(crate) fn cached_apps(&self) -> usize {
        self.cache.len()
    }
}

#[cfg(test)]
mod tests {
    use tollgate_domain::{AgreementState, AppId, AppStatus, Tier};

    use super::*;

    /// `ask` adds the entities without a schema check, for speed; this is the
    /// check, for every tier and a spread of post and profile classes
    /// covering every bit.
    #[test]
    fn request_entities_conform_to_the_schema() {
        let engine = PolicyEngine::builtin().unwrap();
        for tier in Tier::ALL {
            let app = AppFacts {
                app_id: AppId(7),
                tier,
                purposes: Purpose::ALL.to_vec(),
                licensed_purposes: vec![Purpose::TrainAi],
                status: AppStatus::Active,
                agreement: AgreementState::Grace,
            };
            let edges = [ContentClass::POST_CLASSES - 1, ContentClass::POST_CLASSES, ContentClass::COUNT - 1];
            for index in (0..ContentClass::COUNT).step_by(17).chain(edges) {
                let facts = ContentClass::from_index(index).unwrap().facts();
                let entities = [engine.principal(&app).unwrap(), engine.resource(&facts).unwrap()];
                if let Err(e) = Entities::from_entities(entities, Some(&engine.schema)) {
                    panic!("class {index} for a {tier} app does not conform: {e}");
                }
            }
        }
    }

    #[test]
    fn every_reason_of_the_pack_has_a_code() {
        let engine = PolicyEngine::builtin().unwrap();
        for m in &engine.meta {
            if let Some(r) = m.reason {
                let code = engine.encode(Decision::Withhold(r)).unwrap();
                assert_eq!(engine.decode(code), Some(Decision::Withhold(r)));
            }
        }
        assert_eq!(engine.decode(engine.encode(Decision::Allow).unwrap()), Some(Decision::Allow));
        assert_eq!(engine.decode(EMPTY), None);
    }
}
