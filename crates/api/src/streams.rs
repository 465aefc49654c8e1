//! Compliance streams (`GET /2/tweets/compliance/stream`,
//! `GET /2/users/compliance/stream`): each recipient's notices, as X's
//! compliance events, one JSON object a line, for as long as it stays
//! connected (docs/compliance.md, "Compliance streams").
//!
//! The store holds every notice durably; a stream is a view of it. A client
//! connects from a point (a sequence number it already has, a time, or now),
//! first catches up from the store, then follows the notices as they are
//! opened. Every line carries its event's sequence number, so a client that
//! lost its connection resumes with `after_seq` with no gap and no duplicate.
//!
//! Fan-out: one task (the hub) follows the notices for the whole process. It
//! is woken by the notices' progress (`ApiState::notices_progress`, which the
//! worker that opens notices sends on), and, in case nothing sends, by a
//! short periodic look at `Store::notices_opened_upto`. Each wake it reads
//! the new notices once, renders each once, and hands every connected
//! client of the notice's app a shared batch through a bounded channel. A
//! client whose channel is full has fallen too far behind: it is dropped and
//! its stream ends with an error line naming where to resume, so that no
//! client holds up the others or makes the hub buffer without bound. The
//! road not taken, each client polling the store, costs a query per client
//! per wake: at a thousand clients, a thousand queries for what one answers.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{RawQuery, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tollgate_deliver::Recipient;
use tollgate_domain::{AppId, Notice, NoticeReason, Timestamp};
use tollgate_store::{NoticeQuery, Store};

use crate::ApiState;
use crate::content::{Ctx, handle};
use crate::error::ApiError;
use crate::params::Params;

/// The partitions of each stream, as on X: a client reads all of a
/// stream's events by connecting to each.
pub const PARTITIONS: u64 = 4;
/// The most minutes of `backfill_minutes`, as on X.
pub const MAX_BACKFILL_MINUTES: usize = 5;

/// Settings of the compliance streams and webhooks.
#[derive(Debug, Clone, Copy)]
pub struct ComplianceConfig {
    /// A stream with nothing to send sends an empty line (`\r\n`) this often,
    /// so that the client and every proxy between know it is alive.
    pub keepalive: Duration,
    /// How often the hub looks at the notices' progress when nothing woke it.
    pub poll_interval: Duration,
    /// The batches queued for one client before it counts as too slow and is
    /// disconnected.
    pub client_buffer: usize,
    /// The most notices read from the store at once.
    pub read_batch: usize,
    /// Webhooks: the first retry's delay; each next one doubles it, with jitter.
    pub webhook_base_delay: Duration,
    /// Webhooks: attempts of one batch before it is dead-lettered.
    pub webhook_max_attempts: u32,
    /// Webhooks: how long a receiver has to answer.
    pub webhook_timeout: Duration,
    /// Webhooks: the most events in one delivery.
    pub webhook_batch: usize,
    /// Webhooks: how often each valid webhook's receiver is checked again
    /// (the challenge-response check); one that fails is marked invalid.
    pub webhook_recheck: Duration,
}

impl ComplianceConfig {
    pub const DEFAULT: ComplianceConfig = ComplianceConfig {
        keepalive: Duration::from_secs(20),
        poll_interval: Duration::from_millis(200),
        client_buffer: 256,
        read_batch: 10_000,
        webhook_base_delay: Duration::from_secs(1),
        webhook_max_attempts: 6,
        webhook_timeout: Duration::from_secs(10),
        webhook_batch: 500,
        webhook_recheck: Duration::from_secs(3600),
    };
}

impl Default for ComplianceConfig {
    fn default() -> Self {
        ComplianceConfig::DEFAULT
    }
}

/// Which stream a notice belongs on: one about a post on the tweets stream,
/// one about an account on the users stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Tweets,
    Users,
}

impl Kind {
    pub(crate) fn of(n: &Notice) -> Kind {
        if n.post_id.is_some() { Kind::Tweets } else { Kind::Users }
    }
}

/// A notice's partition (1 to `PARTITIONS`): by its account, so that the
/// events of one account (protected, then unprotected) reach one client in
/// order.
pub(crate) fn partition_of(n: &Notice) -> u64 {
    n.account_id.0 % PARTITIONS + 1
}

/// X's name of the event a notice tells of, and whether it is Tollgate's own.
pub(crate) fn x_event_name(n: &Notice) -> &str {
    match (n.post_id.is_some(), n.event.as_str()) {
        (true, "post_deleted") => "delete",
        (true, "post_restored") => "undrop",
        (true, "post_edited") => "tweet_edit",
        (true, "post_no_ai_set") => "no_ai",
        (true, "post_no_ai_cleared") => "no_ai_cleared",
        (false, "account_deleted" | "account_deactivated") => "user_delete",
        (false, "account_undeleted" | "account_reactivated") => "user_undelete",
        (false, "account_suspended") => "user_suspend",
        (false, "account_unsuspended") => "user_unsuspend",
        (false, "account_protected") => "user_protect",
        (false, "account_unprotected") => "user_unprotect",
        (false, "account_profile_changed") => "user_profile_modification",
        (false, "ai_preference_changed") if n.reason == Some(NoticeReason::AiConsentWithdrawn) => {
            "ai_consent_withdrawn"
        }
        (_, other) => other,
    }
}

/// A notice as X's compliance event object, with Tollgate's own fields under
/// `tollgate`: the sequence number to resume from, the event as the log
/// names it, and for an obligation its reason and deadline.
pub(crate) fn event_object(n: &Notice) -> Value {
    let at = n.event_time.to_string();
    let body = match n.post_id {
        Some(post) => {
            let mut body = json!({
                "tweet": { "id": post.0.to_string(), "author_id": n.account_id.0.to_string() },
                "event_at": at,
            });
            if n.event == "post_edited" {
                // Tollgate edits a post in place: the post is its own first and last version.
                body["initial_tweet_id"] = json!(post.0.to_string());
                body["edit_tweet_ids"] = json!([post.0.to_string()]);
            }
            body
        }
        None => json!({ "user": { "id": n.account_id.0.to_string() }, "event_at": at }),
    };
    let mut tollgate = json!({ "seq": n.event_seq, "event": n.event });
    if let Some(reason) = n.reason {
        tollgate["reason"] = json!(reason.as_str());
    }
    if let Some(deadline) = n.deadline {
        tollgate["deadline"] = json!(deadline.to_string());
    }
    json!({ "data": { x_event_name(n): body }, "tollgate": tollgate })
}

/// One rendered notice: its line is shared by every client of its app.
#[derive(Debug)]
pub(crate) struct Line {
    pub seq: u64,
    pub kind: Kind,
    pub partition: u64,
    pub event_time: Timestamp,
    /// The JSON object and its `\r\n`.
    pub bytes: Bytes,
}

impl Line {
    pub(crate) fn of(n: &Notice) -> Line {
        let mut bytes = serde_json::to_vec(&event_object(n)).unwrap_or_default();
        bytes.extend_from_slice(b"\r\n");
        Line {
            seq: n.event_seq,
            kind: Kind::of(n),
            partition: partition_of(n),
            event_time: n.event_time,
            bytes: Bytes::from(bytes),
        }
    }
}

/// One app's part of what the hub read in one go: its notices of the events
/// after `from` up to `upto`.
#[derive(Debug)]
pub(crate) struct Batch {
    pub upto: u64,
    pub lines: Vec<Arc<Line>>,
}

struct Subscriber {
    id: u64,
    tx: mpsc::Sender<Arc<Batch>>,
    /// Set when the hub dropped this client for falling behind.
    lagged: Arc<AtomicBool>,
}

struct HubInner {
    config: ComplianceConfig,
    progress: watch::Sender<u64>,
    closing: watch::Sender<bool>,
    subscribers: Mutex<HashMap<AppId, Vec<Subscriber>>>,
    next_id: AtomicU64,
    started: OnceLock<()>,
}

/// The fan-out of notices to the connected streams (module docs).
#[derive(Clone)]
pub(crate) struct Hub {
    inner: Arc<HubInner>,
}

/// A client's registration with the hub; unregisters when dropped.
pub(crate) struct Subscription {
    hub: Arc<HubInner>,
    app: AppId,
    id: u64,
    pub rx: mpsc::Receiver<Arc<Batch>>,
    pub lagged: Arc<AtomicBool>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut subs = self.hub.subscribers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(list) = subs.get_mut(&self.app) {
            list.retain(|s| s.id != self.id);
            if list.is_empty() {
                subs.remove(&self.app);
            }
        }
    }
}

impl Hub {
    pub(crate) fn new(config: ComplianceConfig) -> Hub {
        Hub {
            inner: Arc::new(HubInner {
                config,
                progress: watch::Sender::new(0),
                closing: watch::Sender::new(false),
                subscribers: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(1),
                started: OnceLock::new(),
            }),
        }
    }

    pub(crate) fn config(&self) -> &ComplianceConfig {
        &self.inner.config
    }

    pub(crate) fn progress(&self) -> watch::Sender<u64> {
        self.inner.progress.clone()
    }

    pub(crate) fn closing(&self) -> watch::Receiver<bool> {
        self.inner.closing.subscribe()
    }

    pub(crate) fn close(&self) {
        self.inner.closing.send_replace(true);
    }

    /// How many clients are connected.
    pub(crate) fn clients(&self) -> usize {
        self.inner.subscribers.lock().unwrap_or_else(|e| e.into_inner()).values().map(Vec::len).sum()
    }

    /// Registers a client of `app`, starting the hub's task on first use.
    pub(crate) fn subscribe(&self, app: AppId, store: &Arc<dyn Store>) -> Subscription {
        self.inner.started.get_or_init(|| {
            tokio::spawn(run_hub(self.inner.clone(), store.clone()));
        });
        let (tx, rx) = mpsc::channel(self.inner.config.client_buffer.max(1));
        let lagged = Arc::new(AtomicBool::new(false));
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let mut subs = self.inner.subscribers.lock().unwrap_or_else(|e| e.into_inner());
        subs.entry(app).or_default().push(Subscriber { id, tx, lagged: lagged.clone() });
        Subscription { hub: self.inner.clone(), app, id, rx, lagged }
    }
}

/// Runs a store read off the async workers.
async fn read<T: Send + 'static>(
    store: &Arc<dyn Store>,
    f: impl FnOnce(&dyn Store) -> tollgate_store::Result<T> + Send + 'static,
) -> Result<T, String> {
    let store = store.clone();
    match tokio::task::spawn_blocking(move || f(store.as_ref())).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(format!("the store read stopped: {e}")),
    }
}

/// The notices of events in `(after, upto]` as a query narrows them, read
/// page by page in event order, each page ending with a whole event.
pub(crate) struct Pages {
    query: NoticeQuery,
    upto: u64,
    limit: usize,
    done: bool,
}

impl Pages {
    pub(crate) fn new(query: NoticeQuery, upto: u64, page: usize) -> Pages {
        Pages { done: query.after_seq >= upto, query, upto, limit: page.max(1) }
    }

    /// The next page (never empty), or `None` after the last.
    pub(crate) async fn next(&mut self, store: &Arc<dyn Store>) -> Result<Option<Vec<Notice>>, String> {
        while !self.done {
            let q = NoticeQuery { limit: self.limit, ..self.query.clone() };
            let mut got = read(store, move |s| s.notices(&q)).await?;
            let full = got.len() == self.limit;
            let before = got.len();
            got.retain(|n| n.event_seq <= self.upto);
            let mut through = self.upto;
            if full && got.len() == before {
                // The page may end inside an event (one notice per app of
                // it): keep the last event whole for the next page.
                let last = got.last().map_or(self.upto, |n| n.event_seq);
                let keep = got.iter().take_while(|n| n.event_seq < last).count();
                if keep == 0 {
                    // One event with more notices than a page: read it whole.
                    self.limit = self.limit.saturating_mul(2);
                    continue;
                }
                got.truncate(keep);
                through = last - 1;
            } else {
                self.done = true;
            }
            self.query.after_seq = through.max(self.query.after_seq);
            if !got.is_empty() {
                return Ok(Some(got));
            }
        }
        Ok(None)
    }
}

async fn run_hub(hub: Arc<HubInner>, store: Arc<dyn Store>) {
    let mut woken = hub.progress.subscribe();
    let mut closing = hub.closing.subscribe();
    let mut cursor = loop {
        match read(&store, |s| s.notices_opened_upto()).await {
            Ok(upto) => break upto,
            Err(e) => {
                tracing::warn!(target: "tollgate::streams", "reading the notices' progress: {e}");
                tokio::time::sleep(hub.config.poll_interval).await;
            }
        }
    };
    loop {
        tokio::select! {
            _ = woken.changed() => {}
            _ = tokio::time::sleep(hub.config.poll_interval) => {}
            _ = closing.changed() => {}
        }
        if *closing.borrow() {
            // Dropping every sender ends every stream.
            hub.subscribers.lock().unwrap_or_else(|e| e.into_inner()).clear();
            return;
        }
        let upto = match read(&store, |s| s.notices_opened_upto()).await {
            Ok(upto) => upto.max(*woken.borrow()),
            Err(e) => {
                tracing::warn!(target: "tollgate::streams", "reading the notices' progress: {e}");
                continue;
            }
        };
        if upto <= cursor {
            continue;
        }
        {
            // INVARIANT (stream-no-gap): a client that subscribes after this
            // check catches up from the store through a progress read after
            // it, so skipping the read here leaves it no gap.
            let subs = hub.subscribers.lock().unwrap_or_else(|e| e.into_inner());
            if subs.is_empty() {
                cursor = upto;
                continue;
            }
        }
        let mut pages =
            Pages::new(NoticeQuery { after_seq: cursor, ..NoticeQuery::default() }, upto, hub.config.read_batch);
        let result = loop {
            match pages.next(&store).await {
                Ok(Some(notices)) => dispatch(&hub, notices),
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        match result {
            Ok(()) => {
                // The last page's `upto` reaches every client, notices or not.
                dispatch_progress(&hub, upto);
                cursor = upto;
            }
            Err(e) => tracing::warn!(target: "tollgate::streams", "reading notices after {cursor}: {e}"),
        }
    }
}

/// Renders `notices` once and queues each app's to its clients.
fn dispatch(hub: &HubInner, notices: Vec<Notice>) {
    let through = notices.last().map_or(0, |n| n.event_seq);
    let mut by_app: HashMap<AppId, Vec<Arc<Line>>> = HashMap::new();
    {
        let subs = hub.subscribers.lock().unwrap_or_else(|e| e.into_inner());
        for n in &notices {
            if subs.contains_key(&n.app_id) {
                by_app.entry(n.app_id).or_default().push(Arc::new(Line::of(n)));
            }
        }
    }
    let mut subs = hub.subscribers.lock().unwrap_or_else(|e| e.into_inner());
    for (app, lines) in by_app {
        let batch = Arc::new(Batch { upto: through, lines });
        if let Some(list) = subs.get_mut(&app) {
            offer(list, &batch);
        }
    }
    subs.retain(|_, list| !list.is_empty());
}

/// Tells every client that the events up to `upto` were all read.
fn dispatch_progress(hub: &HubInner, upto: u64) {
    let batch = Arc::new(Batch { upto, lines: Vec::new() });
    let mut subs = hub.subscribers.lock().unwrap_or_else(|e| e.into_inner());
    for list in subs.values_mut() {
        offer(list, &batch);
    }
    subs.retain(|_, list| !list.is_empty());
}

/// Queues `batch` to each client in `list`, dropping those whose queue is
/// full (too slow) or gone.
fn offer(list: &mut Vec<Subscriber>, batch: &Arc<Batch>) {
    list.retain(|s| match s.tx.try_send(batch.clone()) {
        Ok(()) => true,
        Err(mpsc::error::TrySendError::Full(_)) => {
            s.lagged.store(true, Ordering::Relaxed);
            false
        }
        Err(mpsc::error::TrySendError::Closed(_)) => false,
    });
}

/// Records that `recipient` was sent the notices of `event_seqs` on
/// `endpoint`, durably, before they are sent: the evidence of notice
/// (`Deliverer::record_notices`, an entry on the compliance channel).
pub(crate) async fn record_notices(
    state: &ApiState,
    recipient: &Recipient,
    endpoint: &str,
    request_id: &str,
    event_seqs: &[u64],
) -> Result<(), ApiError> {
    state
        .deliverer
        .record_notices(recipient, endpoint, request_id, event_seqs, Timestamp::now())
        .await
        .map(drop)
        .map_err(ApiError::ledger)
}

/// Where a stream starts and what it lets through.
#[derive(Debug, Clone, Copy)]
struct Filter {
    kind: Kind,
    partition: u64,
    end_time: Option<Timestamp>,
}

impl Filter {
    fn lets(&self, l: &Line) -> bool {
        l.kind == self.kind && l.partition == self.partition && self.end_time.is_none_or(|end| l.event_time <= end)
    }
}

pub(crate) async fn tweets_stream(State(state): State<Arc<ApiState>>, headers: HeaderMap, q: RawQuery) -> Response {
    stream(state, headers, q, Kind::Tweets, "GET /2/tweets/compliance/stream").await
}

pub(crate) async fn users_stream(State(state): State<Arc<ApiState>>, headers: HeaderMap, q: RawQuery) -> Response {
    stream(state, headers, q, Kind::Users, "GET /2/users/compliance/stream").await
}

/// Where to start: after a sequence number, or from a time.
#[derive(Debug, Clone, Copy)]
enum Start {
    After(u64),
    Since(Timestamp),
    Now,
}

fn parse_start(p: &Params, now: Timestamp) -> Result<(Start, Option<Timestamp>), ApiError> {
    let after = p
        .get("after_seq")
        .map(|v| {
            v.parse::<u64>().map_err(|_| {
                ApiError::param(
                    "after_seq",
                    v,
                    format!("The `after_seq` query parameter value [{v}] is not a sequence number"),
                )
            })
        })
        .transpose()?;
    let backfill =
        p.get("backfill_minutes").map(|_| p.int("backfill_minutes", 0, MAX_BACKFILL_MINUTES, 0)).transpose()?;
    let start_time = p.time("start_time")?;
    let end_time = p.time("end_time")?;
    let given: Vec<(&str, &str)> =
        ["after_seq", "backfill_minutes", "start_time"].into_iter().filter_map(|k| p.get(k).map(|v| (k, v))).collect();
    if given.len() > 1 {
        return Err(ApiError::InvalidParameters {
            parameters: given.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            message: "Give one of `after_seq`, `backfill_minutes` and `start_time`: each says where the stream starts"
                .into(),
        });
    }
    if let (Some(start), Some(end)) = (start_time, end_time)
        && end <= start
    {
        return Err(ApiError::InvalidParameters {
            parameters: vec![
                ("start_time".into(), p.get("start_time").unwrap_or_default().into()),
                ("end_time".into(), p.get("end_time").unwrap_or_default().into()),
            ],
            message: "`end_time` must be after `start_time`".into(),
        });
    }
    let start = match (after, backfill, start_time) {
        (Some(seq), _, _) => Start::After(seq),
        (_, Some(0), _) | (None, None, None) => Start::Now,
        (_, Some(minutes), _) => Start::Since(Timestamp::from_millis(now.millis() - minutes as i64 * 60_000)),
        (_, _, Some(t)) => Start::Since(t),
    };
    Ok((start, end_time))
}

async fn stream(
    state: Arc<ApiState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    kind: Kind,
    endpoint: &'static str,
) -> Response {
    let shared = state.clone();
    handle(&state, &headers, endpoint, async |state: &ApiState, ctx: &Ctx| {
        let p = Params::new(raw.as_deref(), &["partition", "backfill_minutes", "start_time", "end_time", "after_seq"])?;
        p.required("partition")?;
        let partition = p.int("partition", 1, PARTITIONS as usize, 1)?;
        let (start, end_time) = parse_start(&p, ctx.now)?;
        let filter = Filter { kind, partition: partition as u64, end_time };
        let subscription = state.streams.subscribe(ctx.app.id, &state.store);
        let (body_tx, body_rx) = mpsc::channel::<Bytes>(8);
        let writer = Writer {
            state: shared,
            recipient: ctx.recipient.clone(),
            endpoint,
            request_id: ctx.request_id.as_str().to_owned(),
            app: ctx.app.id,
            filter,
            body: body_tx,
        };
        tokio::spawn(writer.run(subscription, start));
        let mut response = Body::new(Chunks { rx: body_rx }).into_response();
        let h = response.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Ok(response)
    })
    .await
}

/// The response body: the chunks the writer sends, until it stops.
struct Chunks {
    rx: mpsc::Receiver<Bytes>,
}

impl HttpBody for Chunks {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        self.rx.poll_recv(cx).map(|chunk| chunk.map(|b| Ok(http_body::Frame::data(b))))
    }
}

/// One connected client's task: catches up from the store, then follows the hub.
struct Writer {
    state: Arc<ApiState>,
    recipient: Recipient,
    endpoint: &'static str,
    request_id: String,
    app: AppId,
    filter: Filter,
    body: mpsc::Sender<Bytes>,
}

/// Why a stream stopped.
enum Stop {
    /// The client went away.
    Gone,
    /// An error line was sent (or could not be).
    Failed,
}

impl Writer {
    async fn run(self, mut sub: Subscription, start: Start) {
        let mut closing = self.state.streams.closing();
        let mut cursor = match self.catch_up(start).await {
            Ok(cursor) => cursor,
            Err(_) => return,
        };
        let keepalive = self.state.streams.config().keepalive;
        let mut quiet_until = tokio::time::Instant::now() + keepalive;
        // A stream with an `end_time` ends once it has passed, after a last
        // look at the store for what was opened up to then.
        let end_at = self.filter.end_time.map(|end| {
            let left = end.millis().saturating_sub(Timestamp::now().millis()).max(0);
            tokio::time::Instant::now() + Duration::from_millis(left as u64)
        });
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(end_at.unwrap_or(quiet_until)), if end_at.is_some() => {
                    let _ = self.catch_up(Start::After(cursor)).await;
                    return;
                }
                batch = sub.rx.recv() => match batch {
                    Some(batch) => {
                        if batch.upto <= cursor {
                            continue;
                        }
                        let lines: Vec<&Arc<Line>> =
                            batch.lines.iter().filter(|l| l.seq > cursor && self.filter.lets(l)).collect();
                        cursor = batch.upto;
                        if !lines.is_empty() {
                            if self.send_lines(&lines).await.is_err() {
                                return;
                            }
                            quiet_until = tokio::time::Instant::now() + keepalive;
                        }
                    }
                    None => {
                        if sub.lagged.load(Ordering::Relaxed) {
                            let _ = self.error_line("ConsumerTooSlow", "This stream fell too far behind and was disconnected: reconnect with `after_seq`", cursor).await;
                        } else {
                            let _ = self.error_line("UpstreamOperationalDisconnect", "This stream has been disconnected upstream for operational reasons: reconnect with `after_seq`", cursor).await;
                        }
                        return;
                    }
                },
                _ = tokio::time::sleep_until(quiet_until) => {
                    if self.body.send(Bytes::from_static(b"\r\n")).await.is_err() {
                        return;
                    }
                    quiet_until = tokio::time::Instant::now() + keepalive;
                }
                _ = closing.changed() => {
                    let _ = self.error_line("UpstreamOperationalDisconnect", "The server is shutting down: reconnect with `after_seq`", cursor).await;
                    return;
                }
            }
        }
    }

    /// Sends the notices after the start from the store; returns the sequence
    /// number up to which every event was examined.
    async fn catch_up(&self, start: Start) -> Result<u64, Stop> {
        let store = &self.state.store;
        // INVARIANT (stream-no-gap): read after the subscription, so that the
        // hub's first batch to this client starts at or before `upto`.
        let upto = read(store, |s| s.notices_opened_upto()).await.map_err(|_| Stop::Failed)?;
        let (after, since) = match start {
            Start::After(seq) => (seq, None),
            Start::Since(t) => (0, Some(t)),
            Start::Now => return Ok(upto),
        };
        let query = NoticeQuery { app: Some(self.app), after_seq: after, since, ..NoticeQuery::default() };
        let mut pages = Pages::new(query, upto, self.state.streams.config().read_batch);
        // Where a client resumes if this catch-up fails: after what it was sent.
        let mut sent = after;
        loop {
            match pages.next(store).await {
                Ok(Some(notices)) => {
                    let lines: Vec<Arc<Line>> =
                        notices.iter().map(|n| Arc::new(Line::of(n))).filter(|l| self.filter.lets(l)).collect();
                    let refs: Vec<&Arc<Line>> = lines.iter().collect();
                    if !refs.is_empty() {
                        self.send_lines(&refs).await?;
                    }
                    sent = notices.last().map_or(sent, |n| n.event_seq);
                }
                Ok(None) => return Ok(upto.max(after)),
                Err(e) => {
                    tracing::warn!(target: "tollgate::streams", "catching a stream up: {e}");
                    let _ = self
                        .error_line(
                            "UpstreamOperationalDisconnect",
                            "The notices could not be read: reconnect with `after_seq`",
                            sent,
                        )
                        .await;
                    return Err(Stop::Failed);
                }
            }
        }
    }

    /// Records the notices of `lines` as sent, then sends them in one chunk.
    async fn send_lines(&self, lines: &[&Arc<Line>]) -> Result<(), Stop> {
        let seqs: Vec<u64> = lines.iter().map(|l| l.seq).collect();
        // INVARIANT (notice-recorded): the ledger records the notices before their bytes leave.
        if let Err(e) = record_notices(&self.state, &self.recipient, self.endpoint, &self.request_id, &seqs).await {
            tracing::warn!(target: "tollgate::streams", "recording notices sent: {e:?}");
            let before = seqs.first().map_or(0, |s| s.saturating_sub(1));
            let _ = self
                .error_line(
                    "UpstreamOperationalDisconnect",
                    "The notices could not be recorded: reconnect with `after_seq`",
                    before,
                )
                .await;
            return Err(Stop::Failed);
        }
        let mut chunk = Vec::with_capacity(lines.iter().map(|l| l.bytes.len()).sum());
        for l in lines {
            chunk.extend_from_slice(&l.bytes);
        }
        self.body.send(Bytes::from(chunk)).await.map_err(|_| Stop::Gone)
    }

    /// Ends the stream with X's disconnect error, and where to resume.
    async fn error_line(&self, disconnect_type: &str, detail: &str, resume_after: u64) -> Result<(), Stop> {
        let line = json!({
            "errors": [{
                "title": "operational-disconnect",
                "disconnect_type": disconnect_type,
                "detail": detail,
                "type": "https://api.x.com/2/problems/operational-disconnect",
            }],
            "tollgate": { "resume_after_seq": resume_after },
        });
        let mut bytes = serde_json::to_vec(&line).unwrap_or_default();
        bytes.extend_from_slice(b"\r\n");
        self.body.send(Bytes::from(bytes)).await.map_err(|_| Stop::Gone)
    }
}

#[cfg(test)]
mod tests {
    use tollgate_domain::{AccountId, PostId};

    use super::*;

    fn notice(event: &str, post: Option<u64>, reason: Option<NoticeReason>) -> Notice {
        Notice {
            app_id: AppId(1),
            event_seq: 42,
            event_time: Timestamp::from_millis(1_700_000_000_000),
            event: event.into(),
            account_id: AccountId(7),
            post_id: post.map(PostId),
            reason,
            deadline: reason.map(|_| Timestamp::from_millis(1_700_086_400_000)),
            acked_at: None,
        }
    }

    #[test]
    fn a_deleted_post_is_xs_delete_event_with_the_sequence_number() {
        let v = event_object(&notice("post_deleted", Some(701), Some(NoticeReason::Deleted)));
        assert_eq!(
            v,
            json!({
                "data": {"delete": {"tweet": {"id": "701", "author_id": "7"}, "event_at": "2023-11-14T22:13:20.000Z"}},
                "tollgate": {"seq": 42, "event": "post_deleted", "reason": "deleted", "deadline": "2023-11-15T22:13:20.000Z"},
            })
        );
    }

    #[test]
    fn account_events_are_xs_user_events_and_tollgates_own_keep_their_names() {
        let name = |e: &str, r| x_event_name(&notice(e, None, r)).to_owned();
        assert_eq!(name("account_suspended", Some(NoticeReason::Suspended)), "user_suspend");
        assert_eq!(name("account_deactivated", Some(NoticeReason::Deactivated)), "user_delete");
        assert_eq!(name("account_unprotected", None), "user_unprotect");
        assert_eq!(name("ai_preference_changed", Some(NoticeReason::AiConsentWithdrawn)), "ai_consent_withdrawn");
        assert_eq!(x_event_name(&notice("post_no_ai_set", Some(1), Some(NoticeReason::NoAi))), "no_ai");
        let v = event_object(&notice("account_protected", None, Some(NoticeReason::Protected)));
        assert_eq!(v["data"]["user_protect"]["user"]["id"], "7");
    }
}
