//! `tollgate demo`: a demo platform on the embedded store, one app per
//! interesting case, their tokens in `DATA/demo-credentials.json`, and three
//! `curl` examples: an allowed delivery, a withheld post, a refused request.

use std::io::BufRead;
use std::path::Path;

use clap::Args;
use serde_json::{Value, json};
use tollgate_domain::{Account, AccountStatus, Category, Post, Purpose, Scope, Tier, Tri};
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
        let (author, post) = pick_examples(&accounts_file, &posts_file)?;
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
            "examples": { "author_id": author.to_string(), "opted_out_post_id": post.to_string() },
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
    print_examples(config, &credentials, &credentials_path);
    if args.no_serve {
        return Ok(());
    }
    crate::cmd::serve::serve(config, store, |_| {})
}

/// An author who explicitly denied third parties `train-genai` (an adult with an
/// active, public account) and one of their ordinary posts.
fn pick_examples(
    accounts: &Path,
    posts: &Path,
) -> Result<(tollgate_domain::AccountId, tollgate_domain::PostId), Failure> {
    let lines = |p: &Path| -> Result<std::io::Lines<std::io::BufReader<std::fs::File>>, Failure> {
        let f = std::fs::File::open(p).map_err(|e| Failure::failed(format!("cannot read `{}`: {e}", p.display())))?;
        Ok(std::io::BufReader::new(f).lines())
    };
    let mut opted_out = std::collections::HashSet::new();
    for line in lines(accounts)?.map_while(Result::ok) {
        let Ok(a) = serde_json::from_str::<Account>(&line) else { continue };
        let denied = a.ai_preferences.get(Category::TrainGenai, Scope::ThirdParties).value == Tri::Deny;
        if denied
            && !a.protected
            && a.status == AccountStatus::Active
            && a.is_minor != Some(true)
            && a.birth_year.is_none()
        {
            opted_out.insert(a.id);
        }
    }
    for line in lines(posts)?.map_while(Result::ok) {
        let Ok(p) = serde_json::from_str::<Post>(&line) else { continue };
        if opted_out.contains(&p.author_id) && !p.no_ai && p.deleted_at.is_none() {
            return Ok((p.author_id, p.id));
        }
    }
    Err(Failure::failed("the generated platform has no opted-out author with posts: generate more posts"))
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
}
