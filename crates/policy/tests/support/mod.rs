//! Shared by the differential test and the `bench_policy` example: a seeded
//! PRNG, generators of random accounts, posts and app facts, and an oracle of
//! the built-in pack written in plain Rust, independent of Cedar.

use tollgate_domain::{
    Account, AccountId, AccountStatus, AgreementState, AiPreferences, AppId, AppStatus, Category, Decision, ItemFacts,
    Post, PostId, Preference, Purpose, Reason, Scope, Tier, Timestamp, Tri,
};
use tollgate_policy::AppFacts;

/// The fixed "now" of every generated case: 2026-06-01T00:00:00Z.
pub const NOW: Timestamp = Timestamp::from_millis(1_780_272_000_000);

/// A mix of restricted (EU, EEA, UK) and other regions, and one lower-case
/// code, since the region group is looked up case-insensitively.
pub const REGIONS: [&str; 16] =
    ["US", "DE", "FR", "GB", "NO", "IS", "LI", "BR", "JP", "IN", "CA", "NG", "AT", "CH", "AU", "de"];

/// splitmix64: tiny, fast and good enough to spread cases over the space.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

pub fn tri(rng: &mut Rng) -> Tri {
    match rng.below(10) {
        0..=2 => Tri::Allow,
        3..=5 => Tri::Deny,
        _ => Tri::Unset,
    }
}

pub fn preferences(rng: &mut Rng) -> AiPreferences {
    let mut prefs = AiPreferences::default();
    for c in Category::ALL {
        for s in Scope::ALL {
            prefs.0[c.index()][s.index()] = Preference { value: tri(rng), updated_at: None };
        }
    }
    prefs
}

pub fn account_status(rng: &mut Rng) -> AccountStatus {
    match rng.below(20) {
        0 => AccountStatus::Suspended,
        1 => AccountStatus::Deactivated,
        2 => AccountStatus::Deleted,
        _ => AccountStatus::Active,
    }
}

pub fn account(rng: &mut Rng, id: u64) -> Account {
    Account {
        id: AccountId(id),
        handle: format!("user{id}"),
        display_name: format!("User {id}"),
        description: String::new(),
        created_at: Timestamp::from_millis(1_600_000_000_000),
        region: rng.pick(&REGIONS).to_owned(),
        // Around the adult boundary often, so that the birth-year rule matters.
        birth_year: match rng.below(4) {
            0 => None,
            1 => Some(2005 + rng.below(6) as u16),
            _ => Some(1940 + rng.below(80) as u16),
        },
        is_minor: match rng.below(10) {
            0 => Some(true),
            1 => Some(false),
            _ => None,
        },
        protected: rng.chance(15),
        status: account_status(rng),
        ai_preferences: preferences(rng),
    }
}

/// What an author changes between two requests: one preference, the
/// protected flag, the account status or the age flag.
pub fn mutate(rng: &mut Rng, account: &mut Account) {
    match rng.below(8) {
        0 => account.protected = !account.protected,
        1 => account.status = account_status(rng),
        2 => account.is_minor = [None, Some(true), Some(false)][rng.below(3)],
        3 => account.ai_preferences = preferences(rng),
        _ => {
            let (c, s) = (rng.pick(&Category::ALL), rng.pick(&Scope::ALL));
            let value = tri(rng);
            account.ai_preferences.set(c, s, value, NOW);
        }
    }
}

pub fn post(rng: &mut Rng, id: u64, author: &Account) -> Post {
    Post {
        id: PostId(id),
        author_id: author.id,
        created_at: Timestamp::from_millis(1_700_000_000_000),
        text: String::new(),
        lang: "en".to_owned(),
        in_reply_to: None,
        in_reply_to_user_id: None,
        conversation_id: None,
        no_ai: rng.chance(15),
        deleted_at: rng.chance(8).then_some(NOW),
    }
}

fn purpose_subset(rng: &mut Rng, percent: u64) -> Vec<Purpose> {
    Purpose::ALL.into_iter().filter(|_| rng.chance(percent)).collect()
}

pub fn app_facts(rng: &mut Rng, id: u64) -> AppFacts {
    AppFacts {
        app_id: AppId(id),
        tier: rng.pick(&Tier::ALL),
        purposes: purpose_subset(rng, 60),
        licensed_purposes: purpose_subset(rng, 40),
        status: if rng.chance(90) { AppStatus::Active } else { AppStatus::Suspended },
        agreement: match rng.below(10) {
            0 => AgreementState::Lapsed,
            1 | 2 => AgreementState::Grace,
            _ => AgreementState::Current,
        },
    }
}

/// Mostly a purpose the app declared, so that the post-level rules are
/// reached; sometimes any purpose.
pub fn purpose(rng: &mut Rng, app: &AppFacts) -> Purpose {
    if !app.purposes.is_empty() && rng.chance(70) { rng.pick(&app.purposes) } else { rng.pick(&Purpose::ALL) }
}

/// The built-in pack, as plain Rust: the first rule that applies, in
/// precedence order, decides. A profile is decided by the rules for its
/// owner's posts; it is never deleted or marked "no AI" on its own.
pub fn oracle(app: &AppFacts, purpose: Purpose, item: impl Into<ItemFacts>) -> Decision {
    let item = item.into();
    let author = item.author();
    let (no_ai, deleted) = match item {
        ItemFacts::Post(post) => (post.no_ai, post.deleted),
        ItemFacts::Profile(_) => (false, false),
    };
    let ai = purpose.is_ai();
    let training = matches!(purpose, Purpose::TrainAi | Purpose::TrainGenai);
    let rules = [
        (deleted || author.status == AccountStatus::Deleted, Reason::DELETED),
        (author.status == AccountStatus::Suspended, Reason::AUTHOR_SUSPENDED),
        (author.status == AccountStatus::Deactivated, Reason::AUTHOR_DEACTIVATED),
        (app.status != AppStatus::Active, Reason::APP_SUSPENDED),
        (app.agreement == AgreementState::Lapsed, Reason::AGREEMENT_NOT_ACCEPTED),
        (!app.purposes.contains(&purpose), Reason::PURPOSE_NOT_DECLARED),
        (app.tier == Tier::Standard && purpose == Purpose::TrainGenai, Reason::AGREEMENT_PROHIBITS),
        (app.tier == Tier::Partner && training && !app.licensed_purposes.contains(&purpose), Reason::NOT_LICENSED),
        (author.protected && (app.tier != Tier::FirstParty || ai), Reason::PROTECTED_ACCOUNT),
        (author.minor && ai, Reason::MINOR),
        (no_ai && ai, Reason::POST_NO_AI),
        (purpose.category().is_some_and(|c| !author.consents(c, app.tier.scope())), Reason::AUTHOR_OPTED_OUT),
    ];
    rules.into_iter().find(|(applies, _)| *applies).map_or(Decision::Allow, |(_, reason)| Decision::Withhold(reason))
}
