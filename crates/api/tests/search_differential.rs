//! The search language against a reference: queries generated from a seed
//! are printed in X's syntax, parsed by the API and answered by the SQLite
//! store; a small evaluator written here from X's operator documentation
//! (sharing no code with the parser or the store) says which of the
//! generated posts each query must match, and whether X accepts the query at
//! all. Both must agree on every query. Deterministic and bounded: one seed,
//! a few hundred posts, a few thousand queries.

use tollgate_domain::{Account, AccountId, AccountStatus, AiPreferences, Post, PostId, Timestamp};
use tollgate_store::{SearchQuery, Store};
use tollgate_store_sqlite::SqliteStore;

/// xorshift64*: a fixed sequence for a fixed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// The accounts: (id, handle). `42` is a handle of digits that is no id.
const ACCOUNTS: [(u64, &str); 4] = [(1, "ada"), (2, "Bob"), (3, "carol_c"), (4, "42")];

/// The pieces post texts are made of, each a whitespace-separated chunk:
/// words, entities, things that look like entities but are none, emoji.
const CHUNKS: &[&str] = &[
    "tea",
    "coffee",
    "time",
    "Tea",
    "morning",
    "x",
    "com",
    "co",
    "a",
    "brk",
    "aapl",
    "100",
    "#tea",
    "#Tea_time",
    "#tea1",
    "#coffee",
    "#1",
    "a#tea",
    "$AAPL",
    "$brk.a",
    "$100",
    "$TEA",
    "@ada",
    "@Bob",
    "@carol_c",
    "@42",
    "x@ada",
    "https://x.com/tea",
    "http://t.co/ab",
    "HTTPS://X.com",
    "https://tea.example/coffee_time",
    "x.com",
    "☕",
    "tea☕",
    "🍵",
    "#Cumpleaños",
    "#cumpleanos",
    "café",
    "Cafe",
];

fn generate_posts(rng: &mut Rng) -> Vec<Post> {
    let mut posts: Vec<Post> = Vec::new();
    for id in 1..=300u64 {
        let words = 1 + rng.below(6);
        let text = (0..words)
            .map(|_| {
                let chunk = *rng.pick(CHUNKS);
                match rng.below(8) {
                    0 => format!("{chunk},"),
                    1 => format!("{chunk}."),
                    _ => chunk.to_owned(),
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
        let author = ACCOUNTS[rng.below(ACCOUNTS.len())].0;
        let mut post = Post {
            id: PostId(id),
            author_id: AccountId(author),
            created_at: Timestamp::from_millis(1_700_000_000_000 + id as i64 * 1000),
            text,
            lang: rng.pick(&["en", "de", "und"]).to_string(),
            in_reply_to: None,
            in_reply_to_user_id: None,
            conversation_id: None,
            no_ai: false,
            deleted_at: None,
        };
        if id > 1 && rng.chance(40) {
            let parent = &posts[rng.below(posts.len())];
            post.in_reply_to = Some(parent.id);
            post.in_reply_to_user_id = Some(parent.author_id);
            post.conversation_id = Some(parent.conversation_id.unwrap_or(parent.id));
        } else if rng.chance(20) {
            post.conversation_id = Some(post.id);
        }
        posts.push(post);
    }
    posts
}

/// A query as the reference sees it.
#[derive(Debug, Clone)]
enum Q {
    Keyword(String),
    Phrase(String),
    Hashtag(String),
    Cashtag(String),
    Mention(String),
    Url(String),
    From(String),
    To(String),
    InReplyTo(u64),
    Conversation(u64),
    Lang(String),
    IsReply,
    Has(&'static str),
    /// An operator about data Tollgate does not keep; whether it is
    /// conjunction-required.
    Unheld(&'static str, bool),
    Not(Box<Q>),
    And(Vec<Q>),
    Or(Vec<Q>),
}

const KEYWORDS: &[&str] =
    &["tea", "TEA", "coffee", "time", "x", "com", "aapl", "brk", "100", "morning", "ab", "☕", "🍵", "café", "cafe"];
const PHRASES: &[&str] = &["tea time", "x com", "x com tea", "coffee time", "brk a", "t co ab"];
const HASHTAGS: &[&str] = &["tea", "TEA", "tea_time", "tea1", "coffee", "time", "cumpleaños", "CUMPLEANOS"];
const CASHTAGS: &[&str] = &["AAPL", "aapl", "BRK.A", "tea", "brk"];
const MENTIONS: &[&str] = &["ada", "bob", "carol_c", "42", "carol"];
const URLS: &[&str] = &["x.com", "x.com/tea", "t.co", "https://x.com", "tea", "coffee_time", "co/ab", "tea.example"];
const USERS: &[&str] = &["ada", "BOB", "@carol_c", "2", "42", "9", "nobody"];
const UNHELD: &[(&str, bool)] = &[
    ("is:retweet", true),
    ("is:quote", true),
    ("is:verified", true),
    ("has:media", true),
    ("has:images", true),
    ("has:video_link", true),
    ("has:geo", true),
    ("place:\"new york\"", false),
    ("place_country:DE", false),
    ("point_radius:[2.35 48.86 16km]", false),
    ("bounding_box:[-105.3 39.9 -105.1 40.1]", false),
    ("list:123", false),
    ("context:10.*", false),
    ("entity:\"Tea\"", false),
    ("retweets_of:ada", false),
    ("retweets_of_tweet_id:5", false),
    ("quotes_of_tweet_id:5", false),
];

fn generate_query(rng: &mut Rng, depth: usize) -> Q {
    if depth > 0 && rng.chance(35) {
        let n = 2 + rng.below(3);
        let parts = (0..n).map(|_| generate_query(rng, depth - 1)).collect();
        return if rng.chance(50) { Q::And(parts) } else { Q::Or(parts) };
    }
    if depth > 0 && rng.chance(15) {
        // `is:nullcast` is only ever written negated.
        if rng.chance(15) {
            return Q::Not(Box::new(Q::Unheld("is:nullcast", true)));
        }
        return Q::Not(Box::new(generate_query(rng, depth - 1)));
    }
    let s = |rng: &mut Rng, items: &[&str]| rng.pick(items).to_string();
    match rng.below(16) {
        0 | 1 => Q::Keyword(s(rng, KEYWORDS)),
        2 => Q::Phrase(s(rng, PHRASES)),
        3 => Q::Hashtag(s(rng, HASHTAGS)),
        4 => Q::Cashtag(s(rng, CASHTAGS)),
        5 => Q::Mention(s(rng, MENTIONS)),
        6 => Q::Url(s(rng, URLS)),
        7 => Q::From(s(rng, USERS)),
        8 => Q::To(s(rng, USERS)),
        9 => Q::InReplyTo(1 + rng.below(310) as u64),
        10 => Q::Conversation(1 + rng.below(310) as u64),
        11 => Q::Lang(s(rng, &["en", "de", "fr"])),
        12 => Q::IsReply,
        13 => {
            const HAS: [&str; 4] = ["hashtags", "cashtags", "mentions", "links"];
            Q::Has(HAS[rng.below(HAS.len())])
        }
        _ => {
            let (op, conj) = *rng.pick(UNHELD);
            Q::Unheld(op, conj)
        }
    }
}

/// The query in X's syntax; groups always in parentheses.
fn print(q: &Q) -> String {
    let group = |q: &Q| match q {
        Q::And(_) | Q::Or(_) => format!("({})", print(q)),
        _ => print(q),
    };
    match q {
        Q::Keyword(k) => k.clone(),
        Q::Phrase(p) => format!("\"{p}\""),
        Q::Hashtag(h) => format!("#{h}"),
        Q::Cashtag(c) => format!("${c}"),
        Q::Mention(m) => format!("@{m}"),
        Q::Url(u) => format!("url:\"{u}\""),
        Q::From(u) => format!("from:{u}"),
        Q::To(u) => format!("to:{u}"),
        Q::InReplyTo(id) => format!("in_reply_to_tweet_id:{id}"),
        Q::Conversation(id) => format!("conversation_id:{id}"),
        Q::Lang(l) => format!("lang:{l}"),
        Q::IsReply => "is:reply".into(),
        Q::Has(what) => format!("has:{what}"),
        Q::Unheld(op, _) => (*op).into(),
        // `--x` is no query: a double negation is written `-(-x)`.
        Q::Not(inner) if matches!(**inner, Q::Not(_)) => format!("-({})", print(inner)),
        Q::Not(inner) => format!("-{}", group(inner)),
        Q::And(parts) => parts.iter().map(group).collect::<Vec<_>>().join(" "),
        Q::Or(parts) => parts.iter().map(group).collect::<Vec<_>>().join(" OR "),
    }
}

/// X's rules: negated clauses cannot be used alone (in any way the query
/// can match), and conjunction-required ones only with a standalone clause
/// included in the query.
fn accepted(q: &Q) -> bool {
    fn positive(q: &Q) -> bool {
        match q {
            Q::Not(_) => false,
            Q::And(parts) => parts.iter().any(positive),
            Q::Or(parts) => parts.iter().all(positive),
            _ => true,
        }
    }
    fn standalone_included(q: &Q) -> bool {
        match q {
            Q::Not(_) => false,
            Q::And(parts) | Q::Or(parts) => parts.iter().any(standalone_included),
            Q::Lang(_) | Q::IsReply | Q::Has(_) => false,
            Q::Unheld(_, conj) => !conj,
            _ => true,
        }
    }
    /// `is:nullcast` is accepted only negated (an odd number of times).
    fn nullcast_negated(q: &Q, negated: bool) -> bool {
        match q {
            Q::Unheld("is:nullcast", _) => negated,
            Q::Not(inner) => nullcast_negated(inner, !negated),
            Q::And(parts) | Q::Or(parts) => parts.iter().all(|p| nullcast_negated(p, negated)),
            _ => true,
        }
    }
    positive(q) && standalone_included(q) && nullcast_negated(q, false)
}

// -- the reference: X's documented meaning, over the posts' fields ------------------------

/// Lower case, the accents of the generated texts dropped: X's search
/// matches `#cumpleaños` and `#cumpleanos`, `café` and `cafe` alike.
fn fold(s: &str) -> String {
    s.to_lowercase().replace('ñ', "n").replace('é', "e")
}

/// Folded runs of letters and digits: X's tokenized match.
fn tokens(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric()).filter(|t| !t.is_empty()).map(fold).collect()
}

fn contains_run(hay: &[String], needle: &[String]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// The chunks of a text with the trailing `,` or `.` the generator adds.
fn chunks(text: &str) -> impl Iterator<Item = &str> {
    text.split_whitespace().map(|c| c.trim_end_matches([',', '.']))
}

fn entity_values(text: &str, sigil: char) -> Vec<String> {
    chunks(text)
        .filter_map(|c| c.strip_prefix(sigil))
        .filter(|rest| match sigil {
            '#' => rest.chars().all(|c| c.is_alphanumeric() || c == '_') && rest.chars().any(char::is_alphabetic),
            '$' => {
                let (main, suffix) = rest.split_once(['.', '_']).unwrap_or((rest, "x"));
                (1..=6).contains(&main.len())
                    && main.chars().all(|c| c.is_ascii_alphabetic())
                    && (1..=2).contains(&suffix.len())
                    && suffix.chars().all(|c| c.is_ascii_alphabetic())
            }
            _ => (1..=15).contains(&rest.len()) && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
        })
        .map(fold)
        .collect()
}

fn links(text: &str) -> Vec<&str> {
    chunks(text)
        .filter(|c| {
            let lower = c.to_ascii_lowercase();
            (lower.starts_with("http://") && c.len() > 7) || (lower.starts_with("https://") && c.len() > 8)
        })
        .collect()
}

/// The account a `from:`/`to:` value names: an id if an account has it,
/// else a handle (case-insensitive).
fn account_named(value: &str) -> Option<u64> {
    let value = value.trim_start_matches('@');
    value
        .parse::<u64>()
        .ok()
        .filter(|id| ACCOUNTS.iter().any(|(a, _)| a == id))
        .or_else(|| ACCOUNTS.iter().find(|(_, h)| h.eq_ignore_ascii_case(value)).map(|(id, _)| *id))
}

fn matches(q: &Q, p: &Post) -> bool {
    match q {
        Q::Keyword(k) if !k.chars().any(char::is_alphanumeric) => p.text.contains(k.as_str()),
        Q::Keyword(k) | Q::Phrase(k) => contains_run(&tokens(&p.text), &tokens(k)),
        Q::Hashtag(h) => entity_values(&p.text, '#').contains(&fold(h)),
        Q::Cashtag(c) => entity_values(&p.text, '$').contains(&fold(c)),
        Q::Mention(m) => entity_values(&p.text, '@').contains(&fold(m)),
        Q::Url(u) => links(&p.text).iter().any(|l| contains_run(&tokens(l), &tokens(u))),
        Q::From(u) => account_named(u) == Some(p.author_id.0),
        Q::To(u) => account_named(u).is_some() && account_named(u) == p.in_reply_to_user_id.map(|a| a.0),
        Q::InReplyTo(id) => p.in_reply_to == Some(PostId(*id)),
        Q::Conversation(id) => p.conversation_id.unwrap_or(p.id) == PostId(*id),
        Q::Lang(l) => &p.lang == l,
        Q::IsReply => p.in_reply_to.is_some(),
        Q::Has("hashtags") => !entity_values(&p.text, '#').is_empty(),
        Q::Has("cashtags") => !entity_values(&p.text, '$').is_empty(),
        Q::Has("mentions") => !entity_values(&p.text, '@').is_empty(),
        Q::Has(_) => !links(&p.text).is_empty(),
        Q::Unheld(..) => false,
        Q::Not(inner) => !matches(inner, p),
        Q::And(parts) => parts.iter().all(|q| matches(q, p)),
        Q::Or(parts) => parts.iter().any(|q| matches(q, p)),
    }
}

#[test]
fn the_store_answers_every_generated_query_as_the_reference_does() {
    let mut rng = Rng(0x5EED_0F70_116A_7E01);
    let store = SqliteStore::open_in_memory_for_tests().unwrap();
    let accounts: Vec<Account> = ACCOUNTS
        .iter()
        .map(|&(id, handle)| Account {
            id: AccountId(id),
            handle: handle.into(),
            display_name: handle.into(),
            description: String::new(),
            created_at: Timestamp::from_millis(1_600_000_000_000),
            region: "US".into(),
            birth_year: None,
            is_minor: None,
            protected: false,
            status: AccountStatus::Active,
            ai_preferences: AiPreferences::default(),
        })
        .collect();
    store.upsert_accounts(&accounts).unwrap();
    let posts = generate_posts(&mut rng);
    store.upsert_posts(&posts).unwrap();

    let (mut accepted_count, mut nonempty) = (0, 0);
    for _ in 0..3000 {
        let q = generate_query(&mut rng, 3);
        let text = print(&q);
        let parsed = tollgate_api::parse_query(&text);
        assert_eq!(parsed.is_ok(), accepted(&q), "{text}: {parsed:?}");
        let Ok(expr) = parsed else { continue };
        accepted_count += 1;
        let query = SearchQuery::new(expr, 1000);
        let got: Vec<u64> = store.search(&query).unwrap().iter().map(|p| p.id.0).collect();
        let want: Vec<u64> = posts.iter().rev().filter(|p| matches(&q, p)).map(|p| p.id.0).collect();
        assert_eq!(got, want, "{text}");
        nonempty += usize::from(!want.is_empty());
    }
    // The generator reaches both sides of the comparison.
    assert!(accepted_count > 1000 && nonempty > 300, "{accepted_count} accepted, {nonempty} with matches");
}

/// The deepest query the parser accepts is one the store can run, whichever
/// path drives it: SQLite's and FTS5's own nesting limits are not reached.
#[test]
fn the_deepest_accepted_queries_run() {
    let store = SqliteStore::open_in_memory_for_tests().unwrap();
    let depth = tollgate_api::MAX_GROUP_DEPTH;
    // Two groups a step where the pattern opens two.
    let half = depth / 2;
    let shapes = [
        format!("{}tea{}", "x -(".repeat(depth), ")".repeat(depth)),
        format!("tea {}tea{}", "(x OR -(y ".repeat(half), "))".repeat(half)),
        format!("{}tea{}", "(x OR (#y ".repeat(half), "))".repeat(half)),
        format!("from:ada {}tea{}", "(x OR -(lang:en ".repeat(half), "))".repeat(half)),
        format!("tea {}tea{}", "(to:ada OR (-is:reply @y ".repeat(half), "))".repeat(half)),
        format!("{}tea{}", "(x ".repeat(depth), ")".repeat(depth)),
        format!("{}tea{}", "(x OR ".repeat(depth), ")".repeat(depth)),
    ];
    for q in shapes {
        let expr = tollgate_api::parse_query(&q).unwrap_or_else(|e| panic!("{q}: {e}"));
        let query = SearchQuery::new(expr, 10);
        store.search(&query).unwrap_or_else(|e| panic!("{q}: {e}"));
    }
}
