//! The group-commit writer. Every release awaits `LedgerWriter::record`, which
//! returns only once the entry is durable; concurrent records share one
//! transaction (and one fsync), so durability stays cheap under load.
//!
//! The road not taken: a write per request (one fsync each) caps throughput at
//! the disk's fsync rate; an asynchronous, fire-and-forget append would let a
//! response leave before its entry exists.

use std::sync::Arc;
use std::sync::mpsc;
use std::thread;

use tokio::sync::oneshot;
use tollgate_store::{LedgerRow, Store, StoreError};

use crate::{Entry, GENESIS, chain_hash, leaf_hash};

/// Proof that an entry is durable: its position in the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    pub seq: u64,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum LedgerError {
    #[error("the ledger could not be written: {0}")]
    Store(String),
    #[error("the ledger writer has stopped")]
    Stopped,
}

impl From<StoreError> for LedgerError {
    fn from(e: StoreError) -> Self {
        LedgerError::Store(e.to_string())
    }
}

struct Job {
    entry: Entry,
    done: oneshot::Sender<Result<Receipt, LedgerError>>,
}

/// Handle to the writer thread; cheap to clone.
#[derive(Clone)]
pub struct LedgerWriter {
    jobs: mpsc::Sender<Job>,
}

/// The most entries one commit takes.
const MAX_BATCH: usize = 4096;

impl LedgerWriter {
    /// Starts the writer thread, continuing the chain from the store's last row.
    pub fn start(store: Arc<dyn Store>) -> Result<LedgerWriter, LedgerError> {
        let head = store.ledger_last()?.map(|row| (row.seq + 1, row.hash)).unwrap_or((0, GENESIS));
        let (jobs, rx) = mpsc::channel::<Job>();
        thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || run(store, rx, head))
            .map_err(|e| LedgerError::Store(format!("cannot start the writer thread: {e}")))?;
        Ok(LedgerWriter { jobs })
    }

    /// Appends `entry` and returns once it is durable.
    pub async fn record(&self, entry: Entry) -> Result<Receipt, LedgerError> {
        let (done, wait) = oneshot::channel();
        self.jobs.send(Job { entry, done }).map_err(|_| LedgerError::Stopped)?;
        wait.await.map_err(|_| LedgerError::Stopped)?
    }

    /// Blocking variant for synchronous callers (CLI exports, tests).
    pub fn record_blocking(&self, entry: Entry) -> Result<Receipt, LedgerError> {
        let (done, wait) = oneshot::channel();
        self.jobs.send(Job { entry, done }).map_err(|_| LedgerError::Stopped)?;
        wait.blocking_recv().map_err(|_| LedgerError::Stopped)?
    }
}

fn run(store: Arc<dyn Store>, rx: mpsc::Receiver<Job>, (mut next_seq, mut head): (u64, [u8; 32])) {
    let mut batch: Vec<Job> = Vec::new();
    let mut rows: Vec<LedgerRow> = Vec::new();
    while let Ok(first) = rx.recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        rows.clear();
        let mut chain = head;
        for (i, job) in batch.iter().enumerate() {
            let body = job.entry.encode();
            chain = chain_hash(&chain, &leaf_hash(&body));
            rows.push(LedgerRow {
                seq: next_seq + i as u64,
                time: job.entry.time,
                app_id: job.entry.app_id,
                body,
                hash: chain,
            });
        }
        match store.ledger_append(&rows) {
            Ok(()) => {
                for (i, job) in batch.drain(..).enumerate() {
                    let _ = job.done.send(Ok(Receipt { seq: next_seq + i as u64 }));
                }
                next_seq += rows.len() as u64;
                head = chain;
            }
            Err(e) => {
                // Nothing of the batch was written: every waiting response fails,
                // and the chain head stays where the store says it is.
                let err = LedgerError::from(e);
                for job in batch.drain(..) {
                    let _ = job.done.send(Err(err.clone()));
                }
                if let Ok(last) = store.ledger_last() {
                    (next_seq, head) = last.map(|r| (r.seq + 1, r.hash)).unwrap_or((0, GENESIS));
                }
            }
        }
    }
}
