//! `tollgate guard notice`, `notices` and `report` on a real data directory:
//! a ledger of known guard entries and written notices, and the report's
//! counts, its splits at each notice, its CSV columns, its HTML escaping,
//! its atomic output and its errors.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Parser;
use serde_json::Value;
use tollgate_cli::{Cli, exit};
use tollgate_domain::{PostId, Timestamp};
use tollgate_ledger::{Channel, Entry, GuardFacts, LedgerDb, LedgerWriter, Outcome};
use tollgate_store::{NewGuardNotice, Store};
use tollgate_store_sqlite::{SqliteOptions, SqliteStore};

struct DataDir(PathBuf);

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const HOSTILE_UA: &str = "<script>alert(\"ua\")</script>, \"quoted\"; =cmd";

fn t(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

/// One request of `actor`: `action` decides served or refused.
fn entry(actor: &str, time: &str, request: &str, action: &str, posts: &[u64], ua: &str) -> Entry {
    let refused = matches!(action, "block" | "challenge" | "license" | "throttle" | "tarpit");
    Entry {
        v: Entry::VERSION,
        time: t(time),
        request_id: format!("r-{time}"),
        channel: Channel::Web,
        app_id: None,
        key_id: None,
        client: Some(actor.into()),
        endpoint: request.into(),
        purpose: None,
        outcome: if refused { Outcome::Refused(format!("guard-{action}")) } else { Outcome::Served },
        posts: posts.iter().map(|&p| PostId(p)).collect(),
        authors: Vec::new(),
        accounts: Vec::new(),
        withheld: Default::default(),
        notices: Vec::new(),
        policy_version: "p1".into(),
        guard: Some(std::sync::Arc::new(GuardFacts {
            actor: actor.into(),
            basis: vec!["cookie".into(), "ip".into()],
            ip: "198.51.100.7".into(),
            prefix: "198.51.100.0/24".into(),
            asn: Some(64_500),
            network: Some("hosting".into()),
            user_agent: ua.into(),
            request: request.into(),
            signals: Vec::new(),
            action: action.into(),
            rule: Some("default".into()),
            charged: None,
        })),
    }
}

/// The entries, in ledger order (their sequence numbers are their indexes).
fn entries() -> Vec<Entry> {
    let a = |time, request, action, posts: &[u64]| entry("crawler-a", time, request, action, posts, "Harvester/1.0");
    let mut withheld = a("2026-11-03T10:00:00Z", "GET /alice", "allow", &[3]);
    withheld.withheld.insert("no-ai".into(), 2);
    let mut hidden = a("2026-11-13T10:00:00Z", "GET /dave", "allow", &[10, 11]);
    std::sync::Arc::make_mut(hidden.guard.as_mut().unwrap()).signals = vec!["hidden-link".into()];
    let mut keyed = entry("x", "2026-11-03T11:00:00Z", "GET /2/tweets", "allow", &[1], "");
    keyed.guard = None;
    keyed.app_id = Some(tollgate_domain::AppId(1));
    vec![
        a("2026-11-01T10:00:00Z", "GET /2/tweets?ids=1,2", "allow", &[1, 2]), // 0
        a("2026-11-02T10:00:00Z", "GET /robots.txt", "allow", &[]),           // 1: robots.txt
        withheld,                                                             // 2
        a("2026-11-04T10:00:00Z", "GET /alice/status/4", "license", &[]),     // 3: first 402
        a("2026-11-05T10:00:00Z", "GET /bob", "allow", &[5]),                 // 4
        a("2026-11-10T23:00:00Z", "GET /bob", "block", &[]),                  // 5: first 403, the notice's day
        a("2026-11-11T01:00:00Z", "GET /carol", "block", &[]),                // 6
        a("2026-11-12T10:00:00Z", "GET /carol/status/9", "challenge", &[]),   // 7: first challenge
        hidden,                                                               // 8
        entry("person-b", "2026-11-03T12:00:00Z", "GET /alice", "allow", &[3], HOSTILE_UA), // 9
        keyed,                                                                // 10: no guard facts
    ]
}

/// A data directory whose ledger holds `entries()` under a signed head, and
/// whose store holds a written notice to `crawler-a` of 2026-11-10.
fn data_dir(name: &str) -> DataDir {
    let dir = DataDir(std::env::temp_dir().join(format!("tollgate-cli-guard-{name}-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir.0);
    let writer = LedgerWriter::start(open_ledger(&dir.0), &dir.0).unwrap();
    for e in entries() {
        writer.record_blocking(e).unwrap();
    }
    writer.shutdown();
    tollgate(&dir, &["guard", "notice", "--actor", "crawler-a", "--date", "2026-11-10", "--text", "Stop <now>."])
        .unwrap();
    dir
}

fn open_ledger(dir: &Path) -> Arc<LedgerDb> {
    Arc::new(LedgerDb::open(dir, &SqliteOptions::default()).unwrap())
}

fn tollgate(dir: &DataDir, args: &[&str]) -> Result<(), tollgate_cli::Failure> {
    let data_dir = dir.0.to_str().unwrap();
    tollgate_cli::run(Cli::parse_from(["tollgate", "--data-dir", data_dir].iter().chain(args)))
}

/// Runs `guard report args... --out FILE` and returns the file's text.
fn report(dir: &DataDir, file: &str, args: &[&str]) -> String {
    let out = dir.0.join(file);
    let mut all = vec!["guard", "report", "--out", out.to_str().unwrap()];
    all.extend(args);
    tollgate(dir, &all).unwrap();
    std::fs::read_to_string(out).unwrap()
}

fn json_report(dir: &DataDir, args: &[&str]) -> Value {
    serde_json::from_str(&report(dir, "report.json", args)).unwrap()
}

fn actor<'a>(r: &'a Value, id: &str) -> &'a Value {
    r["actors"].as_array().unwrap().iter().find(|a| a["actor"] == id).unwrap_or_else(|| panic!("no {id} in {r:#}"))
}

fn notice<'a>(a: &'a Value, kind: &str) -> &'a Value {
    a["notices"].as_array().unwrap().iter().find(|n| n["kind"] == kind).unwrap_or_else(|| panic!("no {kind} in {a:#}"))
}

/// `(requests, served, refused, posts_served)` of a counts object.
fn counts(c: &Value) -> (u64, u64, u64, u64) {
    let n = |k: &str| c[k].as_u64().unwrap();
    (n("requests"), n("served"), n("refused"), n("posts_served"))
}

#[test]
fn the_report_counts_each_actor_and_what_it_did_after_each_notice() {
    let dir = data_dir("counts");
    let r = json_report(&dir, &["--samples", "2"]);
    assert_eq!((r["report"].as_str(), r["version"].as_u64()), (Some("tollgate-guard-evidence"), Some(1)));
    assert_eq!(r["ledger"]["head"]["size"], 11, "{:#}", r["ledger"]);
    assert_eq!(r["ledger"]["head"]["root"].as_str().unwrap().len(), 64);
    assert_eq!((r["ledger"]["from_seq"].as_u64(), r["ledger"]["to_seq"].as_u64()), (Some(0), Some(11)));
    assert_eq!(r["ledger"]["guard_entries"], 10, "the keyed entry without guard facts is not counted");
    assert_eq!(r["actors"].as_array().unwrap().len(), 2);
    assert_eq!(r["actors"][0]["actor"], "crawler-a", "the actor with most requests first");

    let a = actor(&r, "crawler-a");
    assert_eq!(a["first_seen"], "2026-11-01T10:00:00.000Z");
    assert_eq!(a["last_seen"], "2026-11-13T10:00:00.000Z");
    assert_eq!(counts(&a["totals"]), (9, 5, 4, 6));
    assert_eq!(a["totals"]["posts_withheld"], 2);
    assert_eq!(a["actions"]["values"], serde_json::json!({"allow": 5, "block": 2, "challenge": 1, "license": 1}));
    // After a recorded notice: the entries after the one that gave it.
    assert_eq!(counts(&notice(a, "robots-txt")["after"]), (7, 3, 4, 4));
    assert_eq!(notice(a, "robots-txt")["seq"], 1);
    assert_eq!(counts(&notice(a, "license-402")["after"]), (5, 2, 3, 3));
    assert_eq!(counts(&notice(a, "block-403")["after"]), (3, 1, 2, 2));
    assert_eq!(counts(&notice(a, "challenge")["after"]), (1, 1, 0, 2));
    // After the written notice of 2026-11-10: from the next day on, so the
    // block at 23:00 that day is not counted after it.
    let w = notice(a, "written");
    assert_eq!(w["at"], "2026-11-10");
    assert_eq!(w["counted_from"], "2026-11-11T00:00:00.000Z");
    assert_eq!(w["written"]["text"], "Stop <now>.");
    assert_eq!(counts(&w["after"]), (3, 1, 2, 2));
    let kinds: Vec<&str> = a["notices"].as_array().unwrap().iter().map(|n| n["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["robots-txt", "license-402", "block-403", "challenge", "written"]);

    assert_eq!(a["signals"]["values"], serde_json::json!({"hidden-link": 1}));
    assert_eq!(a["basis"]["values"], serde_json::json!({"cookie": 9, "ip": 9}));
    assert_eq!(a["networks"]["prefixes"]["values"], serde_json::json!({"198.51.100.0/24": 9}));
    assert_eq!(a["networks"]["asns"]["values"], serde_json::json!({"64500": 9}));
    assert_eq!(a["networks"]["classes"]["values"], serde_json::json!({"hosting": 9}));
    assert_eq!(a["user_agents"]["values"], serde_json::json!({"Harvester/1.0": 9}));
    // Samples: the first two and the last two, oldest first.
    let seqs =
        |k: &str| a["samples"][k].as_array().unwrap().iter().map(|s| s["seq"].as_u64().unwrap()).collect::<Vec<_>>();
    assert_eq!((seqs("first"), seqs("last")), (vec![0, 1], vec![7, 8]));
    let s = &a["samples"]["last"][0];
    assert_eq!(
        (s["request"].as_str(), s["ip"].as_str(), s["action"].as_str()),
        (Some("GET /carol/status/9"), Some("198.51.100.7"), Some("challenge"))
    );
    assert_eq!(s["time"], "2026-11-12T10:00:00.000Z");

    let b = actor(&r, "person-b");
    assert_eq!(counts(&b["totals"]), (1, 1, 0, 1));
    assert!(b["notices"].as_array().unwrap().is_empty());
}

#[test]
fn the_window_bounds_the_counts_but_not_the_notices_given_before_it() {
    let dir = data_dir("window");
    // 2026-11-04 through the end of 2026-11-11: entries 3, 4, 5, 6.
    let r = json_report(&dir, &["--since", "2026-11-04", "--until", "2026-11-11", "--actor", "crawler-a"]);
    assert_eq!(r["actors"].as_array().unwrap().len(), 1);
    let a = actor(&r, "crawler-a");
    assert_eq!(counts(&a["totals"]), (4, 1, 3, 1));
    assert_eq!(a["first_seen"], "2026-11-04T10:00:00.000Z");
    // robots.txt was fetched before the window: still a notice for all of it.
    assert_eq!(counts(&notice(a, "robots-txt")["after"]), (4, 1, 3, 1));
    assert_eq!(counts(&notice(a, "license-402")["after"]), (3, 1, 2, 1));
    assert_eq!(counts(&notice(a, "block-403")["after"]), (1, 0, 1, 0));
    assert_eq!(counts(&notice(a, "written")["after"]), (1, 0, 1, 0));
    // The challenge came after the window: not a notice of this report.
    assert!(a["notices"].as_array().unwrap().iter().all(|n| n["kind"] != "challenge"), "{a:#}");
    assert_eq!(r["ledger"]["guard_entries_in_window"], 4);

    // A window that ends before the written notice was sent: not a notice of it.
    let r = json_report(&dir, &["--until", "2026-11-09", "--actor", "crawler-a"]);
    let kinds: Vec<&str> =
        actor(&r, "crawler-a")["notices"].as_array().unwrap().iter().map(|n| n["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["robots-txt", "license-402"]);

    // An RFC 3339 bound is exact: from 23:00 on 2026-11-10.
    let r = json_report(&dir, &["--since", "2026-11-10T23:00:00Z", "--actor", "crawler-a"]);
    assert_eq!(counts(&actor(&r, "crawler-a")["totals"]), (4, 1, 3, 2));
}

/// A minimal RFC 4180 reader: rows of cells.
fn read_csv(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut cell, mut quoted, mut chars) =
        (Vec::new(), Vec::new(), String::new(), false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    rows
}

#[test]
fn the_csv_has_one_row_per_actor_with_the_notice_columns() {
    let dir = data_dir("csv");
    let text = report(&dir, "report.csv", &["--format", "csv"]);
    assert!(text.ends_with("\r\n"));
    let rows = read_csv(&text);
    assert_eq!(rows.len(), 3, "a header and two actors: {text}");
    let header = &rows[0];
    assert_eq!(&header[..4], ["actor", "first_seen", "last_seen", "requests"]);
    assert!(rows.iter().all(|r| r.len() == header.len()), "every row has every column");
    let cell = |row: &[String], name: &str| {
        row[header.iter().position(|h| h == name).unwrap_or_else(|| panic!("{name}"))].clone()
    };
    let a = &rows[1];
    assert_eq!(cell(a, "actor"), "crawler-a");
    for (column, value) in [
        ("requests", "9"),
        ("served", "5"),
        ("refused", "4"),
        ("posts_served", "6"),
        ("posts_withheld", "2"),
        ("action_allow", "5"),
        ("action_block", "2"),
        ("action_charge", "0"),
        ("action_other", "0"),
        ("robots_txt_seq", "1"),
        ("robots_txt_at", "2026-11-02T10:00:00.000Z"),
        ("robots_txt_requests_after", "7"),
        ("robots_txt_posts_served_after", "4"),
        ("license_402_requests_after", "5"),
        ("block_403_requests_after", "3"),
        ("block_403_refused_after", "2"),
        ("challenge_served_after", "1"),
        ("written_notices", "1"),
        ("written_first_date", "2026-11-10"),
        ("written_first_requests_after", "3"),
        ("written_last_requests_after", "3"),
        ("signals", r#"{"hidden-link":1}"#),
    ] {
        assert_eq!(cell(a, column), value, "{column}");
    }
    let b = &rows[2];
    assert_eq!(cell(b, "robots_txt_at"), "", "no notice: empty cells");
    assert_eq!(cell(b, "written_notices"), "0");
    let agents: Value = serde_json::from_str(&cell(b, "user_agents")).unwrap();
    assert_eq!(agents[HOSTILE_UA], 1, "the user agent's commas and quotes survive: {agents}");
}

#[test]
fn the_html_page_escapes_what_actors_sent_and_names_the_signed_head() {
    let dir = data_dir("html");
    let html = report(&dir, "report.html", &["--format", "html"]);
    let json = json_report(&dir, &[]);
    assert!(html.starts_with("<!DOCTYPE html>") && html.ends_with("</html>\n"));
    assert!(!html.to_lowercase().contains("<script"), "no script element, whatever a user agent says");
    assert!(html.contains("&lt;script&gt;alert(&quot;ua&quot;)&lt;/script&gt;"), "the user agent is shown, escaped");
    assert!(html.contains("Stop &lt;now&gt;."), "the notice's text is escaped too");
    assert!(html.contains("default-src 'none'"), "a policy that forbids scripts");
    assert!(html.contains("@media print"));
    let head = &json["ledger"]["head"];
    assert!(html.contains(head["root"].as_str().unwrap()), "the signed head's root");
    assert!(html.contains("tollgate ledger prove --entry SEQ --checkpoint 11"));
    assert!(html.contains("<h2>Summary</h2>") && html.matches("<section class=\"actor\">").count() == 2);
}

#[test]
fn a_report_that_fails_leaves_the_previous_one_whole_and_no_partial_file() {
    let dir = data_dir("atomic");
    let out = dir.0.join("evidence");
    std::fs::create_dir_all(&out).unwrap();
    let path = out.join("report.html");
    let out_arg = path.to_str().unwrap();
    tollgate(&dir, &["guard", "report", "--format", "html", "--out", out_arg]).unwrap();
    let before = std::fs::read_to_string(&path).unwrap();
    assert!(before.ends_with("</html>\n"));
    // An entry that no longer decodes: the report fails.
    let conn = rusqlite::Connection::open(dir.0.join("ledger.db")).unwrap();
    conn.execute("UPDATE ledger SET body = CAST('{\"guard\":' AS BLOB) WHERE seq = 4", []).unwrap();
    drop(conn);
    let err = tollgate(&dir, &["guard", "report", "--format", "html", "--out", out_arg]).unwrap_err();
    assert_eq!(err.code, exit::FAILURE, "{}", err.message);
    assert!(err.message.contains("entry 4"), "{}", err.message);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before, "the earlier report is untouched");
    let names: Vec<String> =
        std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["report.html"], "no temporary file is left behind");
}

#[test]
fn no_report_is_built_from_entries_the_signed_head_does_not_cover() {
    let dir = data_dir("altered");
    assert_eq!(json_report(&dir, &[])["ledger"]["root_checked"], true);
    // An entry rewritten in ledger.db, still well-formed: another actor.
    let body = open_ledger(&dir.0).ledger_rows(&[9]).unwrap().remove(0).body;
    let body = String::from_utf8(body).unwrap();
    let edited = body.replace("person-b", "person-c");
    assert_ne!(edited, body);
    let conn = rusqlite::Connection::open(dir.0.join("ledger.db")).unwrap();
    assert_eq!(conn.execute("UPDATE ledger SET body = ?1 WHERE seq = 9", [edited.as_bytes()]).unwrap(), 1);
    drop(conn);
    let out = dir.0.join("altered.json");
    let err = tollgate(&dir, &["guard", "report", "--out", out.to_str().unwrap()]).unwrap_err();
    assert_eq!(err.code, exit::VERIFY_FAILED, "{}", err.message);
    assert!(err.message.contains("signed head of size 11"), "{}", err.message);
    assert!(!out.exists());
}

#[test]
fn a_report_is_built_while_the_writer_runs() {
    let dir = DataDir(std::env::temp_dir().join(format!("tollgate-cli-guard-live-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir.0);
    let writer = LedgerWriter::start(open_ledger(&dir.0), &dir.0).unwrap();
    for e in entries().into_iter().take(5) {
        writer.record_blocking(e).unwrap();
    }
    let r = json_report(&dir, &[]);
    assert_eq!(counts(&actor(&r, "crawler-a")["totals"]), (5, 4, 1, 4));
    assert_eq!((r["ledger"]["to_seq"].as_u64(), r["ledger"]["head"]["size"].as_u64()), (Some(5), Some(5)));
    writer.shutdown();
}

#[test]
fn bad_flags_are_refused_before_anything_is_written() {
    let dir = data_dir("flags");
    let out = dir.0.join("never.json");
    let out_arg = out.to_str().unwrap();
    for (args, needle) in [
        (vec!["--since", "2026-13-01"], "--since"),
        (vec!["--until", "last week"], "--until"),
        (vec!["--since", "2026-11-05", "--until", "2026-11-04"], "window is empty"),
        (vec!["--samples", "5000"], "--samples"),
        (vec!["--actor", " "], "--actor"),
    ] {
        let mut all = vec!["guard", "report", "--out", out_arg];
        all.extend(&args);
        let err = tollgate(&dir, &all).unwrap_err();
        assert_eq!(err.code, exit::INVALID_INPUT, "{args:?}: {}", err.message);
        assert!(err.message.contains(needle), "{args:?}: {}", err.message);
        assert!(!out.exists());
    }
    let dir_arg = dir.0.to_str().unwrap();
    let err = tollgate(&dir, &["guard", "report", "--out", dir_arg]).unwrap_err();
    assert_eq!(err.code, exit::INVALID_INPUT, "{}", err.message);
    let unknown = Cli::try_parse_from(["tollgate", "guard", "report", "--format", "pdf"]).unwrap_err();
    assert_eq!(unknown.exit_code(), exit::USAGE);
}

#[test]
fn written_notices_are_checked_recorded_and_listed() {
    let dir = data_dir("notices");
    for (args, field) in [
        (vec!["--actor", "", "--date", "2026-11-10"], "actor"),
        (vec!["--actor", "a", "--date", "2026-11-31"], "date"),
        (vec!["--actor", "a", "--date", "10/11/2026"], "date"),
        (vec!["--actor", "a", "--date", "2999-01-01"], "date"),
    ] {
        let mut all = vec!["guard", "notice", "--text", "stop"];
        all.extend(&args);
        let err = tollgate(&dir, &all).unwrap_err();
        assert_eq!(err.code, exit::INVALID_INPUT, "{args:?}: {}", err.message);
        assert!(err.message.contains(&format!("`{field}`")), "{args:?}: {}", err.message);
    }
    let args = [
        "guard",
        "notice",
        "--actor",
        "crawler-b",
        "--date",
        "2026-11-20",
        "--text",
        "second",
        "--reference",
        "https://example.com/l/2",
    ];
    tollgate(&dir, &args).unwrap();
    tollgate(&dir, &["guard", "notices", "--json"]).unwrap();
    let store = SqliteStore::open(&dir.0, &SqliteOptions::default()).unwrap();
    let all = store.guard_notices(None).unwrap();
    assert_eq!(
        all.iter().map(|n| (n.actor.as_str(), n.date.as_str())).collect::<Vec<_>>(),
        [("crawler-a", "2026-11-10"), ("crawler-b", "2026-11-20")]
    );
    assert_eq!(all[1].reference.as_deref(), Some("https://example.com/l/2"));
    // An actor with a written notice and no request is in the report.
    store
        .record_guard_notice(&NewGuardNotice {
            actor: "quiet".into(),
            date: "2026-11-01".into(),
            text: "stop".into(),
            reference: None,
            recorded_at: Timestamp::now(),
        })
        .unwrap();
    let r = json_report(&dir, &["--actor", "quiet"]);
    let q = actor(&r, "quiet");
    assert_eq!((q["first_seen"].is_null(), counts(&q["totals"])), (true, (0, 0, 0, 0)));
    assert_eq!(counts(&notice(q, "written")["after"]), (0, 0, 0, 0));
}

#[test]
fn the_entries_of_one_request_are_one_request_with_all_their_posts() {
    let dir = DataDir(std::env::temp_dir().join(format!("tollgate-cli-guard-one-request-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir.0);
    let writer = LedgerWriter::start(open_ledger(&dir.0), &dir.0).unwrap();
    // A profile page: the profile's entry, another request between, then
    // the page's posts under the first request's id.
    let profile = entry("reader", "2026-11-12T10:00:00Z", "GET /alice", "allow", &[], "Firefox");
    let other = entry("reader", "2026-11-12T10:00:01Z", "GET /bob", "allow", &[7], "Firefox");
    let mut posts = entry("reader", "2026-11-12T10:00:02Z", "GET /alice", "allow", &[1, 2, 3], "Firefox");
    posts.request_id = profile.request_id.clone();
    for e in [profile, other, posts] {
        writer.record_blocking(e).unwrap();
    }
    writer.shutdown();
    let r = json_report(&dir, &[]);
    assert_eq!(counts(&actor(&r, "reader")["totals"]), (2, 2, 0, 4));
}
