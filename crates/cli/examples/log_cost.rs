//! What one access log line costs, apart from serving: emits the access
//! log's event (the fields `tollgate_api`'s `observe` writes) N times through
//! the subscriber `serve` installs, and prints the process's CPU time per
//! event (every thread, the log's flushing thread included). Run with stderr
//! redirected to a file, as a server's would be:
//!
//! `cargo run --release -p tollgate-cli --example log_cost -- text|json N [on|off] [unbuffered] 2>/tmp/log`
//!
//! BENCHMARKS.md ("Access log") divides this by the server CPU per request
//! that `bench/ab.sh` measures.

use tollgate_cli::config::{LogConfig, LogFormat};

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime is the
    // 12th, stime the 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest.split_whitespace().map(|x| x.parse().unwrap_or(0.0)).collect();
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / 100.0
}

fn main() {
    let mut args = std::env::args().skip(1);
    let format = match args.next().as_deref() {
        Some("json") => LogFormat::Json,
        _ => LogFormat::Text,
    };
    let n: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let on = args.next().as_deref() != Some("off");
    // `unbuffered`: stderr written once per line, for comparison.
    if args.next().as_deref() == Some("unbuffered") {
        let _ = tracing_subscriber::fmt().with_writer(std::io::stderr).with_ansi(false).try_init();
    } else {
        tollgate_cli::logging::init(&LogConfig { level: "info".into(), format, access: on });
    }
    let started = cpu_seconds();
    let clock = std::time::Instant::now();
    for i in 0..n {
        let id = format!("7cdd74c2-{i:x}");
        if on {
            tracing::info!(
                target: "tollgate::access",
                id = id.as_str(),
                method = "GET",
                endpoint = Some("/2/tweets/{id}"),
                app = Some(1u64),
                purpose = Some("display"),
                seq = Some(i),
                status = 200u16,
                latency_us = 812u64,
                "request"
            );
        }
        std::hint::black_box(&id);
    }
    tollgate_cli::logging::flush();
    let cpu = cpu_seconds() - started;
    println!(
        "{n} events ({format:?}, access log {}): {:.3} s CPU, {:.3} s wall, {:.0} ns CPU per event",
        if on { "on" } else { "off" },
        cpu,
        clock.elapsed().as_secs_f64(),
        cpu * 1e9 / n as f64
    );
}
