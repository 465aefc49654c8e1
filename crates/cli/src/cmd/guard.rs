//! `tollgate guard ...`: the guard's policy and its evidence. `explain`
//! decides one guard class with the configured guard policy and names the
//! policies that decided, as `policy explain` does for a post; `notice`
//! records a written notice the operator sent to an actor, `notices` lists
//! them, and `report` writes the evidence report (`guard_report`) as JSON,
//! CSV or HTML. docs/guard.md, "The guard policy" and "Evidence".

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;
use tollgate_domain::{ClientKind, GuardClass, NetClass, Resource, Signal, SignalSet, Timestamp};
use tollgate_ledger::{Ledger, LedgerError};
use tollgate_store::NewGuardNotice;

use crate::cmd::guard_report::{self, Head, MAX_SAMPLES, Options};
use crate::cmd::print_json;
use crate::config::Config;
use crate::{Failure, exit, runtime};

#[derive(Debug, Subcommand)]
pub enum GuardCommand {
    /// Per actor: requests, answers, notices given and what followed each,
    /// signals, networks, user agents and sample requests, from the ledger.
    Report(ReportArgs),
    /// Record a written notice (a cease-and-desist) sent to an actor.
    Notice(NoticeArgs),
    /// List the written notices recorded.
    Notices(NoticesArgs),
    /// Decide one client class with the guard policy and name the policies that decided.
    Explain(ExplainArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Json,
    Csv,
    Html,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// browser, app, ai-crawler, verified-search, verified-ai or tool.
    #[arg(long, default_value = "browser")]
    pub kind: String,
    /// unknown, residential, mobile, hosting or vpn.
    #[arg(long, default_value = "unknown")]
    pub network: String,
    /// The signals that fired, comma-separated (`stale-browser,rate-ip`).
    #[arg(long, default_value = "")]
    pub signals: String,
    /// content, terms or other.
    #[arg(long, default_value = "content")]
    pub resource: String,
    /// robots.txt disallows the path for the client.
    #[arg(long)]
    pub disallowed: bool,
    /// The request offers at least the price (pay per crawl).
    #[arg(long)]
    pub offers_price: bool,
    /// The client carries a pass from a solved challenge.
    #[arg(long)]
    pub passed_challenge: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// From this day (`YYYY-MM-DD`, from its start, UTC) or time (RFC 3339) on.
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Up to this day (`YYYY-MM-DD`, through its end, UTC) or time (RFC 3339, exclusive).
    #[arg(long, value_name = "DATE")]
    pub until: Option<String>,
    /// Only this actor.
    #[arg(long, value_name = "ACTOR")]
    pub actor: Option<String>,
    #[arg(long, value_enum, default_value = "json")]
    pub format: Format,
    /// Write the report to FILE (atomically: the whole report or nothing)
    /// instead of printing it.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Sample requests per actor: its first N and its last N (0 to 1000).
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub samples: usize,
}

#[derive(Debug, Args)]
pub struct NoticeArgs {
    /// The guard's id of the actor it was sent to.
    #[arg(long, value_name = "ACTOR")]
    pub actor: String,
    /// The day it was sent (`YYYY-MM-DD`, UTC); it counts from the next day.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub date: String,
    /// What it said, or a summary.
    #[arg(long)]
    pub text: String,
    /// Where a copy is kept (an absolute URI).
    #[arg(long, value_name = "URL")]
    pub reference: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct NoticesArgs {
    /// Only this actor's.
    #[arg(long, value_name = "ACTOR")]
    pub actor: Option<String>,
    #[arg(long)]
    pub json: bool,
}

pub fn run(config: &Config, command: GuardCommand) -> Result<(), Failure> {
    match command {
        GuardCommand::Report(a) => report(config, &a),
        GuardCommand::Notice(a) => notice(config, a),
        GuardCommand::Notices(a) => notices(config, &a),
        GuardCommand::Explain(a) => {
            let class = class_of(&a)?;
            let guard = runtime::load_guard_policy(config)?;
            let explanation = guard.explain(&class);
            if a.json {
                print_json(&explanation.to_json());
            } else {
                out!("{explanation}");
            }
            Ok(())
        }
    }
}

fn notice_json(n: &tollgate_store::GuardNotice) -> serde_json::Value {
    json!({
        "id": n.id,
        "actor": n.actor,
        "date": n.date,
        "text": n.text,
        "reference": n.reference,
        "recorded_at": n.recorded_at.to_string(),
        "counted_from": n.counted_from().to_string(),
    })
}

fn notice(config: &Config, a: NoticeArgs) -> Result<(), Failure> {
    let store = runtime::open_store(config)?;
    let n = store.record_guard_notice(&NewGuardNotice {
        actor: a.actor,
        date: a.date,
        text: a.text,
        reference: a.reference,
        recorded_at: Timestamp::now(),
    })?;
    if a.json {
        print_json(&notice_json(&n));
    } else {
        outln!("recorded notice {} to {} of {} (counted from {})", n.id, n.actor, n.date, n.counted_from());
    }
    Ok(())
}

fn notices(config: &Config, a: &NoticesArgs) -> Result<(), Failure> {
    let store = runtime::open_store(config)?;
    let list = store.guard_notices(a.actor.as_deref())?;
    if a.json {
        print_json(&json!({ "notices": list.iter().map(notice_json).collect::<Vec<_>>() }));
        return Ok(());
    }
    if list.is_empty() {
        outln!("no written notice recorded");
    }
    for n in &list {
        let reference = n.reference.as_deref().map(|r| format!("  {r}")).unwrap_or_default();
        outln!("{:>5}  {}  {}{reference}", n.id, n.date, n.actor);
        for line in n.text.lines() {
            outln!("       {line}");
        }
    }
    Ok(())
}

/// A `--since`/`--until` value: a day (its start; with `end_of_day`, the
/// start of the next) or an RFC 3339 time.
fn bound(flag: &str, value: Option<&str>, end_of_day: bool) -> Result<Option<Timestamp>, Failure> {
    let Some(v) = value else { return Ok(None) };
    if let Some(day) = tollgate_store::guard_notices::day_start(v) {
        return Ok(Some(if end_of_day { Timestamp::from_millis(day.millis() + 86_400_000) } else { day }));
    }
    Timestamp::parse(v).map(Some).map_err(|_| {
        Failure::invalid(format!(
            "`--{flag} {v}`: expected a day (`2026-12-01`) or an RFC 3339 time (`2026-12-01T12:00:00Z`)"
        ))
    })
}

fn report(config: &Config, a: &ReportArgs) -> Result<(), Failure> {
    // Everything the command line says is checked before anything is read.
    let since = bound("since", a.since.as_deref(), false)?;
    let until = bound("until", a.until.as_deref(), true)?;
    if let (Some(s), Some(u)) = (since, until)
        && s >= u
    {
        return Err(Failure::invalid(format!("`--since` ({s}) is not before `--until` ({u}): the window is empty")));
    }
    if a.samples > MAX_SAMPLES {
        return Err(Failure::invalid(format!("`--samples {}`: at most {MAX_SAMPLES}", a.samples)));
    }
    if let Some(actor) = &a.actor
        && actor.trim().is_empty()
    {
        return Err(Failure::invalid("`--actor` is empty"));
    }
    if let Some(out) = &a.out
        && (out.file_name().is_none() || out.is_dir())
    {
        return Err(Failure::invalid(format!("`--out {}` names no file to write", out.display())));
    }
    let store = runtime::open_store(config)?;
    let db = runtime::open_ledger_db(config)?;
    // The head first, then the entries below it: every entry the report
    // counts is covered by the signature it names. Reading takes no lock a
    // running server's writer waits for (`LedgerDb`'s readers are WAL
    // readers), so the report is built while `serve` runs.
    let ledger = Ledger::new(db.clone(), &config.data_dir);
    ledger.catch_up_copy().map_err(|e| Failure::failed(format!("bringing ledger.db up to the segment files: {e}")))?;
    let head = ledger
        .latest_checkpoint()
        .map_err(|e| Failure::failed(format!("reading the ledger's signed head: {e}")))?
        .map(|(cp, key)| Head { size: cp.size, root: hex::encode(cp.root), time: cp.time, public_key: key.hex() });
    // A running server signs its head when its entries are durable in the
    // segment files and copies them into ledger.db just after: the report
    // waits for that copy, so that it counts every entry the head signs.
    if let Some(h) = &head {
        ledger.copy_through(h.size, tollgate_ledger::COPY_PATIENCE).map_err(|e| Failure::failed(e.to_string()))?;
    }
    let notices = store.guard_notices(a.actor.as_deref())?;
    let options = Options { since, until, actor: a.actor.clone(), samples: a.samples };
    let report = guard_report::build(&db, head, notices, &options).map_err(|e| match e {
        LedgerError::Altered(_) => Failure { code: exit::VERIFY_FAILED, message: e.to_string() },
        _ => Failure::failed(e.to_string()),
    })?;
    let text = match a.format {
        Format::Json => guard_report::to_json(&report),
        Format::Csv => guard_report::csv::render(&report),
        Format::Html => guard_report::html::render(&report),
    };
    match &a.out {
        Some(out) => {
            tollgate_ledger::write_atomic(out, text.as_bytes()).map_err(|e| Failure::failed(e.to_string()))?;
            eprintln!(
                "report of {} actor(s), {} entries of the guard, written to {}",
                report.actors.len(),
                report.ledger.guard_entries_in_window,
                out.display()
            );
        }
        None => out!("{text}"),
    }
    Ok(())
}

/// The class the flags describe; an unknown name is refused with the names it may be.
fn class_of(a: &ExplainArgs) -> Result<GuardClass, Failure> {
    fn names<T: Copy>(all: &[T], name: fn(T) -> &'static str) -> String {
        all.iter().map(|v| name(*v)).collect::<Vec<_>>().join(", ")
    }
    let kind = ClientKind::parse(&a.kind).ok_or_else(|| {
        Failure::invalid(format!("--kind: `{}` is not one of {}", a.kind, names(&ClientKind::ALL, ClientKind::as_str)))
    })?;
    let network = NetClass::parse(&a.network).ok_or_else(|| {
        Failure::invalid(format!(
            "--network: `{}` is not one of {}",
            a.network,
            names(&NetClass::ALL, NetClass::as_str)
        ))
    })?;
    let resource = Resource::ALL.into_iter().find(|r| r.as_str() == a.resource).ok_or_else(|| {
        Failure::invalid(format!(
            "--resource: `{}` is not one of {}",
            a.resource,
            names(&Resource::ALL, Resource::as_str)
        ))
    })?;
    let signals = a
        .signals
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            Signal::parse(s).ok_or_else(|| {
                Failure::invalid(format!("--signals: `{s}` is not one of {}", names(&Signal::ALL, Signal::as_str)))
            })
        })
        .collect::<Result<SignalSet, Failure>>()?;
    Ok(GuardClass {
        signals,
        kind,
        network,
        resource,
        disallowed: a.disallowed,
        offers_price: a.offers_price,
        passed_challenge: a.passed_challenge,
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn args(line: &[&str]) -> ExplainArgs {
        #[derive(Parser)]
        struct Cli {
            #[command(subcommand)]
            command: GuardCommand,
        }
        match Cli::parse_from([&["guard", "explain"], line].concat()).command {
            GuardCommand::Explain(a) => a,
            other => panic!("`guard explain` parsed as {other:?}"),
        }
    }

    #[test]
    fn flags_make_the_class() {
        let c = class_of(&args(&["--kind", "browser", "--network", "mobile", "--signals", "stale-browser, rate-ip"]))
            .unwrap();
        assert_eq!((c.kind, c.network, c.resource), (ClientKind::Browser, NetClass::Mobile, Resource::Content));
        assert_eq!(c.signals.iter().collect::<Vec<_>>(), [Signal::RateIp, Signal::StaleBrowser]);
        let c = class_of(&args(&["--kind", "verified-ai", "--disallowed", "--offers-price", "--resource", "terms"]))
            .unwrap();
        assert!(c.disallowed && c.offers_price && !c.passed_challenge && c.resource == Resource::Terms);
        assert_eq!(class_of(&args(&[])).unwrap(), GuardClass::default());
    }

    #[test]
    fn unknown_names_are_refused_with_the_known_ones() {
        let err = class_of(&args(&["--signals", "rate-ip,too-fast"])).unwrap_err();
        assert!(err.message.contains("`too-fast`") && err.message.contains("stale-browser"), "{}", err.message);
        let err = class_of(&args(&["--kind", "robot"])).unwrap_err();
        assert!(err.message.contains("--kind: `robot`") && err.message.contains("verified-search"), "{}", err.message);
        assert!(class_of(&args(&["--network", "cable"])).is_err());
        assert!(class_of(&args(&["--resource", "posts"])).is_err());
    }
}
