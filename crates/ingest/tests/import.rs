//! Importing JSON lines into the SQLite store: counts, idempotence, the
//! all-or-nothing guarantee on malformed input, and twarc2 archives.

mod common;

use std::path::Path;

use common::{
    TempDir, generate_into, open_store, read_accounts, read_posts, replace_line, sample_ids, small, snapshot,
};
use tollgate_domain::{AccountId, Category, PostId, PreferenceChange, Scope, Timestamp, Tri};
use tollgate_ingest::{ImportError, ImportOptions, NoProgress, Progress, import, import_with};
use tollgate_store::Store;

#[test]
fn generated_data_imports_cleanly_and_the_counts_match() {
    let dir = TempDir::new("counts");
    let data = dir.join("data");
    generate_into(&data, &small(3, 500, 5_000));
    let store = open_store(&dir.join("store"));
    let (accounts, posts) = (data.join("accounts.jsonl"), data.join("posts.jsonl"));

    let summary = import(&store, Some(&accounts), Some(&posts), &mut NoProgress).unwrap();
    assert_eq!((summary.accounts, summary.posts, summary.lines, summary.skipped), (500, 5_000, 5_500, 0));
    let size = std::fs::metadata(&accounts).unwrap().len() + std::fs::metadata(&posts).unwrap().len();
    assert_eq!(summary.bytes, size);
    assert!(summary.records_per_second() > 0.0);
    assert!(summary.to_string().starts_with("imported 500 accounts and 5000 posts from 5500 lines"), "{summary}");
    let stats = store.stats().unwrap();
    assert_eq!((stats.accounts, stats.posts), (500, 5_000));

    // Records come back exactly as written.
    for a in read_accounts(&accounts).iter().step_by(50) {
        assert_eq!(store.account(a.id).unwrap().as_ref(), Some(a));
    }
    let written = read_posts(&posts);
    let ids: Vec<PostId> = written.iter().step_by(97).map(|p| p.id).collect();
    let mut back = store.posts(&ids).unwrap();
    back.sort_by_key(|p| p.id);
    assert_eq!(back, written.iter().step_by(97).cloned().collect::<Vec<_>>());
}

/// Records how progress was reported.
#[derive(Default)]
struct Recorder {
    files: Vec<(String, u64)>,
    bytes: u64,
    records: u64,
    finished: usize,
}

impl Progress for Recorder {
    fn start(&mut self, file: &Path, total_bytes: u64) {
        self.files.push((file.file_name().unwrap().to_string_lossy().into_owned(), total_bytes));
    }
    fn advance(&mut self, bytes: u64, records: u64) {
        self.bytes += bytes;
        self.records += records;
    }
    fn finish(&mut self) {
        self.finished += 1;
    }
}

#[test]
fn progress_covers_both_files_accounts_first() {
    let dir = TempDir::new("progress");
    let data = dir.join("data");
    generate_into(&data, &small(4, 100, 9_000));
    let store = open_store(&dir.join("store"));
    let mut recorder = Recorder::default();
    let (accounts, posts) = (data.join("accounts.jsonl"), data.join("posts.jsonl"));
    import(&store, Some(&accounts), Some(&posts), &mut recorder).unwrap();
    let sizes = [std::fs::metadata(&accounts).unwrap().len(), std::fs::metadata(&posts).unwrap().len()];
    assert_eq!(recorder.files, [("accounts.jsonl".to_owned(), sizes[0]), ("posts.jsonl".to_owned(), sizes[1])]);
    assert_eq!((recorder.bytes, recorder.records, recorder.finished), (sizes[0] + sizes[1], 9_100, 2));
}

#[test]
fn reimport_is_idempotent_and_an_edited_line_updates_its_record() {
    let dir = TempDir::new("idempotent");
    let data = dir.join("data");
    generate_into(&data, &small(5, 300, 3_000));
    let store = open_store(&dir.join("store"));
    let (accounts, posts) = (data.join("accounts.jsonl"), data.join("posts.jsonl"));
    let (account_ids, post_ids) = sample_ids(&accounts, &posts);

    import(&store, Some(&accounts), Some(&posts), &mut NoProgress).unwrap();
    let first = snapshot(&store, &account_ids, &post_ids);
    let again = import(&store, Some(&accounts), Some(&posts), &mut NoProgress).unwrap();
    assert_eq!((again.accounts, again.posts), (300, 3_000));
    assert_eq!(snapshot(&store, &account_ids, &post_ids), first);

    // Edit one account and one post; import again: they change, nothing else.
    let account = read_accounts(&accounts)[2].clone();
    let post = read_posts(&posts)[9].clone();
    replace_line(&accounts, 3, |l| {
        l.replace(&format!("\"display_name\":\"{}\"", account.display_name), "\"display_name\":\"Renamed\"")
    });
    replace_line(&posts, 10, |l| l.replace("\"no_ai\":false", "\"no_ai\":true"));
    import(&store, Some(&accounts), Some(&posts), &mut NoProgress).unwrap();
    assert_eq!(store.account(account.id).unwrap().unwrap().display_name, "Renamed");
    assert!(store.posts(&[post.id]).unwrap()[0].no_ai != post.no_ai);
    assert_eq!(store.stats().unwrap(), first.stats);

    // A later line with the same id wins within one import too.
    let mut edited = post.clone();
    edited.text = "the second version".into();
    let extra = dir.join("extra.jsonl");
    std::fs::write(
        &extra,
        format!("{}\n\n{}\n", serde_json::to_string(&post).unwrap(), serde_json::to_string(&edited).unwrap()),
    )
    .unwrap();
    let summary = import(&store, None, Some(&extra), &mut NoProgress).unwrap();
    assert_eq!((summary.accounts, summary.posts, summary.lines), (0, 2, 3));
    assert_eq!(store.posts(&[post.id]).unwrap()[0].text, "the second version");
}

/// One way to break a line, and what the error must then say.
struct Breakage {
    file: &'static str,
    line: usize,
    edit: fn(&str) -> String,
    field: Option<&'static str>,
    reason: &'static str,
}

#[test]
fn a_malformed_line_anywhere_fails_naming_file_line_and_field_and_changes_nothing() {
    let dir = TempDir::new("malformed");
    let (base, next) = (dir.join("base"), dir.join("next"));
    generate_into(&base, &small(21, 200, 2_000));
    let store = open_store(&dir.join("store"));
    import(&store, Some(&base.join("accounts.jsonl")), Some(&base.join("posts.jsonl")), &mut NoProgress).unwrap();
    // The broken imports would add a different platform: any part of it that
    // got committed would show in the counts.
    generate_into(&next, &small(22, 200, 2_000));
    // Handles are unique within a generated platform, not across two: give
    // the second one handles of its own.
    let renamed: Vec<String> = read_accounts(&next.join("accounts.jsonl"))
        .into_iter()
        .map(|mut a| {
            a.handle = format!("n_{}", a.handle.trim_start_matches(|c: char| !c.is_ascii_digit()));
            serde_json::to_string(&a).unwrap()
        })
        .collect();
    std::fs::write(next.join("accounts.jsonl"), renamed.join("\n") + "\n").unwrap();
    let (mut account_ids, mut post_ids) = sample_ids(&base.join("accounts.jsonl"), &base.join("posts.jsonl"));
    let (more_accounts, more_posts) = sample_ids(&next.join("accounts.jsonl"), &next.join("posts.jsonl"));
    account_ids.extend(more_accounts);
    post_ids.extend(more_posts);
    let before = snapshot(&store, &account_ids, &post_ids);

    let cases = [
        Breakage {
            file: "posts.jsonl",
            line: 1_234,
            edit: |l| l[..l.len() / 2].to_owned(),
            field: None,
            reason: "not valid JSON: EOF while parsing",
        },
        Breakage {
            file: "posts.jsonl",
            line: 5,
            edit: |_| "{\"id\": 1,, }".into(),
            field: None,
            reason: "not valid JSON: key must be a string at column 10",
        },
        Breakage {
            file: "accounts.jsonl",
            line: 7,
            edit: |l| l.replacen('{', "{\"colour\":\"red\",", 1),
            field: Some("colour"),
            reason: "unknown field `colour`, expected one of `id`, `handle`",
        },
        Breakage {
            file: "posts.jsonl",
            line: 2_000,
            edit: |l| with_field(l, "created_at", "\"yesterday\""),
            field: Some("created_at"),
            reason: "invalid timestamp `yesterday`: an RFC 3339 time such as `2025-06-05T12:00:00Z` or `2025-06-05T14:00:00.5+02:00`",
        },
        Breakage {
            file: "accounts.jsonl",
            line: 200,
            edit: |l| with_field(l, "handle", "\"not a handle\""),
            field: Some("handle"),
            reason: "`not a handle` must be 1 to 15 letters, digits or underscores",
        },
        Breakage {
            file: "posts.jsonl",
            line: 1_000,
            edit: |l| with_field(l, "author_id", "999"),
            field: Some("author_id"),
            reason: "unknown author `999`: no account with this id in this import or in the store",
        },
        Breakage {
            file: "accounts.jsonl",
            line: 100,
            edit: |l| with_field(l, "ai_preferences", r#"{"train-ai":{"third-parties":"no thanks"}}"#),
            field: Some("ai_preferences.train-ai.third-parties"),
            reason: "data did not match any variant",
        },
        Breakage {
            file: "posts.jsonl",
            line: 3,
            edit: |l| with_field(l, "lang", "\"en US\""),
            field: Some("lang"),
            reason: "`en US` must be a BCP 47 tag",
        },
        Breakage {
            file: "posts.jsonl",
            line: 10,
            edit: |_| {
                r#"{"id":5,"handle":"ada","display_name":"Ada","created_at":"2020-01-01T00:00:00Z","region":"GB"}"#
                    .into()
            },
            field: Some("handle"),
            reason: "this is an account, not a post: accounts go in the accounts file",
        },
    ];
    for case in cases {
        let work = dir.join("work");
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir_all(&work).unwrap();
        for f in ["accounts.jsonl", "posts.jsonl"] {
            std::fs::copy(next.join(f), work.join(f)).unwrap();
        }
        let broken = work.join(case.file);
        replace_line(&broken, case.line, case.edit);
        let error =
            import(&store, Some(&work.join("accounts.jsonl")), Some(&work.join("posts.jsonl")), &mut NoProgress)
                .unwrap_err();
        match &error {
            ImportError::Line { file, line, field, reason } => {
                assert_eq!((file, *line), (&broken, case.line as u64), "{error}");
                assert_eq!(field.as_deref(), case.field, "{error}");
                assert!(reason.contains(case.reason), "{error}");
            }
            other => panic!("expected a line error, got {other:?}"),
        }
        let message = error.to_string();
        let field = case.field.map(|f| format!(", field `{f}`")).unwrap_or_default();
        let head = format!("`{}` line {}{field}: ", broken.display(), case.line);
        assert!(message.starts_with(&head), "{message}");
        assert!(message.ends_with("; fix the line and run the import again (nothing was imported)"), "{message}");
        assert_eq!(snapshot(&store, &account_ids, &post_ids), before, "after: {message}");
    }
}

/// The line with `field` set to the JSON `value` (replacing it, or adding it).
fn with_field(line: &str, field: &str, value: &str) -> String {
    let mut object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line).unwrap();
    object.insert(field.to_owned(), serde_json::from_str(value).unwrap());
    serde_json::to_string(&object).unwrap()
}

#[test]
fn bad_files_and_bytes_are_named() {
    let dir = TempDir::new("files");
    let store = open_store(&dir.join("store"));
    let missing = dir.join("nope.jsonl");
    let error = import(&store, Some(&missing), None, &mut NoProgress).unwrap_err();
    assert!(matches!(error, ImportError::Open { .. }), "{error:?}");
    assert!(error.to_string().starts_with(&format!("cannot open `{}`: ", missing.display())), "{error}");

    assert!(matches!(import(&store, None, None, &mut NoProgress), Err(ImportError::NothingToImport)));

    let latin1 = dir.join("latin1.jsonl");
    std::fs::write(&latin1, b"\n\n{\"text\":\"caf\xe9\"}\n").unwrap();
    let error = import(&store, None, Some(&latin1), &mut NoProgress).unwrap_err();
    assert!(error.to_string().starts_with(&format!("`{}` line 3: not valid UTF-8", latin1.display())), "{error}");

    let options = ImportOptions { default_region: "Germany".into() };
    let error = import_with(&store, Some(&latin1), None, &options, &mut NoProgress).unwrap_err();
    assert_eq!(error.to_string(), "invalid default region `Germany`: an ISO 3166-1 alpha-2 code such as `US`");
}

#[test]
fn blank_lines_windows_line_ends_and_a_byte_order_mark_are_accepted() {
    let dir = TempDir::new("blank");
    let store = open_store(&dir.join("store"));
    let accounts = dir.join("accounts.jsonl");
    std::fs::write(
        &accounts,
        "\u{feff}{\"id\":1,\"handle\":\"ada\",\"display_name\":\"Ada\",\"created_at\":\"2020-01-01T00:00:00Z\",\"region\":\"GB\"}\r\n\
         \r\n   \n{\"id\":2,\"handle\":\"grace\",\"display_name\":\"Grace\",\"created_at\":\"2020-01-01T00:00:00Z\",\"region\":\"US\"}",
    )
    .unwrap();
    let summary = import(&store, Some(&accounts), None, &mut NoProgress).unwrap();
    assert_eq!((summary.accounts, summary.lines), (2, 4));
    assert_eq!(store.account(AccountId(2)).unwrap().unwrap().handle, "grace");
}

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/twarc2.jsonl");

#[test]
fn twarc2_pages_import_with_their_users_and_replies() {
    let dir = TempDir::new("twarc");
    let store = open_store(&dir.join("store"));
    let options = ImportOptions { default_region: "DE".into() };
    let summary = import_with(&store, None, Some(Path::new(FIXTURE)), &options, &mut NoProgress).unwrap();
    // Three users; five tweets in `data`, three referenced ones written (one
    // twice) and one skipped, its author being in neither the page nor the store.
    assert_eq!((summary.accounts, summary.posts, summary.skipped), (3, 8, 1), "{summary}");
    let stats = store.stats().unwrap();
    assert_eq!((stats.accounts, stats.posts), (3, 5));

    let dev = store.account(AccountId(2_244_994_945)).unwrap().unwrap();
    assert_eq!(
        (dev.handle.as_str(), dev.display_name.as_str(), dev.region.as_str()),
        ("XDevelopers", "Developers", "DE")
    );
    assert_eq!(dev.created_at, Timestamp::parse("2013-12-14T04:35:55.000Z").unwrap());
    assert!(dev.description.starts_with("The voice of the X Developer"));
    let quiet = store.account(AccountId(1_560_000_000_000_000_001)).unwrap().unwrap();
    assert!(quiet.protected);

    let reply = store.posts(&[PostId(1_800_000_000_000_000_002)]).unwrap().remove(0);
    assert_eq!(reply.in_reply_to, Some(PostId(1_800_000_000_000_000_001)));
    assert_eq!(reply.in_reply_to_user_id, Some(AccountId(2_244_994_945)));
    assert_eq!(reply.conversation_id, Some(PostId(1_800_000_000_000_000_001)));
    assert_eq!(reply.author_id, AccountId(1_560_000_000_000_000_001));
    assert_eq!((reply.lang.as_str(), reply.text.as_str()), ("en", "@XDevelopers thanks, trying the new endpoint now"));
    assert_eq!(reply.created_at, Timestamp::parse("2024-06-01T12:05:00.000Z").unwrap());

    let long = store.posts(&[PostId(1_800_000_000_000_000_004)]).unwrap().remove(0);
    assert!(long.text.len() > 280 && long.text.ends_with("the end."), "note_tweet gives the full text");
    let quote = store.posts(&[PostId(1_800_000_000_000_000_003)]).unwrap().remove(0);
    assert_eq!((quote.in_reply_to, quote.lang.as_str()), (None, "ja"), "a quote is not a reply");

    // Importing the archive again changes nothing, and a user object never
    // overwrites what the platform knows about an existing account.
    let change = PreferenceChange { category: Category::TrainGenai, scope: Scope::ThirdParties, value: Tri::Deny };
    store.set_preferences(dev.id, &[change], Timestamp::parse("2025-01-01T00:00:00Z").unwrap()).unwrap();
    let before = store.account(dev.id).unwrap();
    import(&store, None, Some(Path::new(FIXTURE)), &mut NoProgress).unwrap();
    assert_eq!(store.account(dev.id).unwrap(), before);
    assert_eq!(store.stats().unwrap(), stats);
}

#[test]
fn twarc2_pages_mix_with_records_and_unknown_authors_fail() {
    let dir = TempDir::new("twarc-mix");
    let store = open_store(&dir.join("store"));
    let fixture = std::fs::read_to_string(FIXTURE).unwrap();
    let first_page = fixture.lines().next().unwrap();

    // A page in the accounts file, and a record in our format replying to it.
    let accounts = dir.join("accounts.jsonl");
    let posts = dir.join("posts.jsonl");
    std::fs::write(&accounts, format!("{first_page}\n")).unwrap();
    std::fs::write(
        &posts,
        r#"{"id":1800000000000000100,"author_id":2244994945,"created_at":"2024-06-02T00:00:00Z","text":"follow-up","in_reply_to":1800000000000000001,"conversation_id":1800000000000000001}"#,
    )
    .unwrap();
    let summary = import(&store, Some(&accounts), Some(&posts), &mut NoProgress).unwrap();
    assert_eq!(summary.posts, 4);

    // A tweet whose author is in neither the page nor the store.
    let orphan = dir.join("orphan.jsonl");
    std::fs::write(
        &orphan,
        r#"{"data":[{"id":"1800000000000000200","text":"hi","author_id":"42","created_at":"2024-06-03T00:00:00.000Z","edit_history_tweet_ids":["1800000000000000200"]}],"meta":{"result_count":1}}"#,
    )
    .unwrap();
    let before = store.stats().unwrap();
    let error = import(&store, None, Some(&orphan), &mut NoProgress).unwrap_err();
    assert!(
        error.to_string().starts_with(&format!(
            "`{}` line 1, field `data[0].author_id`: unknown author `42`: no account with this id",
            orphan.display()
        )),
        "{error}"
    );
    assert_eq!(store.stats().unwrap(), before);
}
