//! Decisions and their reason codes.
//!
//! A reason code is the `@reason` annotation of the policy that decided. The
//! built-in pack uses the constants below; an operator's own policies may add
//! codes of their own, which are interned once when the policy is loaded so
//! that a `Decision` stays `Copy` on the hot path.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Mutex, OnceLock};

use serde::{Serialize, Serializer};

/// Why a post was withheld (or `allowed`), as a stable snake_case code.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reason(&'static str);

impl Reason {
    pub const ALLOWED: Reason = Reason("allowed");
    pub const DELETED: Reason = Reason("deleted");
    pub const AUTHOR_SUSPENDED: Reason = Reason("author_suspended");
    pub const AUTHOR_DEACTIVATED: Reason = Reason("author_deactivated");
    pub const APP_SUSPENDED: Reason = Reason("app_suspended");
    pub const AGREEMENT_NOT_ACCEPTED: Reason = Reason("agreement_not_accepted");
    pub const PURPOSE_NOT_DECLARED: Reason = Reason("purpose_not_declared");
    pub const AGREEMENT_PROHIBITS: Reason = Reason("agreement_prohibits");
    pub const NOT_LICENSED: Reason = Reason("not_licensed");
    pub const PROTECTED_ACCOUNT: Reason = Reason("protected_account");
    pub const MINOR: Reason = Reason("minor");
    pub const POST_NO_AI: Reason = Reason("post_no_ai");
    pub const AUTHOR_OPTED_OUT: Reason = Reason("author_opted_out");
    /// No policy permitted the request (Cedar's default deny).
    pub const NOT_PERMITTED: Reason = Reason("not_permitted");

    pub const BUILT_IN: [Reason; 14] = [
        Reason::ALLOWED,
        Reason::DELETED,
        Reason::AUTHOR_SUSPENDED,
        Reason::AUTHOR_DEACTIVATED,
        Reason::APP_SUSPENDED,
        Reason::AGREEMENT_NOT_ACCEPTED,
        Reason::PURPOSE_NOT_DECLARED,
        Reason::AGREEMENT_PROHIBITS,
        Reason::NOT_LICENSED,
        Reason::PROTECTED_ACCOUNT,
        Reason::MINOR,
        Reason::POST_NO_AI,
        Reason::AUTHOR_OPTED_OUT,
        Reason::NOT_PERMITTED,
    ];

    /// The reason with this code, interning a new code the first time it is seen.
    /// Codes are few (one per policy annotation), so interning never grows unbounded.
    pub fn intern(code: &str) -> Reason {
        if let Some(r) = Reason::BUILT_IN.iter().find(|r| r.0 == code) {
            return *r;
        }
        static CODES: OnceLock<Mutex<BTreeSet<&'static str>>> = OnceLock::new();
        let mut codes = CODES.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
        if let Some(existing) = codes.get(code) {
            return Reason(existing);
        }
        let leaked: &'static str = Box::leak(code.to_owned().into_boxed_str());
        codes.insert(leaked);
        Reason(leaked)
    }

    pub fn as_str(self) -> &'static str {
        self.0
    }

    /// Whether a code is well formed: snake_case ASCII, 1 to 64 characters.
    pub fn is_valid_code(code: &str) -> bool {
        !code.is_empty()
            && code.len() <= 64
            && code.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    }
}

impl fmt::Debug for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl Serialize for Reason {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

/// The outcome of asking the policy whether a post may go to a recipient for a purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    Allow,
    Withhold(Reason),
}

impl Decision {
    pub fn is_allowed(self) -> bool {
        matches!(self, Decision::Allow)
    }

    pub fn reason(self) -> Reason {
        match self {
            Decision::Allow => Reason::ALLOWED,
            Decision::Withhold(r) => r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_returns_the_same_code() {
        assert_eq!(Reason::intern("minor"), Reason::MINOR);
        let a = Reason::intern("embargoed_region");
        let b = Reason::intern("embargoed_region");
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "embargoed_region");
        assert!(Reason::is_valid_code("author_opted_out"));
        assert!(!Reason::is_valid_code("Author Opted Out"));
    }
}
