//! AI preferences: per category and scope, a tri-state value an author sets,
//! and the defaults that stand in for "unset".
//!
//! Resolution (`ConsentDefaults::effective`) follows aipref's combining rule:
//! where sources disagree, the most restrictive wins. Minors are always denied;
//! an explicit author choice beats the regional default.

use serde::{Deserialize, Serialize};

use crate::{Category, ParseError, Scope, Timestamp};

/// An author's answer to one question: allow, deny, or no answer yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tri {
    Allow,
    Deny,
    #[default]
    Unset,
}

impl std::str::FromStr for Tri {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        match s {
            "allow" => Ok(Tri::Allow),
            "deny" => Ok(Tri::Deny),
            "unset" => Ok(Tri::Unset),
            _ => Err(ParseError::new("preference value", s, "one of allow, deny, unset")),
        }
    }
}

impl Tri {
    pub fn as_str(self) -> &'static str {
        match self {
            Tri::Allow => "allow",
            Tri::Deny => "deny",
            Tri::Unset => "unset",
        }
    }
}

/// One preference value and when the author last set it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Preference {
    pub value: Tri,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Timestamp>,
}

/// An author's AI preferences, indexed `[category][scope]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AiPreferences(pub [[Preference; 2]; 3]);

impl AiPreferences {
    pub fn get(&self, category: Category, scope: Scope) -> Preference {
        self.0[category.index()][scope.index()]
    }

    pub fn set(&mut self, category: Category, scope: Scope, value: Tri, at: Timestamp) {
        self.0[category.index()][scope.index()] = Preference { value, updated_at: Some(at) };
    }

    pub fn apply(&mut self, change: &PreferenceChange, at: Timestamp) {
        self.set(change.category, change.scope, change.value, at);
    }
}

/// The wire form is `{"train-genai": {"first-party": {"value": "deny", ...}, ...}, ...}`,
/// leaving out unset values.
impl Serialize for AiPreferences {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut outer = s.serialize_map(None)?;
        for c in Category::ALL {
            let set: std::collections::BTreeMap<&str, Preference> = Scope::ALL
                .into_iter()
                .map(|sc| (sc.as_str(), self.get(c, sc)))
                .filter(|(_, p)| p.value != Tri::Unset || p.updated_at.is_some())
                .collect();
            if !set.is_empty() {
                outer.serialize_entry(c.as_str(), &set)?;
            }
        }
        outer.end()
    }
}

impl<'de> Deserialize<'de> for AiPreferences {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        /// Each value may be a bare `"deny"` or `{"value": "deny", "updated_at": ...}`.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Value {
            Bare(Tri),
            Full(Preference),
        }
        let raw: std::collections::BTreeMap<String, std::collections::BTreeMap<String, Value>> =
            Deserialize::deserialize(d)?;
        let mut prefs = AiPreferences::default();
        for (cat, scopes) in raw {
            let c: Category = cat.parse().map_err(D::Error::custom)?;
            for (scope, value) in scopes {
                let sc: Scope = scope.parse().map_err(D::Error::custom)?;
                prefs.0[c.index()][sc.index()] = match value {
                    Value::Bare(value) => Preference { value, updated_at: None },
                    Value::Full(p) => p,
                };
            }
        }
        Ok(prefs)
    }
}

/// One change an author makes in their settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreferenceChange {
    pub category: Category,
    pub scope: Scope,
    pub value: Tri,
}

/// What "unset" means, by region group and age; from configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentDefaults {
    /// ISO 3166-1 alpha-2 codes whose residents default to
    /// `restricted_default`: out of the box the EU, the EEA and the UK.
    pub restricted_regions: RegionSet,
    /// The default for unset preferences inside `restricted_regions`.
    pub restricted_default: Tri,
    /// The default for unset preferences everywhere else.
    pub default: Tri,
    /// The age from which an author with a birth year is an adult.
    pub adult_age: u16,
}

/// The EU member states, the EEA states outside the EU, and the United Kingdom.
pub const EU_EEA_UK: [&str; 31] = [
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV", "LT", "LU", "MT",
    "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO", "GB",
];

impl Default for ConsentDefaults {
    fn default() -> Self {
        ConsentDefaults {
            restricted_regions: RegionSet::of(EU_EEA_UK).expect("the built-in regions are two-letter codes"),
            restricted_default: Tri::Deny,
            default: Tri::Allow,
            adult_age: 18,
        }
    }
}

/// A set of ISO 3166-1 alpha-2 codes, one bit per code: every post of a page
/// asks whether its author's region is in it.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct RegionSet([u64; 11]);

impl RegionSet {
    /// The set of `codes`, each two ASCII letters in either case; the first
    /// code that is not is the error.
    pub fn of<'a>(codes: impl IntoIterator<Item = &'a str>) -> Result<RegionSet, &'a str> {
        let mut set = RegionSet::default();
        for code in codes {
            let bit = Self::bit(code).ok_or(code)?;
            set.0[bit / 64] |= 1 << (bit % 64);
        }
        Ok(set)
    }

    /// Whether `code` (two ASCII letters, either case) is in the set; any
    /// other text never is.
    pub fn contains(&self, code: &str) -> bool {
        Self::bit(code).is_some_and(|bit| self.0[bit / 64] & (1 << (bit % 64)) != 0)
    }

    /// The codes in the set, upper case, in alphabetical order.
    pub fn codes(&self) -> impl Iterator<Item = String> + '_ {
        (0..26 * 26).filter(|bit| self.0[bit / 64] & (1 << (bit % 64)) != 0).map(|bit| {
            let letter = |i: usize| char::from(b'A' + i as u8);
            [letter(bit / 26), letter(bit % 26)].iter().collect()
        })
    }

    fn bit(code: &str) -> Option<usize> {
        let letter = |b: u8| b.is_ascii_alphabetic().then(|| usize::from(b.to_ascii_uppercase() - b'A'));
        match code.as_bytes() {
            &[a, b] => Some(letter(a)? * 26 + letter(b)?),
            _ => None,
        }
    }
}

impl std::fmt::Debug for RegionSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.codes()).finish()
    }
}

/// The region groups decisions may depend on. Index 0 is "everywhere else".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RegionGroup {
    Default = 0,
    Restricted = 1,
}

impl RegionGroup {
    pub fn as_str(self) -> &'static str {
        match self {
            RegionGroup::Default => "default",
            RegionGroup::Restricted => "restricted",
        }
    }
}

impl ConsentDefaults {
    pub fn region_group(&self, region: &str) -> RegionGroup {
        if self.restricted_regions.contains(region) { RegionGroup::Restricted } else { RegionGroup::Default }
    }

    /// The value that stands in for an unset preference of an adult in `group`.
    pub fn default_for(&self, group: RegionGroup) -> Tri {
        match group {
            RegionGroup::Restricted => self.restricted_default,
            RegionGroup::Default => self.default,
        }
    }

    /// Whether the author's posts may be used under `category` by `scope`:
    /// minors never; otherwise the author's explicit choice, or the regional
    /// default where they made none (an unset default counts as deny).
    pub fn effective(
        &self,
        prefs: &AiPreferences,
        group: RegionGroup,
        minor: bool,
        category: Category,
        scope: Scope,
    ) -> bool {
        if minor {
            return false;
        }
        match prefs.get(category, scope).value {
            Tri::Allow => true,
            Tri::Deny => false,
            Tri::Unset => self.default_for(group) == Tri::Allow,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_region_and_age_and_explicit_choice_wins() {
        let d = ConsentDefaults::default();
        let mut p = AiPreferences::default();
        let (c, s) = (Category::TrainGenai, Scope::ThirdParties);
        assert!(d.effective(&p, d.region_group("US"), false, c, s));
        assert!(!d.effective(&p, d.region_group("de"), false, c, s));
        assert!(!d.effective(&p, d.region_group("US"), true, c, s));
        p.set(c, s, Tri::Deny, Timestamp::from_millis(1));
        assert!(!d.effective(&p, d.region_group("US"), false, c, s));
        p.set(c, s, Tri::Allow, Timestamp::from_millis(2));
        assert!(d.effective(&p, d.region_group("FR"), false, c, s));
        assert!(!d.effective(&p, d.region_group("FR"), true, c, s), "minors are always denied");
    }

    #[test]
    fn a_region_set_holds_two_letter_codes_in_either_case_and_nothing_else() {
        let set = RegionSet::of(["de", "FR", "Gb"]).unwrap();
        for code in ["DE", "de", "fr", "GB", "gB"] {
            assert!(set.contains(code), "{code}");
        }
        for code in ["US", "D", "DEU", "", "d\u{e9}", "@E", "[E"] {
            assert!(!set.contains(code), "{code}");
        }
        assert_eq!(set.codes().collect::<Vec<_>>(), ["DE", "FR", "GB"]);
        assert_eq!(format!("{set:?}"), r#"{"DE", "FR", "GB"}"#);
        assert_eq!(RegionSet::of(["DE", "D1", "US"]), Err("D1"));
        assert_eq!(RegionSet::of(["ZZ", "AA"]).unwrap().codes().collect::<Vec<_>>(), ["AA", "ZZ"]);
        let eu = ConsentDefaults::default().restricted_regions;
        assert_eq!(eu.codes().count(), EU_EEA_UK.len());
        assert!(EU_EEA_UK.iter().all(|c| eu.contains(c)));
    }

    #[test]
    fn preferences_round_trip_through_json_and_accept_bare_values() {
        let mut p = AiPreferences::default();
        p.set(Category::AiInput, Scope::FirstParty, Tri::Deny, Timestamp::from_millis(5));
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<AiPreferences>(&json).unwrap(), p);
        let bare: AiPreferences = serde_json::from_str(r#"{"train-ai":{"third-parties":"deny"}}"#).unwrap();
        assert_eq!(bare.get(Category::TrainAi, Scope::ThirdParties).value, Tri::Deny);
        assert!(serde_json::from_str::<AiPreferences>(r#"{"train":{"third-parties":"deny"}}"#).is_err());
    }
}
