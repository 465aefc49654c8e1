//! The search expression a store evaluates. The API parses X's query syntax
//! into it; every backend evaluates it with the same meaning.

/// A boolean search over posts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchExpr {
    /// A word, matched case-insensitively against the post's words.
    Term(String),
    /// Words that must appear together in this order.
    Phrase(String),
    /// Posts by the account with this handle (case-insensitive).
    From(String),
    /// Posts whose `lang` is this tag.
    Lang(String),
    /// Posts that reply to another post.
    IsReply,
    Not(Box<SearchExpr>),
    And(Vec<SearchExpr>),
    Or(Vec<SearchExpr>),
}
