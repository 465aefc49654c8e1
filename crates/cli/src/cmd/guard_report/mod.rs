//! The guard's evidence report (`tollgate guard report`): per actor, what it
//! asked for, what it was answered, the notices it was given and what it
//! did after each, built from the ledger entries that carry the guard's
//! facts (`tollgate_ledger::GuardFacts`) and from the written notices the
//! operator recorded (`Store::guard_notices`). docs/guard.md, "Evidence",
//! documents the output.
//!
//! One pass over the ledger, in sequence order, up to the signed head the
//! report names: an actor's state is bounded (the distinct values of each
//! kind it keeps, `MAX_DISTINCT`, and its samples, `--samples`), so memory
//! grows with the number of actors, never with the number of entries. The
//! road not taken: the audit index, which has no guard columns; a report is
//! rare and offline, a scan of the entries is exact and needs no new index.

pub mod csv;
pub mod html;

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde::Serialize;
use tollgate_domain::Timestamp;
use tollgate_domain::guard::GuardAction;
use tollgate_ledger::{Entry, Frontier, GuardFacts, LedgerDb, LedgerError, LedgerRow, Outcome, leaf_hash};
use tollgate_store::GuardNotice;

/// The version of the report's JSON (`version`): a field is only ever added.
pub const REPORT_VERSION: u32 = 1;

/// How many distinct values of one kind (user agents, prefixes, ...) an
/// actor's report keeps with exact counts; the requests with any further
/// value are counted together (`other_requests`).
pub const MAX_DISTINCT: usize = 64;

/// The most samples of each end (first and last) `--samples` may ask for.
pub const MAX_SAMPLES: usize = 1_000;

/// Entries read from the ledger at a time.
const PAGE: usize = 4_096;

/// What the report covers.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Entries at or after this time; `None`: from the first.
    pub since: Option<Timestamp>,
    /// Entries before this time; `None`: up to the head.
    pub until: Option<Timestamp>,
    /// Only this actor.
    pub actor: Option<String>,
    /// The first and the last this many entries of each actor, as samples.
    pub samples: usize,
}

/// The report: a stable JSON document (docs/guard.md, "Evidence").
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Always `tollgate-guard-evidence`.
    pub report: &'static str,
    pub version: u32,
    pub generated_at: Timestamp,
    pub window: Window,
    /// The `--actor` asked for, if any.
    pub actor: Option<String>,
    pub samples_per_end: usize,
    pub ledger: Source,
    pub actors: Vec<ActorReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Window {
    /// Inclusive.
    pub since: Option<Timestamp>,
    /// Exclusive.
    pub until: Option<Timestamp>,
}

/// What the report was built from.
#[derive(Debug, Clone, Serialize)]
pub struct Source {
    /// The latest signed head when the report began: every entry the report
    /// names is below its size, so each can be proven against it
    /// (`tollgate ledger prove --entry SEQ --checkpoint SIZE`). `None`: the
    /// ledger had no signed head (no entry yet).
    pub head: Option<Head>,
    /// The entries read: sequence numbers `from_seq..to_seq` (entries before
    /// `from_seq` were removed by retention, if any; `to_seq` is the head's
    /// size unless the ledger's copy had not yet caught up with it).
    pub from_seq: u64,
    pub to_seq: u64,
    /// How many of them carry the guard's facts, and how many of those fall
    /// in the window (and are of the actor asked for).
    pub guard_entries: u64,
    pub guard_entries_in_window: u64,
    /// Whether the report recomputed the Merkle root of the entries it read
    /// and found the head's: true when it read every entry the head signs
    /// (none removed by retention, the copy caught up). A root that differs
    /// is an error: no report is written from entries their signature does
    /// not cover.
    pub root_checked: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Head {
    pub size: u64,
    /// The Merkle tree's root, hex.
    pub root: String,
    /// When it was signed.
    pub time: Timestamp,
    /// The Ed25519 public key that signed it, hex (`tollgate ledger key`).
    pub public_key: String,
}

/// Requests and posts, served and refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub requests: u64,
    pub served: u64,
    pub refused: u64,
    /// Posts released by the served requests.
    pub posts_served: u64,
    /// Posts the policy withheld from the served requests.
    pub posts_withheld: u64,
}

impl Counts {
    fn add(&mut self, entry: &Entry) {
        self.requests += 1;
        match entry.outcome {
            Outcome::Served => self.served += 1,
            Outcome::Refused(_) => self.refused += 1,
        }
        self.add_posts(entry);
    }

    /// Adds the posts of a further entry of a request already counted (a
    /// profile page records the profile and its posts apart).
    fn add_posts(&mut self, entry: &Entry) {
        if let Outcome::Served = entry.outcome {
            self.posts_served += entry.posts.len() as u64;
        }
        self.posts_withheld += entry.withheld.values().map(|&n| u64::from(n)).sum::<u64>();
    }
}

/// Requests counted by value, exactly for the first `MAX_DISTINCT` values
/// seen and together for the rest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub values: BTreeMap<String, u64>,
    pub other_requests: u64,
}

impl Tally {
    fn add(&mut self, value: &str) {
        if let Some(n) = self.values.get_mut(value) {
            *n += 1;
        } else if self.values.len() < MAX_DISTINCT {
            self.values.insert(value.to_owned(), 1);
        } else {
            self.other_requests += 1;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty() && self.other_requests == 0
    }
}

/// The networks an actor's requests came from.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Networks {
    pub prefixes: Tally,
    /// Autonomous systems, by number; requests from a prefix the operator's
    /// table does not name are not counted here.
    pub asns: Tally,
    /// Network classes (`hosting`, `residential`, ...), likewise.
    pub classes: Tally,
    pub ips: Tally,
}

/// The kinds of notice an actor can have been given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoticeKind {
    /// Its first fetch of `/robots.txt`: the terms' `Disallow` lines are a notice.
    RobotsTxt,
    /// Its first `402` (a license offer).
    #[serde(rename = "license-402")]
    License402,
    /// Its first `403` block.
    #[serde(rename = "block-403")]
    Block403,
    /// Its first challenge.
    Challenge,
    /// A written notice the operator sent (`tollgate guard notice`).
    Written,
}

impl NoticeKind {
    /// The notices the ledger itself shows, in the report's column order.
    pub const RECORDED: [NoticeKind; 4] =
        [NoticeKind::RobotsTxt, NoticeKind::License402, NoticeKind::Block403, NoticeKind::Challenge];

    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::RobotsTxt => "robots-txt",
            NoticeKind::License402 => "license-402",
            NoticeKind::Block403 => "block-403",
            NoticeKind::Challenge => "challenge",
            NoticeKind::Written => "written",
        }
    }

    /// Words for a reader.
    pub fn describe(self) -> &'static str {
        match self {
            NoticeKind::RobotsTxt => "first fetch of /robots.txt (its Disallow lines)",
            NoticeKind::License402 => "first 402 license offer",
            NoticeKind::Block403 => "first 403 block",
            NoticeKind::Challenge => "first challenge",
            NoticeKind::Written => "written notice",
        }
    }

    /// The recorded notice `facts` gives, if it is one.
    fn of(facts: &GuardFacts) -> Option<NoticeKind> {
        if request_path(&facts.request) == "/robots.txt" {
            return Some(NoticeKind::RobotsTxt);
        }
        match facts.action.as_str() {
            a if a == GuardAction::License.as_str() => Some(NoticeKind::License402),
            a if a == GuardAction::Block.as_str() => Some(NoticeKind::Block403),
            a if a == GuardAction::Challenge.as_str() => Some(NoticeKind::Challenge),
            _ => None,
        }
    }
}

/// The path of a request line `GET /path?query` (without the query).
fn request_path(request: &str) -> &str {
    let target = request.split_once(' ').map_or(request, |(_, t)| t);
    let target = target.split_once(' ').map_or(target, |(t, _)| t);
    target.split_once('?').map_or(target, |(p, _)| p)
}

/// One notice an actor was given, and what it did after.
#[derive(Debug, Clone, Serialize)]
pub struct NoticeReport {
    pub kind: NoticeKind,
    /// When it was given: the entry's time, or the written notice's day.
    pub at: String,
    /// The entry that gave it (recorded notices).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// A written notice: its id, text and reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub written: Option<WrittenNotice>,
    /// What `after` counts from: the entries after `seq` (recorded notices),
    /// or from the start (UTC) of the day after a written notice's date.
    pub counted_from: String,
    /// The actor's requests in the window after the notice.
    pub after: Counts,
}

#[derive(Debug, Clone, Serialize)]
pub struct WrittenNotice {
    pub id: u64,
    pub date: String,
    pub text: String,
    pub reference: Option<String>,
    pub recorded_at: Timestamp,
}

/// One request, as a sample.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub seq: u64,
    pub time: Timestamp,
    pub request: String,
    pub ip: String,
    pub action: String,
    /// `served` or `refused`.
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub posts: u64,
    pub user_agent: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Samples {
    /// The actor's first requests in the window, oldest first.
    pub first: Vec<Sample>,
    /// Its last requests, oldest first, none of which is in `first`.
    pub last: Vec<Sample>,
}

/// Everything the report says of one actor.
#[derive(Debug, Clone, Serialize)]
pub struct ActorReport {
    pub actor: String,
    /// Its first and last request in the window (`None` for an actor that
    /// only has a written notice).
    pub first_seen: Option<Timestamp>,
    pub last_seen: Option<Timestamp>,
    pub totals: Counts,
    /// Requests by the guard's answer (`allow`, `charge`, `throttle`,
    /// `license`, `challenge`, `tarpit`, `block`).
    pub actions: Tally,
    /// The notices it was given, in the order given; written ones by date.
    pub notices: Vec<NoticeReport>,
    /// Requests on which each signal fired.
    pub signals: Tally,
    pub networks: Networks,
    pub user_agents: Tally,
    /// Requests attributed on each basis (`key`, `web-bot-auth:<agent>`,
    /// `ip-range:<crawler>`, `cookie`, `fingerprint`, `ip`).
    pub basis: Tally,
    /// Requests by the guard policy that answered them.
    pub rules: Tally,
    /// Requests served at a price, by price.
    pub charged: Tally,
    pub samples: Samples,
}

/// A recorded notice an actor was given, while the pass goes on.
struct Given {
    kind: NoticeKind,
    seq: u64,
    time: Timestamp,
    request: String,
    after: Counts,
}

/// How many of an actor's last request ids are kept, to count the entries
/// of one request once.
const RECENT_REQUESTS: usize = 8;

/// One actor's state during the pass: bounded whatever its requests.
struct ActorState {
    first_seen: Option<Timestamp>,
    last_seen: Option<Timestamp>,
    totals: Counts,
    actions: Tally,
    given: Vec<Given>,
    written: Vec<(GuardNotice, Counts)>,
    signals: Tally,
    networks: Networks,
    user_agents: Tally,
    basis: Tally,
    rules: Tally,
    charged: Tally,
    first: Vec<Sample>,
    last: VecDeque<Sample>,
    /// The request ids of the actor's last entries in the window (at most
    /// `RECENT_REQUESTS`): the entries of one request (a page's profile and
    /// posts) are one request, even when another request of the actor (a
    /// crawler's, from two machines at once) wrote between them.
    recent_requests: VecDeque<String>,
}

impl ActorState {
    fn new() -> ActorState {
        ActorState {
            first_seen: None,
            last_seen: None,
            totals: Counts::default(),
            actions: Tally::default(),
            given: Vec::new(),
            written: Vec::new(),
            signals: Tally::default(),
            networks: Networks::default(),
            user_agents: Tally::default(),
            basis: Tally::default(),
            rules: Tally::default(),
            charged: Tally::default(),
            first: Vec::new(),
            last: VecDeque::new(),
            recent_requests: VecDeque::new(),
        }
    }

    /// Takes in one of the actor's entries. `in_window`: it is counted;
    /// otherwise it can only be a notice (one given before the window is
    /// still a notice for the requests in it).
    fn take(&mut self, seq: u64, entry: &Entry, facts: &GuardFacts, in_window: bool, samples: usize) {
        if in_window && !entry.request_id.is_empty() && self.recent_requests.contains(&entry.request_id) {
            // INVARIANT (one-request-one-count): a further entry of a request
            // adds its posts, never a request.
            for g in &mut self.given {
                g.after.add_posts(entry);
            }
            for (notice, after) in &mut self.written {
                if entry.time >= notice.counted_from() {
                    after.add_posts(entry);
                }
            }
            self.totals.add_posts(entry);
            return;
        }
        if in_window {
            if self.recent_requests.len() == RECENT_REQUESTS {
                self.recent_requests.pop_front();
            }
            self.recent_requests.push_back(entry.request_id.clone());
            // INVARIANT (after-the-notice): an entry counts after a recorded
            // notice only if it comes later in the ledger than the entry
            // that gave it (which is marked below, after this), and after a
            // written one only if it is at or after the start of the day
            // after the notice's date.
            for g in &mut self.given {
                g.after.add(entry);
            }
            for (notice, after) in &mut self.written {
                if entry.time >= notice.counted_from() {
                    after.add(entry);
                }
            }
            self.count(seq, entry, facts, samples);
        }
        if let Some(kind) = NoticeKind::of(facts)
            && !self.given.iter().any(|g| g.kind == kind)
        {
            self.given.push(Given {
                kind,
                seq,
                time: entry.time,
                request: facts.request.clone(),
                after: Counts::default(),
            });
        }
    }

    fn count(&mut self, seq: u64, entry: &Entry, facts: &GuardFacts, samples: usize) {
        self.first_seen = Some(self.first_seen.map_or(entry.time, |t| t.min(entry.time)));
        self.last_seen = Some(self.last_seen.map_or(entry.time, |t| t.max(entry.time)));
        self.totals.add(entry);
        self.actions.add(&facts.action);
        facts.signals.iter().for_each(|s| self.signals.add(s));
        facts.basis.iter().for_each(|b| self.basis.add(b));
        self.networks.prefixes.add(&facts.prefix);
        self.networks.ips.add(&facts.ip);
        if let Some(asn) = facts.asn {
            self.networks.asns.add(&asn.to_string());
        }
        if let Some(class) = &facts.network {
            self.networks.classes.add(class);
        }
        self.user_agents.add(&facts.user_agent);
        if let Some(rule) = &facts.rule {
            self.rules.add(rule);
        }
        if let Some(price) = &facts.charged {
            self.charged.add(price);
        }
        if samples == 0 {
            return;
        }
        let sample = || Sample {
            seq,
            time: entry.time,
            request: facts.request.clone(),
            ip: facts.ip.clone(),
            action: facts.action.clone(),
            outcome: match entry.outcome {
                Outcome::Served => "served",
                Outcome::Refused(_) => "refused",
            },
            reason: match &entry.outcome {
                Outcome::Served => None,
                Outcome::Refused(r) => Some(r.clone()),
            },
            posts: entry.posts.len() as u64,
            user_agent: facts.user_agent.clone(),
        };
        if self.first.len() < samples {
            self.first.push(sample());
        } else {
            if self.last.len() == samples {
                self.last.pop_front();
            }
            self.last.push_back(sample());
        }
    }

    fn finish(self, actor: String) -> ActorReport {
        let mut notices: Vec<NoticeReport> = self
            .given
            .into_iter()
            .map(|g| NoticeReport {
                kind: g.kind,
                at: g.time.to_string(),
                seq: Some(g.seq),
                request: Some(g.request),
                written: None,
                counted_from: format!("the entries after entry {}", g.seq),
                after: g.after,
            })
            .collect();
        notices.extend(self.written.into_iter().map(|(n, after)| NoticeReport {
            kind: NoticeKind::Written,
            at: n.date.clone(),
            seq: None,
            request: None,
            counted_from: n.counted_from().to_string(),
            written: Some(WrittenNotice {
                id: n.id,
                date: n.date,
                text: n.text,
                reference: n.reference,
                recorded_at: n.recorded_at,
            }),
            after,
        }));
        ActorReport {
            actor,
            first_seen: self.first_seen,
            last_seen: self.last_seen,
            totals: self.totals,
            actions: self.actions,
            notices,
            signals: self.signals,
            networks: self.networks,
            user_agents: self.user_agents,
            basis: self.basis,
            rules: self.rules,
            charged: self.charged,
            samples: Samples { first: self.first, last: self.last.into() },
        }
    }
}

/// Builds the report from `db`'s entries below `head` (all of them if
/// there is no head) and the written notices `notices`.
pub fn build(
    db: &LedgerDb,
    head: Option<Head>,
    notices: Vec<GuardNotice>,
    options: &Options,
) -> Result<Report, LedgerError> {
    let mut pass = Pass::new(options, notices);
    let end = db.ledger_end()?;
    let to_seq = head.as_ref().map_or(end, |h| h.size.min(end));
    'read: loop {
        let rows = db.ledger_read(pass.next, PAGE)?;
        if rows.is_empty() {
            break;
        }
        for row in rows {
            if row.seq >= to_seq {
                break 'read;
            }
            pass.row(&row)?;
        }
    }
    let root_checked = match (&head, &pass.tree) {
        (Some(h), Some(t)) if t.size() == h.size => {
            // INVARIANT (evidence-is-signed): a report counts only entries
            // whose tree is the one the head it names signs.
            if hex::encode(t.root()) != h.root {
                return Err(LedgerError::Altered(format!(
                    "the entries do not match the signed head of size {}: run `tollgate ledger verify`; no report \
                     was written",
                    h.size
                )));
            }
            true
        }
        _ => false,
    };
    let mut actors: Vec<ActorReport> = pass
        .actors
        .into_iter()
        .filter(|(_, s)| s.totals.requests > 0 || !s.written.is_empty())
        .map(|(actor, s)| s.finish(actor))
        .collect();
    actors.sort_by(|a, b| b.totals.requests.cmp(&a.totals.requests).then_with(|| a.actor.cmp(&b.actor)));
    Ok(Report {
        report: "tollgate-guard-evidence",
        version: REPORT_VERSION,
        generated_at: Timestamp::now(),
        window: Window { since: options.since, until: options.until },
        actor: options.actor.clone(),
        samples_per_end: options.samples,
        ledger: Source {
            head,
            from_seq: pass.from_seq.unwrap_or(to_seq),
            to_seq,
            guard_entries: pass.guard_entries,
            guard_entries_in_window: pass.in_window,
            root_checked,
        },
        actors,
    })
}

/// The pass over the entries, in sequence order.
struct Pass<'a> {
    options: &'a Options,
    actors: HashMap<String, ActorState>,
    /// The tree of the entries read, while they are read from the first
    /// without a gap.
    tree: Option<Frontier>,
    from_seq: Option<u64>,
    /// The entry to read next.
    next: u64,
    guard_entries: u64,
    in_window: u64,
}

impl<'a> Pass<'a> {
    fn new(options: &'a Options, notices: Vec<GuardNotice>) -> Pass<'a> {
        let mut actors: HashMap<String, ActorState> = HashMap::new();
        // A written notice sent after the window is not one of this report,
        // as a recorded notice given after it is not (`row`). Actors with a
        // written notice are reported even if they made no request since:
        // that they stopped is evidence too.
        let sent_in_time = |n: &GuardNotice| {
            options.until.is_none_or(|u| tollgate_store::guard_notices::day_start(&n.date).is_some_and(|d| d < u))
        };
        for n in notices.into_iter().filter(|n| Self::wanted(options, &n.actor) && sent_in_time(n)) {
            actors.entry(n.actor.clone()).or_insert_with(ActorState::new).written.push((n, Counts::default()));
        }
        Pass { options, actors, tree: Some(Frontier::new()), from_seq: None, next: 0, guard_entries: 0, in_window: 0 }
    }

    fn wanted(options: &Options, actor: &str) -> bool {
        options.actor.as_deref().is_none_or(|a| a == actor)
    }

    fn row(&mut self, row: &LedgerRow) -> Result<(), LedgerError> {
        self.from_seq.get_or_insert(row.seq);
        if let Some(t) = &mut self.tree {
            if t.size() == row.seq {
                t.push_leaf(leaf_hash(&row.body));
            } else {
                self.tree = None;
            }
        }
        self.next = row.seq + 1;
        // A body without the key has no guard facts: skip its decoding.
        // (`"guard":` in a string value would be escaped as `\"guard\":`.)
        if !row.body.windows(GUARD_KEY.len()).any(|w| w == GUARD_KEY) {
            return Ok(());
        }
        let entry = Entry::decode(&row.body).map_err(|e| {
            LedgerError::Invalid(format!(
                "entry {} does not decode ({e}): run `tollgate ledger verify`; no report was written",
                row.seq
            ))
        })?;
        let Some(facts) = &entry.guard else { return Ok(()) };
        self.guard_entries += 1;
        let o = self.options;
        // What came after the window is neither counted nor a notice: the
        // report reads as if written at the window's end.
        if !Self::wanted(o, &facts.actor) || o.until.is_some_and(|u| entry.time >= u) {
            return Ok(());
        }
        let counted = o.since.is_none_or(|s| entry.time >= s);
        self.in_window += u64::from(counted);
        let state = match self.actors.get_mut(&facts.actor) {
            Some(s) => s,
            None => self.actors.entry(facts.actor.clone()).or_insert_with(ActorState::new),
        };
        state.take(row.seq, &entry, facts, counted, o.samples);
        Ok(())
    }
}

const GUARD_KEY: &[u8] = b"\"guard\":";

/// The report as pretty JSON, ending in a newline.
pub fn to_json(report: &Report) -> String {
    // A report holds strings, numbers and string-keyed maps only: it encodes.
    serde_json::to_string_pretty(report).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notice_kinds_serialize_as_their_names() {
        for kind in NoticeKind::RECORDED.into_iter().chain([NoticeKind::Written]) {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
    }

    #[test]
    fn request_lines_give_their_path() {
        assert_eq!(request_path("GET /robots.txt"), "/robots.txt");
        assert_eq!(request_path("GET /robots.txt?x=1"), "/robots.txt");
        assert_eq!(request_path("HEAD /robots.txt HTTP/1.1"), "/robots.txt");
        assert_eq!(request_path("GET /robots.txtx"), "/robots.txtx");
        assert_eq!(request_path("GET /a/robots.txt"), "/a/robots.txt");
    }

    fn page_entry(request_id: &str, posts: &[u64]) -> (Entry, GuardFacts) {
        let facts = GuardFacts {
            actor: "a1".into(),
            basis: vec!["cookie".into()],
            ip: "192.0.2.1".into(),
            prefix: "192.0.2.0/24".into(),
            asn: None,
            network: None,
            user_agent: "Mozilla/5.0".into(),
            request: "GET /alice".into(),
            signals: Vec::new(),
            action: "allow".into(),
            rule: None,
            charged: None,
        };
        let entry = Entry {
            v: 1,
            time: Timestamp::now(),
            request_id: request_id.into(),
            channel: tollgate_ledger::Channel::Web,
            app_id: None,
            key_id: None,
            client: Some("a1".into()),
            endpoint: "GET /:handle".into(),
            purpose: None,
            outcome: Outcome::Served,
            posts: posts.iter().map(|p| tollgate_domain::PostId(*p)).collect(),
            authors: Vec::new(),
            accounts: Vec::new(),
            withheld: BTreeMap::new(),
            notices: Vec::new(),
            policy_version: "p".into(),
            guard: Some(std::sync::Arc::new(facts.clone())),
        };
        (entry, facts)
    }

    /// A profile page records two entries (the profile, then its posts)
    /// under one request id: the report counts one request and both's posts.
    #[test]
    fn the_entries_of_one_request_count_as_one_request() {
        let mut actor = ActorState::new();
        let (profile, facts) = page_entry("r1", &[]);
        let (posts, _) = page_entry("r1", &[5, 6, 7]);
        let (next, _) = page_entry("r2", &[8]);
        actor.take(1, &profile, &facts, true, 4);
        actor.take(2, &posts, &facts, true, 4);
        actor.take(3, &next, &facts, true, 4);
        assert_eq!((actor.totals.requests, actor.totals.served, actor.totals.posts_served), (2, 2, 4));
        assert_eq!(actor.actions.values["allow"], 2);
        assert_eq!(actor.networks.ips.values["192.0.2.1"], 2);
        // Another request of the actor wrote between the two entries of one.
        let (profile, _) = page_entry("r3", &[]);
        let (other, _) = page_entry("r4", &[9]);
        let (posts, _) = page_entry("r3", &[10, 11]);
        actor.take(4, &profile, &facts, true, 4);
        actor.take(5, &other, &facts, true, 4);
        actor.take(6, &posts, &facts, true, 4);
        assert_eq!((actor.totals.requests, actor.totals.posts_served), (4, 7));
    }

    #[test]
    fn a_tally_counts_exactly_up_to_its_bound_and_the_rest_together() {
        let mut t = Tally::default();
        for i in 0..MAX_DISTINCT + 10 {
            t.add(&format!("v{i}"));
            t.add("v0");
        }
        assert_eq!(t.values.len(), MAX_DISTINCT);
        assert_eq!(t.values["v0"], (MAX_DISTINCT + 10 + 1) as u64);
        assert_eq!(t.other_requests, 10);
    }
}
