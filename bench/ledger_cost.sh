#!/usr/bin/env bash
# What the ledger costs the API: the API benchmark's three endpoints (the
# timeline, the 100-id lookup and the single-post lookup, the same requests
# bench/api.sh makes) served by the same binary with the ledger and without
# it, alternately, in one run.
#
# The binary is built with the `bench-unrecorded` feature, which adds one
# thing: started with TOLLGATE_BENCH_UNRECORDED=1, `tollgate serve` releases
# without recording (no writer thread, no entries, no index). Everything else
# (reads, the policy, rendering) is the same code. The two modes take turns,
# ROUNDS times, each on a freshly started server after a warm-up, so that the
# machine's drift falls on both alike. The cost is 1 - (with / without).
#
# It serves the data directory bench/api.sh imported ($BENCH_DIR/api-data,
# the full-size platform); DATA=DIR serves another one (`tollgate demo`
# leaves one in ./tollgate-data), with ACCOUNTS/POSTS naming the platform
# files the requests are picked from.
#
# Usage: bench/ledger_cost.sh
# Environment: DATA, ROUNDS (2), WRK_THREADS, WRK_CONNECTIONS, WRK_DURATION,
# WRK_WARMUP (2, 32, 20s, 5s), RECORD (as bench/api.sh).
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT=18183
ROUNDS=${ROUNDS:-2}
WRK_THREADS=${WRK_THREADS:-2}
WRK_CONNECTIONS=${WRK_CONNECTIONS:-32}
WRK_DURATION=${WRK_DURATION:-20s}
WRK_WARMUP=${WRK_WARMUP:-5s}
DATA=${DATA:-$BENCH_DIR/api-data}
RAWOUT=$BENCH_DIR/ledger-cost-raw
FRAGMENT=$BENCH_DIR/ledger-cost-results.md

TG_PID=
cleanup() {
    if [[ -n $TG_PID ]]; then
        kill "$TG_PID" 2>/dev/null || true
        wait "$TG_PID" 2>/dev/null || true
    fi
}
trap cleanup EXIT

need_tools wrk curl jq
check_recordable
# Every request served with the ledger is an entry in $DATA (about 2.7 KB of
# it on disk): the default run (2 rounds) grows it by about 6 GB.
check_disk 8
[[ -f $DATA/tollgate.db ]] || die "no data directory at $DATA: run bench/api.sh first (it imports the platform), or set DATA"
[[ -f $DATASET/posts.jsonl ]] || die "no platform files in $DATASET to pick requests from (ACCOUNTS/POSTS/SEED name them)"
mkdir -p "$RAWOUT"
cd "$BENCH_DIR"
MACHINE=$(machine_rows)

log "building the release binary with the bench-unrecorded feature"
(cd "$ROOT" && cargo build --release --quiet -p tollgate-cli --features bench-unrecorded)

TOKEN=$("$TOLLGATE" --data-dir "$DATA" app create --name "ledger-cost-$(date +%s)" --tier first-party \
    --purposes display --json | jq -r .token)
[[ $TOKEN == tg_* ]] || die "app create printed no token"
pick_requests

! curl -s -o /dev/null "http://127.0.0.1:$PORT/" || die "something already listens on 127.0.0.1:$PORT"

declare -A RPS
WRK_ARGS=(-t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -H "Authorization: Bearer $TOKEN")
for round in $(seq 1 "$ROUNDS"); do
    for mode in ledger unrecorded; do
        if [[ $mode == unrecorded ]]; then
            TOLLGATE_BENCH_UNRECORDED=1 start_tollgate --synchronous full
        else
            start_tollgate --synchronous full
        fi
        # Requests whose every post Tollgate delivers, as bench/api.sh makes.
        [[ -n ${SETTLED:-} ]] || settle_requests
        for endpoint in timeline lookup single; do
            case $endpoint in
                timeline) url="http://127.0.0.1:$PORT$TIMELINE_PATH?$TIMELINE_QUERY" ;;
                lookup) url="http://127.0.0.1:$PORT$LOOKUP_PATH?$LOOKUP_QUERY" ;;
                single) url="http://127.0.0.1:$PORT$SINGLE_PATH" ;;
            esac
            status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$url")
            [[ $status == 200 ]] || die "$url answered $status in mode $mode"
            wrk "${WRK_ARGS[@]}" -d"$WRK_WARMUP" "$url" >/dev/null
            out=$RAWOUT/$endpoint.$mode.$round.txt
            wrk "${WRK_ARGS[@]}" -d"$WRK_DURATION" "$url" >"$out"
            rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
            [[ -n $rps ]] || die "wrk printed no rate; see $out"
            log "round $round, $mode, $endpoint: $rps req/s"
            RPS[$endpoint.$mode]="${RPS[$endpoint.$mode]:-} $rps"
        done
        stop_tollgate
    done
done

mean() { tr ' ' '\n' <<<"$1" | awk 'NF { s += $1; n++ } END { printf "%.0f", s / n }'; }
each() { tr ' ' '\n' <<<"$1" | awk 'NF { printf "%s%.0f", sep, $1; sep = ", " }'; }

{
    echo "| | |"
    echo "| --- | --- |"
    echo "$MACHINE"
    echo "| Platform | $ACCOUNTS accounts, $POSTS posts (seed $SEED), served from \`${DATA#"$ROOT"/}\` |"
    echo "| Requests | $SETTLED; the single post is the lookup's first |"
    echo "| Load generator | \`wrk -t$WRK_THREADS -c$WRK_CONNECTIONS -d$WRK_DURATION\` after a $WRK_WARMUP warm-up, per endpoint, per server start; $ROUNDS rounds, the two modes alternating |"
    echo
    echo "| Endpoint | With the ledger, req/s (each round) | Without, req/s (each round) | With / without | Ledger cost | Target |"
    echo "| --- | ---: | ---: | ---: | ---: | --- |"
    for endpoint in timeline lookup single; do
        with=$(mean "${RPS[$endpoint.ledger]}")
        without=$(mean "${RPS[$endpoint.unrecorded]}")
        ratio=$(calc '%.3f' "$with / $without")
        cost=$(calc '%.1f' "100 * (1 - $with / $without)")
        # Judged on the figures, not on the rounded print of the cost.
        verdict=$(awk -v w="$with" -v o="$without" 'BEGIN { print (100 * (1 - w / o) < 10 ? "< 10 %: met" : "< 10 %: **missed**") }')
        case $endpoint in
            timeline) name="\`GET $TIMELINE_PATH?$TIMELINE_QUERY\`" ;;
            lookup) name="\`GET /2/tweets?ids=<100 ids>\`" ;;
            single) name="\`GET $SINGLE_PATH\`" ;;
        esac
        echo "| $name | $with ($(each "${RPS[$endpoint.ledger]}")) | $without ($(each "${RPS[$endpoint.unrecorded]}")) | $ratio | $cost % | $verdict |"
    done
    echo
    echo "Raw wrk outputs: \`${RAWOUT#"$ROOT"/}/\`."
} >"$FRAGMENT"

cat "$FRAGMENT"
if recording; then
    record_results bench/ledger_cost.sh "$FRAGMENT"
else
    log "not recorded in BENCHMARKS.md (not the full-size platform; RECORD=1 to force)"
fi
