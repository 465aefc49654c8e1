//! What a write changed, as events: the rules every backend uses to turn an
//! old and a new value into the change log's entries, so that two backends
//! given the same writes write the same log.

use tollgate_domain::{
    Account, AccountId, AccountStatus, AiPreferences, Category, EventChange, Post, PostId, Scope, Timestamp,
};

/// The events of replacing `old` (`None`: a new account) with `new`.
pub fn account_changes(old: Option<&Account>, new: &Account) -> Vec<EventChange> {
    let Some(old) = old else { return vec![EventChange::AccountCreated { account: new.clone() }] };
    let mut out = Vec::new();
    fn profile(a: &Account) -> (&str, &str, &str, Timestamp, &str, Option<u16>, Option<bool>) {
        (&a.handle, &a.display_name, &a.description, a.created_at, &a.region, a.birth_year, a.is_minor)
    }
    if profile(old) != profile(new) {
        out.push(EventChange::AccountProfileChanged { account: new.clone() });
    }
    if old.protected != new.protected {
        out.push(if new.protected {
            EventChange::AccountProtected { account_id: new.id }
        } else {
            EventChange::AccountUnprotected { account_id: new.id }
        });
    }
    if let Some(e) = status_change(new, old.status, new.status) {
        out.push(e);
    }
    out.extend(preference_changes(new, &old.ai_preferences, &new.ai_preferences));
    out
}

pub fn status_change(account: &Account, old: AccountStatus, new: AccountStatus) -> Option<EventChange> {
    (old != new).then_some(EventChange::AccountStatusChanged { account_id: account.id, old: Some(old), new })
}

/// One event per category and scope whose value changed. A value set again
/// to what it was (only its time changes) is no event.
pub fn preference_changes(account: &Account, old: &AiPreferences, new: &AiPreferences) -> Vec<EventChange> {
    let mut out = Vec::new();
    for category in Category::ALL {
        for scope in Scope::ALL {
            let (was, now) = (old.get(category, scope).value, new.get(category, scope).value);
            if was != now {
                out.push(EventChange::AiPreferenceChanged {
                    account_id: account.id,
                    category,
                    scope,
                    old: Some(was),
                    new: now,
                });
            }
        }
    }
    out
}

/// The events of replacing `old` (`None`: a new post) with `new`.
pub fn post_changes(old: Option<&Post>, new: &Post) -> Vec<EventChange> {
    let Some(old) = old else { return vec![EventChange::PostCreated { post: new.clone() }] };
    let mut out = Vec::new();
    type Content<'a> = (AccountId, Timestamp, &'a str, &'a str, Option<PostId>, Option<AccountId>, Option<PostId>);
    fn content(p: &Post) -> Content<'_> {
        (p.author_id, p.created_at, &p.text, &p.lang, p.in_reply_to, p.in_reply_to_user_id, p.conversation_id)
    }
    if content(old) != content(new) {
        out.push(EventChange::PostEdited { post: new.clone() });
    }
    let (post_id, author_id) = (new.id, Some(new.author_id));
    if old.no_ai != new.no_ai {
        out.push(if new.no_ai {
            EventChange::PostNoAiSet { post_id, author_id }
        } else {
            EventChange::PostNoAiCleared { post_id, author_id }
        });
    }
    match (old.deleted_at, new.deleted_at) {
        (None, Some(_)) => out.push(EventChange::PostDeleted { post_id, author_id }),
        (Some(_), None) => out.push(EventChange::PostRestored { post_id, author_id }),
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use tollgate_domain::Tri;

    use super::*;

    fn post() -> Post {
        Post {
            id: PostId(10),
            author_id: AccountId(1),
            created_at: Timestamp::from_millis(0),
            text: "hi".into(),
            lang: "en".into(),
            in_reply_to: None,
            in_reply_to_user_id: None,
            conversation_id: None,
            no_ai: false,
            deleted_at: None,
        }
    }

    #[test]
    fn a_post_rewritten_unchanged_is_no_event() {
        assert!(post_changes(Some(&post()), &post()).is_empty());
        assert!(matches!(post_changes(None, &post())[..], [EventChange::PostCreated { .. }]));
    }

    #[test]
    fn each_changed_aspect_of_a_post_is_its_own_event() {
        let new = Post { text: "edited".into(), no_ai: true, deleted_at: Some(Timestamp::from_millis(5)), ..post() };
        let types: Vec<_> = post_changes(Some(&post()), &new).iter().map(EventChange::type_name).collect();
        assert_eq!(types, ["post_edited", "post_no_ai_set", "post_deleted"]);
    }

    #[test]
    fn only_changed_preference_values_are_events() {
        let account = Account {
            id: AccountId(1),
            handle: "a".into(),
            display_name: "A".into(),
            description: String::new(),
            created_at: Timestamp::from_millis(0),
            region: "US".into(),
            birth_year: None,
            is_minor: None,
            protected: false,
            status: AccountStatus::Active,
            ai_preferences: AiPreferences::default(),
        };
        let mut new = account.clone();
        new.ai_preferences.set(Category::AiInput, Scope::FirstParty, Tri::Unset, Timestamp::from_millis(9));
        new.ai_preferences.set(Category::TrainAi, Scope::ThirdParties, Tri::Deny, Timestamp::from_millis(9));
        new.protected = true;
        let changes = account_changes(Some(&account), &new);
        assert_eq!(
            changes,
            [
                EventChange::AccountProtected { account_id: AccountId(1) },
                EventChange::AiPreferenceChanged {
                    account_id: AccountId(1),
                    category: Category::TrainAi,
                    scope: Scope::ThirdParties,
                    old: Some(Tri::Unset),
                    new: Tri::Deny
                }
            ]
        );
    }
}
