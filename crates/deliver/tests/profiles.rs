//! Profiles through the deliverer: `deliver_accounts` and the expansions of
//! `deliver` release a profile only where the policy allows it for the
//! request's app and purpose, record only the released ones, and state usage
//! terms that hold for them.

use std::sync::Arc;

use tollgate_deliver::{Deliverer, Expand, Recipient, Request, Timings};
use tollgate_domain::{
    Account, AccountId, AccountStatus, AgreementState, AiPreferences, AppId, AppStatus, ConsentDefaults, Post, PostId,
    Purpose, Reason, Tier, Timestamp,
};
use tollgate_ledger::{Channel, Entry, LedgerWriter};
use tollgate_policy::{AppFacts, PolicyEngine};
use tollgate_store::Store;
use tollgate_store_sqlite::{SqliteOptions, SqliteStore};

struct Harness {
    ledger_db: Arc<tollgate_ledger::LedgerDb>,
    deliverer: Deliverer,
    dir: std::path::PathBuf,
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn harness(name: &str) -> Harness {
    let dir = std::env::temp_dir().join(format!("tollgate-deliver-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir, &SqliteOptions::default()).unwrap());
    let ledger_db = Arc::new(tollgate_ledger::LedgerDb::open(&dir, &SqliteOptions::default()).unwrap());
    let ledger = LedgerWriter::start(ledger_db.clone(), &dir).unwrap();
    let deliverer = Deliverer::new(Arc::new(PolicyEngine::builtin().unwrap()), ledger, ConsentDefaults::default());
    drop(store);
    Harness { ledger_db, deliverer, dir }
}

impl Harness {
    fn last_entry(&self) -> Entry {
        Entry::decode(&self.ledger_db.ledger_last().unwrap().unwrap().body).unwrap()
    }
}

fn account(id: u64, region: &str) -> Account {
    Account {
        id: AccountId(id),
        handle: format!("user{id}"),
        display_name: format!("User {id}"),
        description: "a profile".into(),
        created_at: Timestamp::from_millis(0),
        region: region.into(),
        birth_year: None,
        is_minor: None,
        protected: false,
        status: AccountStatus::Active,
        ai_preferences: AiPreferences::default(),
    }
}

fn trainer() -> Recipient {
    let app = AppFacts {
        app_id: AppId(1),
        tier: Tier::Partner,
        purposes: vec![Purpose::Display, Purpose::TrainGenai],
        licensed_purposes: vec![Purpose::TrainGenai],
        status: AppStatus::Active,
        agreement: AgreementState::Current,
    };
    Recipient { app, key_id: None, client: None, guard: None }
}

fn request(recipient: &Recipient, purpose: Purpose) -> Request<'_> {
    Request {
        recipient,
        purpose,
        channel: Channel::Api,
        endpoint: "test",
        request_id: "req",
        now: Timestamp::parse("2026-06-01T00:00:00Z").unwrap(),
    }
}

/// 1: an adult in the US (consents), 2: in Germany (the default denies),
/// 3: a minor, 4: suspended.
fn accounts() -> Vec<Account> {
    let minor = Account { is_minor: Some(true), ..account(3, "US") };
    let suspended = Account { status: AccountStatus::Suspended, ..account(4, "US") };
    vec![account(1, "US"), account(2, "DE"), minor, suspended]
}

#[tokio::test]
async fn looked_up_profiles_are_decided_by_the_policy() {
    let h = harness("lookup");
    let recipient = trainer();
    let (delivery, refused) = h
        .deliverer
        .deliver_accounts(
            &request(&recipient, Purpose::TrainGenai),
            accounts().into_iter().map(Arc::new).collect(),
            &mut Timings::default(),
        )
        .await
        .unwrap();
    let released: Vec<u64> = delivery.accounts.iter().map(|a| a.id.0).collect();
    assert_eq!(released, [1]);
    assert_eq!(
        refused,
        [
            (AccountId(2), Reason::AUTHOR_OPTED_OUT),
            (AccountId(3), Reason::MINOR),
            (AccountId(4), Reason::AUTHOR_SUSPENDED)
        ]
    );
    assert!(delivery.genai_allowed);
    assert_eq!(h.last_entry().accounts, [AccountId(1)]);

    let (delivery, refused) = h
        .deliverer
        .deliver_accounts(
            &request(&recipient, Purpose::Display),
            accounts().into_iter().map(Arc::new).collect(),
            &mut Timings::default(),
        )
        .await
        .unwrap();
    assert_eq!(delivery.accounts.len(), 3);
    assert_eq!(refused, [(AccountId(4), Reason::AUTHOR_SUSPENDED)]);
    assert!(!delivery.genai_allowed, "profiles 2 and 3 could not have gone for train-genai");
}

#[tokio::test]
async fn expanded_profiles_are_decided_by_the_policy() {
    let h = harness("expand");
    let recipient = trainer();
    let by_id: tollgate_domain::IdMap<AccountId, Arc<Account>> =
        accounts().into_iter().map(|a| (a.id, Arc::new(a))).collect();
    let replies = || -> Vec<Post> {
        (2..=4)
            .map(|to| Post {
                id: PostId(100 + to),
                author_id: AccountId(1),
                created_at: Timestamp::from_millis(1_700_000_000_000),
                text: format!("a reply to {to}"),
                lang: "en".into(),
                in_reply_to: None,
                in_reply_to_user_id: Some(AccountId(to)),
                conversation_id: None,
                no_ai: false,
                deleted_at: None,
            })
            .collect()
    };
    let expand = Expand { authors: true, reply_users: true, referenced: false };
    let mut timings = Timings::default();
    let delivery = h
        .deliverer
        .deliver(
            &request(&recipient, Purpose::TrainGenai),
            replies().into_iter().map(Arc::new).collect(),
            Vec::new(),
            &by_id,
            expand,
            &mut timings,
        )
        .await
        .unwrap();
    assert_eq!(delivery.posts.len(), 3);
    let released: Vec<u64> = delivery.accounts.iter().map(|a| a.id.0).collect();
    assert_eq!(released, [1], "the German, the minor and the suspended account are left out");
    assert!(delivery.withheld.is_empty(), "left-out profiles are not withheld posts");
    assert!(delivery.genai_allowed);
    assert_eq!(h.last_entry().accounts, [AccountId(1)]);

    let delivery = h
        .deliverer
        .deliver(
            &request(&recipient, Purpose::Display),
            replies().into_iter().map(Arc::new).collect(),
            Vec::new(),
            &by_id,
            expand,
            &mut timings,
        )
        .await
        .unwrap();
    let released: Vec<u64> = delivery.accounts.iter().map(|a| a.id.0).collect();
    assert_eq!(released, [1, 2, 3]);
    assert!(!delivery.genai_allowed, "ada's posts could go for train-genai, the profiles of 2 and 3 could not");
    assert_eq!(h.last_entry().accounts, [AccountId(1), AccountId(2), AccountId(3)]);
}
