//! Decide and record: the one path through which every channel releases posts
//! and profiles.
//!
//! A channel hands `Deliverer::deliver` the candidate posts for a request and
//! their authors (or `deliver_accounts` the candidate profiles); it gets back
//! only the items the policy allowed, and only after the ledger entry that
//! records the release is durable. Released items come wrapped in `Released`,
//! which only this crate can construct and which is all a renderer accepts, so
//! no channel can filter on its own, skip the policy or skip the ledger.

use std::collections::BTreeMap;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Instant;

use tollgate_domain::{
    Account, AccountId, AgreementState, AppId, AppStatus, AuthorFacts, ConsentDefaults, ContentClass, Decision, IdMap,
    IdSet, KeyId, Post, PostFacts, PostId, Purpose, Reason, Tier, Timestamp,
};
use tollgate_ledger::{Channel, Entry, GuardFacts, LedgerError, LedgerWriter, Outcome, Receipt, WriterStats};
use tollgate_policy::{AppFacts, PolicyEngine};

/// Who is asking, as established by authentication.
#[derive(Debug, Clone)]
pub struct Recipient {
    pub app: AppFacts,
    pub key_id: Option<KeyId>,
    /// For anonymous clients (public pages): the guard's client identity.
    pub client: Option<String>,
    /// What the guard knew of the client and answered, recorded with every
    /// entry of the request (`Entry::guard`).
    pub guard: Option<Arc<GuardFacts>>,
}

impl Recipient {
    pub fn app_id(&self) -> AppId {
        self.app.app_id
    }
}

/// Who an anonymous visitor of the public pages was taken to be, and for
/// what: set by the guard for each request it lets through (a request
/// extension), read by the pages to build the `Recipient`. Without the guard
/// (tests of the pages alone) a visitor is a person reading: `display`.
#[derive(Debug, Clone)]
pub struct Visitor {
    /// The guard's id of the actor the request is attributed to.
    pub client: String,
    /// The purpose the visitor's requests are decided for: `display` for
    /// people, the declared use of a known crawler (`search`,
    /// `train-genai`, ...).
    pub purpose: Purpose,
    /// Whether the request is served under a license bought for it (a
    /// pay-per-crawl request at an accepted price): decided as a partner
    /// licensed for `purpose`.
    pub licensed: bool,
    pub guard: Option<Arc<GuardFacts>>,
}

impl Visitor {
    /// A person reading, as the pages treat a visitor the guard said nothing of.
    pub fn person(client: &str) -> Visitor {
        Visitor { client: client.to_owned(), purpose: Purpose::Display, licensed: false, guard: None }
    }

    /// The recipient the policy decides this visitor's requests for: the
    /// public (app 0), a standard recipient declaring only the visitor's
    /// purpose, or a partner licensed for it when the request was paid for.
    pub fn recipient(&self) -> Recipient {
        let app = AppFacts {
            app_id: AppId(0),
            tier: if self.licensed { Tier::Partner } else { Tier::Standard },
            purposes: vec![self.purpose],
            licensed_purposes: if self.licensed { vec![self.purpose] } else { Vec::new() },
            status: AppStatus::Active,
            agreement: AgreementState::Current,
        };
        Recipient { app, key_id: None, client: Some(self.client.clone()), guard: self.guard.clone() }
    }
}

/// The token of the link unique to this response that people never see or
/// reach (`/_tg/l/<token>`): set as a request extension by the guard, which
/// fires the `hidden-link` signal for whoever fetches it. The pages render
/// it inside an element with `hidden`, so it is only ever found by parsing.
#[derive(Debug, Clone)]
pub struct HiddenLink(pub String);

/// One request's context.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub recipient: &'a Recipient,
    pub purpose: Purpose,
    pub channel: Channel,
    pub endpoint: &'a str,
    pub request_id: &'a str,
    pub now: Timestamp,
}

/// A post (`Released<Post>`) or profile (`Released<Account>`) the policy
/// allowed for this request and the ledger recorded as sent. Reads as the
/// item it wraps.
///
/// INVARIANT (release-is-a-type): only this crate constructs a `Released`,
/// and only after the decision allowed it and the entry recording it is
/// durable; renderers take nothing else, so an item that did not go through
/// the policy and the ledger cannot be rendered. There is deliberately no
/// `Clone`, no `From` and no public constructor:
///
/// ```compile_fail
/// # fn render(post: tollgate_domain::Post) {
/// let unchecked = tollgate_deliver::Released(post); // private to tollgate-deliver
/// # }
/// ```
///
/// The item is shared, not copied: the cache that served it as a candidate
/// keeps it too.
#[derive(Debug)]
pub struct Released<T>(Arc<T>);

impl<T> Deref for Released<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// What may be released: the allowed posts in the order given, with the
/// withheld ones named, the allowed profiles, and the ledger receipt that
/// makes it releasable.
#[derive(Debug)]
pub struct Delivery {
    pub posts: Vec<Released<Post>>,
    /// The posts the released ones reply to, each allowed on its own, when
    /// the expansion asked for them; withheld ones are left out.
    pub referenced: Vec<Released<Post>>,
    /// The released profiles, ascending by id: for `deliver`, those the
    /// expansions named that the policy allowed; for `deliver_accounts`, the
    /// allowed candidates.
    pub accounts: Vec<Released<Account>>,
    pub withheld: Vec<(PostId, Reason)>,
    pub withheld_by_reason: BTreeMap<Reason, u32>,
    /// Whether every released post and profile could also have gone to this
    /// recipient for `train-genai`: used to state the content's usage terms
    /// in response headers.
    pub genai_allowed: bool,
    pub receipt: Receipt,
}

/// What one response released and what it was asked for: what the guard
/// counts for the breadth, enumeration and volume of an actor's harvest.
/// A channel hands it back beside its response (an extension of the
/// response), and the guard takes it.
#[derive(Debug, Clone, Default)]
pub struct Served {
    /// The released posts and their distinct authors.
    pub posts: Vec<PostId>,
    pub authors: Vec<AccountId>,
    /// The ids the request named (a lookup), in its order, and how many of
    /// them exist: an enumerator asks for ids in sequence, or for ids that
    /// do not exist.
    pub asked: Vec<u64>,
    pub found: usize,
}

impl Delivery {
    /// What this delivery released, for the guard, when the ids `asked`
    /// were named and `found` of them exist.
    pub fn served(&self, asked: Vec<u64>, found: usize) -> Served {
        let posts: Vec<PostId> = self.posts.iter().chain(&self.referenced).map(|p| p.id).collect();
        let mut authors: Vec<AccountId> = self.posts.iter().chain(&self.referenced).map(|p| p.author_id).collect();
        authors.sort_unstable();
        authors.dedup();
        Served { posts, authors, asked, found }
    }
}

impl Delivery {
    /// The usage terms the response carrying this delivery states.
    pub fn usage_terms(&self) -> UsageTerms {
        UsageTerms { genai_allowed: self.genai_allowed }
    }
}

/// The usage terms a response states for the content it carries, as header
/// (and HTML `meta`) values: one set of words for every channel, so that the
/// developer API and the public pages say the same of the same delivery.
///
/// Only the values live here, not the headers: this crate knows no HTTP.
/// Content that could also have gone to its recipient for `train-genai`
/// (`Delivery::genai_allowed`) is stated free for AI training; anything
/// else reserves it (`tdm-reservation: 1`, aipref `train-ai=n`, `noai`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageTerms {
    pub genai_allowed: bool,
}

impl UsageTerms {
    /// The terms of an answer that carries no delivery (an error page):
    /// reserved, as for content nobody may train on.
    pub const RESERVED: UsageTerms = UsageTerms { genai_allowed: false };

    /// The aipref `Content-Usage` value.
    pub fn content_usage(self) -> &'static str {
        if self.genai_allowed { "train-ai=y" } else { "train-ai=n" }
    }

    /// The W3C TDMRep `tdm-reservation` value.
    pub fn tdm_reservation(self) -> &'static str {
        if self.genai_allowed { "0" } else { "1" }
    }

    /// The `X-Robots-Tag` (and robots `meta`) value, when the use is reserved.
    pub fn robots(self) -> Option<&'static str> {
        (!self.genai_allowed).then_some("noai, noimageai")
    }

    /// The path, under the public URL, of the terms a reservation points at
    /// (`tdm-policy`): the developer agreement, where a license is offered.
    pub fn tdm_policy_path(self) -> Option<&'static str> {
        (!self.genai_allowed).then_some("/agreement")
    }
}

/// The id of the request being answered, which the ledger entry carries: set
/// as a request extension by the service that mounts a channel (the API's
/// edge gives every request its id) for handlers that cannot ask it.
#[derive(Debug, Clone)]
pub struct RequestTag(pub String);

#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// Which profiles a post response includes (X's `expansions`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Expand {
    pub authors: bool,
    pub reply_users: bool,
    /// The posts the delivered ones reply to (`referenced_tweets.id`).
    pub referenced: bool,
}

/// Time spent deciding and recording, for the metrics endpoint.
#[derive(Debug, Default, Clone, Copy)]
pub struct Timings {
    pub policy_nanos: u64,
    pub ledger_nanos: u64,
}

pub struct Deliverer {
    policy: Arc<PolicyEngine>,
    ledger: Recorder,
    defaults: ConsentDefaults,
}

/// Where entries go.
enum Recorder {
    Ledger(LedgerWriter),
    /// Nowhere: only in builds with the `unrecorded` feature, which exists
    /// so that a benchmark can measure what the ledger costs a server by
    /// running the same binary without it.
    #[cfg(feature = "unrecorded")]
    Unrecorded,
}

impl Recorder {
    async fn record(&self, entry: Entry) -> Result<Receipt, LedgerError> {
        let receipt = match self {
            Recorder::Ledger(writer) => writer.record(entry).await?,
            #[cfg(feature = "unrecorded")]
            Recorder::Unrecorded => {
                drop(entry);
                Receipt { seq: 0 }
            }
        };
        let _ = RECORDED.try_with(|r| r.set(true));
        Ok(receipt)
    }
}

tokio::task_local! {
    static RECORDED: std::cell::Cell<bool>;
}

/// Runs a request's handler and says whether it recorded a ledger entry
/// (any of the deliverer's records, in the handler's own task): how the
/// guard knows an answer needs an entry of its own, so that every attempt
/// is in the ledger, however a channel answered it.
pub async fn recording<F: std::future::Future>(handler: F) -> (F::Output, bool) {
    RECORDED
        .scope(std::cell::Cell::new(false), async {
            let out = handler.await;
            (out, RECORDED.with(std::cell::Cell::get))
        })
        .await
}

impl Deliverer {
    pub fn new(policy: Arc<PolicyEngine>, ledger: LedgerWriter, defaults: ConsentDefaults) -> Deliverer {
        Deliverer { policy, ledger: Recorder::Ledger(ledger), defaults }
    }

    /// A deliverer that records nothing, breaking the ledger-before-release
    /// invariant on purpose: for measuring the ledger's cost, never for
    /// serving (the feature is off in every normal build).
    #[cfg(feature = "unrecorded")]
    pub fn unrecorded(policy: Arc<PolicyEngine>, defaults: ConsentDefaults) -> Deliverer {
        Deliverer { policy, ledger: Recorder::Unrecorded, defaults }
    }

    /// What the ledger's writer has done since it started (none if nothing
    /// is recorded).
    pub fn ledger_stats(&self) -> Option<WriterStats> {
        match &self.ledger {
            Recorder::Ledger(writer) => Some(writer.stats()),
            #[cfg(feature = "unrecorded")]
            Recorder::Unrecorded => None,
        }
    }

    pub fn policy(&self) -> &PolicyEngine {
        &self.policy
    }

    pub fn defaults(&self) -> &ConsentDefaults {
        &self.defaults
    }

    /// Whether the request is refused whole, before any post is looked at.
    pub fn refusal(&self, recipient: &Recipient, purpose: Purpose) -> Option<Reason> {
        self.policy.refusal(&recipient.app, purpose)
    }

    /// Records a refused request; the refusal is answered only once it is durable.
    pub async fn refuse(&self, req: &Request<'_>, reason: Reason) -> Result<Receipt, DeliverError> {
        let entry = self.entry(
            req,
            Outcome::Refused(reason.as_str().to_owned()),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            BTreeMap::new(),
        );
        Ok(self.ledger.record(entry).await?)
    }

    /// Records that `recipient` was told of the change log's events
    /// `event_seqs` (a compliance stream's lines, a webhook's body, a
    /// compliance job's results): the evidence of notice. Returns once the
    /// entry is durable; the notice is sent only then, so no notice goes out
    /// unrecorded. No post is released, so no policy decision is needed.
    pub async fn record_notices(
        &self,
        recipient: &Recipient,
        endpoint: &str,
        request_id: &str,
        event_seqs: &[u64],
        now: Timestamp,
    ) -> Result<Receipt, DeliverError> {
        let mut notices = event_seqs.to_vec();
        notices.sort_unstable();
        notices.dedup();
        let entry = Entry {
            v: Entry::VERSION,
            time: now,
            request_id: request_id.to_owned(),
            channel: Channel::Compliance,
            app_id: Some(recipient.app.app_id),
            key_id: recipient.key_id,
            client: recipient.client.clone(),
            endpoint: endpoint.to_owned(),
            purpose: None,
            outcome: Outcome::Served,
            posts: Vec::new(),
            authors: Vec::new(),
            accounts: Vec::new(),
            withheld: BTreeMap::new(),
            notices,
            policy_version: self.policy.version().to_owned(),
            guard: recipient.guard.clone(),
        };
        Ok(self.ledger.record(entry).await?)
    }

    /// Records a request the guard answered itself (`refused`: its reason,
    /// `guard_block` say), or a fetch of the terms it let through (`None`):
    /// the evidence of every attempt, with the guard's facts the recipient
    /// carries. Nothing is released, so nothing is decided.
    pub async fn record_attempt(&self, req: &Request<'_>, refused: Option<&str>) -> Result<Receipt, DeliverError> {
        let outcome = match refused {
            Some(reason) => Outcome::Refused(reason.to_owned()),
            None => Outcome::Served,
        };
        let entry = self.entry(req, outcome, Vec::new(), Vec::new(), Vec::new(), BTreeMap::new());
        Ok(self.ledger.record(entry).await?)
    }

    /// Decides every candidate, records the release, and returns what may be sent.
    ///
    /// `accounts` must hold the author of every candidate that exists (a post
    /// whose author is missing is withheld as deleted) and every account an
    /// expansion may name. The delivered profiles are those `expand` names for
    /// the allowed posts that the policy allows for this request; the others
    /// are left out, named nowhere in the response or the ledger entry.
    pub async fn deliver(
        &self,
        req: &Request<'_>,
        candidates: Vec<Arc<Post>>,
        referenced: Vec<Arc<Post>>,
        accounts: &IdMap<AccountId, Arc<Account>>,
        expand: Expand,
        timings: &mut Timings,
    ) -> Result<Delivery, DeliverError> {
        let started = Instant::now();
        // Sized for the authors at once: one for a timeline, up to a
        // hundred for a lookup, which would otherwise grow it five times.
        let authors = accounts.len().min(candidates.len());
        let mut facts: IdMap<AccountId, AuthorFacts> = IdMap::with_capacity_and_hasher(authors, Default::default());
        let mut class_of = |p: &Post| {
            let author = match facts.get(&p.author_id) {
                Some(f) => *f,
                None => {
                    let f = AuthorFacts::of(accounts.get(&p.author_id)?, &self.defaults, req.now);
                    facts.insert(p.author_id, f);
                    f
                }
            };
            Some(PostFacts::of(p, author).class())
        };
        let classes: Vec<Option<ContentClass>> = candidates.iter().map(|p| class_of(p)).collect();
        let known: Vec<ContentClass> = classes.iter().flatten().copied().collect();
        let mut decisions = Vec::with_capacity(known.len());
        self.policy.decide_page(&req.recipient.app, req.purpose, &known, &mut decisions);
        let mut decided = decisions.into_iter();

        let mut posts = Vec::with_capacity(candidates.len());
        let mut allowed_classes = Vec::with_capacity(candidates.len());
        let mut withheld = Vec::new();
        let mut withheld_by_reason = BTreeMap::new();
        for (post, class) in candidates.into_iter().zip(classes) {
            let decision = match class {
                Some(_) => decided.next().unwrap_or(Decision::Withhold(Reason::NOT_PERMITTED)),
                None => Decision::Withhold(Reason::DELETED),
            };
            match decision {
                Decision::Allow => {
                    allowed_classes.extend(class);
                    posts.push(post);
                }
                Decision::Withhold(reason) => {
                    *withheld_by_reason.entry(reason).or_insert(0) += 1;
                    withheld.push((post.id, reason));
                }
            }
        }
        // INVARIANT (referenced-decided): a referenced post is decided like a
        // candidate, for this app and purpose, on its own facts; only those a
        // released post replies to are considered.
        let replied_to: IdSet<PostId> =
            if expand.referenced { posts.iter().filter_map(|p| p.in_reply_to).collect() } else { IdSet::default() };
        let referenced: Vec<(Arc<Post>, ContentClass)> = referenced
            .into_iter()
            .filter(|p| replied_to.contains(&p.id))
            .filter_map(|p| class_of(&p).map(|class| (p, class)))
            .collect();
        let mut profile_ids: Vec<AccountId> = Vec::new();
        for post in &posts {
            if expand.authors {
                profile_ids.push(post.author_id);
            }
            if expand.reply_users {
                profile_ids.extend(post.in_reply_to_user_id);
            }
        }
        profile_ids.sort_unstable();
        profile_ids.dedup();
        // INVARIANT (profiles-decided): an expanded profile is decided like a
        // looked-up one, for this app and purpose, on its owner's facts.
        let named: Vec<(&Arc<Account>, AuthorFacts)> = profile_ids
            .iter()
            .filter_map(|id| accounts.get(id))
            .map(|a| (a, facts.get(&a.id).copied().unwrap_or_else(|| AuthorFacts::of(a, &self.defaults, req.now))))
            .collect();
        let (profiles, _withheld_profiles) = self.decide_profiles(req, named);
        allowed_classes.extend(profiles.iter().map(|(_, class)| *class));
        let referenced_classes: Vec<ContentClass> = referenced.iter().map(|(_, class)| *class).collect();
        let mut referenced_decisions = Vec::with_capacity(referenced_classes.len());
        self.policy.decide_page(&req.recipient.app, req.purpose, &referenced_classes, &mut referenced_decisions);
        let mut referenced_posts = Vec::new();
        for ((post, class), decision) in referenced.into_iter().zip(referenced_decisions) {
            if decision.is_allowed() {
                allowed_classes.push(class);
                referenced_posts.push(post);
            }
        }
        let genai_allowed = self.genai_allowed(req, &allowed_classes);
        let profiles: Vec<Arc<Account>> = profiles.into_iter().map(|(a, _)| Arc::clone(a)).collect();
        timings.policy_nanos += started.elapsed().as_nanos() as u64;
        let receipt = self.record(req, [&posts, &referenced_posts], &profiles, &withheld_by_reason, timings).await?;
        Ok(Delivery {
            posts: posts.into_iter().map(Released).collect(),
            referenced: referenced_posts.into_iter().map(Released).collect(),
            accounts: profiles.into_iter().map(Released).collect(),
            withheld,
            withheld_by_reason,
            genai_allowed,
            receipt,
        })
    }

    /// Releases account profiles (user lookups): each candidate is decided for
    /// this app and purpose by the rules for its owner's posts; the allowed
    /// ones are delivered, the others returned with the reason they are
    /// withheld.
    pub async fn deliver_accounts(
        &self,
        req: &Request<'_>,
        candidates: Vec<Arc<Account>>,
        timings: &mut Timings,
    ) -> Result<(Delivery, Vec<(AccountId, Reason)>), DeliverError> {
        let started = Instant::now();
        let named = candidates.iter().map(|a| (a, AuthorFacts::of(a, &self.defaults, req.now))).collect();
        let (allowed, refused) = self.decide_profiles(req, named);
        let classes: Vec<ContentClass> = allowed.iter().map(|(_, class)| *class).collect();
        let genai_allowed = self.genai_allowed(req, &classes);
        let mut profiles: Vec<Arc<Account>> = allowed.into_iter().map(|(a, _)| Arc::clone(a)).collect();
        profiles.sort_unstable_by_key(|a| a.id);
        profiles.dedup_by_key(|a| a.id);
        timings.policy_nanos += started.elapsed().as_nanos() as u64;
        let receipt = self.record(req, [&[], &[]], &profiles, &BTreeMap::new(), timings).await?;
        let delivery = Delivery {
            posts: Vec::new(),
            referenced: Vec::new(),
            accounts: profiles.into_iter().map(Released).collect(),
            withheld: Vec::new(),
            withheld_by_reason: BTreeMap::new(),
            genai_allowed,
            receipt,
        };
        Ok((delivery, refused))
    }

    /// Decides profiles, given with their owners' facts, for the request's app
    /// and purpose: the allowed ones with their classes, in the order given,
    /// and the withheld ones with their reasons.
    #[expect(clippy::type_complexity, reason = "a private helper's two result lists, named at the call sites")]
    fn decide_profiles<'a>(
        &self,
        req: &Request<'_>,
        named: Vec<(&'a Arc<Account>, AuthorFacts)>,
    ) -> (Vec<(&'a Arc<Account>, ContentClass)>, Vec<(AccountId, Reason)>) {
        let classes: Vec<ContentClass> = named.iter().map(|(_, owner)| owner.profile_class()).collect();
        let mut decisions = Vec::with_capacity(classes.len());
        self.policy.decide_page(&req.recipient.app, req.purpose, &classes, &mut decisions);
        let mut allowed = Vec::with_capacity(named.len());
        let mut withheld = Vec::new();
        for (((account, _), class), decision) in named.into_iter().zip(classes).zip(decisions) {
            match decision {
                Decision::Allow => allowed.push((account, class)),
                Decision::Withhold(reason) => withheld.push((account.id, reason)),
            }
        }
        (allowed, withheld)
    }

    /// Whether every released post and profile (`allowed`, their classes)
    /// could also have gone to this recipient for `train-genai`: the basis of
    /// the usage headers on the response.
    fn genai_allowed(&self, req: &Request<'_>, allowed: &[ContentClass]) -> bool {
        if req.purpose == Purpose::TrainGenai {
            return true;
        }
        if self.policy.refusal(&req.recipient.app, Purpose::TrainGenai).is_some() {
            return false;
        }
        let mut genai = Vec::with_capacity(allowed.len());
        self.policy.decide_page(&req.recipient.app, Purpose::TrainGenai, allowed, &mut genai);
        genai.iter().all(|d| d.is_allowed())
    }

    async fn record(
        &self,
        req: &Request<'_>,
        posts: [&[Arc<Post>]; 2],
        profiles: &[Arc<Account>],
        withheld: &BTreeMap<Reason, u32>,
        timings: &mut Timings,
    ) -> Result<Receipt, DeliverError> {
        // The posts asked for and the posts they reference.
        let released = || posts.into_iter().flatten();
        let mut post_ids: Vec<PostId> = released().map(|p| p.id).collect();
        post_ids.sort_unstable();
        // A post released both as asked and as referenced is recorded once.
        post_ids.dedup();
        let mut authors: Vec<AccountId> = released().map(|p| p.author_id).collect();
        authors.sort_unstable();
        authors.dedup();
        let mut account_ids: Vec<AccountId> = profiles.iter().map(|a| a.id).collect();
        account_ids.sort_unstable();
        let counts = withheld.iter().map(|(r, n)| (r.as_str().to_owned(), *n)).collect();
        let entry = self.entry(req, Outcome::Served, post_ids, authors, account_ids, counts);
        let started = Instant::now();
        // INVARIANT (ledger-before-release): nothing is handed back for release
        // until the entry that records it is durable.
        let receipt = self.ledger.record(entry).await?;
        timings.ledger_nanos += started.elapsed().as_nanos() as u64;
        Ok(receipt)
    }

    fn entry(
        &self,
        req: &Request<'_>,
        outcome: Outcome,
        posts: Vec<PostId>,
        authors: Vec<AccountId>,
        accounts: Vec<AccountId>,
        withheld: BTreeMap<String, u32>,
    ) -> Entry {
        Entry {
            v: Entry::VERSION,
            time: req.now,
            request_id: req.request_id.to_owned(),
            channel: req.channel,
            app_id: Some(req.recipient.app.app_id),
            key_id: req.recipient.key_id,
            client: req.recipient.client.clone(),
            endpoint: req.endpoint.to_owned(),
            purpose: Some(req.purpose),
            outcome,
            posts,
            authors,
            accounts,
            withheld,
            notices: Vec::new(),
            policy_version: self.policy.version().to_owned(),
            guard: req.recipient.guard.clone(),
        }
    }
}
