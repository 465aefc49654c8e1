//! The `tollgate` command: configuration, subcommands and the wiring of the
//! store, the policy, the ledger and the API. This is the only crate that
//! knows which store backend is in use.

#[macro_use]
pub mod output;
pub mod cmd;
pub mod config;
pub mod connections;
pub mod logging;
pub mod retention;
pub mod runtime;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Exit codes, documented in `docs/cli.md`.
pub mod exit {
    pub const OK: i32 = 0;
    /// Something failed at run time (IO, the store, the network).
    pub const FAILURE: i32 = 1;
    /// The command line was wrong (clap uses 2 as well).
    pub const USAGE: i32 = 2;
    /// An input (file, policy, configuration, id) was invalid; nothing was changed.
    pub const INVALID_INPUT: i32 = 3;
    /// `ledger verify` found the ledger altered.
    pub const VERIFY_FAILED: i32 = 4;
    /// Whoever read the output went away before it was written (a closed
    /// pipe, `EPIPE`): the code a shell shows for a program that `SIGPIPE`
    /// ended (128 + 13). Nothing is printed.
    pub const BROKEN_PIPE: i32 = 141;
}

#[derive(Debug, Parser)]
#[command(
    name = "tollgate",
    version,
    about = "One policy for who may use which posts for what, enforced in every channel."
)]
pub struct Cli {
    /// The configuration file (default: `tollgate.toml` if present).
    #[arg(long, global = true, env = "TOLLGATE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub settings: config::Settings,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the developer API, the internal API, the operational endpoints and the settings pages.
    Serve,
    /// Create a demo platform (if the data directory is empty) and serve it.
    Demo(cmd::demo::DemoArgs),
    /// Load accounts and posts from JSON-lines files, all or nothing.
    Import(cmd::import::ImportArgs),
    /// Write a synthetic platform as JSON-lines files.
    Generate(cmd::generate::GenerateArgs),
    /// Manage developer apps and their keys.
    #[command(subcommand)]
    App(cmd::app::AppCommand),
    /// Publish and show the developer agreement.
    #[command(subcommand)]
    Agreement(cmd::agreement::AgreementCommand),
    /// Validate the policy and explain decisions.
    #[command(subcommand)]
    Policy(cmd::policy::PolicyCommand),
    /// Inspect and verify the delivery ledger.
    #[command(subcommand)]
    Ledger(cmd::ledger::LedgerCommand),
    /// The account holders' settings page: sign-in links.
    #[command(subcommand)]
    Settings(cmd::settings::SettingsCommand),
    /// Read the change log, and apply changes from a file, all or nothing.
    #[command(subcommand)]
    Events(cmd::events::EventsCommand),
    /// Recipients' compliance obligations: pending, overdue and done.
    #[command(subcommand)]
    Compliance(cmd::compliance::ComplianceCommand),
    /// The guard: explain its policy's decisions; written notices to actors, and the evidence report per actor.
    #[command(subcommand)]
    Guard(cmd::guard::GuardCommand),
}

/// An error that ends the command, with the exit code it ends it with.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

impl Failure {
    pub fn invalid(message: impl Into<String>) -> Failure {
        Failure { code: exit::INVALID_INPUT, message: message.into() }
    }

    pub fn failed(message: impl Into<String>) -> Failure {
        Failure { code: exit::FAILURE, message: message.into() }
    }
}

impl From<tollgate_store::StoreError> for Failure {
    fn from(e: tollgate_store::StoreError) -> Failure {
        match e {
            tollgate_store::StoreError::Invalid { .. } | tollgate_store::StoreError::NotFound(_) => {
                Failure::invalid(e.to_string())
            }
            other => Failure::failed(other.to_string()),
        }
    }
}

impl From<config::ConfigError> for Failure {
    fn from(e: config::ConfigError) -> Failure {
        Failure::invalid(format!("configuration: {e}"))
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<(), Failure> {
    let explicit = cli.config.is_some();
    let path = cli.config.clone().unwrap_or_else(|| PathBuf::from("tollgate.toml"));
    let config = cli.settings.with_file(&path, explicit)?.resolve()?;
    logging::init(&config.log);
    match cli.command {
        Command::Serve => cmd::serve::run(&config),
        Command::Demo(args) => cmd::demo::run(&config, &args),
        Command::Import(args) => cmd::import::run(&config, &args),
        Command::Generate(args) => cmd::generate::run(&args),
        Command::App(c) => cmd::app::run(&config, c),
        Command::Agreement(c) => cmd::agreement::run(&config, c),
        Command::Policy(c) => cmd::policy::run(&config, c),
        Command::Ledger(c) => cmd::ledger::run(&config, c),
        Command::Settings(c) => cmd::settings::run(&config, c),
        Command::Events(c) => cmd::events::run(&config, c),
        Command::Compliance(c) => cmd::compliance::run(&config, c),
        Command::Guard(c) => cmd::guard::run(&config, c),
    }
}
