//! The search expression a store evaluates. The API parses X's query syntax
//! into it; every backend evaluates it with the same meaning.
//!
//! Part of that meaning is read from a post's text: its hashtags, cashtags,
//! mentions and links (X's "entities"). Tollgate does not store entities, so
//! the rules that find them live here, once, for every backend to use (the
//! SQLite backend calls them from SQL; a backend that cannot call Rust from
//! its queries derives columns with them when it writes a post).

use tollgate_domain::PostId;

/// A boolean search over posts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchExpr {
    /// A keyword, matched case-insensitively (and diacritics folded) against
    /// the post's words. A keyword with no letter or digit but some symbol
    /// beyond ASCII (an emoji) is matched as written, anywhere in the text.
    Term(String),
    /// Words that must appear together in this order (symbols only: as written).
    Phrase(String),
    /// Posts whose text holds this entity: `Entity(Hashtag, "coffee")` is
    /// X's `#coffee`. Exact (not tokenized) and case-insensitive, except
    /// [`Entity::Url`], whose value is a run of words within a link.
    Entity(Entity, String),
    /// Posts whose text holds at least one entity of this kind (`has:`).
    Has(Entity),
    /// Posts by the account with this handle (case-insensitive) or, if the
    /// value is all digits, with this account id.
    From(String),
    /// Replies to the account with this handle or (all digits) id.
    To(String),
    /// Direct replies to this post (`in_reply_to_tweet_id:`).
    InReplyTo(PostId),
    /// Posts of the conversation this post started: the post itself and
    /// every post whose conversation id is this one (`conversation_id:`).
    Conversation(PostId),
    /// Posts whose `lang` is this tag.
    Lang(String),
    /// Posts that reply to another post.
    IsReply,
    /// An operator about something Tollgate does not keep (reposts, quotes,
    /// media, places, lists, annotations, verification, promotion): it
    /// matches no post. The operator as written, for messages and printing.
    Unheld(String),
    Not(Box<SearchExpr>),
    And(Vec<SearchExpr>),
    Or(Vec<SearchExpr>),
}

/// A kind of entity read from a post's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Entity {
    Hashtag,
    Cashtag,
    Mention,
    Url,
}

impl Entity {
    pub const ALL: [Entity; 4] = [Entity::Hashtag, Entity::Cashtag, Entity::Mention, Entity::Url];

    /// A stable small number, for backends that pass the kind as a parameter.
    pub fn code(self) -> i64 {
        match self {
            Entity::Hashtag => 1,
            Entity::Cashtag => 2,
            Entity::Mention => 3,
            Entity::Url => 4,
        }
    }

    pub fn from_code(code: i64) -> Option<Entity> {
        Entity::ALL.into_iter().find(|e| e.code() == code)
    }
}

/// Whether `text` holds an entity of `kind` matching `value` (any, if
/// `value` is `None`).
pub fn text_has(kind: Entity, value: Option<&str>, text: &str) -> bool {
    let wanted = value.map(|v| match kind {
        Entity::Url => url_words(v),
        _ => vec![fold(v)],
    });
    let mut found = false;
    for_each_entity(text, kind, &mut |entity| {
        found = match &wanted {
            None => true,
            Some(w) if kind == Entity::Url => !w.is_empty() && contains_run(&url_words(entity), w),
            Some(w) => fold(entity) == w[0],
        };
        found
    });
    found
}

/// The entities of `kind` in `text`, as written (without `#`, `$` or `@`).
pub fn entities(text: &str, kind: Entity) -> Vec<String> {
    let mut out = Vec::new();
    for_each_entity(text, kind, &mut |e| {
        out.push(e.to_owned());
        false
    });
    out
}

/// An entity as it is compared: lower case, and Latin letters without their
/// diacritics (X's search matches `#cumpleaños` and `#cumpleanos` alike).
/// Only Latin: the full-text index folds no other script, and an entity's
/// words must stay words the index finds.
pub fn fold(s: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    use unicode_normalization::char::is_combining_mark;
    let mut out = String::with_capacity(s.len());
    let mut base_is_latin = false;
    for c in s.nfd() {
        if is_combining_mark(c) {
            if !base_is_latin {
                out.push(c);
            }
            continue;
        }
        base_is_latin = c.is_ascii_alphabetic();
        out.extend(c.to_lowercase());
    }
    out.nfc().collect()
}

/// The lower-case words of a link (or of a part of one): runs of letters
/// and digits. `url:` matches a run of these within a link's.
pub fn url_words(s: &str) -> Vec<String> {
    s.split(|c: char| !is_url_word_char(c)).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

fn contains_run(hay: &[String], needle: &[String]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn is_url_word_char(c: char) -> bool {
    c.is_alphanumeric() || is_private_use(c)
}

fn is_private_use(c: char) -> bool {
    matches!(c as u32, 0xE000..=0xF8FF | 0xF_0000..=0xF_FFFD | 0x10_0000..=0x10_FFFD)
}

/// A character that continues a hashtag, and that no entity may directly
/// follow. Private-use characters count, as the full-text tokenizers
/// Tollgate uses treat them as part of a word.
fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || is_private_use(c)
}

/// Calls `f` with each entity of `kind`, as written, until it returns true.
fn for_each_entity(text: &str, kind: Entity, f: &mut dyn FnMut(&str) -> bool) {
    // Most texts hold no entity of a kind: they are answered without
    // decoding them (the SQL function runs once per candidate post).
    let possible = match kind {
        Entity::Hashtag => text.contains(['#', '＃']),
        Entity::Cashtag => text.contains('$'),
        Entity::Mention => text.contains(['@', '＠']),
        Entity::Url => text.contains("://"),
    };
    if !possible {
        return;
    }
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let at = |i: usize| chars.get(i).map(|&(_, c)| c);
    let byte = |i: usize| chars.get(i).map_or(text.len(), |&(b, _)| b);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i].1;
        let prev = i.checked_sub(1).and_then(at);
        let found: Option<(usize, usize)> = match kind {
            Entity::Hashtag if matches!(c, '#' | '＃') && !prev.is_some_and(|p| is_word(p) || p == '&') => {
                let end = (i + 1..chars.len()).find(|&j| !is_word(chars[j].1)).unwrap_or(chars.len());
                let run = &chars[i + 1..end];
                let valid = run.iter().any(|&(_, c)| c.is_alphabetic()) && !matches!(at(end), Some('#' | '＃'));
                valid.then_some((i + 1, end))
            }
            Entity::Cashtag if c == '$' && prev.is_none_or(char::is_whitespace) => {
                let letters = |from: usize| (from..chars.len()).find(|&j| !chars[j].1.is_ascii_alphabetic());
                let end = letters(i + 1).unwrap_or(chars.len());
                let len = end - i - 1;
                let mut stop = end;
                if matches!(at(end), Some('.' | '_')) {
                    let suffix_end = letters(end + 1).unwrap_or(chars.len());
                    if (1..=2).contains(&(suffix_end - end - 1)) && !at(suffix_end).is_some_and(is_word) {
                        stop = suffix_end;
                    }
                }
                let valid = (1..=6).contains(&len) && !at(stop).is_some_and(|n| is_word(n) || n == '$');
                valid.then_some((i + 1, stop))
            }
            Entity::Mention
                if matches!(c, '@' | '＠')
                    && !prev
                        .is_some_and(|p| is_word(p) || matches!(p, '!' | '@' | '#' | '$' | '%' | '&' | '*' | '＠')) =>
            {
                let end = (i + 1..chars.len())
                    .find(|&j| !(chars[j].1.is_ascii_alphanumeric() || chars[j].1 == '_'))
                    .unwrap_or(chars.len());
                let valid = (1..=15).contains(&(end - i - 1))
                    && !at(end).is_some_and(|n| is_word(n) || matches!(n, '@' | '＠'));
                valid.then_some((i + 1, end))
            }
            Entity::Url if !prev.is_some_and(is_word) && starts_with_scheme(&text[byte(i)..]) => {
                let mut end = (i..chars.len())
                    .find(|&j| chars[j].1.is_whitespace() || matches!(chars[j].1, '"' | '<' | '>'))
                    .unwrap_or(chars.len());
                while end > i && matches!(chars[end - 1].1, '.' | ',' | ';' | ':' | '!' | '?' | '\'' | ')' | ']' | '}')
                {
                    end -= 1;
                }
                let scheme = if text.as_bytes()[byte(i) + 4] == b's' { 8 } else { 7 };
                (end > i + scheme).then_some((i, end))
            }
            _ => None,
        };
        match found {
            Some((start, end)) => {
                if f(&text[byte(start)..byte(end)]) {
                    return;
                }
                i = end.max(i + 1);
            }
            None => i += 1,
        }
    }
}

fn starts_with_scheme(s: &str) -> bool {
    let b = s.as_bytes();
    let prefix = |p: &str| b.len() >= p.len() && b[..p.len()].eq_ignore_ascii_case(p.as_bytes());
    prefix("http://") || prefix("https://")
}

/// Whether a keyword is matched as written rather than by words: it has no
/// letter or digit, and some character beyond ASCII that is not a space
/// (an emoji, a symbol).
pub fn is_symbolic(term: &str) -> bool {
    !term.chars().any(char::is_alphanumeric) && term.chars().any(|c| !c.is_ascii() && !c.is_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashtags_cashtags_mentions_and_links_are_read_from_text() {
        let text =
            "Hi @Ada_L and @x! #Coffee_time #1 a#b $AAPL $BRK.A $100 mail a@b.c https://t.co/Ab?x=1. (http://x.org)";
        assert_eq!(entities(text, Entity::Hashtag), vec!["Coffee_time"]);
        assert_eq!(entities(text, Entity::Cashtag), vec!["AAPL", "BRK.A"]);
        assert_eq!(entities(text, Entity::Mention), vec!["Ada_L", "x"]);
        assert_eq!(entities(text, Entity::Url), vec!["https://t.co/Ab?x=1", "http://x.org"]);
        assert!(text_has(Entity::Hashtag, Some("coffee_TIME"), text));
        assert!(text_has(Entity::Hashtag, Some("cumpleanos"), "#Cumpleaños"));
        assert!(text_has(Entity::Hashtag, Some("CUMPLEAÑOS"), "#cumpleanos"));
        assert!(!text_has(Entity::Hashtag, Some("ειμαι"), "#είμαι"), "Latin letters only");
        assert!(!text_has(Entity::Hashtag, Some("coffee"), text), "exact, not tokenized");
        assert!(text_has(Entity::Url, Some("t.co"), text));
        assert!(text_has(Entity::Url, Some("T.CO/ab"), text));
        assert!(!text_has(Entity::Url, Some("co ab x 2"), text));
        assert!(text_has(Entity::Mention, None, text));
        assert!(!text_has(Entity::Mention, None, "no one@here"));
        assert!(!text_has(Entity::Mention, Some("abcdefghijklmnop"), "@abcdefghijklmnop is too long"));
    }

    #[test]
    fn symbolic_keywords() {
        assert!(is_symbolic("😃"));
        assert!(!is_symbolic("!!!"));
        assert!(!is_symbolic("a😃"));
    }
}
