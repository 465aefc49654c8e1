//! The actors at work: each sends its plan's requests in order and reacts to
//! what the guard answers, closed loop. `classify` reads a response as the
//! guard's contract defines it (docs/guard.md); `react` is each class's
//! reaction, a pure function of its state and the outcome so that every
//! reaction is tested without a server; `run_actor` does the I/O.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http_body_util::Full;
use hyper::body::Bytes;
use serde::Serialize;

use crate::client::{Client, Reply};
use crate::extract::{self, ChallengeForm, Robots};
use crate::plan::{ActorPlan, Class};
use crate::sign::BotKey;

/// What a response meant to the actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `200`: the posts it served (none: a page or answer without posts);
    /// `paid` when it was sold (`crawler-charged`).
    Served { ids: BTreeSet<u64>, paid: bool },
    /// `429` (the guard's throttle, or the API's own rate limit).
    Throttle { retry_after_secs: u64, guard: bool },
    /// `429` with `tollgate-guard: tarpit`, after the hold.
    Tarpit,
    /// `402` with the price asked.
    License { price: Option<String> },
    /// The challenge page and its form.
    Challenge(Option<ChallengeForm>),
    /// `403` with `tollgate-guard: block`.
    Block,
    /// `303` (after a challenge form): where to go.
    Redirect(String),
    /// Anything else: 404, 401, a 403 or 5xx not from the guard.
    Other(u16),
    /// No answer (connection error, time-out).
    Error,
}

impl Outcome {
    /// An answer of the guard's that gives no content: the actor's refusals.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            Outcome::Throttle { guard: true, .. }
                | Outcome::Tarpit
                | Outcome::License { .. }
                | Outcome::Challenge(_)
                | Outcome::Block
        )
    }
}

/// Reads a reply to `path` as the guard's contract defines it.
pub fn classify(path: &str, reply: &Reply) -> Outcome {
    let guard = reply.header("tollgate-guard").map(str::to_ascii_lowercase);
    let guard = guard.as_deref();
    match (reply.status, guard) {
        (200, _) => {
            let ct = reply.header("content-type").unwrap_or("");
            Outcome::Served {
                ids: extract::served_post_ids(path, ct, &reply.body),
                paid: reply.header("crawler-charged").is_some(),
            }
        }
        (429, Some("tarpit")) => Outcome::Tarpit,
        (429, g) => Outcome::Throttle {
            retry_after_secs: reply.header("retry-after").and_then(|v| v.trim().parse().ok()).unwrap_or(1),
            guard: g.is_some(),
        },
        (402, _) => Outcome::License { price: reply.header("crawler-price").map(str::to_owned) },
        (403, Some("challenge")) => Outcome::Challenge(extract::challenge_form(&String::from_utf8_lossy(&reply.body))),
        (403, Some("block")) => Outcome::Block,
        (301 | 302 | 303 | 307 | 308, _) => Outcome::Redirect(reply.header("location").unwrap_or("/").to_owned()),
        (status, _) => Outcome::Other(status),
    }
}

/// What the actor does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// On to its next intent.
    Next,
    /// The same intent again after a wait.
    Retry { after_ms: u64 },
    /// Submit the challenge form, then the intent again.
    Submit(ChallengeForm),
    /// Gives up: it is stopped.
    Stop,
}

/// Whose cookies are kept for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jar {
    /// Kept for the whole run (people).
    Session,
    /// Kept for one intent, then thrown away (a fresh browser context per page).
    PerIntent,
    /// Never sent back.
    Never,
}

/// An actor's changing state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    /// Refusals in a row.
    pub refusals: u32,
    /// Index of the address in use.
    pub address: usize,
    /// Requests made from it.
    pub on_address: u32,
    /// The price to pay when asked again (set by a `402` to a payer).
    pub pay: Option<String>,
    /// Uses its disguise user agent.
    pub disguised: bool,
    /// The adaptive scraper's tactic, 0 (naive) to `MAX_TACTIC`.
    pub tactic: u8,
    pub cookies: BTreeMap<String, String>,
    /// Attempts at the current intent.
    pub attempt: u32,
}

/// The adaptive scraper's last tactic: 1 disguise as a browser, 2 rotate
/// residential addresses, 3 keep cookies and pass challenges, 4 slow down
/// and wait as told.
pub const MAX_TACTIC: u8 = 4;
/// Attempts at one intent before moving on.
const MAX_ATTEMPTS: u32 = 3;

impl State {
    pub fn new() -> State {
        State {
            refusals: 0,
            address: 0,
            on_address: 0,
            pay: None,
            disguised: false,
            tactic: 0,
            cookies: BTreeMap::new(),
            attempt: 0,
        }
    }

    pub fn jar(&self, class: Class) -> Jar {
        match class {
            c if c.is_person() => Jar::Session,
            Class::HeadlessFleet => Jar::PerIntent,
            Class::Adaptive if self.tactic >= 3 => Jar::Session,
            _ => Jar::Never,
        }
    }

    fn next_address(&mut self) {
        self.address += 1;
        self.on_address = 0;
    }
}

impl Default for State {
    fn default() -> Self {
        State::new()
    }
}

/// Whether the class pays for a license when it holds a verified identity
/// (licensed-minded crawlers do).
fn pays(plan: &ActorPlan) -> bool {
    match plan.class {
        Class::AiHonest => true,
        Class::SearchVerified => {
            plan.bot_key.is_some() || plan.addresses.iter().all(|a| crate::net::SEARCH_CRAWLER.contains(*a))
        }
        _ => false,
    }
}

/// The class's reaction to an outcome.
pub fn react(plan: &ActorPlan, st: &mut State, outcome: &Outcome) -> Step {
    let class = plan.class;
    let retry = st.attempt + 1 < MAX_ATTEMPTS;
    let wait = |secs: u64| Step::Retry { after_ms: secs.max(1) * 1000 };
    if let Outcome::Served { .. } = outcome {
        st.refusals = 0;
        return Step::Next;
    }
    match outcome {
        Outcome::Other(_) | Outcome::Redirect(_) => return Step::Next,
        Outcome::Error => return if retry { Step::Retry { after_ms: 200 } } else { Step::Next },
        // The API's own quota is no refusal of the guard's: everyone waits.
        Outcome::Throttle { retry_after_secs, guard: false } => {
            return if retry { wait(*retry_after_secs) } else { Step::Next };
        }
        _ => {}
    }
    st.refusals += 1;
    let give_up = st.refusals >= plan.patience;
    if class == Class::Adaptive {
        return react_adaptive(plan, st, outcome, retry);
    }
    let step = match (class, outcome) {
        (_, Outcome::Throttle { retry_after_secs, .. }) if class != Class::ResidentialSwarm => {
            if retry {
                wait(*retry_after_secs)
            } else {
                Step::Next
            }
        }
        (_, Outcome::Challenge(Some(form))) if (class.is_person() || class == Class::HeadlessFleet) && retry => {
            Step::Submit(form.clone())
        }
        (_, Outcome::License { price }) if pays(plan) && st.pay.is_none() => {
            st.pay = Some(price.clone().unwrap_or_else(|| "USD 0.01".into()));
            Step::Retry { after_ms: 0 }
        }
        (Class::AiIgnoring, Outcome::License { .. } | Outcome::Block) if !st.disguised => {
            st.disguised = true;
            Step::Retry { after_ms: 0 }
        }
        (Class::StealthDc | Class::ResidentialSwarm, _) => {
            st.next_address();
            Step::Next
        }
        _ => Step::Next,
    };
    if give_up && !matches!(step, Step::Submit(_)) { Step::Stop } else { step }
}

fn react_adaptive(plan: &ActorPlan, st: &mut State, outcome: &Outcome, retry: bool) -> Step {
    if let (true, Outcome::Challenge(Some(form)), true) = (st.tactic >= 3, outcome, retry) {
        return Step::Submit(form.clone());
    }
    if st.tactic >= MAX_TACTIC {
        if st.refusals >= plan.patience {
            return Step::Stop;
        }
        return match outcome {
            Outcome::Throttle { retry_after_secs, .. } if retry => {
                Step::Retry { after_ms: retry_after_secs.max(&1) * 1000 }
            }
            _ => {
                st.next_address();
                Step::Next
            }
        };
    }
    // Two refusals in a row, or one block: the tactic failed; try the next.
    if st.refusals >= 2 || *outcome == Outcome::Block {
        st.tactic += 1;
        st.refusals = 0;
        match st.tactic {
            1 => st.disguised = true,
            2 => st.next_address(),
            _ => {}
        }
        return Step::Retry { after_ms: 0 };
    }
    if st.tactic >= 2 {
        st.next_address();
    }
    Step::Next
}

/// What one actor did, for the report and the evidence file.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ActorStats {
    pub label: String,
    pub class: String,
    pub requests: u64,
    pub served: u64,
    /// `200`s that served at least one post.
    pub content: u64,
    pub paid: u64,
    pub throttled: u64,
    pub quota: u64,
    pub tarpitted: u64,
    pub licensed: u64,
    pub challenged: u64,
    pub blocked: u64,
    pub submitted: u64,
    pub other: u64,
    pub errors: u64,
    #[serde(skip)]
    pub posts: BTreeSet<u64>,
    /// Posts served from paths robots.txt disallows for its token.
    #[serde(skip)]
    pub disallowed_posts: BTreeSet<u64>,
    /// Unix milliseconds of its first and last request.
    pub first_ms: u64,
    pub last_ms: u64,
    /// Milliseconds from its first request to giving up, if it gave up.
    pub stopped_after_ms: Option<u64>,
    /// `stopped` (gave up), `done` (no intents left) or `budget` (the run's
    /// time or request budget ended first).
    pub end: String,
    pub addresses: Vec<Ipv4Addr>,
    pub user_agents: Vec<String>,
    /// The class-wide request number at which the guard first answered it.
    pub first_guard_at: Option<u64>,
}

/// What all actors share during a run.
#[derive(Debug)]
pub struct Run {
    pub client: Client,
    pub started: Instant,
    pub deadline: Instant,
    pub max_requests: u64,
    pub sent: AtomicU64,
    /// Requests sent per class, numbering each class's requests.
    pub per_class: Vec<AtomicU64>,
    /// robots.txt as the observer read it at the start.
    pub robots: String,
    /// The longest wait a `Retry-After` gets.
    pub max_wait: Duration,
}

impl Run {
    pub fn new(client: Client, duration: Duration, max_requests: u64, robots: String) -> Arc<Run> {
        let started = Instant::now();
        Arc::new(Run {
            client,
            started,
            deadline: started + duration,
            max_requests,
            sent: AtomicU64::new(0),
            per_class: Class::ALL.iter().map(|_| AtomicU64::new(0)).collect(),
            robots,
            max_wait: Duration::from_secs(30),
        })
    }

    /// Waits, unless the run ends first; false when it has.
    async fn pause(&self, ms: u64) -> bool {
        let until = (Instant::now() + Duration::from_millis(ms)).min(self.deadline);
        tokio::time::sleep_until(until.into()).await;
        Instant::now() < self.deadline
    }

    /// Takes one request from the budget; false when none is left.
    fn take(&self) -> bool {
        Instant::now() < self.deadline && self.sent.fetch_add(1, Ordering::Relaxed) < self.max_requests
    }
}

fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Runs one actor to its end.
pub async fn run_actor(plan: ActorPlan, run: Arc<Run>) -> ActorStats {
    let mut stats = ActorStats { label: plan.label.clone(), class: plan.class.name().into(), ..ActorStats::default() };
    let robots = plan.robots_token.as_deref().map(|t| Robots::parse(&run.robots, t));
    let bot_key = plan.bot_key.map(|seed| {
        let url = if plan.class == Class::AiHonest { crate::plan::AI_AGENT_URL } else { crate::plan::SEARCH_AGENT_URL };
        BotKey::from_seed(seed, url)
    });
    let mut st = State::new();
    if !run.pause(plan.start_ms).await {
        stats.end = "budget".into();
        return stats;
    }
    let mut began = None;
    let mut queue: VecDeque<String> = plan.intents.iter().cloned().collect();
    // An honest crawler reads robots.txt first, itself, and keeps to it.
    let mut own_robots = None;
    if plan.class == Class::AiHonest || plan.class == Class::SearchVerified {
        queue.push_front("/robots.txt".into());
    }
    let ctx = Ctx { plan: &plan, run: &run, bot_key: bot_key.as_ref() };
    'intents: while let Some(path) = queue.pop_front() {
        if let Some(r) = &own_robots {
            let r: &Robots = r;
            if !r.allows(&path) {
                continue;
            }
        }
        if st.jar(plan.class) == Jar::PerIntent {
            st.cookies.clear();
        }
        st.attempt = 0;
        let mut target = path.clone();
        loop {
            if !run.take() {
                stats.end = "budget".into();
                break 'intents;
            }
            let reply = ctx.send(&mut st, &mut stats, "GET", &target, None).await;
            began.get_or_insert(Instant::now());
            let outcome = match &reply {
                Some(r) => classify(&target, r),
                None => Outcome::Error,
            };
            record(&mut stats, &outcome, &target, robots.as_ref());
            if let (true, Some(r), Some(token)) = (path == "/robots.txt", &reply, &plan.robots_token) {
                own_robots = Some(Robots::parse(&String::from_utf8_lossy(&r.body), token));
            }
            let naive = plan.class == Class::AiIgnoring || plan.class == Class::SearchImpersonator;
            if let (Outcome::Served { .. }, Some(r), true) = (&outcome, &reply, naive) {
                // Naive crawlers follow every link, hidden ones too.
                let body = String::from_utf8_lossy(&r.body);
                if let Some(hidden) = extract::hrefs(&body).into_iter().find(|h| h.starts_with("/_tg/l/")) {
                    queue.push_front(hidden);
                }
            }
            let step = react(&plan, &mut st, &outcome);
            st.attempt += 1;
            match step {
                Step::Next => break,
                Step::Retry { after_ms } => {
                    if !run.pause(after_ms.min(run.max_wait.as_millis() as u64)).await {
                        stats.end = "budget".into();
                        break 'intents;
                    }
                }
                Step::Submit(form) => {
                    if !run.take() {
                        stats.end = "budget".into();
                        break 'intents;
                    }
                    stats.submitted += 1;
                    let body = extract::form_urlencode(&form.fields);
                    let reply = ctx.send(&mut st, &mut stats, "POST", &form.action, Some(body)).await;
                    if let Some(Outcome::Redirect(location)) = reply.as_ref().map(|r| classify(&form.action, r))
                        && location.starts_with('/')
                        && !location.starts_with("//")
                    {
                        target = location;
                    }
                }
                Step::Stop => {
                    stats.end = "stopped".into();
                    stats.stopped_after_ms = began.map(|b| b.elapsed().as_millis() as u64);
                    break 'intents;
                }
            }
        }
        if !run.pause(if st.tactic >= MAX_TACTIC { plan.pace_ms * 10 } else { plan.pace_ms }).await {
            stats.end = "budget".into();
            break;
        }
    }
    if stats.end.is_empty() {
        stats.end = "done".into();
    }
    stats
}

struct Ctx<'a> {
    plan: &'a ActorPlan,
    run: &'a Run,
    bot_key: Option<&'a BotKey>,
}

impl Ctx<'_> {
    /// Sends one request as the actor's state says it looks now.
    async fn send(
        &self,
        st: &mut State,
        stats: &mut ActorStats,
        method: &str,
        path: &str,
        form: Option<String>,
    ) -> Option<Reply> {
        let plan = self.plan;
        if st.on_address >= plan.requests_per_address {
            st.next_address();
        }
        // From its second tactic on, the adaptive scraper sends each request
        // from its next residential address (its addresses after the first).
        let addr = if plan.class == Class::Adaptive && st.tactic >= 2 && plan.addresses.len() > 1 {
            st.next_address();
            plan.addresses[1 + st.address % (plan.addresses.len() - 1)]
        } else {
            plan.addresses[st.address % plan.addresses.len()]
        };
        st.on_address += 1;
        let ua = if st.disguised { &plan.disguise } else { &plan.user_agent };
        let authority = self.run.client.authority();
        let api = path.starts_with("/2/");
        let mut b = http::Request::builder()
            .method(method)
            .uri(path)
            .header("host", &authority)
            .header("user-agent", ua)
            .header("x-forwarded-for", addr.to_string())
            .header("accept", if api { "application/json" } else { "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8" });
        if let Some(key) = &plan.key {
            b = b.header("authorization", format!("Bearer {key}"));
        }
        if st.jar(plan.class) != Jar::Never && !st.cookies.is_empty() {
            let cookie = st.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
            b = b.header("cookie", cookie);
        }
        if let (Some(key), false) = (self.bot_key, st.disguised) {
            let signed = key.sign(&authority, unix_ms() / 1000);
            b = b
                .header("signature-agent", signed.signature_agent)
                .header("signature-input", signed.signature_input)
                .header("signature", signed.signature);
        }
        if let Some(price) = &st.pay {
            b = b.header("crawler-exact-price", price);
        }
        let body = match form {
            Some(f) => {
                b = b.header("content-type", "application/x-www-form-urlencoded");
                Full::new(Bytes::from(f))
            }
            None => Full::new(Bytes::new()),
        };
        let request = b.body(body).ok()?;
        let now = unix_ms();
        if stats.first_ms == 0 {
            stats.first_ms = now;
        }
        stats.last_ms = now;
        stats.requests += 1;
        let ordinal = self.run.per_class[plan.class as usize].fetch_add(1, Ordering::Relaxed) + 1;
        if !stats.addresses.contains(&addr) {
            stats.addresses.push(addr);
        }
        if !stats.user_agents.iter().any(|u| u == ua) {
            stats.user_agents.push(ua.clone());
        }
        let reply = self.run.client.send(request).await.ok();
        if let Some(r) = &reply {
            if r.header("tollgate-guard").is_some() && stats.first_guard_at.is_none() {
                stats.first_guard_at = Some(ordinal);
            }
            if st.jar(plan.class) != Jar::Never {
                for v in r.headers.get_all("set-cookie") {
                    if let Some((k, v)) = v.to_str().ok().and_then(extract::set_cookie_pair) {
                        st.cookies.insert(k, v);
                    }
                }
            }
        }
        reply
    }
}

fn record(stats: &mut ActorStats, outcome: &Outcome, path: &str, robots: Option<&Robots>) {
    match outcome {
        Outcome::Served { ids, paid } => {
            stats.served += 1;
            if !ids.is_empty() {
                stats.content += 1;
                if robots.is_some_and(|r| !r.allows(path)) {
                    stats.disallowed_posts.extend(ids);
                }
                stats.posts.extend(ids);
            }
            stats.paid += u64::from(*paid);
        }
        Outcome::Throttle { guard: true, .. } => stats.throttled += 1,
        Outcome::Throttle { guard: false, .. } => stats.quota += 1,
        Outcome::Tarpit => stats.tarpitted += 1,
        Outcome::License { .. } => stats.licensed += 1,
        Outcome::Challenge(_) => stats.challenged += 1,
        Outcome::Block => stats.blocked += 1,
        Outcome::Redirect(_) | Outcome::Other(_) => stats.other += 1,
        Outcome::Error => stats.errors += 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Keys, Mix, Plan, Platform};

    fn actor(class: Class) -> ActorPlan {
        let plan = Plan::new(3, &Mix::standard(), &Platform::synthetic(5, 5), &Keys::default(), 0);
        let mut a = plan.actors.into_iter().find(|a| a.class == class).unwrap();
        a.patience = 3;
        a
    }

    fn form() -> ChallengeForm {
        ChallengeForm { action: "/_tg/challenge".into(), fields: vec![("token".into(), "t".into())] }
    }

    fn throttle(secs: u64) -> Outcome {
        Outcome::Throttle { retry_after_secs: secs, guard: true }
    }

    fn license() -> Outcome {
        Outcome::License { price: Some("USD 0.01".into()) }
    }

    fn reply(status: u16, headers: &[(&'static str, &str)], body: &str) -> Reply {
        let mut map = http::HeaderMap::new();
        for (k, v) in headers {
            map.insert(*k, v.parse().unwrap());
        }
        Reply { status, headers: map, body: Bytes::from(body.to_owned()) }
    }

    #[test]
    fn responses_are_read_as_the_contract_defines_them() {
        let page = r#"<article data-post-id="5"></article>"#;
        assert_eq!(
            classify("/a/status/5", &reply(200, &[("content-type", "text/html; charset=utf-8")], page)),
            Outcome::Served { ids: BTreeSet::from([5]), paid: false }
        );
        assert_eq!(
            classify(
                "/a/status/5",
                &reply(200, &[("content-type", "text/html"), ("crawler-charged", "USD 0.01")], page)
            ),
            Outcome::Served { ids: BTreeSet::from([5]), paid: true }
        );
        assert_eq!(
            classify("/a", &reply(429, &[("tollgate-guard", "throttle"), ("retry-after", "7")], "")),
            throttle(7)
        );
        assert_eq!(
            classify("/2/tweets/1", &reply(429, &[("retry-after", "60")], "")),
            Outcome::Throttle { retry_after_secs: 60, guard: false }
        );
        assert_eq!(classify("/a", &reply(429, &[("tollgate-guard", "tarpit")], "")), Outcome::Tarpit);
        assert_eq!(
            classify("/a", &reply(402, &[("tollgate-guard", "license"), ("crawler-price", "USD 0.01")], "")),
            license()
        );
        let challenge =
            r#"<form method="post" action="/_tg/challenge"><input type="hidden" name="token" value="t"></form>"#;
        assert_eq!(
            classify("/a", &reply(403, &[("tollgate-guard", "challenge")], challenge)),
            Outcome::Challenge(Some(form()))
        );
        assert_eq!(classify("/a", &reply(403, &[("tollgate-guard", "block")], "")), Outcome::Block);
        // A 403 of the API's own (an app refused a field) is not the guard's.
        assert_eq!(classify("/2/tweets/1", &reply(403, &[], "{}")), Outcome::Other(403));
        assert_eq!(classify("/_tg/challenge", &reply(303, &[("location", "/a")], "")), Outcome::Redirect("/a".into()));
    }

    #[test]
    fn people_wait_submit_challenges_and_give_up_only_after_their_patience() {
        let a = actor(Class::PeopleHome);
        let mut st = State::new();
        assert_eq!(react(&a, &mut st, &throttle(2)), Step::Retry { after_ms: 2000 });
        assert_eq!(react(&a, &mut st, &Outcome::Challenge(Some(form()))), Step::Submit(form()));
        assert_eq!(react(&a, &mut st, &Outcome::Served { ids: BTreeSet::new(), paid: false }), Step::Next);
        assert_eq!(st.refusals, 0);
        assert_eq!(react(&a, &mut st, &license()), Step::Next);
        assert_eq!(st.pay, None, "people do not pay");
        assert_eq!(react(&a, &mut st, &Outcome::Tarpit), Step::Next);
        assert_eq!(react(&a, &mut st, &Outcome::Block), Step::Stop);
        assert_eq!(st.jar(Class::PeopleMobile), Jar::Session);
        // No more than MAX_ATTEMPTS at one intent.
        let mut st = State { attempt: MAX_ATTEMPTS - 1, ..State::new() };
        assert_eq!(react(&a, &mut st, &throttle(2)), Step::Next);
    }

    #[test]
    fn apps_wait_out_their_quota_without_counting_it_as_a_refusal() {
        for class in [Class::ApiApp, Class::Partner, Class::KeyFarm] {
            let a = actor(class);
            let mut st = State::new();
            let quota = Outcome::Throttle { retry_after_secs: 5, guard: false };
            assert_eq!(react(&a, &mut st, &quota), Step::Retry { after_ms: 5000 });
            assert_eq!(st.refusals, 0);
            assert_eq!(react(&a, &mut st, &throttle(1)), Step::Retry { after_ms: 1000 });
            assert_eq!(react(&a, &mut st, &Outcome::Other(404)), Step::Next);
            assert_eq!(react(&a, &mut st, &Outcome::Block), Step::Next);
            assert_eq!(react(&a, &mut st, &license()), Step::Stop);
            assert_eq!(st.jar(class), Jar::Never);
        }
    }

    #[test]
    fn verified_crawlers_pay_and_others_give_up_or_disguise() {
        for class in [Class::SearchVerified, Class::AiHonest] {
            let a = actor(class);
            let mut st = State::new();
            assert_eq!(react(&a, &mut st, &license()), Step::Retry { after_ms: 0 }, "{class:?}");
            assert_eq!(st.pay.as_deref(), Some("USD 0.01"));
            // Asked again although paying: the offer is not for it; on.
            assert_eq!(react(&a, &mut st, &license()), Step::Next);
            assert_eq!(react(&a, &mut st, &Outcome::Challenge(Some(form()))), Step::Stop, "crawlers submit no forms");
        }
        let a = actor(Class::SearchImpersonator);
        let mut st = State::new();
        assert_eq!(react(&a, &mut st, &license()), Step::Next);
        assert_eq!(st.pay, None, "an unverified impersonator cannot buy");
        let a = actor(Class::AiIgnoring);
        let mut st = State::new();
        assert_eq!(react(&a, &mut st, &license()), Step::Retry { after_ms: 0 });
        assert!(st.disguised && st.pay.is_none());
        assert_eq!(react(&a, &mut st, &Outcome::Block), Step::Next);
        assert_eq!(react(&a, &mut st, &Outcome::Tarpit), Step::Stop);
    }

    #[test]
    fn scrapers_rotate_addresses_and_only_headless_fleets_pass_challenges() {
        let a = actor(Class::StealthDc);
        let mut st = State::new();
        assert_eq!(react(&a, &mut st, &Outcome::Challenge(Some(form()))), Step::Next);
        assert_eq!(st.address, 1, "the stealth scraper moves to its next address");
        assert_eq!(react(&a, &mut st, &throttle(3)), Step::Retry { after_ms: 3000 });
        assert_eq!(st.jar(Class::StealthDc), Jar::Never);

        let a = actor(Class::HeadlessFleet);
        let mut st = State::new();
        assert_eq!(react(&a, &mut st, &Outcome::Challenge(Some(form()))), Step::Submit(form()));
        assert_eq!(react(&a, &mut st, &Outcome::Challenge(None)), Step::Next);
        assert_eq!(st.jar(Class::HeadlessFleet), Jar::PerIntent);

        let a = actor(Class::ResidentialSwarm);
        let mut st = State::new();
        assert_eq!(react(&a, &mut st, &throttle(30)), Step::Next, "a swarm does not wait: it moves on");
        assert_eq!(st.address, 1);
        assert_eq!(react(&a, &mut st, &Outcome::Block), Step::Next);
        assert_eq!(react(&a, &mut st, &Outcome::Tarpit), Step::Stop);

        for class in [Class::SlowLow, Class::IdEnumerator] {
            let a = actor(class);
            let mut st = State::new();
            assert_eq!(react(&a, &mut st, &throttle(4)), Step::Retry { after_ms: 4000 });
            assert_eq!(react(&a, &mut st, &Outcome::Challenge(Some(form()))), Step::Next);
            assert_eq!(react(&a, &mut st, &Outcome::Block), Step::Stop);
        }
    }

    #[test]
    fn the_adaptive_scraper_climbs_its_tactics_then_gives_up() {
        let a = actor(Class::Adaptive);
        let mut st = State::new();
        assert_eq!(react(&a, &mut st, &throttle(1)), Step::Next);
        assert_eq!(react(&a, &mut st, &throttle(1)), Step::Retry { after_ms: 0 });
        assert_eq!((st.tactic, st.disguised), (1, true));
        assert_eq!(react(&a, &mut st, &Outcome::Block), Step::Retry { after_ms: 0 });
        assert_eq!(st.tactic, 2);
        assert_eq!(st.jar(Class::Adaptive), Jar::Never);
        assert_eq!(react(&a, &mut st, &Outcome::Block), Step::Retry { after_ms: 0 });
        assert_eq!(st.tactic, 3);
        assert_eq!(st.jar(Class::Adaptive), Jar::Session);
        assert_eq!(react(&a, &mut st, &Outcome::Challenge(Some(form()))), Step::Submit(form()));
        assert_eq!(react(&a, &mut st, &Outcome::Block), Step::Retry { after_ms: 0 });
        assert_eq!(st.tactic, MAX_TACTIC);
        assert_eq!(react(&a, &mut st, &throttle(2)), Step::Retry { after_ms: 2000 });
        assert_eq!(react(&a, &mut st, &Outcome::Tarpit), Step::Next);
        assert_eq!(react(&a, &mut st, &Outcome::Block), Step::Stop);
    }
}
