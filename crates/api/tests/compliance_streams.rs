//! The compliance streams through the router: X's event shapes, each app's
//! own notices only, resumption by sequence number with no gap and no
//! duplicate, backfill, keep-alive lines, slow clients, and bad parameters.
//!
//! Notices are opened directly with `Store::open_notices` for events written
//! through the store's ordinary writes, so their sequence numbers are real.

#[expect(dead_code, reason = "the shared fixture has helpers this file does not need")]
mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{Fixture, account, post};
use http_body_util::BodyExt;
use serde_json::Value;
use tollgate_api::ComplianceConfig;
use tollgate_domain::{AccountId, AppId, Event, Notice, NoticeReason, PostId, Purpose, Tier, Timestamp};
use tower::ServiceExt;

/// Accounts 1 (partition 2) and 2 (partition 3), each with three posts.
fn fixture(name: &str, config: ComplianceConfig) -> Fixture {
    let accounts = [account(1, "ada", "US"), account(2, "bob", "US")];
    let posts: Vec<_> = (1..=2).flat_map(|a| (1..=3).map(move |n| post(a, n, "hello"))).collect();
    common::fixture_with_compliance(name, &accounts, &posts, config)
}

fn quick() -> ComplianceConfig {
    ComplianceConfig {
        keepalive: Duration::from_secs(3600),
        poll_interval: Duration::from_millis(20),
        ..ComplianceConfig::DEFAULT
    }
}

fn app(f: &Fixture, name: &str) -> (AppId, String) {
    f.new_app(name, Tier::Standard, &[Purpose::Display], &[])
}

/// Deletes `post` through the store; returns its event.
fn delete(f: &Fixture, post: u64) -> Event {
    let before = f.store.change_seq().unwrap();
    assert!(f.store.delete_post(PostId(post), Timestamp::now()).unwrap());
    let events = f.store.events_since(before, 10).unwrap();
    events.into_iter().find(|e| e.change.type_name() == "post_deleted").expect("a post_deleted event")
}

/// Restores a deleted post through the store.
fn restore(f: &Fixture, id: u64) {
    let mut p = f.store.posts(&[PostId(id)]).unwrap().remove(0);
    p.deleted_at = None;
    f.store.upsert_posts(&[p]).unwrap();
}

/// Protects `account` through the store; returns its event.
fn protect(f: &Fixture, id: u64) -> Event {
    let before = f.store.change_seq().unwrap();
    let mut a = f.store.account(AccountId(id)).unwrap().unwrap();
    a.protected = true;
    f.store.upsert_accounts(&[a]).unwrap();
    let events = f.store.events_since(before, 10).unwrap();
    events.into_iter().find(|e| e.change.type_name() == "account_protected").expect("an account_protected event")
}

/// The notice telling `app` of `event`, an obligation with a deadline.
fn notice(app: AppId, e: &Event, reason: NoticeReason) -> Notice {
    let event = e.change.type_name().to_owned();
    Notice {
        app_id: app,
        event_seq: e.seq,
        event_time: e.time,
        event,
        account_id: e.change.account().unwrap(),
        post_id: e.change.post(),
        reason: Some(reason),
        deadline: Some(Timestamp::from_millis(e.time.millis() + 86_400_000)),
        acked_at: None,
    }
}

/// Opens `notices` as the worker would (the events up to the last of them
/// examined), and wakes the streams.
fn open(f: &Fixture, notices: &[Notice]) {
    let upto = notices.iter().map(|n| n.event_seq).max().unwrap();
    f.store.open_notices("test", upto, notices).unwrap();
    f.state.notices_progress().send_replace(upto);
}

async fn connect(f: &Fixture, uri: &str, token: &str) -> (StatusCode, Body) {
    let req = Request::get(uri).header("authorization", format!("Bearer {token}")).body(Body::empty()).unwrap();
    let response = f.app.clone().oneshot(req).await.unwrap();
    (response.status(), response.into_body())
}

/// A stream's body, read line by line.
struct Lines {
    body: Body,
    buffered: Vec<u8>,
    /// Empty lines (keep-alives) read so far.
    keepalives: usize,
}

impl Lines {
    fn new(body: Body) -> Lines {
        Lines { body, buffered: Vec::new(), keepalives: 0 }
    }

    /// The next JSON line, skipping keep-alives; `None` when the stream ends.
    /// A stream that sends nothing for 10 s fails the test rather than hang it.
    async fn next(&mut self) -> Option<Value> {
        loop {
            if let Some(at) = self.buffered.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.buffered.drain(..at + 2).take(at).collect();
                if line.is_empty() {
                    self.keepalives += 1;
                    continue;
                }
                return Some(serde_json::from_slice(&line).expect("each line is JSON"));
            }
            let frame = tokio::time::timeout(Duration::from_secs(10), self.body.frame())
                .await
                .expect("the stream sent nothing for 10 s");
            match frame {
                Some(Ok(frame)) => self.buffered.extend_from_slice(&frame.into_data().unwrap_or_default()),
                Some(Err(e)) => panic!("the stream failed: {e}"),
                None => return None,
            }
        }
    }

    async fn take(&mut self, n: usize) -> Vec<Value> {
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(self.next().await.expect("the stream ended early"));
        }
        out
    }
}

fn seq(line: &Value) -> u64 {
    line["tollgate"]["seq"].as_u64().expect("every event line carries its sequence number")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_app_sees_only_its_own_notices_in_xs_shapes() {
    let f = fixture("streams-shape", quick());
    let (a, token_a) = app(&f, "a");
    let (b, _) = app(&f, "b");
    let d1 = delete(&f, 101);
    let d2 = delete(&f, 102);
    let p = protect(&f, 1);
    open(
        &f,
        &[
            notice(a, &d1, NoticeReason::Deleted),
            notice(b, &d1, NoticeReason::Deleted),
            notice(b, &d2, NoticeReason::Deleted),
            notice(a, &p, NoticeReason::Protected),
        ],
    );
    let (status, body) = connect(&f, "/2/tweets/compliance/stream?partition=2&after_seq=0", &token_a).await;
    assert_eq!(status, StatusCode::OK);
    let mut tweets = Lines::new(body);
    let got = tweets.next().await.unwrap();
    assert_eq!(got["data"]["delete"]["tweet"]["id"], "101");
    assert_eq!(got["data"]["delete"]["tweet"]["author_id"], "1");
    assert_eq!(got["data"]["delete"]["event_at"], d1.time.to_string());
    assert_eq!(got["tollgate"]["seq"], d1.seq);
    assert_eq!(got["tollgate"]["reason"], "deleted");
    assert!(got["tollgate"]["deadline"].is_string());

    // The users stream carries the account's event, not the post's.
    let (status, body) = connect(&f, "/2/users/compliance/stream?partition=2&after_seq=0", &token_a).await;
    assert_eq!(status, StatusCode::OK);
    let mut users = Lines::new(body);
    let got = users.next().await.unwrap();
    assert_eq!(got["data"]["user_protect"]["user"]["id"], "1");
    assert_eq!(seq(&got), p.seq);

    // Live: app B's notice, app A's of another partition, then app A's of
    // this one: the stream shows only the last.
    let d3 = delete(&f, 103);
    let d4 = delete(&f, 201);
    restore(&f, 102);
    let again = delete(&f, 102);
    open(&f, &[notice(b, &d3, NoticeReason::Deleted), notice(a, &d4, NoticeReason::Deleted)]);
    open(&f, &[notice(a, &again, NoticeReason::Deleted)]);
    let got = tweets.next().await.unwrap();
    assert_eq!(seq(&got), again.seq, "{got}");
    let last = delete(&f, 202);
    open(&f, &[notice(a, &last, NoticeReason::Deleted)]);
    let (_, body) = connect(&f, "/2/tweets/compliance/stream?partition=3&after_seq=0", &token_a).await;
    let ids: Vec<Value> =
        Lines::new(body).take(2).await.iter().map(|l| l["data"]["delete"]["tweet"]["id"].clone()).collect();
    assert_eq!(ids, ["201", "202"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_resumes_after_its_last_sequence_number_with_no_gap_and_no_duplicate() {
    let f = fixture("streams-resume", quick());
    let (a, token) = app(&f, "a");
    let mut all = Vec::new();
    for id in [101, 102, 103] {
        let e = delete(&f, id);
        all.push(notice(a, &e, NoticeReason::Deleted));
    }
    open(&f, &all);
    let (_, body) = connect(&f, "/2/tweets/compliance/stream?partition=2&after_seq=0", &token).await;
    let mut first = Lines::new(body);
    let got = first.take(2).await;
    let resume = seq(&got[1]);
    drop(first);
    // More events while disconnected.
    let mut more = Vec::new();
    for id in [101, 102] {
        // Restoring and deleting again makes new events about the same posts.
        restore(&f, id);
        let e = delete(&f, id);
        more.push(notice(a, &e, NoticeReason::Deleted));
    }
    open(&f, &more);
    let (_, body) = connect(&f, &format!("/2/tweets/compliance/stream?partition=2&after_seq={resume}"), &token).await;
    let mut second = Lines::new(body);
    let got2 = second.take(3).await;
    let mut seen: Vec<u64> = got.iter().chain(&got2).map(seq).collect();
    let expected: Vec<u64> = all.iter().chain(&more).map(|n| n.event_seq).collect();
    assert_eq!(seen, expected, "every notice once, in order");
    // And live after the catch-up, still none twice.
    restore(&f, 103);
    let e = delete(&f, 103);
    open(&f, &[notice(a, &e, NoticeReason::Deleted)]);
    seen.push(seq(&second.next().await.unwrap()));
    assert_eq!(seen.last(), Some(&e.seq));
    seen.dedup();
    assert_eq!(seen.len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_replays_the_last_minutes_and_a_plain_connection_starts_now() {
    let f = fixture("streams-backfill", quick());
    let (a, token) = app(&f, "a");
    let old = delete(&f, 101);
    let mut stale = notice(a, &old, NoticeReason::Deleted);
    // An event of an hour ago: outside any backfill.
    stale.event_time = Timestamp::from_millis(Timestamp::now().millis() - 3_600_000);
    let recent = delete(&f, 102);
    open(&f, &[stale, notice(a, &recent, NoticeReason::Deleted)]);

    let (_, body) = connect(&f, "/2/tweets/compliance/stream?partition=2&backfill_minutes=5", &token).await;
    let mut backfilled = Lines::new(body);
    assert_eq!(seq(&backfilled.next().await.unwrap()), recent.seq);

    let (_, body) = connect(&f, "/2/tweets/compliance/stream?partition=2", &token).await;
    let mut live = Lines::new(body);
    let next = delete(&f, 103);
    open(&f, &[notice(a, &next, NoticeReason::Deleted)]);
    assert_eq!(seq(&live.next().await.unwrap()), next.seq, "a plain connection starts with what comes next");
    assert_eq!(seq(&backfilled.next().await.unwrap()), next.seq);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_stream_sends_keepalive_lines() {
    let f = fixture("streams-keepalive", ComplianceConfig { keepalive: Duration::from_millis(30), ..quick() });
    let (a, token) = app(&f, "a");
    let (_, body) = connect(&f, "/2/tweets/compliance/stream?partition=2", &token).await;
    let mut body = body;
    let e = delete(&f, 101);
    // Nothing to send yet: the first bytes are a keep-alive line.
    let frame = body.frame().await.unwrap().unwrap();
    assert_eq!(frame.into_data().unwrap(), "\r\n");
    let mut lines = Lines::new(body);
    open(&f, &[notice(a, &e, NoticeReason::Deleted)]);
    assert_eq!(seq(&lines.next().await.unwrap()), e.seq);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_too_far_behind_is_disconnected_with_where_to_resume() {
    let config = ComplianceConfig { client_buffer: 1, read_batch: 1, ..quick() };
    let f = fixture("streams-slow", config);
    let (a, token) = app(&f, "a");
    let (_, body) = connect(&f, "/2/tweets/compliance/stream?partition=2", &token).await;
    // Twenty-one notices, one a batch, to a client that reads nothing for now.
    let mut opened = Vec::new();
    for round in 0..7 {
        for id in [101, 102, 103] {
            if round > 0 {
                restore(&f, id);
            }
            opened.push(notice(a, &delete(&f, id), NoticeReason::Deleted));
        }
    }
    open(&f, &opened);
    let mut lines = Lines::new(body);
    let mut got = Vec::new();
    let end = loop {
        let line = lines.next().await.expect("the stream ends with an error line");
        if line.get("errors").is_some() {
            break line;
        }
        got.push(seq(&line));
    };
    assert!(got.len() < opened.len(), "the client was dropped before it had everything");
    assert_eq!(end["errors"][0]["title"], "operational-disconnect");
    assert_eq!(end["errors"][0]["disconnect_type"], "ConsumerTooSlow");
    let resume = end["tollgate"]["resume_after_seq"].as_u64().unwrap();
    assert!(lines.next().await.is_none(), "the error line is the last");
    let (_, body) = connect(&f, &format!("/2/tweets/compliance/stream?partition=2&after_seq={resume}"), &token).await;
    let rest = Lines::new(body).take(opened.len() - got.len()).await;
    got.extend(rest.iter().map(seq));
    assert_eq!(got, opened.iter().map(|n| n.event_seq).collect::<Vec<_>>(), "no gap, no duplicate");
}

#[tokio::test]
async fn bad_parameters_are_refused_in_xs_shape() {
    let f = fixture("streams-params", quick());
    let (_, token) = app(&f, "a");
    for (uri, parameter) in [
        ("/2/tweets/compliance/stream", "partition"),
        ("/2/tweets/compliance/stream?partition=5", "partition"),
        ("/2/users/compliance/stream?partition=0", "partition"),
        ("/2/tweets/compliance/stream?partition=1&backfill_minutes=6", "backfill_minutes"),
        ("/2/tweets/compliance/stream?partition=1&after_seq=x", "after_seq"),
        ("/2/tweets/compliance/stream?partition=1&since_id=1", "since_id"),
        ("/2/tweets/compliance/stream?partition=1&after_seq=1&backfill_minutes=2", "after_seq"),
        (
            "/2/tweets/compliance/stream?partition=1&start_time=2024-01-02T00:00:00Z&end_time=2024-01-01T00:00:00Z",
            "start_time",
        ),
    ] {
        let (status, _, body) = f.call("GET", uri, &token, None, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        assert!(body["errors"][0]["parameters"][parameter].is_array(), "{uri}: {body}");
    }
    let (status, _, _) = f.call("GET", "/2/tweets/compliance/stream?partition=1", "nope", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_with_an_end_time_ends_after_it_with_what_came_before() {
    let f = fixture("streams-end", quick());
    let (a, token) = app(&f, "a");
    let before = delete(&f, 101);
    open(&f, &[notice(a, &before, NoticeReason::Deleted)]);
    // An end a moment from now: the stream sends what came before it, then ends.
    let end = Timestamp::from_millis(Timestamp::now().millis() + 300);
    let uri = format!("/2/tweets/compliance/stream?partition=2&after_seq=0&end_time={end}");
    let (status, body) = connect(&f, &uri, &token).await;
    assert_eq!(status, StatusCode::OK);
    let mut lines = Lines::new(body);
    assert_eq!(seq(&lines.next().await.unwrap()), before.seq);
    assert!(lines.next().await.is_none(), "the stream ends, with no error line");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_count_the_connected_clients() {
    let f = fixture("streams-metrics", quick());
    let (_, token) = app(&f, "a");
    let gauge = async || {
        let req = Request::get("/metrics").body(Body::empty()).unwrap();
        let body = f.app.clone().oneshot(req).await.unwrap().into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8(body.to_vec()).unwrap();
        text.lines().find_map(|l| l.strip_prefix("tollgate_compliance_stream_clients ")).map(str::to_owned)
    };
    assert_eq!(gauge().await.as_deref(), Some("0"));
    let (_, first) = connect(&f, "/2/tweets/compliance/stream?partition=1", &token).await;
    let (_, second) = connect(&f, "/2/users/compliance/stream?partition=4", &token).await;
    assert_eq!(gauge().await.as_deref(), Some("2"));
    drop((first, second));
}
