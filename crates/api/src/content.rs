//! The content endpoints of the developer API: post lookup, user timelines,
//! recent search and user lookup. Each one authenticates, counts the request
//! against its rate limit, validates every parameter, asks the policy whether
//! the request is refused whole, fetches candidates and hands them to the
//! deliverer; only what the deliverer returns is rendered.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use tollgate_deliver::{Delivery, Expand, Recipient, Released, Request, Timings};
use tollgate_domain::{
    Account, AccountId, AgreementState, App, IdMap, IdSet, Post, PostId, Purpose, Reason, Timestamp,
};
use tollgate_ledger::Channel;
use tollgate_policy::AppFacts;
use tollgate_store::{SearchQuery, TimelineQuery};

use crate::error::{ApiError, not_found_item, withheld_item};
use crate::internal::store_error;
use crate::params::{self, Asked, Params, token};
use crate::ratelimit::Window;
use crate::render::{self, Fields, Members as _};
use crate::x_names::{List, Part};
use crate::{ApiState, RequestId, query};

/// The raw query string: `Params::new` decodes it strictly, where axum's
/// `Query` would decode broken percent-encoding leniently or lossily.
type Pairs = RawQuery;

/// The purpose header.
pub const PURPOSE_HEADER: &str = "tollgate-purpose";

/// An authenticated request.
pub(crate) struct Ctx {
    pub(crate) app: App,
    pub(crate) recipient: Recipient,
    purpose: Purpose,
    pub(crate) now: Timestamp,
    pub(crate) request_id: RequestId,
}

/// Runs `work` for an authenticated request and finishes the response: rate
/// limit headers, the request id, metrics.
pub(crate) async fn handle<F>(state: &ApiState, headers: &HeaderMap, endpoint: &'static str, work: F) -> Response
where
    F: AsyncFnOnce(&ApiState, &Ctx) -> Result<Response, ApiError>,
{
    let started = Instant::now();
    let request_id = crate::access::request_id().unwrap_or_else(|| state.request_id());
    let mut window = None;
    let result = async {
        // Every change acknowledged before this request is in force for it.
        state.cache.sync().map_err(|e| ApiError::store(format!("reading the platform's changes: {e}")))?;
        let ctx = authenticate(state, headers, endpoint, &mut window, request_id)?;
        work(state, &ctx).await
    }
    .await;
    let mut response = result.unwrap_or_else(IntoResponse::into_response);
    let h = response.headers_mut();
    if let Some(w) = window {
        h.insert("x-rate-limit-limit", HeaderValue::from(w.limit));
        h.insert("x-rate-limit-remaining", HeaderValue::from(w.remaining));
        h.insert("x-rate-limit-reset", HeaderValue::from(w.reset));
    }
    state.metrics.request(endpoint, response.status().as_u16(), started.elapsed().as_nanos() as u64);
    response
}

/// `handle` for the endpoints that release posts or profiles: every answer
/// carries usage terms (`Content-Usage`, `tdm-reservation`): a delivery's
/// own (`usage_headers`), else the platform's defaults (`terms`), header
/// values computed at startup.
async fn handle_content<F>(state: &ApiState, headers: &HeaderMap, endpoint: &'static str, work: F) -> Response
where
    F: AsyncFnOnce(&ApiState, &Ctx) -> Result<Response, ApiError>,
{
    let mut response = handle(state, headers, endpoint, work).await;
    state.terms.stamp(response.headers_mut());
    response
}

/// The app a request's bearer token belongs to, for the endpoints that
/// release no posts (compliance acknowledgements): the same key checks as a
/// content request, without a purpose or a rate-limit window.
pub(crate) fn authenticate_app(state: &ApiState, headers: &HeaderMap) -> Result<Recipient, ApiError> {
    let (app, key, agreement) = app_of_token(state, headers, Timestamp::now())?;
    Ok(Recipient { app: AppFacts::of(&app, agreement), key_id: Some(key), client: None, guard: None })
}

/// The app and key of a request's bearer token, the key usable at `now`, and
/// where the app stands with the developer agreement.
fn app_of_token(
    state: &ApiState,
    headers: &HeaderMap,
    now: Timestamp,
) -> Result<(App, tollgate_domain::KeyId, AgreementState), ApiError> {
    let token = params::bearer_token(headers)?
        .ok_or_else(|| ApiError::Unauthorized("Unauthorized: send `Authorization: Bearer <token>`".into()))?;
    let store_err = |e: tollgate_store::StoreError| ApiError::store(format!("authentication: {e}"));
    // The guard looked this token up at the start of the request already.
    let noted = headers.get(axum::http::header::AUTHORIZATION).and_then(crate::access::noted_credentials);
    let credentials = match noted {
        Some(credentials) => credentials,
        None => state
            .cache
            .credentials(&hex::encode(Sha256::digest(token.as_bytes())))
            .map_err(store_err)?
            .ok_or_else(|| ApiError::Unauthorized("Unauthorized: the bearer token is not known".into()))?,
    };
    if let Some(why) = credentials.key.unusable_at(now) {
        return Err(ApiError::Unauthorized(format!("Unauthorized: the bearer token was {why}; use a current key")));
    }
    let app = credentials
        .app
        .clone()
        .ok_or_else(|| ApiError::Unauthorized("Unauthorized: the app of this token no longer exists".into()))?;
    let latest = state.cache.latest_agreement().map_err(store_err)?;
    let agreement = AgreementState::of(app.agreement_version, latest.as_deref(), now);
    Ok((app, credentials.key.id, agreement))
}

fn authenticate(
    state: &ApiState,
    headers: &HeaderMap,
    endpoint: &'static str,
    window: &mut Option<Window>,
    request_id: RequestId,
) -> Result<Ctx, ApiError> {
    let now = Timestamp::now();
    // The headers that decide the policy must be unambiguous: a repeated
    // one is refused before anything is looked up, never resolved by order.
    let purpose_header = params::single_header(headers, PURPOSE_HEADER, "Tollgate-Purpose")?;
    let (app, key_id, agreement) = app_of_token(state, headers, now)?;

    *window = state.limiter.hit(app.id, app.tier, endpoint, now);
    if let Some(w) = window
        && !w.allowed
    {
        return Err(ApiError::RateLimited { limit: w.limit, reset: w.reset });
    }

    let purpose = match purpose_header {
        Some(v) => {
            let raw = v.to_str().unwrap_or("");
            raw.trim().parse::<Purpose>().map_err(|e| ApiError::InvalidParameter {
                parameter: "Tollgate-Purpose".into(),
                values: vec![raw.to_owned()],
                message: format!("The `Tollgate-Purpose` header value [{raw}] is not valid: {}", e.expected),
            })?
        }
        None => app.purposes.first().copied().unwrap_or(Purpose::Display),
    };
    let recipient = Recipient {
        app: AppFacts::of(&app, agreement),
        key_id: Some(key_id),
        client: None,
        guard: crate::access::guard_facts(),
    };
    crate::access::note_app(app.id, purpose);
    Ok(Ctx { app, recipient, purpose, now, request_id })
}

impl Ctx {
    fn request<'a>(&'a self, endpoint: &'a str) -> Request<'a> {
        Request {
            recipient: &self.recipient,
            purpose: self.purpose,
            channel: Channel::Api,
            endpoint,
            request_id: self.request_id.as_str(),
            now: self.now,
        }
    }

    /// Refuses the request whole if the policy says so, recording the attempt.
    async fn check_refusal(&self, state: &ApiState, endpoint: &str) -> Result<(), ApiError> {
        let Some(reason) = state.deliverer.refusal(&self.recipient, self.purpose) else { return Ok(()) };
        state.metrics.refusal();
        let receipt = state.deliverer.refuse(&self.request(endpoint), reason).await.map_err(ApiError::ledger)?;
        crate::access::note_seq(receipt.seq);
        Err(self.refusal_error(state, reason))
    }

    fn refusal_error(&self, state: &ApiState, reason: Reason) -> ApiError {
        let app = &self.app;
        let purpose = self.purpose;
        let base = state.config.public_url.trim_end_matches('/');
        let (detail, link) = match reason {
            Reason::AGREEMENT_PROHIBITS => (
                format!("The developer agreement does not allow {} apps to use posts for `{purpose}`.", app.tier),
                Some(format!("{base}/agreement")),
            ),
            Reason::PURPOSE_NOT_DECLARED => (
                format!(
                    "App {} did not declare the purpose `{purpose}`; it declared: {}.",
                    app.id,
                    app.purposes.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")
                ),
                None,
            ),
            Reason::AGREEMENT_NOT_ACCEPTED => (
                "This app has not accepted the current developer agreement and its grace period is over; \
                 read and accept it to resume access."
                    .to_owned(),
                Some(format!("{base}/agreement")),
            ),
            Reason::APP_SUSPENDED => (format!("App {} is suspended.", app.id), None),
            Reason::NOT_LICENSED => (format!("App {}'s license does not cover `{purpose}`.", app.id), None),
            other => (format!("The platform's policy refuses `{purpose}` requests from this app ({other})."), None),
        };
        ApiError::Refused { reason: reason.as_str().to_owned(), detail, link }
    }
}

/// The field and expansion lists of a request, in either generation of X's
/// names (`x_names`): what to render, and under which names. `media.fields`,
/// `place.fields` and `poll.fields` are validated like the others and render
/// nothing: Tollgate keeps no media, places or polls.
fn fields(p: &Params, expansions: List) -> Result<Fields, ApiError> {
    let mut asked = Asked::default();
    for (key, list) in [
        ("tweet.fields", List::PostFields),
        ("post.fields", List::PostFields),
        ("user.fields", List::UserFields),
        ("media.fields", List::MediaFields),
        ("place.fields", List::PlaceFields),
        ("poll.fields", List::PollFields),
        ("expansions", expansions),
    ] {
        p.names(key, list, &mut asked)?;
    }
    let (parts, generation) = asked.resolve()?;
    Ok(Fields::new(parts, generation))
}

fn expand(f: &Fields) -> Expand {
    Expand {
        authors: f.expands(Part::ExpandAuthors),
        reply_users: f.expands(Part::ExpandReplyUsers),
        referenced: f.expands(Part::ExpandReferenced),
    }
}

/// Loads the accounts the deliverer needs: the authors of the candidates and
/// of the posts they reference and, if expanded, reply targets.
fn load_accounts(
    state: &ApiState,
    posts: &[Arc<Post>],
    referenced: &[Arc<Post>],
    e: Expand,
) -> Result<IdMap<AccountId, Arc<Account>>, ApiError> {
    let mut ids: Vec<AccountId> = posts.iter().chain(referenced).map(|p| p.author_id).collect();
    if e.reply_users {
        ids.extend(posts.iter().filter_map(|p| p.in_reply_to_user_id));
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(state.cache.accounts(&ids).map_err(store_error)?.into_iter().map(|a| (a.id, a)).collect())
}

/// Hands candidates to the deliverer with the accounts it needs and counts the
/// outcome in the metrics.
async fn deliver_posts(
    state: &ApiState,
    ctx: &Ctx,
    endpoint: &str,
    candidates: Vec<Arc<Post>>,
    e: Expand,
) -> Result<Delivery, ApiError> {
    // The posts the candidates reply to, for `referenced_tweets.id` (or
    // `referenced_posts`): the
    // deliverer decides each and keeps those a released post replies to.
    let referenced = if e.referenced {
        let parents: Vec<PostId> = candidates.iter().filter_map(|p| p.in_reply_to).collect();
        state.cache.posts(&parents).map_err(store_error)?
    } else {
        Vec::new()
    };
    let accounts = load_accounts(state, &candidates, &referenced, e)?;
    let mut timings = Timings::default();
    let delivery = state
        .deliverer
        .deliver(&ctx.request(endpoint), candidates, referenced, &accounts, e, &mut timings)
        .await
        .map_err(ApiError::ledger)?;
    crate::access::note_seq(delivery.receipt.seq);
    let Timings { policy_nanos, ledger_nanos } = timings;
    state.metrics.delivery(ctx.purpose, delivery.posts.len(), &delivery.withheld_by_reason, policy_nanos, ledger_nanos);
    Ok(delivery)
}

/// Adds the usage-terms headers every content response carries, in the
/// words every channel uses (`tollgate_deliver::UsageTerms`).
fn usage_headers(response: &mut Response, state: &ApiState, delivery: &Delivery) {
    let terms = delivery.usage_terms();
    let h = response.headers_mut();
    h.insert("content-usage", HeaderValue::from_static(terms.content_usage()));
    h.insert("tdm-reservation", HeaderValue::from_static(terms.tdm_reservation()));
    if let Some(path) = terms.tdm_policy_path()
        && let Ok(v) = HeaderValue::from_str(&format!("{}{path}", state.config.public_url.trim_end_matches('/')))
    {
        h.insert("tdm-policy", v);
    }
    if let Some(robots) = terms.robots() {
        h.insert("x-robots-tag", HeaderValue::from_static(robots));
    }
}

/// X's `includes`, if any profile or referenced post was released with the
/// posts.
fn includes<'a>(delivery: &'a Delivery, f: &'a Fields) -> Option<render::Includes<'a>> {
    (!delivery.accounts.is_empty() || !delivery.referenced.is_empty()).then(|| render::Includes {
        users: render::Users(&delivery.accounts, f),
        tweets: render::Tweets(&delivery.referenced, f),
    })
}

/// The bytes of a response body, about: what a rendered post or profile takes.
fn size_hint(delivery: &Delivery) -> usize {
    256 + 200 * (delivery.posts.len() + delivery.referenced.len() + delivery.accounts.len())
}

/// A list's `meta`, in X's order.
#[derive(serde::Serialize)]
struct Meta<'a> {
    result_count: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    newest_id: Option<render::Str<PostId>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    oldest_id: Option<render::Str<PostId>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    withheld_count: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    withheld_by_reason: Option<render::ByReason<'a>>,
}

fn respond(state: &ApiState, delivery: &Delivery, body: Vec<u8>) -> Response {
    respond_asked(state, delivery, body, Vec::new(), 0)
}

/// `respond` for a lookup that named the ids `asked`, `found` of which
/// exist: the guard counts both (an enumerator asks for ids in sequence, or
/// for ids that do not exist).
fn respond_asked(state: &ApiState, delivery: &Delivery, body: Vec<u8>, asked: Vec<u64>, found: usize) -> Response {
    let mut response =
        ([(axum::http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response();
    usage_headers(&mut response, state, delivery);
    if state.guard.is_some() {
        response.extensions_mut().insert(delivery.served(asked, found));
    }
    response
}

// -- post lookup --------------------------------------------------------------

const LOOKUP_PARAMS: &[&str] =
    &["ids", "tweet.fields", "post.fields", "user.fields", "expansions", "media.fields", "place.fields", "poll.fields"];
const ONE_PARAMS: &[&str] =
    &["tweet.fields", "post.fields", "user.fields", "expansions", "media.fields", "place.fields", "poll.fields"];

pub async fn tweet_lookup(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(pairs): Pairs,
) -> Response {
    handle_content(&state, &headers, "GET /2/tweets/:id", async |state, ctx| {
        let p = Params::new(pairs.as_deref(), ONE_PARAMS)?;
        let id: PostId = params::parse_id("id", &id)?;
        lookup(state, ctx, "GET /2/tweets/:id", &p, vec![id], true).await
    })
    .await
}

pub async fn tweets_lookup(State(state): State<Arc<ApiState>>, headers: HeaderMap, RawQuery(pairs): Pairs) -> Response {
    handle_content(&state, &headers, "GET /2/tweets", async |state, ctx| {
        let p = Params::new(pairs.as_deref(), LOOKUP_PARAMS)?;
        let ids: Vec<PostId> = p.ids("ids", 100)?;
        lookup(state, ctx, "GET /2/tweets", &p, ids, false).await
    })
    .await
}

async fn lookup(
    state: &ApiState,
    ctx: &Ctx,
    endpoint: &str,
    p: &Params,
    ids: Vec<PostId>,
    single: bool,
) -> Result<Response, ApiError> {
    let f = fields(p, List::PostExpansions)?;
    ctx.check_refusal(state, endpoint).await?;
    let mut found = state.cache.posts(&ids).map_err(store_error)?;
    // Answer in the order asked, once per id.
    if found.len() > 1 {
        let order: IdMap<PostId, usize> = ids.iter().enumerate().rev().map(|(i, id)| (*id, i)).collect();
        found.sort_by_key(|post| order.get(&post.id).copied().unwrap_or(usize::MAX));
    }
    let found_ids: IdSet<PostId> = found.iter().map(|p| p.id).collect();
    let delivery = deliver_posts(state, ctx, endpoint, found, expand(&f)).await?;

    let parameter = if single { "id" } else { "ids" };
    let withheld: IdMap<PostId, Reason> = delivery.withheld.iter().copied().collect();
    let mut errors = Vec::new();
    let mut seen = IdSet::with_capacity_and_hasher(ids.len(), Default::default());
    for id in &ids {
        if !seen.insert(*id) {
            continue;
        }
        if let Some(reason) = withheld.get(id) {
            errors.push(withheld_item("tweet", parameter, &id.to_string(), reason.as_str()));
        } else if !found_ids.contains(id) {
            errors.push(not_found_item("tweet", parameter, &id.to_string()));
        }
    }
    let body = render::object(size_hint(&delivery) + 300 * errors.len(), |o| {
        if single {
            if let Some(first) = delivery.posts.first() {
                o.serialize_entry("data", &render::Tweet(first, &f))?;
            }
        } else if !delivery.posts.is_empty() {
            o.serialize_entry("data", &render::Tweets(&delivery.posts, &f))?;
        }
        if let Some(inc) = includes(&delivery, &f) {
            o.serialize_entry("includes", &inc)?;
        }
        if !errors.is_empty() {
            o.serialize_entry("errors", &errors)?;
        }
        Ok(())
    })?;
    let asked = if state.guard.is_some() { ids.iter().map(|id| id.0).collect() } else { Vec::new() };
    Ok(respond_asked(state, &delivery, body, asked, found_ids.len()))
}

// -- lists: timelines and search -------------------------------------------------

const TIMELINE_PARAMS: &[&str] = &[
    "exclude",
    "max_results",
    "pagination_token",
    "since_id",
    "until_id",
    "start_time",
    "end_time",
    "tweet.fields",
    "post.fields",
    "user.fields",
    "expansions",
    "media.fields",
    "place.fields",
    "poll.fields",
];

const SEARCH_PARAMS: &[&str] = &[
    "query",
    "max_results",
    "next_token",
    "pagination_token",
    "since_id",
    "until_id",
    "start_time",
    "end_time",
    "sort_order",
    "tweet.fields",
    "post.fields",
    "user.fields",
    "expansions",
    "media.fields",
    "place.fields",
    "poll.fields",
];

fn cursor(p: &Params, key: &str) -> Result<Option<PostId>, ApiError> {
    p.get(key)
        .map(|t| {
            token::decode(t).ok_or_else(|| {
                ApiError::param(
                    key,
                    t,
                    format!("The `{key}` query parameter value [{t}] is not a token this server issued"),
                )
            })
        })
        .transpose()
}

fn check_time_order(p: &Params) -> Result<(), ApiError> {
    if let (Some(s), Some(e)) = (p.time("start_time")?, p.time("end_time")?)
        && s >= e
    {
        return Err(ApiError::param(
            "start_time",
            p.get("start_time").unwrap_or(""),
            "Invalid 'start_time'. 'start_time' must be before 'end_time'",
        ));
    }
    Ok(())
}

pub async fn user_timeline(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(pairs): Pairs,
) -> Response {
    const ENDPOINT: &str = "GET /2/users/:id/tweets";
    handle_content(&state, &headers, ENDPOINT, async |state, ctx| {
        let p = Params::new(pairs.as_deref(), TIMELINE_PARAMS)?;
        let author: AccountId = params::parse_id("id", &id)?;
        let f = fields(&p, List::PostExpansions)?;
        let limit = p.int("max_results", 5, 100, 10)?;
        check_time_order(&p)?;
        // Tollgate keeps no reposts, so excluding `retweets` leaves everything.
        let exclude_replies = p.list("exclude", &["replies", "retweets"])?.iter().any(|e| e == "replies");
        let q = TimelineQuery {
            exclude_replies,
            since_id: p.post_id("since_id")?,
            until_id: p.post_id("until_id")?,
            start_time: p.time("start_time")?,
            end_time: p.time("end_time")?,
            before_id: cursor(&p, "pagination_token")?,
            limit: limit + 1,
        };
        ctx.check_refusal(state, ENDPOINT).await?;
        if state.cache.account(author).map_err(store_error)?.is_none() {
            // Recorded like a lookup whose ids are all missing: a served
            // entry with no posts, so the ledger holds every answered request.
            let delivery = deliver_posts(state, ctx, ENDPOINT, Vec::new(), expand(&f)).await?;
            let errors = [not_found_item("user", "id", &author.to_string())];
            let body = render::object(512, |o| o.serialize_entry("errors", &errors))?;
            return Ok(respond(state, &delivery, body));
        }
        let candidates = state.cache.timeline(author, &q).map_err(store_error)?;
        list(state, ctx, ENDPOINT, &f, candidates, limit, None).await
    })
    .await
}

pub async fn search_recent(State(state): State<Arc<ApiState>>, headers: HeaderMap, RawQuery(pairs): Pairs) -> Response {
    const ENDPOINT: &str = "GET /2/tweets/search/recent";
    handle_content(&state, &headers, ENDPOINT, async |state, ctx| {
        let p = Params::new(pairs.as_deref(), SEARCH_PARAMS)?;
        let raw = p.required("query")?;
        let expr = query::parse(raw).map_err(|why| {
            ApiError::param("query", raw, format!("There were errors processing your request: {why}"))
        })?;
        let f = fields(&p, List::PostExpansions)?;
        let limit = p.int("max_results", 10, 100, 10)?;
        check_time_order(&p)?;
        // Results are always newest first; `relevancy` is accepted and answered by recency.
        p.list("sort_order", &["recency", "relevancy"])?;
        let before = match (cursor(&p, "next_token")?, cursor(&p, "pagination_token")?) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let q = SearchQuery {
            expr,
            since_id: p.post_id("since_id")?,
            until_id: p.post_id("until_id")?,
            start_time: p.time("start_time")?,
            end_time: p.time("end_time")?,
            before_id: before,
            limit: limit + 1,
        };
        ctx.check_refusal(state, ENDPOINT).await?;
        let (candidates, resume_before): (Vec<Arc<Post>>, _) = match crate::blocking(|| state.store.search_page(&q)) {
            Ok(page) => (page.posts.into_iter().map(Arc::new).collect(), page.resume_before),
            // The store refuses text it cannot search for: the query is bad, not the store.
            Err(tollgate_store::StoreError::Invalid { reason, .. }) => {
                return Err(ApiError::param(
                    "query",
                    raw,
                    format!("There were errors processing your request: {reason}"),
                ));
            }
            Err(e) => return Err(store_error(e)),
        };
        list(state, ctx, ENDPOINT, &f, candidates, limit, resume_before).await
    })
    .await
}

/// Renders a page of a list: the delivered posts, and in `meta` the counts,
/// the withheld posts by reason and the token of the next page. The token
/// points past the last candidate, withheld or not, so pages never overlap;
/// or, when the store stopped a bounded walk before the page filled
/// (`resume_before`), to where it stopped, so that a page may hold fewer
/// posts than asked for and still have a next one, as on X.
async fn list(
    state: &ApiState,
    ctx: &Ctx,
    endpoint: &str,
    f: &Fields,
    mut candidates: Vec<Arc<Post>>,
    limit: usize,
    resume_before: Option<PostId>,
) -> Result<Response, ApiError> {
    let more = candidates.len() > limit;
    candidates.truncate(limit);
    let next = if more { candidates.last().map(|p| token::encode(p.id)) } else { resume_before.map(token::encode) };
    let delivery = deliver_posts(state, ctx, endpoint, candidates, expand(f)).await?;

    let withheld: u32 = delivery.withheld_by_reason.values().sum();
    let meta = Meta {
        result_count: delivery.posts.len(),
        newest_id: delivery.posts.first().map(|p| render::Str(p.id)),
        oldest_id: delivery.posts.last().map(|p| render::Str(p.id)),
        next_token: next,
        withheld_count: (withheld > 0).then_some(withheld),
        withheld_by_reason: (withheld > 0).then_some(render::ByReason(&delivery.withheld_by_reason)),
    };
    let body = render::object(size_hint(&delivery), |o| {
        if !delivery.posts.is_empty() {
            o.serialize_entry("data", &render::Tweets(&delivery.posts, f))?;
        }
        if let Some(inc) = includes(&delivery, f) {
            o.serialize_entry("includes", &inc)?;
        }
        o.serialize_entry("meta", &meta)
    })?;
    Ok(respond(state, &delivery, body))
}

// -- users ----------------------------------------------------------------------

const USER_PARAMS: &[&str] = &["user.fields", "expansions", "tweet.fields", "post.fields"];
const USERNAMES_PARAMS: &[&str] = &["usernames", "user.fields", "expansions", "tweet.fields", "post.fields"];
const USERS_PARAMS: &[&str] = &["ids", "user.fields", "expansions", "tweet.fields", "post.fields"];

pub async fn user_lookup(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(pairs): Pairs,
) -> Response {
    const ENDPOINT: &str = "GET /2/users/:id";
    handle_content(&state, &headers, ENDPOINT, async |state, ctx| {
        let p = Params::new(pairs.as_deref(), USER_PARAMS)?;
        let id: AccountId = params::parse_id("id", &id)?;
        let found = state.cache.accounts(&[id]).map_err(store_error)?;
        users(state, ctx, ENDPOINT, &p, vec![(id.to_string(), found.into_iter().next())], "id", true).await
    })
    .await
}

pub async fn users_lookup(State(state): State<Arc<ApiState>>, headers: HeaderMap, RawQuery(pairs): Pairs) -> Response {
    const ENDPOINT: &str = "GET /2/users";
    handle_content(&state, &headers, ENDPOINT, async |state, ctx| {
        let p = Params::new(pairs.as_deref(), USERS_PARAMS)?;
        let ids: Vec<AccountId> = p.ids("ids", 100)?;
        let found: IdMap<AccountId, Arc<Account>> =
            state.cache.accounts(&ids).map_err(store_error)?.into_iter().map(|a| (a.id, a)).collect();
        let mut seen = std::collections::HashSet::new();
        let asked =
            ids.iter().filter(|id| seen.insert(**id)).map(|id| (id.to_string(), found.get(id).cloned())).collect();
        users(state, ctx, ENDPOINT, &p, asked, "ids", false).await
    })
    .await
}

pub async fn users_by_usernames(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    RawQuery(pairs): Pairs,
) -> Response {
    const ENDPOINT: &str = "GET /2/users/by";
    handle_content(&state, &headers, ENDPOINT, async |state, ctx| {
        let p = Params::new(pairs.as_deref(), USERNAMES_PARAMS)?;
        let raw = p.required("usernames")?;
        let names: Vec<&str> = raw.split(',').collect();
        if names.len() > 100 {
            return Err(ApiError::param(
                "usernames",
                raw,
                "The `usernames` query parameter value must contain at most 100 usernames",
            ));
        }
        let mut asked = Vec::new();
        for name in names {
            check_username("usernames", name)?;
            if !asked.iter().any(|(n, _): &(String, Option<Arc<Account>>)| n.eq_ignore_ascii_case(name)) {
                let found = crate::blocking(|| state.store.account_by_handle(name)).map_err(store_error)?.map(Arc::new);
                asked.push((name.to_owned(), found));
            }
        }
        users(state, ctx, ENDPOINT, &p, asked, "usernames", false).await
    })
    .await
}

fn check_username(parameter: &str, name: &str) -> Result<(), ApiError> {
    if name.is_empty() || name.len() > 15 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(ApiError::param(
            parameter,
            name,
            format!("The `{parameter}` query parameter value [{name}] does not match ^[A-Za-z0-9_]{{1,15}}$"),
        ));
    }
    Ok(())
}

pub async fn user_by_username(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(username): Path<String>,
    RawQuery(pairs): Pairs,
) -> Response {
    const ENDPOINT: &str = "GET /2/users/by/username/:username";
    handle_content(&state, &headers, ENDPOINT, async |state, ctx| {
        let p = Params::new(pairs.as_deref(), USER_PARAMS)?;
        check_username("username", &username)?;
        let found = crate::blocking(|| state.store.account_by_handle(&username)).map_err(store_error)?.map(Arc::new);
        users(state, ctx, ENDPOINT, &p, vec![(username.clone(), found)], "username", true).await
    })
    .await
}

/// Renders user objects for the accounts asked for, in order; `asked` pairs
/// the value as given with the account found for it. A profile the policy
/// withholds (decided like its owner's posts) is an error entry with its reason.
async fn users(
    state: &ApiState,
    ctx: &Ctx,
    endpoint: &str,
    p: &Params,
    asked: Vec<(String, Option<Arc<Account>>)>,
    parameter: &str,
    single: bool,
) -> Result<Response, ApiError> {
    let f = fields(p, List::UserExpansions)?;
    ctx.check_refusal(state, endpoint).await?;
    let candidates: Vec<Arc<Account>> = asked.iter().filter_map(|(_, a)| a.clone()).collect();
    let mut timings = Timings::default();
    let (delivery, refused) = state
        .deliverer
        .deliver_accounts(&ctx.request(endpoint), candidates, &mut timings)
        .await
        .map_err(ApiError::ledger)?;
    crate::access::note_seq(delivery.receipt.seq);
    let refused: IdMap<AccountId, Reason> = refused.into_iter().collect();
    let mut data: Vec<&Released<Account>> = Vec::new();
    let mut errors = Vec::new();
    for (value, account) in &asked {
        match account {
            None => errors.push(not_found_item("user", parameter, value)),
            Some(a) => match refused.get(&a.id) {
                Some(reason) => errors.push(withheld_item("user", parameter, value, reason.as_str())),
                None => {
                    if let Some(d) = delivery.accounts.iter().find(|d| d.id == a.id) {
                        data.push(d);
                    }
                }
            },
        }
    }
    let body = render::object(256 + 200 * data.len() + 300 * errors.len(), |o| {
        if single {
            if let Some(first) = data.first() {
                o.serialize_entry("data", &render::User(first, &f))?;
            }
        } else if !data.is_empty() {
            o.serialize_entry("data", &render::Users(&data, &f))?;
        }
        if !errors.is_empty() {
            o.serialize_entry("errors", &errors)?;
        }
        Ok(())
    })?;
    Ok(respond(state, &delivery, body))
}
