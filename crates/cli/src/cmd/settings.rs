//! `tollgate settings ...`: the account holders' settings page. `sign-in-link`
//! prints a link an account holder can open to sign in, as the platform's
//! own sign-in would issue it: for operators, support and tests.

use clap::{Args, Subcommand};
use serde_json::json;
use tollgate_domain::{AccountId, Timestamp};

use crate::cmd::print_json;
use crate::config::Config;
use crate::{Failure, runtime};

#[derive(Debug, Subcommand)]
pub enum SettingsCommand {
    /// Print a sign-in link to the settings page for one account (HS256).
    SignInLink(SignInLinkArgs),
}

#[derive(Debug, Args)]
pub struct SignInLinkArgs {
    /// The account's id.
    pub account: String,
    /// Minutes the link stays valid (at most 15).
    #[arg(long, default_value_t = 15)]
    pub minutes: u32,
    /// Print JSON instead of the link alone.
    #[arg(long)]
    pub json: bool,
}

pub fn run(config: &Config, command: SettingsCommand) -> Result<(), Failure> {
    match command {
        SettingsCommand::SignInLink(args) => sign_in_link(config, &args),
    }
}

fn sign_in_link(config: &Config, args: &SignInLinkArgs) -> Result<(), Failure> {
    let account: AccountId = args
        .account
        .parse()
        .map_err(|_| Failure::invalid(format!("`{}` is not an account id: use a decimal number", args.account)))?;
    let max = tollgate_web::jwt::MAX_LIFETIME_SECS / 60;
    if args.minutes == 0 || i64::from(args.minutes) > max {
        return Err(Failure::invalid(format!(
            "`--minutes {}`: a sign-in link is valid for 1 to {max} minutes",
            args.minutes
        )));
    }
    let secret = runtime::settings_jwt_secret(config)?.ok_or_else(|| {
        Failure::invalid(
            "no HS256 secret to sign the link with: set `settings_jwt_hs256_secret` (or run `tollgate demo`, which \
             creates DATA/settings-jwt-secret)",
        )
    })?;
    let store = runtime::open_store(config)?;
    if store.account(account)?.is_none() {
        return Err(Failure::invalid(format!("account {account} does not exist")));
    }
    let page = &config.settings_page;
    let expect = tollgate_web::jwt::Expect { issuer: page.issuer.clone(), audience: page.audience.clone() };
    let lifetime = i64::from(args.minutes) * 60;
    let url = tollgate_web::sign_in_link(&config.public_url, secret.as_bytes(), &expect, account, lifetime);
    if args.json {
        let expires = Timestamp::from_millis((Timestamp::now().seconds() + lifetime) * 1000);
        print_json(&json!({ "account_id": account.to_string(), "url": url, "expires_at": expires }));
    } else {
        outln!("{url}");
    }
    Ok(())
}
