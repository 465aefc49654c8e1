#!/usr/bin/env bash
# Import benchmark: `tollgate import` of the generated posts against the raw
# insert rate of the same rows into the same engine and schema.
#
# Both start from a copy of one data directory that already holds the
# accounts (imported first, not counted), so they insert the same posts into
# the same state:
#   tollgate  `tollgate --data-dir DIR import --posts posts.jsonl`: reading,
#             parsing, validating, checking each author, the store's upsert,
#             one transaction; the rate is the one its summary prints.
#   raw       crates/store-sqlite/examples/raw_insert.rs: the same file parsed
#             into `Post` values first (timed apart, not counted), then only
#             the inserts with one prepared statement in one transaction, into
#             the store's own schema (full-text index and triggers included)
#             with the store's pragmas.
# The ratio tollgate/raw is the figure to compare across machines. Beside the
# wall-clock rates, the CPU seconds of each are reported (user + system):
# this machine is shared, and CPU time moves less with the neighbours' load.
#
# Usage: bench/import.sh
# Environment: ACCOUNTS, POSTS, SEED (the platform; 1000000, 10000000, 42),
# BENCH_DIR (bench/out), RAW_UPSERT (1: also time the raw insert with the
# store's upsert statement), PROFILE (1: sample both with perf and report
# where the time goes; default 1 when perf is installed), KEEP (1: keep the
# databases), RECORD (auto: write BENCHMARKS.md only for the full-size
# platform; 1 always; 0 never).
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RAW_UPSERT=${RAW_UPSERT:-0}
PROFILE=${PROFILE:-$(command -v perf >/dev/null 2>&1 && echo 1 || echo 0)}
KEEP=${KEEP:-0}

ACCOUNTS_DIR=$BENCH_DIR/import-accounts
TOLLGATE_DIR=$BENCH_DIR/import-tollgate
RAW_DIR=$BENCH_DIR/import-raw
UPSERT_DIR=$BENCH_DIR/import-raw-upsert
RAWOUT=$BENCH_DIR/import-out
FRAGMENT=$BENCH_DIR/import-results.md

cleanup() {
    [[ $KEEP == 1 ]] || rm -rf "$ACCOUNTS_DIR" "$TOLLGATE_DIR" "$RAW_DIR" "$UPSERT_DIR"
}
trap cleanup EXIT

check_recordable
mkdir -p "$BENCH_DIR" "$RAWOUT"
cd "$BENCH_DIR"
check_disk $(( POSTS * 3 / 1000000 + 3 ))
MACHINE=$(machine_rows)
started=$(now)

build_release
(cd "$ROOT" && cargo build --release --quiet -p tollgate-store-sqlite --example raw_insert)
ensure_platform
POSTS_FILE=$DATASET/posts.jsonl

# Runs a command, recording its wall seconds and CPU seconds (user + system
# of the command and its children, from the shell's `times`) in the
# variables named $1_WALL and $1_CPU. With PROFILE=1 the command runs under
# `perf record` (99 samples a second: a negligible cost), into $RAWOUT/$1.perf.
timed() {
    local name=$1 t0 cpu
    shift
    if [[ $PROFILE == 1 ]]; then
        set -- perf record -q -F 99 -g -o "$RAWOUT/$name.perf" -- "$@"
    fi
    t0=$(now)
    cpu=$( ( "$@" >"$RAWOUT/$name.out" 2>"$RAWOUT/$name.err" || exit 1; times ) | tail -1 | awk '{
        n = split($0, f, " "); s = 0
        for (i = 1; i <= n; i++) { split(f[i], p, "m"); s += p[1] * 60 + p[2] }
        printf "%.1f", s }') || die "$name failed; see $RAWOUT/$name.err"
    printf -v "${name}_WALL" '%s' "$(calc '%.1f' "$(now) - $t0")"
    printf -v "${name}_CPU" '%s' "$cpu"
}

# The starting state: the accounts alone, copied for each contender.
log "importing the accounts into $ACCOUNTS_DIR"
rm -rf "$ACCOUNTS_DIR" "$TOLLGATE_DIR" "$RAW_DIR" "$UPSERT_DIR"
"$TOLLGATE" --data-dir "$ACCOUNTS_DIR" import --accounts "$DATASET/accounts.jsonl" 2>"$RAWOUT/accounts.err"
cp -a "$ACCOUNTS_DIR" "$TOLLGATE_DIR"
cp -a "$ACCOUNTS_DIR" "$RAW_DIR"

log "tollgate import of $POSTS posts"
timed TOLLGATE "$TOLLGATE" --data-dir "$TOLLGATE_DIR" import --posts "$POSTS_FILE"
SUMMARY=$(grep '^imported ' "$RAWOUT/TOLLGATE.err" | tail -1)
TG_SECONDS=$(sed -n 's/.* in \([0-9.]*\) s .*/\1/p' <<<"$SUMMARY")
TG_IMPORTED=$(sed -n 's/^imported [0-9]* accounts and \([0-9]*\) posts.*/\1/p' <<<"$SUMMARY")
[[ $TG_IMPORTED -eq $POSTS ]] || die "the import wrote $TG_IMPORTED posts, not $POSTS"
TG_RATE=$(sed -n 's/.*(\([0-9]*\) records\/s).*/\1/p' <<<"$SUMMARY")
log "$SUMMARY"

log "raw insert of the same posts"
timed RAW "$RAW_INSERT" --posts "$POSTS_FILE" --dir "$RAW_DIR"
RAW_LINE=$(grep '^raw_insert posts=' "$RAWOUT/RAW.out" | tail -1)
field() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" <<<"$2"; }
RAW_RATE=$(field posts_per_s "$RAW_LINE")
RAW_RATE_PARSE=$(field posts_per_s_with_parse "$RAW_LINE")
RAW_PARSE=$(field parse_s "$RAW_LINE")
RAW_INSERT_S=$(field insert_s "$RAW_LINE")
RAW_COMMIT=$(field commit_s "$RAW_LINE")
RAW_PARSE_CPU=$(field parse_cpu_s "$RAW_LINE")
RAW_INSERT_CPU=$(calc '%.1f' "$(field insert_cpu_s "$RAW_LINE") + $(field commit_cpu_s "$RAW_LINE")")
log "$RAW_LINE"

if [[ $RAW_UPSERT == 1 ]]; then
    log "raw insert with the store's upsert statement"
    cp -a "$ACCOUNTS_DIR" "$UPSERT_DIR"
    timed UPSERT "$RAW_INSERT" --posts "$POSTS_FILE" --dir "$UPSERT_DIR" --statement upsert
    UPSERT_LINE=$(grep '^raw_insert posts=' "$RAWOUT/UPSERT.out" | tail -1)
    log "$UPSERT_LINE"
fi

DB_MIB=$(du -sm "$TOLLGATE_DIR" | cut -f1)
TOTAL_MINUTES=$(calc '%.1f' "($(now) - $started) / 60")

# -- where the time goes ------------------------------------------------------------

# Self time by group of symbols, from a perf profile: the FTS5 full-text
# index, the rest of SQLite, JSON parsing, Tollgate's and rusqlite's Rust
# code, the C library (allocation and memory copies) and the kernel (I/O,
# page faults).
profile_groups() {
    perf report -i "$1" --no-children --sort dso,symbol --stdio -g none 2>/dev/null | awk '
        /^ +[0-9.]+%/ {
            pct = $1; sub(/%/, "", pct); dso = $2; sym = $0; sub(/.*\] /, "", sym); sub(/[ -]+$/, "", sym)
            if (dso ~ /kernel/) g = "kernel"
            else if (sym ~ /^(fts5|sqlite3Fts5)/) g = "sqlite-fts5"
            else if (sym ~ /serde_json|from_utf8|Timestamp::parse|read_line|append_to_string|memchr/) g = "json-parse"
            else if (sym ~ /^(tollgate|rusqlite|core::|alloc::|std::|hashbrown|foldhash|<)/) g = "rust"
            else if (dso ~ /libc/ || sym ~ /^(_int_|malloc|free|cfree|unlink_chunk|__mem|__strlen)/) g = "libc"
            else g = "sqlite-other"
            share[g] += pct
        }
        END { printf "%.0f %.0f %.0f %.0f %.0f %.0f\n", share["sqlite-fts5"], share["sqlite-other"], share["json-parse"], share["rust"], share["libc"], share["kernel"] }'
}
# The heaviest symbols by self time.
profile_top() {
    perf report -i "$1" --no-children --sort symbol --stdio -g none 2>/dev/null \
        | awk '/^ +[0-9.]+%/ { sym = $0; sub(/.*\] /, "", sym); sub(/[ -]+$/, "", sym); if (++n <= 8) printf "%s %s; ", $1, sym }'
}

if [[ $PROFILE == 1 ]]; then
    read -r TG_FTS TG_SQL TG_JSON TG_RUST TG_LIBC TG_KERNEL < <(profile_groups "$RAWOUT/TOLLGATE.perf")
    read -r RW_FTS RW_SQL RW_JSON RW_RUST RW_LIBC RW_KERNEL < <(profile_groups "$RAWOUT/RAW.perf")
    TG_TOP=$(profile_top "$RAWOUT/TOLLGATE.perf")
    RW_TOP=$(profile_top "$RAWOUT/RAW.perf")
fi

# -- results ----------------------------------------------------------------------------

RATIO=$(calc '%.2f' "$TG_RATE / $RAW_RATE")
RATIO_PARSE=$(calc '%.2f' "$TG_RATE / $RAW_RATE_PARSE")
TG_PER_CPU=$(calc '%.0f' "$POSTS / $TOLLGATE_CPU")
RAW_PER_CPU=$(calc '%.0f' "$POSTS / $RAW_INSERT_CPU")
RATIO_CPU=$(calc '%.2f' "$TG_PER_CPU / $RAW_PER_CPU")
VERDICT=$(awk -v r="$RATIO" 'BEGIN { print (r >= 0.7 ? "met" : "**missed**") }')

{
    echo "Recorded by \`bench/import.sh\` (ACCOUNTS=$ACCOUNTS POSTS=$POSTS SEED=$SEED); the whole script took $TOTAL_MINUTES min."
    echo
    echo "| Run | |"
    echo "| --- | --- |"
    echo "$MACHINE"
    echo "| Platform | $ACCOUNTS accounts, $POSTS posts ($(du -m "$POSTS_FILE" | cut -f1) MiB of JSON lines), \`tollgate generate --seed $SEED\` ($GENERATED) |"
    echo "| Starting state | a data directory holding the $ACCOUNTS accounts, copied for each contender; synchronous full; $DB_MIB MiB after the import |"
    echo
    echo "| Contender | Command | Posts/s (wall) | Wall s | CPU s | Posts per CPU s |"
    echo "| --- | --- | ---: | ---: | ---: | ---: |"
    echo "| Tollgate import | \`tollgate --data-dir DIR import --posts posts.jsonl\` | $TG_RATE | $TG_SECONDS (process: $TOLLGATE_WALL) | $TOLLGATE_CPU (whole process: read, parse, validate, insert) | $TG_PER_CPU |"
    echo "| Raw insert | \`raw_insert --posts posts.jsonl --dir DIR\` | $RAW_RATE | $(calc '%.1f' "$RAW_INSERT_S + $RAW_COMMIT") (insert $RAW_INSERT_S + commit $RAW_COMMIT) | $RAW_INSERT_CPU (insert and commit only) | $RAW_PER_CPU |"
    echo "| Raw insert, parse included | the same run, its untimed parse added back ($RAW_PARSE s wall, $RAW_PARSE_CPU s CPU) | $RAW_RATE_PARSE | $(calc '%.1f' "$RAW_INSERT_S + $RAW_COMMIT + $RAW_PARSE") | | |"
    if [[ $RAW_UPSERT == 1 ]]; then
        echo "| Raw insert, the store's upsert statement | \`raw_insert ... --statement upsert\` | $(field posts_per_s "$UPSERT_LINE") | $(calc '%.1f' "$(field insert_s "$UPSERT_LINE") + $(field commit_s "$UPSERT_LINE")") | $(calc '%.1f' "$(field insert_cpu_s "$UPSERT_LINE") + $(field commit_cpu_s "$UPSERT_LINE")") | |"
    fi
    echo
    echo "| Ratio | Value | Target ≥ 0.7 |"
    echo "| --- | ---: | --- |"
    echo "| Tollgate posts/s ÷ raw posts/s (wall; the figure the target is about) | $RATIO | $VERDICT |"
    echo "| Tollgate posts/s ÷ raw posts/s with the parse included (wall) | $RATIO_PARSE | |"
    echo "| Tollgate posts per CPU s ÷ raw posts per CPU s | $RATIO_CPU | |"
    if [[ $PROFILE == 1 ]]; then
        echo
        echo "Where the CPU goes: self time by group of symbols, sampled with \`perf record -F 99 -g\` during the runs above (groups by symbol name; \`json-parse\` includes reading lines; \`rust\` is Tollgate's and rusqlite's code and the standard library; \`libc\` is allocation and memory copies, mostly on SQLite's behalf)."
        echo
        echo "| Contender | sqlite-fts5 | sqlite-other | json-parse | rust | libc | kernel |"
        echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
        echo "| Tollgate import | $TG_FTS % | $TG_SQL % | $TG_JSON % | $TG_RUST % | $TG_LIBC % | $TG_KERNEL % |"
        echo "| Raw insert (parse included) | $RW_FTS % | $RW_SQL % | $RW_JSON % | $RW_RUST % | $RW_LIBC % | $RW_KERNEL % |"
        echo
        echo "Heaviest symbols, Tollgate import: $TG_TOP"
        echo
        echo "Heaviest symbols, raw insert: $RW_TOP"
    fi
    echo
    echo "Raw outputs and profiles: \`${RAWOUT#"$ROOT"/}/\`."
} >"$FRAGMENT"

cat "$FRAGMENT"
if recording; then
    record_results bench/import.sh "$FRAGMENT"
else
    log "not recorded in BENCHMARKS.md (not the full-size platform; RECORD=1 to force)"
fi
