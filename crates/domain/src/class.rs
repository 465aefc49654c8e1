//! Content classes: everything about a post that a decision may depend on,
//! packed into 13 bits.
//!
//! A decision is a function of (app, purpose, post facts), and post facts take
//! few values, so the policy engine can ask Cedar once per (app, purpose, class)
//! and apply the answer to every post of that class. The packing is lossless:
//! `ContentClass::facts` gives back exactly the `PostFacts` it was made from, and
//! the Cedar resource entity is built from `PostFacts` alone.

use crate::{Account, AccountStatus, Category, ConsentDefaults, Post, RegionGroup, Scope, Timestamp};

/// What a decision may know about a post's author.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AuthorFacts {
    /// Effective consent, `[category][scope]`, after defaults and the minor rule.
    pub consent: [[bool; 2]; 3],
    pub protected: bool,
    pub minor: bool,
    pub region_group: RegionGroup,
    pub status: AccountStatus,
}

impl AuthorFacts {
    pub fn of(account: &Account, defaults: &ConsentDefaults, now: Timestamp) -> AuthorFacts {
        let minor = account.is_minor_at(now, defaults.adult_age);
        let region_group = defaults.region_group(&account.region);
        let mut consent = [[false; 2]; 3];
        for c in Category::ALL {
            for s in Scope::ALL {
                consent[c.index()][s.index()] = defaults.effective(&account.ai_preferences, region_group, minor, c, s);
            }
        }
        AuthorFacts { consent, protected: account.protected, minor, region_group, status: account.status }
    }

    pub fn consents(&self, category: Category, scope: Scope) -> bool {
        self.consent[category.index()][scope.index()]
    }
}

/// What a decision may know about a post.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PostFacts {
    pub author: AuthorFacts,
    pub no_ai: bool,
    pub deleted: bool,
}

impl PostFacts {
    pub fn of(post: &Post, author: AuthorFacts) -> PostFacts {
        PostFacts { author, no_ai: post.no_ai, deleted: post.is_deleted() }
    }

    pub fn class(&self) -> ContentClass {
        let mut bits = 0u16;
        for c in Category::ALL {
            for s in Scope::ALL {
                if self.author.consent[c.index()][s.index()] {
                    bits |= 1 << (c.index() * 2 + s.index());
                }
            }
        }
        bits |= u16::from(self.author.protected) << 6;
        bits |= u16::from(self.author.minor) << 7;
        bits |= u16::from(self.no_ai) << 8;
        bits |= u16::from(self.deleted) << 9;
        bits |= (self.author.status as u16) << 10;
        bits |= (self.author.region_group as u16) << 12;
        ContentClass(bits)
    }
}

/// A packed `PostFacts`; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentClass(u16);

impl ContentClass {
    /// The number of distinct classes; `index()` is always below it.
    pub const COUNT: usize = 1 << 13;

    pub fn index(self) -> usize {
        usize::from(self.0)
    }

    pub fn from_index(index: usize) -> Option<ContentClass> {
        (index < Self::COUNT).then_some(ContentClass(index as u16))
    }

    pub fn facts(self) -> PostFacts {
        let b = self.0;
        let mut consent = [[false; 2]; 3];
        for c in Category::ALL {
            for s in Scope::ALL {
                consent[c.index()][s.index()] = b & (1 << (c.index() * 2 + s.index())) != 0;
            }
        }
        PostFacts {
            author: AuthorFacts {
                consent,
                protected: b & (1 << 6) != 0,
                minor: b & (1 << 7) != 0,
                region_group: if b & (1 << 12) != 0 { RegionGroup::Restricted } else { RegionGroup::Default },
                status: AccountStatus::ALL[usize::from((b >> 10) & 3)],
            },
            no_ai: b & (1 << 8) != 0,
            deleted: b & (1 << 9) != 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_round_trips_through_its_facts() {
        for i in 0..ContentClass::COUNT {
            let class = ContentClass::from_index(i).unwrap();
            assert_eq!(class.facts().class(), class, "class {i}");
        }
    }
}
