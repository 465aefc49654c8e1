#!/usr/bin/env bash
# API benchmark: Tollgate against a minimal server reading the same rows and
# against nginx serving the very same response bytes.
#
# Builds the release binaries, generates (or reuses) the platform, imports it
# into a fresh data directory (timed; REUSE_DATA=1 skips this), creates a
# first-party app, serves it with no rate limit and measures with wrk, on the
# same machine in the same run, three endpoints:
#   (a) GET /2/users/:id/tweets?max_results=100 of a prolific author,
#   (b) GET /2/tweets?ids=<100 post ids spread over the whole platform>,
#   (c) GET /2/tweets/:id, the first of those posts,
# each against three contenders in turn, with the same wrk command:
#   tollgate  `tollgate serve` (authentication, policy, ledger);
#   minimal   crates/bench-minimal: the same rows read from the same
#             tollgate.db per request (one read-only connection per worker
#             thread, cached prepared statements, typed serde structs), the
#             same bytes, no authentication, policy or ledger;
#   nginx     the response body saved from Tollgate, as a static file, with
#             the same Content-Type.
# Before measuring, the minimal server's and nginx's bodies are compared with
# Tollgate's byte for byte (`cmp`); the script stops if one differs. The
# requests are picked so that Tollgate withholds none of their posts (see
# settle_requests in bench/lib.sh): the minimal server has no policy.
#
# The figures: Tollgate/nginx (the targets below), Tollgate/minimal (what
# Tollgate's guarantees cost over the least a dynamic server does), CPU per
# request, latency, peak RSS. The results open with the targets, each stated
# met or missed with its figure:
#   timeline req/s, Tollgate / nginx               >= 0.25
#   100-id lookup req/s, Tollgate / nginx          >= 0.20
#   single-post lookup req/s, Tollgate / nginx     >= 0.30
#   server CPU per request, timeline / lookup      <= 0.04 / 0.06 ms
#   p99 latency at 32 connections, timeline        <= 5 ms
#   peak RSS on the 1M-account, 10M-post platform  <= 2 GiB
# Ratios between contenders of the same run are the figures to compare
# across machines; absolute numbers drift with the machine and its
# neighbours.
#
# For Tollgate, /metrics is scraped before and after each measured run: the
# deltas of tollgate_policy_seconds_total and tollgate_ledger_wait_seconds_total
# over tollgate_request_seconds_total are the shares of handler wall time
# spent deciding and waiting for the ledger (not CPU shares). Peak RSS is
# VmHWM of the server process. Each endpoint is then measured once more
# against a server running with --synchronous normal, and once with one
# connection at a time (no queueing) to show what one request costs.
#
# Recording: when this run records (RECORD), it refuses to start from a work
# tree that differs from HEAD (BENCHMARKS.md aside) and the tables name the
# commit; RECORD=0 prints the results without recording them.
#
# Usage: bench/api.sh
# Environment: ACCOUNTS, POSTS, SEED (the platform; 1000000, 10000000, 42),
# BENCH_DIR (bench/out), WRK_THREADS, WRK_CONNECTIONS, WRK_DURATION,
# WRK_WARMUP (2, 32, 20s, 5s), SYNC_NORMAL (1: also measure
# --synchronous normal), PROFILE (1: sample the server with perf in a run of
# PROFILE_DURATION (10s) after each measured one; default 1 when perf is
# installed), RECORD (auto: write
# BENCHMARKS.md only for the full-size platform; 1 always; 0 never),
# REUSE_DATA (1: serve the data directory an earlier run imported and skip
# the import, if it holds the same platform (ACCOUNTS, POSTS, SEED) as the
# file `bench-platform` a completed import leaves in it says; otherwise
# import as usual. The reused ledger keeps the earlier runs' entries, and
# the import figures shown are the earlier run's. Default 0).
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT=18181
NGINX_PORT=18182
MINIMAL_PORT=18184
WRK_THREADS=${WRK_THREADS:-2}
WRK_CONNECTIONS=${WRK_CONNECTIONS:-32}
WRK_DURATION=${WRK_DURATION:-20s}
WRK_WARMUP=${WRK_WARMUP:-5s}
SYNC_NORMAL=${SYNC_NORMAL:-1}
PROFILE=${PROFILE:-$(command -v perf >/dev/null 2>&1 && echo 1 || echo 0)}
PROFILE_DURATION=${PROFILE_DURATION:-10s}
REUSE_DATA=${REUSE_DATA:-0}

DATA=$BENCH_DIR/api-data
WWW=$BENCH_DIR/api-www
NGINX_DIR=$BENCH_DIR/api-nginx
RAWOUT=$BENCH_DIR/api-raw
FRAGMENT=$BENCH_DIR/api-results.md

TG_PID=
NGINX_PID=
MINIMAL_PID=

# Stops the servers this script started, whatever way it ends.
cleanup() {
    local pid
    for pid in $TG_PID $NGINX_PID $MINIMAL_PID; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in $TG_PID $NGINX_PID $MINIMAL_PID; do
        wait "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT

need_tools wrk nginx curl jq
check_recordable
mkdir -p "$BENCH_DIR" "$WWW" "$NGINX_DIR/tmp" "$RAWOUT"
cd "$BENCH_DIR"
check_disk $(( POSTS / 1000000 + 3 ))
MACHINE=$(machine_rows)
started=$(now)

# -- build, platform, import ---------------------------------------------------

build_release
ensure_platform

# The import of both files into an empty data directory, timed from the
# outside (wall, process start to exit) and as the import reports it. A
# completed import leaves the file $DATA/bench-platform: the platform it
# holds on its first line, then the import's wall seconds and summary, which
# REUSE_DATA=1 reads back instead of importing again.
MARKER=$DATA/bench-platform
PLATFORM_KEY="accounts=$ACCOUNTS posts=$POSTS seed=$SEED"
if [[ $REUSE_DATA == 1 && -f $MARKER && -f $DATA/tollgate.db && $(head -1 "$MARKER") == "$PLATFORM_KEY" ]]; then
    IMPORT_WALL=$(sed -n 2p "$MARKER")
    IMPORT_SUMMARY=$(sed -n 3p "$MARKER")
    IMPORTED="imported by an earlier run and reused (REUSE_DATA=1)"
    log "reusing the data directory $DATA ($PLATFORM_KEY)"
else
    [[ $REUSE_DATA == 1 ]] && log "no data directory holding $PLATFORM_KEY to reuse in $DATA: importing"
    log "importing into $DATA"
    rm -rf "$DATA"
    t0=$(now)
    "$TOLLGATE" --data-dir "$DATA" import --accounts "$DATASET/accounts.jsonl" --posts "$DATASET/posts.jsonl" \
        2>"$RAWOUT/import.log"
    IMPORT_WALL=$(calc '%.1f' "$(now) - $t0")
    IMPORT_SUMMARY=$(grep '^imported ' "$RAWOUT/import.log" | tail -1)
    printf '%s\n%s\n%s\n' "$PLATFORM_KEY" "$IMPORT_WALL" "$IMPORT_SUMMARY" >"$MARKER"
    IMPORTED="imported by this run"
fi
log "$IMPORT_SUMMARY"

# A first-party app with the purposes display and train-genai; requests name
# no purpose, so they are for its first one, display. A reused data
# directory keeps the apps of earlier runs; each run makes its own.
TOKEN=$("$TOLLGATE" --data-dir "$DATA" app create --name "bench-$(date +%s)" --tier first-party \
    --purposes display,train-genai --json | jq -r .token)
[[ $TOKEN == tg_* ]] || die "app create printed no token"

# -- what to request -------------------------------------------------------------

pick_requests

# -- servers ------------------------------------------------------------------------

# Peak resident set of the process $1 so far, in MiB.
peak_rss() { awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }

# handler seconds, policy seconds, ledger-wait seconds, requests answered.
scrape() {
    curl -sf "http://127.0.0.1:$PORT/metrics" | awk '
        /^tollgate_request_seconds_total / { r = $2 }
        /^tollgate_policy_seconds_total / { p = $2 }
        /^tollgate_ledger_wait_seconds_total / { l = $2 }
        /^tollgate_http_requests_total\{/ { n += $NF }
        END { printf "%s %s %s %d\n", r, p, l, n }'
}

# Nothing else may answer on these ports: the numbers would be someone else's.
for port in $PORT $NGINX_PORT $MINIMAL_PORT; do
    ! curl -s -o /dev/null "http://127.0.0.1:$port/" || die "something already listens on 127.0.0.1:$port"
done

start_tollgate --synchronous full
LEDGER_BEFORE=$(curl -sf "http://127.0.0.1:$PORT/healthz" | jq '.ledger_entries')
settle_requests

TL="$TIMELINE_PATH?$TIMELINE_QUERY"
LK="$LOOKUP_PATH?$LOOKUP_QUERY"
SG=$SINGLE_PATH

# Saves each endpoint's exact response body, for nginx and to compare the
# minimal server's with.
fetch() {
    local out=$1 url=$2 status
    status=$(curl -sS -o "$out" -w '%{http_code} %{content_type}' -H "Authorization: Bearer $TOKEN" "$url")
    [[ $status == "200 application/json" ]] || die "$url answered $status"
}
fetch "$WWW/timeline.json" "http://127.0.0.1:$PORT$TL"
fetch "$WWW/lookup.json" "http://127.0.0.1:$PORT$LK"
fetch "$WWW/single.json" "http://127.0.0.1:$PORT$SG"
TIMELINE_COUNT=$(jq '.meta.result_count' "$WWW/timeline.json")
[[ $TIMELINE_COUNT -eq 100 ]] || die "the timeline page holds $TIMELINE_COUNT posts, not 100"
LOOKUP_DATA=$(jq '.data | length' "$WWW/lookup.json")
LOOKUP_ERRORS=$(jq '(.errors // []) | length' "$WWW/lookup.json")
jq -e '.data.id and (.errors | not)' "$WWW/single.json" >/dev/null || die "the single-post lookup delivers no post"
chmod -R a+rX "$WWW"

# Fetches what server $1 answers at $3 and compares it with Tollgate's saved
# body $2, byte for byte.
same_bytes() {
    local who=$1 saved=$2 url=$3 got
    got=$RAWOUT/$1-$(basename "$2")
    curl -sSf -o "$got" "$url" || die "$who: $url did not answer 200"
    cmp "$got" "$saved" >&2 || die "$who does not serve Tollgate's bytes at $url: compare $got with $saved"
}

# The minimal server, reading the same data directory's platform file.
"$MINIMAL" --db "$DATA/tollgate.db" --listen "127.0.0.1:$MINIMAL_PORT" 2>>"$RAWOUT/minimal.log" &
MINIMAL_PID=$!
for _ in $(seq 1 100); do
    curl -sf -o /dev/null "http://127.0.0.1:$MINIMAL_PORT$SG" && break
    kill -0 "$MINIMAL_PID" 2>/dev/null || die "bench-minimal exited; see $RAWOUT/minimal.log"
    sleep 0.1
done
same_bytes minimal "$WWW/timeline.json" "http://127.0.0.1:$MINIMAL_PORT$TL"
same_bytes minimal "$WWW/lookup.json" "http://127.0.0.1:$MINIMAL_PORT$LK"
same_bytes minimal "$WWW/single.json" "http://127.0.0.1:$MINIMAL_PORT$SG"
log "bench-minimal serves Tollgate's bytes for the three endpoints"

# nginx: two workers (one per core), no access log, keep-alive connections
# never closed by the server (as hyper does not close them), the bodies with
# Content-Type application/json at the same paths.
cat >"$NGINX_DIR/nginx.conf" <<EOF
$([[ $(id -u) -eq 0 ]] && echo "user root;")
worker_processes 2;
daemon off;
pid $NGINX_DIR/nginx.pid;
error_log $NGINX_DIR/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    client_body_temp_path $NGINX_DIR/tmp/body;
    proxy_temp_path $NGINX_DIR/tmp/proxy;
    fastcgi_temp_path $NGINX_DIR/tmp/fastcgi;
    uwsgi_temp_path $NGINX_DIR/tmp/uwsgi;
    scgi_temp_path $NGINX_DIR/tmp/scgi;
    types { }
    default_type application/json;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location = $TIMELINE_PATH { alias $WWW/timeline.json; }
        location = $LOOKUP_PATH { alias $WWW/lookup.json; }
        location = $SINGLE_PATH { alias $WWW/single.json; }
    }
}
EOF
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
"$NGINX" -t -q -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf" -e "$NGINX_DIR/error.log"
"$NGINX" -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf" -e "$NGINX_DIR/error.log" &
NGINX_PID=$!
for _ in $(seq 1 50); do
    curl -sf -o /dev/null "http://127.0.0.1:$NGINX_PORT$LOOKUP_PATH" && break
    sleep 0.1
done
# The same bytes, byte for byte.
same_bytes nginx "$WWW/timeline.json" "http://127.0.0.1:$NGINX_PORT$TL"
same_bytes nginx "$WWW/lookup.json" "http://127.0.0.1:$NGINX_PORT$LK"
same_bytes nginx "$WWW/single.json" "http://127.0.0.1:$NGINX_PORT$SG"

# -- measuring ------------------------------------------------------------------------

WRK_ARGS=(-t"$WRK_THREADS" -c"$WRK_CONNECTIONS" --latency -H "Authorization: Bearer $TOKEN")
WRK_SHOWN="wrk -t$WRK_THREADS -c$WRK_CONNECTIONS -d$WRK_DURATION --latency -H 'Authorization: Bearer <token>' <url>"
# One request at a time: no queueing, so the handler's time is the latency
# of its own work and of one ledger commit.
WRK_ONE=(-t1 -c1 --latency -H "Authorization: Bearer $TOKEN")
WRK_ONE_DURATION=10s

declare -A R

# CPU seconds (user + system) used so far by the processes $@ (and the
# threads in them), from /proc.
cpu_of() {
    local pid ticks=0
    for pid in "$@"; do
        ticks=$(( ticks + $(awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat") ))
    done
    calc '%.2f' "$ticks / $(getconf CLK_TCK)"
}

# Self time of a perf profile of the server by group of symbols: SQLite (the
# C code bundled into the binary), serde_json (rendering responses, decoding
# stored preferences), the HTTP stack and async runtime, SHA-256 (tokens and
# the ledger's hash chain), the policy, the rest of the Rust code, the
# allocator, the rest of the C library and the kernel (network, files,
# scheduling). Shares of the server's sampled CPU time.
profile_groups() {
    perf report -i "$1" --no-children --sort dso,symbol --stdio -g none 2>/dev/null | awk '
        /^ +[0-9.]+%/ {
            pct = $1; sub(/%/, "", pct); dso = $2; sym = $0; sub(/.*\] /, "", sym)
            if (dso ~ /kernel/) g = "kernel"
            else if (sym ~ /^(malloc|free|cfree|realloc|calloc|_int_|unlink_chunk|malloc_consolidate|tcache)/) g = "alloc"
            else if (dso ~ /libc/) g = "libc"
            else if (sym ~ /serde/) g = "json"
            else if (sym ~ /tokio|hyper|axum|mio::|tower|http::|httparse/) g = "http"
            else if (sym ~ /sha2|Sha256|sha256/) g = "sha"
            else if (sym ~ /tollgate_policy|cedar/) g = "policy"
            else if (sym ~ /::|^</) g = "rust"
            else g = "sqlite"
            share[g] += pct
        }
        END { printf "%.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f\n", share["sqlite"], share["json"], share["http"], share["sha"], share["policy"], share["rust"], share["alloc"], share["libc"], share["kernel"] }'
}

# Runs wrk on $2 served by $3 (tollgate, minimal or nginx): a warm-up, then
# the measured run, whose output is kept in $RAWOUT/$1.txt and parsed into
# R[$1.*]: requests/s, p50 and p99 in ms, and the CPU the server used per
# request (and for the minimal server its peak RSS). On a Tollgate run,
# /metrics is scraped just before and after the measured run for the
# handler-time shares, VmHWM is read after it and, with PROFILE=1, the
# server is sampled by perf during a run of its own after it (the same wrk
# command for PROFILE_DURATION, its figures not kept): sampling slowed the
# measured server by 20 to 40 %, which no other contender paid. Keys ending
# in `.one` run one connection at a time.
measure() {
    local key=$1 url=$2 server=$3 out=$RAWOUT/$1.txt before after cpu0 perf_pid=
    local -a args=("${WRK_ARGS[@]}") pids
    local duration=$WRK_DURATION
    if [[ $key == *.one ]]; then
        args=("${WRK_ONE[@]}")
        duration=$WRK_ONE_DURATION
    fi
    case $server in
        tollgate) pids=("$TG_PID") ;;
        minimal) pids=("$MINIMAL_PID") ;;
        nginx) mapfile -t pids < <(echo "$NGINX_PID"; pgrep -P "$NGINX_PID") ;;
        *) die "measure: unknown server $server" ;;
    esac
    wrk "${args[@]}" -d"$WRK_WARMUP" "$url" >/dev/null
    [[ $server == tollgate ]] && before=$(scrape)
    cpu0=$(cpu_of "${pids[@]}")
    wrk "${args[@]}" -d"$duration" "$url" >"$out"
    R[$key.cpu]=$(calc '%.2f' "$(cpu_of "${pids[@]}") - $cpu0")
    [[ $server == tollgate ]] && after=$(scrape)
    if [[ $PROFILE == 1 && $server == tollgate && $key != *.one ]]; then
        perf record -q -F 99 -g -p "$TG_PID" -o "$RAWOUT/$key.perf" 2>/dev/null &
        perf_pid=$!
        sleep 0.5
        wrk "${args[@]}" -d"$PROFILE_DURATION" "$url" >/dev/null
        kill -INT "$perf_pid"
        wait "$perf_pid" || true
        read -r "R[$key.p_sqlite]" "R[$key.p_json]" "R[$key.p_http]" "R[$key.p_sha]" "R[$key.p_policy]" \
            "R[$key.p_rust]" "R[$key.p_alloc]" "R[$key.p_libc]" "R[$key.p_kernel]" < <(profile_groups "$RAWOUT/$key.perf")
    fi

    local ms='function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /m$/) return v * 60000; return v * 1000 }'
    R[$key.rps]=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$out")
    R[$key.p50]=$(awk "$ms"' $1 == "50%" { printf "%.2f", ms($2) }' "$out")
    R[$key.p99]=$(awk "$ms"' $1 == "99%" { printf "%.2f", ms($2) }' "$out")
    R[$key.errors]=$(sed -n 's/.*Socket errors: //p' "$out")
    local non2xx total
    non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$out")
    [[ -z $non2xx ]] || die "$key: $non2xx responses were not 2xx; see $out"
    total=$(awk '/requests in/ { print $1 }' "$out")
    R[$key.cpu_ms]=$(calc '%.3f' "1000 * ${R[$key.cpu]} / $total")
    log "$key: ${R[$key.rps]} req/s, p50 ${R[$key.p50]} ms, p99 ${R[$key.p99]} ms, ${R[$key.cpu_ms]} ms CPU per request"

    if [[ $server == tollgate ]]; then
        read -r "R[$key.handler]" "R[$key.policy]" "R[$key.ledger]" "R[$key.requests]" \
            "R[$key.handler_ms]" "R[$key.policy_ms]" "R[$key.ledger_ms]" < <(
            awk -v b="$before" -v a="$after" 'BEGIN {
                split(b, x, " "); split(a, y, " "); r = y[1] - x[1]; n = y[4] - x[4]
                printf "%.1f %.1f %.1f %d %.3f %.3f %.3f\n", r, 100 * (y[2] - x[2]) / r, 100 * (y[3] - x[3]) / r, n,
                    1000 * r / n, 1000 * (y[2] - x[2]) / n, 1000 * (y[3] - x[3]) / n }')
        R[$key.rss]=$(peak_rss "$TG_PID")
        log "$key: policy ${R[$key.policy]}% and ledger wait ${R[$key.ledger]}% of handler time, peak RSS ${R[$key.rss]} MiB"
    fi
    [[ $server == minimal ]] && R[$key.rss]=$(peak_rss "$MINIMAL_PID")
    return 0
}

# Each endpoint against Tollgate, then at once against the minimal server and
# nginx, so that the three runs of an endpoint see the same state of the
# machine.
for e in timeline lookup single; do
    case $e in
        timeline) path=$TL ;;
        lookup) path=$LK ;;
        single) path=$SG ;;
    esac
    measure "$e.tollgate" "http://127.0.0.1:$PORT$path" tollgate
    measure "$e.minimal" "http://127.0.0.1:$MINIMAL_PORT$path" minimal
    measure "$e.nginx" "http://127.0.0.1:$NGINX_PORT$path" nginx
done
# One connection: what a request costs without queueing behind others.
measure timeline.one "http://127.0.0.1:$PORT$TL" tollgate
measure lookup.one "http://127.0.0.1:$PORT$LK" tollgate
measure single.one "http://127.0.0.1:$PORT$SG" tollgate
LEDGER_AFTER=$(curl -sf "http://127.0.0.1:$PORT/healthz" | jq '.ledger_entries')
LEDGER_ENTRIES=$(( LEDGER_AFTER - LEDGER_BEFORE ))
stop_tollgate

# The same against a server whose commits (the ledger's included) are synced
# at checkpoints only.
if [[ $SYNC_NORMAL == 1 ]]; then
    start_tollgate --synchronous normal
    measure timeline.normal "http://127.0.0.1:$PORT$TL" tollgate
    measure lookup.normal "http://127.0.0.1:$PORT$LK" tollgate
    measure single.normal "http://127.0.0.1:$PORT$SG" tollgate
    stop_tollgate
fi
for pid in $NGINX_PID $MINIMAL_PID; do
    kill "$pid"
    wait "$pid" 2>/dev/null || true
done
NGINX_PID=
MINIMAL_PID=
TOTAL_MINUTES=$(calc '%.1f' "($(now) - $started) / 60")

# -- results ----------------------------------------------------------------------------

# $1's requests/s over $2's.
ratio() { calc '%.3f' "${R[$1.rps]} / ${R[$2.rps]}"; }
# `met` if the awk condition $1 holds, `**missed**` otherwise. Ratios are
# judged on the figures they are made of, not on their rounded print
# (12609 / 50440 prints 0.250 and misses 0.25).
verdict() { if awk "BEGIN { exit !($1) }"; then echo met; else echo '**missed**'; fi; }
for e in timeline lookup single; do
    R[$e.vs_nginx]=$(ratio "$e.tollgate" "$e.nginx")
    R[$e.vs_minimal]=$(ratio "$e.tollgate" "$e.minimal")
    R[$e.minimal_vs_nginx]=$(ratio "$e.minimal" "$e.nginx")
    R[$e.cpu_vs_minimal]=$(calc '%.1f' "${R[$e.tollgate.cpu_ms]} / ${R[$e.minimal.cpu_ms]}")
done
TL_BYTES=$(stat -c %s "$WWW/timeline.json")
LK_BYTES=$(stat -c %s "$WWW/lookup.json")
SG_BYTES=$(stat -c %s "$WWW/single.json")
# Tollgate's peak RSS: the largest VmHWM over its server processes.
PEAK_MIB=0
for key in "${!R[@]}"; do
    [[ $key == *.rss && $key != *.minimal.rss ]] && (( R[$key] > PEAK_MIB )) && PEAK_MIB=${R[$key]}
done
PEAK_GIB=$(calc '%.2f' "$PEAK_MIB / 1024")
MINIMAL_MIB=0
for e in timeline lookup single; do
    (( R[$e.minimal.rss] > MINIMAL_MIB )) && MINIMAL_MIB=${R[$e.minimal.rss]}
done
FULL_SIZE=0
[[ $ACCOUNTS -eq 1000000 && $POSTS -eq 10000000 ]] && FULL_SIZE=1

{
    echo "Measured by \`bench/api.sh\` (ACCOUNTS=$ACCOUNTS POSTS=$POSTS SEED=$SEED) at commit $(head_commit); the whole script took $TOTAL_MINUTES min."
    echo
    echo "| Run | |"
    echo "| --- | --- |"
    echo "$MACHINE"
    echo "| Platform | $ACCOUNTS accounts, $POSTS posts, \`tollgate generate --seed $SEED\` ($GENERATED); data directory $IMPORTED |"
    echo "| Requests | $SETTLED; the single post is the lookup's first |"
    echo "| Load generator | \`$WRK_SHOWN\` after a $WRK_WARMUP warm-up with the same settings, the same command for every contender; wrk and the server share the 2 cores |"
    echo "| Tollgate | \`tollgate --data-dir DIR --listen 127.0.0.1:$PORT --rate-limit-first-party 0 serve\` (synchronous full, 4 read connections); a first-party app with purposes display,train-genai (requests are for display) |"
    echo "| minimal | \`bench-minimal --db DIR/tollgate.db\` (crates/bench-minimal): the same rows from the same file per request, one read-only connection per runtime worker thread, cached prepared statements, typed serde structs; no authentication, policy or ledger; its bodies checked identical to Tollgate's with \`cmp\` |"
    echo "| nginx | $("$NGINX" -v 2>&1 | sed 's/.*version: //'), \`worker_processes 2\`, \`access_log off\`, sendfile, keep-alive never closed by the server, Tollgate's saved bodies as \`application/json\` (checked with \`cmp\`) |"
    echo
    echo "Targets:"
    echo
    echo "| Figure | Measured | Target | |"
    echo "| --- | ---: | --- | --- |"
    echo "| timeline \`GET /2/users/:id/tweets?max_results=100\`, Tollgate req/s ÷ nginx req/s | ${R[timeline.vs_nginx]} (${R[timeline.tollgate.rps]} / ${R[timeline.nginx.rps]}) | ≥ 0.25 | $(verdict "${R[timeline.tollgate.rps]} >= 0.25 * ${R[timeline.nginx.rps]}") |"
    echo "| 100-id lookup \`GET /2/tweets?ids=\`, Tollgate req/s ÷ nginx req/s | ${R[lookup.vs_nginx]} (${R[lookup.tollgate.rps]} / ${R[lookup.nginx.rps]}) | ≥ 0.20 | $(verdict "${R[lookup.tollgate.rps]} >= 0.20 * ${R[lookup.nginx.rps]}") |"
    echo "| single-post lookup \`GET /2/tweets/:id\`, Tollgate req/s ÷ nginx req/s | ${R[single.vs_nginx]} (${R[single.tollgate.rps]} / ${R[single.nginx.rps]}) | ≥ 0.30 | $(verdict "${R[single.tollgate.rps]} >= 0.30 * ${R[single.nginx.rps]}") |"
    echo "| server CPU per request, timeline | ${R[timeline.tollgate.cpu_ms]} ms | ≤ 0.04 ms | $(verdict "${R[timeline.tollgate.cpu_ms]} <= 0.04") |"
    echo "| server CPU per request, lookup | ${R[lookup.tollgate.cpu_ms]} ms | ≤ 0.06 ms | $(verdict "${R[lookup.tollgate.cpu_ms]} <= 0.06") |"
    if [[ $WRK_CONNECTIONS -eq 32 ]]; then
        echo "| p99 latency at 32 connections, timeline | ${R[timeline.tollgate.p99]} ms | ≤ 5 ms | $(verdict "${R[timeline.tollgate.p99]} <= 5") |"
    else
        echo "| p99 latency at 32 connections, timeline | ${R[timeline.tollgate.p99]} ms at $WRK_CONNECTIONS connections | ≤ 5 ms | $(verdict "${R[timeline.tollgate.p99]} <= 5") (not at 32 connections) |"
    fi
    if [[ $FULL_SIZE == 1 ]]; then
        echo "| peak RSS (VmHWM) of Tollgate on the 1M-account, 10M-post platform | $PEAK_MIB MiB ($PEAK_GIB GiB) | ≤ 2 GiB | $(verdict "$PEAK_MIB <= 2048") |"
    else
        echo "| peak RSS (VmHWM) of Tollgate on the 1M-account, 10M-post platform | $PEAK_MIB MiB ($PEAK_GIB GiB) on this $ACCOUNTS-account, $POSTS-post platform | ≤ 2 GiB | $(verdict "$PEAK_MIB <= 2048") here; not the target's platform |"
    fi
    echo
    echo "The three contenders, each endpoint measured against Tollgate, then at once against the minimal server and nginx. Tollgate/minimal is what Tollgate's guarantees (authentication, a policy decision per post, a durable ledger entry per response) cost over the same reads and rendering."
    echo
    echo "| Endpoint | Body | Tollgate req/s | p50 ms | p99 ms | minimal req/s | p50 ms | p99 ms | nginx req/s | p50 ms | p99 ms | Tollgate/minimal | Tollgate/nginx | minimal/nginx |"
    echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    contenders() {
        local e=$1
        echo "| $2 | $3 | ${R[$e.tollgate.rps]} | ${R[$e.tollgate.p50]} | ${R[$e.tollgate.p99]} | ${R[$e.minimal.rps]} | ${R[$e.minimal.p50]} | ${R[$e.minimal.p99]} | ${R[$e.nginx.rps]} | ${R[$e.nginx.p50]} | ${R[$e.nginx.p99]} | ${R[$e.vs_minimal]} | ${R[$e.vs_nginx]} | ${R[$e.minimal_vs_nginx]} |"
    }
    # shellcheck disable=SC2016 # backquotes are Markdown
    contenders timeline '`GET /2/users/:id/tweets?max_results=100`' "$TIMELINE_COUNT posts, $TL_BYTES bytes"
    # shellcheck disable=SC2016
    contenders lookup '`GET /2/tweets?ids=<100 ids>`' "$LOOKUP_DATA posts + $LOOKUP_ERRORS withheld/not-found errors, $LK_BYTES bytes"
    # shellcheck disable=SC2016
    contenders single '`GET /2/tweets/:id`' "1 post, $SG_BYTES bytes"
    echo
    echo "CPU per request: user + system seconds of the server's processes (Tollgate and the minimal server: the one process; nginx: master and workers) during the measured run, over the requests wrk completed. The minimal server's peak RSS: $MINIMAL_MIB MiB."
    echo
    echo "| Endpoint | Tollgate CPU ms/request | minimal CPU ms/request | nginx CPU ms/request | Tollgate ÷ minimal |"
    echo "| --- | ---: | ---: | ---: | ---: |"
    for e in timeline lookup single; do
        echo "| $e | ${R[$e.tollgate.cpu_ms]} | ${R[$e.minimal.cpu_ms]} | ${R[$e.nginx.cpu_ms]} | ${R[$e.cpu_vs_minimal]}× |"
    done
    echo
    echo "Where Tollgate's handler time goes, from \`/metrics\` deltas over each measured run. These are shares of summed handler wall time (\`tollgate_request_seconds_total\`), not of CPU time. The ledger wait runs from handing the entry to the ledger writer until the handler runs again after the group commit: it includes the commit (and its fsync under synchronous full) and the time the woken handler then waits for a runtime thread."
    echo
    echo "| Endpoint | synchronous | Connections | Requests | Handler ms/request | Policy share | Ledger-wait share | Ledger wait ms/request | Peak RSS (VmHWM) after the run |"
    echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    row() { echo "| $1 | $2 | $3 | ${R[$4.requests]} | ${R[$4.handler_ms]} | ${R[$4.policy]} % | ${R[$4.ledger]} % | ${R[$4.ledger_ms]} | ${R[$4.rss]} MiB |"; }
    for e in timeline lookup single; do row "$e" full "$WRK_CONNECTIONS" "$e.tollgate"; done
    if [[ $SYNC_NORMAL == 1 ]]; then
        for e in timeline lookup single; do row "$e" normal "$WRK_CONNECTIONS" "$e.normal"; done
    fi
    for e in timeline lookup single; do row "$e" full 1 "$e.one"; done
    echo
    echo "One connection at a time (\`wrk -t1 -c1 -d$WRK_ONE_DURATION --latency\`, synchronous full): ${R[timeline.one.rps]} req/s for the timeline (p50 ${R[timeline.one.p50]} ms, ${R[timeline.one.cpu_ms]} ms CPU per request), ${R[lookup.one.rps]} req/s for the lookup (p50 ${R[lookup.one.p50]} ms, ${R[lookup.one.cpu_ms]} ms CPU per request) and ${R[single.one.rps]} req/s for the single post (p50 ${R[single.one.p50]} ms, ${R[single.one.cpu_ms]} ms CPU per request)."
    if [[ $SYNC_NORMAL == 1 ]]; then
        echo
        echo "The same endpoints against a server started with \`--synchronous normal\` (a fresh process, same data), measured right after the runs above; the ratio is against the nginx run above."
        echo
        echo "| Endpoint | Tollgate req/s | p50 ms | p99 ms | CPU ms/request | Tollgate/nginx |"
        echo "| --- | ---: | ---: | ---: | ---: | ---: |"
        for e in timeline lookup single; do
            echo "| $e, synchronous normal | ${R[$e.normal.rps]} | ${R[$e.normal.p50]} | ${R[$e.normal.p99]} | ${R[$e.normal.cpu_ms]} | $(ratio "$e.normal" "$e.nginx") |"
        done
    fi
    if [[ $PROFILE == 1 ]]; then
        echo
        echo "Where Tollgate's CPU goes, sampled in a run of $PROFILE_DURATION after each measured synchronous-full run (the same wrk command; sampling during the measured run slowed it by 20 to 40 %): self time by group of symbols, \`perf record -F 99 -g -p PID\` (sqlite: the bundled SQLite C code; json: serde and serde_json, encoding responses and ledger entries, decoding stored preferences; http: tokio, hyper, axum, tower; sha: SHA-256; rust: the rest of Tollgate's and its dependencies' Rust code; alloc: malloc and free; libc: the rest of the C library, memory copies and the file locks SQLite takes; kernel: network, files, thread switches)."
        echo
        echo "| Endpoint | sqlite | json | http | sha | policy | rust | alloc | libc | kernel |"
        echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        for e in timeline lookup single; do
            k=$e.tollgate
            echo "| $e | ${R[$k.p_sqlite]} % | ${R[$k.p_json]} % | ${R[$k.p_http]} % | ${R[$k.p_sha]} % | ${R[$k.p_policy]} % | ${R[$k.p_rust]} % | ${R[$k.p_alloc]} % | ${R[$k.p_libc]} % | ${R[$k.p_kernel]} % |"
        done
    fi
    echo
    echo "Import of the platform into the empty data directory the server then ran on (accounts and posts in one \`tollgate import\`; $IMPORTED):"
    echo
    echo "| Command | Reported | Wall, process start to exit |"
    echo "| --- | --- | ---: |"
    echo "| \`tollgate --data-dir DIR import --accounts accounts.jsonl --posts posts.jsonl\` | $IMPORT_SUMMARY | $IMPORT_WALL s |"
    echo
    errors() { echo "${R[$1.tollgate.errors]:-none} / minimal ${R[$1.minimal.errors]:-none} / nginx ${R[$1.nginx.errors]:-none}"; }
    echo "Ledger entries written during the synchronous-full runs: $LEDGER_ENTRIES (one per answered request, warm-ups included). wrk socket errors: timeline $(errors timeline); lookup $(errors lookup); single $(errors single). Raw wrk outputs: \`${RAWOUT#"$ROOT"/}/\`."
} >"$FRAGMENT"

cat "$FRAGMENT"
if recording; then
    record_results bench/api.sh "$FRAGMENT"
else
    log "not recorded in BENCHMARKS.md (RECORD=$RECORD, platform $ACCOUNTS accounts, $POSTS posts; RECORD=1 to force)"
fi
