//! Profiles go through the policy: user lookups and `includes.users` release
//! an account's profile only where the policy would release the account's
//! posts for the same app and purpose, name a withheld lookup with its reason,
//! and state usage terms that hold for every released profile.

mod common;

use axum::http::{HeaderMap, StatusCode};
use common::{Fixture, account, post, unlimited};
use serde_json::{Value, json};
use tollgate_domain::{AccountId, Category, Purpose, Scope, Tier, Timestamp, Tri};

/// ada (US, nothing set: consents), bert (DE, nothing set: the regional
/// default denies), carl (US, denied third-party train-genai), minnie (a
/// minor), pat (protected). ada's posts 106 to 109 reply to bert, carl,
/// minnie and pat.
fn fixture() -> Fixture {
    let mut carl = account(3, "carl", "US");
    carl.ai_preferences.set(Category::TrainGenai, Scope::ThirdParties, Tri::Deny, Timestamp::from_millis(1));
    let mut minnie = account(4, "minnie", "US");
    minnie.is_minor = Some(true);
    let mut pat = account(5, "pat", "US");
    pat.protected = true;
    let accounts = [account(1, "ada", "US"), account(2, "bert", "DE"), carl, minnie, pat];
    let mut posts: Vec<_> = (1..=5).map(|author| post(author, 1, &format!("first post of {author}"))).collect();
    for (n, to) in (6..=9).zip(2..=5) {
        let mut reply = post(1, n, &format!("ada replies to {to}"));
        reply.in_reply_to = Some(tollgate_domain::PostId(to * 100 + 1));
        reply.in_reply_to_user_id = Some(AccountId(to));
        posts.push(reply);
    }
    common::fixture("profiles", &accounts, &posts, unlimited())
}

impl Fixture {
    /// A partner licensed to train generative models: every request it makes
    /// for `train-genai` goes ahead, and each item is decided on its own.
    fn trainer(&self) -> String {
        self.new_app("trainer", Tier::Partner, &[Purpose::Display, Purpose::TrainGenai], &[Purpose::TrainGenai]).1
    }

    async fn get(&self, uri: &str, token: &str, purpose: &str) -> (HeaderMap, Value) {
        let (s, h, v) = self.call("GET", uri, token, Some(purpose), None).await;
        assert_eq!(s, StatusCode::OK, "{uri}: {v}");
        (h, v)
    }

    fn last_entry(&self) -> tollgate_ledger::Entry {
        tollgate_ledger::Entry::decode(&self.ledger_db.ledger_last().unwrap().unwrap().body).unwrap()
    }
}

fn usernames(users: &Value) -> Vec<&str> {
    users.as_array().map(|a| a.iter().map(|u| u["username"].as_str().unwrap()).collect()).unwrap_or_default()
}

/// `(resource_id, reason)` of every withheld entry in `errors`.
fn withheld(v: &Value) -> Vec<(&str, &str)> {
    v["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|e| e["title"] == "Authorization Error")
                .map(|e| (e["resource_id"].as_str().unwrap(), e["reason"].as_str().unwrap()))
                .collect()
        })
        .unwrap_or_default()
}

fn accounts(entry: &tollgate_ledger::Entry) -> Vec<u64> {
    entry.accounts.iter().map(|a| a.0).collect()
}

#[tokio::test]
async fn minor_and_opted_out_profiles_are_withheld_from_train_genai_lookups() {
    let f = fixture();
    let trainer = f.trainer();

    let (h, v) = f.get("/2/users?ids=1,2,3,4&user.fields=description", &trainer, "train-genai").await;
    assert_eq!(usernames(&v["data"]), ["ada"], "{v}");
    assert_eq!(
        withheld(&v),
        [("2", "author_opted_out"), ("3", "author_opted_out"), ("4", "minor")],
        "the regional default, an explicit opt-out and the minor rule, as for their posts"
    );
    assert_eq!(h["content-usage"], "train-ai=y", "everything released was decided for train-genai");
    assert_eq!(accounts(&f.last_entry()), [1], "the ledger names only the released profile");

    let (_, v) = f.get("/2/users/4", &trainer, "train-genai").await;
    assert!(v.get("data").is_none(), "{v}");
    assert_eq!(withheld(&v), [("4", "minor")]);
    assert_eq!(v["errors"][0]["resource_type"], "user");
    let (_, v) = f.get("/2/users/by/username/carl", &trainer, "train-genai").await;
    assert_eq!(withheld(&v), [("carl", "author_opted_out")]);
    let (_, v) = f.get("/2/users/by?usernames=ada,minnie", &trainer, "train-genai").await;
    assert_eq!(usernames(&v["data"]), ["ada"]);
    assert_eq!(withheld(&v), [("minnie", "minor")]);
    let (_, v) = f.get("/2/users/1", &trainer, "train-genai").await;
    assert_eq!(v["data"]["username"], "ada", "an adult who consents is released");

    // For display the same profiles all go: AI preferences do not apply.
    let (_, v) = f.get("/2/users?ids=1,2,3,4", &trainer, "display").await;
    assert_eq!(usernames(&v["data"]), ["ada", "bert", "carl", "minnie"]);
    assert!(v.get("errors").is_none(), "{v}");
}

#[tokio::test]
async fn withheld_expanded_profiles_are_left_out_of_includes() {
    let f = fixture();
    let trainer = f.trainer();
    let uri = "/2/tweets?ids=106,107,108,109&expansions=author_id,in_reply_to_user_id&tweet.fields=in_reply_to_user_id";

    let (h, v) = f.get(uri, &trainer, "train-genai").await;
    let posts: Vec<&str> = v["data"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(posts, ["106", "107", "108", "109"], "ada's own posts go");
    assert_eq!(usernames(&v["includes"]["users"]), ["ada"], "bert, carl, minnie and pat are left out: {v}");
    assert!(v.get("errors").is_none(), "a left-out profile is not an error: {v}");
    assert_eq!(h["content-usage"], "train-ai=y");
    let entry = f.last_entry();
    assert_eq!(accounts(&entry), [1], "the ledger names only the released profiles");
    assert!(entry.withheld.is_empty(), "no post was withheld: {:?}", entry.withheld);

    // For display, every profile but pat's (protected: no third party) goes.
    let (_, v) = f.get(uri, &trainer, "display").await;
    assert_eq!(usernames(&v["includes"]["users"]), ["ada", "bert", "carl", "minnie"]);
    assert_eq!(accounts(&f.last_entry()), [1, 2, 3, 4]);
}

#[tokio::test]
async fn usage_headers_account_for_released_profiles() {
    let f = fixture();
    let trainer = f.trainer();
    let usage = async |uri: &str| f.get(uri, &trainer, "display").await.0["content-usage"].to_str().unwrap().to_owned();

    // ada consents: her profile and posts could have gone for train-genai.
    assert_eq!(usage("/2/users/1").await, "train-ai=y");
    assert_eq!(usage("/2/tweets/101?expansions=author_id").await, "train-ai=y");
    // bert's profile goes for display but could not have gone for train-genai.
    assert_eq!(usage("/2/users/2").await, "train-ai=n");
    assert_eq!(usage("/2/users?ids=1,2").await, "train-ai=n");
    // ada's reply could, the minor's profile in `includes` could not.
    assert_eq!(usage("/2/tweets/108").await, "train-ai=y");
    assert_eq!(usage("/2/tweets/108?expansions=in_reply_to_user_id").await, "train-ai=n");
}

#[tokio::test]
async fn protected_and_suspended_profiles_follow_their_posts() {
    let f = fixture();
    let (_, standard) = f.new_app("reader", Tier::Standard, &[Purpose::Display], &[]);
    let (_, first_party) = f.new_app("own", Tier::FirstParty, &[Purpose::Display], &[]);
    let (_, v) = f.get("/2/users?ids=1,5", &standard, "display").await;
    assert_eq!(usernames(&v["data"]), ["ada"]);
    assert_eq!(withheld(&v), [("5", "protected_account")]);
    let (_, v) = f.get("/2/users/5", &first_party, "display").await;
    assert_eq!(v["data"]["username"], "pat", "the platform's own apps see protected profiles");

    let (s, _, _) = f
        .call("PUT", "/internal/accounts/2/status", common::INTERNAL, None, Some(r#"{"status": "deactivated"}"#))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, v) = f.get("/2/users/2", &first_party, "display").await;
    assert_eq!(withheld(&v), [("2", "author_deactivated")]);
    assert_eq!(v, json!({"errors": v["errors"].clone()}));
}
