#!/usr/bin/env bash
# Compliance job benchmark: one batch compliance job of 1,000,000 post ids,
# end to end, against a served platform on loopback.
#
# Builds the release binary, generates (or reuses) a platform of 100,000
# accounts and 1,000,000 posts, imports it into a fresh data directory
# (REUSE_DATA=1 keeps one an earlier run imported), creates a partner app
# declaring display and train-genai, serves it, and times, with curl, one job
# of every post id of the platform (IDS ids: the first lines of posts.jsonl):
#   create   POST /2/compliance/jobs
#   upload   PUT of the id file to the job's upload_url
#   process  polling GET /2/compliance/jobs/:id every 20 ms until `complete`
#   download GET of the download_url
# The figure is the sum, upload to download, against the target of 10 s.
# Peak RSS is VmHWM of the server process after the job.
#
# The baseline: the time to read the same ids through `Store::posts` (and
# their authors through `Store::accounts`) alone, in batches as a job reads
# them, with nothing decided, stored or sent (the store-sqlite example
# `read_ids`), on the same data directory right after the job; the ratio
# job / baseline is what deciding, storing and sending adds to the reads.
#
# Recording: RECORD=1 (the default) writes the table into BENCHMARKS.md
# between the markers of this script, and refuses to start from a work tree
# that differs from HEAD (BENCHMARKS.md aside); RECORD=0 prints it only.
#
# Usage: bench/compliance_job.sh
# Environment: ACCOUNTS, POSTS, SEED (100000, 1000000, 42), IDS (1000000),
# BENCH_DIR (bench/out), REUSE_DATA (0), RECORD (1).
set -euo pipefail
ACCOUNTS=${ACCOUNTS:-100000}
POSTS=${POSTS:-1000000}
RECORD=${RECORD:-1}
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT=18191
IDS=${IDS:-1000000}
REUSE_DATA=${REUSE_DATA:-0}
DATA=$BENCH_DIR/jobs-data
RAWOUT=$BENCH_DIR/jobs-raw
FRAGMENT=$BENCH_DIR/jobs-results.md
READ_IDS=$ROOT/target/release/examples/read_ids
TG_PID=

cleanup() {
    if [[ -n $TG_PID ]]; then kill -TERM "$TG_PID" 2>/dev/null || true; wait "$TG_PID" 2>/dev/null || true; fi
}
trap cleanup EXIT

need_tools curl jq
check_recordable
check_disk 2
mkdir -p "$RAWOUT"

log "building the release binaries"
(cd "$ROOT" && cargo build --release --quiet -p tollgate-cli && cargo build --release --quiet -p tollgate-store-sqlite --example read_ids)
ensure_platform

MARKER=$DATA/bench-platform
PLATFORM_KEY="accounts=$ACCOUNTS posts=$POSTS seed=$SEED"
if [[ $REUSE_DATA == 1 && -f $MARKER && $(head -1 "$MARKER") == "$PLATFORM_KEY" ]]; then
    log "reusing the data directory $DATA ($PLATFORM_KEY)"
else
    log "importing into $DATA"
    rm -rf "$DATA"
    "$TOLLGATE" --data-dir "$DATA" import --accounts "$DATASET/accounts.jsonl" --posts "$DATASET/posts.jsonl" \
        2>"$RAWOUT/import.log"
    echo "$PLATFORM_KEY" >"$MARKER"
fi

# The job's ids: the first IDS post ids of the platform, one per line.
IDFILE=$RAWOUT/ids.txt
head -n "$IDS" "$DATASET/posts.jsonl" | sed 's/^{"id":\([0-9]*\),.*/\1/' >"$IDFILE"
[[ $(wc -l <"$IDFILE") -eq $IDS ]] || die "the platform has fewer than $IDS posts: set POSTS to at least IDS"
grep -qv '^[0-9]*$' "$IDFILE" && die "could not read the post ids from $DATASET/posts.jsonl"

TOKEN=$("$TOLLGATE" --data-dir "$DATA" app create --name "jobs-$(date +%s)" --tier partner \
    --purposes display,train-genai --licensed train-genai --json | jq -r .token)
[[ $TOKEN == tg_* ]] || die "app create printed no token"

# shellcheck disable=SC2119 # the server takes no extra flags here
start_tollgate
BASE=http://127.0.0.1:$PORT
AUTH=(-H "Authorization: Bearer $TOKEN")

log "running a job of $IDS ids"
t0=$(now)
JOB=$(curl -sSf "${AUTH[@]}" -H 'Content-Type: application/json' -d '{"type": "tweets", "name": "bench"}' "$BASE/2/compliance/jobs")
t_created=$(now)
JOB_ID=$(jq -r .data.id <<<"$JOB")
UPLOAD_URL=$(jq -r .data.upload_url <<<"$JOB")
DOWNLOAD_URL=$(jq -r .data.download_url <<<"$JOB")
curl -sSf -X PUT -H 'Content-Type: text/plain' --data-binary "@$IDFILE" "$UPLOAD_URL" >/dev/null
t_uploaded=$(now)
status=
for _ in $(seq 1 3000); do
    status=$(curl -sSf "${AUTH[@]}" "$BASE/2/compliance/jobs/$JOB_ID" | jq -r .data.status)
    [[ $status == complete || $status == failed ]] && break
    sleep 0.02
done
[[ $status == complete ]] || die "the job is $status, not complete; see $RAWOUT/serve.log"
t_complete=$(now)
curl -sSf -o "$RAWOUT/results.jsonl" "$DOWNLOAD_URL"
t_downloaded=$(now)
RSS_MIB=$(awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$TG_PID/status")
LINES=$(wc -l <"$RAWOUT/results.jsonl")
REASONS=$(jq -r .reason "$RAWOUT/results.jsonl" | sort | uniq -c | sort -rn | awk '{ printf "%s%s %s", sep, $2, $1; sep = ", " }')
cleanup
TG_PID=

log "reading the same ids through Store::posts and Store::accounts"
BASELINE=$("$READ_IDS" --dir "$DATA" --ids "$IDFILE" 2>/dev/null | tail -1)
POSTS_S=${BASELINE##* posts_s=}
POSTS_S=${POSTS_S%% *}
ACCOUNTS_S=${BASELINE##* accounts_s=}

UPLOAD_S=$(calc '%.2f' "$t_uploaded - $t_created")
PROCESS_S=$(calc '%.2f' "$t_complete - $t_uploaded")
DOWNLOAD_S=$(calc '%.2f' "$t_downloaded - $t_complete")
TOTAL_S=$(calc '%.2f' "$t_downloaded - $t_created")
CREATE_MS=$(calc '%.1f' "($t_created - $t0) * 1000")
MET=$(awk -v t="$TOTAL_S" 'BEGIN { print (t < 10 ? "met" : "missed") }')

{
    echo "Run of \`bench/compliance_job.sh\` (ACCOUNTS=$ACCOUNTS POSTS=$POSTS SEED=$SEED IDS=$IDS):"
    echo
    echo "| | |"
    echo "|---|---|"
    machine_rows
    echo
    echo "| step | seconds |"
    echo "|---|---:|"
    echo "| create (\`POST /2/compliance/jobs\`) | $(calc '%.3f' "$CREATE_MS / 1000") |"
    echo "| upload ($(calc '%.1f' "$(stat -c %s "$IDFILE") / 1048576") MiB, $IDS ids) | $UPLOAD_S |"
    echo "| processing (upload answered → \`complete\`, polled every 20 ms) | $PROCESS_S |"
    echo "| download ($LINES lines) | $DOWNLOAD_S |"
    echo "| **upload → complete → download** (target < 10 s: **$MET**) | **$TOTAL_S** |"
    echo "| baseline: the same ids through \`Store::posts\` alone | $POSTS_S |"
    echo "| baseline: their authors through \`Store::accounts\` | $ACCOUNTS_S |"
    echo "| **job / posts baseline** | **$(calc '%.2f' "$TOTAL_S / $POSTS_S")** |"
    echo "| job / posts and accounts baseline | $(calc '%.2f' "$TOTAL_S / ($POSTS_S + $ACCOUNTS_S)") |"
    echo
    echo "Peak RSS of the server: $RSS_MIB MiB. Result lines by reason: $REASONS."
} >"$FRAGMENT"
cat "$FRAGMENT"
if [[ $RECORD == 1 ]]; then
    record_results bench/compliance_job.sh "$FRAGMENT"
fi
