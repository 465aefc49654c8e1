//! `tollgate demo`: a demo platform on the embedded store, one app per
//! interesting case, their tokens in `DATA/demo-credentials.json`, and three
//! `curl` examples: an allowed delivery, a withheld post, a refused request;
//! and sign-in links to the settings page for three example accounts.

use std::io::BufRead;
use std::path::Path;

use clap::Args;
use serde_json::{Value, json};
use tollgate_domain::{
    Account, AccountStatus, AiPreferences, Category, ConsentDefaults, Post, Purpose, RegionGroup, Scope, Tier, Tri,
};
use tollgate_ingest::{GenerateOptions, ImportOptions, TerminalProgress, generate, import_with};

use crate::cmd::app::{app_json, create};
use crate::config::Config;
use crate::{Failure, runtime};

#[derive(Debug, Args)]
pub struct DemoArgs {
    #[arg(long, default_value_t = 10_000)]
    pub accounts: u64,
    #[arg(long, default_value_t = 200_000)]
    pub posts: u64,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Set everything up and print the examples, but do not serve.
    #[arg(long)]
    pub no_serve: bool,
}

/// The demo apps: (name, tier, declared purposes, licensed purposes).
const APPS: [(&str, Tier, &[Purpose], &[Purpose]); 4] = [
    ("demo-display", Tier::Standard, &[Purpose::Display, Purpose::Search], &[]),
    ("demo-standard-trainer", Tier::Standard, &[Purpose::Display, Purpose::TrainGenai], &[]),
    (
        "demo-partner",
        Tier::Partner,
        &[Purpose::Display, Purpose::TrainGenai, Purpose::TrainAi, Purpose::AiInput],
        &[Purpose::TrainGenai, Purpose::TrainAi],
    ),
    (
        "demo-first-party",
        Tier::FirstParty,
        &[Purpose::TrainGenai, Purpose::TrainAi, Purpose::AiInput, Purpose::Display],
        &[],
    ),
];

pub fn run(config: &Config, args: &DemoArgs) -> Result<(), Failure> {
    let credentials_path = config.data_dir.join("demo-credentials.json");
    let store = runtime::open_store(config)?;
    let stats = store.stats()?;
    let credentials: Value = if stats.accounts == 0 && stats.posts == 0 && stats.apps == 0 {
        let generated = config.data_dir.join("generated");
        let options = GenerateOptions {
            accounts: args.accounts,
            posts: args.posts,
            seed: args.seed,
            ..tollgate_ingest::demo_defaults()
        };
        eprintln!("demo: generating {} accounts and {} posts (seed {})", args.accounts, args.posts, args.seed);
        generate(&options, &generated).map_err(|e| Failure::failed(e.to_string()))?;
        let accounts_file = generated.join("accounts.jsonl");
        let posts_file = generated.join("posts.jsonl");
        let summary = import_with(
            store.as_ref(),
            Some(&accounts_file),
            Some(&posts_file),
            &ImportOptions::default(),
            &mut TerminalProgress::new(),
        )
        .map_err(|e| Failure::failed(e.to_string()))?;
        eprintln!("demo: {summary}");
        let examples = pick_examples(&accounts_file, &posts_file, &config.consent)?;
        let mut apps = Vec::new();
        for (name, tier, declared, licensed) in APPS {
            let (app, _key, token) = create(store.as_ref(), name, tier, declared.to_vec(), licensed.to_vec())?;
            let mut v = app_json(&app);
            v["token"] = json!(token);
            apps.push(v);
        }
        let credentials = json!({
            "base_url": config.public_url,
            "internal_token": runtime::internal_token(config)?,
            "apps": apps,
            "examples": {
                "author_id": examples.author.to_string(),
                "author_handle": examples.author_handle,
                "opted_out_post_id": examples.post.to_string(),
                "eu_account_id": examples.eu_account.map(|a| a.to_string()),
                "minor_account_id": examples.minor.map(|a| a.to_string()),
            },
        });
        runtime::write_private(&credentials_path, &serde_json::to_string_pretty(&credentials).unwrap_or_default())?;
        credentials
    } else {
        let raw = std::fs::read_to_string(&credentials_path).map_err(|e| {
            Failure::invalid(format!(
                "`{}` holds data but `{}` cannot be read ({e}): use an empty --data-dir for the demo",
                config.data_dir.display(),
                credentials_path.display()
            ))
        })?;
        serde_json::from_str(&raw).map_err(|e| Failure::invalid(format!("`{}`: {e}", credentials_path.display())))?
    };
    // The settings page's sign-in links are signed with this secret; `serve`
    // reads it from the data directory when none is configured.
    if runtime::settings_jwt_secret(config)?.is_none() {
        let secret = runtime::random_hex(32)?;
        runtime::write_private(&config.data_dir.join(runtime::SETTINGS_JWT_SECRET_FILE), &format!("{secret}\n"))?;
    }
    print_examples(config, &credentials, &credentials_path);
    print_sign_in_links(config, &credentials)?;
    if args.no_serve {
        return Ok(());
    }
    crate::cmd::serve::serve(config, store, |_| {})
}

/// The accounts and post the demo's examples use.
struct Examples {
    /// An author who explicitly denied third parties `train-genai` (an adult
    /// with an active, public account), and one of their ordinary posts.
    author: tollgate_domain::AccountId,
    /// The author's handle, for the links to their public pages (which show
    /// their posts: they opted out of training, not of display).
    author_handle: String,
    post: tollgate_domain::PostId,
    /// The first adult in a restricted region (the EU, the EEA, the UK) with
    /// no preference set and some posts: the regional default decides for them.
    eu_account: Option<tollgate_domain::AccountId>,
    /// The first account the platform flags as a minor, with some posts.
    minor: Option<tollgate_domain::AccountId>,
}

/// Picks the examples from the generated files, in file order, so that the
/// same seed always picks the same accounts.
fn pick_examples(accounts: &Path, posts: &Path, defaults: &ConsentDefaults) -> Result<Examples, Failure> {
    let lines = |p: &Path| -> Result<std::io::Lines<std::io::BufReader<std::fs::File>>, Failure> {
        let f = std::fs::File::open(p).map_err(|e| Failure::failed(format!("cannot read `{}`: {e}", p.display())))?;
        Ok(std::io::BufReader::new(f).lines())
    };
    let mut opted_out = std::collections::HashMap::new();
    // Candidates in file order: (id, is the EU example, is the minor example).
    let mut candidates = Vec::new();
    for line in lines(accounts)?.map_while(Result::ok) {
        let Ok(a) = serde_json::from_str::<Account>(&line) else { continue };
        let public = !a.protected && a.status == AccountStatus::Active;
        let denied = a.ai_preferences.get(Category::TrainGenai, Scope::ThirdParties).value == Tri::Deny;
        if denied && public && a.is_minor != Some(true) && a.birth_year.is_none() {
            opted_out.insert(a.id, a.handle.clone());
        }
        let unset = a.ai_preferences == AiPreferences::default();
        let eu =
            public && unset && a.is_minor == Some(false) && defaults.region_group(&a.region) == RegionGroup::Restricted;
        let minor = public && a.is_minor == Some(true);
        if eu || minor {
            candidates.push((a.id, eu, minor));
        }
    }
    let mut authors = std::collections::HashSet::new();
    let mut example = None;
    for line in lines(posts)?.map_while(Result::ok) {
        let Ok(p) = serde_json::from_str::<Post>(&line) else { continue };
        if p.deleted_at.is_none() {
            authors.insert(p.author_id);
        }
        if example.is_none() && opted_out.contains_key(&p.author_id) && !p.no_ai && p.deleted_at.is_none() {
            example = Some((p.author_id, p.id));
        }
    }
    let Some((author, post)) = example else {
        return Err(Failure::failed("the generated platform has no opted-out author with posts: generate more posts"));
    };
    let first = |pick: fn(&(tollgate_domain::AccountId, bool, bool)) -> bool| {
        candidates.iter().find(|c| pick(c) && authors.contains(&c.0)).map(|c| c.0)
    };
    let author_handle = opted_out.get(&author).cloned().unwrap_or_default();
    Ok(Examples { author, author_handle, post, eu_account: first(|c| c.1), minor: first(|c| c.2) })
}

/// Sign-in links to the settings page for the example accounts, valid for
/// 15 minutes; `tollgate settings sign-in-link` prints fresh ones.
fn print_sign_in_links(config: &Config, credentials: &Value) -> Result<(), Failure> {
    let Some(secret) = runtime::settings_jwt_secret(config)? else { return Ok(()) };
    let page = &config.settings_page;
    let expect = tollgate_web::jwt::Expect { issuer: page.issuer.clone(), audience: page.audience.clone() };
    let examples = &credentials["examples"];
    outln!("# 4. The settings page: sign in as an account holder (links valid for 15 minutes;");
    outln!("#    `tollgate settings sign-in-link ACCOUNT_ID` prints a fresh one)");
    for (key, who) in [
        ("author_id", "an author who opted out of third-party training"),
        ("eu_account_id", "an adult in the EU with no preference set: the regional default applies"),
        ("minor_account_id", "a minor: AI uses are always denied"),
    ] {
        let Some(id) = examples[key].as_str().and_then(|s| s.parse().ok()) else { continue };
        let link = tollgate_web::sign_in_link(
            &config.public_url,
            secret.as_bytes(),
            &expect,
            id,
            tollgate_web::jwt::MAX_LIFETIME_SECS,
        );
        outln!("#    {who} (account {id}):");
        outln!("{link}");
    }
    outln!();
    Ok(())
}

fn print_examples(config: &Config, credentials: &Value, path: &Path) {
    let token = |name: &str| -> String {
        credentials["apps"]
            .as_array()
            .and_then(|apps| apps.iter().find(|a| a["name"] == name))
            .and_then(|a| a["token"].as_str())
            .unwrap_or("?")
            .to_owned()
    };
    let base = config.public_url.trim_end_matches('/');
    let author = credentials["examples"]["author_id"].as_str().unwrap_or("?");
    let post = credentials["examples"]["opted_out_post_id"].as_str().unwrap_or("?");
    outln!("Tollgate demo: data in `{}`, credentials in `{}`", config.data_dir.display(), path.display());
    outln!();
    for (name, ..) in APPS {
        outln!("  {name:<22} {}", token(name));
    }
    outln!("  {:<22} {}", "internal API", credentials["internal_token"].as_str().unwrap_or("?"));
    outln!();
    outln!("# 1. Allowed: a display app reads an author's timeline");
    outln!(
        "curl -s -H 'Authorization: Bearer {}' '{base}/2/users/{author}/tweets?max_results=5&tweet.fields=created_at,lang'",
        token("demo-display")
    );
    outln!();
    outln!("# 2. Withheld: the author opted out, so a partner's training request gets the post's reason instead");
    outln!(
        "curl -s -H 'Authorization: Bearer {}' -H 'Tollgate-Purpose: train-genai' '{base}/2/tweets/{post}'",
        token("demo-partner")
    );
    outln!();
    outln!("# 3. Refused: the developer agreement forbids standard apps to train generative models");
    outln!(
        "curl -s -i -H 'Authorization: Bearer {}' -H 'Tollgate-Purpose: train-genai' '{base}/2/tweets/{post}'",
        token("demo-standard-trainer")
    );
    outln!();
    // Data made by an older demo names no handle: its pages are not linked.
    if let Some(handle) = credentials["examples"]["author_handle"].as_str().filter(|h| !h.is_empty()) {
        outln!("# Public pages: the same author's post and profile, shown to people (display is allowed)");
        outln!("{base}/{handle}/status/{post}");
        outln!("{base}/{handle}");
        outln!();
    }
}
