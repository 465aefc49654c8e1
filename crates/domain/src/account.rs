//! Accounts (X: users) and the facts about them that decisions depend on.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{AccountId, AiPreferences, ParseError, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountStatus {
    #[default]
    Active,
    Suspended,
    Deactivated,
    Deleted,
}

impl AccountStatus {
    pub const ALL: [AccountStatus; 4] =
        [AccountStatus::Active, AccountStatus::Suspended, AccountStatus::Deactivated, AccountStatus::Deleted];

    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Active => "active",
            AccountStatus::Suspended => "suspended",
            AccountStatus::Deactivated => "deactivated",
            AccountStatus::Deleted => "deleted",
        }
    }
}

impl fmt::Display for AccountStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AccountStatus {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        AccountStatus::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| ParseError::new("account status", s, "one of active, suspended, deactivated, deleted"))
    }
}

/// A platform account. This is also the JSON-lines import format (see
/// `docs/import.md`); optional fields have the defaults shown there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    pub id: AccountId,
    /// The `@handle`, without the `@`: 1 to 15 letters, digits or underscores.
    pub handle: String,
    pub display_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub created_at: Timestamp,
    /// ISO 3166-1 alpha-2, upper case.
    pub region: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_year: Option<u16>,
    /// Set by the platform where it knows (age assurance); overrides `birth_year`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_minor: Option<bool>,
    #[serde(default)]
    pub protected: bool,
    #[serde(default)]
    pub status: AccountStatus,
    #[serde(default)]
    pub ai_preferences: AiPreferences,
}

impl Account {
    /// Whether the author counts as a minor at `now`. With only a birth year the
    /// answer errs on the safe side: an author is an adult only once every birth
    /// date in that year is `adult_age` years past.
    pub fn is_minor_at(&self, now: Timestamp, adult_age: u16) -> bool {
        if let Some(flag) = self.is_minor {
            return flag;
        }
        match self.birth_year {
            Some(year) => now.year() - i32::from(year) <= i32::from(adult_age),
            None => false,
        }
    }

    /// Checks the fields a store must not accept; returns the field and why.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let h = &self.handle;
        if h.is_empty() || h.len() > 15 || !h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(("handle", format!("`{h}` must be 1 to 15 letters, digits or underscores")));
        }
        if self.region.len() != 2 || !self.region.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(("region", format!("`{}` must be an ISO 3166-1 alpha-2 code such as `DE`", self.region)));
        }
        if self.display_name.chars().count() > 50 {
            return Err(("display_name", "must be at most 50 characters".into()));
        }
        if let Some(y) = self.birth_year
            && !(1900..=2100).contains(&y)
        {
            return Err(("birth_year", format!("`{y}` must be a year between 1900 and 2100")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account() -> Account {
        Account {
            id: AccountId(1),
            handle: "ada".into(),
            display_name: "Ada".into(),
            description: String::new(),
            created_at: Timestamp::from_millis(0),
            region: "US".into(),
            birth_year: None,
            is_minor: None,
            protected: false,
            status: AccountStatus::Active,
            ai_preferences: AiPreferences::default(),
        }
    }

    #[test]
    fn birth_year_errs_on_the_side_of_minor() {
        let now = Timestamp::parse("2026-06-01T00:00:00Z").unwrap();
        let mut a = account();
        a.birth_year = Some(2008);
        assert!(a.is_minor_at(now, 18));
        a.birth_year = Some(2007);
        assert!(!a.is_minor_at(now, 18));
        a.is_minor = Some(true);
        assert!(a.is_minor_at(now, 18));
    }

    #[test]
    fn validation_names_the_field() {
        let mut a = account();
        a.handle = "not a handle".into();
        assert_eq!(a.validate().unwrap_err().0, "handle");
        let mut a = account();
        a.region = "Germany".into();
        assert_eq!(a.validate().unwrap_err().0, "region");
    }
}
