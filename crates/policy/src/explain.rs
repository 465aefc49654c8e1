//! Explanations: which policies decided, and why, in a form an operator can
//! read (`Display`) or a client can parse (`to_json`). This is what
//! `tollgate policy explain` prints.

use std::fmt;

use serde_json::json;
use tollgate_domain::{Decision, Reason};

/// The outcome of one decision and the policies that determined it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    pub decision: Decision,
    /// `allowed`, or the reason the post is withheld.
    pub reason: Reason,
    /// For a withheld post: every forbid that applied, the deciding one first
    /// (by precedence, then id); empty for `not_permitted`. For an allowed
    /// post: the permits that applied.
    pub determining: Vec<PolicyRef>,
    /// Cedar's evaluation errors, if any (the decision is then `policy_error`).
    pub errors: Vec<String>,
}

/// One policy, as written and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRef {
    pub id: String,
    /// `permit` or `forbid`.
    pub effect: &'static str,
    /// The `@reason` code, if the policy has one.
    pub reason: Option<String>,
    /// The file name, or `built-in:<file>` for the built-in pack.
    pub source: String,
    /// The 1-based line of the policy in `source`; 0 if unknown.
    pub line: usize,
    /// The policy text, annotations included.
    pub text: String,
}

impl PolicyRef {
    /// `source:line`, or just `source` when the line is unknown.
    pub fn location(&self) -> String {
        if self.line > 0 { format!("{}:{}", self.source, self.line) } else { self.source.clone() }
    }
}

impl Explanation {
    /// The explanation as JSON:
    /// `{"decision": "allow"|"withhold", "reason", "determining": [...], "errors": [...]}`.
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "decision": if self.decision.is_allowed() { "allow" } else { "withhold" },
            "reason": self.reason.as_str(),
            "determining": self.determining.iter().map(|p| json!({
                "id": p.id,
                "effect": p.effect,
                "reason": p.reason,
                "source": p.source,
                "line": p.line,
                "text": p.text,
            })).collect::<Vec<_>>(),
            "errors": self.errors,
        })
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.decision {
            Decision::Allow => writeln!(f, "decision: allow")?,
            Decision::Withhold(r) => writeln!(f, "decision: withhold ({r})")?,
        }
        writeln!(f, "reason: {}", self.reason)?;
        if self.determining.is_empty() {
            if self.decision.is_allowed() || !self.errors.is_empty() {
                writeln!(f, "determining policies: none")?;
            } else {
                writeln!(f, "determining policies: none (no policy permits this request)")?;
            }
        } else {
            writeln!(f, "determining policies:")?;
            for (i, p) in self.determining.iter().enumerate() {
                let deciding = if i == 0 && !self.decision.is_allowed() { ", deciding" } else { "" };
                match &p.reason {
                    Some(r) => writeln!(f, "  - {} ({}, reason {r}{deciding}) at {}", p.id, p.effect, p.location())?,
                    None => writeln!(f, "  - {} ({}{deciding}) at {}", p.id, p.effect, p.location())?,
                }
                for line in p.text.lines() {
                    writeln!(f, "      {line}")?;
                }
            }
        }
        if !self.errors.is_empty() {
            writeln!(f, "errors:")?;
            for e in &self.errors {
                writeln!(f, "  - {e}")?;
            }
        }
        Ok(())
    }
}
