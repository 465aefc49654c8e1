//! `tollgate guard ...`: the guard's commands. `guard explain` decides one
//! guard class with the configured guard policy and names the policies that
//! decided, as `policy explain` does for a post.

use clap::{Args, Subcommand};
use tollgate_domain::{ClientKind, GuardClass, NetClass, Resource, Signal, SignalSet};

use crate::cmd::print_json;
use crate::config::Config;
use crate::{Failure, runtime};

#[derive(Debug, Subcommand)]
pub enum GuardCommand {
    /// Decide one client class with the guard policy and name the policies that decided.
    Explain(ExplainArgs),
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

pub fn run(config: &Config, command: GuardCommand) -> Result<(), Failure> {
    match command {
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
        let GuardCommand::Explain(a) = Cli::parse_from([&["guard", "explain"], line].concat()).command;
        a
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
