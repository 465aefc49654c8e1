//! `tollgate ledger query ...` and `tollgate ledger reindex`: audit questions
//! answered from the ledger's index, with the JSON of the admin API
//! (`/internal/ledger/...`) under `--json`.

use clap::{Args, Subcommand};
use tollgate_domain::{AccountId, AppId, PostId, Timestamp};
use tollgate_ledger::{Audit, EntrySummary, Identity, Recipient};

use crate::Failure;
use crate::cmd::print_json;

#[derive(Debug, Subcommand)]
pub enum QueryCommand {
    /// Who received a post: per app (or anonymous client) and purpose, and the
    /// entries that delivered it.
    Post(PostArgs),
    /// Who received any post of an account, per app (or client) and purpose.
    Account(AccountArgs),
    /// Everything an app received in a time range: counts per UTC day and
    /// purpose, and the delivered post ids.
    App(AppArgs),
    /// The attempts of an app or an anonymous client since a time: served and
    /// refused counts, and the entries.
    Attempts(AttemptsArgs),
    /// The deliveries made under a policy version.
    Policy(PolicyArgs),
}

#[derive(Debug, Args)]
pub struct Page {
    /// Items per page (1 to 1000).
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// The `next_cursor` of the previous page.
    #[arg(long)]
    pub cursor: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PostArgs {
    pub post_id: u64,
    #[command(flatten)]
    pub page: Page,
}

#[derive(Debug, Args)]
pub struct AccountArgs {
    pub account_id: u64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AppArgs {
    pub app_id: u64,
    /// From this time on (RFC 3339, inclusive); default: the beginning.
    #[arg(long, value_name = "TIME")]
    pub start_time: Option<String>,
    /// Before this time (RFC 3339, exclusive); default: no end.
    #[arg(long, value_name = "TIME")]
    pub end_time: Option<String>,
    #[command(flatten)]
    pub page: Page,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("identity").required(true).args(["app_id", "client"]))]
pub struct AttemptsArgs {
    /// An API client: its app id.
    #[arg(long, value_name = "ID")]
    pub app_id: Option<u64>,
    /// An anonymous client: the identity the guard assigned.
    #[arg(long, value_name = "CLIENT")]
    pub client: Option<String>,
    /// From this time on (RFC 3339, inclusive), e.g. when notice was given.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    #[command(flatten)]
    pub page: Page,
}

#[derive(Debug, Args)]
pub struct PolicyArgs {
    pub version: String,
    #[command(flatten)]
    pub page: Page,
}

fn time(flag: &str, v: Option<&str>) -> Result<Option<Timestamp>, Failure> {
    v.map(|v| Timestamp::parse(v).map_err(|e| Failure::invalid(format!("`--{flag}`: {e}")))).transpose()
}

fn json<T: serde::Serialize>(v: &T) {
    print_json(&serde_json::to_value(v).unwrap_or_default());
}

fn recipient_line(r: &Recipient) -> String {
    let who = match (&r.app_id, &r.client) {
        (_, Some(c)) => format!("client {c}"),
        (Some(a), None) => format!("app {a}"),
        (None, None) => "unknown".to_owned(),
    };
    let purpose = r.purpose.map_or("-", |p| p.as_str());
    format!("{who}  {purpose}  {} deliveries  first {}  last {}", r.deliveries, r.first_time, r.last_time)
}

fn entry_line(e: &EntrySummary) -> String {
    let who = match (&e.app_id, &e.client) {
        (_, Some(c)) => format!("client {c}"),
        (Some(a), None) => format!("app {a}"),
        (None, None) => "-".to_owned(),
    };
    let outcome = match &e.reason {
        Some(r) => format!("refused ({r})"),
        None => format!("served {} posts", e.posts),
    };
    format!("{:>10}  {}  {}  {who}  {}  {outcome}", e.seq, e.time, e.request_id, e.endpoint)
}

fn next(cursor: &Option<String>) {
    if let Some(c) = cursor {
        outln!("more: --cursor {c}");
    }
}

pub fn run(
    store: &tollgate_ledger::LedgerDb,
    command: QueryCommand,
    failure: impl Fn(tollgate_ledger::LedgerError) -> Failure,
) -> Result<(), Failure> {
    let audit = Audit::new(store);
    match command {
        QueryCommand::Post(a) => {
            let r =
                audit.post_recipients(PostId(a.post_id), a.page.cursor.as_deref(), a.page.limit).map_err(failure)?;
            if a.page.json {
                json(&r);
                return Ok(());
            }
            outln!("post {}: {} recipients", r.post_id, r.recipients.len());
            r.recipients.iter().for_each(|x| outln!("  {}", recipient_line(x)));
            outln!("entries:");
            r.entries.iter().for_each(|e| outln!("  {}", entry_line(e)));
            next(&r.next_cursor);
        }
        QueryCommand::Account(a) => {
            let r = audit.author_recipients(AccountId(a.account_id)).map_err(failure)?;
            if a.json {
                json(&r);
                return Ok(());
            }
            outln!("posts of account {}: {} recipients", r.account_id, r.recipients.len());
            r.recipients.iter().for_each(|x| outln!("  {}", recipient_line(x)));
        }
        QueryCommand::App(a) => {
            let from = time("start-time", a.start_time.as_deref())?.unwrap_or(Timestamp::from_millis(0));
            let until = time("end-time", a.end_time.as_deref())?;
            let r = audit
                .app_deliveries(AppId(a.app_id), from, until, a.page.cursor.as_deref(), a.page.limit)
                .map_err(failure)?;
            if a.page.json {
                json(&r);
                return Ok(());
            }
            let t = r.totals;
            outln!("app {}: {} served ({} posts), {} refused", r.app_id, t.served, t.posts, t.refused);
            for d in &r.days {
                let purpose = d.purpose.map_or("-", |p| p.as_str());
                outln!("  {}  {purpose}  {}  {} entries  {} posts", d.day, d.outcome, d.entries, d.posts);
            }
            outln!("posts:");
            r.posts.iter().for_each(|p| outln!("  {}  entry {}  {}", p.post_id, p.seq, p.time));
            next(&r.next_cursor);
        }
        QueryCommand::Attempts(a) => {
            let identity = match (a.app_id, a.client) {
                (Some(app), _) => Identity::AppId(AppId(app)),
                (None, Some(client)) => Identity::Client(client),
                (None, None) => return Err(Failure::invalid("give `--app-id` or `--client`")),
            };
            let since = time("since", a.since.as_deref())?.unwrap_or(Timestamp::from_millis(0));
            let r = audit.attempts(identity, since, a.page.cursor.as_deref(), a.page.limit).map_err(failure)?;
            if a.page.json {
                json(&r);
                return Ok(());
            }
            outln!("since {}: {} served, {} refused", r.since, r.counts.served, r.counts.refused);
            r.entries.iter().for_each(|e| outln!("  {}", entry_line(e)));
            next(&r.next_cursor);
        }
        QueryCommand::Policy(a) => {
            let r = audit.policy_deliveries(&a.version, a.page.cursor.as_deref(), a.page.limit).map_err(failure)?;
            if a.page.json {
                json(&r);
                return Ok(());
            }
            let c = r.counts;
            outln!("policy {}: {} served ({} posts), {} refused", r.policy_version, c.served, c.posts, c.refused);
            r.entries.iter().for_each(|e| outln!("  {}", entry_line(e)));
            next(&r.next_cursor);
        }
    }
    Ok(())
}
