//! Batch compliance jobs as the store keeps them: a job's metadata, the ids a
//! recipient uploaded to it and the results computed for them.
//!
//! The store keeps what a job *is*; what a job's results *say* is decided in
//! the API (through the deliverer's policy) and handed to the store whole, as
//! opaque bytes. The store is the seam between nodes: a job created on one
//! node is uploaded, processed and downloaded on any other, so everything of
//! it lives here and nothing in a node's memory.

use std::fmt;
use std::str::FromStr;

use tollgate_domain::{AppId, Timestamp};

/// What a job's ids are: posts (`tweets`, X's name) or accounts (`users`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobKind {
    Tweets,
    Users,
}

impl JobKind {
    pub const ALL: [JobKind; 2] = [JobKind::Tweets, JobKind::Users];

    /// X's name of the kind (`type` in X's job object).
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Tweets => "tweets",
            JobKind::Users => "users",
        }
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobKind {
    type Err = ();
    fn from_str(s: &str) -> Result<JobKind, ()> {
        JobKind::ALL.into_iter().find(|k| k.as_str() == s).ok_or(())
    }
}

/// Where a job is in its life, with X's names.
///
/// `Created` → (upload) `InProgress` → `Complete` or `Failed`; any job whose
/// download URL has expired, and a `Created` one whose upload URL has, is
/// `Expired`, its ids and results dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobStatus {
    Created,
    InProgress,
    Complete,
    Expired,
    Failed,
}

impl JobStatus {
    pub const ALL: [JobStatus; 5] =
        [JobStatus::Created, JobStatus::InProgress, JobStatus::Complete, JobStatus::Expired, JobStatus::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Created => "created",
            JobStatus::InProgress => "in_progress",
            JobStatus::Complete => "complete",
            JobStatus::Expired => "expired",
            JobStatus::Failed => "failed",
        }
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobStatus {
    type Err = ();
    fn from_str(s: &str) -> Result<JobStatus, ()> {
        JobStatus::ALL.into_iter().find(|k| k.as_str() == s).ok_or(())
    }
}

/// A new job; the store assigns its id and sets it `Created`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewComplianceJob {
    pub app_id: AppId,
    pub kind: JobKind,
    pub name: Option<String>,
    pub resumable: bool,
    pub created_at: Timestamp,
    pub upload_expires_at: Timestamp,
    pub download_expires_at: Timestamp,
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComplianceJob {
    pub id: u64,
    /// The app that created the job: the only one that may see it.
    pub app_id: AppId,
    pub kind: JobKind,
    pub name: Option<String>,
    pub resumable: bool,
    pub status: JobStatus,
    pub created_at: Timestamp,
    pub upload_expires_at: Timestamp,
    pub download_expires_at: Timestamp,
    /// How many distinct ids were uploaded (0 before the upload).
    pub uploaded: u64,
    /// How many result lines the job has (0 until it is complete).
    pub results: u64,
    /// Why a `Failed` job failed.
    pub error: Option<String>,
}
