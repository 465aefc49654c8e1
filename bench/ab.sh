#!/usr/bin/env bash
# A/B comparison of two `tollgate` binaries on the API benchmark's three
# endpoints, alternating, on one data directory: for measuring one change
# (an allocator, a ledger setting) against the build without it, in the same
# run, where bench/api.sh measures one build against its peers.
#
# Each round serves DATA with binary A, then with binary B (a fresh process
# each), and runs the same wrk command against the timeline of the busiest
# author, a lookup of 100 posts and a single post, as a first-party app for
# `display`. The requests are picked from the platform files `tollgate demo`
# leaves in DATA/generated, so DATA is a demo data directory
# (`tollgate demo --accounts 10000 --posts 200000 --no-serve`).
#
# Usage: bench/ab.sh BIN_A BIN_B
# Environment: DATA (required), DATA_B (B serves this copy of DATA instead,
# for builds whose data directories differ: a schema one of them cannot
# open; make it with the same `tollgate demo` command), ROUNDS (2),
# WRK_DURATION (8s), PORT (18190).
# Prints, per round, binary and endpoint: req/s, p99 and server CPU ms per
# request (user + system time of the server over the requests completed).
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $# -eq 2 ]] || die "usage: bench/ab.sh BIN_A BIN_B"
A=$1
B=$2
: "${DATA:?set DATA to a demo data directory}"
ROUNDS=${ROUNDS:-2}
WRK_DURATION=${WRK_DURATION:-8s}
PORT=${PORT:-18190}
need_tools wrk curl jq python3
# Every answered request adds a ledger entry to DATA (about 2.7 KB in the
# segment files and ledger.db): up to 20,000 a second, for two binaries,
# three endpoints and a 2 s warm-up plus WRK_DURATION each, per round.
secs=${WRK_DURATION%s}
[[ $secs =~ ^[0-9]+$ ]] || secs=8
check_disk $(( ROUNDS * 2 * 3 * (secs + 2) * 20000 * 27 / 10 / 1000000 + 1 ))
[[ -f $DATA/demo-credentials.json && -f $DATA/generated/posts.jsonl ]] || die "$DATA is not a demo data directory"
DATA_B=${DATA_B:-$DATA}
if [[ $DATA_B != "$DATA" ]]; then
    cmp -s "$DATA/generated/posts.jsonl" "$DATA_B/generated/posts.jsonl" \
        || die "$DATA_B does not hold the platform of $DATA: make both with the same \`tollgate demo\` command"
fi

PID=
cleanup() {
    if [[ -n $PID ]]; then
        kill "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
    fi
}
trap cleanup EXIT

# The requests: the busiest public author, and 100 posts of public authors.
read -r AUTHOR IDS < <(python3 - "$DATA/generated" <<'PY'
import json, random, sys, collections
d = sys.argv[1]
accounts = {}
for line in open(f"{d}/accounts.jsonl"):
    a = json.loads(line)
    accounts[a["id"]] = a
public = lambda a: a.get("status", "active") == "active" and not a.get("protected")
count, posts = collections.Counter(), []
for line in open(f"{d}/posts.jsonl"):
    p = json.loads(line)
    count[p["author_id"]] += 1
    if not p.get("deleted_at") and public(accounts[p["author_id"]]):
        posts.append(p["id"])
author = next(a for a, _ in count.most_common() if public(accounts[a]))
random.seed(1)
print(author, ",".join(map(str, random.sample(posts, 100))))
PY
)
# Each data directory has keys of its own.
token_of() { jq -r '.apps[] | select(.name=="demo-first-party") | .token' "$1/demo-credentials.json"; }
ENDPOINTS=("timeline /2/users/$AUTHOR/tweets?max_results=100" "lookup /2/tweets?ids=$IDS" "single /2/tweets/${IDS%%,*}")

measure() {
    local name=$1 bin=$2 data=$3 ep label path n t0 t1 token
    token=$(token_of "$data")
    (cd "$data" && exec "$bin" --data-dir "$data" --listen "127.0.0.1:$PORT" --rate-limit-first-party 0 serve) \
        2>"$BENCH_DIR/ab-$name.stderr" &
    PID=$!
    for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/healthz" && break; sleep 0.1; done
    for ep in "${ENDPOINTS[@]}"; do
        label=${ep%% *}
        path=${ep#* }
        wrk -t2 -c32 -d2s -H "Authorization: Bearer $token" -H "Tollgate-Purpose: display" \
            "http://127.0.0.1:$PORT$path" >/dev/null
        t0=$(awk '{print $14 + $15}' "/proc/$PID/stat")
        wrk -t2 -c32 -d"$WRK_DURATION" --latency -H "Authorization: Bearer $token" -H "Tollgate-Purpose: display" \
            "http://127.0.0.1:$PORT$path" >"$BENCH_DIR/ab-wrk.txt"
        t1=$(awk '{print $14 + $15}' "/proc/$PID/stat")
        n=$(awk '/requests in/ {print $1}' "$BENCH_DIR/ab-wrk.txt")
        printf '%-2s %-9s %9s req/s  p99 %9s  %s ms CPU/request\n' "$name" "$label" \
            "$(awk '/Requests\/sec/ {print $2}' "$BENCH_DIR/ab-wrk.txt")" \
            "$(awk '$1 == "99%" {print $2}' "$BENCH_DIR/ab-wrk.txt")" \
            "$(calc '%.4f' "($t1 - $t0) * 1000 / $(getconf CLK_TCK) / $n")"
    done
    kill "$PID"
    wait "$PID" 2>/dev/null || true
    PID=
}

for round in $(seq "$ROUNDS"); do
    log "round $round"
    measure A "$A" "$DATA"
    measure B "$B" "$DATA_B"
done
