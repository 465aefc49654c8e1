//! The fuzz targets. Each `run` takes any bytes, panics if a property fails,
//! and returns the signature of the outcome (which kind of success or error),
//! which the runner uses to keep inputs that reached something new.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use tollgate_api::{MAX_QUERY_LEN, pagination_token, parse_query};
use tollgate_domain::PostId;
use tollgate_ingest::{ImportError, NoProgress, import};
use tollgate_ledger::Entry;
use tollgate_store::{Entity, SearchExpr, Store};
use tollgate_store_sqlite::{SqliteOptions, SqliteStore, Synchronous};

use crate::{error_shape, fnv1a};

/// The targets by name, as the runner and the corpus directories call them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetName {
    /// The search query language (`tollgate_api::parse_query`).
    Query,
    /// `next_token` / `pagination_token` values.
    Token,
    /// Tollgate's own JSON lines: an accounts file and a posts file.
    ImportOurs,
    /// twarc2 archives: X API v2 response pages, one a line.
    ImportTwarc,
    /// A stored ledger entry's bytes (`tollgate_ledger::Entry::decode`).
    LedgerEntry,
}

impl TargetName {
    pub const ALL: [TargetName; 5] = [
        TargetName::Query,
        TargetName::Token,
        TargetName::ImportOurs,
        TargetName::ImportTwarc,
        TargetName::LedgerEntry,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TargetName::Query => "query",
            TargetName::Token => "token",
            TargetName::ImportOurs => "import-ours",
            TargetName::ImportTwarc => "import-twarc",
            TargetName::LedgerEntry => "ledger-entry",
        }
    }

    pub fn parse(name: &str) -> Option<TargetName> {
        TargetName::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// Whether inputs are JSON (lines), for the structural mutations.
    pub fn is_json(self) -> bool {
        matches!(self, TargetName::ImportOurs | TargetName::ImportTwarc | TargetName::LedgerEntry)
    }

    /// The longest input the runner makes for this target.
    pub fn max_len(self) -> usize {
        match self {
            TargetName::Query => 2 * MAX_QUERY_LEN,
            TargetName::Token => 64,
            TargetName::ImportOurs | TargetName::ImportTwarc => 16 * 1024,
            TargetName::LedgerEntry => 4096,
        }
    }

    /// Tokens of the target's input language, for the mutator.
    pub fn dictionary(self) -> &'static [&'static [u8]] {
        match self {
            TargetName::Query => QUERY_TOKENS,
            TargetName::Token => TOKEN_TOKENS,
            TargetName::ImportOurs | TargetName::ImportTwarc => IMPORT_TOKENS,
            TargetName::LedgerEntry => ENTRY_TOKENS,
        }
    }

    /// The target, ready to run (the importers open a scratch store).
    pub fn target(self) -> Target {
        match self {
            TargetName::ImportOurs | TargetName::ImportTwarc => Target::Import(Box::default()),
            _ => Target::Stateless(self),
        }
    }
}

const QUERY_TOKENS: &[&[u8]] = &[
    b"(",
    b")",
    b"\"",
    b"-",
    b" OR ",
    b"OR",
    b"from:",
    b"from:@",
    b"lang:",
    b"is:reply",
    b"is:",
    b"has:media",
    b"has:links",
    b"has:hashtags",
    b"-is:retweet",
    b"-is:nullcast",
    b"to:",
    b"url:",
    b"url:\"",
    b"conversation_id:",
    b"in_reply_to_tweet_id:",
    b"retweets_of_tweet_id:",
    b"place:",
    b"place_country:",
    b"point_radius:[",
    b"bounding_box:[",
    b"context:10.",
    b"list:",
    b"]",
    b"\\",
    b"\\\"",
    b"#",
    b"$",
    b" AND ",
    b" or ",
    b"1234567890",
    "😃".as_bytes(),
    "＃".as_bytes(),
    b"@",
    b":",
    b"://",
    b" ",
    b"\t",
    "\u{a0}".as_bytes(),
    "\u{2028}".as_bytes(),
    "é".as_bytes(),
    "İ".as_bytes(),
    "ß".as_bytes(),
    "\u{301}".as_bytes(),
    b"\x00",
    b"\x7f",
    "\u{feff}".as_bytes(),
    "𝕏".as_bytes(),
];

const TOKEN_TOKENS: &[&[u8]] = &[b"0", b"f", b"F", b"g", b"00000000", b"ffffffffffffffff", b"+", b"-", "é".as_bytes()];

const IMPORT_TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"\"",
    b"null",
    b"true",
    b"false",
    b"0",
    b"-1",
    b"1e400",
    b"18446744073709551615",
    b"9223372036854775808",
    b"\"\\ud800\"",
    b"\"\\u0000\"",
    b"\n",
    b"\r\n",
    b"\n---\n",
    b"\"id\":",
    b"\"author_id\":",
    b"\"handle\":",
    b"\"username\":",
    b"\"text\":",
    b"\"created_at\":",
    b"\"2024-06-01T12:00:00.000Z\"",
    b"\"9999-12-31T23:59:59Z\"",
    b"\"lang\":",
    b"\"in_reply_to\":",
    b"\"deleted_at\":",
    b"\"status\":",
    b"\"region\":",
    b"\"preferences\":",
    b"\"data\":",
    b"\"includes\":",
    b"\"users\":",
    b"\"tweets\":",
    b"\"errors\":",
    b"\"meta\":",
    b"\"referenced_tweets\":",
    b"\"replied_to\"",
    b"\"quoted\"",
    b"\"conversation_id\":",
    b"\"in_reply_to_user_id\":",
    b"\"protected\":",
    "\u{feff}".as_bytes(),
    b"\xff",
];

const ENTRY_TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"\"",
    b"null",
    b"0",
    b"-1",
    b"18446744073709551615",
    b"4294967296",
    b"\"v\":",
    b"\"time\":",
    b"\"request_id\":",
    b"\"channel\":",
    b"\"api\"",
    b"\"export\"",
    b"\"app_id\":",
    b"\"key_id\":",
    b"\"client\":",
    b"\"endpoint\":",
    b"\"purpose\":",
    b"\"display\"",
    b"\"train-genai\"",
    b"\"outcome\":",
    b"{\"status\":\"served\"}",
    b"{\"status\":\"refused\",\"reason\":\"x\"}",
    b"\"posts\":",
    b"\"authors\":",
    b"\"accounts\":",
    b"\"withheld\":",
    b"\"policy_version\":",
    b"\"AQID\"",
    b"\"_____________w\"",
    b"\"gICAgICAgICAgAE\"",
    b"\"\"",
    b"[1,2,3]",
    b"\"2024-06-01T12:00:00Z\"",
];

/// A target and the state it keeps between inputs.
pub enum Target {
    Stateless(TargetName),
    Import(Box<ImportTarget>),
}

impl Target {
    /// Runs one input: panics if a property fails, else returns the outcome's signature.
    pub fn run(&mut self, input: &[u8]) -> u64 {
        match self {
            Target::Stateless(TargetName::Query) => query(input),
            Target::Stateless(TargetName::Token) => token(input),
            Target::Stateless(TargetName::LedgerEntry) => ledger_entry(input),
            Target::Stateless(name) => unreachable!("{name:?} keeps state"),
            Target::Import(t) => t.run(input),
        }
    }
}

// -- the search query -----------------------------------------------------------------

/// No panic; a parsed query prints back (`render`) to a query that parses to
/// the same expression; every accepted query has a clause that is not negated.
fn query(input: &[u8]) -> u64 {
    let q = String::from_utf8_lossy(input);
    match parse_query(&q) {
        Err(message) => {
            assert!(!message.is_empty(), "an empty error message for {q:?}");
            error_shape(&message)
        }
        Ok(expr) => {
            let printed = render(&expr);
            if printed.chars().count() <= MAX_QUERY_LEN {
                let again = parse_query(&printed)
                    .unwrap_or_else(|e| panic!("{q:?} parsed to {expr:?}, printed as {printed:?}, which fails: {e}"));
                assert_eq!(again, expr, "{q:?} printed as {printed:?} parses differently");
            }
            fnv1a(shape(&expr).as_bytes())
        }
    }
}

/// A query that parses to `expr`: groups in parentheses wherever the
/// precedence (juxtaposition over `OR`) needs them, or where a group was.
pub fn render(expr: &SearchExpr) -> String {
    let mut out = String::new();
    render_into(expr, &mut out, Level::Or);
    out
}

#[derive(Clone, Copy, PartialEq, PartialOrd)]
enum Level {
    Or,
    Atom,
}

fn render_into(expr: &SearchExpr, out: &mut String, level: Level) {
    // A group ends with a space: a `-` just before `)` would be read as a
    // negation of nothing rather than the term `-`.
    let group = |out: &mut String, f: &dyn Fn(&mut String)| {
        out.push('(');
        f(out);
        out.push_str(" )");
    };
    match expr {
        SearchExpr::Term(w) => out.push_str(w),
        SearchExpr::Phrase(p) => {
            let _ = write!(out, "\"{}\"", p.replace('\\', "\\\\").replace('"', "\\\""));
        }
        SearchExpr::Entity(Entity::Hashtag, v) => {
            let _ = write!(out, "#{v}");
        }
        SearchExpr::Entity(Entity::Cashtag, v) => {
            let _ = write!(out, "${v}");
        }
        SearchExpr::Entity(Entity::Mention, v) => {
            let _ = write!(out, "@{v}");
        }
        SearchExpr::Entity(Entity::Url, v) => {
            let _ = write!(out, "url:\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""));
        }
        SearchExpr::Has(kind) => out.push_str(match kind {
            Entity::Hashtag => "has:hashtags",
            Entity::Cashtag => "has:cashtags",
            Entity::Mention => "has:mentions",
            Entity::Url => "has:links",
        }),
        SearchExpr::From(h) => {
            let _ = write!(out, "from:{h}");
        }
        SearchExpr::To(h) => {
            let _ = write!(out, "to:{h}");
        }
        SearchExpr::InReplyTo(id) => {
            let _ = write!(out, "in_reply_to_tweet_id:{}", id.0);
        }
        SearchExpr::Conversation(id) => {
            let _ = write!(out, "conversation_id:{}", id.0);
        }
        SearchExpr::Unheld(op) => out.push_str(op),
        SearchExpr::Lang(l) => {
            let _ = write!(out, "lang:{l}");
        }
        SearchExpr::IsReply => out.push_str("is:reply"),
        SearchExpr::Not(inner) => {
            out.push('-');
            match **inner {
                SearchExpr::Not(_) => group(out, &|out| render_into(inner, out, Level::Or)),
                _ => render_into(inner, out, Level::Atom),
            }
        }
        SearchExpr::And(parts) => {
            let body = |out: &mut String| {
                for (i, part) in parts.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    // A nested conjunction was a group: keep it one.
                    render_into(part, out, Level::Atom);
                }
            };
            if level > Level::Or { group(out, &body) } else { body(out) }
        }
        SearchExpr::Or(parts) => {
            let body = |out: &mut String| {
                for (i, part) in parts.iter().enumerate() {
                    if i > 0 {
                        out.push_str(" OR ");
                    }
                    let inner = if matches!(part, SearchExpr::And(_)) { Level::Or } else { Level::Atom };
                    render_into(part, out, inner);
                }
            };
            if level > Level::Or { group(out, &body) } else { body(out) }
        }
    }
}

/// The expression's outline: which kinds of clause it has and how deep it
/// nests (capped). Coarse on purpose: an outcome per query would keep every
/// input in the corpus.
fn shape(expr: &SearchExpr) -> String {
    fn walk(e: &SearchExpr, depth: usize, kinds: &mut u16, deepest: &mut usize) {
        *deepest = (*deepest).max(depth.min(6));
        let (bit, children): (u16, &[SearchExpr]) = match e {
            SearchExpr::Term(_) => (0, &[]),
            SearchExpr::Phrase(_) => (1, &[]),
            SearchExpr::From(_) => (2, &[]),
            SearchExpr::Lang(_) => (3, &[]),
            SearchExpr::IsReply => (4, &[]),
            SearchExpr::Not(inner) => (5, std::slice::from_ref(&**inner)),
            SearchExpr::And(parts) => (6, parts),
            SearchExpr::Or(parts) => (7, parts),
            SearchExpr::Entity(..) => (8, &[]),
            SearchExpr::Has(_) => (9, &[]),
            SearchExpr::To(_) | SearchExpr::InReplyTo(_) | SearchExpr::Conversation(_) => (10, &[]),
            SearchExpr::Unheld(_) => (11, &[]),
        };
        *kinds |= 1 << bit;
        for c in children {
            walk(c, depth + 1, kinds, deepest);
        }
    }
    let (mut kinds, mut deepest) = (0u16, 0usize);
    walk(expr, 0, &mut kinds, &mut deepest);
    format!("{kinds:012b}/{deepest}")
}

// -- the pagination token -------------------------------------------------------------

/// No panic; a token that decodes is exactly the token its id encodes to (one
/// token per id, so none is accepted that was not minted); any id round-trips.
fn token(input: &[u8]) -> u64 {
    let text = String::from_utf8_lossy(input);
    let decoded = pagination_token::decode(&text);
    if let Some(id) = decoded {
        assert_eq!(pagination_token::encode(id), text, "{text:?} decodes to {id:?}, which encodes differently");
    }
    if let Some(first) = input.first_chunk::<8>() {
        let id = PostId(u64::from_le_bytes(*first));
        let minted = pagination_token::encode(id);
        assert_eq!(pagination_token::decode(&minted), Some(id), "{id:?} minted {minted:?}");
    }
    u64::from(decoded.is_some())
}

// -- the ledger entry -----------------------------------------------------------------

/// No panic; a decoded entry encodes to bytes that decode to the same entry
/// and encode to the same bytes again (the canonical encoding is a fixed
/// point); its readable form can be made.
fn ledger_entry(input: &[u8]) -> u64 {
    match Entry::decode(input) {
        Err(e) => error_shape(&e.to_string()),
        Ok(entry) => {
            let bytes = entry.encode().unwrap_or_else(|e| panic!("{entry:?} decoded but does not encode: {e}"));
            let again = Entry::decode(&bytes).unwrap_or_else(|e| {
                panic!("{entry:?} encodes to {:?}, which does not decode: {e}", String::from_utf8_lossy(&bytes))
            });
            assert_eq!(again, entry, "the encoding {:?} decodes to another entry", String::from_utf8_lossy(&bytes));
            assert_eq!(again.encode().ok(), Some(bytes), "encoding is not a fixed point for {entry:?}");
            entry.to_readable_json().unwrap_or_else(|e| panic!("{entry:?} has no readable form: {e}"));
            let present = [
                entry.app_id.is_some(),
                entry.key_id.is_some(),
                entry.client.is_some(),
                entry.purpose.is_some(),
                !entry.posts.is_empty(),
                !entry.authors.is_empty(),
                !entry.accounts.is_empty(),
                !entry.withheld.is_empty(),
            ];
            fnv1a(&present.map(u8::from)) ^ u64::from(entry.v.min(3))
        }
    }
}

// -- the importers --------------------------------------------------------------------

/// The line that separates the accounts file from the posts file in an input.
pub const SEPARATOR: &[u8] = b"\n---\n";

/// Imports into a scratch store. An input is an accounts file and a posts
/// file, separated by a `---` line (no separator: a posts file alone).
pub struct ImportTarget {
    dir: PathBuf,
    store: Option<SqliteStore>,
    runs: u64,
}

impl ImportTarget {
    /// Inputs imported into one store before it is replaced by an empty one,
    /// so that a long run does not slow down as the store grows.
    const STORE_LIFETIME: u64 = 2_000;

    pub fn new() -> ImportTarget {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("tollgate-fuzz-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        ImportTarget { dir, store: None, runs: 0 }
    }

    fn store(&mut self) -> &SqliteStore {
        if self.runs.is_multiple_of(Self::STORE_LIFETIME) {
            self.store = None;
            let path = self.dir.join("store");
            let _ = std::fs::remove_dir_all(&path);
            // Normal: the fuzz store need not survive a power loss, and full
            // syncs would make every import wait for the disk.
            let options = SqliteOptions {
                synchronous: Synchronous::Normal,
                ledger_synchronous: Synchronous::Normal,
                read_connections: 1,
                cache_mib: 8,
                ..SqliteOptions::default()
            };
            self.store = Some(SqliteStore::open(&path, &options).unwrap_or_else(|e| panic!("scratch store: {e}")));
        }
        self.store.as_ref().expect("opened above")
    }

    /// No panic; an import that fails changes nothing (all or nothing); one
    /// that succeeds can be run again and changes nothing the second time
    /// (records are replaced by id) and counts every line.
    fn run(&mut self, input: &[u8]) -> u64 {
        let (accounts, posts) = match find(input, SEPARATOR) {
            Some(at) => (Some(&input[..at]), &input[at + SEPARATOR.len()..]),
            None => (None, input),
        };
        let accounts_path = self.dir.join("accounts.jsonl");
        let posts_path = self.dir.join("posts.jsonl");
        if let Some(a) = accounts {
            write(&accounts_path, a);
        }
        write(&posts_path, posts);
        let accounts_arg = accounts.map(|_| accounts_path.as_path());
        let store = self.store();
        let before = store.stats().expect("stats");
        let first = import(store, accounts_arg, Some(&posts_path), &mut NoProgress);
        let after = store.stats().expect("stats");
        let signature = match &first {
            Err(e) => {
                assert_eq!(before, after, "a failed import changed the store: {e}");
                import_error_shape(e)
            }
            Ok(summary) => {
                // Every line counts, blank ones too; the last may lack its newline.
                let lines = |bytes: &[u8]| {
                    let newlines = bytes.iter().filter(|&&b| b == b'\n').count() as u64;
                    newlines + u64::from(bytes.last().is_some_and(|&b| b != b'\n'))
                };
                assert_eq!(summary.lines, accounts.map_or(0, lines) + lines(posts), "lines counted");
                let second = import(store, accounts_arg, Some(&posts_path), &mut NoProgress)
                    .unwrap_or_else(|e| panic!("an import that succeeded fails when run again: {e}"));
                assert_eq!(
                    store.stats().expect("stats"),
                    after,
                    "a second import of the same files changed the counts"
                );
                assert_eq!(
                    (second.posts, second.lines),
                    (summary.posts, summary.lines),
                    "a second import of the same files read them differently"
                );
                fnv1a(&[1, u8::from(summary.accounts > 0), u8::from(summary.posts > 0), u8::from(summary.skipped > 0)])
            }
        };
        self.runs += 1;
        signature
    }
}

/// The kind of an import error: its variant, and for a line the field (digits
/// collapsed, as in `data[3].id`) and the reason's kind. The message itself
/// starts with the file name in backticks, which `error_shape` would stop at.
fn import_error_shape(e: &ImportError) -> u64 {
    match e {
        ImportError::Line { file, field, reason, .. } => {
            // The first two steps of the path only: deeper keys come from the input.
            let field: String = field.as_deref().unwrap_or("").split('.').take(2).collect::<Vec<_>>().join(".");
            let field = field.replace(|c: char| c.is_ascii_digit(), "");
            let file = file.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
            fnv1a(format!("{file}/{field}").as_bytes()) ^ error_shape(reason)
        }
        other => fnv1a(format!("{other:?}").split(['{', '(', ' ']).next().unwrap_or("").as_bytes()),
    }
}

impl Default for ImportTarget {
    fn default() -> Self {
        ImportTarget::new()
    }
}

impl Drop for ImportTarget {
    fn drop(&mut self) {
        self.store = None;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_queries_parse_back() {
        for q in [
            "cat dog OR bird",
            r#"(from:Ada OR lang:de) "open data" -is:reply"#,
            "(a b) c",
            "(a OR b) OR c",
            "a (b OR c) -(d e)",
            "x - y",
            "12:30 https://t.co/x",
            "coffee -is:retweet",
            r#"#Tea OR $AAPL.B @ada has:links -has:media lang:en"#,
            r#"to:12 in_reply_to_status_id:3 conversation_id:4 url:"x.com/\"a" -is:nullcast"#,
            r#"cat -(is:nullcast OR "say \"hi\"") place:"new \\ york" point_radius:[1  2 3km]"#,
            "note: 😃 #1",
        ] {
            let expr = parse_query(q).unwrap_or_else(|e| panic!("{q}: {e}"));
            assert_eq!(parse_query(&render(&expr)).unwrap(), expr, "{q} rendered as {}", render(&expr));
        }
    }

    #[test]
    fn a_token_that_is_not_minted_is_refused_and_a_minted_one_round_trips() {
        assert_eq!(token(b"not a token"), 0);
        let minted = pagination_token::encode(PostId(42));
        assert_eq!(token(minted.as_bytes()), 1);
    }
}
