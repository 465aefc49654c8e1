//! The purpose vocabulary: what a recipient will do with posts. The labels are
//! the ones in the project's documentation (`docs/policy.md`); the mapping to
//! aipref, RSL and the AI-preference categories lives here and nowhere else.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ParseError;

/// What a recipient will do with posts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Purpose {
    Display,
    Analytics,
    Moderation,
    Research,
    Search,
    AiInput,
    TrainAi,
    TrainGenai,
    Archive,
}

impl Purpose {
    pub const ALL: [Purpose; 9] = [
        Purpose::Display,
        Purpose::Analytics,
        Purpose::Moderation,
        Purpose::Research,
        Purpose::Search,
        Purpose::AiInput,
        Purpose::TrainAi,
        Purpose::TrainGenai,
        Purpose::Archive,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Display => "display",
            Purpose::Analytics => "analytics",
            Purpose::Moderation => "moderation",
            Purpose::Research => "research",
            Purpose::Search => "search",
            Purpose::AiInput => "ai-input",
            Purpose::TrainAi => "train-ai",
            Purpose::TrainGenai => "train-genai",
            Purpose::Archive => "archive",
        }
    }

    /// The AI-preference category an author's consent is asked under, if any.
    /// Only these purposes are "AI purposes".
    pub fn category(self) -> Option<Category> {
        match self {
            Purpose::AiInput => Some(Category::AiInput),
            Purpose::TrainAi => Some(Category::TrainAi),
            Purpose::TrainGenai => Some(Category::TrainGenai),
            _ => None,
        }
    }

    pub fn is_ai(self) -> bool {
        self.category().is_some()
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// Parses a comma-separated list such as `display,train-ai`.
    pub fn parse_list(s: &str) -> Result<Vec<Purpose>, ParseError> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let p: Purpose = part.parse()?;
            if !out.contains(&p) {
                out.push(p);
            }
        }
        Ok(out)
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Purpose {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        Purpose::ALL.into_iter().find(|p| p.as_str() == s).ok_or_else(|| {
            ParseError::new("purpose", s, format!("one of {}", Purpose::ALL.map(Purpose::as_str).join(", ")))
        })
    }
}

/// One term of an outside vocabulary of uses (aipref's `Content-Usage`,
/// Cloudflare's `Content-Signal`, RSL's `usage`), and the Tollgate purposes
/// it covers. A term says "yes" only when every purpose it covers is granted:
/// `train-ai` covers generative training too, so it is "no" as soon as either
/// kind of training is withheld.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageTerm {
    pub label: &'static str,
    pub purposes: &'static [Purpose],
}

/// The IETF aipref vocabulary (draft-ietf-aipref-vocab), as written in
/// `Content-Usage` lines of robots.txt and the `Content-Usage` header. The
/// draft has no category for AI input (retrieval, grounding) yet, so
/// `ai-input` appears only in the other two vocabularies.
pub const AIPREF_TERMS: [UsageTerm; 3] = [
    UsageTerm { label: "train-ai", purposes: &[Purpose::TrainAi, Purpose::TrainGenai] },
    UsageTerm { label: "train-genai", purposes: &[Purpose::TrainGenai] },
    UsageTerm { label: "search", purposes: &[Purpose::Search] },
];

/// Cloudflare's Content Signals (`Content-Signal:` in robots.txt).
pub const CONTENT_SIGNAL_TERMS: [UsageTerm; 3] = [
    UsageTerm { label: "search", purposes: &[Purpose::Search] },
    UsageTerm { label: "ai-input", purposes: &[Purpose::AiInput] },
    UsageTerm { label: "ai-train", purposes: &[Purpose::TrainAi, Purpose::TrainGenai] },
];

/// RSL 1.0's usage vocabulary (`<permits type="usage">`, `<prohibits type="usage">`).
pub const RSL_USAGE_TERMS: [UsageTerm; 3] = [
    UsageTerm { label: "search", purposes: &[Purpose::Search] },
    UsageTerm { label: "ai-input", purposes: &[Purpose::AiInput] },
    UsageTerm { label: "ai-train", purposes: &[Purpose::TrainAi, Purpose::TrainGenai] },
];

/// An AI-preference category, as a user sets it in their settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    TrainGenai,
    TrainAi,
    AiInput,
}

impl Category {
    pub const ALL: [Category; 3] = [Category::TrainGenai, Category::TrainAi, Category::AiInput];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::TrainGenai => "train-genai",
            Category::TrainAi => "train-ai",
            Category::AiInput => "ai-input",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Category {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        Category::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| ParseError::new("category", s, "one of train-genai, train-ai, ai-input"))
    }
}

/// Whose use a preference governs: the platform's own, or everybody else's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    FirstParty,
    ThirdParties,
}

impl Scope {
    pub const ALL: [Scope; 2] = [Scope::FirstParty, Scope::ThirdParties];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::FirstParty => "first-party",
            Scope::ThirdParties => "third-parties",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        Scope::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| ParseError::new("scope", s, "one of first-party, third-parties"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purposes_round_trip_and_only_three_are_ai() {
        for p in Purpose::ALL {
            assert_eq!(p.as_str().parse::<Purpose>().unwrap(), p);
            assert_eq!(serde_json::to_string(&p).unwrap(), format!("\"{p}\""));
        }
        let ai: Vec<_> = Purpose::ALL.into_iter().filter(|p| p.is_ai()).collect();
        assert_eq!(ai, [Purpose::AiInput, Purpose::TrainAi, Purpose::TrainGenai]);
    }

    #[test]
    fn every_ai_purpose_is_covered_by_the_outside_vocabularies_and_only_ai_or_search_terms_exist() {
        for table in [&AIPREF_TERMS[..], &CONTENT_SIGNAL_TERMS[..], &RSL_USAGE_TERMS[..]] {
            for term in table {
                assert!(term.purposes.iter().all(|p| p.is_ai() || *p == Purpose::Search), "{}", term.label);
            }
        }
        for p in [Purpose::TrainAi, Purpose::TrainGenai] {
            assert!(AIPREF_TERMS.iter().any(|t| t.purposes.contains(&p)), "{p}");
        }
        for p in [Purpose::AiInput, Purpose::TrainAi, Purpose::TrainGenai] {
            assert!(CONTENT_SIGNAL_TERMS.iter().any(|t| t.purposes.contains(&p)), "{p}");
            assert!(RSL_USAGE_TERMS.iter().any(|t| t.purposes.contains(&p)), "{p}");
        }
    }

    #[test]
    fn unknown_purpose_error_lists_the_vocabulary() {
        let err = "training".parse::<Purpose>().unwrap_err().to_string();
        assert!(err.contains("`training`") && err.contains("train-genai"), "{err}");
    }
}
