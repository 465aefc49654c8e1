//! `tollgate-simulate`: sends the guard's simulated traffic to a Tollgate on
//! loopback and reports per class (docs/guard.md, "The traffic simulator").
//! For `bench/guard_sim.sh`; not part of Tollgate.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use tollgate_simulate::plan::{self, Keys, Mix, Plan, Platform};
use tollgate_simulate::{Options, net, report, simulate};

#[derive(Debug, Parser)]
#[command(name = "tollgate-simulate", about = "The guard's traffic simulator (loopback only)")]
struct Args {
    /// The server, a loopback address: `127.0.0.1:PORT`.
    #[arg(long)]
    target: Option<SocketAddr>,
    /// Everything the plan draws comes from this seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Write the operator's inputs the simulated world assumes into this
    /// directory (`prefix-table.csv`, `crawlers.toml`) and exit.
    #[arg(long)]
    write_inputs: Option<PathBuf>,
    /// The platform's `accounts.jsonl` and `posts.jsonl` (as `tollgate
    /// generate` or `tollgate demo` wrote them).
    #[arg(long)]
    platform: Option<PathBuf>,
    /// Posts read from the platform at most.
    #[arg(long, default_value_t = 200_000)]
    max_posts: usize,
    /// The API keys: JSON `{"standard": [...], "partner": [...], "farm": [...]}`.
    #[arg(long)]
    keys: Option<PathBuf>,
    /// A TOML file of class parameters (docs/guard.md).
    #[arg(long)]
    mix_file: Option<PathBuf>,
    /// Actors per class, e.g. `people-home=100,residential-swarm=32`.
    #[arg(long, default_value = "")]
    mix: String,
    /// Seconds the run lasts at most.
    #[arg(long, default_value_t = 120)]
    duration: u64,
    /// Requests the run sends at most.
    #[arg(long, default_value_t = 200_000)]
    max_requests: u64,
    /// Connections open at once at most.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Seconds one request may take (a tarpit holds its answer).
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// Actors start within this many milliseconds of the run's start.
    #[arg(long, default_value_t = 5000)]
    ramp_ms: u64,
    /// Write the report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write what each actor sent (label, addresses, user agents, requests,
    /// first and last time) as JSON here.
    #[arg(long)]
    evidence: Option<PathBuf>,
    /// Exit with status 1 when a target is missed.
    #[arg(long)]
    check: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("tollgate-simulate: error: {message}");
            ExitCode::from(2)
        }
    }
}

fn write(path: &PathBuf, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write `{}`: {e}", path.display()))
}

fn run(args: &Args) -> Result<ExitCode, String> {
    if let Some(dir) = &args.write_inputs {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
        write(&dir.join("prefix-table.csv"), &net::prefix_table_csv())?;
        let world = Plan { seed: args.seed, actors: Vec::new(), crawlers: plan::crawlers(args.seed) };
        write(&dir.join("crawlers.toml"), &world.crawlers_toml())?;
        eprintln!("tollgate-simulate: wrote prefix-table.csv and crawlers.toml into `{}`", dir.display());
        return Ok(ExitCode::SUCCESS);
    }
    let target = args.target.ok_or("`--target 127.0.0.1:PORT` is required")?;
    let platform_dir = args.platform.as_ref().ok_or("`--platform DIR` is required")?;
    let platform = Platform::load(platform_dir, args.max_posts)?;
    let keys: Keys = match &args.keys {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| format!("cannot read `{}`: {e}", p.display()))?;
            serde_json::from_str(&text).map_err(|e| format!("`{}`: {e}", p.display()))?
        }
        None => Keys::default(),
    };
    let mut mix = match &args.mix_file {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| format!("cannot read `{}`: {e}", p.display()))?;
            Mix::from_toml(&text).map_err(|e| e.to_string())?
        }
        None => Mix::standard(),
    };
    mix.set_counts(&args.mix).map_err(|e| e.to_string())?;
    let plan = Plan::new(args.seed, &mix, &platform, &keys, args.ramp_ms);
    let options = Options {
        target,
        connections: args.connections,
        duration: Duration::from_secs(args.duration),
        max_requests: args.max_requests,
        timeout: Duration::from_secs(args.timeout),
    };
    eprintln!(
        "tollgate-simulate: {} actors, {} authors, {} posts, seed {}, at most {} s and {} requests",
        plan.actors.len(),
        platform.authors.len(),
        platform.posts.len(),
        args.seed,
        args.duration,
        args.max_requests
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let (stats, report) = runtime.block_on(simulate(&plan, &mix, &options)).map_err(|e| e.to_string())?;
    print!("{}", report.table());
    if let Some(p) = &args.json {
        write(p, &serde_json::to_string_pretty(&report).unwrap_or_default())?;
    }
    if let Some(p) = &args.evidence {
        let evidence = report::evidence(args.seed, target.to_string(), &stats);
        write(p, &serde_json::to_string(&evidence).unwrap_or_default())?;
    }
    Ok(if args.check && report.targets_met < report.targets { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
