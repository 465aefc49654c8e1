//! The raw insert rate of posts into the store's SQLite schema, without
//! Tollgate's import logic: the baseline `bench/import.sh` compares
//! `tollgate import` against.
//!
//! Reads a posts JSON-lines file (Tollgate's own format), parses every line
//! into the domain `Post` (timed separately, never counted as insert time),
//! then inserts the rows with one prepared statement in one transaction into
//! a database with exactly the store's schema (created by `SqliteStore::open`,
//! so the same tables, indexes, full-text index and triggers) and the store's
//! writer pragmas (WAL, `synchronous`, foreign keys, the bulk-load page cache,
//! the WAL size limit).
//!
//! The file is processed in chunks: a chunk is parsed (untimed), then
//! inserted (timed), all inside the one transaction, so memory stays bounded
//! by the chunk size. The commit (which in WAL mode includes the automatic
//! checkpoint of the pages the transaction wrote) is timed and counted.
//!
//! ```text
//! cargo run --release -p tollgate-store-sqlite --example raw_insert -- \
//!     --posts posts.jsonl --dir /tmp/raw [--synchronous full|normal] \
//!     [--chunk 1000000] [--statement insert|upsert]
//! ```
//!
//! `--dir` is a fresh directory, or a copy of a data directory that holds
//! accounts already (the benchmark starts from the same state the import
//! starts from). The last line on stdout is machine-readable:
//! `raw_insert posts=N parse_s=.. insert_s=.. commit_s=.. posts_per_s=..`,
//! with the CPU seconds (user + system, from `/proc/self/stat`) of the parse
//! and of the insert and commit beside the wall times.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use rusqlite::{Connection, params};
use tollgate_domain::{Post, Timestamp};
use tollgate_store_sqlite::{PLATFORM_FILE, SqliteOptions, SqliteStore, Synchronous};

/// The page cache the store's writer uses during a bulk load, in MiB
/// (`BULK_CACHE_MIB` in the store).
const BULK_CACHE_MIB: i64 = 256;
/// The store's `journal_size_limit`.
const WAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// A plain insert: the baseline.
const INSERT: &str = "INSERT INTO posts \
    (id, author_id, created_at, text, lang, in_reply_to, in_reply_to_user_id, conversation_id, no_ai, deleted_at) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

/// The store's own statement (`UPSERT_POST`), to tell the cost of the
/// statement from the cost of the code around it.
const UPSERT: &str = "INSERT INTO posts \
    (id, author_id, created_at, text, lang, in_reply_to, in_reply_to_user_id, conversation_id, no_ai, deleted_at) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
    ON CONFLICT (id) DO UPDATE SET author_id = excluded.author_id, created_at = excluded.created_at, \
    text = excluded.text, lang = excluded.lang, in_reply_to = excluded.in_reply_to, \
    in_reply_to_user_id = excluded.in_reply_to_user_id, conversation_id = excluded.conversation_id, \
    no_ai = excluded.no_ai, deleted_at = excluded.deleted_at";

struct Args {
    posts: PathBuf,
    dir: PathBuf,
    synchronous: Synchronous,
    chunk: usize,
    upsert: bool,
}

fn usage() -> String {
    "usage: raw_insert --posts FILE --dir DIR [--synchronous full|normal] [--chunk N] [--statement insert|upsert]"
        .to_owned()
}

fn parse_args() -> Result<Args, String> {
    let mut posts = None;
    let mut dir = None;
    let mut synchronous = Synchronous::Full;
    let mut chunk = 1_000_000usize;
    let mut upsert = false;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value\n{}", usage()));
        match flag.as_str() {
            "--posts" => posts = Some(PathBuf::from(value()?)),
            "--dir" => dir = Some(PathBuf::from(value()?)),
            "--synchronous" => {
                synchronous = match value()?.as_str() {
                    "full" => Synchronous::Full,
                    "normal" => Synchronous::Normal,
                    other => return Err(format!("--synchronous: `{other}` is not `full` or `normal`")),
                }
            }
            "--chunk" => {
                let v = value()?;
                chunk = v.parse().ok().filter(|n| *n > 0).ok_or_else(|| format!("--chunk: `{v}` is not a count"))?;
            }
            "--statement" => {
                upsert = match value()?.as_str() {
                    "insert" => false,
                    "upsert" => true,
                    other => return Err(format!("--statement: `{other}` is not `insert` or `upsert`")),
                }
            }
            "-h" | "--help" => return Err(usage()),
            other => return Err(format!("unknown argument `{other}`\n{}", usage())),
        }
    }
    Ok(Args { posts: posts.ok_or_else(usage)?, dir: dir.ok_or_else(usage)?, synchronous, chunk, upsert })
}

/// Opens the platform file with the pragmas the store's writer sets
/// (`conn::open_writer`), with the cache as `bulk_load` enlarges it.
fn open(args: &Args) -> rusqlite::Result<Connection> {
    let conn = Connection::open(args.dir.join(PLATFORM_FILE))?;
    conn.busy_timeout(Duration::from_secs(5))?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    assert!(mode.eq_ignore_ascii_case("wal"), "journal mode is {mode}, not WAL");
    let sync = match args.synchronous {
        Synchronous::Full => "FULL",
        Synchronous::Normal => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", sync)?;
    let full = args.synchronous == Synchronous::Full;
    conn.pragma_update(None, "fullfsync", full)?;
    conn.pragma_update(None, "checkpoint_fullfsync", full)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.pragma_update(None, "cache_size", -(BULK_CACHE_MIB * 1024))?;
    conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)?;
    Ok(conn)
}

/// Reads up to `n` posts; `None` at the end of the file.
fn read_chunk(reader: &mut impl BufRead, n: usize, line_no: &mut u64) -> Result<Option<Vec<Post>>, String> {
    let mut out = Vec::with_capacity(n);
    let mut line = String::new();
    while out.len() < n {
        line.clear();
        let read = reader.read_line(&mut line).map_err(|e| format!("reading line {}: {e}", *line_no + 1))?;
        if read == 0 {
            break;
        }
        *line_no += 1;
        let text = line.trim_ascii();
        if text.is_empty() {
            continue;
        }
        let post: Post = serde_json::from_str(text).map_err(|e| format!("line {line_no}: {e}"))?;
        out.push(post);
    }
    Ok(if out.is_empty() { None } else { Some(out) })
}

/// CPU seconds (user + system) this process has used so far, where Linux's
/// `/proc/self/stat` tells them (in clock ticks of 1/100 s); 0 elsewhere.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
    // Fields after the command name, which is in parentheses: state is the
    // first, utime the 12th and stime the 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn sql_id(id: u64) -> i64 {
    i64::try_from(id).expect("ids below 2^63")
}

fn run(args: &Args) -> Result<(), String> {
    // The store creates (or, on a copy of a data directory, checks) the schema
    // and is closed again: the inserts go through a connection of our own.
    let options = SqliteOptions { synchronous: args.synchronous, read_connections: 1, ..SqliteOptions::default() };
    drop(SqliteStore::open(&args.dir, &options).map_err(|e| format!("creating the schema: {e}"))?);

    let mut conn = open(args).map_err(|e| format!("opening the database: {e}"))?;
    let file = File::open(&args.posts).map_err(|e| format!("opening {}: {e}", args.posts.display()))?;
    let mut reader = BufReader::with_capacity(256 * 1024, file);

    let (mut parse, mut insert) = (Duration::ZERO, Duration::ZERO);
    let (mut parse_cpu, mut insert_cpu) = (0.0, 0.0);
    let (mut rows, mut line_no) = (0u64, 0u64);
    let started = Instant::now();
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(|e| e.to_string())?;
    {
        let mut stmt = tx.prepare(if args.upsert { UPSERT } else { INSERT }).map_err(|e| e.to_string())?;
        loop {
            let (t, c) = (Instant::now(), cpu_seconds());
            let Some(chunk) = read_chunk(&mut reader, args.chunk, &mut line_no)? else { break };
            parse += t.elapsed();
            parse_cpu += cpu_seconds() - c;

            let (t, c) = (Instant::now(), cpu_seconds());
            for p in &chunk {
                stmt.execute(params![
                    sql_id(p.id.0),
                    sql_id(p.author_id.0),
                    p.created_at.millis(),
                    p.text,
                    p.lang,
                    p.in_reply_to.map(|i| sql_id(i.0)),
                    p.in_reply_to_user_id.map(|i| sql_id(i.0)),
                    p.conversation_id.map(|i| sql_id(i.0)),
                    p.no_ai,
                    p.deleted_at.map(Timestamp::millis),
                ])
                .map_err(|e| format!("inserting post {}: {e}", p.id))?;
            }
            insert += t.elapsed();
            insert_cpu += cpu_seconds() - c;
            rows += chunk.len() as u64;
            // Freeing the chunk is not insert work either.
            drop(chunk);
            eprintln!(
                "raw_insert: {rows} rows, parse {:.1} s, insert {:.1} s, wall {:.1} s",
                parse.as_secs_f64(),
                insert.as_secs_f64(),
                started.elapsed().as_secs_f64()
            );
        }
    }
    let (t, c) = (Instant::now(), cpu_seconds());
    tx.commit().map_err(|e| format!("committing: {e}"))?;
    let commit = t.elapsed();
    let commit_cpu = cpu_seconds() - c;
    drop(conn);

    let timed = (insert + commit).as_secs_f64();
    println!(
        "raw_insert posts={rows} statement={} synchronous={} parse_s={:.3} insert_s={:.3} commit_s={:.3} \
         posts_per_s={:.0} posts_per_s_with_parse={:.0} parse_cpu_s={parse_cpu:.2} insert_cpu_s={insert_cpu:.2} \
         commit_cpu_s={commit_cpu:.2}",
        if args.upsert { "upsert" } else { "insert" },
        if args.synchronous == Synchronous::Full { "full" } else { "normal" },
        parse.as_secs_f64(),
        insert.as_secs_f64(),
        commit.as_secs_f64(),
        rows as f64 / timed.max(1e-9),
        rows as f64 / (timed + parse.as_secs_f64()).max(1e-9),
    );
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("raw_insert: {e}");
            ExitCode::FAILURE
        }
    }
}
