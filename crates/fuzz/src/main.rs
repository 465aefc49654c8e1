//! `tollgate-fuzz`: runs one fuzz target for a bounded time (bench/fuzz.sh
//! runs each in turn), or runs given inputs once to reproduce a failure.
//!
//! ```text
//! tollgate-fuzz run TARGET [--seconds N] [--seed N] [--corpus DIR] [--crashes DIR] [--hang-seconds N]
//! tollgate-fuzz check TARGET FILE...
//! tollgate-fuzz list
//! ```
//!
//! `run` starts from the files in `--corpus` (default `crates/fuzz/corpus/TARGET`),
//! mutates them, and keeps in memory every input whose outcome signature is
//! new. An input that panics is written to `--crashes` (default
//! `bench/out/fuzz/TARGET`) under its content hash and the run goes on; an
//! input that runs longer than `--hang-seconds` is written there as `hang-*`
//! and the process exits at once (a hung call cannot be interrupted). Exit
//! status: 0 when nothing failed, 1 when something did, 2 for bad usage.

use std::collections::HashSet;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tollgate_fuzz::mutate::{Rng, mutate, mutate_json};
use tollgate_fuzz::{TargetName, fnv1a};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("list") => {
            for t in TargetName::ALL {
                println!("{}", t.as_str());
            }
            ExitCode::SUCCESS
        }
        Some("run") => match RunArgs::parse(&args[1..]) {
            Ok(a) => run(a),
            Err(e) => usage(&e),
        },
        Some("check") => {
            let Some(target) = args.get(1).and_then(|t| TargetName::parse(t)) else {
                return usage("`check` needs a target name");
            };
            check(target, &args[2..])
        }
        _ => usage("expected `run`, `check` or `list`"),
    }
}

fn usage(problem: &str) -> ExitCode {
    let names: Vec<&str> = TargetName::ALL.iter().map(|t| t.as_str()).collect();
    eprintln!(
        "tollgate-fuzz: {problem}\n\
         usage: tollgate-fuzz run TARGET [--seconds N] [--seed N] [--corpus DIR] [--crashes DIR] [--hang-seconds N]\n\
         \x20      tollgate-fuzz check TARGET FILE...\n\
         \x20      tollgate-fuzz list\n\
         targets: {}",
        names.join(", ")
    );
    ExitCode::from(2)
}

struct RunArgs {
    target: TargetName,
    seconds: u64,
    seed: u64,
    corpus: PathBuf,
    crashes: PathBuf,
    hang_seconds: u64,
}

impl RunArgs {
    fn parse(args: &[String]) -> Result<RunArgs, String> {
        let name = args.first().ok_or("`run` needs a target name")?;
        let target = TargetName::parse(name).ok_or_else(|| format!("unknown target `{name}`"))?;
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut a = RunArgs {
            target,
            seconds: 60,
            seed: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64),
            corpus: root.join("corpus").join(target.as_str()),
            crashes: root.join("../../bench/out/fuzz").join(target.as_str()),
            hang_seconds: 10,
        };
        let mut rest = args[1..].iter();
        while let Some(flag) = rest.next() {
            let value = rest.next().ok_or_else(|| format!("`{flag}` needs a value"))?;
            let number = || value.parse::<u64>().map_err(|_| format!("`{flag}` needs a number, not `{value}`"));
            match flag.as_str() {
                "--seconds" => a.seconds = number()?,
                "--seed" => a.seed = number()?,
                "--hang-seconds" => a.hang_seconds = number()?.max(1),
                "--corpus" => a.corpus = PathBuf::from(value),
                "--crashes" => a.crashes = PathBuf::from(value),
                _ => return Err(format!("unknown flag `{flag}`")),
            }
        }
        Ok(a)
    }
}

/// The files of a corpus directory, sorted by name (missing directory: none).
fn read_corpus(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect())
        .unwrap_or_default();
    files.sort();
    files.into_iter().filter_map(|p| std::fs::read(&p).ok().map(|b| (p, b))).collect()
}

/// The most inputs kept in memory: enough variety, and a bounded footprint
/// (16 KiB inputs at most: 80 MiB).
const MAX_CORPUS: usize = 5_000;

/// The last panic's message, recorded by the panic hook instead of printed.
static LAST_PANIC: Mutex<String> = Mutex::new(String::new());

fn quiet_panics() {
    panic::set_hook(Box::new(|info| {
        let message = match info.payload().downcast_ref::<&str>() {
            Some(s) => (*s).to_owned(),
            None => info.payload().downcast_ref::<String>().cloned().unwrap_or_default(),
        };
        let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        *LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()) = format!("{message}{at}");
    }));
}

fn last_panic() -> String {
    LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

fn save(dir: &Path, prefix: &str, input: &[u8]) -> PathBuf {
    let _ = std::fs::create_dir_all(dir);
    let path = dir.join(format!("{prefix}-{:016x}", fnv1a(input)));
    if let Err(e) = std::fs::write(&path, input) {
        eprintln!("tollgate-fuzz: cannot save {}: {e}", path.display());
    }
    path
}

fn run(a: RunArgs) -> ExitCode {
    let seeds = read_corpus(&a.corpus);
    let mut corpus: Vec<Vec<u8>> = seeds.into_iter().map(|(_, b)| b).collect();
    if corpus.is_empty() {
        eprintln!("tollgate-fuzz: {} has no seeds; starting from an empty input", a.corpus.display());
        corpus.push(Vec::new());
    }
    let seeds = corpus.len();
    let target = a.target;
    eprintln!(
        "tollgate-fuzz: {} for {} s, seed {}, {} seed input(s) from {}",
        target.as_str(),
        a.seconds,
        a.seed,
        corpus.len(),
        a.corpus.display()
    );

    // The watchdog: the input being run and when it started; one that runs
    // too long is saved and the process ends, since the call cannot be stopped.
    let current: Arc<Mutex<Vec<u8>>> = Arc::new(Mutex::new(Vec::new()));
    let started_ms = Arc::new(AtomicU64::new(0));
    let finished = Arc::new(AtomicBool::new(false));
    let clock = Instant::now();
    {
        let (current, started_ms, finished) = (current.clone(), started_ms.clone(), finished.clone());
        let (crashes, limit) = (a.crashes.clone(), a.hang_seconds * 1000);
        std::thread::spawn(move || {
            while !finished.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
                let since = started_ms.load(Ordering::Relaxed);
                let now = clock.elapsed().as_millis() as u64;
                if since != 0 && now.saturating_sub(since) > limit {
                    let input = current.lock().unwrap_or_else(|e| e.into_inner()).clone();
                    let path = save(&crashes, "hang", &input);
                    eprintln!(
                        "tollgate-fuzz: an input ran for more than {} s: saved to {}",
                        limit / 1000,
                        path.display()
                    );
                    std::process::exit(1);
                }
            }
        });
    }

    quiet_panics();
    let mut instance = target.target();
    let mut rng = Rng::new(a.seed);
    let mut seen: HashSet<u64> = HashSet::new();
    let mut failures: HashSet<u64> = HashSet::new();
    let deadline = Duration::from_secs(a.seconds);
    let (mut execs, mut next_report) = (0u64, Duration::from_secs(10));
    let dictionary = target.dictionary();

    // The seeds first, unchanged, then mutations of the growing corpus.
    let mut queue: Vec<Vec<u8>> = corpus.clone();
    while clock.elapsed() < deadline {
        let input = match queue.pop() {
            Some(seed) => seed,
            None => {
                let mut input = corpus[rng.below(corpus.len())].clone();
                // JSON inputs: every other one changed in its structure, the
                // rest byte by byte.
                if !(target.is_json() && rng.chance(2) && mutate_json(&mut rng, &mut input)) {
                    mutate(&mut rng, &mut input, target.max_len(), dictionary, &corpus);
                }
                input.truncate(target.max_len());
                input
            }
        };
        current.lock().unwrap_or_else(|e| e.into_inner()).clone_from(&input);
        started_ms.store((clock.elapsed().as_millis() as u64).max(1), Ordering::Relaxed);
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| instance.run(&input)));
        started_ms.store(0, Ordering::Relaxed);
        execs += 1;
        match outcome {
            Ok(signature) => {
                if seen.insert(signature) {
                    // Bounded: past the cap, a new input replaces a random
                    // one (never a seed, which stay at the front).
                    if corpus.len() < MAX_CORPUS.max(seeds + 1) {
                        corpus.push(input);
                    } else {
                        let at = seeds + rng.below(corpus.len() - seeds);
                        corpus[at] = input;
                    }
                }
            }
            Err(_) => {
                let message = last_panic();
                // One report per distinct failure, not one per input that hits it.
                if failures.insert(fnv1a(message.as_bytes())) {
                    let path = save(&a.crashes, "crash", &input);
                    eprintln!(
                        "tollgate-fuzz: {} failed: {message}\n  input saved to {}",
                        target.as_str(),
                        path.display()
                    );
                }
                // A panic may have left the target's state half-done.
                instance = target.target();
            }
        }
        if clock.elapsed() >= next_report {
            eprintln!(
                "tollgate-fuzz: {} s, {execs} inputs, {} outcomes, corpus {}, {} failure(s)",
                clock.elapsed().as_secs(),
                seen.len(),
                corpus.len(),
                failures.len()
            );
            next_report += Duration::from_secs(10);
        }
    }
    finished.store(true, Ordering::Relaxed);
    eprintln!(
        "tollgate-fuzz: {} done: {execs} inputs in {} s, {} distinct outcomes, {} failure(s)",
        target.as_str(),
        clock.elapsed().as_secs(),
        seen.len(),
        failures.len()
    );
    if failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

fn check(target: TargetName, files: &[String]) -> ExitCode {
    if files.is_empty() {
        return usage("`check` needs at least one file");
    }
    quiet_panics();
    let mut instance = target.target();
    let mut failed = false;
    for file in files {
        let input = match std::fs::read(file) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("tollgate-fuzz: cannot read `{file}`: {e}");
                failed = true;
                continue;
            }
        };
        match panic::catch_unwind(AssertUnwindSafe(|| instance.run(&input))) {
            Ok(_) => println!("ok      {file}"),
            Err(_) => {
                println!("FAILED  {file}: {}", last_panic());
                failed = true;
                instance = target.target();
            }
        }
    }
    if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}
