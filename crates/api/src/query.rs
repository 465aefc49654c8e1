//! The subset of X's search query language Tollgate understands: terms, quoted
//! phrases, `from:`, `lang:`, `is:reply` (usually negated), `OR`, negation with
//! `-` and grouping with parentheses. Juxtaposition is AND and binds tighter
//! than OR, as on X. Anything else is refused with the position of the problem.

use tollgate_store::SearchExpr;

/// The longest query accepted, as on X's basic tier.
pub const MAX_QUERY_LEN: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    Or,
    Minus,
    Word(String),
    Phrase(String),
}

fn lex(q: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = q.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Token::Open);
                i += 1;
            }
            ')' => {
                out.push(Token::Close);
                i += 1;
            }
            '-' if i + 1 < chars.len() && !chars[i + 1].is_whitespace() => {
                out.push(Token::Minus);
                i += 1;
            }
            '"' => {
                let start = i + 1;
                let Some(len) = chars[start..].iter().position(|&c| c == '"') else {
                    return Err(format!("unterminated quoted phrase starting at position {}", i + 1));
                };
                let phrase: String = chars[start..start + len].iter().collect();
                if phrase.trim().is_empty() {
                    return Err(format!("empty quoted phrase at position {}", i + 1));
                }
                out.push(Token::Phrase(phrase));
                i = start + len + 1;
            }
            _ => {
                let start = i;
                while i < chars.len() && !chars[i].is_whitespace() && !matches!(chars[i], '(' | ')' | '"') {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                out.push(if word == "OR" { Token::Or } else { Token::Word(word) });
            }
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn or_expr(&mut self) -> Result<SearchExpr, String> {
        let mut alternatives = vec![self.and_expr()?];
        while self.peek() == Some(&Token::Or) {
            self.pos += 1;
            alternatives.push(self.and_expr()?);
        }
        Ok(if alternatives.len() == 1 { alternatives.remove(0) } else { SearchExpr::Or(alternatives) })
    }

    fn and_expr(&mut self) -> Result<SearchExpr, String> {
        let mut parts = Vec::new();
        while let Some(t) = self.peek() {
            if matches!(t, Token::Or | Token::Close) {
                break;
            }
            parts.push(self.unary()?);
        }
        match parts.len() {
            0 => Err("expected a term, a phrase, an operator or a group".into()),
            1 => Ok(parts.remove(0)),
            _ => Ok(SearchExpr::And(parts)),
        }
    }

    fn unary(&mut self) -> Result<SearchExpr, String> {
        if self.peek() == Some(&Token::Minus) {
            self.pos += 1;
            return Ok(SearchExpr::Not(Box::new(self.atom()?)));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<SearchExpr, String> {
        let token = self.tokens.get(self.pos).cloned().ok_or("the query ends where a term was expected")?;
        self.pos += 1;
        match token {
            Token::Open => {
                let inner = self.or_expr()?;
                if self.peek() != Some(&Token::Close) {
                    return Err("a group opened with `(` is not closed".into());
                }
                self.pos += 1;
                Ok(inner)
            }
            Token::Phrase(p) => Ok(SearchExpr::Phrase(p)),
            Token::Word(w) => operator_or_term(&w),
            Token::Close => Err("unexpected `)`".into()),
            Token::Or => Err("`OR` must stand between two clauses".into()),
            Token::Minus => Err("`-` must be followed by a clause".into()),
        }
    }
}

fn operator_or_term(word: &str) -> Result<SearchExpr, String> {
    let Some((op, value)) = word.split_once(':') else { return Ok(SearchExpr::Term(word.to_owned())) };
    match op {
        "from" => {
            let handle = value.strip_prefix('@').unwrap_or(value);
            if handle.is_empty() || handle.len() > 15 || !handle.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                return Err(format!("`from:` needs a username, not `{value}`"));
            }
            Ok(SearchExpr::From(handle.to_owned()))
        }
        "lang" => {
            if value.is_empty() || value.len() > 35 || !value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return Err(format!("`lang:` needs a BCP 47 language tag, not `{value}`"));
            }
            Ok(SearchExpr::Lang(value.to_owned()))
        }
        "is" if value == "reply" => Ok(SearchExpr::IsReply),
        "is" => Err(format!("`is:{value}` is not supported; supported: is:reply")),
        // A colon inside an ordinary word (a time, a URL) is just a term: an
        // operator's name is letters and underscores, as all of X's are.
        _ if op.is_empty()
            || value.is_empty()
            || value.starts_with('/')
            || !op.bytes().all(|b| b.is_ascii_alphabetic() || b == b'_') =>
        {
            Ok(SearchExpr::Term(word.to_owned()))
        }
        _ => Err(format!("the operator `{op}:` is not supported; supported: from:, lang:, is:reply")),
    }
}

/// Whether the expression has at least one clause that is not negated, which
/// X requires (a query cannot match "everything except").
fn has_positive(expr: &SearchExpr) -> bool {
    match expr {
        SearchExpr::Not(_) => false,
        SearchExpr::And(parts) => parts.iter().any(has_positive),
        SearchExpr::Or(parts) => parts.iter().all(has_positive),
        _ => true,
    }
}

/// Parses a query; the error says what is wrong and where.
pub fn parse(q: &str) -> Result<SearchExpr, String> {
    if q.trim().is_empty() {
        return Err("the query is empty".into());
    }
    if q.chars().count() > MAX_QUERY_LEN {
        return Err(format!("the query is longer than {MAX_QUERY_LEN} characters"));
    }
    // No post's text is searched for control characters, and the search
    // backend cannot take some (NUL ends its strings): refused by position.
    if let Some((i, c)) = q.chars().enumerate().find(|(_, c)| c.is_control() && !c.is_whitespace()) {
        return Err(format!("the query holds the control character U+{:04X} at position {}", c as u32, i + 1));
    }
    let mut parser = Parser { tokens: lex(q)?, pos: 0 };
    let expr = parser.or_expr()?;
    if parser.pos < parser.tokens.len() {
        return Err("unexpected `)`".into());
    }
    if !has_positive(&expr) {
        return Err("the query needs at least one clause that is not negated".into());
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

    #[test]
    fn juxtaposition_binds_tighter_than_or() {
        assert_eq!(parse("cat dog OR bird").unwrap(), Or(vec![And(vec![t("cat"), t("dog")]), t("bird")]));
    }

    #[test]
    fn operators_phrases_groups_and_negation() {
        assert_eq!(
            parse(r#"(from:Ada OR lang:de) "open data" -is:reply"#).unwrap(),
            And(vec![
                Or(vec![From("Ada".into()), Lang("de".into())]),
                Phrase("open data".into()),
                Not(Box::new(IsReply)),
            ])
        );
    }

    #[test]
    fn a_colon_in_a_time_or_a_url_is_part_of_a_term() {
        assert_eq!(parse("meet 12:30").unwrap(), And(vec![t("meet"), t("12:30")]));
        assert_eq!(parse("https://t.co/x").unwrap(), t("https://t.co/x"));
        assert_eq!(parse("v1.2:beta").unwrap(), t("v1.2:beta"));
        assert!(parse("place_country:DE").unwrap_err().contains("`place_country:`"));
    }

    #[test]
    fn bad_queries_say_what_is_wrong() {
        for (q, needle) in [
            ("", "empty"),
            ("(cat", "not closed"),
            ("cat)", "unexpected"),
            ("\"cat", "unterminated"),
            ("-is:reply", "not negated"),
            ("has:media", "`has:`"),
            ("cat OR", "expected"),
            ("from:", "username"),
            ("a\0b", "U+0000 at position 2"),
            ("cat \u{7f}", "U+007F"),
        ] {
            let err = parse(q).unwrap_err();
            assert!(err.contains(needle), "{q}: {err}");
        }
    }
}
