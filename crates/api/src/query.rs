//! X's recent-search query language (docs/api.md, "The query language"):
//! keywords, emoji, "exact phrases" (with `\"` and `\\` escapes), #hashtags,
//! @mentions, $cashtags, every operator X documents for recent search,
//! juxtaposition as AND (binding tighter than `OR`, upper case only), `-`
//! before a clause or a group, and grouping with parentheses.
//!
//! Each operator becomes a [`SearchExpr`] clause with its meaning over what
//! Tollgate keeps; operators about data Tollgate does not keep (reposts,
//! quotes, media, places, lists, annotations, verification, promotion) are
//! validated as X validates them and become [`SearchExpr::Unheld`], which
//! matches no post. As on X, conjunction-required operators (`is:`, `has:`,
//! `lang:`) need a standalone clause beside them, and every error names the
//! position (1-based, in characters) where the problem is.

use tollgate_domain::PostId;
use tollgate_store::{Entity, SearchExpr};

/// The longest query accepted: X's bound for recent search at its highest
/// access level, and the `maxLength` of `query` in X's OpenAPI document
/// (version 2.167).
pub const MAX_QUERY_LEN: usize = 4096;

/// The deepest nesting of groups accepted. The expression becomes SQL and an
/// FTS5 query whose own nesting limits (1,000 and 256 levels) a deeper
/// query of 4,096 characters could exceed, and the parser recurses once per
/// level.
pub const MAX_GROUP_DEPTH: usize = 50;

/// A problem and the 1-based character position it is at.
struct QueryError {
    message: String,
    position: usize,
}

impl QueryError {
    fn new(position: usize, message: impl Into<String>) -> QueryError {
        QueryError { message: message.into(), position }
    }

    fn render(&self) -> String {
        format!("{} (at position {})", self.message, self.position)
    }
}

type Result<T> = std::result::Result<T, QueryError>;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Open,
    Close,
    Or,
    Minus,
    Word(String),
    Phrase(String),
    /// `name:value`; `quoted` if the value was a quoted string.
    Op {
        name: String,
        value: String,
        quoted: bool,
        raw: String,
    },
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    /// 1-based character position of the token's first character.
    pos: usize,
}

/// Reads a quoted string starting at `chars[open]` (a `"`): a backslash
/// takes the next character as it is. Returns the text and the index after
/// the closing quote.
fn quoted(chars: &[char], open: usize) -> Result<(String, usize)> {
    let mut text = String::new();
    let mut i = open + 1;
    while i < chars.len() {
        match chars[i] {
            '\\' if i + 1 < chars.len() => {
                text.push(chars[i + 1]);
                i += 2;
            }
            '"' => return Ok((text, i + 1)),
            c => {
                text.push(c);
                i += 1;
            }
        }
    }
    Err(QueryError::new(open + 1, "unterminated quoted phrase"))
}

fn ends_word(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '"')
}

fn lex(q: &str) -> Result<Vec<Token>> {
    let mut out = Vec::new();
    let chars: Vec<char> = q.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let pos = i + 1;
        let push = |out: &mut Vec<Token>, tok| out.push(Token { tok, pos });
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                push(&mut out, Tok::Open);
                i += 1;
            }
            ')' => {
                push(&mut out, Tok::Close);
                i += 1;
            }
            '-' if i + 1 < chars.len() && !chars[i + 1].is_whitespace() => {
                push(&mut out, Tok::Minus);
                i += 1;
            }
            '"' => {
                let (phrase, next) = quoted(&chars, i)?;
                if phrase.trim().is_empty() {
                    return Err(QueryError::new(pos, "empty quoted phrase"));
                }
                push(&mut out, Tok::Phrase(phrase));
                i = next;
            }
            _ => {
                let start = i;
                // An operator's name is letters and underscores, as all of X's are.
                let name_end = (i..chars.len()).find(|&j| !(chars[j].is_ascii_alphabetic() || chars[j] == '_'));
                if let Some(colon) = name_end.filter(|&j| j > i && chars[j] == ':') {
                    let name: String = chars[i..colon].iter().collect();
                    let (value, quoted_value, next) = match chars.get(colon + 1) {
                        Some('"') => {
                            let (v, next) = quoted(&chars, colon + 1)?;
                            (v, true, next)
                        }
                        Some('[') => {
                            let Some(close) = (colon + 1..chars.len()).find(|&j| chars[j] == ']') else {
                                return Err(QueryError::new(colon + 2, format!("`{name}:[` is not closed with `]`")));
                            };
                            (chars[colon + 1..=close].iter().collect(), false, close + 1)
                        }
                        _ => {
                            let end = (colon + 1..chars.len()).find(|&j| ends_word(chars[j])).unwrap_or(chars.len());
                            (chars[colon + 1..end].iter().collect(), false, end)
                        }
                    };
                    let raw = chars[start..next].iter().collect();
                    push(&mut out, Tok::Op { name, value, quoted: quoted_value, raw });
                    i = next;
                    continue;
                }
                while i < chars.len() && !ends_word(chars[i]) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                if word == "OR" {
                    push(&mut out, Tok::Or);
                } else if word.eq_ignore_ascii_case("or") || word.eq_ignore_ascii_case("and") {
                    let lower = word.to_ascii_lowercase();
                    let join = if lower == "or" { "a capital OR" } else { "a space" };
                    return Err(QueryError::new(
                        pos,
                        format!(
                            "Ambiguous use of {lower} as a keyword. Use {join} to logically join two clauses, \
                             or \"{lower}\" to find occurrences of {lower} in text"
                        ),
                    ));
                } else {
                    push(&mut out, Tok::Word(word));
                }
            }
        }
    }
    Ok(out)
}

/// Whether a clause may stand alone (X's "standalone" operators, keywords
/// and phrases) or needs one beside it ("conjunction-required").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Standalone,
    ConjunctionRequired,
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    /// The conjunction-required clauses as written, with their positions, in
    /// query order: the first is named if the query has no standalone one.
    conjunction_required: Vec<(usize, String)>,
    end: usize,
    /// How many groups enclose the current token.
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos).map(|t| &t.tok)
    }

    fn here(&self) -> usize {
        self.tokens.get(self.pos).map_or(self.end, |t| t.pos)
    }

    fn or_expr(&mut self, negated: bool) -> Result<SearchExpr> {
        let mut alternatives = vec![self.and_expr(negated)?];
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            alternatives.push(self.and_expr(negated)?);
        }
        Ok(if alternatives.len() == 1 { alternatives.remove(0) } else { SearchExpr::Or(alternatives) })
    }

    fn and_expr(&mut self, negated: bool) -> Result<SearchExpr> {
        let mut parts = Vec::new();
        while let Some(t) = self.peek() {
            if matches!(t, Tok::Or | Tok::Close) {
                break;
            }
            parts.push(self.unary(negated)?);
        }
        match parts.len() {
            0 => Err(match self.peek() {
                Some(Tok::Or) => QueryError::new(self.here(), "`OR` must stand between two clauses"),
                Some(_) => QueryError::new(self.here(), "unexpected `)`: a group must hold a clause"),
                None => QueryError::new(self.here(), "the query ends where a clause was expected"),
            }),
            1 => Ok(parts.remove(0)),
            _ => Ok(SearchExpr::And(parts)),
        }
    }

    fn unary(&mut self, negated: bool) -> Result<SearchExpr> {
        if self.peek() == Some(&Tok::Minus) {
            let at = self.here();
            self.pos += 1;
            if matches!(self.peek(), None | Some(Tok::Close | Tok::Or)) {
                return Err(QueryError::new(at, "`-` must be followed by a clause or a group"));
            }
            return Ok(SearchExpr::Not(Box::new(self.atom(!negated)?)));
        }
        self.atom(negated)
    }

    fn atom(&mut self, negated: bool) -> Result<SearchExpr> {
        let Some(Token { tok, pos }) = self.tokens.get(self.pos).cloned() else {
            return Err(QueryError::new(self.end, "the query ends where a clause was expected"));
        };
        self.pos += 1;
        match tok {
            Tok::Open => {
                if self.depth == MAX_GROUP_DEPTH {
                    return Err(QueryError::new(pos, format!("groups nest more than {MAX_GROUP_DEPTH} deep")));
                }
                self.depth += 1;
                let inner = self.or_expr(negated)?;
                self.depth -= 1;
                if self.peek() != Some(&Tok::Close) {
                    return Err(QueryError::new(pos, "a group opened with `(` is not closed"));
                }
                self.pos += 1;
                Ok(inner)
            }
            Tok::Phrase(p) => Ok(SearchExpr::Phrase(p)),
            Tok::Word(w) => Ok(word(w)),
            Tok::Op { name, value, quoted, raw } => {
                let (expr, kind) = operator(&name, &value, quoted, &raw, pos, negated)?;
                if kind == Kind::ConjunctionRequired {
                    self.conjunction_required.push((pos, raw));
                }
                Ok(expr)
            }
            Tok::Close => Err(QueryError::new(pos, "unexpected `)`")),
            Tok::Or => Err(QueryError::new(pos, "`OR` must stand between two clauses")),
            Tok::Minus => Err(QueryError::new(pos, "`-` must be followed by a clause or a group")),
        }
    }
}

/// A word that is no operator: a #hashtag, $cashtag or @mention if it is a
/// valid one, else a keyword (which may be an emoji).
fn word(w: String) -> SearchExpr {
    let entity = |kind: Entity, rest: &str| {
        let text = match kind {
            Entity::Mention => format!("@{rest}"),
            Entity::Hashtag => format!("#{rest}"),
            _ => format!("${rest}"),
        };
        tollgate_store::search::entities(&text, kind).first().is_some_and(|e| e == rest)
    };
    for (prefix, kind) in
        [('#', Entity::Hashtag), ('＃', Entity::Hashtag), ('@', Entity::Mention), ('$', Entity::Cashtag)]
    {
        if let Some(rest) = w.strip_prefix(prefix)
            && entity(kind, rest)
        {
            return SearchExpr::Entity(kind, rest.to_owned());
        }
    }
    SearchExpr::Term(w)
}

fn is_handle(v: &str) -> bool {
    (1..=15).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn is_numeric_id(v: &str) -> bool {
    (1..=19).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_digit())
}

/// A user operator's value: a username (with or without `@`) or a numeric id.
fn user(name: &str, value: &str, pos: usize) -> Result<String> {
    let handle = value.strip_prefix('@').unwrap_or(value);
    if is_handle(handle) || is_numeric_id(handle) {
        Ok(handle.to_owned())
    } else {
        Err(QueryError::new(pos, format!("`{name}:` needs a username or a numeric user id, not `{value}`")))
    }
}

fn post_id(name: &str, value: &str, pos: usize) -> Result<PostId> {
    if is_numeric_id(value)
        && let Ok(id) = value.parse::<PostId>()
    {
        return Ok(id);
    }
    Err(QueryError::new(pos, format!("`{name}:` needs a numeric post id, not `{value}`")))
}

/// `[n n ...]` of `count` decimal numbers, the last one possibly with a unit.
fn numbers<'v>(name: &str, value: &'v str, count: usize, pos: usize) -> Result<Vec<&'v str>> {
    let inner = value.strip_prefix('[').and_then(|v| v.strip_suffix(']'));
    let parts: Vec<&str> = inner.map(|v| v.split_whitespace().collect()).unwrap_or_default();
    if parts.len() != count {
        return Err(QueryError::new(pos, format!("`{name}:` needs {count} numbers in brackets, not `{value}`")));
    }
    Ok(parts)
}

fn coordinate(name: &str, v: &str, bound: f64, pos: usize) -> Result<f64> {
    match v.parse::<f64>() {
        Ok(x) if x.is_finite() && x.abs() <= bound => Ok(x),
        _ => Err(QueryError::new(pos, format!("`{name}:` has `{v}`, which is not a coordinate within ±{bound}"))),
    }
}

/// Validates an operator and gives its clause and whether it may stand alone.
fn operator(name: &str, value: &str, quoted: bool, raw: &str, pos: usize, negated: bool) -> Result<(SearchExpr, Kind)> {
    use Kind::{ConjunctionRequired as Conj, Standalone};
    // The clause as it is printed back: a quoted value re-quoted canonically.
    let canonical = || {
        if quoted {
            format!("{name}:\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
        } else {
            format!("{name}:{value}")
        }
    };
    let unheld = |kind| Ok((SearchExpr::Unheld(canonical()), kind));
    let needs = |what: &str| QueryError::new(pos, format!("`{name}:` needs {what}, not `{value}`"));
    match name {
        "from" => Ok((SearchExpr::From(user(name, value, pos)?), Standalone)),
        "to" => Ok((SearchExpr::To(user(name, value, pos)?), Standalone)),
        "retweets_of" => {
            user(name, value, pos)?;
            unheld(Standalone)
        }
        "url" => {
            if tollgate_store::search::url_words(value).is_empty() {
                return Err(needs("a link or a part of one"));
            }
            Ok((SearchExpr::Entity(Entity::Url, value.to_owned()), Standalone))
        }
        "in_reply_to_tweet_id" | "in_reply_to_status_id" => {
            Ok((SearchExpr::InReplyTo(post_id(name, value, pos)?), Standalone))
        }
        "conversation_id" => Ok((SearchExpr::Conversation(post_id(name, value, pos)?), Standalone)),
        "retweets_of_tweet_id" | "retweets_of_status_id" | "quotes_of_tweet_id" | "quotes_of_status_id" => {
            post_id(name, value, pos)?;
            unheld(Standalone)
        }
        "list" => {
            if !is_numeric_id(value) {
                return Err(needs("a numeric list id"));
            }
            unheld(Standalone)
        }
        "context" => {
            let valid = value
                .split_once('.')
                .is_some_and(|(domain, entity)| is_numeric_id(domain) && (entity == "*" || is_numeric_id(entity)));
            if !valid {
                return Err(needs("`domain_id.entity_id` (or `domain_id.*`)"));
            }
            unheld(Standalone)
        }
        "entity" | "place" => {
            if value.trim().is_empty() {
                return Err(needs("a name"));
            }
            unheld(Standalone)
        }
        "place_country" => {
            if value.len() != 2 || !value.bytes().all(|b| b.is_ascii_alphabetic()) {
                return Err(needs("an ISO 3166-1 alpha-2 country code such as `DE`"));
            }
            unheld(Standalone)
        }
        "point_radius" => {
            let parts = numbers(name, value, 3, pos)?;
            coordinate(name, parts[0], 180.0, pos)?;
            coordinate(name, parts[1], 90.0, pos)?;
            let radius = parts[2];
            let (number, limit) = if let Some(n) = radius.strip_suffix("km") {
                (n, 40.0)
            } else if let Some(n) = radius.strip_suffix("mi") {
                (n, 25.0)
            } else {
                return Err(QueryError::new(pos, format!("`{name}:` needs a radius in `mi` or `km`, not `{radius}`")));
            };
            match number.parse::<f64>() {
                Ok(r) if r > 0.0 && r <= limit => unheld(Standalone),
                _ => {
                    Err(QueryError::new(pos, format!("`{name}:` radius `{radius}` must be above 0 and at most 25 mi")))
                }
            }
        }
        "bounding_box" | "geo_bounding_box" => {
            let parts = numbers(name, value, 4, pos)?;
            let (west, south) = (coordinate(name, parts[0], 180.0, pos)?, coordinate(name, parts[1], 90.0, pos)?);
            let (east, north) = (coordinate(name, parts[2], 180.0, pos)?, coordinate(name, parts[3], 90.0, pos)?);
            if west > east || south > north {
                return Err(needs("`[west_long south_lat east_long north_lat]`"));
            }
            unheld(Standalone)
        }
        "lang" => {
            if value.is_empty() || value.len() > 35 || !value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return Err(needs("a BCP 47 language tag"));
            }
            Ok((SearchExpr::Lang(value.to_owned()), Conj))
        }
        "is" => match value {
            "reply" => Ok((SearchExpr::IsReply, Conj)),
            "retweet" | "quote" | "verified" => unheld(Conj),
            "nullcast" if negated => unheld(Conj),
            "nullcast" => Err(QueryError::new(pos, "`is:nullcast` can only be used negated, as `-is:nullcast`")),
            _ => Err(QueryError::new(
                pos,
                format!(
                    "Reference to invalid operator `is:{value}`; recent search knows is:retweet, is:reply, \
                     is:quote, is:verified and -is:nullcast"
                ),
            )),
        },
        "has" => match value {
            "hashtags" => Ok((SearchExpr::Has(Entity::Hashtag), Conj)),
            "cashtags" => Ok((SearchExpr::Has(Entity::Cashtag), Conj)),
            "mentions" => Ok((SearchExpr::Has(Entity::Mention), Conj)),
            "links" => Ok((SearchExpr::Has(Entity::Url), Conj)),
            "media" | "images" | "video_link" | "geo" => unheld(Conj),
            _ => Err(QueryError::new(
                pos,
                format!(
                    "Reference to invalid operator `has:{value}`; recent search knows has:hashtags, has:cashtags, \
                     has:links, has:mentions, has:media, has:images, has:video_link and has:geo"
                ),
            )),
        },
        // A colon after an ordinary word (a URL's scheme, `note:`) is part of
        // a keyword.
        _ if value.is_empty() || value.starts_with('/') => Ok((SearchExpr::Term(raw.to_owned()), Standalone)),
        _ if OPERATOR_NAMES.contains(&name.to_ascii_lowercase().as_str()) => Err(QueryError::new(
            pos,
            format!(
                "Reference to invalid operator `{name}:`; operators are written in lower case, as `{}:`",
                name.to_ascii_lowercase()
            ),
        )),
        _ => Err(QueryError::new(
            pos,
            format!(
                "Reference to invalid operator `{name}:`. Operator is not available in recent search; \
                 the operators are listed in Tollgate's API documentation"
            ),
        )),
    }
}

/// Every operator name recent search knows: X's list of search operators
/// (docs.x.com, "List of operators"), aliases included. `sample:` is X's
/// filtered stream's, not search's.
pub const OPERATOR_NAMES: &[&str] = &[
    "from",
    "to",
    "url",
    "retweets_of",
    "in_reply_to_tweet_id",
    "in_reply_to_status_id",
    "retweets_of_tweet_id",
    "retweets_of_status_id",
    "quotes_of_tweet_id",
    "quotes_of_status_id",
    "conversation_id",
    "context",
    "entity",
    "list",
    "place",
    "place_country",
    "point_radius",
    "bounding_box",
    "geo_bounding_box",
    "is",
    "has",
    "lang",
];

/// Whether the expression has a clause that is not negated in every way it
/// can match: all alternatives of an `OR`, any part of a conjunction (X:
/// "negated operators cannot be used alone").
fn positive(expr: &SearchExpr) -> bool {
    match expr {
        SearchExpr::Not(_) => false,
        SearchExpr::And(parts) => parts.iter().any(positive),
        SearchExpr::Or(parts) => parts.iter().all(positive),
        _ => true,
    }
}

/// Whether a standalone clause that is not negated appears anywhere in the
/// expression. X's rule, as its documentation states it: conjunction-required
/// operators "can only be used when at least one standalone operator is
/// included in the query" (so `has:links OR is:retweet` is refused, and
/// `cat OR has:links` is not).
fn anchored(expr: &SearchExpr) -> bool {
    match expr {
        SearchExpr::Not(_) => false,
        SearchExpr::And(parts) | SearchExpr::Or(parts) => parts.iter().any(anchored),
        SearchExpr::Has(_) | SearchExpr::Lang(_) | SearchExpr::IsReply => false,
        SearchExpr::Unheld(op) => !(op.starts_with("is:") || op.starts_with("has:")),
        _ => true,
    }
}

/// Parses a query; the error says what is wrong and at which position.
pub fn parse(q: &str) -> std::result::Result<SearchExpr, String> {
    parse_inner(q).map_err(|e| e.render())
}

fn parse_inner(q: &str) -> Result<SearchExpr> {
    if q.trim().is_empty() {
        return Err(QueryError::new(1, "the query is empty"));
    }
    let length = q.chars().count();
    if length > MAX_QUERY_LEN {
        return Err(QueryError::new(
            MAX_QUERY_LEN + 1,
            format!("the query is {length} characters long; the longest accepted is {MAX_QUERY_LEN}"),
        ));
    }
    // No post's text is searched for control characters, and the search
    // backend cannot take some (NUL ends its strings): refused by position.
    if let Some((i, c)) = q.chars().enumerate().find(|(_, c)| c.is_control() && !c.is_whitespace()) {
        return Err(QueryError::new(i + 1, format!("the query holds the control character U+{:04X}", c as u32)));
    }
    let mut parser = Parser { tokens: lex(q)?, pos: 0, conjunction_required: Vec::new(), end: length + 1, depth: 0 };
    let expr = parser.or_expr(false)?;
    if parser.pos < parser.tokens.len() {
        return Err(QueryError::new(parser.here(), "unexpected `)`"));
    }
    if !positive(&expr) {
        return Err(QueryError::new(1, "the query needs at least one clause that is not negated"));
    }
    if !anchored(&expr) {
        let (pos, op) = parser.conjunction_required.first().cloned().unwrap_or((1, String::new()));
        return Err(QueryError::new(
            pos,
            format!(
                "`{op}` is a conjunction-required operator and cannot be used by itself; add a standalone \
                 operator (a keyword, an \"exact phrase\", #hashtag, @mention, from:, ...) the query must match"
            ),
        ));
    }
    Ok(expr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use SearchExpr::*;

    fn t(s: &str) -> SearchExpr {
        Term(s.into())
    }

    fn not(e: SearchExpr) -> SearchExpr {
        Not(Box::new(e))
    }

    fn unheld(s: &str) -> SearchExpr {
        Unheld(s.into())
    }

    #[test]
    fn juxtaposition_binds_tighter_than_or() {
        assert_eq!(parse("cat dog OR bird").unwrap(), Or(vec![And(vec![t("cat"), t("dog")]), t("bird")]));
    }

    #[test]
    fn operators_phrases_groups_and_negation() {
        assert_eq!(
            parse(r#"(from:Ada OR lang:de) "open data" -is:reply"#).unwrap(),
            And(vec![Or(vec![From("Ada".into()), Lang("de".into())]), Phrase("open data".into()), not(IsReply)])
        );
        assert_eq!(parse("skiing -(snow OR day)").unwrap(), And(vec![t("skiing"), not(Or(vec![t("snow"), t("day")]))]));
    }

    #[test]
    fn tweepys_example_keeps_every_post_of_the_keyword() {
        assert_eq!(parse("coffee -is:retweet").unwrap(), And(vec![t("coffee"), not(unheld("is:retweet"))]));
    }

    #[test]
    fn every_operator_has_its_clause() {
        let cases: Vec<(&str, SearchExpr)> = vec![
            ("from:@Ada_L", From("Ada_L".into())),
            ("from:2244994945", From("2244994945".into())),
            ("to:bob", To("bob".into())),
            ("to:@12", To("12".into())),
            ("#Coffee_time", Entity(tollgate_store::Entity::Hashtag, "Coffee_time".into())),
            ("＃tea", Entity(tollgate_store::Entity::Hashtag, "tea".into())),
            ("$AAPL", Entity(tollgate_store::Entity::Cashtag, "AAPL".into())),
            ("@XDevelopers", Entity(tollgate_store::Entity::Mention, "XDevelopers".into())),
            ("url:github.com", Entity(tollgate_store::Entity::Url, "github.com".into())),
            (r#"url:"https://x.com/a b""#, Entity(tollgate_store::Entity::Url, "https://x.com/a b".into())),
            ("in_reply_to_tweet_id:12", InReplyTo(PostId(12))),
            ("in_reply_to_status_id:12", InReplyTo(PostId(12))),
            ("conversation_id:1334987486343299072", Conversation(PostId(1_334_987_486_343_299_072))),
            ("retweets_of:ada", unheld("retweets_of:ada")),
            ("retweets_of_tweet_id:5", unheld("retweets_of_tweet_id:5")),
            ("retweets_of_status_id:5", unheld("retweets_of_status_id:5")),
            ("quotes_of_tweet_id:5", unheld("quotes_of_tweet_id:5")),
            ("quotes_of_status_id:5", unheld("quotes_of_status_id:5")),
            ("context:10.799022225751871488", unheld("context:10.799022225751871488")),
            ("context:10.*", unheld("context:10.*")),
            (r#"entity:"Michael Jordan""#, unheld(r#"entity:"Michael Jordan""#)),
            ("list:123", unheld("list:123")),
            (r#"place:"new york city""#, unheld(r#"place:"new york city""#)),
            ("place:seattle", unheld("place:seattle")),
            ("place_country:DE", unheld("place_country:DE")),
            ("point_radius:[2.355128 48.861118 16km]", unheld("point_radius:[2.355128 48.861118 16km]")),
            ("bounding_box:[-105.3 39.9 -105.1 40.1]", unheld("bounding_box:[-105.3 39.9 -105.1 40.1]")),
            ("geo_bounding_box:[-105.3 39.9 -105.1 40.1]", unheld("geo_bounding_box:[-105.3 39.9 -105.1 40.1]")),
            ("😃", t("😃")),
        ];
        for (q, clause) in cases {
            assert_eq!(parse(q).unwrap(), clause, "{q}");
            assert_eq!(parse(&format!("cat {q}")).unwrap(), And(vec![t("cat"), clause]), "cat {q}");
        }
        let conjunction: Vec<(&str, SearchExpr)> = vec![
            ("is:reply", IsReply),
            ("is:retweet", unheld("is:retweet")),
            ("is:quote", unheld("is:quote")),
            ("is:verified", unheld("is:verified")),
            ("has:hashtags", Has(tollgate_store::Entity::Hashtag)),
            ("has:cashtags", Has(tollgate_store::Entity::Cashtag)),
            ("has:mentions", Has(tollgate_store::Entity::Mention)),
            ("has:links", Has(tollgate_store::Entity::Url)),
            ("has:media", unheld("has:media")),
            ("has:images", unheld("has:images")),
            ("has:video_link", unheld("has:video_link")),
            ("has:geo", unheld("has:geo")),
            ("lang:pt-BR", Lang("pt-BR".into())),
        ];
        for (q, clause) in conjunction {
            assert_eq!(parse(&format!("cat {q}")).unwrap(), And(vec![t("cat"), clause.clone()]), "cat {q}");
            let err = parse(q).unwrap_err();
            assert!(err.contains("conjunction-required") && err.ends_with("(at position 1)"), "{q}: {err}");
        }
        assert_eq!(parse("cat -is:nullcast").unwrap(), And(vec![t("cat"), not(unheld("is:nullcast"))]));
        assert_eq!(
            parse("cat -(is:nullcast OR dog)").unwrap(),
            And(vec![t("cat"), not(Or(vec![unheld("is:nullcast"), t("dog")]))])
        );
    }

    #[test]
    fn lexical_details() {
        assert_eq!(parse(r#""say \"hi\" \\ now""#).unwrap(), Phrase(r#"say "hi" \ now"#.into()));
        assert_eq!(parse("#1 $100 @ # a@b").unwrap(), And(vec![t("#1"), t("$100"), t("@"), t("#"), t("a@b")]));
        assert_eq!(parse("@abcdefghijklmnop").unwrap(), t("@abcdefghijklmnop"), "too long for a username");
        assert_eq!(parse("c# rust").unwrap(), And(vec![t("c#"), t("rust")]));
        assert_eq!(
            parse("#dog has:links OR cat").unwrap(),
            Or(vec![
                And(vec![Entity(tollgate_store::Entity::Hashtag, "dog".into()), Has(tollgate_store::Entity::Url)]),
                t("cat")
            ])
        );
    }

    #[test]
    fn a_colon_in_a_time_or_a_url_is_part_of_a_term() {
        assert_eq!(parse("meet 12:30").unwrap(), And(vec![t("meet"), t("12:30")]));
        assert_eq!(parse("https://t.co/x").unwrap(), t("https://t.co/x"));
        assert_eq!(parse("v1.2:beta").unwrap(), t("v1.2:beta"));
        assert_eq!(parse("note: this").unwrap(), And(vec![t("note:"), t("this")]));
    }

    #[test]
    fn mixed_conjunction_rules_follow_x() {
        assert!(parse("has:links OR is:retweet").unwrap_err().contains("`has:links`"));
        assert!(parse(r#""X data" has:mentions"#).is_ok());
        assert!(parse("(cat OR dog) has:media").is_ok());
        assert!(parse("cat has:media OR is:reply").is_ok(), "a standalone clause is included");
        assert!(parse("(has:media OR is:reply) lang:en").unwrap_err().contains("`has:media`"));
        assert!(parse("-cat has:media").unwrap_err().contains("(at position 6)"));
        assert!(parse("cat OR -dog").unwrap_err().contains("not negated"));
    }

    #[test]
    fn bad_queries_say_what_is_wrong_and_where() {
        let long = "a ".repeat(2049);
        for (q, needle, position) in [
            ("", "empty", 1),
            ("   ", "empty", 1),
            ("(cat", "not closed", 1),
            ("cat)", "unexpected `)`", 4),
            ("cat \"dog", "unterminated quoted phrase", 5),
            ("cat \"  \"", "empty quoted phrase", 5),
            ("-is:reply", "not negated", 1),
            ("-cat", "not negated", 1),
            ("has:media", "`has:media` is a conjunction-required operator", 1),
            ("cat OR", "ends where a clause was expected", 7),
            ("OR cat", "`OR` must stand between two clauses", 1),
            ("cat OR OR dog", "`OR` must stand between two clauses", 8),
            ("cat or dog", "Ambiguous use of or as a keyword. Use a capital OR", 5),
            (
                "Amsterdam AND AI",
                "Ambiguous use of and as a keyword. Use a space to logically join two clauses, \
                 or \"and\" to find occurrences of and in text",
                11,
            ),
            ("cat -)", "`-` must be followed", 5),
            ("cat ()", "a group must hold a clause", 6),
            ("from:", "`from:` needs a username", 1),
            ("from:a-b", "username or a numeric user id, not `a-b`", 1),
            ("cat to:@", "`to:` needs", 5),
            ("cat is:nullcast", "can only be used negated", 5),
            ("cat is:bogus", "invalid operator `is:bogus`", 5),
            ("cat has:photos", "invalid operator `has:photos`", 5),
            ("cat sample:10", "invalid operator `sample:`", 5),
            ("cat FROM:ada", "lower case, as `from:`", 5),
            ("in_reply_to_tweet_id:x1", "numeric post id", 1),
            ("conversation_id:99999999999999999999", "numeric post id", 1),
            ("place_country:Germany", "alpha-2", 1),
            ("point_radius:[2.3 48.8 30mi]", "radius `30mi`", 1),
            ("point_radius:[2.3 48.8 16]", "`mi` or `km`", 1),
            ("point_radius:[2.3 48.8", "is not closed with `]`", 14),
            ("bounding_box:[1 2 3]", "4 numbers", 1),
            ("bounding_box:[200 2 3 4]", "coordinate", 1),
            ("context:abc", "domain_id.entity_id", 1),
            ("list:abc", "numeric list id", 1),
            ("url:://", "a link or a part of one", 1),
            ("cat lang:e_n", "BCP 47", 5),
            ("a\0b", "U+0000", 2),
            ("cat \u{7f}", "U+007F", 5),
            (long.as_str(), "4098 characters long; the longest accepted is 4096", 4097),
        ] {
            let err = parse(q).unwrap_err();
            assert!(err.contains(needle), "{q:?}: {err}");
            assert!(err.ends_with(&format!("(at position {position})")), "{q:?}: {err}");
        }
        assert!(parse(&"a ".repeat(2048)).is_ok(), "4,096 characters are accepted");
        let nested = |depth: usize| format!("{}a{}", "x -(".repeat(depth), ")".repeat(depth));
        assert!(parse(&nested(MAX_GROUP_DEPTH)).is_ok());
        let err = parse(&nested(MAX_GROUP_DEPTH + 1)).unwrap_err();
        let at = 4 * MAX_GROUP_DEPTH + 4;
        assert!(err.ends_with(&format!("groups nest more than 50 deep (at position {at})")), "{err}");
    }
}
