//! `tollgate ledger prune` and the scheduled prune of `serve`, on a real data
//! directory: expired segments are sealed and their rows deleted, with the
//! retention period from the configuration.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use clap::Parser;
use tollgate_cli::retention::PruneSchedule;
use tollgate_cli::{Cli, exit};
use tollgate_domain::{AppId, PostId, Purpose, Timestamp};
use tollgate_ledger::{
    Channel, Entry, EntryIndex, GENESIS, Ledger, LedgerDb, LedgerRow, LedgerWriter, Outcome, SEGMENT_SIZE,
    VerifyOptions, chain_hash, leaf_hash,
};
use tollgate_store_sqlite::{SqliteOptions, Synchronous};

/// Entries older than any retention period, then a few recent ones.
const OLD: u64 = SEGMENT_SIZE;
const TOTAL: u64 = OLD + 10;

struct DataDir(PathBuf);

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn open(dir: &Path) -> Arc<LedgerDb> {
    let options = SqliteOptions { synchronous: Synchronous::Normal, read_connections: 1, ..SqliteOptions::default() };
    Arc::new(LedgerDb::open(dir, &options).unwrap())
}

/// A data directory whose ledger holds one segment of entries from 2020 and
/// ten from now, under a signed checkpoint (written into `ledger.db` alone, as
/// a Tollgate before segment files left it: the writer copies them into
/// segment files when it starts).
fn data_dir(name: &str) -> DataDir {
    let dir = std::env::temp_dir().join(format!("tollgate-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = open(&dir);
    let now = Timestamp::now().millis();
    let mut chain = GENESIS;
    for start in (0..TOTAL).step_by(8192) {
        let (mut rows, mut index) = (Vec::new(), Vec::new());
        for i in start..(start + 8192).min(TOTAL) {
            let time = if i < OLD { 1_600_000_000_000 + i as i64 } else { now };
            let entry = Entry {
                v: Entry::VERSION,
                time: Timestamp::from_millis(time),
                request_id: format!("r{i}"),
                channel: Channel::Api,
                app_id: Some(AppId(1)),
                key_id: None,
                client: None,
                endpoint: "/2/tweets".into(),
                purpose: Some(Purpose::Display),
                outcome: Outcome::Served,
                posts: vec![PostId(1000 + i)],
                authors: Vec::new(),
                accounts: Vec::new(),
                withheld: Default::default(),
                notices: Vec::new(),
                policy_version: "p1".into(),
                guard: None,
            };
            let body = entry.encode().unwrap();
            chain = chain_hash(&chain, &leaf_hash(&body));
            index.push(EntryIndex {
                purpose: entry.purpose,
                policy_version: entry.policy_version.clone(),
                posts: 1,
                ..EntryIndex::default()
            });
            rows.push(LedgerRow { seq: i, time: entry.time, app_id: entry.app_id, body, hash: chain, place: None });
        }
        store.ledger_append(&rows, &index).unwrap();
    }
    LedgerWriter::start(store, &dir).unwrap().shutdown();
    DataDir(dir)
}

fn tollgate(dir: &DataDir, args: &[&str]) -> Result<(), tollgate_cli::Failure> {
    let data_dir = dir.0.to_str().unwrap();
    tollgate_cli::run(Cli::parse_from(["tollgate", "--data-dir", data_dir].iter().chain(args)))
}

fn first_stored(dir: &DataDir) -> u64 {
    open(&dir.0).ledger_read(0, 1).unwrap()[0].seq
}

#[test]
fn ledger_prune_deletes_what_the_configured_retention_expires() {
    let dir = data_dir("prune");
    // Retention off: nothing expires unless a cut-off is given.
    let off = tollgate(&dir, &["--ledger-retention-days", "0", "ledger", "prune"]).unwrap_err();
    assert_eq!(off.code, exit::INVALID_INPUT, "{}", off.message);
    assert!(off.message.contains("--retention-days"), "{}", off.message);
    tollgate(&dir, &["ledger", "prune", "--dry-run"]).unwrap();
    assert_eq!(first_stored(&dir), 0);
    // The default retention (730 days) expires the 2020 segment.
    tollgate(&dir, &["ledger", "prune", "--json"]).unwrap();
    assert_eq!(first_stored(&dir), OLD);
    let report = Ledger::new(open(&dir.0), &dir.0).verify(&VerifyOptions::default()).unwrap();
    assert!(report.ok() && report.pruned[0].rows_removed, "{:?}", report.breaks);
    tollgate(&dir, &["ledger", "verify"]).unwrap();
}

#[test]
fn serve_prunes_on_schedule_and_reports_what_it_dropped() {
    let dir = data_dir("schedule");
    let (sent, reports) = mpsc::channel();
    let ledger = Ledger::new(open(&dir.0), &dir.0);
    let log = move |m: &str| sent.send(m.to_owned()).unwrap();
    let schedule = PruneSchedule::start(ledger, 730, Duration::ZERO, Duration::from_secs(3600), log).unwrap();
    let report = reports.recv_timeout(Duration::from_secs(120)).unwrap();
    assert!(
        report.contains("sealed entries 0..65535 (1 segment of 65,536)") && report.contains("deleted 65536"),
        "{report}"
    );
    assert_eq!(first_stored(&dir), OLD);
    drop(schedule);
}
