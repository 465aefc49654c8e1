#!/usr/bin/env bash
# API benchmark: Tollgate against nginx serving the very same response bytes.
#
# Builds the release binary, generates (or reuses) the platform, imports it
# into a fresh data directory (timed), creates a first-party app, serves it
# with no rate limit and measures with wrk, on the same machine in the same
# run:
#   (a) GET /2/users/:id/tweets?max_results=100 of a prolific author,
#   (b) GET /2/tweets?ids=<100 post ids spread over the whole platform>,
# each against Tollgate and then against nginx serving that endpoint's
# response body, saved from Tollgate, with the same Content-Type. The ratio
# Tollgate/nginx is the figure to compare across machines; absolute numbers
# drift with the machine and its neighbours.
#
# For Tollgate, /metrics is scraped before and after each measured run: the
# deltas of tollgate_policy_seconds_total and tollgate_ledger_wait_seconds_total
# over tollgate_request_seconds_total are the shares of handler wall time
# spent deciding and waiting for the ledger (not CPU shares). Peak RSS is
# VmHWM of the server process. Each endpoint is then measured once more
# against a server running with --synchronous normal, and once with one
# connection at a time (no queueing) to show what one request costs.
#
# Usage: bench/api.sh
# Environment: ACCOUNTS, POSTS, SEED (the platform; 1000000, 10000000, 42),
# BENCH_DIR (bench/out), WRK_THREADS, WRK_CONNECTIONS, WRK_DURATION,
# WRK_WARMUP (2, 32, 20s, 5s), SYNC_NORMAL (1: also measure
# --synchronous normal), PROFILE (1: sample the server with perf during the
# measured runs; default 1 when perf is installed), RECORD (auto: write
# BENCHMARKS.md only for the full-size platform; 1 always; 0 never).
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT=18181
NGINX_PORT=18182
WRK_THREADS=${WRK_THREADS:-2}
WRK_CONNECTIONS=${WRK_CONNECTIONS:-32}
WRK_DURATION=${WRK_DURATION:-20s}
WRK_WARMUP=${WRK_WARMUP:-5s}
SYNC_NORMAL=${SYNC_NORMAL:-1}
PROFILE=${PROFILE:-$(command -v perf >/dev/null 2>&1 && echo 1 || echo 0)}

DATA=$BENCH_DIR/api-data
WWW=$BENCH_DIR/api-www
NGINX_DIR=$BENCH_DIR/api-nginx
RAWOUT=$BENCH_DIR/api-raw
FRAGMENT=$BENCH_DIR/api-results.md

TG_PID=
NGINX_PID=

# Stops the servers this script started, whatever way it ends.
cleanup() {
    local pid
    for pid in $TG_PID $NGINX_PID; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in $TG_PID $NGINX_PID; do
        wait "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT

need_tools wrk nginx curl jq
mkdir -p "$BENCH_DIR" "$WWW" "$NGINX_DIR/tmp" "$RAWOUT"
cd "$BENCH_DIR"
check_disk $(( POSTS / 1000000 + 3 ))
MACHINE=$(machine_rows)
started=$(now)

# -- build, platform, import ---------------------------------------------------

build_release
ensure_platform

# The import of both files into an empty data directory, timed from the
# outside (wall, process start to exit) and as the import reports it.
log "importing into $DATA"
rm -rf "$DATA"
t0=$(now)
"$TOLLGATE" --data-dir "$DATA" import --accounts "$DATASET/accounts.jsonl" --posts "$DATASET/posts.jsonl" \
    2>"$RAWOUT/import.log"
IMPORT_WALL=$(calc '%.1f' "$(now) - $t0")
IMPORT_SUMMARY=$(grep '^imported ' "$RAWOUT/import.log" | tail -1)
log "$IMPORT_SUMMARY"

# A first-party app with the purposes display and train-genai; requests name
# no purpose, so they are for its first one, display.
TOKEN=$("$TOLLGATE" --data-dir "$DATA" app create --name bench --tier first-party \
    --purposes display,train-genai --json | jq -r .token)
[[ $TOKEN == tg_* ]] || die "app create printed no token"

# -- what to request -------------------------------------------------------------

pick_requests

# -- servers ------------------------------------------------------------------------

# Peak resident set of the server so far, in MiB.
peak_rss() { awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$TG_PID/status"; }

# handler seconds, policy seconds, ledger-wait seconds, requests answered.
scrape() {
    curl -sf "http://127.0.0.1:$PORT/metrics" | awk '
        /^tollgate_request_seconds_total / { r = $2 }
        /^tollgate_policy_seconds_total / { p = $2 }
        /^tollgate_ledger_wait_seconds_total / { l = $2 }
        /^tollgate_http_requests_total\{/ { n += $NF }
        END { printf "%s %s %s %d\n", r, p, l, n }'
}

# Nothing else may answer on the two ports: the numbers would be someone else's.
for port in $PORT $NGINX_PORT; do
    ! curl -s -o /dev/null "http://127.0.0.1:$port/" || die "something already listens on 127.0.0.1:$port"
done

start_tollgate --synchronous full

# Saves each endpoint's exact response body for nginx.
fetch() {
    local out=$1 url=$2 status
    status=$(curl -sS -o "$out" -w '%{http_code} %{content_type}' -H "Authorization: Bearer $TOKEN" "$url")
    [[ $status == "200 application/json" ]] || die "$url answered $status"
}
fetch "$WWW/timeline.json" "http://127.0.0.1:$PORT$TIMELINE_PATH?$TIMELINE_QUERY"
fetch "$WWW/lookup.json" "http://127.0.0.1:$PORT$LOOKUP_PATH?$LOOKUP_QUERY"
TIMELINE_COUNT=$(jq '.meta.result_count' "$WWW/timeline.json")
[[ $TIMELINE_COUNT -eq 100 ]] || die "the timeline page holds $TIMELINE_COUNT posts, not 100"
LOOKUP_DATA=$(jq '.data | length' "$WWW/lookup.json")
LOOKUP_ERRORS=$(jq '(.errors // []) | length' "$WWW/lookup.json")
chmod -R a+rX "$WWW"

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
curl -sf "http://127.0.0.1:$NGINX_PORT$TIMELINE_PATH?$TIMELINE_QUERY" | cmp -s - "$WWW/timeline.json" \
    || die "nginx does not serve the timeline body"
curl -sf "http://127.0.0.1:$NGINX_PORT$LOOKUP_PATH?$LOOKUP_QUERY" | cmp -s - "$WWW/lookup.json" \
    || die "nginx does not serve the lookup body"

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

# Runs wrk on $2: a warm-up, then the measured run, whose output is kept in
# $RAWOUT/$1.txt and parsed into R[$1.*]: requests/s, p50 and p99 in ms, and
# the CPU the server used per request. On a Tollgate run ($3 = tollgate),
# /metrics is scraped just before and after the measured run for the
# handler-time shares, VmHWM is read after it and, with PROFILE=1, the
# server is sampled by perf during it. Keys ending in `.one` run one
# connection at a time.
measure() {
    local key=$1 url=$2 server=${3:-} out=$RAWOUT/$1.txt before after cpu0 perf_pid=
    local -a args=("${WRK_ARGS[@]}") pids
    local duration=$WRK_DURATION
    if [[ $key == *.one ]]; then
        args=("${WRK_ONE[@]}")
        duration=$WRK_ONE_DURATION
    fi
    if [[ $server == tollgate ]]; then
        pids=("$TG_PID")
    else
        mapfile -t pids < <(echo "$NGINX_PID"; pgrep -P "$NGINX_PID")
    fi
    wrk "${args[@]}" -d"$WRK_WARMUP" "$url" >/dev/null
    [[ $server == tollgate ]] && before=$(scrape)
    if [[ $PROFILE == 1 && $server == tollgate && $key != *.one ]]; then
        perf record -q -F 99 -g -p "$TG_PID" -o "$RAWOUT/$key.perf" 2>/dev/null &
        perf_pid=$!
        sleep 0.5
    fi
    cpu0=$(cpu_of "${pids[@]}")
    wrk "${args[@]}" -d"$duration" "$url" >"$out"
    R[$key.cpu]=$(calc '%.2f' "$(cpu_of "${pids[@]}") - $cpu0")
    [[ $server == tollgate ]] && after=$(scrape)
    if [[ -n $perf_pid ]]; then
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
        R[$key.rss]=$(peak_rss)
        log "$key: policy ${R[$key.policy]}% and ledger wait ${R[$key.ledger]}% of handler time, peak RSS ${R[$key.rss]} MiB"
    fi
}

TL_TOLLGATE="http://127.0.0.1:$PORT$TIMELINE_PATH?$TIMELINE_QUERY"
TL_NGINX="http://127.0.0.1:$NGINX_PORT$TIMELINE_PATH?$TIMELINE_QUERY"
LK_TOLLGATE="http://127.0.0.1:$PORT$LOOKUP_PATH?$LOOKUP_QUERY"
LK_NGINX="http://127.0.0.1:$NGINX_PORT$LOOKUP_PATH?$LOOKUP_QUERY"

# Each endpoint against Tollgate, then at once against nginx, so that the two
# runs of a pair see the same state of the machine.
measure timeline.tollgate "$TL_TOLLGATE" tollgate
measure timeline.nginx "$TL_NGINX"
measure lookup.tollgate "$LK_TOLLGATE" tollgate
measure lookup.nginx "$LK_NGINX"
# One connection: what a request costs without queueing behind others.
measure timeline.one "$TL_TOLLGATE" tollgate
measure lookup.one "$LK_TOLLGATE" tollgate
LEDGER_ENTRIES=$(curl -sf "http://127.0.0.1:$PORT/healthz" | jq '.ledger_entries')
stop_tollgate

# The same against a server whose commits (the ledger's included) are synced
# at checkpoints only.
if [[ $SYNC_NORMAL == 1 ]]; then
    start_tollgate --synchronous normal
    measure timeline.normal "$TL_TOLLGATE" tollgate
    measure lookup.normal "$LK_TOLLGATE" tollgate
    stop_tollgate
fi
kill "$NGINX_PID"
wait "$NGINX_PID" 2>/dev/null || true
NGINX_PID=
TOTAL_MINUTES=$(calc '%.1f' "($(now) - $started) / 60")

# -- results ----------------------------------------------------------------------------

ratio() { calc '%.2f' "${R[$1.tollgate.rps]} / ${R[$1.nginx.rps]}"; }
verdict() { awk -v r="$1" 'BEGIN { print (r >= 0.5 ? "met" : "**missed**") }'; }
TL_RATIO=$(ratio timeline)
LK_RATIO=$(ratio lookup)
TL_BYTES=$(stat -c %s "$WWW/timeline.json")
LK_BYTES=$(stat -c %s "$WWW/lookup.json")

{
    echo "Recorded by \`bench/api.sh\` (ACCOUNTS=$ACCOUNTS POSTS=$POSTS SEED=$SEED); the whole script took $TOTAL_MINUTES min."
    echo
    echo "| Run | |"
    echo "| --- | --- |"
    echo "$MACHINE"
    echo "| Platform | $ACCOUNTS accounts, $POSTS posts, \`tollgate generate --seed $SEED\` ($GENERATED) |"
    echo "| Load generator | \`$WRK_SHOWN\` after a $WRK_WARMUP warm-up with the same settings; wrk and the server share the 2 cores |"
    echo "| Server | \`tollgate --data-dir DIR --listen 127.0.0.1:$PORT --rate-limit-first-party 0 serve\` (synchronous full, 4 read connections); a first-party app with purposes display,train-genai (requests are for display) |"
    echo "| nginx | $("$NGINX" -v 2>&1 | sed 's/.*version: //'), \`worker_processes 2\`, \`access_log off\`, sendfile, keep-alive never closed by the server, the saved bodies as \`application/json\` |"
    echo
    echo "| Endpoint | Body | Tollgate req/s | p50 ms | p99 ms | nginx req/s | p50 ms | p99 ms | Tollgate/nginx | Target ≥ 0.5 |"
    echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
    echo "| \`GET /2/users/:id/tweets?max_results=100\` | $TIMELINE_COUNT posts, $TL_BYTES bytes | ${R[timeline.tollgate.rps]} | ${R[timeline.tollgate.p50]} | ${R[timeline.tollgate.p99]} | ${R[timeline.nginx.rps]} | ${R[timeline.nginx.p50]} | ${R[timeline.nginx.p99]} | $TL_RATIO | $(verdict "$TL_RATIO") |"
    echo "| \`GET /2/tweets?ids=<100 ids>\` | $LOOKUP_DATA posts + $LOOKUP_ERRORS withheld/not-found errors, $LK_BYTES bytes | ${R[lookup.tollgate.rps]} | ${R[lookup.tollgate.p50]} | ${R[lookup.tollgate.p99]} | ${R[lookup.nginx.rps]} | ${R[lookup.nginx.p50]} | ${R[lookup.nginx.p99]} | $LK_RATIO | $(verdict "$LK_RATIO") |"
    echo
    echo "CPU per request: user + system seconds of the server's processes (Tollgate: the one process; nginx: master and workers) during the measured run, over the requests wrk completed."
    echo
    echo "| Endpoint | Tollgate CPU ms/request | nginx CPU ms/request | nginx/Tollgate |"
    echo "| --- | ---: | ---: | ---: |"
    echo "| timeline | ${R[timeline.tollgate.cpu_ms]} | ${R[timeline.nginx.cpu_ms]} | $(calc '%.3f' "${R[timeline.nginx.cpu_ms]} / ${R[timeline.tollgate.cpu_ms]}") |"
    echo "| lookup | ${R[lookup.tollgate.cpu_ms]} | ${R[lookup.nginx.cpu_ms]} | $(calc '%.3f' "${R[lookup.nginx.cpu_ms]} / ${R[lookup.tollgate.cpu_ms]}") |"
    echo
    echo "Where Tollgate's handler time goes, from \`/metrics\` deltas over each measured run. These are shares of summed handler wall time (\`tollgate_request_seconds_total\`), not of CPU time. The ledger wait runs from handing the entry to the ledger writer until the handler runs again after the group commit: it includes the commit (and its fsync under synchronous full) and the time the woken handler then waits for a runtime thread."
    echo
    echo "| Endpoint | synchronous | Connections | Requests | Handler ms/request | Policy share | Ledger-wait share | Ledger wait ms/request | Peak RSS (VmHWM) after the run |"
    echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    row() { echo "| $1 | $2 | $3 | ${R[$4.requests]} | ${R[$4.handler_ms]} | ${R[$4.policy]} % | ${R[$4.ledger]} % | ${R[$4.ledger_ms]} | ${R[$4.rss]} MiB |"; }
    row "timeline" full "$WRK_CONNECTIONS" timeline.tollgate
    row "lookup" full "$WRK_CONNECTIONS" lookup.tollgate
    if [[ $SYNC_NORMAL == 1 ]]; then
        row "timeline" normal "$WRK_CONNECTIONS" timeline.normal
        row "lookup" normal "$WRK_CONNECTIONS" lookup.normal
    fi
    row "timeline" full 1 timeline.one
    row "lookup" full 1 lookup.one
    echo
    echo "One connection at a time (\`wrk -t1 -c1 -d$WRK_ONE_DURATION --latency\`, synchronous full): ${R[timeline.one.rps]} req/s for the timeline (p50 ${R[timeline.one.p50]} ms, ${R[timeline.one.cpu_ms]} ms CPU per request) and ${R[lookup.one.rps]} req/s for the lookup (p50 ${R[lookup.one.p50]} ms, ${R[lookup.one.cpu_ms]} ms CPU per request)."
    if [[ $SYNC_NORMAL == 1 ]]; then
        echo
        echo "The same endpoints against a server started with \`--synchronous normal\` (a fresh process, same data), measured right after the runs above; the ratio is against the nginx run above."
        echo
        echo "| Endpoint | Tollgate req/s | p50 ms | p99 ms | CPU ms/request | Tollgate/nginx |"
        echo "| --- | ---: | ---: | ---: | ---: | ---: |"
        echo "| timeline, synchronous normal | ${R[timeline.normal.rps]} | ${R[timeline.normal.p50]} | ${R[timeline.normal.p99]} | ${R[timeline.normal.cpu_ms]} | $(calc '%.2f' "${R[timeline.normal.rps]} / ${R[timeline.nginx.rps]}") |"
        echo "| lookup, synchronous normal | ${R[lookup.normal.rps]} | ${R[lookup.normal.p50]} | ${R[lookup.normal.p99]} | ${R[lookup.normal.cpu_ms]} | $(calc '%.2f' "${R[lookup.normal.rps]} / ${R[lookup.nginx.rps]}") |"
    fi
    if [[ $PROFILE == 1 ]]; then
        echo
        echo "Where the server's CPU goes during the measured synchronous-full runs: self time by group of symbols, \`perf record -F 99 -g -p PID\` (sqlite: the bundled SQLite C code; json: serde and serde_json, encoding responses and ledger entries, decoding stored preferences; http: tokio, hyper, axum, tower; sha: SHA-256; rust: the rest of Tollgate's and its dependencies' Rust code; alloc: malloc and free; libc: the rest of the C library, memory copies and the file locks SQLite takes; kernel: network, files, thread switches)."
        echo
        echo "| Endpoint | sqlite | json | http | sha | policy | rust | alloc | libc | kernel |"
        echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        for e in timeline lookup; do
            k=$e.tollgate
            echo "| $e | ${R[$k.p_sqlite]} % | ${R[$k.p_json]} % | ${R[$k.p_http]} % | ${R[$k.p_sha]} % | ${R[$k.p_policy]} % | ${R[$k.p_rust]} % | ${R[$k.p_alloc]} % | ${R[$k.p_libc]} % | ${R[$k.p_kernel]} % |"
        done
    fi
    echo
    echo "Import of the platform into the empty data directory the server then ran on (accounts and posts in one \`tollgate import\`):"
    echo
    echo "| Command | Reported | Wall, process start to exit |"
    echo "| --- | --- | ---: |"
    echo "| \`tollgate --data-dir DIR import --accounts accounts.jsonl --posts posts.jsonl\` | $IMPORT_SUMMARY | $IMPORT_WALL s |"
    echo
    echo "Ledger entries after the synchronous-full runs: $LEDGER_ENTRIES (one per answered request, warm-ups included). wrk socket errors: timeline ${R[timeline.tollgate.errors]:-none} / nginx ${R[timeline.nginx.errors]:-none}; lookup ${R[lookup.tollgate.errors]:-none} / nginx ${R[lookup.nginx.errors]:-none}. Raw wrk outputs: \`${RAWOUT#$ROOT/}/\`."
} >"$FRAGMENT"

cat "$FRAGMENT"
if recording; then
    record_results bench/api.sh "$FRAGMENT"
else
    log "not recorded in BENCHMARKS.md (not the full-size platform; RECORD=1 to force)"
fi
