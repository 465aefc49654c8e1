//! Notices and obligations: who is told of each change, with which deadline,
//! and acknowledgements through `POST /2/compliance/acks`.

mod common;

use axum::http::StatusCode;
use common::{account, fixture, post, unlimited};
use serde_json::json;
use tollgate_api::obligations::{Deadlines, Noticer};
use tollgate_domain::{
    AccountId, AccountStatus, Category, ConsentDefaults, NoticeReason, PostId, PreferenceChange, Purpose, Scope, Tier,
    Tri,
};
use tollgate_store::NoticeQuery;

fn open(f: &common::Fixture) -> u64 {
    let defaults = ConsentDefaults::default();
    let noticer = Noticer {
        store: f.store.as_ref(),
        ledger: &f.ledger_db,
        defaults: &defaults,
        deadlines: Deadlines { hours: [24, 48, 1] },
    };
    noticer.open_notices().unwrap()
}

fn notices_of(f: &common::Fixture, app: tollgate_domain::AppId) -> Vec<tollgate_domain::Notice> {
    f.store.notices(&NoticeQuery { app: Some(app), limit: 1000, ..NoticeQuery::default() }).unwrap()
}

#[tokio::test]
async fn each_recipient_of_a_changed_post_gets_an_obligation_with_its_tiers_deadline() {
    let f = fixture(
        "obligations",
        &[account(1, "ada", "US"), account(2, "bob", "US")],
        &[post(1, 1, "one"), post(1, 2, "two"), post(2, 1, "bob's")],
        unlimited(),
    );
    let (reader, reader_token) = f.new_app("reader", Tier::Standard, &[Purpose::Display], &[]);
    let (trainer, trainer_token) = f.new_app("trainer", Tier::Partner, &[Purpose::TrainGenai], &[Purpose::TrainGenai]);
    let (bystander, _) = f.new_app("bystander", Tier::Standard, &[Purpose::Display], &[]);
    for token in [&reader_token, &trainer_token] {
        let (status, _, body) = f.call("GET", "/2/tweets?ids=101,102", token, None, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"].as_array().unwrap().len(), 2, "{body}");
    }
    // Nothing changed yet: the deliveries themselves oblige nobody.
    open(&f);
    assert!(notices_of(&f, reader).is_empty());

    f.store.delete_post(PostId(101), tollgate_domain::Timestamp::now()).unwrap();
    f.store.set_post_no_ai(PostId(102), true).unwrap();
    f.store.delete_post(PostId(201), tollgate_domain::Timestamp::now()).unwrap();
    let upto = open(&f);
    assert_eq!(upto, f.store.change_seq().unwrap(), "every event examined");

    let reader_notices = notices_of(&f, reader);
    assert_eq!(reader_notices.len(), 1, "no_ai concerns AI recipients only: {reader_notices:?}");
    let deleted = &reader_notices[0];
    assert_eq!((deleted.post_id, deleted.reason), (Some(PostId(101)), Some(NoticeReason::Deleted)));
    assert_eq!(deleted.deadline.unwrap().millis() - deleted.event_time.millis(), 24 * 3_600_000);

    let trainer_notices = notices_of(&f, trainer);
    let reasons: Vec<_> = trainer_notices.iter().map(|n| (n.post_id.unwrap().0, n.reason.unwrap())).collect();
    assert_eq!(reasons, [(101, NoticeReason::Deleted), (102, NoticeReason::NoAi)]);
    assert_eq!(trainer_notices[0].deadline.unwrap().millis() - trainer_notices[0].event_time.millis(), 48 * 3_600_000);
    // Post 201 went to nobody; the bystander received nothing.
    assert!(notices_of(&f, bystander).is_empty());
    assert_eq!(open(&f), upto, "examining again opens nothing new");
    assert_eq!(notices_of(&f, trainer).len(), 2);
}

#[tokio::test]
async fn account_changes_and_withdrawn_consent_reach_the_recipients_of_the_accounts_posts() {
    let f = fixture("account-obligations", &[account(1, "ada", "US")], &[post(1, 1, "one")], unlimited());
    let (reader, reader_token) = f.new_app("reader", Tier::Standard, &[Purpose::Display], &[]);
    let (trainer, trainer_token) = f.new_app("trainer", Tier::Partner, &[Purpose::TrainGenai], &[Purpose::TrainGenai]);
    for token in [&reader_token, &trainer_token] {
        let (status, _, body) = f.call("GET", "/2/users/1/tweets", token, None, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let withdraw = PreferenceChange { category: Category::TrainGenai, scope: Scope::ThirdParties, value: Tri::Deny };
    f.store.set_preferences(AccountId(1), &[withdraw], tollgate_domain::Timestamp::now()).unwrap();
    f.store.set_account_status(AccountId(1), AccountStatus::Suspended).unwrap();
    f.store.set_account_status(AccountId(1), AccountStatus::Active).unwrap();
    open(&f);
    let words = |app| notices_of(&f, app).iter().map(|n| (n.event.clone(), n.reason)).collect::<Vec<_>>();
    assert_eq!(
        words(trainer),
        [
            ("ai_preference_changed".to_owned(), Some(NoticeReason::AiConsentWithdrawn)),
            ("account_suspended".to_owned(), Some(NoticeReason::Suspended)),
            ("account_unsuspended".to_owned(), None),
        ]
    );
    assert_eq!(
        words(reader),
        [("account_suspended".to_owned(), Some(NoticeReason::Suspended)), ("account_unsuspended".to_owned(), None)],
        "a display app is not told of an AI preference"
    );
}

#[tokio::test]
async fn acknowledgements_name_open_obligations_of_the_app_only() {
    let f = fixture("acks", &[account(1, "ada", "US")], &[post(1, 1, "one"), post(1, 2, "two")], unlimited());
    let (app, token) = f.new_app("reader", Tier::Standard, &[Purpose::Display], &[]);
    let (_, other_token) = f.new_app("other", Tier::Standard, &[Purpose::Display], &[]);
    f.call("GET", "/2/tweets?ids=101,102", &token, None, None).await;
    f.store.delete_post(PostId(101), tollgate_domain::Timestamp::now()).unwrap();
    f.store.delete_post(PostId(102), tollgate_domain::Timestamp::now()).unwrap();
    open(&f);
    let seqs: Vec<String> = notices_of(&f, app).iter().map(|n| n.event_seq.to_string()).collect();
    assert_eq!(seqs.len(), 2);

    let ack = |ids: serde_json::Value| ids.to_string();
    // Another app cannot acknowledge them (a forged acknowledgement).
    let (status, _, body) =
        f.call("POST", "/2/compliance/acks", &other_token, None, Some(&ack(json!({"ids": [seqs[0]]})))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("nothing was acknowledged"), "{body}");
    // One bad id refuses the whole acknowledgement.
    let (status, _, _) =
        f.call("POST", "/2/compliance/acks", &token, None, Some(&ack(json!({"ids": [seqs[0], "999999"]})))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    for bad in [json!({}), json!({"ids": ["x"]}), json!({"ids": [1]}), json!({"nope": []})] {
        let (status, _, body) = f.call("POST", "/2/compliance/acks", &token, None, Some(&ack(bad.clone()))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    assert!(notices_of(&f, app).iter().all(|n| n.acked_at.is_none()), "nothing acknowledged");

    let (status, _, body) =
        f.call("POST", "/2/compliance/acks", &token, None, Some(&ack(json!({"ids": [seqs[0]]})))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["acknowledged"], json!([seqs[0]]));
    // Replayed.
    let (status, _, body) =
        f.call("POST", "/2/compliance/acks", &token, None, Some(&ack(json!({"ids": [seqs[0]]})))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["detail"].as_str().unwrap().contains("already acknowledged"), "{body}");
    // By post id.
    let (status, _, body) =
        f.call("POST", "/2/compliance/acks", &token, None, Some(&ack(json!({"tweet_ids": ["102"]})))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["acknowledged"], json!([seqs[1]]));
    assert!(notices_of(&f, app).iter().all(|n| n.acked_at.is_some()));
    let (status, _, _) = f.call("POST", "/2/compliance/acks", "unknown-token", None, Some("{\"ids\":[\"1\"]}")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
