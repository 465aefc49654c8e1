//! `tollgate compliance report`: per recipient, the obligations pending,
//! overdue and done, from the notices `serve` opened (docs/compliance.md).

use std::collections::BTreeMap;

use clap::{Args, Subcommand};
use serde_json::json;
use tollgate_domain::{AppId, Notice, NoticeState, Timestamp};
use tollgate_store::{NoticeQuery, Store};

use crate::cmd::print_json;
use crate::config::Config;
use crate::{Failure, runtime};

#[derive(Debug, Subcommand)]
pub enum ComplianceCommand {
    /// Per recipient: obligations pending, overdue and done.
    Report(ReportArgs),
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Only this app's.
    #[arg(long, value_name = "APP_ID")]
    pub app: Option<AppId>,
    /// List the overdue obligations one by one.
    #[arg(long)]
    pub overdue: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Default)]
struct Tally {
    pending: u64,
    overdue: u64,
    done: u64,
    informed: u64,
}

pub fn run(config: &Config, command: ComplianceCommand) -> Result<(), Failure> {
    let store = runtime::open_store(config)?;
    match command {
        ComplianceCommand::Report(a) => report(store.as_ref(), &a),
    }
}

/// Every notice (of `app`), in event order.
fn all_notices(store: &dyn Store, app: Option<AppId>) -> Result<Vec<Notice>, Failure> {
    const PAGE: usize = 10_000;
    let mut out: Vec<Notice> = Vec::new();
    let mut after = 0;
    loop {
        let mut page = store.notices(&NoticeQuery { app, after_seq: after, limit: PAGE, ..NoticeQuery::default() })?;
        let full = page.len() == PAGE;
        if full {
            // A page may end inside one event's notices: those are read again
            // with the next page, unless the page holds one event only.
            let last = page[page.len() - 1].event_seq;
            if page[0].event_seq != last {
                page.retain(|n| n.event_seq != last);
            }
        }
        let Some(last) = page.last() else { break };
        after = last.event_seq;
        out.extend(page);
        if !full {
            break;
        }
    }
    Ok(out)
}

fn report(store: &dyn Store, a: &ReportArgs) -> Result<(), Failure> {
    let now = Timestamp::now();
    let names: BTreeMap<AppId, String> = store.apps()?.into_iter().map(|app| (app.id, app.name)).collect();
    if let Some(app) = a.app
        && !names.contains_key(&app)
    {
        return Err(Failure::invalid(format!("app {app} does not exist: `tollgate app list` shows the apps")));
    }
    let notices = all_notices(store, a.app)?;
    let mut tallies: BTreeMap<AppId, Tally> = BTreeMap::new();
    let mut overdue = Vec::new();
    for n in &notices {
        let t = tallies.entry(n.app_id).or_default();
        match n.state(now) {
            NoticeState::Pending => t.pending += 1,
            NoticeState::Overdue => {
                t.overdue += 1;
                overdue.push(n);
            }
            NoticeState::Done => t.done += 1,
            NoticeState::Informed => t.informed += 1,
        }
    }
    let name = |app: &AppId| names.get(app).cloned().unwrap_or_default();
    if a.json {
        let recipients: Vec<_> = tallies
            .iter()
            .map(|(app, t)| {
                json!({
                    "app_id": app.to_string(),
                    "name": name(app),
                    "pending": t.pending,
                    "overdue": t.overdue,
                    "done": t.done,
                    "informed": t.informed,
                })
            })
            .collect();
        let mut out = json!({ "as_of": now, "recipients": recipients });
        if a.overdue {
            out["overdue"] = json!(overdue);
        }
        print_json(&out);
        return Ok(());
    }
    if tallies.is_empty() {
        outln!("no recipient has been sent a compliance notice");
        return Ok(());
    }
    outln!("{:>8}  {:<24} {:>8} {:>8} {:>8} {:>9}", "app", "name", "pending", "overdue", "done", "informed");
    for (app, t) in &tallies {
        outln!("{:>8}  {:<24} {:>8} {:>8} {:>8} {:>9}", app, name(app), t.pending, t.overdue, t.done, t.informed);
    }
    if a.overdue {
        outln!();
        if overdue.is_empty() {
            outln!("no obligation is overdue");
        }
        for n in overdue {
            let subject = match n.post_id {
                Some(p) => format!("post {p}"),
                None => format!("account {}", n.account_id),
            };
            let reason = n.reason.map(|r| r.as_str()).unwrap_or_default();
            let deadline = n.deadline.map(|d| d.to_string()).unwrap_or_default();
            outln!(
                "app {} ({}): event {} {} of {subject} ({reason}), due {deadline}",
                n.app_id,
                name(&n.app_id),
                n.event_seq,
                n.event
            );
        }
    }
    Ok(())
}
