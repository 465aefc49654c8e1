//! Importing a platform's accounts and posts from JSON-lines files.
//!
//! Each line is one record in Tollgate's own format (an `Account` or a `Post`,
//! exactly their serde form) or one X API v2 response page as twarc2 archives
//! it; the format is told apart per line, so archives and exports can be mixed.
//!
//! An import is all or nothing: both files are loaded inside one
//! `Store::bulk_load`, and the first bad line stops it with an error naming
//! the file, the line and the field, before anything is committed. Files are
//! streamed line by line through one reused buffer, so their size is bounded
//! by the disk, not by memory.

use std::collections::HashSet;
use std::fmt;
use std::fs::File;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use tollgate_domain::{Account, AccountId, Post};
use tollgate_store::{BulkWriter, Store, StoreError};

use crate::progress::Progress;
use crate::twarc::{self, XUser};

/// How often (in lines) progress is reported: rarely enough to cost nothing.
const REPORT_EVERY: u64 = 4096;
const READ_BUFFER: usize = 256 * 1024;

/// Settings of an import beyond its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOptions {
    /// The region given to accounts created from X user objects, which carry
    /// none (X's free-text `location` is not a country). `US` by default.
    pub default_region: String,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions { default_region: "US".to_owned() }
    }
}

/// What an import did.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportSummary {
    /// Distinct accounts written.
    pub accounts: u64,
    /// Post records written; a post given twice counts twice (keeping ten
    /// million ids in memory only to count them is not worth it).
    pub posts: u64,
    /// Tweets from a page's `includes.tweets` left out because their author
    /// is unknown (see `docs/import.md`).
    pub skipped: u64,
    /// Lines read, blank ones included.
    pub lines: u64,
    pub bytes: u64,
    /// Including the commit.
    pub elapsed: Duration,
}

impl ImportSummary {
    /// Records (accounts and posts) written per second.
    pub fn records_per_second(&self) -> f64 {
        (self.accounts + self.posts) as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "imported {} accounts and {} posts from {} lines ({:.1} MB) in {:.1} s ({:.0} records/s)",
            self.accounts,
            self.posts,
            self.lines,
            self.bytes as f64 / 1e6,
            self.elapsed.as_secs_f64(),
            self.records_per_second()
        )?;
        if self.skipped > 0 {
            write!(f, "; skipped {} referenced tweets whose author is unknown", self.skipped)?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("nothing to import: give an accounts file, a posts file or both")]
    NothingToImport,
    #[error("invalid default region `{0}`: an ISO 3166-1 alpha-2 code such as `US`")]
    DefaultRegion(String),
    #[error("cannot open `{}`: {source}", file.display())]
    Open {
        file: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot read `{}` after line {line}: {source} (nothing was imported)", file.display())]
    Read {
        file: PathBuf,
        line: u64,
        #[source]
        source: io::Error,
    },
    /// A line that cannot be imported as it is.
    #[error(
        "`{}` line {line}{}: {reason}; fix the line and run the import again (nothing was imported)",
        file.display(),
        field.as_ref().map(|f| format!(", field `{f}`")).unwrap_or_default()
    )]
    Line {
        file: PathBuf,
        /// 1-based.
        line: u64,
        /// The JSON path of the offending field, when known (`ai_preferences.train-ai`).
        field: Option<String>,
        reason: String,
    },
    #[error("`{}` line {line}: the store failed: {source} (nothing was imported)", file.display())]
    Store {
        file: PathBuf,
        line: u64,
        #[source]
        source: StoreError,
    },
    #[error("the import could not be committed: {0} (nothing was imported)")]
    Commit(#[source] StoreError),
}

/// Imports with the default options. See [`import_with`].
pub fn import(
    store: &dyn Store,
    accounts: Option<&Path>,
    posts: Option<&Path>,
    progress: &mut dyn Progress,
) -> Result<ImportSummary, ImportError> {
    import_with(store, accounts, posts, &ImportOptions::default(), progress)
}

/// Imports the accounts file, then the posts file, in one transaction. Either
/// may be left out; a record whose id exists is replaced (so re-importing the
/// same files changes nothing, and an edited line updates its record).
pub fn import_with(
    store: &dyn Store,
    accounts: Option<&Path>,
    posts: Option<&Path>,
    options: &ImportOptions,
    progress: &mut dyn Progress,
) -> Result<ImportSummary, ImportError> {
    let started = Instant::now();
    let region = &options.default_region;
    if region.len() != 2 || !region.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(ImportError::DefaultRegion(region.clone()));
    }
    // Open both files before the transaction starts: a mistyped path should
    // fail at once, not after the accounts were loaded.
    let mut inputs = Vec::new();
    for (path, kind) in [(accounts, Kind::Accounts), (posts, Kind::Posts)] {
        if let Some(path) = path {
            let file = File::open(path).map_err(|source| ImportError::Open { file: path.to_owned(), source })?;
            inputs.push((path, kind, Some(file)));
        }
    }
    if inputs.is_empty() {
        return Err(ImportError::NothingToImport);
    }

    let mut loader = Loader::new(store, region);
    let mut failure = None;
    let result = store.bulk_load(&mut |writer| {
        // Fresh state on every call, should a backend ever run `work` again.
        loader.reset();
        failure = None;
        for (path, kind, file) in &mut inputs {
            let opened = match file.take() {
                Some(f) => Ok(f),
                None => File::open(&path).map_err(|source| ImportError::Open { file: path.to_path_buf(), source }),
            };
            if let Err(e) = opened.and_then(|f| loader.load_file(writer, path, *kind, f, progress)) {
                failure = Some(e);
                return Err(StoreError::Aborted("the import stopped at an error".into()));
            }
        }
        Ok(())
    });
    match result {
        Ok(()) => Ok(ImportSummary {
            accounts: loader.imported.len() as u64,
            posts: loader.posts,
            skipped: loader.skipped,
            lines: loader.lines,
            bytes: loader.bytes,
            elapsed: started.elapsed(),
        }),
        Err(e) => Err(failure.unwrap_or(ImportError::Commit(e))),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Accounts,
    Posts,
}

/// Where a line came from, to name it in errors.
#[derive(Clone, Copy)]
struct At<'a> {
    file: &'a Path,
    line: u64,
}

impl At<'_> {
    fn error(self, field: Option<String>, reason: impl Into<String>) -> ImportError {
        ImportError::Line { file: self.file.to_owned(), line: self.line, field, reason: reason.into() }
    }

    fn store(self, e: StoreError) -> ImportError {
        match e {
            StoreError::Invalid { field, reason } => self.error(Some(field.to_owned()), reason),
            source => ImportError::Store { file: self.file.to_owned(), line: self.line, source },
        }
    }

    /// A refused account: a conflict is another account holding its handle.
    fn store_account(self, e: StoreError, handle_field: &str) -> ImportError {
        match e {
            StoreError::Conflict(reason) => self.error(Some(handle_field.to_owned()), reason),
            e => self.store(e),
        }
    }
}

/// A hasher for ids: they are already well spread numbers, so one multiply
/// and a shift (a Murmur3 finalizer step) is enough, far cheaper than SipHash.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u64(&mut self, x: u64) {
        let x = (x ^ (x >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
        self.0 = x ^ (x >> 33);
    }
}

type IdSet = HashSet<u64, BuildHasherDefault<IdHasher>>;

struct Loader<'a> {
    store: &'a dyn Store,
    region: &'a str,
    /// Accounts written by this import.
    imported: IdSet,
    /// Accounts found in the store, and ids found missing there.
    existing: IdSet,
    missing: IdSet,
    posts: u64,
    skipped: u64,
    lines: u64,
    bytes: u64,
    buffer: String,
}

impl<'a> Loader<'a> {
    fn new(store: &'a dyn Store, region: &'a str) -> Self {
        Loader {
            store,
            region,
            imported: IdSet::default(),
            existing: IdSet::default(),
            missing: IdSet::default(),
            posts: 0,
            skipped: 0,
            lines: 0,
            bytes: 0,
            buffer: String::with_capacity(4096),
        }
    }

    fn reset(&mut self) {
        self.imported.clear();
        self.existing.clear();
        self.missing.clear();
        (self.posts, self.skipped, self.lines, self.bytes) = (0, 0, 0, 0);
    }

    fn load_file(
        &mut self,
        writer: &mut dyn BulkWriter,
        path: &Path,
        kind: Kind,
        file: File,
        progress: &mut dyn Progress,
    ) -> Result<(), ImportError> {
        let total = file.metadata().map(|m| m.len()).unwrap_or(0);
        progress.start(path, total);
        let mut reader = BufReader::with_capacity(READ_BUFFER, file);
        let mut buffer = std::mem::take(&mut self.buffer);
        let (mut line, mut pending_bytes, mut pending_records) = (0u64, 0u64, 0u64);
        loop {
            buffer.clear();
            let n = match reader.read_line(&mut buffer) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    let at = At { file: path, line: line + 1 };
                    return Err(at.error(None, "not valid UTF-8 text: JSON lines must be UTF-8"));
                }
                Err(source) => return Err(ImportError::Read { file: path.to_owned(), line, source }),
            };
            if n == 0 {
                break;
            }
            line += 1;
            pending_bytes += n as u64;
            let mut text = buffer.as_str();
            if line == 1 {
                text = text.strip_prefix('\u{feff}').unwrap_or(text);
            }
            let text = text.trim_ascii();
            if !text.is_empty() {
                pending_records += self.load_line(writer, At { file: path, line }, kind, text)?;
            }
            if line.is_multiple_of(REPORT_EVERY) {
                progress.advance(pending_bytes, pending_records);
                self.bytes += pending_bytes;
                (pending_bytes, pending_records) = (0, 0);
            }
        }
        progress.advance(pending_bytes, pending_records);
        progress.finish();
        self.bytes += pending_bytes;
        self.lines += line;
        self.buffer = buffer;
        Ok(())
    }

    /// Loads one non-blank line; returns how many records it wrote.
    fn load_line(
        &mut self,
        writer: &mut dyn BulkWriter,
        at: At<'_>,
        kind: Kind,
        text: &str,
    ) -> Result<u64, ImportError> {
        if first_key(text).is_some_and(|k| twarc::PAGE_KEYS.contains(&k)) {
            return self.load_page(writer, at, text);
        }
        match kind {
            Kind::Accounts => {
                let account: Account = parse(text).map_err(|(field, reason)| {
                    let reason = if parse::<Post>(text).is_ok() {
                        "this is a post, not an account: posts go in the posts file".to_owned()
                    } else {
                        reason
                    };
                    at.error(field, reason)
                })?;
                account.validate().map_err(|(field, reason)| at.error(Some(field.to_owned()), reason))?;
                writer.put_account(&account).map_err(|e| at.store_account(e, "handle"))?;
                self.imported.insert(account.id.0);
                Ok(1)
            }
            Kind::Posts => {
                let post: Post = parse(text).map_err(|(field, reason)| {
                    let reason = if parse::<Account>(text).is_ok() {
                        "this is an account, not a post: accounts go in the accounts file".to_owned()
                    } else {
                        reason
                    };
                    at.error(field, reason)
                })?;
                post.validate().map_err(|(field, reason)| at.error(Some(field.to_owned()), reason))?;
                if !self.author_known(post.author_id).map_err(|e| at.store(e))? {
                    return Err(unknown_author(at, "author_id".to_owned(), post.author_id));
                }
                writer.put_post(&post).map_err(|e| at.store(e))?;
                self.posts += 1;
                Ok(1)
            }
        }
    }

    /// A twarc2 page: its users first (so that its tweets find their
    /// authors), then the tweets it refers to, then its own tweets.
    fn load_page(&mut self, writer: &mut dyn BulkWriter, at: At<'_>, text: &str) -> Result<u64, ImportError> {
        let page: twarc::Page = parse(text).map_err(|(field, reason)| at.error(field, reason))?;
        let mut written = 0;
        for (i, user) in page.includes.users.iter().enumerate() {
            // A user object carries no region, age or AI preferences: writing it
            // over an existing account would wipe them. It only creates accounts.
            let id = AccountId(user.id.0);
            if self.author_known(id).map_err(|e| at.store(e))? {
                continue;
            }
            let account = user.to_account(self.region);
            account.validate().map_err(|(field, reason)| {
                at.error(Some(format!("includes.users[{i}].{}", XUser::x_field(field))), reason)
            })?;
            writer.put_account(&account).map_err(|e| at.store_account(e, &format!("includes.users[{i}].username")))?;
            self.imported.insert(id.0);
            self.missing.remove(&id.0);
            written += 1;
        }
        for (section, tweets) in [("includes.tweets", &page.includes.tweets), ("data", &page.data)] {
            for (i, tweet) in tweets.iter().enumerate() {
                let post = tweet.to_post();
                post.validate().map_err(|(field, reason)| at.error(Some(format!("{section}[{i}].{field}")), reason))?;
                if !self.author_known(post.author_id).map_err(|e| at.store(e))? {
                    if section == "data" {
                        return Err(unknown_author(at, format!("data[{i}].author_id"), post.author_id));
                    }
                    // A referenced tweet by a user the page does not include
                    // (withheld, or the archive left the expansion out).
                    self.skipped += 1;
                    continue;
                }
                writer.put_post(&post).map_err(|e| at.store(e))?;
                self.posts += 1;
                written += 1;
            }
        }
        Ok(written)
    }

    /// Whether `id` was imported earlier in this run or is in the store.
    fn author_known(&mut self, id: AccountId) -> Result<bool, StoreError> {
        if self.imported.contains(&id.0) || self.existing.contains(&id.0) {
            return Ok(true);
        }
        if self.missing.contains(&id.0) {
            return Ok(false);
        }
        let found = self.store.account(id)?.is_some();
        if found {
            self.existing.insert(id.0)
        } else {
            self.missing.insert(id.0)
        };
        Ok(found)
    }
}

fn unknown_author(at: At<'_>, field: String, id: AccountId) -> ImportError {
    at.error(
        Some(field),
        format!("unknown author `{id}`: no account with this id in this import or in the store (import the account first, or in the same run)"),
    )
}

/// The first key of a JSON object line, if it has one (without unescaping:
/// the keys looked for have no escapes).
fn first_key(line: &str) -> Option<&str> {
    let rest = line.strip_prefix('{')?.trim_ascii_start().strip_prefix('"')?;
    rest.find('"').map(|end| &rest[..end])
}

/// Deserializes one line. On failure, returns the JSON path of the offending
/// field (found by parsing once more, tracking the path: a cost paid only for
/// the line that failed) and the reason.
fn parse<T: DeserializeOwned>(text: &str) -> Result<T, (Option<String>, String)> {
    let first = match serde_json::from_str::<T>(text) {
        Ok(value) => return Ok(value),
        Err(e) => e,
    };
    if first.is_syntax() || first.is_eof() {
        return Err((None, format!("not valid JSON: {} at column {}", message(&first), first.column())));
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let (path, error) = match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Err(e) => (e.path().to_string(), e.into_inner()),
        Ok(_) => (".".to_owned(), first),
    };
    let reason = message(&error);
    let mut field = (path != ".").then_some(path);
    // serde names a missing or unknown field in its message, not in the path.
    let named = reason.strip_prefix("missing field `").or_else(|| reason.strip_prefix("unknown field `"));
    if let Some(name) = named.and_then(|rest| rest.split('`').next()) {
        field = Some(match field {
            Some(parent) if !parent.ends_with(name) => format!("{parent}.{name}"),
            Some(parent) => parent,
            None => name.to_owned(),
        });
    }
    Err((field, reason))
}

/// serde_json's message without its position suffix (always line 1 here).
fn message(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    full.strip_suffix(&suffix).map(str::to_owned).unwrap_or(full)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of<T: DeserializeOwned>(text: &str) -> (Option<String>, String) {
        parse::<T>(text).err().unwrap()
    }

    const ACCOUNT: &str =
        r#"{"id":1,"handle":"ada","display_name":"Ada","created_at":"2020-01-01T00:00:00Z","region":"GB""#;

    #[test]
    fn errors_name_the_json_path() {
        let (field, reason) = field_of::<Account>(&format!(
            "{ACCOUNT},\"ai_preferences\":{{\"train-ai\":{{\"third-parties\":\"maybe\"}}}}}}"
        ));
        assert_eq!(field.as_deref(), Some("ai_preferences.train-ai.third-parties"), "{reason}");

        let (field, reason) = field_of::<Account>(&(ACCOUNT.replace("2020-01-01T00:00:00Z", "yesterday") + "}"));
        assert_eq!(field.as_deref(), Some("created_at"));
        assert_eq!(
            reason,
            "invalid timestamp `yesterday`: an RFC 3339 time such as `2025-06-05T12:00:00Z` or `2025-06-05T14:00:00.5+02:00`"
        );

        let (field, reason) = field_of::<Account>(&format!("{ACCOUNT},\"colour\":\"red\"}}"));
        assert_eq!(field.as_deref(), Some("colour"), "{reason}");
        assert!(reason.starts_with("unknown field `colour`"), "{reason}");

        let (field, _) = field_of::<Post>(r#"{"id":1,"author_id":2,"text":"hi"}"#);
        assert_eq!(field.as_deref(), Some("created_at"));

        let (field, reason) = field_of::<Post>(r#"{"id":1,"author_id":2,"text":"hi""#);
        assert_eq!(field, None);
        assert!(reason.starts_with("not valid JSON: EOF while parsing an object at column"), "{reason}");

        let (field, _) = field_of::<twarc::Page>(
            r#"{"data":[{"id":"1","text":"a","author_id":"2"},{"id":"3","text":"b","author_id":"2","created_at":"soon"}]}"#,
        );
        assert_eq!(field.as_deref(), Some("data[1].created_at"));
    }

    #[test]
    fn the_line_error_reads_as_documented() {
        let e = At { file: Path::new("posts.jsonl"), line: 42 }.error(
            Some("created_at".into()),
            "invalid timestamp `yesterday`: an RFC 3339 time such as `2025-06-05T12:00:00Z` or `2025-06-05T14:00:00.5+02:00`",
        );
        assert_eq!(
            e.to_string(),
            "`posts.jsonl` line 42, field `created_at`: invalid timestamp `yesterday`: an RFC 3339 time such as \
             `2025-06-05T12:00:00Z` or `2025-06-05T14:00:00.5+02:00`; fix the line and run the import again \
             (nothing was imported)"
        );
    }

    #[test]
    fn first_key_tells_pages_from_records() {
        assert_eq!(first_key(r#"{"data": []}"#), Some("data"));
        assert_eq!(first_key(r#"{ "__twarc": {}}"#), Some("__twarc"));
        assert_eq!(first_key(r#"{"id": 1}"#), Some("id"));
        assert_eq!(first_key("[]"), None);
        assert_eq!(first_key("{}"), None);
    }
}
