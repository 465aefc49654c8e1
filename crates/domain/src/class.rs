//! Content classes: everything about a post, or about an account's profile,
//! that a decision may depend on, packed into one small integer.
//!
//! A decision is a function of (app, purpose, item facts), and item facts take
//! few values, so the policy engine can ask Cedar once per (app, purpose, class)
//! and apply the answer to every item of that class. The packing is lossless:
//! `ContentClass::facts` gives back exactly the `ItemFacts` it was made from,
//! and the Cedar resource entity is built from `ItemFacts` alone.
//!
//! Posts and profiles have classes of their own (posts below `POST_CLASSES`,
//! profiles above), never shared: a profile is not "a post without `no_ai`",
//! because a policy can tell the two resource types apart, so giving a profile
//! a post's class would make its cached answer depend on which was asked first.

use crate::{Account, AccountStatus, Category, ConsentDefaults, Post, RegionGroup, Scope, Timestamp};

/// What a decision may know about a post's author, or about the owner of a
/// profile: the same facts, so that one rule decides both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AuthorFacts {
    /// Effective consent, `[category][scope]`, after defaults and the minor rule.
    pub consent: [[bool; 2]; 3],
    pub protected: bool,
    pub minor: bool,
    pub region_group: RegionGroup,
    pub status: AccountStatus,
}

/// The number of bits `AuthorFacts` packs into: six consent bits, protected,
/// minor, the status (two bits) and the region group.
const AUTHOR_BITS: u32 = 11;

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

    /// The class of this account's profile: decided on its owner's facts,
    /// by the same rules as the owner's posts.
    pub fn profile_class(&self) -> ContentClass {
        ContentClass((ContentClass::POST_CLASSES as u16) | self.bits())
    }

    /// The facts in the low `AUTHOR_BITS` bits.
    fn bits(&self) -> u16 {
        let mut bits = 0u16;
        for c in Category::ALL {
            for s in Scope::ALL {
                if self.consent[c.index()][s.index()] {
                    bits |= 1 << (c.index() * 2 + s.index());
                }
            }
        }
        bits |= u16::from(self.protected) << 6;
        bits |= u16::from(self.minor) << 7;
        bits |= (self.status as u16) << 8;
        bits |= (self.region_group as u16) << 10;
        bits
    }

    /// The inverse of `bits`; bits above `AUTHOR_BITS` are ignored.
    fn from_bits(b: u16) -> AuthorFacts {
        let mut consent = [[false; 2]; 3];
        for c in Category::ALL {
            for s in Scope::ALL {
                consent[c.index()][s.index()] = b & (1 << (c.index() * 2 + s.index())) != 0;
            }
        }
        AuthorFacts {
            consent,
            protected: b & (1 << 6) != 0,
            minor: b & (1 << 7) != 0,
            status: AccountStatus::ALL[usize::from((b >> 8) & 3)],
            region_group: if b & (1 << 10) != 0 { RegionGroup::Restricted } else { RegionGroup::Default },
        }
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
        let bits =
            self.author.bits() | u16::from(self.no_ai) << AUTHOR_BITS | u16::from(self.deleted) << (AUTHOR_BITS + 1);
        ContentClass(bits)
    }
}

/// What a decision is about: a post, or an account's profile (X's user
/// object: name, handle, description), which is decided on its owner's
/// `AuthorFacts` alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ItemFacts {
    Post(PostFacts),
    Profile(AuthorFacts),
}

impl ItemFacts {
    pub fn class(&self) -> ContentClass {
        match self {
            ItemFacts::Post(post) => post.class(),
            ItemFacts::Profile(owner) => owner.profile_class(),
        }
    }

    /// The author of the post, or the owner of the profile.
    pub fn author(&self) -> &AuthorFacts {
        match self {
            ItemFacts::Post(post) => &post.author,
            ItemFacts::Profile(owner) => owner,
        }
    }
}

impl From<PostFacts> for ItemFacts {
    fn from(post: PostFacts) -> ItemFacts {
        ItemFacts::Post(post)
    }
}

impl From<&PostFacts> for ItemFacts {
    fn from(post: &PostFacts) -> ItemFacts {
        ItemFacts::Post(*post)
    }
}

impl From<&ItemFacts> for ItemFacts {
    fn from(item: &ItemFacts) -> ItemFacts {
        *item
    }
}

/// A packed `ItemFacts`; see the module documentation. Post classes are
/// `0..POST_CLASSES` (the author's bits, then `no_ai` and `deleted`); profile
/// classes are `POST_CLASSES..COUNT` (the owner's bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentClass(u16);

impl ContentClass {
    /// The number of post classes: 13 bits.
    pub const POST_CLASSES: usize = 1 << (AUTHOR_BITS + 2);
    /// The number of profile classes: 11 bits.
    pub const PROFILE_CLASSES: usize = 1 << AUTHOR_BITS;
    /// The number of distinct classes; `index()` is always below it.
    pub const COUNT: usize = Self::POST_CLASSES + Self::PROFILE_CLASSES;

    pub fn index(self) -> usize {
        usize::from(self.0)
    }

    pub fn from_index(index: usize) -> Option<ContentClass> {
        (index < Self::COUNT).then_some(ContentClass(index as u16))
    }

    /// Whether this is the class of a profile rather than of a post.
    pub fn is_profile(self) -> bool {
        self.index() >= Self::POST_CLASSES
    }

    pub fn facts(self) -> ItemFacts {
        let b = self.0;
        let author = AuthorFacts::from_bits(b);
        if self.is_profile() {
            ItemFacts::Profile(author)
        } else {
            ItemFacts::Post(PostFacts {
                author,
                no_ai: b & (1 << AUTHOR_BITS) != 0,
                deleted: b & (1 << (AUTHOR_BITS + 1)) != 0,
            })
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
        assert_eq!(ContentClass::from_index(ContentClass::COUNT), None);
    }

    #[test]
    fn a_profile_never_shares_a_class_with_a_post() {
        for i in 0..ContentClass::PROFILE_CLASSES {
            let owner = *ContentClass::from_index(ContentClass::POST_CLASSES + i).unwrap().facts().author();
            let post = PostFacts { author: owner, no_ai: false, deleted: false };
            assert!(owner.profile_class().is_profile());
            assert!(!post.class().is_profile());
            assert_eq!(ItemFacts::Profile(owner).author(), ItemFacts::Post(post).author());
        }
    }
}
