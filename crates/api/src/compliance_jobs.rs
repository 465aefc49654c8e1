//! X API v2 batch compliance jobs: a recipient uploads the ids of posts (or
//! accounts) it holds and downloads, for each one whose state changed, what
//! it must now do with it.
//!
//! `POST /2/compliance/jobs` creates a job and answers with two signed URLs
//! on this server: `upload_url` (`PUT /2/compliance/jobs/{id}/upload`, valid
//! 15 minutes) and `download_url` (`GET /2/compliance/jobs/{id}/download`,
//! valid one week from creation), as X's document gives them. Like X's
//! storage URLs they need no bearer token: the HMAC signature in their query
//! (`expires`, `signature`; the key is the store's `compliance_secret`, so
//! every node shares it) is the authorisation. Every other route takes the
//! app's bearer token, and a job is visible to the app that created it only:
//! any other gets `404`, as for a job that does not exist.
//!
//! The results are the policy's, not a second rule set: each uploaded id is
//! read in its current state, classed as a delivery would class it, and
//! decided by the deliverer's policy for each purpose the app declared
//! (`Judge`). An id withheld for some purpose gets a line naming the reason
//! (`X_REASONS`: X's values where X has one, Tollgate's own for AI consent);
//! an id deliverable for every declared purpose, or unknown, gets none, as on
//! X. Each download is a notice to the recipient, recorded in the ledger
//! before it is sent (`Deliverer::record_notices`), and acknowledges the
//! app's open obligations about the ids it lists (`acknowledged_by`).

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tollgate_deliver::Recipient;
use tollgate_domain::{
    Account, AccountId, AgreementState, App, AppStatus, AuthorFacts, ContentClass, Decision, IdMap, Post, PostFacts,
    PostId, Purpose, Reason, Timestamp,
};
use tollgate_policy::{AppFacts, PolicyEngine};
use tollgate_store::{ComplianceJob, JobKind, JobStatus, NewComplianceJob};

use crate::ApiState;
use crate::content::handle;
use crate::error::ApiError;
use crate::params::{Params, parse_id};
use crate::routes::{Method, Table};

/// How long an upload URL is valid: 15 minutes from the job's creation (X's
/// batch compliance introduction: "The upload_url expires after 15 minutes").
pub const UPLOAD_VALID_SECS: i64 = 15 * 60;

/// How long a download URL, and the job's results, are kept: one week from
/// the job's creation (X: "The download_url expires after one week (from
/// when the job was created)").
pub const DOWNLOAD_VALID_SECS: i64 = 7 * 24 * 60 * 60;

/// The most ids one upload may hold. X's documents give no number (they
/// speak of "millions of IDs"); this is Tollgate's, five times the million
/// its benchmark processes in seconds (BENCHMARKS.md, "Compliance jobs").
pub const MAX_UPLOAD_IDS: usize = 5_000_000;

/// The largest upload body: `MAX_UPLOAD_IDS` ids of X's longest form (19
/// digits) with CRLF line ends.
pub const MAX_UPLOAD_BYTES: usize = MAX_UPLOAD_IDS * 21;

/// The longest name a job may have (X's `ComplianceJob.name`: `maxLength` 64).
const MAX_NAME_CHARS: usize = 64;

/// Ids read from the store at once while a job is processed.
const READ_BATCH: usize = 20_000;

/// The sizes an upload may have (`MAX_UPLOAD_IDS`, `MAX_UPLOAD_BYTES` unless
/// a test sets smaller ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobLimits {
    pub max_ids: usize,
    pub max_upload_bytes: usize,
}

impl JobLimits {
    pub const DEFAULT: JobLimits = JobLimits { max_ids: MAX_UPLOAD_IDS, max_upload_bytes: MAX_UPLOAD_BYTES };
}

impl Default for JobLimits {
    fn default() -> Self {
        JobLimits::DEFAULT
    }
}

/// Tollgate's reason codes as the `reason` of a result line: X's value where
/// X has one (`deleted`, `suspended`, `deactivated`, `protected`), Tollgate's
/// own for what X does not know (`ai_consent_withdrawn`, `no_ai`, `minor`).
/// The order is the precedence: when the purposes of an app are withheld for
/// different reasons, the line names the first of them here. A code not in
/// the table (an operator's own policy) is given as it is, after these.
pub const X_REASONS: [(Reason, &str); 7] = [
    (Reason::DELETED, "deleted"),
    (Reason::AUTHOR_SUSPENDED, "suspended"),
    (Reason::AUTHOR_DEACTIVATED, "deactivated"),
    (Reason::PROTECTED_ACCOUNT, "protected"),
    (Reason::MINOR, "minor"),
    (Reason::AUTHOR_OPTED_OUT, "ai_consent_withdrawn"),
    (Reason::POST_NO_AI, "no_ai"),
];

/// Reasons about the app, not the item: a purpose refused for them is
/// refused whole, so it says nothing about any id and is left out.
const APP_REASONS: [Reason; 5] = [
    Reason::APP_SUSPENDED,
    Reason::AGREEMENT_NOT_ACCEPTED,
    Reason::PURPOSE_NOT_DECLARED,
    Reason::AGREEMENT_PROHIBITS,
    Reason::NOT_LICENSED,
];

/// Adds the compliance job routes.
pub(crate) fn routes(table: Table) -> Table {
    use Method::{Delete, Get, Post, Put};
    table
        .add(Post, "/2/compliance/jobs", create_job)
        .add(Get, "/2/compliance/jobs", list_jobs)
        .add(Get, "/2/compliance/jobs/{id}", get_job)
        .add(Delete, "/2/compliance/jobs/{id}", delete_job)
        .add(Put, "/2/compliance/jobs/{id}/upload", upload)
        .add(Get, "/2/compliance/jobs/{id}/download", download)
}

// -- signed URLs ---------------------------------------------------------------------------

/// What a signed URL lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Upload,
    Download,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Upload => "upload",
            Action::Download => "download",
        }
    }
}

fn signature(secret: &[u8; 32], action: Action, job: u64, expires: i64) -> String {
    hex::encode(crate::webhooks::hmac_sha256(secret, format!("{} {job} {expires}", action.as_str()).as_bytes()))
}

fn signed_url(base: &str, secret: &[u8; 32], action: Action, job: u64, expires_at: Timestamp) -> String {
    let expires = expires_at.seconds();
    let sig = signature(secret, action, job, expires);
    format!("{base}/2/compliance/jobs/{job}/{}?expires={expires}&signature={sig}", action.as_str())
}

/// Checks a signed URL's query for `action` on `job`: a signature that is
/// missing or does not match is `401`, a valid one past its time `410`.
fn verify(secret: &[u8; 32], action: Action, job: u64, query: Option<&str>, now: Timestamp) -> Result<(), ApiError> {
    let p = Params::new(query, &["expires", "signature"])?;
    let (Some(expires), Some(given)) = (p.get("expires"), p.get("signature")) else {
        return Err(ApiError::Unauthorized(format!(
            "Unauthorized: this is a signed URL; use the `{}_url` of the job, with its `expires` and `signature`",
            action.as_str()
        )));
    };
    let forged = || {
        ApiError::Unauthorized(format!(
            "Unauthorized: the signature of this {} URL does not match; use the URL the job gave",
            action.as_str()
        ))
    };
    let expires: i64 = expires.parse().map_err(|_| forged())?;
    let expected = signature(secret, action, job, expires);
    if !crate::internal::same_secret(given.as_bytes(), expected.as_bytes()) {
        return Err(forged());
    }
    if now.seconds() >= expires {
        return Err(ApiError::Http {
            status: StatusCode::GONE,
            message: format!(
                "The {} URL of compliance job {job} expired at {}; create a new job",
                action.as_str(),
                Timestamp::from_millis(expires.saturating_mul(1000))
            ),
        });
    }
    Ok(())
}

// -- rendering -------------------------------------------------------------------------------

fn job_json(state: &ApiState, secret: &[u8; 32], job: &ComplianceJob) -> Value {
    let base = state.config.public_url.trim_end_matches('/');
    let mut data = json!({
        "id": job.id.to_string(),
        "type": job.kind.as_str(),
        "resumable": job.resumable,
        "status": job.status.as_str(),
        "upload_url": signed_url(base, secret, Action::Upload, job.id, job.upload_expires_at),
        "upload_expires_at": job.upload_expires_at.to_string(),
        "download_url": signed_url(base, secret, Action::Download, job.id, job.download_expires_at),
        "download_expires_at": job.download_expires_at.to_string(),
        "created_at": job.created_at.to_string(),
    });
    if let Some(name) = &job.name {
        data["name"] = Value::String(name.clone());
    }
    if let Some(error) = &job.error {
        data["error"] = Value::String(error.clone());
    }
    data
}

fn store_failed(e: tollgate_store::StoreError) -> ApiError {
    ApiError::store(format!("compliance jobs: {e}"))
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("Could not find compliance job with id: [{id}]."))
}

/// The secret, and the sweep that expires jobs past their time, before a
/// job is read.
fn prepare(state: &ApiState, now: Timestamp) -> Result<[u8; 32], ApiError> {
    crate::blocking(|| {
        state.store.expire_compliance_jobs(now)?;
        state.store.compliance_secret()
    })
    .map_err(store_failed)
}

/// The job `raw` names if it exists and belongs to `app`; `404` otherwise.
fn owned_job(state: &ApiState, app: &App, raw: &str) -> Result<ComplianceJob, ApiError> {
    let id: u64 = parse_id("id", raw)?;
    match crate::blocking(|| state.store.compliance_job(id)).map_err(store_failed)? {
        Some(job) if job.app_id == app.id => Ok(job),
        _ => Err(not_found(raw)),
    }
}

// -- the bearer-token routes ---------------------------------------------------------------

/// What a job is created with: X's body, `{"type": ..., "name"?: ..., "resumable"?: ...}`.
struct CreateBody {
    kind: JobKind,
    name: Option<String>,
    resumable: bool,
}

impl CreateBody {
    /// Reads the body strictly: a JSON object with X's three fields, each of
    /// its type (a `null` is no value), nothing else.
    fn parse(body: &[u8]) -> Result<CreateBody, ApiError> {
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            ApiError::InvalidRequest(format!(
                "malformed JSON body at line {} column {}: {}; send {{\"type\": \"tweets\" or \"users\"}}",
                e.line(),
                e.column(),
                e.to_string().split(" at line ").next().unwrap_or_default()
            ))
        })?;
        let Value::Object(fields) = value else {
            return Err(ApiError::InvalidRequest("the body must be a JSON object with the field `type`".into()));
        };
        if let Some(unknown) = fields.keys().find(|k| !["type", "name", "resumable"].contains(&k.as_str())) {
            return Err(ApiError::InvalidRequest(format!(
                "unknown field `{unknown}`: a job takes `type`, `name` and `resumable`"
            )));
        }
        let kind = match fields.get("type") {
            Some(Value::String(raw)) => parse_kind(raw, "field").map_err(ApiError::InvalidRequest)?,
            Some(_) => return Err(ApiError::InvalidRequest("the `type` field must be a string".into())),
            None => return Err(ApiError::InvalidRequest("missing field `type`: `tweets` or `users`".into())),
        };
        let name = match fields.get("name") {
            Some(Value::String(name)) if name.chars().count() > MAX_NAME_CHARS => {
                return Err(ApiError::InvalidRequest(format!(
                    "The `name` field is {} characters long, more than the {MAX_NAME_CHARS} a job's name may have",
                    name.chars().count()
                )));
            }
            Some(Value::String(name)) => Some(name.clone()),
            None => None,
            Some(_) => return Err(ApiError::InvalidRequest("the `name` field must be a string".into())),
        };
        let resumable = match fields.get("resumable") {
            Some(Value::Bool(b)) => *b,
            None => false,
            Some(_) => return Err(ApiError::InvalidRequest("the `resumable` field must be `true` or `false`".into())),
        };
        Ok(CreateBody { kind, name, resumable })
    }
}

fn parse_kind(raw: &str, what: &str) -> Result<JobKind, String> {
    raw.parse().map_err(|()| format!("The `type` {what} value [{raw}] is not one of [tweets,users]"))
}

async fn create_job(State(state): State<Arc<ApiState>>, headers: HeaderMap, body: Bytes) -> Response {
    handle(&state, &headers, "POST /2/compliance/jobs", async |state, ctx| {
        let body = CreateBody::parse(&body)?;
        let now = ctx.now;
        // The URLs carry whole seconds: the stored expiry times are the ones they state.
        let at = |secs: i64| Timestamp::from_millis((now.seconds() + secs) * 1000);
        let new = NewComplianceJob {
            app_id: ctx.app.id,
            kind: body.kind,
            name: body.name,
            resumable: body.resumable,
            created_at: now,
            upload_expires_at: at(UPLOAD_VALID_SECS),
            download_expires_at: at(DOWNLOAD_VALID_SECS),
        };
        let secret = prepare(state, now)?;
        let job = crate::blocking(|| state.store.create_compliance_job(&new)).map_err(store_failed)?;
        Ok(axum::Json(json!({ "data": job_json(state, &secret, &job) })).into_response())
    })
    .await
}

async fn list_jobs(State(state): State<Arc<ApiState>>, headers: HeaderMap, RawQuery(pairs): RawQuery) -> Response {
    handle(&state, &headers, "GET /2/compliance/jobs", async |state, ctx| {
        let p = Params::new(pairs.as_deref(), &["type", "status"])?;
        let raw = p.required("type")?;
        let kind = parse_kind(raw, "query parameter").map_err(|m| ApiError::param("type", raw, m))?;
        let status = match p.get("status") {
            Some(raw) => Some(raw.parse::<JobStatus>().map_err(|()| {
                ApiError::param(
                    "status",
                    raw,
                    format!(
                        "The `status` query parameter value [{raw}] is not one of \
                         [created,in_progress,complete,expired,failed]"
                    ),
                )
            })?),
            None => None,
        };
        let secret = prepare(state, ctx.now)?;
        let jobs = crate::blocking(|| state.store.compliance_jobs(ctx.app.id, kind, status)).map_err(store_failed)?;
        let data: Vec<Value> = jobs.iter().map(|job| job_json(state, &secret, job)).collect();
        Ok(axum::Json(json!({ "data": data, "meta": { "result_count": data.len() } })).into_response())
    })
    .await
}

async fn get_job(State(state): State<Arc<ApiState>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    handle(&state, &headers, "GET /2/compliance/jobs/:id", async |state, ctx| {
        let secret = prepare(state, ctx.now)?;
        let job = owned_job(state, &ctx.app, &id)?;
        Ok(axum::Json(json!({ "data": job_json(state, &secret, &job) })).into_response())
    })
    .await
}

async fn delete_job(State(state): State<Arc<ApiState>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    handle(&state, &headers, "DELETE /2/compliance/jobs/:id", async |state, ctx| {
        let job = owned_job(state, &ctx.app, &id)?;
        if !crate::blocking(|| state.store.delete_compliance_job(job.id)).map_err(store_failed)? {
            return Err(not_found(&id));
        }
        Ok(axum::Json(json!({ "data": { "deleted": true } })).into_response())
    })
    .await
}

// -- the signed routes -------------------------------------------------------------------------

/// The job of a signed URL, after its signature and time are checked.
async fn signed_job(
    state: &ApiState,
    action: Action,
    raw: &str,
    query: Option<&str>,
    now: Timestamp,
) -> Result<ComplianceJob, ApiError> {
    let id: u64 = parse_id("id", raw)?;
    let secret = prepare(state, now)?;
    verify(&secret, action, id, query, now)?;
    crate::blocking(|| state.store.compliance_job(id)).map_err(store_failed)?.ok_or_else(|| not_found(raw))
}

/// The ids of an upload body: one decimal id per line (blank lines and
/// surrounding white space ignored), distinct and sorted. A line that is not
/// an id is refused, naming it, and nothing is kept.
pub fn parse_ids(body: &[u8], max_ids: usize) -> Result<Vec<u64>, ApiError> {
    let mut ids = Vec::with_capacity(body.len() / 12);
    for (n, line) in body.split(|b| *b == b'\n').enumerate() {
        let line = line.trim_ascii();
        if line.is_empty() {
            continue;
        }
        let id = (line.len() <= 19 && line.iter().all(u8::is_ascii_digit))
            .then(|| line.iter().fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0')));
        let Some(id) = id else {
            let shown: String = String::from_utf8_lossy(line).chars().take(40).collect();
            return Err(ApiError::InvalidRequest(format!(
                "line {}: `{shown}` is not a decimal id (1 to 19 digits, one per line); nothing was stored",
                n + 1
            )));
        };
        if ids.len() == max_ids {
            return Err(ApiError::InvalidRequest(format!(
                "the upload holds more than {max_ids} ids, the most one job takes; split it over several jobs"
            )));
        }
        ids.push(id);
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// Reads a body of at most `limit` bytes; `413` past it.
async fn read_body(body: Body, limit: usize) -> Result<Vec<u8>, ApiError> {
    let mut body = body;
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ApiError::InvalidRequest(format!("the upload could not be read: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > limit {
                return Err(ApiError::Http {
                    status: StatusCode::PAYLOAD_TOO_LARGE,
                    message: format!(
                        "The upload is larger than the limit of {limit} bytes; split it over several jobs"
                    ),
                });
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out)
}

async fn upload(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    let now = Timestamp::now();
    let result: Result<Response, ApiError> = async {
        let job = signed_job(&state, Action::Upload, &id, query.as_deref(), now).await?;
        if job.status != JobStatus::Created {
            return Err(already(&job));
        }
        let body = read_body(body, state.job_limits.max_upload_bytes).await?;
        let ids = parse_ids(&body, state.job_limits.max_ids)?;
        drop(body);
        crate::blocking(|| state.store.upload_compliance_ids(job.id, &ids)).map_err(|e| match e {
            tollgate_store::StoreError::Conflict(_) => already(&job),
            e => store_failed(e),
        })?;
        let worker = Arc::clone(&state);
        tokio::task::spawn_blocking(move || run(&worker, job, ids));
        Ok(StatusCode::OK.into_response())
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

fn already(job: &ComplianceJob) -> ApiError {
    ApiError::Conflict(format!(
        "compliance job {} takes no upload: it is {} (an upload is taken once); create a new job",
        job.id, job.status
    ))
}

async fn download(State(state): State<Arc<ApiState>>, Path(id): Path<String>, RawQuery(query): RawQuery) -> Response {
    let now = Timestamp::now();
    let result: Result<Response, ApiError> = async {
        let job = signed_job(&state, Action::Download, &id, query.as_deref(), now).await?;
        match job.status {
            JobStatus::Complete => {}
            JobStatus::Expired => {
                return Err(ApiError::Http {
                    status: StatusCode::GONE,
                    message: format!("compliance job {} has expired; its results are gone", job.id),
                });
            }
            other => {
                return Err(ApiError::Conflict(format!(
                    "compliance job {} has no results yet: it is {other}; download once it is complete",
                    job.id
                )));
            }
        }
        let found = crate::blocking(|| -> tollgate_store::Result<_> {
            let app = state.store.app(job.app_id)?;
            let latest = state.store.latest_agreement()?;
            let results = state.store.compliance_job_results(job.id)?;
            Ok((app, latest, results))
        })
        .map_err(store_failed)?;
        let (Some(app), latest, Some(results)) = found else { return Err(not_found(&id)) };
        let agreement = AgreementState::of(app.agreement_version, latest.as_ref(), now);
        let recipient = Recipient { app: AppFacts::of(&app, agreement), key_id: None, client: None, guard: None };
        let request_id = crate::access::request_id().unwrap_or_else(|| state.request_id());
        let endpoint = format!("GET /2/compliance/jobs/{}/download ({} results)", job.id, job.results);
        // A finished job acknowledges the obligations it tells of: the
        // ledger's entry names their events, and the notice is sent only
        // once the ledger holds it.
        let acked =
            crate::blocking(|| acknowledged_by(state.store.as_ref(), &job, &results, now)).map_err(store_failed)?;
        let receipt = state
            .deliverer
            .record_notices(&recipient, &endpoint, request_id.as_str(), &acked, now)
            .await
            .map_err(ApiError::ledger)?;
        crate::access::note_seq(receipt.seq);
        Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], Body::from(results)).into_response())
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// Acknowledges the app's open obligations about the ids a job's results
/// list (a tweets job: obligations about those posts; a users job: about
/// those accounts' own events), and returns their events. The app's open
/// obligations are read first: they are few, the results may be millions.
fn acknowledged_by(
    store: &dyn tollgate_store::Store,
    job: &ComplianceJob,
    results: &[u8],
    now: Timestamp,
) -> Result<Vec<u64>, tollgate_store::StoreError> {
    use std::collections::HashSet;
    let open = store.notices(&tollgate_store::NoticeQuery {
        app: Some(job.app_id),
        unacknowledged_only: true,
        limit: usize::MAX,
        ..tollgate_store::NoticeQuery::default()
    })?;
    if open.is_empty() {
        return Ok(Vec::new());
    }
    #[derive(serde::Deserialize)]
    struct Line {
        id: String,
    }
    let listed: HashSet<u64> = results
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(|l| serde_json::from_slice::<Line>(l).ok()?.id.parse().ok())
        .collect();
    let event_seqs: Vec<u64> = open
        .iter()
        .filter(|n| match job.kind {
            JobKind::Tweets => n.post_id.is_some_and(|p| listed.contains(&p.0)),
            JobKind::Users => n.post_id.is_none() && listed.contains(&n.account_id.0),
        })
        .map(|n| n.event_seq)
        .collect();
    if event_seqs.is_empty() {
        return Ok(Vec::new());
    }
    let acks = tollgate_store::NoticeAcks { event_seqs, ..tollgate_store::NoticeAcks::default() };
    Ok(store.ack_notices(job.app_id, &acks, now)?.acknowledged)
}

// -- processing --------------------------------------------------------------------------------

/// Processes an uploaded job to the end, on a blocking thread: completes it
/// with its results, or fails it saying why.
fn run(state: &ApiState, job: ComplianceJob, ids: Vec<u64>) {
    let outcome = results(state, &job, &ids, Timestamp::now());
    let stored = match outcome {
        Ok((results, lines)) => state.store.complete_compliance_job(job.id, &results, lines),
        Err(e) => {
            tracing::error!(job = job.id, "compliance job failed: {e}");
            state.store.fail_compliance_job(job.id, "the job could not be processed; create a new job")
        }
    };
    if let Err(e) = stored {
        tracing::error!(job = job.id, "compliance job: storing its outcome failed: {e}");
    }
}

/// The result lines of a job (JSON lines) and how many there are.
pub(crate) fn results(
    state: &ApiState,
    job: &ComplianceJob,
    ids: &[u64],
    now: Timestamp,
) -> tollgate_store::Result<(Vec<u8>, u64)> {
    let store = &state.store;
    let Some(app) = store.app(job.app_id)? else { return Ok((Vec::new(), 0)) };
    let mut judge = Judge::new(state.deliverer.policy(), &app);
    let defaults = state.deliverer.defaults();
    let mut out = Lines::default();
    if judge.purposes.is_empty() {
        return Ok((Vec::new(), 0));
    }
    match job.kind {
        JobKind::Tweets => {
            let mut authors: IdMap<AccountId, Author> = IdMap::default();
            let mut batch: Vec<PostId> = Vec::with_capacity(READ_BATCH);
            for chunk in ids.chunks(READ_BATCH) {
                batch.clear();
                batch.extend(chunk.iter().map(|id| PostId(*id)));
                let mut posts: Vec<Post> = store.posts(&batch)?;
                posts.sort_unstable_by_key(|p| p.id);
                let mut missing: Vec<AccountId> =
                    posts.iter().map(|p| p.author_id).filter(|a| !authors.contains_key(a)).collect();
                missing.sort_unstable();
                missing.dedup();
                for account in store.accounts(&missing)? {
                    authors.insert(account.id, Author::of(&account, defaults, now));
                }
                for post in &posts {
                    let (verdict, redacted_at) = match authors.get(&post.author_id) {
                        Some(author) => {
                            let class = PostFacts::of(post, author.facts).class();
                            let Some(verdict) = judge.verdict(class) else { continue };
                            // When the change happened, where it is known; else
                            // the line has no `redacted_at` (never a made-up time).
                            let at = match verdict.reason {
                                "deleted" => post.deleted_at,
                                "ai_consent_withdrawn" => author.consent_changed_at,
                                _ => None,
                            };
                            (verdict, at)
                        }
                        // A post whose author is gone is withheld as deleted, as a delivery would.
                        None => (judge.gone(), post.deleted_at),
                    };
                    out.push(post.id.0, verdict, post.created_at, redacted_at);
                }
            }
        }
        JobKind::Users => {
            let mut batch: Vec<AccountId> = Vec::with_capacity(READ_BATCH);
            for chunk in ids.chunks(READ_BATCH) {
                batch.clear();
                batch.extend(chunk.iter().map(|id| AccountId(*id)));
                let mut accounts: Vec<Account> = store.accounts(&batch)?;
                accounts.sort_unstable_by_key(|a| a.id);
                for account in &accounts {
                    let author = Author::of(account, defaults, now);
                    let Some(verdict) = judge.verdict(author.facts.profile_class()) else { continue };
                    let at = if verdict.reason == "ai_consent_withdrawn" { author.consent_changed_at } else { None };
                    out.push(account.id.0, verdict, account.created_at, at);
                }
            }
        }
    }
    Ok((out.bytes, out.count))
}

/// What a job needs of an author: the facts a decision reads, and when the
/// author last changed an AI preference (the time consent was withdrawn).
#[derive(Clone, Copy)]
struct Author {
    facts: AuthorFacts,
    consent_changed_at: Option<Timestamp>,
}

impl Author {
    fn of(account: &Account, defaults: &tollgate_domain::ConsentDefaults, now: Timestamp) -> Author {
        let consent_changed_at = account.ai_preferences.0.iter().flatten().filter_map(|p| p.updated_at).max();
        Author { facts: AuthorFacts::of(account, defaults, now), consent_changed_at }
    }
}

/// What a result line says of an id.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Verdict {
    /// `delete` when the id is withheld for every purpose the app declared,
    /// `restrict` when only for some (named in `purposes`): data the app may
    /// keep for the others, no longer for these.
    action: &'static str,
    reason: &'static str,
    /// The JSON of the withheld purposes, for a `restrict` line.
    purposes: Option<String>,
}

/// Decides content classes for one app and each purpose it declared, with
/// the deliverer's policy, once per class.
struct Judge<'a> {
    policy: &'a PolicyEngine,
    app: AppFacts,
    /// The declared purposes the policy does not refuse whole.
    purposes: Vec<Purpose>,
    /// By class index: not decided yet, or the index of its verdict in
    /// `verdicts` (`NONE` for no event).
    by_class: Vec<u16>,
    verdicts: Vec<Verdict>,
}

const UNDECIDED: u16 = u16::MAX;
const NONE: u16 = u16::MAX - 1;

impl<'a> Judge<'a> {
    fn new(policy: &'a PolicyEngine, app: &App) -> Judge<'a> {
        // A job reports what happened to the items, whatever the app's own
        // standing: a suspended app, or one behind on the agreement, is still
        // told what it must delete. What it was never allowed to receive (an
        // undeclared or unlicensed purpose) is left out.
        let mut facts = AppFacts::of(app, AgreementState::Current);
        facts.status = AppStatus::Active;
        let purposes = app.purposes.iter().copied().filter(|p| policy.refusal(&facts, *p).is_none()).collect();
        Judge { policy, app: facts, purposes, by_class: Vec::new(), verdicts: Vec::new() }
    }

    fn verdict(&mut self, class: ContentClass) -> Option<&Verdict> {
        let i = class.index();
        if self.by_class.len() <= i {
            self.by_class.resize(i + 1, UNDECIDED);
        }
        if self.by_class[i] == UNDECIDED {
            let withheld: Vec<(Purpose, Reason)> = self
                .purposes
                .iter()
                .filter_map(|p| match self.policy.decide(&self.app, *p, class) {
                    Decision::Withhold(reason) if !APP_REASONS.contains(&reason) => Some((*p, reason)),
                    _ => None,
                })
                .collect();
            self.by_class[i] = self.index_of(&withheld);
        }
        match self.by_class[i] {
            NONE => None,
            v => self.verdicts.get(usize::from(v)),
        }
    }

    /// The verdict of an id withheld as deleted for every purpose.
    fn gone(&mut self) -> &Verdict {
        let withheld: Vec<(Purpose, Reason)> = self.purposes.iter().map(|p| (*p, Reason::DELETED)).collect();
        let i = self.index_of(&withheld);
        &self.verdicts[usize::from(i)]
    }

    fn index_of(&mut self, withheld: &[(Purpose, Reason)]) -> u16 {
        let Some(reason) = withheld
            .iter()
            .map(|(_, r)| *r)
            .min_by_key(|r| X_REASONS.iter().position(|(code, _)| code == r).unwrap_or(X_REASONS.len()))
        else {
            return NONE;
        };
        let reason = X_REASONS.iter().find(|(code, _)| *code == reason).map_or(reason.as_str(), |(_, x)| x);
        let verdict = if withheld.len() == self.purposes.len() {
            Verdict { action: "delete", reason, purposes: None }
        } else {
            let names: Vec<&str> = withheld.iter().map(|(p, _)| p.as_str()).collect();
            Verdict { action: "restrict", reason, purposes: Some(serde_json::to_string(&names).unwrap_or_default()) }
        };
        let found = self.verdicts.iter().position(|v| *v == verdict).unwrap_or_else(|| {
            self.verdicts.push(verdict);
            self.verdicts.len() - 1
        });
        found as u16
    }
}

/// The result file under construction: one JSON object per line, in X's
/// field order, with `purposes` after them on a `restrict` line.
#[derive(Default)]
struct Lines {
    bytes: Vec<u8>,
    count: u64,
}

impl Lines {
    fn push(&mut self, id: u64, verdict: &Verdict, created_at: Timestamp, redacted_at: Option<Timestamp>) {
        use std::io::Write;
        let _ =
            write!(self.bytes, "{{\"id\":\"{id}\",\"action\":\"{}\",\"created_at\":\"{created_at}\"", verdict.action);
        if let Some(at) = redacted_at {
            let _ = write!(self.bytes, ",\"redacted_at\":\"{at}\"");
        }
        let _ = write!(self.bytes, ",\"reason\":\"{}\"", verdict.reason);
        if let Some(purposes) = &verdict.purposes {
            let _ = write!(self.bytes, ",\"purposes\":{purposes}");
        }
        self.bytes.extend_from_slice(b"}\n");
        self.count += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        // RFC 4231, test case 2.
        let mac = crate::webhooks::hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(hex::encode(mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[test]
    fn signatures_bind_action_job_and_time() {
        let secret = [7u8; 32];
        let s = signature(&secret, Action::Upload, 1, 100);
        assert_ne!(s, signature(&secret, Action::Download, 1, 100));
        assert_ne!(s, signature(&secret, Action::Upload, 2, 100));
        assert_ne!(s, signature(&secret, Action::Upload, 1, 101));
        assert_ne!(s, signature(&[8u8; 32], Action::Upload, 1, 100));
        let now = Timestamp::from_millis(99_000);
        let q = format!("expires=100&signature={s}");
        assert!(verify(&secret, Action::Upload, 1, Some(&q), now).is_ok());
        assert!(verify(&secret, Action::Upload, 1, Some(&q), Timestamp::from_millis(100_000)).is_err());
        assert!(verify(&secret, Action::Download, 1, Some(&q), now).is_err());
    }

    #[test]
    fn ids_parse_strictly_and_name_the_bad_line() {
        assert_eq!(parse_ids(b"3\r\n1\n\n  2 \n3\n", 10).unwrap(), vec![1, 2, 3]);
        assert_eq!(parse_ids(b"9999999999999999999", 10).unwrap(), vec![9_999_999_999_999_999_999]);
        for (body, line) in [(&b"1\n2\nx\n"[..], 3), (b"1\n-2\n", 2), (b"12345678901234567890\n", 1), (b"1\n\n1.5", 3)]
        {
            let e = parse_ids(body, 10).unwrap_err();
            let message = e.body()["detail"].as_str().unwrap_or_default().to_owned();
            assert!(message.starts_with(&format!("line {line}: ")), "{message}");
        }
        assert!(parse_ids(b"1\n2\n3\n", 2).is_err(), "more ids than the limit");
    }
}
