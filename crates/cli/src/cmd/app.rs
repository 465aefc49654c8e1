//! `tollgate app ...`: developer apps and their keys. `--json` output is
//! stable (documented in `docs/cli.md`) so scripts can rely on it.

use clap::{Args, Subcommand};
use serde_json::{Value, json};
use tollgate_domain::{ApiKey, App, AppId, AppStatus, KeyId, Purpose, Tier, Timestamp};
use tollgate_store::{AppUpdate, NewApp, Store};

use crate::cmd::print_json;
use crate::config::Config;
use crate::{Failure, runtime};

#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Create an app and print its first bearer token (shown only this once).
    Create(CreateArgs),
    /// List every app.
    List(JsonFlag),
    /// Show one app and its keys.
    Show(AppArg),
    /// Suspend an app: its requests are refused from the next one on.
    Suspend(AppArg),
    /// Lift a suspension.
    Activate(AppArg),
    /// Issue a new token; the app's other tokens expire after the grace period.
    RotateKey(RotateArgs),
    /// Revoke one key (`--key`) or all of an app's keys, at once.
    RevokeKey(RevokeArgs),
    /// Record that the app accepted an agreement version (default: the latest).
    AcceptAgreement(AcceptArgs),
}

#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    #[arg(long)]
    pub name: String,
    /// `standard`, `partner` or `first-party`.
    #[arg(long)]
    pub tier: String,
    /// Comma-separated purposes, e.g. `display,search`.
    #[arg(long)]
    pub purposes: String,
    /// Purposes a partner's license covers, e.g. `train-genai,train-ai`.
    #[arg(long, default_value = "")]
    pub licensed: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AppArg {
    pub app: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RotateArgs {
    pub app: String,
    /// Seconds the previous tokens keep working.
    #[arg(long, default_value_t = 3600)]
    pub grace_secs: u64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    pub app: String,
    /// Revoke only this key id (default: every key of the app).
    #[arg(long)]
    pub key: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AcceptArgs {
    pub app: String,
    #[arg(long)]
    pub version: Option<u32>,
    #[arg(long)]
    pub json: bool,
}

pub fn app_json(app: &App) -> Value {
    json!({
        "id": app.id.to_string(),
        "name": app.name,
        "tier": app.tier,
        "purposes": app.purposes,
        "licensed_purposes": app.licensed_purposes,
        "status": app.status.as_str(),
        "agreement_version": app.agreement_version,
        "created_at": app.created_at,
    })
}

fn key_json(key: &ApiKey) -> Value {
    json!({
        "id": key.id.to_string(),
        "prefix": key.prefix,
        "created_at": key.created_at,
        "expires_at": key.expires_at,
        "revoked_at": key.revoked_at,
    })
}

fn parse_app(raw: &str) -> Result<AppId, Failure> {
    raw.parse().map_err(|e: tollgate_domain::ParseError| Failure::invalid(e.to_string()))
}

fn find(store: &dyn Store, raw: &str) -> Result<App, Failure> {
    let id = parse_app(raw)?;
    store.app(id)?.ok_or_else(|| Failure::invalid(format!("no app with id `{raw}`: `tollgate app list` shows them")))
}

fn purposes(raw: &str, flag: &str) -> Result<Vec<Purpose>, Failure> {
    Purpose::parse_list(raw).map_err(|e| Failure::invalid(format!("--{flag}: {e}")))
}

/// Creates an app on the latest agreement with its first key; shared with `demo`.
pub fn create(
    store: &dyn Store,
    name: &str,
    tier: Tier,
    declared: Vec<Purpose>,
    licensed: Vec<Purpose>,
) -> Result<(App, ApiKey, String), Failure> {
    if name.trim().is_empty() || name.len() > 64 {
        return Err(Failure::invalid("--name must be 1 to 64 characters"));
    }
    if declared.is_empty() {
        return Err(Failure::invalid("--purposes must name at least one purpose"));
    }
    if !licensed.is_empty() && tier != Tier::Partner {
        return Err(Failure::invalid("only partner apps hold licensed purposes (--licensed)"));
    }
    let agreement = runtime::ensure_agreement(store)?;
    let app = store.create_app(&NewApp {
        name: name.to_owned(),
        tier,
        purposes: declared,
        licensed_purposes: licensed,
        agreement_version: Some(agreement.version),
        created_at: Timestamp::now(),
    })?;
    let (key, token) = runtime::issue_key(store, app.id)?;
    Ok((app, key, token))
}

pub fn run(config: &Config, command: AppCommand) -> Result<(), Failure> {
    let store = runtime::open_store(config)?;
    let store = store.as_ref();
    match command {
        AppCommand::Create(a) => {
            let tier: Tier =
                a.tier.parse().map_err(|e: tollgate_domain::ParseError| Failure::invalid(format!("--tier: {e}")))?;
            let (app, key, token) =
                create(store, &a.name, tier, purposes(&a.purposes, "purposes")?, purposes(&a.licensed, "licensed")?)?;
            if a.json {
                print_json(&json!({ "app": app_json(&app), "key": key_json(&key), "token": token }));
            } else {
                outln!("created app {} ({}, {})", app.id, app.name, app.tier);
                outln!("bearer token (shown only now): {token}");
            }
        }
        AppCommand::List(f) => {
            let apps = store.apps()?;
            if f.json {
                print_json(&Value::Array(apps.iter().map(app_json).collect()));
            } else {
                outln!("{:<6} {:<12} {:<10} {:<10} {:<9} name", "id", "tier", "status", "agreement", "purposes");
                for app in &apps {
                    let declared: Vec<&str> = app.purposes.iter().map(|p| p.as_str()).collect();
                    outln!(
                        "{:<6} {:<12} {:<10} {:<10} {} {}",
                        app.id,
                        app.tier.as_str(),
                        app.status.as_str(),
                        app.agreement_version.map_or("-".into(), |v| format!("v{v}")),
                        declared.join(","),
                        app.name
                    );
                }
            }
        }
        AppCommand::Show(a) => {
            let app = find(store, &a.app)?;
            let keys = store.keys(app.id)?;
            if a.json {
                let mut v = app_json(&app);
                v["keys"] = Value::Array(keys.iter().map(key_json).collect());
                print_json(&v);
            } else {
                outln!("app {}: {}", app.id, app.name);
                outln!("  tier: {}\n  status: {}", app.tier, app.status.as_str());
                outln!("  purposes: {}", app.purposes.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", "));
                outln!(
                    "  licensed: {}",
                    app.licensed_purposes.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")
                );
                outln!("  agreement: {}", app.agreement_version.map_or("none".into(), |v| format!("v{v}")));
                for k in &keys {
                    let state = k.unusable_at(Timestamp::now()).unwrap_or("active");
                    outln!("  key {} {}… created {} ({state})", k.id, k.prefix, k.created_at);
                }
            }
        }
        AppCommand::Suspend(a) => set_status(store, &a, AppStatus::Suspended)?,
        AppCommand::Activate(a) => set_status(store, &a, AppStatus::Active)?,
        AppCommand::RotateKey(a) => {
            let app = find(store, &a.app)?;
            let (key, token) = runtime::issue_key(store, app.id)?;
            let until = Timestamp::from_millis(Timestamp::now().millis() + (a.grace_secs as i64) * 1000);
            let expiring = store.expire_keys(app.id, Some(key.id), until)?;
            if a.json {
                print_json(
                    &json!({ "app": app.id.to_string(), "key": key_json(&key), "token": token, "previous_keys_expire_at": until, "previous_keys": expiring }),
                );
            } else {
                outln!("new bearer token for app {} (shown only now): {token}", app.id);
                outln!("{expiring} previous key(s) stop working at {until}");
            }
        }
        AppCommand::RevokeKey(a) => {
            let app = find(store, &a.app)?;
            let key = a
                .key
                .as_deref()
                .map(|k| k.parse::<KeyId>().map_err(|e| Failure::invalid(format!("--key: {e}"))))
                .transpose()?;
            let n = store.revoke_keys(app.id, key, Timestamp::now())?;
            if key.is_some() && n == 0 {
                return Err(Failure::invalid(format!(
                    "app {} has no unrevoked key `{}`",
                    app.id,
                    a.key.unwrap_or_default()
                )));
            }
            if a.json {
                print_json(&json!({ "app": app.id.to_string(), "revoked": n }));
            } else {
                outln!("revoked {n} key(s) of app {}", app.id);
            }
        }
        AppCommand::AcceptAgreement(a) => {
            let app = find(store, &a.app)?;
            let version = match a.version {
                Some(v) => {
                    store.agreement(v)?.ok_or_else(|| Failure::invalid(format!("no agreement version {v}")))?.version
                }
                None => runtime::ensure_agreement(store)?.version,
            };
            let update = AppUpdate { agreement_version: Some(version), ..AppUpdate::default() };
            let app = store.update_app(app.id, &update)?.ok_or_else(|| Failure::failed("the app disappeared"))?;
            if a.json {
                print_json(&app_json(&app));
            } else {
                outln!("app {} accepted agreement v{version}", app.id);
            }
        }
    }
    Ok(())
}

fn set_status(store: &dyn Store, a: &AppArg, status: AppStatus) -> Result<(), Failure> {
    let app = find(store, &a.app)?;
    let app = store
        .update_app(app.id, &AppUpdate { status: Some(status), ..AppUpdate::default() })?
        .ok_or_else(|| Failure::failed("the app disappeared"))?;
    if a.json {
        print_json(&app_json(&app));
    } else {
        outln!("app {} is {}", app.id, app.status.as_str());
    }
    Ok(())
}
