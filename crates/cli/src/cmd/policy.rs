//! `tollgate policy ...`: validate the policy, explain a decision.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use tollgate_domain::{AccountId, AgreementState, AuthorFacts, ItemFacts, PostFacts, PostId, Purpose, Timestamp};
use tollgate_policy::{AppFacts, PolicyEngine};

use crate::cmd::print_json;
use crate::config::Config;
use crate::{Failure, runtime};

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate the policy and the guard policy against their schemas, with Cedar's own diagnostics.
    Check(CheckArgs),
    /// Decide one (app, purpose, post or profile) and name the policies that decided.
    Explain(ExplainArgs),
    /// Print the Cedar schema policies are validated against (`--guard`: the guard policy's).
    Schema(SchemaArgs),
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The policy directory to check (default: `policy_dir`).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// The guard policy's schema instead of the content policy's.
    #[arg(long)]
    pub guard: bool,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[arg(long)]
    pub app: String,
    #[arg(long)]
    pub purpose: String,
    /// The post to decide.
    #[arg(long, required_unless_present = "account", conflicts_with = "account")]
    pub post: Option<String>,
    /// The account whose profile to decide (as user lookups and expansions do).
    #[arg(long)]
    pub account: Option<String>,
    #[arg(long)]
    pub json: bool,
}

pub fn run(config: &Config, command: PolicyCommand) -> Result<(), Failure> {
    match command {
        PolicyCommand::Check(a) => {
            let dir = a.dir.or_else(|| config.policy_dir.clone());
            let engine = PolicyEngine::load(dir.as_deref(), config.policy_mode)
                .map_err(|e| Failure::invalid(format!("the policy does not validate:\n{e}")))?;
            outln!(
                "policy ok: {} policies ({}), version {}",
                engine.policy_ids().len(),
                dir.map_or("built-in pack".to_owned(), |d| format!("{} {}", config.policy_mode.as_str(), d.display())),
                engine.version()
            );
            let guard =
                tollgate_policy::GuardPolicy::load(config.guard_policy_dir.as_deref(), config.guard_policy_mode)
                    .map_err(|e| Failure::invalid(format!("the guard policy does not validate:\n{e}")))?;
            outln!(
                "guard policy ok: {} policies ({}), version {}",
                guard.policy_ids().len(),
                config.guard_policy_dir.as_ref().map_or("built-in guard pack".to_owned(), |d| format!(
                    "{} {}",
                    config.guard_policy_mode.as_str(),
                    d.display()
                )),
                guard.version()
            );
            Ok(())
        }
        PolicyCommand::Schema(a) => {
            let text = if a.guard { tollgate_policy::GuardPolicy::schema_text() } else { PolicyEngine::schema_text() };
            out!("{text}");
            Ok(())
        }
        PolicyCommand::Explain(a) => {
            let engine = runtime::load_policy(config)?;
            let purpose: Purpose = a
                .purpose
                .parse()
                .map_err(|e: tollgate_domain::ParseError| Failure::invalid(format!("--purpose: {e}")))?;
            let store = runtime::open_store(config)?;
            let app_id =
                a.app.parse().map_err(|e: tollgate_domain::ParseError| Failure::invalid(format!("--app: {e}")))?;
            let app = store.app(app_id)?.ok_or_else(|| Failure::invalid(format!("no app with id `{}`", a.app)))?;
            let now = Timestamp::now();
            let (item, what) = match (&a.post, &a.account) {
                (Some(post), _) => {
                    let post_id: PostId = post
                        .parse()
                        .map_err(|e: tollgate_domain::ParseError| Failure::invalid(format!("--post: {e}")))?;
                    let post = store
                        .posts(&[post_id])?
                        .pop()
                        .ok_or_else(|| Failure::invalid(format!("no post with id `{post_id}`")))?;
                    let author = store.account(post.author_id)?.ok_or_else(|| {
                        Failure::invalid(format!("the author {} of post {} does not exist", post.author_id, post.id))
                    })?;
                    let facts = PostFacts::of(&post, AuthorFacts::of(&author, &config.consent, now));
                    (ItemFacts::Post(facts), format!("post {}", post.id))
                }
                (None, account) => {
                    let raw = account.as_deref().unwrap_or_default();
                    let id: AccountId = raw
                        .parse()
                        .map_err(|e: tollgate_domain::ParseError| Failure::invalid(format!("--account: {e}")))?;
                    let account =
                        store.account(id)?.ok_or_else(|| Failure::invalid(format!("no account with id `{id}`")))?;
                    (ItemFacts::Profile(AuthorFacts::of(&account, &config.consent, now)), format!("profile {id}"))
                }
            };
            let agreement = AgreementState::of(app.agreement_version, store.latest_agreement()?.as_ref(), now);
            let explanation = engine.explain(&AppFacts::of(&app, agreement), purpose, item);
            if a.json {
                print_json(&explanation.to_json());
            } else {
                outln!("app {} ({}), purpose {purpose}, {what}", app.id, app.tier);
                out!("{explanation}");
            }
            Ok(())
        }
    }
}
