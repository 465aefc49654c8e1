#!/usr/bin/env bash
# What the guard costs: the API benchmark's three endpoints (the timeline,
# the 100-id lookup and the single-post lookup, the same requests bench/api.sh
# makes, with its API key) and a public post page, served by the same release
# binary with the guard on and off (`--guard-enabled false`), alternately, in
# one run.
#
# The public page is asked for as a person would: anonymously, with a
# browser's user agent, sending back the `tg_id` continuity cookie the guard
# gave it, through a trusted proxy (`--guard-trusted-proxies 127.0.0.1/32`)
# whose `X-Forwarded-For` names a routable address, so that the client is
# not loopback. Both modes get the same flags and the same requests.
#
# The guard runs whole (identify, observe, the guard policy, the facts in
# the ledger, what was served counted back), but every answer must be a
# served 200: an extra guard policy (extend mode) forbids every action for
# the benchmark's two kinds of client, `app` and `browser`. Without it, the
# built-in pack blocks the benchmark's app for `volume` (more than 1,000,000
# posts served in a day) within the first second of the timeline's warm-up,
# and the guard's cost would be that of answering 403s. The guard policy's
# answer is cached per class, so the extra policy costs nothing per request.
#
# The two modes take turns, ROUNDS times, each on a freshly started server
# (fresh counters) after a warm-up, so that the machine's drift falls on both
# alike. Per endpoint: the throughput at WRK_CONNECTIONS connections (cost =
# 1 - on / off) and its latency percentiles; and the latency with one
# connection (no queueing: what the guard adds to one request), p50, p95
# and p99 (wrk's distribution, read by bench/wrk_percentiles.lua). The
# server's CPU time per request (from /proc, around the throughput run) is
# the steadiest figure on a shared machine: what the guard adds to it is
# its cost whatever else the machine runs.
#
# It serves the data directory bench/api.sh imported ($BENCH_DIR/api-data,
# the full-size platform); DATA=DIR serves another one, with
# ACCOUNTS/POSTS naming the platform files the requests are picked from.
#
# Every request served is recorded in $DATA's ledger: a default run grows the
# data directory by about 5 GB.
#
# Usage: bench/guard_cost.sh
# Environment: DATA, ROUNDS (2), WRK_THREADS, WRK_CONNECTIONS, WRK_DURATION,
# WRK_ONE_DURATION, WRK_WARMUP (2, 32, 10s, 10s, 3s), RECORD (as bench/api.sh).
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT=18185
ROUNDS=${ROUNDS:-2}
WRK_THREADS=${WRK_THREADS:-2}
WRK_CONNECTIONS=${WRK_CONNECTIONS:-32}
WRK_DURATION=${WRK_DURATION:-10s}
WRK_ONE_DURATION=${WRK_ONE_DURATION:-10s}
WRK_WARMUP=${WRK_WARMUP:-3s}
DATA=${DATA:-$BENCH_DIR/api-data}
RAWOUT=$BENCH_DIR/guard-cost-raw
FRAGMENT=$BENCH_DIR/guard-cost-results.md
LUA=$ROOT/bench/wrk_percentiles.lua
# A browser, as the public page's reader.
BROWSER_UA="Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36"
# The reader's address, as the trusted proxy forwards it (TEST-NET-2).
READER_IP=198.51.100.7

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
[[ -f $DATA/tollgate.db ]] || die "no data directory at $DATA: run bench/api.sh first (it imports the platform), or set DATA"
[[ -f $DATASET/posts.jsonl ]] || die "no platform files in $DATASET to pick requests from (ACCOUNTS/POSTS/SEED name them)"
mkdir -p "$RAWOUT"
# Every request served is a ledger entry in $DATA (about 2.7 KB of it on disk,
# `ledger.db` and the segment files): the default run (2 rounds) grows it by
# about 10 GB, and the access log in $RAWOUT/serve.log by about 1 GB.
check_disk 12
cd "$BENCH_DIR"
MACHINE=$(machine_rows)

log "building the release binary"
(cd "$ROOT" && cargo build --release --quiet -p tollgate-cli)
"$TOLLGATE" --help | grep -q -- '--guard-enabled' || die "tollgate has no --guard-enabled flag"

POLICY_DIR=$RAWOUT/guard-policy
mkdir -p "$POLICY_DIR"
cat >"$POLICY_DIR/bench.cedar" <<'EOF'
// bench/guard_cost.sh: the benchmark's clients are always served, so that
// the guard's cost is measured on served requests (see the script).
@id("benchmark-clients-are-served")
@reason("benchmark")
forbid (principal, action, resource)
when { principal.kind == "app" || principal.kind == "browser" };
EOF
COMMON=(--guard-trusted-proxies 127.0.0.1/32 --guard-policy-dir "$POLICY_DIR" --synchronous full)

TOKEN=$("$TOLLGATE" --data-dir "$DATA" app create --name "guard-cost-$(date +%s)" --tier first-party \
    --purposes display --json | jq -r .token)
[[ $TOKEN == tg_* ]] || die "app create printed no token"
pick_requests

! curl -s -o /dev/null "http://127.0.0.1:$PORT/" || die "something already listens on 127.0.0.1:$PORT"

# The public page of the single post: its author's handle, from the API.
page_path() {
    local body handle
    body=$(curl -sf -H "Authorization: Bearer $TOKEN" \
        "http://127.0.0.1:$PORT$SINGLE_PATH?expansions=author_id&user.fields=username") \
        || die "$SINGLE_PATH?expansions=author_id did not answer 200"
    handle=$(jq -r '.includes.users[0].username // empty' <<<"$body")
    [[ -n $handle ]] || die "no author's username in the answer to $SINGLE_PATH?expansions=author_id"
    PAGE_PATH="/$handle/status/$SINGLE_ID"
}

# The continuity cookie the guard gives the reader on its first page.
reader_cookie() {
    local headers
    headers=$(curl -s -o /dev/null -D - -A "$BROWSER_UA" -H "X-Forwarded-For: $READER_IP" \
        "http://127.0.0.1:$PORT$PAGE_PATH")
    COOKIE=$(tr -d '\r' <<<"$headers" | sed -n 's/^[Ss]et-[Cc]ookie: \(tg_id=[^;]*\).*/\1/p' | head -1)
    [[ -n $COOKIE ]] || die "the guard set no tg_id cookie on $PAGE_PATH"
}

# Fails unless the request answers 200 without a guard's answer, and (with
# the guard on) a reader sending its cookie back is given no new one.
check_served() {
    local mode=$1 endpoint=$2 url=$3 headers status
    shift 3
    headers=$(curl -s -o /dev/null -D - "$@" "$url" | tr -d '\r')
    status=$(awk 'NR == 1 { print $2 }' <<<"$headers")
    [[ $status == 200 ]] || die "$endpoint answered $status with the guard $mode"
    ! grep -qi '^tollgate-guard:' <<<"$headers" || die "$endpoint was answered by the guard ($mode): $(grep -i '^tollgate-guard:' <<<"$headers")"
    if [[ $endpoint == page && $mode == on ]] && grep -qi '^set-cookie: tg_id=' <<<"$headers"; then
        die "the reader's cookie was not taken back: the guard set a new one"
    fi
}

# The named figure of a wrk output (rps, or a percentile in ms).
figure() {
    case $1 in
        rps) awk '/^Requests\/sec:/ { print $2 }' "$2" ;;
        non2xx) awk '$1 == "non_2xx_3xx" { print $2 }' "$2" ;;
        errors) awk '$1 == "socket_errors" { print $2 }' "$2" ;;
        requests) awk '/ requests in / { print $1 }' "$2" ;;
        p*) awk -v p="${1#p}" '$1 == "percentile_us" && $2 == p { printf "%.3f", $3 / 1000 }' "$2" ;;
    esac
}

# The server's CPU time so far, in clock ticks (user and system).
cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$TG_PID/stat"; }

declare -A R
ENDPOINTS=(timeline lookup single page)
for round in $(seq 1 "$ROUNDS"); do
    for mode in on off; do
        if [[ $mode == on ]]; then
            start_tollgate "${COMMON[@]}"
        else
            start_tollgate "${COMMON[@]}" --guard-enabled false
        fi
        # Requests whose every post Tollgate delivers, as bench/api.sh makes.
        [[ -n ${SETTLED:-} ]] || settle_requests
        [[ -n ${PAGE_PATH:-} ]] || page_path
        [[ -n ${COOKIE:-} || $mode == off ]] || reader_cookie
        for endpoint in "${ENDPOINTS[@]}"; do
            case $endpoint in
                timeline) url="http://127.0.0.1:$PORT$TIMELINE_PATH?$TIMELINE_QUERY" ;;
                lookup) url="http://127.0.0.1:$PORT$LOOKUP_PATH?$LOOKUP_QUERY" ;;
                single) url="http://127.0.0.1:$PORT$SINGLE_PATH" ;;
                page) url="http://127.0.0.1:$PORT$PAGE_PATH" ;;
            esac
            if [[ $endpoint == page ]]; then
                hdr=(-H "User-Agent: $BROWSER_UA" -H "Accept: text/html,application/xhtml+xml"
                    -H "Accept-Language: en-US,en;q=0.9" -H "Cookie: $COOKIE" -H "X-Forwarded-For: $READER_IP")
            else
                hdr=(-H "Authorization: Bearer $TOKEN")
            fi
            check_served "$mode" "$endpoint" "$url" "${hdr[@]}"
            wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"$WRK_WARMUP" "${hdr[@]}" "$url" >/dev/null
            for load in many one; do
                out=$RAWOUT/$endpoint.$mode.$load.$round.txt
                if [[ $load == many ]]; then
                    ticks=$(cpu_ticks)
                    wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"$WRK_DURATION" --latency -s "$LUA" "${hdr[@]}" "$url" >"$out"
                    ticks=$(( $(cpu_ticks) - ticks ))
                    R[$endpoint.$mode.cpu_us]="${R[$endpoint.$mode.cpu_us]:-} $(calc '%.1f' "1e6 * $ticks / $(getconf CLK_TCK) / $(figure requests "$out")")"
                else
                    wrk -t1 -c1 -d"$WRK_ONE_DURATION" --latency -s "$LUA" "${hdr[@]}" "$url" >"$out"
                fi
                rps=$(figure rps "$out")
                [[ -n $rps ]] || die "wrk printed no rate; see $out"
                [[ $(figure non2xx "$out") == 0 ]] || die "$(figure non2xx "$out") answers were not 2xx or 3xx; see $out"
                [[ $(figure errors "$out") == 0 ]] || die "$(figure errors "$out") socket errors; see $out"
                for f in rps p50 p95 p99; do
                    R[$endpoint.$mode.$load.$f]="${R[$endpoint.$mode.$load.$f]:-} $(figure "$f" "$out")"
                done
                log "round $round, guard $mode, $endpoint, $load: $rps req/s, p50 $(figure p50 "$out") ms, p95 $(figure p95 "$out") ms, p99 $(figure p99 "$out") ms"
            done
        done
        stop_tollgate
    done
done

mean() { tr ' ' '\n' <<<"$1" | awk -v f="${2:-%.0f}" 'NF { s += $1; n++ } END { printf f, s / n }'; }
each() { tr ' ' '\n' <<<"$1" | awk -v f="${2:-%.0f}" 'NF { printf "%s" f, sep, $1; sep = ", " }'; }
name_of() {
    case $1 in
        timeline) echo "\`GET $TIMELINE_PATH?$TIMELINE_QUERY\` (key)" ;;
        lookup) echo "\`GET /2/tweets?ids=<100 ids>\` (key)" ;;
        single) echo "\`GET $SINGLE_PATH\` (key)" ;;
        page) echo "\`GET $PAGE_PATH\` (a reader with its cookie)" ;;
    esac
}

{
    echo "| | |"
    echo "| --- | --- |"
    echo "$MACHINE"
    echo "| Platform | $ACCOUNTS accounts, $POSTS posts (seed $SEED), served from \`${DATA#"$ROOT"/}\` |"
    echo "| Requests | $SETTLED; the single post is the lookup's first, the page is its public page |"
    echo "| Throughput | \`wrk -t$WRK_THREADS -c$WRK_CONNECTIONS -d$WRK_DURATION --latency\` after a $WRK_WARMUP warm-up, per endpoint, per server start; $ROUNDS rounds, the guard on and off alternating |"
    echo "| One request at a time | \`wrk -t1 -c1 -d$WRK_ONE_DURATION --latency\`, right after |"
    echo
    echo "| Endpoint | Guard on, req/s (each round) | Off, req/s (each round) | On / off | Guard cost (1 - on/off) | Target |"
    echo "| --- | ---: | ---: | ---: | ---: | --- |"
    for e in "${ENDPOINTS[@]}"; do
        on=$(mean "${R[$e.on.many.rps]}")
        off=$(mean "${R[$e.off.many.rps]}")
        cost=$(calc '%.1f' "100 * (1 - $on / $off)")
        # Judged on the figures, not on the rounded print of the cost.
        verdict=$(awk -v a="$on" -v b="$off" 'BEGIN { print (100 * (1 - a / b) <= 10 ? "≤ 10 %: met" : "≤ 10 %: **missed**") }')
        echo "| $(name_of "$e") | $on ($(each "${R[$e.on.many.rps]}")) | $off ($(each "${R[$e.off.many.rps]}")) | $(calc '%.3f' "$on / $off") | $cost % | $verdict |"
    done
    echo
    echo "Server CPU time per request at $WRK_CONNECTIONS connections, µs, mean of the rounds (each round)."
    echo
    echo "| Endpoint | Guard on | Off | Added by the guard | Added / off |"
    echo "| --- | ---: | ---: | ---: | ---: |"
    for e in "${ENDPOINTS[@]}"; do
        on=$(mean "${R[$e.on.cpu_us]}" '%.1f')
        off=$(mean "${R[$e.off.cpu_us]}" '%.1f')
        echo "| $(name_of "$e") | $on ($(each "${R[$e.on.cpu_us]}" '%.1f')) | $off ($(each "${R[$e.off.cpu_us]}" '%.1f')) | $(calc '%+.1f' "$on - $off") | $(calc '%+.1f %%' "100 * ($on - $off) / $off") |"
    done
    for load in one many; do
        echo
        if [[ $load == one ]]; then
            echo "Latency with one connection (no queueing), ms, mean of the rounds: guard on / off / added."
        else
            echo "Latency at $WRK_CONNECTIONS connections (queueing included), ms, mean of the rounds: guard on / off / added."
        fi
        echo
        echo "| Endpoint | p50 | p95 | p99 | Target: p95 added ≤ 0.2 ms |"
        echo "| --- | ---: | ---: | ---: | --- |"
        for e in "${ENDPOINTS[@]}"; do
            row="| $(name_of "$e")"
            for f in p50 p95 p99; do
                on=$(mean "${R[$e.on.$load.$f]}" '%.3f')
                off=$(mean "${R[$e.off.$load.$f]}" '%.3f')
                row="$row | $on / $off / $(calc '%+.3f' "$on - $off")"
                [[ $f == p95 ]] && added95=$(calc '%.3f' "$on - $off")
            done
            echo "$row | $(awk -v a="$added95" 'BEGIN { print (a <= 0.2 ? "met" : "**missed**") }') |"
        done
    done
    echo
    echo "Raw wrk outputs: \`${RAWOUT#"$ROOT"/}/\`."
} >"$FRAGMENT"

cat "$FRAGMENT"
if recording; then
    record_results bench/guard_cost.sh "$FRAGMENT"
else
    log "not recorded in BENCHMARKS.md (not the full-size platform; RECORD=1 to force)"
fi
