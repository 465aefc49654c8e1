//! The ledger's own files beside the store: `DATA/ledger/key` (the signing
//! key), `DATA/ledger/checkpoints.log` and `DATA/ledger/pruned.log` (signed
//! records, one JSON object per line), `DATA/ledger/head.json` (a recent
//! checkpoint, replaced atomically), `DATA/ledger/head.slots` (the head of
//! every commit, written in place: `slots`), and the writer's and pruner's
//! locks.
//!
//! The logs are append-only and every record is written as one line with its
//! newline in one `write`, synced before the next one is written, so a crash
//! can only ever leave the record being written incomplete, and only at the
//! very end of the file, without its newline. The rule for reading
//! (documented in docs/ledger.md): bytes after the last newline are an
//! interrupted write and are ignored; the next writer cuts them off before
//! appending. A complete line (ending in a newline) that does not parse is an
//! alteration, wherever it is.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::LedgerError;
use crate::key::{LedgerKey, PublicKey};

/// The directory of the ledger's files inside the data directory.
pub const LEDGER_DIR: &str = "ledger";

/// Where the ledger keeps its key and its signed records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerFiles {
    dir: PathBuf,
}

impl LedgerFiles {
    /// `DATA/ledger`.
    pub fn in_data_dir(data_dir: &Path) -> LedgerFiles {
        LedgerFiles { dir: data_dir.join(LEDGER_DIR) }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn key_path(&self) -> PathBuf {
        self.dir.join("key")
    }

    pub fn checkpoints_path(&self) -> PathBuf {
        self.dir.join("checkpoints.log")
    }

    pub fn pruned_path(&self) -> PathBuf {
        self.dir.join("pruned.log")
    }

    pub fn head_path(&self) -> PathBuf {
        self.dir.join("head.json")
    }

    /// The segment files (`segments`): the entries and the head of every commit.
    pub fn segments_dir(&self) -> PathBuf {
        self.dir.join(crate::segments::SEGMENTS_DIR)
    }

    /// The head of every commit, written in place (`slots`), by Tollgate
    /// before segment files; read if present, no longer written.
    pub fn head_slots_path(&self) -> PathBuf {
        self.dir.join("head.slots")
    }

    /// Removes temporary files an interrupted `write_atomic` (or creation of
    /// the head slots) left behind.
    pub(crate) fn remove_stray_temporaries(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else { return };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if (name.starts_with(".head.json.") || name.starts_with(".head.slots.")) && name.ends_with(".tmp") {
                let _ = fs::remove_file(entry.path());
            }
        }
    }

    /// Creates the directory (owner-only) if it is missing.
    pub fn create_dir(&self) -> Result<(), LedgerError> {
        if self.dir.is_dir() {
            return Ok(());
        }
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(&self.dir).map_err(|e| LedgerError::Io(format!("creating {}: {e}", self.dir.display())))?;
        if let Some(parent) = self.dir.parent() {
            sync_dir(parent)?;
        }
        Ok(())
    }

    /// The public key, if a key exists.
    pub fn public_key(&self) -> Result<Option<PublicKey>, LedgerError> {
        Ok(LedgerKey::load(&self.key_path())?.map(|k| k.public()))
    }

    /// The signing key, created on first use.
    pub fn load_or_create_key(&self) -> Result<LedgerKey, LedgerError> {
        self.create_dir()?;
        LedgerKey::load_or_create(&self.key_path())
    }

    /// Takes the writer's lock: one process appends to this ledger at a time.
    /// The lock goes with the returned file (and with the process, if it dies).
    pub(crate) fn lock_writer(&self) -> Result<File, LedgerError> {
        self.lock("writer.lock", "writing")
    }

    /// Takes the pruner's lock: one prune at a time appends to `pruned.log`.
    pub(crate) fn lock_pruner(&self) -> Result<File, LedgerError> {
        self.lock("prune.lock", "pruning")
    }

    fn lock(&self, name: &str, what: &'static str) -> Result<File, LedgerError> {
        let path = self.dir.join(name);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| LedgerError::Io(format!("opening {}: {e}", path.display())))?;
        match file.try_lock() {
            Ok(()) => Ok(file),
            Err(std::fs::TryLockError::WouldBlock) => Err(LedgerError::Busy(what, self.dir.display().to_string())),
            Err(std::fs::TryLockError::Error(e)) => Err(LedgerError::Io(format!("locking {}: {e}", path.display()))),
        }
    }
}

/// What reading a log found.
#[derive(Debug)]
pub(crate) struct Log<T> {
    /// Complete, parsed records with their 1-based line numbers.
    pub records: Vec<(usize, T)>,
    /// Complete lines that do not parse: alterations.
    pub malformed: Vec<(usize, String)>,
    /// The length of an interrupted last write that is ignored.
    pub torn: Option<u64>,
    /// The file's length without that interrupted write.
    pub keep: u64,
}

impl<T> Default for Log<T> {
    fn default() -> Self {
        Log { records: Vec::new(), malformed: Vec::new(), torn: None, keep: 0 }
    }
}

/// Reads a log of JSON lines; a missing file is an empty log.
pub(crate) fn read_log<T>(path: &Path, parse: impl Fn(&[u8]) -> Result<T, String>) -> Result<Log<T>, LedgerError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Log::default()),
        Err(e) => return Err(LedgerError::Io(format!("reading {}: {e}", path.display()))),
    };
    let mut log = Log::default();
    let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let lines: Vec<&[u8]> =
        if complete == 0 { Vec::new() } else { bytes[..complete - 1].split(|&b| b == b'\n').collect() };
    // INVARIANT (torn-tail): only the record written last can have been
    // interrupted, because each record is synced before the next is written,
    // and a record's newline is the last byte of its one write; so only the
    // bytes after the last newline may be excused. A crash that leaves the
    // newline leaves the whole line.
    let keep = complete;
    for (i, line) in lines.iter().enumerate() {
        match parse(line) {
            Ok(record) => log.records.push((i + 1, record)),
            Err(why) => log.malformed.push((i + 1, why)),
        }
    }
    if keep < bytes.len() {
        log.torn = Some((bytes.len() - keep) as u64);
    }
    log.keep = keep as u64;
    Ok(log)
}

/// Appends records to a log, each synced before `append` returns.
#[derive(Debug)]
pub(crate) struct LogAppender {
    file: File,
    path: PathBuf,
}

impl LogAppender {
    /// Opens the log for appending, first cutting off an interrupted write
    /// (everything after `keep` bytes).
    pub fn open(path: &Path, keep: u64) -> Result<LogAppender, LedgerError> {
        let io = |what: &str, e: std::io::Error| LedgerError::Io(format!("{what} {}: {e}", path.display()));
        let existed = path.exists();
        let file = OpenOptions::new().append(true).create(true).open(path).map_err(|e| io("opening", e))?;
        let len = file.metadata().map_err(|e| io("reading the size of", e))?.len();
        if len > keep {
            file.set_len(keep).map_err(|e| io("cutting an interrupted write off", e))?;
            file.sync_all().map_err(|e| io("syncing", e))?;
        }
        if !existed && let Some(dir) = path.parent() {
            sync_dir(dir)?;
        }
        Ok(LogAppender { file, path: path.to_owned() })
    }

    /// Writes one line (a newline is added) and syncs it.
    pub fn append(&mut self, line: &[u8]) -> Result<(), LedgerError> {
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line);
        buf.push(b'\n');
        self.file
            .write_all(&buf)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| LedgerError::Io(format!("appending to {}: {e}", self.path.display())))
    }
}

/// Syncs a directory, so that a file created or renamed in it survives a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), LedgerError> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| LedgerError::Io(format!("syncing the directory {}: {e}", dir.display())))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Writes a file atomically: a temporary file beside it, synced, renamed over
/// it, the directory synced. Readers see the old file or the new one whole.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), LedgerError> {
    let io = |what: &str, e: std::io::Error| LedgerError::Io(format!("{what} {}: {e}", path.display()));
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| LedgerError::Io(format!("{} names no file to write", path.display())))?;
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = File::create(&temp).map_err(|e| io("creating a temporary file for", e))?;
        file.write_all(contents).map_err(|e| io("writing", e))?;
        file.sync_all().map_err(|e| io("syncing", e))?;
        fs::rename(&temp, path).map_err(|e| io("renaming into", e))?;
        sync_dir(&dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &[u8]) -> Result<u32, String> {
        std::str::from_utf8(line).ok().and_then(|s| s.parse().ok()).ok_or_else(|| "not a number".into())
    }

    #[test]
    fn an_interrupted_last_write_is_ignored_and_cut_off_but_a_complete_bad_line_is_not() {
        let dir = std::env::temp_dir().join(format!("tollgate-ledger-log-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("test.log");
        for (content, records, malformed, torn) in [
            ("", vec![], vec![], None),
            ("1\n2\n", vec![1, 2], vec![], None),
            ("1\n2\n3", vec![1, 2], vec![], Some(1)),
            ("1\n2\n\0\0\0", vec![1, 2], vec![], Some(3)),
            ("1\n2\nx3\n", vec![1, 2], vec![3], None),
            ("1\n2\nx3\n4", vec![1, 2], vec![3], Some(1)),
            ("1\nx\n3\n", vec![1, 3], vec![2], None),
        ] {
            fs::write(&path, content).unwrap();
            let log = read_log(&path, parse).unwrap();
            assert_eq!(log.records.iter().map(|r| r.1).collect::<Vec<_>>(), records, "{content:?}");
            assert_eq!(log.malformed.iter().map(|m| m.0).collect::<Vec<_>>(), malformed, "{content:?}");
            assert_eq!(log.torn, torn, "{content:?}");
            let mut appender = LogAppender::open(&path, log.keep).unwrap();
            appender.append(b"9").unwrap();
            let again = read_log(&path, parse).unwrap();
            assert_eq!(again.torn, None);
            assert_eq!(again.records.last().map(|r| r.1), Some(9));
            assert_eq!(again.records.len(), records.len() + 1);
        }
        let _ = fs::remove_dir_all(&dir);
    }
}
