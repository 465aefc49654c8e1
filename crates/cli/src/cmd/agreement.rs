//! `tollgate agreement ...`: publish a new version of the developer agreement.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::json;
use tollgate_domain::{Agreement, Timestamp};

use crate::cmd::print_json;
use crate::config::Config;
use crate::{Failure, runtime};

#[derive(Debug, Subcommand)]
pub enum AgreementCommand {
    /// Publish a new version; apps on older versions keep access for the grace period.
    Publish(PublishArgs),
    /// Show the latest version (or `--version N`).
    Show(ShowArgs),
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The agreement text, Markdown.
    #[arg(long, value_name = "FILE")]
    pub text: PathBuf,
    /// Machine-readable terms, a JSON object (default: the previous version's).
    #[arg(long, value_name = "FILE")]
    pub terms: Option<PathBuf>,
    /// Grace period in days (default: `agreement_grace_days`).
    #[arg(long)]
    pub grace_days: Option<u32>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    #[arg(long)]
    pub version: Option<u32>,
    #[arg(long)]
    pub json: bool,
}

fn agreement_json(a: &Agreement, public_url: &str) -> serde_json::Value {
    let terms: serde_json::Value = serde_json::from_str(&a.terms_json).unwrap_or(serde_json::Value::Null);
    json!({
        "version": a.version,
        "published_at": a.published_at,
        "grace_until": a.grace_until,
        "url": format!("{}/agreement/{}", public_url.trim_end_matches('/'), a.version),
        "terms": terms,
    })
}

pub fn run(config: &Config, command: AgreementCommand) -> Result<(), Failure> {
    let store = runtime::open_store(config)?;
    let store = store.as_ref();
    match command {
        AgreementCommand::Publish(a) => {
            let read = |p: &PathBuf| {
                std::fs::read_to_string(p).map_err(|e| Failure::invalid(format!("cannot read `{}`: {e}", p.display())))
            };
            let text = read(&a.text)?;
            if text.trim().is_empty() {
                return Err(Failure::invalid(format!("`{}` is empty: the agreement needs a text", a.text.display())));
            }
            let previous = runtime::ensure_agreement(store)?;
            let terms_json = match &a.terms {
                Some(p) => {
                    let raw = read(p)?;
                    match serde_json::from_str::<serde_json::Value>(&raw) {
                        Ok(serde_json::Value::Object(_)) => raw,
                        Ok(_) => return Err(Failure::invalid(format!("`{}` must hold a JSON object", p.display()))),
                        Err(e) => return Err(Failure::invalid(format!("`{}`: {e}", p.display()))),
                    }
                }
                None => previous.terms_json.clone(),
            };
            let now = Timestamp::now();
            let days = a.grace_days.unwrap_or(config.agreement_grace_days);
            let agreement = Agreement {
                version: previous.version + 1,
                text,
                terms_json,
                published_at: now,
                grace_until: Timestamp::from_millis(now.millis() + i64::from(days) * 86_400_000),
            };
            store.publish_agreement(&agreement)?;
            if a.json {
                print_json(&agreement_json(&agreement, &config.public_url));
            } else {
                outln!(
                    "published agreement v{}; apps on older versions are refused after {}",
                    agreement.version,
                    agreement.grace_until
                );
            }
        }
        AgreementCommand::Show(a) => {
            let agreement = match a.version {
                Some(v) => store.agreement(v)?.ok_or_else(|| Failure::invalid(format!("no agreement version {v}")))?,
                None => runtime::ensure_agreement(store)?,
            };
            if a.json {
                let mut v = agreement_json(&agreement, &config.public_url);
                v["text"] = json!(agreement.text);
                print_json(&v);
            } else {
                outln!("{}", agreement.text);
            }
        }
    }
    Ok(())
}
