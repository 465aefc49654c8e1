//! An import killed mid-way (SIGKILL: no destructor, no rollback runs) leaves
//! the store exactly as it was. The test runs the import in a child process:
//! this same test binary, started again with an environment variable that
//! makes the test the child.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{TempDir, generate_into, open_store, sample_ids, small, snapshot};
use tollgate_ingest::{NoProgress, Progress, import};
use tollgate_store::Store;

const CHILD: &str = "TOLLGATE_INGEST_TEST_CHILD";
const TEST_NAME: &str = "an_import_killed_midway_leaves_the_store_unchanged";

/// Tells the parent, on stdout, how many records the import has written.
struct Announce {
    records: u64,
}

impl Progress for Announce {
    fn start(&mut self, file: &Path, _total_bytes: u64) {
        println!("start {}", file.display());
    }
    fn advance(&mut self, _bytes: u64, records: u64) {
        self.records += records;
        println!("progress {}", self.records);
        let _ = std::io::stdout().flush();
    }
    fn finish(&mut self) {}
}

fn run_child(spec: &str) {
    let parts: Vec<PathBuf> = spec.split('\n').map(PathBuf::from).collect();
    let store = open_store(&parts[0]);
    import(&store, Some(&parts[1]), Some(&parts[2]), &mut Announce { records: 0 }).unwrap();
    println!("finished");
}

#[test]
fn an_import_killed_midway_leaves_the_store_unchanged() {
    if let Ok(spec) = std::env::var(CHILD) {
        run_child(&spec);
        return;
    }
    let dir = TempDir::new("killed");
    let (base, big, store_dir) = (dir.join("base"), dir.join("big"), dir.join("store"));
    generate_into(&base, &small(31, 100, 1_000));
    generate_into(&big, &small(32, 2_000, 120_000));
    // The big platform gets handles of its own (handles are unique within one
    // generated platform only).
    let accounts = common::read_accounts(&big.join("accounts.jsonl"));
    let renamed: Vec<String> = accounts
        .into_iter()
        .map(|mut a| {
            a.handle = format!("b_{}", a.handle.trim_start_matches(|c: char| !c.is_ascii_digit()));
            serde_json::to_string(&a).unwrap()
        })
        .collect();
    std::fs::write(big.join("accounts.jsonl"), renamed.join("\n") + "\n").unwrap();

    let (mut account_ids, mut post_ids) = sample_ids(&base.join("accounts.jsonl"), &base.join("posts.jsonl"));
    let (more_accounts, more_posts) = sample_ids(&big.join("accounts.jsonl"), &big.join("posts.jsonl"));
    account_ids.extend(more_accounts);
    post_ids.extend(more_posts);
    let before = {
        let store = open_store(&store_dir);
        import(&store, Some(&base.join("accounts.jsonl")), Some(&base.join("posts.jsonl")), &mut NoProgress).unwrap();
        snapshot(&store, &account_ids, &post_ids)
    };

    let spec = format!(
        "{}\n{}\n{}",
        store_dir.display(),
        big.join("accounts.jsonl").display(),
        big.join("posts.jsonl").display()
    );
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, spec)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut written = 0;
    for line in stdout.lines() {
        let line = line.unwrap();
        assert_ne!(line, "finished", "the import finished before it could be killed; make the file bigger");
        if let Some(n) = line.strip_prefix("progress ") {
            written = n.parse::<u64>().unwrap();
            // Well into the posts: the accounts and many posts are written.
            if written > 20_000 {
                break;
            }
        }
    }
    assert!(written > 20_000, "the child stopped before reporting progress");
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success());

    let store = open_store(&store_dir);
    assert_eq!(snapshot(&store, &account_ids, &post_ids), before, "the killed import left something behind");
    // And the store takes the same import, whole, afterwards.
    let summary =
        import(&store, Some(&big.join("accounts.jsonl")), Some(&big.join("posts.jsonl")), &mut NoProgress).unwrap();
    assert_eq!(summary.posts, 120_000);
    let stats = store.stats().unwrap();
    assert_eq!((stats.accounts, stats.posts), (before.stats.accounts + 2_000, before.stats.posts + 120_000));
}
