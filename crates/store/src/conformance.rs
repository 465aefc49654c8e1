//! The store conformance suite: what every backend must do, written once.
//!
//! Each check is a plain function taking an empty store; a backend runs all
//! of them from its own tests with [`store_conformance_tests!`](crate::store_conformance_tests),
//! which expands to one `#[test]` per check, each on a fresh store from the
//! backend's factory:
//!
//! ```ignore
//! tollgate_store::store_conformance_tests!(|| MyStore::open_fresh().unwrap());
//! ```
//!
//! A backend whose storage outlives the store value (every real one) also
//! passes an opener factory: a callable returning a second callable that opens
//! the *same* storage each time it is called. The durability check writes
//! through one store, drops it, and reads through the next:
//!
//! ```ignore
//! tollgate_store::store_conformance_tests!(|| fresh(), reopen = || { let dir = temp_dir(); move || open(&dir) });
//! ```
//!
//! The checks pin down behaviour the trait's signatures leave open, so that
//! callers may rely on it whatever the backend: ordering, exclusive and
//! inclusive bounds, idempotence, all-or-nothing batches and the errors given.

use std::collections::BTreeSet;

use tollgate_domain::{
    Account, AccountId, AccountStatus, Agreement, AiPreferences, App, AppId, AppStatus, Category, EventChange, KeyId,
    Notice, NoticeReason, Post, PostId, Preference, PreferenceChange, Purpose, Scope, Tier, Timestamp, Tri,
};

use crate::{
    AccountUpsert, AppUpdate, BulkWriter, Change, Entity, JobKind, JobStatus, NewApp, NewComplianceJob, NewGuardNotice,
    NewKey, NoticeAcks, NoticeQuery, SearchExpr, SearchQuery, Stats, Store, StoreError, TimelineQuery,
};

/// What the macro needs of a factory's product: a way to see it as a store.
/// Implemented for every `Store` and for `Box<dyn Store>`, so a factory may
/// return either.
pub trait AsStore {
    fn as_store(&self) -> &dyn Store;
}

impl<T: Store> AsStore for T {
    fn as_store(&self) -> &dyn Store {
        self
    }
}

impl AsStore for Box<dyn Store> {
    fn as_store(&self) -> &dyn Store {
        &**self
    }
}

/// Expands to one `#[test]` per conformance check, each calling `$factory()`
/// for a fresh, empty store (any `impl Store`, or `Box<dyn Store>`).
///
/// With `reopen = $opener_factory`, also expands the durability check:
/// `$opener_factory()` returns a callable that opens the same storage each
/// time it is called; whatever it owns (a temporary directory, a database)
/// is dropped when the check ends.
#[macro_export]
macro_rules! store_conformance_tests {
    ($factory:expr, reopen = $opener_factory:expr $(,)?) => {
        $crate::store_conformance_tests!($factory);

        #[test]
        fn durable_across_reopen() {
            $crate::conformance::durable_across_reopen(($opener_factory)());
        }
    };
    ($factory:expr $(,)?) => {
        $crate::__store_conformance_checks!(
            $factory;
            account_round_trip,
            upsert_replaces_accounts,
            upsert_keeping_preferences_keeps_stored_choices,
            accounts_skips_missing_ids,
            handle_lookup_is_case_insensitive,
            handle_taken_by_another_account_conflicts,
            invalid_account_refused_and_batch_not_written,
            invalid_post_refused_and_batch_not_written,
            preference_changes_visible_to_next_read,
            account_status_change,
            post_round_trip,
            upsert_replaces_posts,
            posts_skips_missing_ids,
            reads_of_many_ids_at_once,
            timeline_newest_first_by_author,
            timeline_bounds,
            timeline_excludes_replies,
            deleted_posts_still_returned,
            no_ai_toggle,
            search_terms,
            search_term_text_is_never_syntax,
            search_text_with_nul_is_invalid,
            search_phrase,
            search_from_lang_and_replies,
            search_boolean_grouping,
            search_negation_alone,
            search_bounds,
            search_reindexes_replaced_text,
            search_entities_from_text,
            search_users_replies_and_conversations,
            search_unheld_operators_match_nothing,
            search_symbols_as_written,
            bulk_load_commits_all_on_ok,
            bulk_load_leaves_nothing_on_err,
            apps_create_list_update,
            keys_lifecycle,
            agreements_publish_and_read,
            stats_count_everything,
            change_log_names_every_write,
            change_log_reads_in_batches,
            ids_at_the_u64_edge,
            reads_see_every_returned_write,
            concurrent_writers_and_readers,
            event_log_records_each_change_with_old_and_new_values,
            events_apply_all_or_nothing,
            posts_no_ai_by_date_range,
            notices_open_once_and_list_by_recipient,
            acknowledgements_all_or_nothing,
            webhooks_progress_and_dead_letters,
            compliance_job_lifecycle,
            compliance_jobs_listed_per_app_kind_and_status,
            compliance_upload_only_once,
            compliance_jobs_expire,
            compliance_secret_is_stable,
            guard_notices_recorded_listed_and_checked,
        );

        #[test]
        fn replaying_the_log_reproduces_the_state() {
            let (original, replica) = (($factory)(), ($factory)());
            $crate::conformance::replaying_the_log_reproduces_the_state(
                $crate::conformance::AsStore::as_store(&original),
                $crate::conformance::AsStore::as_store(&replica),
            );
        }
    };
}

/// The expansion behind [`store_conformance_tests!`]; not for direct use.
#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_checks {
    ($factory:expr; $($check:ident),* $(,)?) => {
        $(
            #[test]
            fn $check() {
                let store = ($factory)();
                $crate::conformance::$check($crate::conformance::AsStore::as_store(&store));
            }
        )*
    };
}

// -- fixtures -----------------------------------------------------------------

fn ts(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

/// A minimal valid account.
fn account(id: u64, handle: &str) -> Account {
    Account {
        id: AccountId(id),
        handle: handle.into(),
        display_name: format!("Account {id}"),
        description: String::new(),
        created_at: ts(1_600_000_000_000),
        region: "US".into(),
        birth_year: None,
        is_minor: None,
        protected: false,
        status: AccountStatus::Active,
        ai_preferences: AiPreferences::default(),
    }
}

/// An account with every field set to something other than its default.
fn full_account(id: u64, handle: &str) -> Account {
    let mut prefs = AiPreferences::default();
    prefs.set(Category::TrainGenai, Scope::ThirdParties, Tri::Deny, ts(1_700_000_000_001));
    prefs.set(Category::AiInput, Scope::FirstParty, Tri::Allow, ts(1_700_000_000_002));
    // Reset to "unset" by the author: the time of the reset is kept.
    prefs.set(Category::TrainAi, Scope::FirstParty, Tri::Unset, ts(1_700_000_000_003));
    Account {
        id: AccountId(id),
        handle: handle.into(),
        display_name: "Ada Lovelace ✨".into(),
        description: "Analyst. \"Quotes\", 'apostrophes' and\nnewlines.".into(),
        created_at: ts(1_288_834_974_657),
        region: "GB".into(),
        birth_year: Some(1990),
        is_minor: Some(false),
        protected: true,
        status: AccountStatus::Suspended,
        ai_preferences: prefs,
    }
}

/// A minimal valid post.
fn post(id: u64, author: u64, created_ms: i64, text: &str) -> Post {
    Post {
        id: PostId(id),
        author_id: AccountId(author),
        created_at: ts(created_ms),
        text: text.into(),
        lang: "en".into(),
        in_reply_to: None,
        in_reply_to_user_id: None,
        conversation_id: None,
        no_ai: false,
        deleted_at: None,
    }
}

fn reply(id: u64, author: u64, to: u64, to_user: u64, text: &str) -> Post {
    Post {
        in_reply_to: Some(PostId(to)),
        in_reply_to_user_id: Some(AccountId(to_user)),
        conversation_id: Some(PostId(to)),
        ..post(id, author, 1_000 + id as i64, text)
    }
}

fn ids(posts: &[Post]) -> Vec<u64> {
    posts.iter().map(|p| p.id.0).collect()
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

fn timeline(limit: usize) -> TimelineQuery {
    TimelineQuery { limit, ..TimelineQuery::default() }
}

fn search_query(expr: SearchExpr) -> SearchQuery {
    SearchQuery::new(expr, 100)
}

/// The ids a search returns, in order.
fn search(store: &dyn Store, expr: SearchExpr) -> Vec<u64> {
    let shown = format!("{expr:?}");
    ids(&store.search(&search_query(expr)).unwrap_or_else(|e| panic!("search {shown}: {e}")))
}

fn term(t: &str) -> SearchExpr {
    SearchExpr::Term(t.into())
}

fn not(e: SearchExpr) -> SearchExpr {
    SearchExpr::Not(Box::new(e))
}

fn and(items: impl IntoIterator<Item = SearchExpr>) -> SearchExpr {
    SearchExpr::And(items.into_iter().collect())
}

fn or(items: impl IntoIterator<Item = SearchExpr>) -> SearchExpr {
    SearchExpr::Or(items.into_iter().collect())
}

fn new_app(name: &str) -> NewApp {
    NewApp {
        name: name.into(),
        tier: Tier::Partner,
        purposes: vec![Purpose::Display, Purpose::TrainAi],
        licensed_purposes: vec![Purpose::TrainAi],
        agreement_version: Some(1),
        created_at: ts(1_700_000_000_000),
    }
}

fn new_key(app: AppId, hash: &str, expires_at: Option<Timestamp>) -> NewKey {
    NewKey { app_id: app, hash: hash.into(), prefix: hash[..4].into(), created_at: ts(1_700_000_000_000), expires_at }
}

fn agreement(version: u32, text: &str) -> Agreement {
    Agreement {
        version,
        text: text.into(),
        terms_json: format!("{{\"version\":{version}}}"),
        published_at: ts(1_700_000_000_000 + i64::from(version)),
        grace_until: ts(1_800_000_000_000 + i64::from(version)),
    }
}

fn assert_invalid<T: std::fmt::Debug>(result: Result<T, StoreError>, expected_field: &str) {
    match result {
        Err(StoreError::Invalid { field, .. }) => assert_eq!(field, expected_field, "wrong field named"),
        other => panic!("expected Invalid {{ field: {expected_field} }}, got {other:?}"),
    }
}

fn assert_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    assert!(matches!(result, Err(StoreError::Conflict(_))), "expected Conflict, got {result:?}");
}

// -- accounts -------------------------------------------------------------------

/// Every field comes back as written, preferences with their times included.
pub fn account_round_trip(store: &dyn Store) {
    let a = full_account(42, "Ada_Lovelace");
    let b = account(7, "bob");
    store.upsert_accounts(&[a.clone(), b.clone()]).unwrap();
    assert_eq!(store.account(AccountId(42)).unwrap(), Some(a.clone()));
    assert_eq!(store.account(AccountId(7)).unwrap(), Some(b));
    assert_eq!(store.account(AccountId(8)).unwrap(), None);
    assert_eq!(store.account_by_handle("Ada_Lovelace").unwrap(), Some(a.clone()));
    let got = store.account(AccountId(42)).unwrap().unwrap();
    assert_eq!(
        got.ai_preferences.get(Category::TrainAi, Scope::FirstParty),
        Preference { value: Tri::Unset, updated_at: Some(ts(1_700_000_000_003)) }
    );
    store.upsert_accounts(&[]).unwrap();
}

/// Upserting an existing id replaces every field (and frees the old handle).
pub fn upsert_replaces_accounts(store: &dyn Store) {
    store.upsert_accounts(&[full_account(1, "ada")]).unwrap();
    let mut replaced = account(1, "countess");
    replaced.display_name = "Augusta".into();
    store.upsert_accounts(&[replaced.clone()]).unwrap();
    assert_eq!(store.account(AccountId(1)).unwrap(), Some(replaced.clone()));
    assert_eq!(store.account_by_handle("ada").unwrap(), None);
    assert_eq!(store.account_by_handle("countess").unwrap(), Some(replaced.clone()));
    // Idempotent: the same batch again changes nothing.
    store.upsert_accounts(&[replaced.clone()]).unwrap();
    assert_eq!(store.account(AccountId(1)).unwrap(), Some(replaced));
    assert_eq!(store.stats().unwrap().accounts, 1);
    // The freed handle can be taken by another account.
    store.upsert_accounts(&[account(2, "ada")]).unwrap();
    assert_eq!(store.account_by_handle("ADA").unwrap().map(|a| a.id), Some(AccountId(2)));
}

/// `accounts` returns those that exist, each once, in any order.
/// Accounts marked `keep_preferences` keep the stored preferences and take
/// every other field; unmarked ones are replaced whole; new accounts take the
/// preferences given. All or none, and every account is in the change log.
pub fn upsert_keeping_preferences_keeps_stored_choices(store: &dyn Store) {
    let stored = full_account(1, "keeper");
    store.upsert_accounts(&[stored.clone(), account(2, "replaced")]).unwrap();
    let start = store.change_seq().unwrap();
    let renamed = Account { display_name: "Renamed".into(), ..account(1, "keeper2") };
    let upserts = [
        AccountUpsert { account: renamed.clone(), keep_preferences: true },
        AccountUpsert { account: full_account(2, "replaced"), keep_preferences: false },
        AccountUpsert { account: full_account(3, "newcomer"), keep_preferences: true },
    ];
    store.upsert_accounts_keeping_preferences(&upserts).unwrap();
    let got = store.account(AccountId(1)).unwrap().unwrap();
    assert_eq!(got, Account { ai_preferences: stored.ai_preferences, ..renamed }, "stored preferences are kept");
    assert_eq!(store.account(AccountId(2)).unwrap(), Some(full_account(2, "replaced")), "replaced whole");
    assert_eq!(store.account(AccountId(3)).unwrap(), Some(full_account(3, "newcomer")), "new: as given");
    // One change per event: a profile, protection, status or preference each.
    let (mut changes, _) = changes_after(store, start);
    changes.dedup();
    assert_eq!(changes, [1, 2, 3].map(|id| Change::Account(AccountId(id))).to_vec());

    // A batch with one invalid account writes nothing.
    let bad = [
        AccountUpsert {
            account: Account { display_name: "Not written".into(), ..account(1, "keeper2") },
            keep_preferences: true,
        },
        AccountUpsert { account: account(4, "bad handle!"), keep_preferences: true },
    ];
    assert_invalid(store.upsert_accounts_keeping_preferences(&bad), "handle");
    assert_eq!(store.account(AccountId(1)).unwrap().unwrap().display_name, "Renamed");
    assert_eq!(store.account(AccountId(4)).unwrap(), None);
    store.upsert_accounts_keeping_preferences(&[]).unwrap();
}

pub fn accounts_skips_missing_ids(store: &dyn Store) {
    store.upsert_accounts(&[account(1, "one"), account(2, "two"), account(3, "three")]).unwrap();
    let got = store.accounts(&[AccountId(3), AccountId(99), AccountId(1), AccountId(3)]).unwrap();
    assert_eq!(sorted(got.iter().map(|a| a.id.0).collect()), vec![1, 3]);
    assert_eq!(got.iter().find(|a| a.id == AccountId(3)).unwrap(), &account(3, "three"));
    assert!(store.accounts(&[]).unwrap().is_empty());
    assert!(store.accounts(&[AccountId(4)]).unwrap().is_empty());
}

/// Handles match case-insensitively and keep their own spelling.
pub fn handle_lookup_is_case_insensitive(store: &dyn Store) {
    store.upsert_accounts(&[account(5, "Grace_Hopper")]).unwrap();
    for h in ["Grace_Hopper", "grace_hopper", "GRACE_HOPPER", "gRaCe_HoPpEr"] {
        let got = store.account_by_handle(h).unwrap().unwrap_or_else(|| panic!("{h} not found"));
        assert_eq!(got.handle, "Grace_Hopper");
    }
    assert_eq!(store.account_by_handle("grace").unwrap(), None);
    assert_eq!(store.account_by_handle("").unwrap(), None);
}

/// Two accounts cannot share a handle, whatever its case.
pub fn handle_taken_by_another_account_conflicts(store: &dyn Store) {
    store.upsert_accounts(&[account(1, "ada")]).unwrap();
    assert_conflict(store.upsert_accounts(&[account(3, "zed"), account(2, "ADA")]));
    assert_eq!(store.account(AccountId(2)).unwrap(), None);
    assert_eq!(store.account(AccountId(3)).unwrap(), None, "the batch is all or nothing");
    assert_eq!(store.account_by_handle("ada").unwrap().map(|a| a.id), Some(AccountId(1)));
}

/// A batch with one invalid account is refused, naming the field, and
/// nothing of it is written.
pub fn invalid_account_refused_and_batch_not_written(store: &dyn Store) {
    let mut bad = account(2, "not a handle");
    assert_invalid(store.upsert_accounts(&[account(1, "good"), bad.clone()]), "handle");
    bad = account(2, "fine");
    bad.region = "Germany".into();
    assert_invalid(store.upsert_accounts(&[account(1, "good"), bad]), "region");
    let mut bad = account(2, "fine");
    bad.birth_year = Some(1700);
    assert_invalid(store.upsert_accounts(&[bad]), "birth_year");
    assert_eq!(store.account(AccountId(1)).unwrap(), None);
    assert_eq!(store.account(AccountId(2)).unwrap(), None);
    assert_eq!(store.stats().unwrap().accounts, 0);
}

/// A batch with one invalid post is refused, naming the field, and nothing of
/// it is written (nor indexed for search).
pub fn invalid_post_refused_and_batch_not_written(store: &dyn Store) {
    let mut bad = post(11, 1, 0, "bad");
    bad.lang = String::new();
    assert_invalid(store.upsert_posts(&[post(10, 1, 0, "good words"), bad]), "lang");
    let mut bad = post(11, 1, 0, "bad");
    bad.in_reply_to = Some(PostId(11));
    assert_invalid(store.upsert_posts(&[post(10, 1, 0, "good words"), bad]), "in_reply_to");
    let long = "x".repeat(25_001);
    assert_invalid(store.upsert_posts(&[post(10, 1, 0, "good words"), post(12, 1, 0, &long)]), "text");
    assert!(store.posts(&[PostId(10), PostId(11), PostId(12)]).unwrap().is_empty());
    assert!(search(store, term("good")).is_empty());
    assert_eq!(store.stats().unwrap().posts, 0);
}

/// Preference changes are stamped with their time, leave the others alone,
/// and are what the next read returns.
pub fn preference_changes_visible_to_next_read(store: &dyn Store) {
    let before = full_account(9, "prefs");
    store.upsert_accounts(std::slice::from_ref(&before)).unwrap();
    let changes = [
        PreferenceChange { category: Category::TrainGenai, scope: Scope::ThirdParties, value: Tri::Allow },
        PreferenceChange { category: Category::TrainAi, scope: Scope::ThirdParties, value: Tri::Deny },
    ];
    let at = ts(1_750_000_000_000);
    let updated = store.set_preferences(AccountId(9), &changes, at).unwrap().expect("known account");
    let p = updated.ai_preferences;
    assert_eq!(
        p.get(Category::TrainGenai, Scope::ThirdParties),
        Preference { value: Tri::Allow, updated_at: Some(at) }
    );
    assert_eq!(p.get(Category::TrainAi, Scope::ThirdParties), Preference { value: Tri::Deny, updated_at: Some(at) });
    assert_eq!(
        p.get(Category::AiInput, Scope::FirstParty),
        before.ai_preferences.get(Category::AiInput, Scope::FirstParty),
        "untouched preferences are kept"
    );
    assert_eq!(Account { ai_preferences: before.ai_preferences, ..updated.clone() }, before, "nothing else changes");
    assert_eq!(store.account(AccountId(9)).unwrap(), Some(updated.clone()));
    assert_eq!(store.account_by_handle("PREFS").unwrap(), Some(updated));
    // No changes at all is a no-op that still returns the account.
    let same = store.set_preferences(AccountId(9), &[], ts(1)).unwrap().unwrap();
    assert_eq!(same.ai_preferences, p);
    assert_eq!(store.set_preferences(AccountId(10), &changes, at).unwrap(), None);
}

pub fn account_status_change(store: &dyn Store) {
    store.upsert_accounts(&[account(1, "ada")]).unwrap();
    for status in [AccountStatus::Deactivated, AccountStatus::Deleted, AccountStatus::Active] {
        assert!(store.set_account_status(AccountId(1), status).unwrap());
        let got = store.account(AccountId(1)).unwrap().unwrap();
        assert_eq!(got, Account { status, ..account(1, "ada") });
    }
    assert!(!store.set_account_status(AccountId(2), AccountStatus::Suspended).unwrap());
    assert_eq!(store.account(AccountId(2)).unwrap(), None);
}

// -- posts ---------------------------------------------------------------------

/// Every field comes back as written.
pub fn post_round_trip(store: &dyn Store) {
    let full = Post {
        id: PostId(1_800_000_000_000_000_001),
        author_id: AccountId(12),
        created_at: ts(1_717_243_200_123),
        text: "Grüße, 世界! 🚀 \"quoted\" 'single' and a\nnewline".into(),
        lang: "de".into(),
        in_reply_to: Some(PostId(1_800_000_000_000_000_000)),
        in_reply_to_user_id: Some(AccountId(13)),
        conversation_id: Some(PostId(1_799_999_999_999_999_999)),
        no_ai: true,
        deleted_at: Some(ts(1_717_243_300_000)),
    };
    let minimal = post(5, 12, 0, "");
    store.upsert_posts(&[full.clone(), minimal.clone()]).unwrap();
    assert_eq!(store.posts(&[full.id]).unwrap(), vec![full.clone()]);
    assert_eq!(store.posts(&[minimal.id]).unwrap(), vec![minimal]);
    store.upsert_posts(&[]).unwrap();
}

/// Upserting an existing id replaces every field.
pub fn upsert_replaces_posts(store: &dyn Store) {
    store.upsert_posts(&[post(1, 1, 10, "first text")]).unwrap();
    let replaced = Post { no_ai: true, lang: "fr".into(), ..reply(1, 2, 0, 3, "second text") };
    store.upsert_posts(std::slice::from_ref(&replaced)).unwrap();
    assert_eq!(store.posts(&[PostId(1)]).unwrap(), vec![replaced.clone()]);
    store.upsert_posts(std::slice::from_ref(&replaced)).unwrap();
    assert_eq!(store.posts(&[PostId(1)]).unwrap(), vec![replaced]);
    assert_eq!(store.stats().unwrap().posts, 1);
    assert!(store.timeline(AccountId(1), &timeline(10)).unwrap().is_empty(), "the author changed");
    assert_eq!(ids(&store.timeline(AccountId(2), &timeline(10)).unwrap()), vec![1]);
}

/// `posts` returns those that exist, each once, in any order.
pub fn posts_skips_missing_ids(store: &dyn Store) {
    store.upsert_posts(&[post(1, 1, 0, "a"), post(2, 1, 0, "b"), post(3, 2, 0, "c")]).unwrap();
    let got = store.posts(&[PostId(3), PostId(4), PostId(1), PostId(1)]).unwrap();
    assert_eq!(sorted(ids(&got)), vec![1, 3]);
    assert!(store.posts(&[]).unwrap().is_empty());
}

/// A timeline holds the author's posts only, by descending id (not by time).
/// Lookups of more ids than one page holds, with repeats and missing ids,
/// return each stored item once.
pub fn reads_of_many_ids_at_once(store: &dyn Store) {
    store.upsert_accounts(&(1..=150).map(|i| account(i, &format!("many{i}"))).collect::<Vec<_>>()).unwrap();
    store.upsert_posts(&(1..=250).map(|i| post(i, 1 + i % 150, i as i64, "many")).collect::<Vec<_>>()).unwrap();
    for n in [0u64, 1, 2, 7, 8, 9, 33, 100, 101, 260] {
        let mut asked: Vec<u64> = (1..=n).rev().collect();
        asked.extend(asked.clone().iter().take(5));
        let posts: Vec<PostId> = asked.iter().map(|i| PostId(*i)).collect();
        let want: Vec<u64> = (1..=n.min(250)).collect();
        assert_eq!(sorted(ids(&store.posts(&posts).unwrap())), want, "{n} posts");
        let accounts: Vec<AccountId> = asked.iter().map(|i| AccountId(*i)).collect();
        let got = sorted(store.accounts(&accounts).unwrap().into_iter().map(|a| a.id.0).collect());
        assert_eq!(got, (1..=n.min(150)).collect::<Vec<_>>(), "{n} accounts");
    }
}

pub fn timeline_newest_first_by_author(store: &dyn Store) {
    let mut posts = vec![post(13, 1, 300, "c"), post(10, 1, 400, "a"), post(15, 1, 100, "e"), post(11, 1, 200, "b")];
    posts.push(post(12, 2, 500, "other author"));
    posts.push(post(14, 3, 600, "third author"));
    store.upsert_posts(&posts).unwrap();
    assert_eq!(ids(&store.timeline(AccountId(1), &timeline(100)).unwrap()), vec![15, 13, 11, 10]);
    assert_eq!(ids(&store.timeline(AccountId(2), &timeline(100)).unwrap()), vec![12]);
    assert!(store.timeline(AccountId(4), &timeline(100)).unwrap().is_empty());
    assert_eq!(store.timeline(AccountId(1), &timeline(100)).unwrap()[1], post(13, 1, 300, "c"));
}

/// `exclude_replies` leaves replies out and keeps everything else in order.
pub fn timeline_excludes_replies(store: &dyn Store) {
    store.upsert_posts(&[post(1, 1, 100, "root"), reply(2, 1, 1, 1, "reply"), post(3, 1, 300, "another")]).unwrap();
    let q = TimelineQuery { exclude_replies: true, ..timeline(10) };
    assert_eq!(ids(&store.timeline(AccountId(1), &q).unwrap()), vec![3, 1]);
    assert_eq!(ids(&store.timeline(AccountId(1), &timeline(10)).unwrap()), vec![3, 2, 1]);
}

/// since_id and until_id and before_id are exclusive, start_time inclusive,
/// end_time exclusive, limit caps the page (0 returns nothing); all combine.
pub fn timeline_bounds(store: &dyn Store) {
    // Ids 100, 200, ..., 1000, created at id * 10 ms.
    let posts: Vec<Post> = (1..=10).map(|i| post(i * 100, 7, (i * 1000) as i64, "t")).collect();
    store.upsert_posts(&posts).unwrap();
    let run = |q: TimelineQuery| ids(&store.timeline(AccountId(7), &q).unwrap());
    let all = || timeline(100);
    assert_eq!(run(all()), vec![1000, 900, 800, 700, 600, 500, 400, 300, 200, 100]);
    assert_eq!(run(TimelineQuery { since_id: Some(PostId(300)), ..all() }), vec![1000, 900, 800, 700, 600, 500, 400]);
    assert_eq!(run(TimelineQuery { since_id: Some(PostId(350)), ..all() })[6], 400);
    assert_eq!(run(TimelineQuery { until_id: Some(PostId(300)), ..all() }), vec![200, 100]);
    assert_eq!(run(TimelineQuery { before_id: Some(PostId(500)), ..all() }), vec![400, 300, 200, 100]);
    assert_eq!(
        run(TimelineQuery { start_time: Some(ts(3000)), ..all() }),
        vec![1000, 900, 800, 700, 600, 500, 400, 300]
    );
    assert_eq!(run(TimelineQuery { start_time: Some(ts(3001)), ..all() }).last(), Some(&400));
    assert_eq!(run(TimelineQuery { end_time: Some(ts(3000)), ..all() }), vec![200, 100]);
    assert_eq!(run(TimelineQuery { end_time: Some(ts(3001)), ..all() }), vec![300, 200, 100]);
    assert_eq!(run(timeline(3)), vec![1000, 900, 800]);
    assert_eq!(run(TimelineQuery { before_id: Some(PostId(800)), ..timeline(3) }), vec![700, 600, 500]);
    assert_eq!(run(timeline(0)), Vec::<u64>::new());
    assert_eq!(
        run(TimelineQuery {
            since_id: Some(PostId(100)),
            until_id: Some(PostId(900)),
            start_time: Some(ts(2000)),
            end_time: Some(ts(8000)),
            before_id: Some(PostId(700)),
            exclude_replies: false,
            limit: 2,
        }),
        vec![600, 500]
    );
    assert_eq!(
        run(TimelineQuery { since_id: Some(PostId(500)), until_id: Some(PostId(400)), ..all() }),
        Vec::<u64>::new()
    );
}

/// Deleted posts are kept and returned (with `deleted_at`) by every read; a
/// second deletion keeps the time of the first.
pub fn deleted_posts_still_returned(store: &dyn Store) {
    store.upsert_posts(&[post(1, 1, 0, "keep me"), post(2, 1, 0, "delete me")]).unwrap();
    let at = ts(1_700_000_000_000);
    assert!(store.delete_post(PostId(2), at).unwrap());
    let expected = Post { deleted_at: Some(at), ..post(2, 1, 0, "delete me") };
    assert_eq!(store.posts(&[PostId(2)]).unwrap(), vec![expected.clone()]);
    assert_eq!(store.timeline(AccountId(1), &timeline(10)).unwrap(), vec![expected.clone(), post(1, 1, 0, "keep me")]);
    assert_eq!(search(store, term("delete")), vec![2]);
    assert!(store.delete_post(PostId(2), ts(1_800_000_000_000)).unwrap());
    assert_eq!(store.posts(&[PostId(2)]).unwrap(), vec![expected]);
    assert!(!store.delete_post(PostId(3), at).unwrap());
    assert!(store.posts(&[PostId(3)]).unwrap().is_empty());
    assert_eq!(store.stats().unwrap().posts, 2);
}

pub fn no_ai_toggle(store: &dyn Store) {
    store.upsert_posts(&[post(1, 1, 0, "toggle")]).unwrap();
    assert!(store.set_post_no_ai(PostId(1), true).unwrap());
    assert_eq!(store.posts(&[PostId(1)]).unwrap(), vec![Post { no_ai: true, ..post(1, 1, 0, "toggle") }]);
    assert!(store.set_post_no_ai(PostId(1), true).unwrap(), "setting the same value still finds the post");
    assert!(store.set_post_no_ai(PostId(1), false).unwrap());
    assert_eq!(store.posts(&[PostId(1)]).unwrap(), vec![post(1, 1, 0, "toggle")]);
    assert_eq!(search(store, term("toggle")), vec![1], "still searchable");
    assert!(!store.set_post_no_ai(PostId(2), true).unwrap());
}

// -- search ----------------------------------------------------------------------

fn search_corpus(store: &dyn Store) {
    store.upsert_accounts(&[account(1, "Ada"), account(2, "bob"), account(3, "carol")]).unwrap();
    let mut posts = vec![
        post(1, 1, 1001, "The quick brown fox"),
        post(2, 2, 1002, "A QUICK red fox jumps"),
        post(3, 3, 1003, "lazy dog sleeps all day"),
        post(4, 1, 1004, "quick thinking, brown bread"),
        post(5, 2, 1005, "this AND that or NOT those"),
        reply(6, 3, 1, 1, "What a quick reply about the fox"),
        reply(7, 1, 3, 3, "replying to the lazy dog"),
    ];
    posts[1].lang = "de".into();
    posts[6].lang = "de".into();
    store.upsert_posts(&posts).unwrap();
}

/// Words match case-insensitively as whole words; several words must all match.
pub fn search_terms(store: &dyn Store) {
    search_corpus(store);
    assert_eq!(search(store, term("quick")), vec![6, 4, 2, 1]);
    assert_eq!(search(store, term("QUICK")), vec![6, 4, 2, 1]);
    assert_eq!(search(store, term("Fox")), vec![6, 2, 1]);
    assert_eq!(search(store, term("qui")), Vec::<u64>::new(), "whole words, not prefixes");
    assert_eq!(search(store, and([term("quick"), term("brown")])), vec![4, 1]);
    assert_eq!(search(store, and([term("quick"), term("dog")])), Vec::<u64>::new());
    assert_eq!(search(store, term("nowhere")), Vec::<u64>::new());
}

/// Search text is data: FTS operators, quotes and SQL in a term are words
/// (or nothing), never syntax, and never an error.
pub fn search_term_text_is_never_syntax(store: &dyn Store) {
    search_corpus(store);
    assert_eq!(search(store, term("AND")), vec![5]);
    assert_eq!(search(store, term("not")), vec![5]);
    assert_eq!(search(store, term("or")), vec![5]);
    let injected = search(store, term("quick\" OR \"lazy"));
    assert!(!injected.contains(&3), "a quote in a term must not start an OR: {injected:?}");
    for weird in ["\"", "*", "fox*", "(", ")", "NEAR(quick fox)", "-", ":", "'; DROP TABLE posts; --", "^quick"] {
        let result = store.search(&search_query(term(weird)));
        assert!(result.is_ok(), "term {weird:?}: {result:?}");
        let result = store.search(&search_query(SearchExpr::Phrase(weird.into())));
        assert!(result.is_ok(), "phrase {weird:?}: {result:?}");
    }
    assert_eq!(store.stats().unwrap().posts, 7);
}

/// A NUL character in search text is a bad query, refused as `Invalid`
/// naming `query`, wherever it sits in the expression; nothing changes.
pub fn search_text_with_nul_is_invalid(store: &dyn Store) {
    search_corpus(store);
    for expr in [
        term("a\0b"),
        SearchExpr::Phrase("quick\0fox".into()),
        and([term("quick"), SearchExpr::Not(Box::new(term("\0")))]),
        SearchExpr::Or(vec![term("quick"), SearchExpr::From("ad\0a".into())]),
        and([term("quick"), SearchExpr::Lang("e\0n".into())]),
    ] {
        assert_invalid(store.search(&search_query(expr)), "query");
    }
    assert_eq!(search(store, term("quick")), vec![6, 4, 2, 1], "the store still searches");
}

/// A phrase matches its words together and in order, case-insensitively.
pub fn search_phrase(store: &dyn Store) {
    search_corpus(store);
    let phrase = |t: &str| SearchExpr::Phrase(t.into());
    assert_eq!(search(store, phrase("quick brown")), vec![1]);
    assert_eq!(search(store, phrase("QUICK Brown fox")), vec![1]);
    assert_eq!(search(store, phrase("brown quick")), Vec::<u64>::new());
    assert_eq!(search(store, phrase("lazy dog")), vec![7, 3]);
    assert_eq!(search(store, and([phrase("lazy dog"), term("sleeps")])), vec![3]);
}

/// `from:` (case-insensitive handle), `lang:` and `is:reply`, alone and
/// combined with words; `-is:reply` leaves replies out.
pub fn search_from_lang_and_replies(store: &dyn Store) {
    search_corpus(store);
    let from = |h: &str| SearchExpr::From(h.into());
    let lang = |l: &str| SearchExpr::Lang(l.into());
    assert_eq!(search(store, from("ada")), vec![7, 4, 1]);
    assert_eq!(search(store, from("ADA")), vec![7, 4, 1]);
    assert_eq!(search(store, from("nobody")), Vec::<u64>::new());
    assert_eq!(search(store, lang("de")), vec![7, 2]);
    assert_eq!(search(store, lang("fr")), Vec::<u64>::new());
    assert_eq!(search(store, SearchExpr::IsReply), vec![7, 6]);
    assert_eq!(search(store, and([term("quick"), from("Ada")])), vec![4, 1]);
    assert_eq!(search(store, and([term("fox"), not(SearchExpr::IsReply)])), vec![2, 1]);
    assert_eq!(search(store, and([term("lazy"), lang("de")])), vec![7]);
    assert_eq!(search(store, and([from("carol"), SearchExpr::IsReply])), vec![6]);
    assert_eq!(search(store, and([lang("en"), not(SearchExpr::IsReply), from("bob")])), vec![5]);
}

/// OR, grouping and NOT nest freely, mixing words and filters.
pub fn search_boolean_grouping(store: &dyn Store) {
    search_corpus(store);
    let from = |h: &str| SearchExpr::From(h.into());
    let lang = |l: &str| SearchExpr::Lang(l.into());
    assert_eq!(search(store, or([term("lazy"), term("red")])), vec![7, 3, 2]);
    assert_eq!(search(store, or([term("lazy"), from("bob")])), vec![7, 5, 3, 2]);
    // (fox OR dog) lang:de
    assert_eq!(search(store, and([or([term("fox"), term("dog")]), lang("de")])), vec![7, 2]);
    // quick -(brown OR red)
    assert_eq!(search(store, and([term("quick"), not(or([term("brown"), term("red")]))])), vec![6]);
    // quick -brown -is:reply
    assert_eq!(search(store, and([term("quick"), not(term("brown")), not(SearchExpr::IsReply)])), vec![2]);
    // (quick brown) OR (lazy -is:reply)
    assert_eq!(
        search(store, or([and([term("quick"), term("brown")]), and([term("lazy"), not(SearchExpr::IsReply)])])),
        vec![4, 3, 1]
    );
    // from:ada OR (from:carol -lazy)
    assert_eq!(search(store, or([from("ada"), and([from("carol"), not(term("lazy"))])])), vec![7, 6, 4, 1]);
    // fox (from:bob OR is:reply)
    assert_eq!(search(store, and([term("fox"), or([from("bob"), SearchExpr::IsReply])])), vec![6, 2]);
    // NOT nested twice is the identity.
    assert_eq!(search(store, and([term("fox"), not(not(term("red")))])), vec![2]);
}

/// A query of negations only is the store's to answer (the API refuses it).
pub fn search_negation_alone(store: &dyn Store) {
    search_corpus(store);
    assert_eq!(search(store, not(term("quick"))), vec![7, 5, 3]);
    assert_eq!(search(store, and([not(term("quick")), not(term("lazy"))])), vec![5]);
    assert_eq!(search(store, not(SearchExpr::IsReply)), vec![5, 4, 3, 2, 1]);
    assert_eq!(search(store, not(SearchExpr::From("ada".into()))), vec![6, 5, 3, 2]);
}

/// A search honours the same bounds as a timeline.
pub fn search_bounds(store: &dyn Store) {
    let posts: Vec<Post> = (1..=10).map(|i| post(i * 100, i % 3, (i * 1000) as i64, "common words here")).collect();
    store.upsert_posts(&posts).unwrap();
    let run = |expr: SearchExpr, f: &dyn Fn(&mut SearchQuery)| {
        let mut q = search_query(expr);
        f(&mut q);
        ids(&store.search(&q).unwrap())
    };
    for expr in [term("common"), and([term("common"), not(term("absent"))]), not(term("absent"))] {
        assert_eq!(run(expr.clone(), &|_| {}), vec![1000, 900, 800, 700, 600, 500, 400, 300, 200, 100]);
        assert_eq!(run(expr.clone(), &|q| q.since_id = Some(PostId(700))), vec![1000, 900, 800]);
        assert_eq!(run(expr.clone(), &|q| q.until_id = Some(PostId(300))), vec![200, 100]);
        assert_eq!(run(expr.clone(), &|q| q.before_id = Some(PostId(300))), vec![200, 100]);
        assert_eq!(run(expr.clone(), &|q| q.start_time = Some(ts(8000))), vec![1000, 900, 800]);
        assert_eq!(run(expr.clone(), &|q| q.end_time = Some(ts(3000))), vec![200, 100]);
        assert_eq!(run(expr.clone(), &|q| q.limit = 2), vec![1000, 900]);
        assert_eq!(run(expr.clone(), &|q| q.limit = 0), Vec::<u64>::new());
        assert_eq!(
            run(expr.clone(), &|q| {
                q.since_id = Some(PostId(100));
                q.until_id = Some(PostId(1000));
                q.start_time = Some(ts(3000));
                q.end_time = Some(ts(9000));
                q.before_id = Some(PostId(800));
                q.limit = 3;
            }),
            vec![700, 600, 500]
        );
    }
}

/// Replacing a post's text replaces what it is found by, through upserts and
/// bulk loads alike; changing other fields keeps it findable, once.
pub fn search_reindexes_replaced_text(store: &dyn Store) {
    store.upsert_posts(&[post(1, 1, 0, "alpha beta"), post(2, 1, 0, "alpha only")]).unwrap();
    assert_eq!(search(store, term("alpha")), vec![2, 1]);
    store.upsert_posts(&[post(1, 1, 0, "gamma delta")]).unwrap();
    assert_eq!(search(store, term("alpha")), vec![2]);
    assert_eq!(search(store, term("beta")), Vec::<u64>::new());
    assert_eq!(search(store, term("gamma")), vec![1]);
    store.upsert_posts(&[Post { no_ai: true, ..post(1, 1, 0, "gamma delta") }]).unwrap();
    assert_eq!(search(store, term("gamma")), vec![1]);
    store
        .bulk_load(&mut |w: &mut dyn BulkWriter| {
            w.put_post(&post(2, 1, 0, "epsilon"))?;
            w.put_post(&post(2, 1, 0, "zeta"))
        })
        .unwrap();
    assert_eq!(search(store, term("alpha")), Vec::<u64>::new());
    assert_eq!(search(store, term("epsilon")), Vec::<u64>::new());
    assert_eq!(search(store, term("zeta")), vec![2]);
    assert!(store.delete_post(PostId(1), ts(5)).unwrap());
    assert!(store.set_post_no_ai(PostId(1), false).unwrap());
    assert_eq!(search(store, term("delta")), vec![1]);
}

fn entity_corpus(store: &dyn Store) {
    store.upsert_accounts(&[account(1, "Ada"), account(2, "bob"), account(3, "carol")]).unwrap();
    store
        .upsert_posts(&[
            post(1, 1, 1001, "Morning #Coffee with @bob"),
            post(2, 2, 1002, "coffee again, no tag; mail bob@example.org"),
            post(3, 3, 1003, "#coffeetime is not #coffee_break"),
            post(4, 1, 1004, "Bought $AAPL and $brk.a, not $100"),
            post(5, 2, 1005, "read https://Example.org/coffee/beans. now"),
            post(6, 3, 1006, "see http://t.co/x and @ada_l #1"),
        ])
        .unwrap();
}

/// #hashtags, $cashtags, @mentions and `url:` match the entities of the
/// post's text, exactly (a hashtag is not a word of a longer one) and
/// case-insensitively; `has:` matches posts with any entity of the kind.
pub fn search_entities_from_text(store: &dyn Store) {
    entity_corpus(store);
    let entity = |kind: Entity, v: &str| SearchExpr::Entity(kind, v.into());
    assert_eq!(search(store, entity(Entity::Hashtag, "coffee")), vec![1]);
    assert_eq!(search(store, entity(Entity::Hashtag, "COFFEETIME")), vec![3]);
    assert_eq!(search(store, entity(Entity::Hashtag, "coffee_break")), vec![3]);
    assert_eq!(search(store, entity(Entity::Hashtag, "1")), Vec::<u64>::new(), "#1 is no hashtag");
    assert_eq!(search(store, term("coffee")), vec![5, 3, 2, 1], "a keyword matches a hashtag's words");
    assert_eq!(search(store, entity(Entity::Cashtag, "aapl")), vec![4]);
    assert_eq!(search(store, entity(Entity::Cashtag, "BRK.A")), vec![4]);
    assert_eq!(search(store, entity(Entity::Cashtag, "100")), Vec::<u64>::new());
    assert_eq!(search(store, entity(Entity::Mention, "Bob")), vec![1], "an address is no mention");
    assert_eq!(search(store, entity(Entity::Mention, "ada_l")), vec![6]);
    assert_eq!(search(store, entity(Entity::Url, "example.org")), vec![5], "the address in post 2 is no link");
    assert_eq!(search(store, entity(Entity::Url, "https://example.org/coffee")), vec![5]);
    assert_eq!(search(store, entity(Entity::Url, "t.co")), vec![6]);
    assert_eq!(search(store, entity(Entity::Url, "beans now")), Vec::<u64>::new(), "within one link");
    let has = |kind| SearchExpr::Has(kind);
    assert_eq!(search(store, and([term("coffee"), has(Entity::Hashtag)])), vec![3, 1]);
    assert_eq!(search(store, has(Entity::Hashtag)), vec![3, 1]);
    assert_eq!(search(store, has(Entity::Cashtag)), vec![4]);
    assert_eq!(search(store, has(Entity::Mention)), vec![6, 1]);
    assert_eq!(search(store, has(Entity::Url)), vec![6, 5]);
    assert_eq!(search(store, and([term("coffee"), not(has(Entity::Url))])), vec![3, 2, 1]);
    assert_eq!(search(store, and([term("coffee"), not(entity(Entity::Hashtag, "coffee"))])), vec![5, 3, 2]);
    assert_eq!(search(store, or([entity(Entity::Hashtag, "coffee"), entity(Entity::Cashtag, "aapl")])), vec![4, 1]);
    assert_eq!(search(store, and([SearchExpr::From("ada".into()), has(Entity::Mention)])), vec![1]);
    // As in X's search, Latin diacritics do not matter.
    store.upsert_posts(&[post(7, 1, 1007, "¡Feliz #Cumpleaños!"), post(8, 1, 1008, "#cumpleanos")]).unwrap();
    assert_eq!(search(store, entity(Entity::Hashtag, "cumpleanos")), vec![8, 7]);
    assert_eq!(search(store, entity(Entity::Hashtag, "CUMPLEAÑOS")), vec![8, 7]);
}

/// `from:` and `to:` take a handle or a numeric id (an account with that id
/// first, else a handle of digits); `in_reply_to_tweet_id:` is a post's
/// direct replies; `conversation_id:` is a thread with its first post.
pub fn search_users_replies_and_conversations(store: &dyn Store) {
    store.upsert_accounts(&[account(1, "Ada"), account(2, "bob"), account(3, "12345")]).unwrap();
    let mut thread = vec![
        post(10, 1, 1010, "root of a thread"),
        reply(11, 2, 10, 1, "first reply"),
        reply(12, 1, 11, 2, "second level reply"),
        post(20, 3, 1020, "another root by the numeric handle"),
        reply(21, 1, 20, 3, "reply to the numeric handle"),
        Post { conversation_id: Some(PostId(30)), ..post(30, 2, 1030, "a root that names itself") },
    ];
    thread[2].conversation_id = Some(PostId(10));
    store.upsert_posts(&thread).unwrap();
    let from = |v: &str| SearchExpr::From(v.into());
    let to = |v: &str| SearchExpr::To(v.into());
    assert_eq!(search(store, from("1")), vec![21, 12, 10], "an account id");
    assert_eq!(search(store, from("12345")), vec![20], "no account has this id: a handle");
    assert_eq!(search(store, from("999")), Vec::<u64>::new());
    assert_eq!(search(store, to("ada")), vec![11]);
    assert_eq!(search(store, to("2")), vec![12]);
    assert_eq!(search(store, to("12345")), vec![21]);
    assert_eq!(search(store, and([to("ADA"), term("reply")])), vec![11]);
    assert_eq!(search(store, SearchExpr::InReplyTo(PostId(10))), vec![11]);
    assert_eq!(search(store, SearchExpr::InReplyTo(PostId(11))), vec![12]);
    assert_eq!(search(store, SearchExpr::InReplyTo(PostId(u64::MAX))), Vec::<u64>::new());
    assert_eq!(search(store, SearchExpr::Conversation(PostId(10))), vec![12, 11, 10]);
    assert_eq!(search(store, SearchExpr::Conversation(PostId(30))), vec![30]);
    assert_eq!(search(store, SearchExpr::Conversation(PostId(11))), Vec::<u64>::new(), "a reply starts none");
    assert_eq!(search(store, and([SearchExpr::Conversation(PostId(10)), not(SearchExpr::IsReply)])), vec![10]);
    assert_eq!(search(store, and([term("reply"), not(from("ada"))])), vec![11]);
    // A negated clause is the complement, also where a column is empty or
    // no account is named.
    assert_eq!(search(store, and([term("root"), not(from("nobody"))])), vec![30, 20, 10]);
    assert_eq!(search(store, and([term("root"), not(to("ada"))])), vec![30, 20, 10]);
    assert_eq!(search(store, and([term("reply"), not(to("nobody"))])), vec![21, 12, 11]);
    assert_eq!(search(store, and([term("root"), not(SearchExpr::InReplyTo(PostId(10)))])), vec![30, 20, 10]);
}

/// Operators about data the store does not keep match nothing, so their
/// negation keeps every post: `coffee -is:retweet` is `coffee`.
pub fn search_unheld_operators_match_nothing(store: &dyn Store) {
    search_corpus(store);
    let unheld = |op: &str| SearchExpr::Unheld(op.into());
    assert_eq!(search(store, and([term("quick"), not(unheld("is:retweet"))])), vec![6, 4, 2, 1]);
    assert_eq!(search(store, and([term("quick"), unheld("has:media")])), Vec::<u64>::new());
    assert_eq!(search(store, unheld("place_country:DE")), Vec::<u64>::new());
    assert_eq!(search(store, or([term("lazy"), unheld("list:1")])), vec![7, 3]);
    assert_eq!(search(store, and([or([unheld("is:quote"), term("red")]), term("fox")])), vec![2]);
    assert_eq!(search(store, not(unheld("is:nullcast"))), vec![7, 6, 5, 4, 3, 2, 1]);
}

/// A keyword of symbols (an emoji) matches posts holding it as written.
pub fn search_symbols_as_written(store: &dyn Store) {
    store.upsert_posts(&[post(1, 1, 0, "good ☕ morning"), post(2, 1, 0, "tea🍵time"), post(3, 1, 0, "☕☕")]).unwrap();
    assert_eq!(search(store, term("☕")), vec![3, 1]);
    assert_eq!(search(store, term("🍵")), vec![2]);
    assert_eq!(search(store, and([term("☕"), term("morning")])), vec![1]);
    assert_eq!(search(store, and([term("good"), not(term("☕"))])), Vec::<u64>::new());
    assert_eq!(search(store, SearchExpr::Phrase("☕☕".into())), vec![3]);
}

// -- bulk loads ------------------------------------------------------------------

/// Everything put in a bulk load that returns Ok is there afterwards.
pub fn bulk_load_commits_all_on_ok(store: &dyn Store) {
    let accounts: Vec<Account> = (1..=50).map(|i| account(i, &format!("user{i}"))).collect();
    let posts: Vec<Post> = (1..=500).map(|i| post(i, i % 50 + 1, i as i64, &format!("bulk post number{i}"))).collect();
    store
        .bulk_load(&mut |w: &mut dyn BulkWriter| {
            for a in &accounts {
                w.put_account(a)?;
            }
            for p in &posts {
                w.put_post(p)?;
            }
            // Re-putting within the load replaces, as upserts do.
            w.put_post(&post(1, 2, 1, "bulk post replaced"))
        })
        .unwrap();
    let stats = store.stats().unwrap();
    assert_eq!((stats.accounts, stats.posts), (50, 500));
    assert_eq!(store.account(AccountId(17)).unwrap(), Some(accounts[16].clone()));
    assert_eq!(store.posts(&[PostId(250)]).unwrap(), vec![posts[249].clone()]);
    assert_eq!(store.posts(&[PostId(1)]).unwrap(), vec![post(1, 2, 1, "bulk post replaced")]);
    assert_eq!(search(store, term("number250")), vec![250]);
    assert_eq!(search(store, term("replaced")), vec![1]);
    assert_eq!(store.timeline(AccountId(2), &timeline(3)).unwrap().len(), 3);
    store.bulk_load(&mut |_: &mut dyn BulkWriter| Ok(())).unwrap();
}

/// A bulk load whose work fails leaves nothing of itself, returns the work's
/// error, and leaves what was there before untouched; the store stays usable.
pub fn bulk_load_leaves_nothing_on_err(store: &dyn Store) {
    store.upsert_accounts(&[account(1, "before")]).unwrap();
    store.upsert_posts(&[post(1, 1, 0, "before the load")]).unwrap();
    let result = store.bulk_load(&mut |w: &mut dyn BulkWriter| {
        w.put_account(&account(2, "during"))?;
        w.put_post(&post(2, 2, 0, "during the load"))?;
        w.put_post(&post(1, 2, 0, "overwritten during the load"))?;
        Err(StoreError::Aborted("stopped by the test".into()))
    });
    assert!(matches!(result, Err(StoreError::Aborted(ref m)) if m == "stopped by the test"), "{result:?}");
    // An invalid value refused inside the load, propagated by the work.
    let result = store.bulk_load(&mut |w: &mut dyn BulkWriter| {
        w.put_post(&post(3, 1, 0, "valid"))?;
        w.put_post(&Post { lang: "not a tag!".into(), ..post(4, 1, 0, "invalid") })
    });
    assert_invalid(result, "lang");
    // An invalid value refused inside the load, with the work carrying on:
    // the load still returns Ok and commits what was valid.
    let result = store.bulk_load(&mut |w: &mut dyn BulkWriter| {
        assert_invalid(w.put_account(&account(5, "no spaces allowed")), "handle");
        w.put_post(&post(6, 1, 0, "kept"))
    });
    result.unwrap();
    assert_eq!(store.account(AccountId(2)).unwrap(), None);
    assert_eq!(store.account(AccountId(5)).unwrap(), None);
    assert!(store.posts(&[PostId(2), PostId(3), PostId(4)]).unwrap().is_empty());
    assert_eq!(store.posts(&[PostId(1)]).unwrap(), vec![post(1, 1, 0, "before the load")]);
    assert_eq!(search(store, term("during")), Vec::<u64>::new());
    assert_eq!(search(store, term("overwritten")), Vec::<u64>::new());
    assert_eq!(search(store, term("before")), vec![1]);
    assert_eq!(search(store, term("kept")), vec![6]);
    let stats = store.stats().unwrap();
    assert_eq!((stats.accounts, stats.posts), (1, 2));
    store.upsert_posts(&[post(7, 1, 0, "after")]).unwrap();
    assert_eq!(search(store, term("after")), vec![7]);
}

// -- apps, keys, agreements ------------------------------------------------------

/// Apps get distinct increasing ids, start active, and change only what an
/// update names.
pub fn apps_create_list_update(store: &dyn Store) {
    assert!(store.apps().unwrap().is_empty());
    let first = store.create_app(&new_app("first")).unwrap();
    let second = store
        .create_app(&NewApp {
            tier: Tier::Standard,
            purposes: vec![],
            licensed_purposes: vec![],
            agreement_version: None,
            ..new_app("second")
        })
        .unwrap();
    assert!(second.id > first.id, "{first:?} {second:?}");
    assert_eq!(first.status, AppStatus::Active);
    assert_eq!(
        (first.name.as_str(), first.tier, first.purposes.clone(), first.licensed_purposes.clone()),
        ("first", Tier::Partner, vec![Purpose::Display, Purpose::TrainAi], vec![Purpose::TrainAi])
    );
    assert_eq!((first.agreement_version, first.created_at), (Some(1), ts(1_700_000_000_000)));
    assert_eq!(store.app(first.id).unwrap(), Some(first.clone()));
    assert_eq!(store.app(second.id).unwrap(), Some(second.clone()));
    assert_eq!(store.app(AppId(second.id.0 + 100)).unwrap(), None);
    let listed = store.apps().unwrap();
    assert_eq!(sorted(listed.iter().map(|a| a.id).collect()), vec![first.id, second.id]);
    assert!(listed.contains(&first) && listed.contains(&second));

    let suspended = store
        .update_app(first.id, &AppUpdate { status: Some(AppStatus::Suspended), ..AppUpdate::default() })
        .unwrap()
        .expect("known app");
    assert_eq!(suspended, App { status: AppStatus::Suspended, ..first.clone() });
    let changed = store
        .update_app(
            first.id,
            &AppUpdate {
                status: None,
                agreement_version: Some(3),
                purposes: Some(vec![Purpose::Research]),
                licensed_purposes: Some(vec![]),
            },
        )
        .unwrap()
        .unwrap();
    let expected =
        App { agreement_version: Some(3), purposes: vec![Purpose::Research], licensed_purposes: vec![], ..suspended };
    assert_eq!(changed, expected);
    assert_eq!(store.app(first.id).unwrap(), Some(expected.clone()));
    assert_eq!(store.update_app(first.id, &AppUpdate::default()).unwrap(), Some(expected));
    assert_eq!(store.app(second.id).unwrap(), Some(second), "other apps are untouched");
    assert_eq!(store.update_app(AppId(9_999), &AppUpdate::default()).unwrap(), None);
    assert_eq!(store.stats().unwrap().apps, 2);
}

/// Keys: added, found by hash, listed per app, revoked one or all, expired
/// all but one; counts say how many changed; hashes are unique.
pub fn keys_lifecycle(store: &dyn Store) {
    let app = store.create_app(&new_app("keys")).unwrap().id;
    let other = store.create_app(&new_app("other")).unwrap().id;
    let far = ts(4_000_000_000_000);
    let k1 = store.add_key(&new_key(app, "aaaa0001", None)).unwrap();
    let k2 = store.add_key(&new_key(app, "bbbb0002", Some(far))).unwrap();
    let k3 = store.add_key(&new_key(app, "cccc0003", None)).unwrap();
    let soon = ts(1_700_000_150_000);
    let k4 = store.add_key(&new_key(app, "dddd0004", Some(soon))).unwrap();
    let ko = store.add_key(&new_key(other, "eeee0005", None)).unwrap();
    assert_eq!(
        (k1.app_id, k1.hash.as_str(), k1.prefix.as_str(), k1.created_at, k1.expires_at, k1.revoked_at),
        (app, "aaaa0001", "aaaa", ts(1_700_000_000_000), None, None)
    );
    assert_eq!(k2.expires_at, Some(far));
    assert_eq!(BTreeSet::from([k1.id, k2.id, k3.id, k4.id, ko.id]).len(), 5, "distinct ids");
    assert_eq!(store.key_by_hash("aaaa0001").unwrap(), Some(k1.clone()));
    assert_eq!(store.key_by_hash("ffff").unwrap(), None);
    assert_eq!(
        sorted(store.keys(app).unwrap().iter().map(|k| k.id).collect()),
        sorted(vec![k1.id, k2.id, k3.id, k4.id])
    );
    assert_eq!(store.keys(AppId(other.0 + 100)).unwrap(), vec![]);

    assert_conflict(store.add_key(&new_key(other, "aaaa0001", None)));
    assert!(
        matches!(store.add_key(&new_key(AppId(other.0 + 100), "gggg0007", None)), Err(StoreError::NotFound(_))),
        "a key needs an existing app"
    );
    assert_eq!(store.key_by_hash("gggg0007").unwrap(), None);

    let t1 = ts(1_700_000_100_000);
    assert_eq!(store.revoke_keys(app, Some(k1.id), t1).unwrap(), 1);
    assert_eq!(store.revoke_keys(app, Some(k1.id), ts(1_700_000_900_000)).unwrap(), 0, "already revoked");
    assert_eq!(store.key_by_hash("aaaa0001").unwrap().unwrap().revoked_at, Some(t1));
    assert_eq!(store.revoke_keys(other, Some(k2.id), t1).unwrap(), 0, "another app's key");
    assert_eq!(store.revoke_keys(app, Some(KeyId(ko.id.0 + 100)), t1).unwrap(), 0);

    // Rotation: every unrevoked key that would outlive t2, except the new one.
    let t2 = ts(1_700_000_200_000);
    assert_eq!(store.expire_keys(app, Some(k3.id), t2).unwrap(), 1);
    let by_hash = |h: &str| store.key_by_hash(h).unwrap().unwrap();
    assert_eq!(by_hash("bbbb0002").expires_at, Some(t2));
    assert_eq!(by_hash("cccc0003").expires_at, None, "the excepted key");
    assert_eq!(by_hash("aaaa0001").expires_at, None, "revoked keys are left alone");
    let t3 = ts(1_700_000_900_000);
    assert_eq!(store.expire_keys(app, None, t3).unwrap(), 1, "only k3 outlives t3: k2 and k4 expire before");
    assert_eq!(by_hash("dddd0004").expires_at, Some(soon));
    assert_eq!(by_hash("cccc0003").expires_at, Some(t3));
    assert_eq!(by_hash("eeee0005").expires_at, None, "other apps are untouched");

    let t4 = ts(1_700_001_000_000);
    assert_eq!(store.revoke_keys(app, None, t4).unwrap(), 3);
    assert_eq!(store.revoke_keys(app, None, t4).unwrap(), 0);
    assert_eq!(by_hash("aaaa0001").revoked_at, Some(t1), "an earlier revocation keeps its time");
    assert_eq!(by_hash("cccc0003").revoked_at, Some(t4));
    assert_eq!(by_hash("eeee0005").revoked_at, None);
    assert_eq!(store.expire_keys(app, None, t4).unwrap(), 0, "revoked keys do not expire");
}

/// Agreements: the latest is the highest version; a version is published once
/// (an identical re-publication is accepted, a different one refused).
pub fn agreements_publish_and_read(store: &dyn Store) {
    assert_eq!(store.latest_agreement().unwrap(), None);
    assert_eq!(store.agreement(1).unwrap(), None);
    let v1 = agreement(1, "# Terms\n\nVersion one.");
    let v2 = agreement(2, "# Terms\n\nVersion two.");
    store.publish_agreement(&v1).unwrap();
    assert_eq!(store.latest_agreement().unwrap(), Some(v1.clone()));
    store.publish_agreement(&v2).unwrap();
    assert_eq!(store.latest_agreement().unwrap(), Some(v2.clone()));
    assert_eq!(store.agreement(1).unwrap(), Some(v1.clone()));
    assert_eq!(store.agreement(2).unwrap(), Some(v2.clone()));
    assert_eq!(store.agreement(3).unwrap(), None);
    store.publish_agreement(&v2).unwrap();
    assert_conflict(store.publish_agreement(&agreement(2, "rewritten")));
    assert_eq!(store.agreement(2).unwrap(), Some(v2));
}

/// Stats count accounts, posts (deleted ones included) and apps.
pub fn stats_count_everything(store: &dyn Store) {
    assert_eq!(store.stats().unwrap(), Stats::default());
    store.upsert_accounts(&[account(1, "a"), account(2, "b")]).unwrap();
    store.upsert_posts(&[post(1, 1, 0, "x"), post(2, 1, 0, "y"), post(3, 2, 0, "z")]).unwrap();
    store.delete_post(PostId(3), ts(1)).unwrap();
    store.create_app(&new_app("app")).unwrap();
    assert_eq!(store.stats().unwrap(), Stats { accounts: 2, posts: 3, apps: 1 });
}

/// Ids up to 2^63 - 1 are stored and ordered correctly; 2^63 and above are
/// refused with `Invalid` naming the field, and never found.
pub fn ids_at_the_u64_edge(store: &dyn Store) {
    let max = i64::MAX as u64;
    let too_big = 1u64 << 63;
    store.upsert_accounts(&[account(max, "maximal")]).unwrap();
    assert_eq!(store.account(AccountId(max)).unwrap(), Some(account(max, "maximal")));
    assert_invalid(store.upsert_accounts(&[account(too_big, "toobig")]), "id");
    assert_invalid(store.upsert_accounts(&[account(u64::MAX, "toobig")]), "id");
    assert_eq!(store.account_by_handle("toobig").unwrap(), None);

    store
        .upsert_posts(&[
            post(max, max, 2, "edge post"),
            post(1, max, 1, "edge post"),
            post(max - 1, max, 3, "edge post"),
        ])
        .unwrap();
    assert_eq!(ids(&store.timeline(AccountId(max), &timeline(10)).unwrap()), vec![max, max - 1, 1]);
    assert_eq!(search(store, term("edge")), vec![max, max - 1, 1]);
    assert_invalid(store.upsert_posts(&[post(too_big, 1, 0, "x")]), "id");
    assert_invalid(store.upsert_posts(&[post(5, too_big, 0, "x")]), "author_id");
    assert_invalid(
        store.upsert_posts(&[Post { in_reply_to: Some(PostId(u64::MAX)), ..post(5, 1, 0, "x") }]),
        "in_reply_to",
    );
    assert_invalid(
        store.upsert_posts(&[Post { in_reply_to_user_id: Some(AccountId(too_big)), ..post(5, 1, 0, "x") }]),
        "in_reply_to_user_id",
    );
    assert_invalid(
        store.upsert_posts(&[Post { conversation_id: Some(PostId(too_big)), ..post(5, 1, 0, "x") }]),
        "conversation_id",
    );
    assert_invalid(store.bulk_load(&mut |w: &mut dyn BulkWriter| w.put_post(&post(too_big, 1, 0, "x"))), "id");
    assert!(store.posts(&[PostId(5), PostId(too_big)]).unwrap().is_empty());

    // Lookups and bounds beyond the edge find nothing, or bound nothing.
    assert_eq!(store.account(AccountId(u64::MAX)).unwrap(), None);
    assert!(store.posts(&[PostId(too_big), PostId(u64::MAX)]).unwrap().is_empty());
    assert!(store.timeline(AccountId(too_big), &timeline(10)).unwrap().is_empty());
    let tl = |q: TimelineQuery| ids(&store.timeline(AccountId(max), &q).unwrap());
    assert_eq!(tl(TimelineQuery { since_id: Some(PostId(max - 1)), ..timeline(10) }), vec![max]);
    assert!(tl(TimelineQuery { since_id: Some(PostId(max)), ..timeline(10) }).is_empty());
    assert!(tl(TimelineQuery { since_id: Some(PostId(u64::MAX)), ..timeline(10) }).is_empty());
    assert_eq!(tl(TimelineQuery { until_id: Some(PostId(u64::MAX)), ..timeline(10) }), vec![max, max - 1, 1]);
    assert_eq!(tl(TimelineQuery { before_id: Some(PostId(too_big)), ..timeline(10) }), vec![max, max - 1, 1]);
    assert_eq!(tl(TimelineQuery { until_id: Some(PostId(max)), ..timeline(10) }), vec![max - 1, 1]);
    assert!(!store.set_post_no_ai(PostId(too_big), true).unwrap());
    assert!(!store.delete_post(PostId(u64::MAX), ts(1)).unwrap());
    assert!(!store.set_account_status(AccountId(too_big), AccountStatus::Deleted).unwrap());
    assert_eq!(store.set_preferences(AccountId(too_big), &[], ts(1)).unwrap(), None);
    assert_eq!(store.app(AppId(u64::MAX)).unwrap(), None);
    assert!(store.keys(AppId(u64::MAX)).unwrap().is_empty());
    let stats = store.stats().unwrap();
    assert_eq!((stats.accounts, stats.posts), (1, 3));
}

// -- the change log -----------------------------------------------------------

/// The changes after `after`, all of them, and the sequence they end at.
fn changes_after(store: &dyn Store, after: u64) -> (Vec<Change>, u64) {
    let got = store.changes_since(after, 1000).unwrap();
    assert_eq!(got.upto, store.change_seq().unwrap(), "one batch holds them all");
    (got.changes, got.upto)
}

/// Every write that changes something appends what it changed, in the same
/// commit, and `change_seq` moves with it; a write that changes nothing
/// appends nothing.
pub fn change_log_names_every_write(store: &dyn Store) {
    let start = store.change_seq().unwrap();
    assert_eq!(changes_after(store, start), (vec![], start));
    let mut at = start;
    let mut expect = |store: &dyn Store, want: Vec<Change>, what: &str| {
        let (got, upto) = changes_after(store, at);
        assert_eq!(got, want, "{what}");
        assert!(upto >= at + want.len() as u64, "{what}: the sequence moves");
        at = upto;
    };
    store.upsert_accounts(&[account(1, "one"), account(2, "two")]).unwrap();
    expect(store, vec![Change::Account(AccountId(1)), Change::Account(AccountId(2))], "upsert accounts");
    let change = PreferenceChange { category: Category::TrainGenai, scope: Scope::ThirdParties, value: Tri::Deny };
    store.set_preferences(AccountId(1), &[change], ts(5)).unwrap().unwrap();
    expect(store, vec![Change::Account(AccountId(1))], "preferences");
    assert!(store.set_preferences(AccountId(77), &[change], ts(5)).unwrap().is_none());
    store.set_account_status(AccountId(2), AccountStatus::Suspended).unwrap();
    expect(store, vec![Change::Account(AccountId(2))], "status (unknown accounts change nothing)");
    assert!(!store.set_account_status(AccountId(77), AccountStatus::Suspended).unwrap());

    store.upsert_posts(&[post(10, 1, 10, "a"), post(11, 2, 11, "b")]).unwrap();
    let p = |id, author| Change::Post { id: PostId(id), author: AccountId(author) };
    expect(store, vec![p(10, 1), p(11, 2)], "upsert posts");
    store.upsert_posts(&[post(10, 2, 10, "moved")]).unwrap();
    expect(store, vec![p(10, 1), p(10, 2)], "a post moved to another author changes both timelines");
    store.set_post_no_ai(PostId(11), true).unwrap();
    expect(store, vec![p(11, 2)], "no_ai");
    store.delete_post(PostId(11), ts(20)).unwrap();
    assert!(!store.delete_post(PostId(99), ts(20)).unwrap());
    assert!(!store.set_post_no_ai(PostId(99), true).unwrap());
    expect(store, vec![p(11, 2)], "delete (unknown posts change nothing)");

    store.bulk_load(&mut |w: &mut dyn BulkWriter| w.put_post(&post(12, 1, 12, "bulk"))).unwrap();
    expect(store, vec![p(12, 1), Change::Everything], "a bulk load into data records its changes, then everything");
    let failed = store.bulk_load(&mut |w: &mut dyn BulkWriter| {
        w.put_post(&post(13, 1, 13, "rolled back"))?;
        Err(StoreError::Aborted("test".into()))
    });
    assert!(failed.is_err());
    expect(store, vec![], "a failed bulk load records nothing");

    let app = store.create_app(&new_app("changes")).unwrap();
    expect(store, vec![Change::App(app.id)], "create app");
    store.update_app(app.id, &AppUpdate { status: Some(AppStatus::Suspended), ..AppUpdate::default() }).unwrap();
    expect(store, vec![Change::App(app.id)], "update app");
    let key = store.add_key(&new_key(app.id, "changes0", None)).unwrap();
    expect(store, vec![Change::Key(app.id)], "add key");
    store.expire_keys(app.id, None, ts(50)).unwrap();
    expect(store, vec![Change::Key(app.id)], "expire keys");
    store.revoke_keys(app.id, Some(key.id), ts(60)).unwrap();
    expect(store, vec![Change::Key(app.id)], "revoke a key");
    assert_eq!(store.revoke_keys(app.id, Some(key.id), ts(61)).unwrap(), 0);
    expect(store, vec![], "revoking a revoked key changes nothing");
    store.publish_agreement(&agreement(1, "terms")).unwrap();
    store.publish_agreement(&agreement(1, "terms")).unwrap();
    expect(store, vec![Change::Agreement], "publishing (a retried publication changes nothing)");
}

/// The log is read in batches that continue exactly where the last ended.
pub fn change_log_reads_in_batches(store: &dyn Store) {
    let start = store.change_seq().unwrap();
    let accounts: Vec<Account> = (1..=25).map(|i| account(i, &format!("batch{i}"))).collect();
    for a in &accounts {
        store.upsert_accounts(std::slice::from_ref(a)).unwrap();
    }
    let mut after = start;
    let mut seen = Vec::new();
    loop {
        let batch = store.changes_since(after, 7).unwrap();
        assert!(batch.changes.len() <= 7);
        if batch.changes.is_empty() {
            assert_eq!(batch.upto, after);
            break;
        }
        assert!(batch.upto > after);
        seen.extend(batch.changes);
        after = batch.upto;
    }
    assert_eq!(seen, accounts.iter().map(|a| Change::Account(a.id)).collect::<Vec<_>>());
    assert_eq!(after, store.change_seq().unwrap());
}

/// Every read that starts after a write returned sees that write.
pub fn reads_see_every_returned_write(store: &dyn Store) {
    store.upsert_accounts(&[account(1, "reader")]).unwrap();
    for i in 1..=40u64 {
        store.upsert_posts(&[post(i, 1, i as i64, &format!("visible{i}"))]).unwrap();
        assert_eq!(store.posts(&[PostId(i)]).unwrap().len(), 1, "post {i}");
        assert_eq!(store.timeline(AccountId(1), &timeline(1)).unwrap()[0].id, PostId(i));
        assert_eq!(search(store, term(&format!("visible{i}"))), vec![i]);
        assert_eq!(store.stats().unwrap().posts, i);
        let status = if i % 2 == 0 { AccountStatus::Suspended } else { AccountStatus::Active };
        store.set_account_status(AccountId(1), status).unwrap();
        assert_eq!(store.account_by_handle("reader").unwrap().unwrap().status, status);
    }
}

/// Writers and readers on several threads at once neither fail nor lose
/// writes; account writes go on while posts are written.
pub fn concurrent_writers_and_readers(store: &dyn Store) {
    const THREADS: u64 = 4;
    const EACH: u64 = 40;
    std::thread::scope(|s| {
        for t in 0..THREADS {
            s.spawn(move || {
                for i in 0..EACH {
                    let id = t * 1000 + i + 1;
                    store.upsert_posts(&[post(id, t + 1, id as i64, "concurrent words")]).unwrap();
                    assert_eq!(store.posts(&[PostId(id)]).unwrap().len(), 1);
                    assert!(!store.timeline(AccountId(t + 1), &timeline(5)).unwrap().is_empty());
                }
            });
        }
        s.spawn(move || {
            for i in 0..EACH {
                store.upsert_accounts(&[account(100 + i, &format!("writer{i}"))]).unwrap();
                assert!(store.account(AccountId(100 + i)).unwrap().is_some());
            }
        });
    });
    let stats = store.stats().unwrap();
    assert_eq!((stats.posts, stats.accounts), (THREADS * EACH, EACH));
    assert_eq!(search(store, term("concurrent")).len(), 100, "the default page of the helper");
}

// -- durability -----------------------------------------------------------------

/// Everything written through one store is there when the same storage is
/// opened again, and the reopened store carries on where the first stopped.
pub fn durable_across_reopen<S: AsStore>(open: impl Fn() -> S) {
    let app;
    {
        let first = open();
        let store = first.as_store();
        store.upsert_accounts(&[full_account(1, "durable")]).unwrap();
        store.upsert_posts(&[post(10, 1, 10, "durable words"), post(11, 1, 11, "more durable words")]).unwrap();
        store
            .bulk_load(&mut |w: &mut dyn BulkWriter| {
                w.put_account(&account(2, "bulk"))?;
                w.put_post(&post(12, 2, 12, "bulk durable"))
            })
            .unwrap();
        let change = PreferenceChange { category: Category::AiInput, scope: Scope::ThirdParties, value: Tri::Deny };
        store.set_preferences(AccountId(1), &[change], ts(99)).unwrap().unwrap();
        store.delete_post(PostId(11), ts(100)).unwrap();
        app = store.create_app(&new_app("durable")).unwrap();
        store.add_key(&new_key(app.id, "durable0", None)).unwrap();
        store.publish_agreement(&agreement(1, "kept")).unwrap();
    }
    for round in 0..2 {
        let again = open();
        let store = again.as_store();
        let a = store.account(AccountId(1)).unwrap().expect("account survives");
        assert_eq!(a.ai_preferences.get(Category::AiInput, Scope::ThirdParties).value, Tri::Deny);
        assert_eq!(store.account_by_handle("BULK").unwrap().map(|a| a.id), Some(AccountId(2)));
        assert_eq!(search(store, term("durable")), vec![12, 11, 10]);
        assert_eq!(store.posts(&[PostId(11)]).unwrap()[0].deleted_at, Some(ts(100)));
        assert_eq!(store.app(app.id).unwrap(), Some(app.clone()));
        assert_eq!(store.key_by_hash("durable0").unwrap().map(|k| k.app_id), Some(app.id));
        assert_eq!(store.latest_agreement().unwrap(), Some(agreement(1, "kept")));
        let next = store.create_app(&new_app("later")).unwrap();
        assert!(next.id > app.id, "ids are not reused after a reopen");
        assert_eq!(store.stats().unwrap(), Stats { accounts: 2, posts: 3, apps: 2 + round });
    }
}

// -- the event log ---------------------------------------------------------------

fn event_types(store: &dyn Store, after: u64) -> Vec<String> {
    store.events_since(after, 1000).unwrap().iter().map(|e| e.change.type_name().to_owned()).collect()
}

/// Each write records what it changed, with the old value where the change
/// replaces one, in the write's own transaction.
pub fn event_log_records_each_change_with_old_and_new_values(store: &dyn Store) {
    let start = store.change_seq().unwrap();
    store.upsert_accounts(&[account(1, "one")]).unwrap();
    store.upsert_posts(&[post(10, 1, 10, "a")]).unwrap();
    let change = PreferenceChange { category: Category::TrainGenai, scope: Scope::ThirdParties, value: Tri::Deny };
    store.set_preferences(AccountId(1), &[change], ts(5)).unwrap();
    // The same value again is no event.
    store.set_preferences(AccountId(1), &[change], ts(6)).unwrap();
    store.set_account_status(AccountId(1), AccountStatus::Suspended).unwrap();
    store.set_account_status(AccountId(1), AccountStatus::Suspended).unwrap();
    store.set_account_status(AccountId(1), AccountStatus::Active).unwrap();
    store.upsert_accounts(&[Account { protected: true, ..account(1, "one") }]).unwrap();
    store.upsert_posts(&[post(10, 1, 10, "edited")]).unwrap();
    store.set_post_no_ai(PostId(10), true).unwrap();
    store.set_post_no_ai(PostId(10), false).unwrap();
    store.delete_post(PostId(10), ts(30)).unwrap();
    store.delete_post(PostId(10), ts(31)).unwrap();
    assert_eq!(
        event_types(store, start),
        [
            "account_created",
            "post_created",
            "ai_preference_changed",
            "account_status_changed",
            "account_status_changed",
            "account_protected",
            // The upsert without preferences set them back to unset.
            "ai_preference_changed",
            "post_edited",
            "post_no_ai_set",
            "post_no_ai_cleared",
            "post_deleted",
        ]
    );
    let events = store.events_since(start, 1000).unwrap();
    assert!(events.windows(2).all(|w| w[0].seq < w[1].seq), "in order");
    assert_eq!(events.last().unwrap().seq, store.change_seq().unwrap());
    assert_eq!(
        events[2].change,
        EventChange::AiPreferenceChanged {
            account_id: AccountId(1),
            category: Category::TrainGenai,
            scope: Scope::ThirdParties,
            old: Some(Tri::Unset),
            new: Tri::Deny,
        }
    );
    assert_eq!(events[2].time, ts(5), "a preference change is recorded at its time");
    assert_eq!(
        events[3].change,
        EventChange::AccountStatusChanged {
            account_id: AccountId(1),
            old: Some(AccountStatus::Active),
            new: AccountStatus::Suspended
        }
    );
    assert_eq!(events[10].change, EventChange::PostDeleted { post_id: PostId(10), author_id: Some(AccountId(1)) });
    assert_eq!(events[10].time, ts(30));
    // Batches continue where the last ended.
    let first = store.events_since(start, 4).unwrap();
    assert_eq!(first.len(), 4);
    assert_eq!(store.events_since(first[3].seq, 1000).unwrap(), events[4..]);
}

/// `apply_events` makes every change or none, and names the one that failed.
pub fn events_apply_all_or_nothing(store: &dyn Store) {
    store.upsert_accounts(&[account(1, "one")]).unwrap();
    store.upsert_posts(&[post(10, 1, 10, "a")]).unwrap();
    let seq = store.change_seq().unwrap();
    let changes = [
        (ts(40), EventChange::PostDeleted { post_id: PostId(10), author_id: None }),
        (ts(41), EventChange::AccountProtected { account_id: AccountId(1) }),
        (ts(42), EventChange::PostNoAiSet { post_id: PostId(99), author_id: None }),
    ];
    match store.apply_events(&changes) {
        Err(StoreError::NotFound(what)) => assert!(what.contains("post 99") && what.contains("change 2"), "{what}"),
        other => panic!("expected the unknown post to be named, got {other:?}"),
    }
    assert_eq!(store.change_seq().unwrap(), seq, "nothing recorded");
    assert!(store.posts(&[PostId(10)]).unwrap()[0].deleted_at.is_none(), "nothing changed");
    let refused = store.apply_events(&[(ts(1), EventChange::AppChanged { app_id: AppId(1) })]);
    assert_invalid(refused, "type");

    assert_eq!(store.apply_events(&changes[..2]).unwrap(), 2);
    assert_eq!(store.posts(&[PostId(10)]).unwrap()[0].deleted_at, Some(ts(40)));
    assert!(store.account(AccountId(1)).unwrap().unwrap().protected);
    // Applying the same changes again changes nothing and records nothing.
    assert_eq!(store.apply_events(&changes[..2]).unwrap(), 0);
}

/// `set_posts_no_ai` marks an author's posts in a range of creation times,
/// each with its own event.
pub fn posts_no_ai_by_date_range(store: &dyn Store) {
    store.upsert_accounts(&[account(1, "one"), account(2, "two")]).unwrap();
    store
        .upsert_posts(&[post(10, 1, 10, "a"), post(11, 1, 20, "b"), post(12, 1, 30, "c"), post(13, 2, 20, "d")])
        .unwrap();
    let seq = store.change_seq().unwrap();
    assert_eq!(store.set_posts_no_ai(AccountId(1), Some(ts(20)), Some(ts(30)), true).unwrap(), 1);
    let marked = |store: &dyn Store| -> Vec<u64> {
        let mut ids: Vec<u64> = store
            .posts(&[PostId(10), PostId(11), PostId(12), PostId(13)])
            .unwrap()
            .iter()
            .filter(|p| p.no_ai)
            .map(|p| p.id.0)
            .collect();
        ids.sort_unstable();
        ids
    };
    assert_eq!(marked(store), [11]);
    assert_eq!(store.set_posts_no_ai(AccountId(1), None, None, true).unwrap(), 2, "only the posts that change");
    assert_eq!(marked(store), [10, 11, 12], "another author's posts are untouched");
    assert_eq!(event_types(store, seq), ["post_no_ai_set"; 3]);
    assert_eq!(store.set_posts_no_ai(AccountId(77), None, None, true).unwrap(), 0);
}

/// Replaying the log over the same base reproduces the same accounts and posts.
pub fn replaying_the_log_reproduces_the_state(original: &dyn Store, replica: &dyn Store) {
    let base = |store: &dyn Store| {
        store
            .bulk_load(&mut |w: &mut dyn BulkWriter| {
                w.put_account(&account(1, "one"))?;
                w.put_account(&account(2, "two"))?;
                w.put_post(&post(10, 1, 10, "a"))?;
                w.put_post(&post(11, 2, 11, "b"))
            })
            .unwrap()
    };
    base(original);
    base(replica);
    let start = original.change_seq().unwrap();
    let change = PreferenceChange { category: Category::AiInput, scope: Scope::FirstParty, value: Tri::Allow };
    original.set_preferences(AccountId(1), &[change], ts(50)).unwrap();
    original.set_account_status(AccountId(2), AccountStatus::Deactivated).unwrap();
    original.upsert_accounts(&[account(3, "three")]).unwrap();
    original.upsert_posts(&[post(12, 3, 12, "new"), post(10, 1, 10, "edited")]).unwrap();
    original.upsert_posts(&[post(11, 1, 11, "moved")]).unwrap();
    original.delete_post(PostId(12), ts(60)).unwrap();
    original.set_posts_no_ai(AccountId(1), None, None, true).unwrap();
    original
        .upsert_accounts_keeping_preferences(&[AccountUpsert {
            account: Account { display_name: "Renamed".into(), protected: true, ..account(1, "one") },
            keep_preferences: true,
        }])
        .unwrap();

    let log: Vec<(Timestamp, EventChange)> = original
        .events_since(start, 10_000)
        .unwrap()
        .into_iter()
        .filter(|e| e.change.is_platform_data())
        .map(|e| (e.time, e.change))
        .collect();
    replica.apply_events(&log).unwrap();

    let accounts = [AccountId(1), AccountId(2), AccountId(3)];
    let posts = [PostId(10), PostId(11), PostId(12)];
    let by_id = |mut a: Vec<Account>| {
        a.sort_by_key(|a| a.id);
        a
    };
    let posts_by_id = |mut p: Vec<Post>| {
        p.sort_by_key(|p| p.id);
        p
    };
    assert_eq!(by_id(replica.accounts(&accounts).unwrap()), by_id(original.accounts(&accounts).unwrap()));
    assert_eq!(posts_by_id(replica.posts(&posts).unwrap()), posts_by_id(original.posts(&posts).unwrap()));
    // And the replica's log says the same.
    let replayed: Vec<EventChange> = replica
        .events_since(start, 10_000)
        .unwrap()
        .into_iter()
        .filter(|e| e.change.is_platform_data())
        .map(|e| e.change)
        .collect();
    assert_eq!(replayed, log.into_iter().map(|(_, c)| c).collect::<Vec<_>>());
}

fn notice(app: u64, seq: u64, post: Option<u64>, deadline: Option<i64>) -> Notice {
    Notice {
        app_id: AppId(app),
        event_seq: seq,
        event_time: ts(seq as i64),
        event: "post_deleted".into(),
        account_id: AccountId(1),
        post_id: post.map(PostId),
        reason: deadline.map(|_| NoticeReason::Deleted),
        deadline: deadline.map(ts),
        acked_at: None,
    }
}

/// Opening a notice twice keeps the first; the progress never moves back.
pub fn notices_open_once_and_list_by_recipient(store: &dyn Store) {
    assert_eq!(store.notices_opened_upto().unwrap(), 0);
    store.open_notices("a", 5, &[notice(1, 3, Some(10), Some(100)), notice(2, 3, Some(10), Some(100))]).unwrap();
    store.open_notices("a", 7, &[notice(1, 6, None, None)]).unwrap();
    let mut again = notice(1, 3, Some(10), Some(999));
    again.event = "changed".into();
    store.open_notices("b", 4, &[again]).unwrap();
    assert_eq!(store.notices_progress("a").unwrap(), 7);
    assert_eq!(store.notices_progress("b").unwrap(), 4);
    assert_eq!(store.notices_opened_upto().unwrap(), 4, "complete up to where every node has examined");
    store.open_notices("b", 3, &[]).unwrap();
    assert_eq!(store.notices_progress("b").unwrap(), 4, "progress never moves back");
    assert!(store.forget_notices_node("b").unwrap());
    assert!(!store.forget_notices_node("b").unwrap());
    assert_eq!(store.notices_opened_upto().unwrap(), 7);
    let all = store.notices(&NoticeQuery { limit: 100, ..NoticeQuery::default() }).unwrap();
    assert_eq!(all, [notice(1, 3, Some(10), Some(100)), notice(2, 3, Some(10), Some(100)), notice(1, 6, None, None)]);
    let app1 = store.notices(&NoticeQuery { app: Some(AppId(1)), limit: 100, ..NoticeQuery::default() }).unwrap();
    assert_eq!(app1.iter().map(|n| n.event_seq).collect::<Vec<_>>(), [3, 6]);
    let after = NoticeQuery { app: Some(AppId(1)), after_seq: 3, limit: 100, ..NoticeQuery::default() };
    assert_eq!(store.notices(&after).unwrap().len(), 1);
    let obligations = NoticeQuery { obligations_only: true, limit: 100, ..NoticeQuery::default() };
    assert_eq!(store.notices(&obligations).unwrap().len(), 2);
    let since = NoticeQuery { since: Some(ts(5)), limit: 100, ..NoticeQuery::default() };
    assert_eq!(store.notices(&since).unwrap().len(), 1);
}

/// An acknowledgement names open obligations of its own app only; anything
/// else refuses the whole of it.
pub fn acknowledgements_all_or_nothing(store: &dyn Store) {
    store
        .open_notices(
            "a",
            9,
            &[
                notice(1, 3, Some(10), Some(100)),
                notice(1, 4, Some(11), Some(100)),
                notice(2, 5, Some(10), Some(100)),
                notice(1, 6, Some(12), None),
            ],
        )
        .unwrap();
    let acks = |seqs: &[u64]| NoticeAcks { event_seqs: seqs.to_vec(), ..NoticeAcks::default() };
    // Another app's obligation (forged), and an informational notice.
    let not_found = |r: Result<_, StoreError>| assert!(matches!(r, Err(StoreError::NotFound(_))), "{r:?}");
    not_found(store.ack_notices(AppId(1), &acks(&[3, 5]), ts(200)));
    not_found(store.ack_notices(AppId(1), &acks(&[6]), ts(200)));
    let open = NoticeQuery { unacknowledged_only: true, limit: 100, ..NoticeQuery::default() };
    assert_eq!(store.notices(&open).unwrap().len(), 3, "nothing acknowledged");
    assert_eq!(store.ack_notices(AppId(1), &acks(&[3]), ts(200)).unwrap().acknowledged, [3]);
    // Replayed.
    assert_conflict(store.ack_notices(AppId(1), &acks(&[3]), ts(201)));
    let by_post = NoticeAcks { posts: vec![PostId(11), PostId(10)], ..NoticeAcks::default() };
    assert_eq!(store.ack_notices(AppId(1), &by_post, ts(202)).unwrap().acknowledged, [4]);
    let left = store.notices(&open).unwrap();
    assert_eq!(left.iter().map(|n| (n.app_id.0, n.event_seq)).collect::<Vec<_>>(), [(2, 5)]);
    let done = store.notices(&NoticeQuery { app: Some(AppId(1)), limit: 100, ..NoticeQuery::default() }).unwrap();
    assert_eq!(done[0].acked_at, Some(ts(200)));
    assert_eq!(done[1].acked_at, Some(ts(202)));
}

/// A webhook's progress moves only from where its mover read it, with the
/// dead letter of that move or none; a replay sets it anywhere.
pub fn webhooks_progress_and_dead_letters(store: &dyn Store) {
    use crate::{DeadLetter, NewWebhook};
    let new = |app: u64, url: &str| NewWebhook {
        app_id: AppId(app),
        url: url.into(),
        secret: "s3cret".into(),
        created_at: ts(1),
        delivered_upto: 4,
    };
    let a = store.create_webhook(&new(1, "http://127.0.0.1:1/a")).unwrap();
    let b = store.create_webhook(&new(2, "http://127.0.0.1:1/b")).unwrap();
    assert_ne!(a.id, b.id);
    assert_eq!(store.webhook(a.id).unwrap().as_ref(), Some(&a));
    assert!(a.valid);
    assert_eq!(a.delivered_upto, 4);
    assert_eq!(store.webhooks(Some(AppId(2))).unwrap(), std::slice::from_ref(&b));
    assert_eq!(store.webhooks(None).unwrap().len(), 2);

    let dead = DeadLetter {
        id: 0,
        webhook_id: a.id,
        event_seqs: vec![5, 7],
        attempts: 3,
        error: "receiver answered 500".into(),
        at: ts(9),
    };
    assert!(store.advance_webhook(a.id, 4, 7, Some(&dead)).unwrap());
    // A second mover that read the old progress moves nothing and records nothing.
    assert!(!store.advance_webhook(a.id, 4, 9, Some(&dead)).unwrap());
    assert_eq!(store.webhook(a.id).unwrap().unwrap().delivered_upto, 7);
    let letters = store.dead_letters(a.id, 0, 10).unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!((letters[0].event_seqs.clone(), letters[0].attempts, letters[0].at), (vec![5, 7], 3, ts(9)));
    assert!(store.dead_letters(a.id, letters[0].id, 10).unwrap().is_empty());
    assert!(store.dead_letters(b.id, 0, 10).unwrap().is_empty());

    assert!(store.rewind_webhook(a.id, 2).unwrap());
    assert_eq!(store.webhook(a.id).unwrap().unwrap().delivered_upto, 2);
    assert!(store.set_webhook_valid(a.id, false).unwrap());
    assert!(!store.webhook(a.id).unwrap().unwrap().valid);
    assert!(store.delete_webhook(a.id).unwrap());
    assert!(!store.delete_webhook(a.id).unwrap());
    assert_eq!(store.webhook(a.id).unwrap(), None);
    assert!(store.dead_letters(a.id, 0, 10).unwrap().is_empty());
    assert!(!store.rewind_webhook(u64::MAX, 1).unwrap());
    assert!(!store.set_webhook_valid(u64::MAX, true).unwrap());
}

// -- compliance jobs ------------------------------------------------------------------

fn new_job(app: u64, kind: JobKind, created_ms: i64) -> NewComplianceJob {
    NewComplianceJob {
        app_id: AppId(app),
        kind,
        name: Some(format!("job of app {app}")),
        resumable: false,
        created_at: ts(created_ms),
        upload_expires_at: ts(created_ms + 900_000),
        download_expires_at: ts(created_ms + 604_800_000),
    }
}

/// Created, uploaded (in progress, ids kept), completed (results kept, ids
/// dropped), deleted: each step as the next read sees it.
pub fn compliance_job_lifecycle(store: &dyn Store) {
    let job = store.create_compliance_job(&new_job(7, JobKind::Tweets, 1_000)).unwrap();
    assert_eq!(job.status, JobStatus::Created);
    assert_eq!((job.app_id, job.kind, job.uploaded, job.results), (AppId(7), JobKind::Tweets, 0, 0));
    assert_eq!(job.name.as_deref(), Some("job of app 7"));
    assert_eq!(store.compliance_job(job.id).unwrap(), Some(job.clone()));
    assert_eq!(store.compliance_job_results(job.id).unwrap(), None, "no results before completion");

    let ids = [3, 1, u64::MAX >> 1, 2];
    store.upload_compliance_ids(job.id, &ids).unwrap();
    let uploaded = store.compliance_job(job.id).unwrap().unwrap();
    assert_eq!((uploaded.status, uploaded.uploaded), (JobStatus::InProgress, 4));
    assert_eq!(store.compliance_job_ids(job.id).unwrap(), ids, "ids come back as stored");

    let results = b"{\"id\":\"1\"}\n{\"id\":\"2\"}\n";
    assert!(store.complete_compliance_job(job.id, results, 2).unwrap());
    let done = store.compliance_job(job.id).unwrap().unwrap();
    assert_eq!((done.status, done.results), (JobStatus::Complete, 2));
    assert_eq!(store.compliance_job_results(job.id).unwrap().as_deref(), Some(&results[..]));
    assert!(store.compliance_job_ids(job.id).unwrap().is_empty(), "a complete job's ids are dropped");
    assert!(!store.complete_compliance_job(job.id, b"", 0).unwrap(), "a complete job completes once");
    assert!(!store.fail_compliance_job(job.id, "late").unwrap(), "a complete job does not fail");

    let failing = store.create_compliance_job(&new_job(7, JobKind::Users, 2_000)).unwrap();
    store.upload_compliance_ids(failing.id, &[5]).unwrap();
    assert!(store.fail_compliance_job(failing.id, "broken").unwrap());
    let failed = store.compliance_job(failing.id).unwrap().unwrap();
    assert_eq!((failed.status, failed.error.as_deref()), (JobStatus::Failed, Some("broken")));
    assert_eq!(store.compliance_job_results(failing.id).unwrap(), None);

    assert!(store.delete_compliance_job(job.id).unwrap());
    assert_eq!(store.compliance_job(job.id).unwrap(), None);
    assert_eq!(store.compliance_job_results(job.id).unwrap(), None);
    assert!(!store.delete_compliance_job(job.id).unwrap(), "deleting twice finds nothing");
    assert_eq!(store.compliance_job(u64::MAX).unwrap(), None);
}

/// An app sees its own jobs of the kind asked, newest first, filtered by status.
pub fn compliance_jobs_listed_per_app_kind_and_status(store: &dyn Store) {
    let a1 = store.create_compliance_job(&new_job(1, JobKind::Tweets, 1_000)).unwrap();
    let a2 = store.create_compliance_job(&new_job(1, JobKind::Tweets, 2_000)).unwrap();
    let users = store.create_compliance_job(&new_job(1, JobKind::Users, 3_000)).unwrap();
    let other = store.create_compliance_job(&new_job(2, JobKind::Tweets, 4_000)).unwrap();
    store.upload_compliance_ids(a1.id, &[1]).unwrap();
    let listed = |app, kind, status| -> Vec<u64> {
        store.compliance_jobs(AppId(app), kind, status).unwrap().into_iter().map(|j| j.id).collect()
    };
    assert_eq!(listed(1, JobKind::Tweets, None), vec![a2.id, a1.id]);
    assert_eq!(listed(1, JobKind::Tweets, Some(JobStatus::InProgress)), vec![a1.id]);
    assert_eq!(listed(1, JobKind::Tweets, Some(JobStatus::Created)), vec![a2.id]);
    assert_eq!(listed(1, JobKind::Tweets, Some(JobStatus::Complete)), Vec::<u64>::new());
    assert_eq!(listed(1, JobKind::Users, None), vec![users.id]);
    assert_eq!(listed(2, JobKind::Tweets, None), vec![other.id]);
    assert_eq!(listed(3, JobKind::Tweets, None), Vec::<u64>::new());
}

/// A second upload, or one to a job that is not `Created`, is a conflict and
/// stores nothing; an unknown job is not found.
pub fn compliance_upload_only_once(store: &dyn Store) {
    let job = store.create_compliance_job(&new_job(1, JobKind::Tweets, 1_000)).unwrap();
    store.upload_compliance_ids(job.id, &[1, 2]).unwrap();
    assert_conflict(store.upload_compliance_ids(job.id, &[3]));
    assert_eq!(store.compliance_job_ids(job.id).unwrap(), vec![1, 2], "the second upload stored nothing");
    assert_eq!(store.compliance_job(job.id).unwrap().unwrap().uploaded, 2);
    assert!(matches!(store.upload_compliance_ids(job.id + 1000, &[1]), Err(StoreError::NotFound(_))));
}

/// Jobs past their download expiry, and created ones past their upload
/// expiry, become `Expired` with their data dropped; others stay.
pub fn compliance_jobs_expire(store: &dyn Store) {
    let complete = store.create_compliance_job(&new_job(1, JobKind::Tweets, 0)).unwrap();
    store.upload_compliance_ids(complete.id, &[1]).unwrap();
    assert!(store.complete_compliance_job(complete.id, b"{}\n", 1).unwrap());
    let never_uploaded = store.create_compliance_job(&new_job(1, JobKind::Tweets, 0)).unwrap();
    let uploaded = store.create_compliance_job(&new_job(1, JobKind::Tweets, 0)).unwrap();
    store.upload_compliance_ids(uploaded.id, &[1]).unwrap();
    let later = store.create_compliance_job(&new_job(1, JobKind::Tweets, 700_000_000)).unwrap();

    assert_eq!(store.expire_compliance_jobs(ts(899_999)).unwrap(), 0, "nothing is due yet");
    // The upload window of the first three has passed.
    assert_eq!(store.expire_compliance_jobs(ts(900_000)).unwrap(), 1);
    let status = |id| store.compliance_job(id).unwrap().unwrap().status;
    assert_eq!(status(never_uploaded.id), JobStatus::Expired);
    assert_eq!(status(uploaded.id), JobStatus::InProgress, "an uploaded job keeps going");
    assert_eq!(status(complete.id), JobStatus::Complete);
    // The download window of the first three has passed.
    assert_eq!(store.expire_compliance_jobs(ts(604_800_000)).unwrap(), 2);
    assert_eq!(status(complete.id), JobStatus::Expired);
    assert_eq!(status(uploaded.id), JobStatus::Expired);
    assert_eq!(status(later.id), JobStatus::Created);
    assert_eq!(store.compliance_job_results(complete.id).unwrap(), None, "an expired job's results are dropped");
    assert!(store.compliance_job_ids(uploaded.id).unwrap().is_empty(), "an expired job's ids are dropped");
    assert!(!store.complete_compliance_job(uploaded.id, b"", 0).unwrap(), "an expired job does not complete");
    assert_eq!(store.expire_compliance_jobs(ts(604_800_000)).unwrap(), 0, "expiring twice changes nothing");
}

/// The signing secret is made once: every read gives the same bytes.
pub fn compliance_secret_is_stable(store: &dyn Store) {
    let first = store.compliance_secret().unwrap();
    assert_eq!(store.compliance_secret().unwrap(), first);
    assert_ne!(first, [0u8; 32], "the secret is random, not zero");
}

/// Written notices to actors: recorded with an id, listed by date then in
/// the order recorded (of one actor or of all), and refused whole, naming
/// the field, when the actor is empty, the day is not a real one or is
/// after the day of recording, the text is empty or the reference is not
/// an absolute URI.
pub fn guard_notices_recorded_listed_and_checked(store: &dyn Store) {
    let at = ts(1_796_000_000_000); // 2026-11-30T...Z
    let notice = |actor: &str, date: &str| NewGuardNotice {
        actor: actor.into(),
        date: date.into(),
        text: "Stop harvesting; see our terms.\n<b>Signed</b> — Legal".into(),
        reference: Some("https://example.com/letters/1.pdf".into()),
        recorded_at: at,
    };
    assert!(store.guard_notices(None).unwrap().is_empty());
    let first = store.record_guard_notice(&notice("actor-b", "2026-11-20")).unwrap();
    let second =
        store.record_guard_notice(&NewGuardNotice { reference: None, ..notice("actor-a", "2026-11-30") }).unwrap();
    let earlier = store.record_guard_notice(&notice("actor-b", "2026-10-01")).unwrap();
    let again = store.record_guard_notice(&notice("actor-b", "2026-11-20")).unwrap();
    assert_eq!((first.actor.as_str(), first.date.as_str(), first.recorded_at), ("actor-b", "2026-11-20", at));
    assert_eq!(first.text, "Stop harvesting; see our terms.\n<b>Signed</b> — Legal");
    assert_eq!(first.reference.as_deref(), Some("https://example.com/letters/1.pdf"));
    assert_eq!(second.reference, None);
    let ids: BTreeSet<u64> = [first.id, second.id, earlier.id, again.id].into_iter().collect();
    assert_eq!(ids.len(), 4, "each notice has its own id, the same one recorded twice too");
    let all = store.guard_notices(None).unwrap();
    assert_eq!(all, vec![earlier.clone(), first.clone(), again.clone(), second.clone()]);
    assert_eq!(store.guard_notices(Some("actor-b")).unwrap(), vec![earlier, first, again]);
    assert_eq!(store.guard_notices(Some("actor-a")).unwrap(), vec![second]);
    assert!(store.guard_notices(Some("nobody")).unwrap().is_empty());

    let refused = |n: NewGuardNotice, field: &str| {
        let err = store.record_guard_notice(&n).unwrap_err();
        assert!(matches!(&err, StoreError::Invalid { field: f, .. } if *f == field), "{n:?}: {err}");
    };
    refused(notice("", "2026-11-20"), "actor");
    refused(notice("   ", "2026-11-20"), "actor");
    refused(notice(" actor-a", "2026-11-20"), "actor");
    refused(notice("actor\n-a", "2026-11-20"), "actor");
    refused(notice("a", "2026-02-30"), "date");
    refused(notice("a", "2026-1-05"), "date");
    refused(notice("a", "2026-11-20T00:00:00Z"), "date");
    refused(notice("a", "yesterday"), "date");
    refused(notice("a", "2026-12-01"), "date"); // the day after it is recorded
    refused(NewGuardNotice { text: " \n ".into(), ..notice("a", "2026-11-20") }, "text");
    refused(NewGuardNotice { reference: Some("example.com/x".into()), ..notice("a", "2026-11-20") }, "reference");
    refused(NewGuardNotice { reference: Some("https://a b".into()), ..notice("a", "2026-11-20") }, "reference");
    assert_eq!(store.guard_notices(None).unwrap().len(), 4, "nothing refused was stored");
}
