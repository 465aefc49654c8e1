//! The guard's traffic simulator: labelled classes of clients (people, apps,
//! partners, crawlers honest and not, scrapers of every kind) sending to a
//! running `tollgate serve` on loopback, each reacting to what the guard
//! answers, and a report per class beside the targets the guard must meet.
//! Not part of the product: `bench/guard_sim.sh` runs it (docs/guard.md,
//! "The traffic simulator").

pub mod actor;
pub mod client;
pub mod extract;
pub mod net;
pub mod plan;
pub mod report;
pub mod rng;
pub mod sign;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::Bytes;

use crate::actor::{ActorStats, Run, run_actor};
use crate::client::{Client, ClientError};
use crate::plan::{Class, Mix, Plan};
use crate::report::{Report, class_report};

/// How a run is bounded.
#[derive(Debug, Clone)]
pub struct Options {
    /// The server, on loopback.
    pub target: SocketAddr,
    pub connections: usize,
    pub duration: Duration,
    pub max_requests: u64,
    /// How long one request may take (a tarpit holds its answer).
    pub timeout: Duration,
}

/// The user agent of the one request the simulator makes for itself: reading
/// robots.txt to judge which of the crawlers' posts were disallowed.
pub const OBSERVER_UA: &str = "tollgate-simulate/0.1 (observer)";

/// Runs the plan against the server; every actor's statistics in plan order
/// and the report.
pub async fn simulate(plan: &Plan, mix: &Mix, options: &Options) -> Result<(Vec<ActorStats>, Report), ClientError> {
    let client = Client::new(options.target, options.connections, options.timeout)?;
    let robots = fetch_robots(&client).await;
    let started = Instant::now();
    let run = Run::new(client, options.duration, options.max_requests, robots);
    let mut tasks = tokio::task::JoinSet::new();
    for actor in plan.actors.clone() {
        let run = run.clone();
        let id = actor.id;
        tasks.spawn(async move { (id, run_actor(actor, run).await) });
    }
    let mut stats: Vec<(u32, ActorStats)> = Vec::new();
    while let Some(done) = tasks.join_next().await {
        if let Ok(s) = done {
            stats.push(s);
        }
    }
    stats.sort_by_key(|(id, _)| *id);
    let stats: Vec<ActorStats> = stats.into_iter().map(|(_, s)| s).collect();
    let classes = mix
        .classes
        .iter()
        .filter(|(_, p)| p.count > 0)
        .map(|(&class, params)| {
            let of: Vec<&ActorStats> = stats.iter().filter(|s| s.class == class.name()).collect();
            class_report(class, &of, if class == Class::ResidentialSwarm { params.addresses } else { 0 })
        })
        .collect();
    let report = Report::new(plan.seed, plan.digest(), started.elapsed().as_secs_f64(), classes);
    Ok((stats, report))
}

async fn fetch_robots(client: &Client) -> String {
    let request = http::Request::builder()
        .uri("/robots.txt")
        .header("host", client.authority())
        .header("user-agent", OBSERVER_UA)
        .body(Full::new(Bytes::new()));
    let Ok(request) = request else { return String::new() };
    match client.send(request).await {
        Ok(r) if r.status == 200 => String::from_utf8_lossy(&r.body).into_owned(),
        _ => String::new(),
    }
}
