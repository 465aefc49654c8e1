//! The `Store` trait: everything Tollgate keeps, behind one interface.
//!
//! Callers (the API, the CLI, import) only ever see this trait; only the CLI
//! knows which backend is in use. The embedded SQLite backend is the default;
//! a PostgreSQL backend implements the same trait and runs the same
//! conformance suite (`conformance`, behind the feature of that name), the way
//! ripgrep runs every matcher test against each engine.
//!
//! Every method is synchronous and short. Every write is durable when it
//! returns: a caller may acknowledge it to a client straight away.

use tollgate_domain::{
    Account, AccountId, AccountStatus, Agreement, ApiKey, App, AppId, AppStatus, Event, EventChange, KeyId, Notice,
    Post, PostId, PreferenceChange, Purpose, Tier, Timestamp,
};

#[cfg(feature = "conformance")]
pub mod conformance;
pub mod events;
pub mod guard_notices;
pub mod jobs;
pub mod search;

pub use guard_notices::{GuardNotice, NewGuardNotice};
pub use jobs::{ComplianceJob, JobKind, JobStatus, NewComplianceJob};
pub use search::{Entity, SearchExpr};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A value the store refuses; `field` names it.
    #[error("invalid `{field}`: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("{0} not found")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    /// A bulk load was stopped by its caller; nothing of it was committed.
    #[error("aborted: {0}")]
    Aborted(String),
    /// The data directory was written by a newer Tollgate.
    #[error("the store has schema version {found}, newer than this build's {supported}: upgrade Tollgate")]
    TooNew { found: u32, supported: u32 },
    #[error("storage backend: {0}")]
    Backend(String),
}

/// A user timeline request; newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimelineQuery {
    /// Only posts with a greater id.
    pub since_id: Option<PostId>,
    /// Only posts with a smaller id.
    pub until_id: Option<PostId>,
    /// Only posts created at or after.
    pub start_time: Option<Timestamp>,
    /// Only posts created before.
    pub end_time: Option<Timestamp>,
    /// Pagination: only posts with a smaller id than the last one of the previous page.
    pub before_id: Option<PostId>,
    /// Leave out replies (X's `exclude=replies`).
    pub exclude_replies: bool,
    pub limit: usize,
}

/// A search request; newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    pub expr: SearchExpr,
    pub since_id: Option<PostId>,
    pub until_id: Option<PostId>,
    pub start_time: Option<Timestamp>,
    pub end_time: Option<Timestamp>,
    pub before_id: Option<PostId>,
    pub limit: usize,
}

impl SearchQuery {
    /// The newest `limit` posts matching `expr`, with no other bound.
    pub fn new(expr: SearchExpr, limit: usize) -> SearchQuery {
        SearchQuery { expr, since_id: None, until_id: None, start_time: None, end_time: None, before_id: None, limit }
    }
}

/// One page of a search's candidates (`Store::search_page`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchPage {
    /// The matching posts found, newest first, at most the query's `limit`.
    pub posts: Vec<Post>,
    /// Set when the backend stopped walking before it filled the page: the
    /// posts at or above this id were all examined, and the search goes on
    /// below it (the answer's next page starts there). `None`: `posts` is
    /// everything the query matches down to where it stopped by `limit`.
    pub resume_before: Option<PostId>,
}

/// A new app; the store assigns its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApp {
    pub name: String,
    pub tier: Tier,
    pub purposes: Vec<Purpose>,
    pub licensed_purposes: Vec<Purpose>,
    pub agreement_version: Option<u32>,
    pub created_at: Timestamp,
}

/// A new key; the store assigns its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKey {
    pub app_id: AppId,
    pub hash: String,
    pub prefix: String,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
}

/// What a changed app may change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppUpdate {
    pub status: Option<AppStatus>,
    pub agreement_version: Option<u32>,
    pub purposes: Option<Vec<Purpose>>,
    pub licensed_purposes: Option<Vec<Purpose>>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub accounts: u64,
    pub posts: u64,
    pub apps: u64,
}

/// One entry of the platform's change log: what a committed write changed.
///
/// Every write to the platform data appends its changes to the log in the
/// same transaction, under an increasing sequence number. Whatever keeps
/// platform data in memory (the caches of `tollgate-cache`) follows the log
/// and drops what changed, so a node sees every write, its own or another
/// node's, by asking for the changes after the last sequence it applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Change {
    /// Anything may have changed (a bulk load, or changes the log no longer
    /// holds): drop everything.
    Everything,
    /// An account's profile, preferences or status.
    Account(AccountId),
    /// A post, with its author (the author whose timeline it is in; a post
    /// moved to another author records both).
    Post { id: PostId, author: AccountId },
    /// An app's settings.
    App(AppId),
    /// A key of this app (added, expired or revoked).
    Key(AppId),
    /// A developer agreement was published.
    Agreement,
}

/// The changes after a sequence number (see `Store::changes_since`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// In log order. `[Change::Everything]` if the log no longer holds every
    /// change after the sequence asked for.
    pub changes: Vec<Change>,
    /// The sequence number of the last change returned (the one asked for if
    /// there is none); ask from here for the next batch.
    pub upto: u64,
}

/// Which notices `Store::notices` returns, in event order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoticeQuery {
    /// Only this recipient's.
    pub app: Option<AppId>,
    /// Only those about this account (its own events and its posts').
    pub account: Option<AccountId>,
    /// Only those of events after this sequence number.
    pub after_seq: u64,
    /// Only those of events committed at or after this time.
    pub since: Option<Timestamp>,
    /// Only obligations (notices with a deadline).
    pub obligations_only: bool,
    /// Only obligations not yet acknowledged.
    pub unacknowledged_only: bool,
    pub limit: usize,
}

/// What a recipient acknowledges (`Store::ack_notices`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoticeAcks {
    /// Notices by their event's sequence number.
    pub event_seqs: Vec<u64>,
    /// Every obligation about these posts.
    pub posts: Vec<PostId>,
    /// Every obligation about these accounts (their own events and their posts').
    pub accounts: Vec<AccountId>,
}

/// What `Store::ack_notices` did: the obligations acknowledged now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AckOutcome {
    /// The sequence numbers of the events whose obligations were acknowledged.
    pub acknowledged: Vec<u64>,
}

/// A recipient's endpoint for compliance notices by push (`POST /2/webhooks`).
///
/// The signing secret is kept as given, not hashed: every delivery is signed
/// with it (HMAC), so each node that delivers must be able to read it, as X
/// signs with an app's consumer secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: u64,
    pub app_id: AppId,
    pub url: String,
    pub secret: String,
    /// False once the receiver failed a challenge-response check; nothing is
    /// delivered to an invalid webhook until `PUT /2/webhooks/{id}` checks it again.
    pub valid: bool,
    pub created_at: Timestamp,
    /// The event sequence number up to which the app's notices were delivered
    /// (or dead-lettered): delivery resumes after it, on any node.
    pub delivered_upto: u64,
}

/// A new webhook; the store assigns its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWebhook {
    pub app_id: AppId,
    pub url: String,
    pub secret: String,
    pub created_at: Timestamp,
    /// Where delivery starts: the notices opened so far are not pushed.
    pub delivered_upto: u64,
}

/// A batch of notices a webhook's receiver never accepted, after every retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub id: u64,
    pub webhook_id: u64,
    /// The notices' event sequence numbers, ascending.
    pub event_seqs: Vec<u64>,
    pub attempts: u32,
    /// The last failure, as the deliverer saw it.
    pub error: String,
    pub at: Timestamp,
}

/// One account of `Store::upsert_accounts_keeping_preferences`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountUpsert {
    pub account: Account,
    /// The update carries no AI preferences: an existing account keeps the
    /// stored ones (a new account gets `account.ai_preferences`).
    pub keep_preferences: bool,
}

/// Writes inside one bulk transaction (see `Store::bulk_load`).
pub trait BulkWriter {
    fn put_account(&mut self, account: &Account) -> Result<()>;
    fn put_post(&mut self, post: &Post) -> Result<()>;
}

pub trait Store: Send + Sync + 'static {
    // -- accounts --------------------------------------------------------------

    /// Inserts or replaces accounts, all or none.
    fn upsert_accounts(&self, accounts: &[Account]) -> Result<()>;
    /// Inserts or replaces accounts, all or none, keeping the stored
    /// preferences of those marked `keep_preferences`. The read of the stored
    /// preferences and the write are one transaction, so a preference change
    /// committed concurrently (`set_preferences`) is never overwritten with
    /// the value it replaced.
    fn upsert_accounts_keeping_preferences(&self, accounts: &[AccountUpsert]) -> Result<()>;
    fn account(&self, id: AccountId) -> Result<Option<Account>>;
    /// The accounts that exist among `ids`, in no particular order.
    fn accounts(&self, ids: &[AccountId]) -> Result<Vec<Account>>;
    /// Handles match case-insensitively, as on X.
    fn account_by_handle(&self, handle: &str) -> Result<Option<Account>>;
    /// Applies preference changes; returns the updated account, `None` if unknown.
    fn set_preferences(&self, id: AccountId, changes: &[PreferenceChange], at: Timestamp) -> Result<Option<Account>>;
    /// Returns false if the account is unknown.
    fn set_account_status(&self, id: AccountId, status: AccountStatus) -> Result<bool>;

    // -- posts -----------------------------------------------------------------

    /// Inserts or replaces posts, all or none.
    fn upsert_posts(&self, posts: &[Post]) -> Result<()>;
    /// The posts that exist among `ids` (deleted ones included), in no particular order.
    fn posts(&self, ids: &[PostId]) -> Result<Vec<Post>>;
    /// An author's posts (deleted ones included), newest first.
    fn timeline(&self, author: AccountId, query: &TimelineQuery) -> Result<Vec<Post>>;
    /// Posts matching a search (deleted ones included), newest first. Text
    /// holding a NUL character is `StoreError::Invalid` naming `query`: no
    /// backend's text search can take it.
    fn search(&self, query: &SearchQuery) -> Result<Vec<Post>>;
    /// The candidates of one page of a search as the API answers it: what
    /// `search` finds, except that a backend may stop after examining a
    /// bounded number of posts when no index narrows the query (an emoji
    /// alone), answering with what it found and where to resume, so that no
    /// request walks the whole platform. The default never stops early.
    fn search_page(&self, query: &SearchQuery) -> Result<SearchPage> {
        Ok(SearchPage { posts: self.search(query)?, resume_before: None })
    }
    /// Returns false if the post is unknown.
    fn set_post_no_ai(&self, id: PostId, no_ai: bool) -> Result<bool>;
    /// Sets or clears `no_ai` on every post of `author` created in
    /// `from <= created_at < until` (either bound open), in one transaction;
    /// returns how many posts changed.
    fn set_posts_no_ai(
        &self,
        author: AccountId,
        from: Option<Timestamp>,
        until: Option<Timestamp>,
        no_ai: bool,
    ) -> Result<u64>;
    /// Marks a post deleted (kept for compliance); false if unknown.
    fn delete_post(&self, id: PostId, at: Timestamp) -> Result<bool>;

    /// Runs `work` in one transaction and commits it only if `work` returns Ok:
    /// a failed or interrupted bulk load leaves nothing behind.
    fn bulk_load(&self, work: &mut dyn FnMut(&mut dyn BulkWriter) -> Result<()>) -> Result<()>;

    // -- apps, keys, agreements ------------------------------------------------

    fn create_app(&self, app: &NewApp) -> Result<App>;
    fn app(&self, id: AppId) -> Result<Option<App>>;
    fn apps(&self) -> Result<Vec<App>>;
    /// Returns the updated app, `None` if unknown.
    fn update_app(&self, id: AppId, update: &AppUpdate) -> Result<Option<App>>;
    fn add_key(&self, key: &NewKey) -> Result<ApiKey>;
    fn key_by_hash(&self, hash: &str) -> Result<Option<ApiKey>>;
    fn keys(&self, app: AppId) -> Result<Vec<ApiKey>>;
    /// Sets `expires_at` on the app's unrevoked keys that would outlive it
    /// (used by rotation); returns how many changed.
    fn expire_keys(&self, app: AppId, except: Option<KeyId>, at: Timestamp) -> Result<usize>;
    /// Revokes one key (or all of an app's keys with `None`); returns how many changed.
    fn revoke_keys(&self, app: AppId, key: Option<KeyId>, at: Timestamp) -> Result<usize>;

    fn publish_agreement(&self, agreement: &Agreement) -> Result<()>;
    fn latest_agreement(&self) -> Result<Option<Agreement>>;
    fn agreement(&self, version: u32) -> Result<Option<Agreement>>;

    // -- the change log ----------------------------------------------------------

    /// The sequence number of the last committed change (0 for none).
    ///
    /// Called once per request by the caches, so it must be cheap. It reflects
    /// every write acknowledged before the call, by this process or any other
    /// writer of the same store.
    fn change_seq(&self) -> Result<u64>;
    /// The changes after `after`, in order, at most `limit` of them.
    fn changes_since(&self, after: u64, limit: usize) -> Result<Changes>;
    /// The events after sequence number `after`, in order, at most `limit`
    /// of them. The log's sequence numbers are `change_seq`'s; a change that
    /// only invalidates caches (a post moved from its old author's timeline)
    /// has a number but no event.
    fn events_since(&self, after: u64, limit: usize) -> Result<Vec<Event>>;
    /// Makes each change again, in order, all or none, as of its time (the
    /// time of a preference, a deletion, and of the event recorded), and
    /// records the events it makes. Only changes to accounts and posts
    /// (`EventChange::is_platform_data`); an error names the change by its
    /// index in `changes`. Returns the events recorded (a change that changes
    /// nothing records none).
    fn apply_events(&self, changes: &[(Timestamp, EventChange)]) -> Result<u64>;

    // -- notices: what recipients were told, and their obligations ------------

    /// The sequence number up to which every node has opened the notices of
    /// the log's events (0: none): the notices of events up to it are all
    /// there, so a reader (a compliance stream) may move past them.
    ///
    /// Each node opens notices from its own ledger (the recipients it
    /// delivered to), so each examines every event; a node taken out of
    /// service must be forgotten (`forget_notices_node`) or it holds this back.
    fn notices_opened_upto(&self) -> Result<u64>;
    /// How far `node` has examined the log (0: not at all).
    fn notices_progress(&self, node: &str) -> Result<u64>;
    /// Records `notices` and that `node` has examined the events up to
    /// `upto`, in one transaction. A notice already recorded (the same app
    /// and event, opened by this node or another) is left as it is, so
    /// examining an event again changes nothing; `upto` never moves back.
    fn open_notices(&self, node: &str, upto: u64, notices: &[Notice]) -> Result<()>;
    /// Forgets a node's progress; returns whether it had any.
    fn forget_notices_node(&self, node: &str) -> Result<bool>;
    /// Notices in event order (by app within an event).
    fn notices(&self, query: &NoticeQuery) -> Result<Vec<Notice>>;
    /// Acknowledges `app`'s open obligations named by `acks`, all or none:
    /// a sequence number that names no obligation of `app` is
    /// `StoreError::NotFound`, one already acknowledged `StoreError::Conflict`,
    /// and nothing is acknowledged. Posts and accounts acknowledge their open obligations
    /// (none is no error).
    fn ack_notices(&self, app: AppId, acks: &NoticeAcks, at: Timestamp) -> Result<AckOutcome>;

    // -- webhooks --------------------------------------------------------------

    fn create_webhook(&self, webhook: &NewWebhook) -> Result<Webhook>;
    fn webhook(&self, id: u64) -> Result<Option<Webhook>>;
    /// An app's webhooks, or every app's with `None`, by id.
    fn webhooks(&self, app: Option<AppId>) -> Result<Vec<Webhook>>;
    /// Deletes a webhook and its dead letters; false if unknown.
    fn delete_webhook(&self, id: u64) -> Result<bool>;
    /// Returns false if the webhook is unknown.
    fn set_webhook_valid(&self, id: u64, valid: bool) -> Result<bool>;
    /// Moves a webhook's delivery progress from `from` to `to`, recording
    /// `dead` (a batch given up on) in the same transaction, only if the
    /// progress is still `from`: false (and nothing written) if another
    /// deliverer, or a replay, moved it meanwhile.
    fn advance_webhook(&self, id: u64, from: u64, to: u64, dead: Option<&DeadLetter>) -> Result<bool>;
    /// Sets a webhook's delivery progress back (or forward) to `to`: the
    /// notices after it are delivered again (a replay). False if unknown.
    fn rewind_webhook(&self, id: u64, to: u64) -> Result<bool>;
    /// A webhook's dead letters, oldest first, those with an id after `after`.
    fn dead_letters(&self, webhook: u64, after: u64, limit: usize) -> Result<Vec<DeadLetter>>;

    // -- compliance jobs ---------------------------------------------------------

    /// Creates a job in status `Created`.
    fn create_compliance_job(&self, job: &NewComplianceJob) -> Result<ComplianceJob>;
    /// The job, whichever app it belongs to (the caller checks the owner).
    fn compliance_job(&self, id: u64) -> Result<Option<ComplianceJob>>;
    /// An app's jobs of one kind, newest first, optionally of one status.
    fn compliance_jobs(&self, app: AppId, kind: JobKind, status: Option<JobStatus>) -> Result<Vec<ComplianceJob>>;
    /// Stores a job's uploaded ids (distinct, in any order) and moves it from
    /// `Created` to `InProgress`, in one transaction. `NotFound` for an
    /// unknown job; `Conflict` for a job no longer `Created` (uploaded
    /// already, expired, failed), and then nothing is stored.
    fn upload_compliance_ids(&self, id: u64, ids: &[u64]) -> Result<()>;
    /// The ids uploaded to a job, in the order stored (empty once the job is
    /// complete, expired or deleted).
    fn compliance_job_ids(&self, id: u64) -> Result<Vec<u64>>;
    /// Stores a job's results (`lines` lines of JSON, each ending in `\n`)
    /// and moves it from `InProgress` to `Complete`, dropping its ids; false
    /// if the job is not `InProgress` (deleted or expired meanwhile), and
    /// then nothing is stored.
    fn complete_compliance_job(&self, id: u64, results: &[u8], lines: u64) -> Result<bool>;
    /// Moves a job from `InProgress` to `Failed` with the reason, dropping its
    /// ids; false if it is not `InProgress`.
    fn fail_compliance_job(&self, id: u64, error: &str) -> Result<bool>;
    /// A complete job's results; `None` for any other job.
    fn compliance_job_results(&self, id: u64) -> Result<Option<Vec<u8>>>;
    /// Marks `Expired`, dropping their ids and results, the jobs whose
    /// download URL expired at or before `now`, and the `Created` ones whose
    /// upload URL did; returns how many changed. Cheap when none is due.
    fn expire_compliance_jobs(&self, now: Timestamp) -> Result<usize>;
    /// Deletes a job, its ids and its results; false if unknown.
    fn delete_compliance_job(&self, id: u64) -> Result<bool>;
    /// The secret the job URLs are signed with: 32 random bytes made once per
    /// store, the same on every node that shares it.
    fn compliance_secret(&self) -> Result<[u8; 32]>;

    // -- guard notices: what the operator wrote to an actor ---------------------

    /// Records a written notice the operator sent to an actor of the guard,
    /// once it meets `guard_notices::check` (an actor, a real day not after
    /// today, a text; a reference that is an absolute URI), and returns it
    /// with its id; `StoreError::Invalid` naming the field, and nothing
    /// stored, otherwise. The same notice recorded twice is two notices (a
    /// letter may be sent twice).
    fn record_guard_notice(&self, notice: &NewGuardNotice) -> Result<GuardNotice>;
    /// The written notices, of one actor or of all, by date, then in the
    /// order recorded.
    fn guard_notices(&self, actor: Option<&str>) -> Result<Vec<GuardNotice>>;

    // -- operations ------------------------------------------------------------

    fn stats(&self) -> Result<Stats>;
}
