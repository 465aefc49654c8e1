#!/usr/bin/env bash
# The guard's traffic simulation: `tollgate-simulate` (crates/simulate)
# against `tollgate serve` on loopback, and the targets the guard must meet.
#
# Builds the release binaries, prepares a fresh data directory with the demo
# platform (`tollgate demo --no-serve`), creates the API keys the simulated
# apps, partners and key farm use (`tollgate app create`), writes the
# operator's inputs the simulated world assumes (its prefix table and
# verified crawlers, `tollgate-simulate --write-inputs`), starts `tollgate
# serve` with the guard's configuration (guard_trusted_proxies = the
# loopback addresses, guard_prefix_table, guard_crawlers), runs the
# simulator with a seed and a bounded budget, prints its table and writes
# bench/out/guard-sim.json (the report) and bench/out/guard-sim-evidence.json
# (what each actor sent).
#
# The server must know the guard's configuration keys; until it does
# (`tollgate --help` lists no --guard-trusted-proxies), the server runs
# without them, the guard is not in the request path, everything is served
# and the targets show as missed. The script says so.
#
# Usage: bench/guard_sim.sh [--quick]
#   --quick  a small platform, a small mix (bench/guard_sim_quick.toml) and
#            a budget of 60 s (the whole run under two minutes with the
#            binaries built): for an end-to-end test.
# The full run's mix is bench/guard_sim.toml (a swarm of 100,000 addresses).
# Environment: SEED (the plan's and the platform's seed, 42), DURATION and
# MAX_REQUESTS (the simulator's budget; 300 s and 400,000, or 60 s and
# 30,000 with --quick), CONNECTIONS (64), SIM_BIN_DIR (a directory holding
# already built `tollgate` and `tollgate-simulate`: skips the build, e.g.
# target/debug for the end-to-end test), PORT (18190), MIX (another mix
# file, in the format of bench/guard_sim.toml: other classes' sizes and
# parameters, to see that the targets hold beyond the recorded mix).
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

QUICK=0
for arg in "$@"; do
    case $arg in
        --quick) QUICK=1 ;;
        *) die "unknown argument \`$arg\` (usage: bench/guard_sim.sh [--quick])" ;;
    esac
done

PORT=${PORT:-18190}
CONNECTIONS=${CONNECTIONS:-64}
if (( QUICK )); then
    SIM_ACCOUNTS=1000 SIM_POSTS=10000
    DURATION=${DURATION:-60} MAX_REQUESTS=${MAX_REQUESTS:-30000}
    MIX_FILE=${MIX:-$ROOT/bench/guard_sim_quick.toml}
else
    SIM_ACCOUNTS=10000 SIM_POSTS=200000
    DURATION=${DURATION:-300} MAX_REQUESTS=${MAX_REQUESTS:-400000}
    MIX_FILE=${MIX:-$ROOT/bench/guard_sim.toml}
fi
[[ -f $MIX_FILE ]] || die "no mix file at $MIX_FILE (MIX names one)"
MIX_FILE=$(cd "$(dirname "$MIX_FILE")" && pwd)/$(basename "$MIX_FILE")

if [[ -n ${SIM_BIN_DIR:-} ]]; then
    BIN=$(cd "$SIM_BIN_DIR" && pwd)
    log "using the binaries in $BIN"
else
    log "building the release binaries"
    (cd "$ROOT" && cargo build --release --quiet -p tollgate-cli -p tollgate-simulate)
    BIN=$ROOT/target/release
fi
TG=$BIN/tollgate
SIM=$BIN/tollgate-simulate
[[ -x $TG && -x $SIM ]] || die "no tollgate or tollgate-simulate in $BIN"
need_tools curl jq

DATA=$BENCH_DIR/guard-sim-data
RAWOUT=$BENCH_DIR/guard-sim-raw
rm -rf "$DATA" "$RAWOUT"
mkdir -p "$DATA" "$RAWOUT"
cd "$BENCH_DIR"

log "preparing the demo platform: $SIM_ACCOUNTS accounts, $SIM_POSTS posts (seed $SEED)"
"$TG" --data-dir "$DATA" demo --no-serve --accounts "$SIM_ACCOUNTS" --posts "$SIM_POSTS" --seed "$SEED" \
    >"$RAWOUT/demo.log" 2>&1 || die "tollgate demo failed; see $RAWOUT/demo.log"

# One key per simulated app: so many standard apps, partners and key-farm
# keys as the mix file has actors of api-app, partner and key-farm (the
# class's default where the file does not say).
count_of() {
    local n
    n=$(awk -v c="[$1]" '$0 == c { inside = 1; next } /^\[/ { inside = 0 } inside && $1 == "count" { print $3 }' "$MIX_FILE")
    echo "${n:-$2}"
}
create_keys() {
    local tier=$1 prefix=$2 n=$3 i
    for ((i = 0; i < n; i++)); do
        "$TG" --data-dir "$DATA" app create --name "$prefix-$i" --tier "$tier" --purposes display,search --json \
            | jq -r .token
    done | jq -R . | jq -s .
}
log "creating the simulated apps' keys"
jq -n --argjson standard "$(create_keys standard sim-app "$(count_of api-app 3)")" \
    --argjson partner "$(create_keys partner sim-partner "$(count_of partner 2)")" \
    --argjson farm "$(create_keys standard sim-farm "$(count_of key-farm 8)")" \
    '{standard: $standard, partner: $partner, farm: $farm}' >"$RAWOUT/keys.json"
chmod 600 "$RAWOUT/keys.json"

log "writing the simulated world's prefix table and verified crawlers"
"$SIM" --seed "$SEED" --write-inputs "$DATA/guard"

GUARD_FLAGS=(--guard-trusted-proxies "127.0.0.1/32,::1/128" --guard-prefix-table "$DATA/guard/prefix-table.csv"
    --guard-crawlers "$DATA/guard/crawlers.toml")
GUARD_NOTE="guard configured"
if ! "$TG" --help | grep -q -- '--guard-trusted-proxies'; then
    log "note: this tollgate has no guard configuration keys yet (guard_trusted_proxies, guard_prefix_table, guard_crawlers): serving without them; the guard is not in the request path and the targets will be missed"
    GUARD_FLAGS=()
    GUARD_NOTE="guard NOT configured: this tollgate knows no guard_* keys"
fi

log "serving on 127.0.0.1:$PORT ($GUARD_NOTE)"
"$TG" --data-dir "$DATA" --listen "127.0.0.1:$PORT" --access-log false ${GUARD_FLAGS[@]+"${GUARD_FLAGS[@]}"} \
    serve 2>>"$RAWOUT/serve.log" &
TG_PID=$!
trap 'kill -TERM "$TG_PID" 2>/dev/null || true; wait "$TG_PID" 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
    curl -sf "http://127.0.0.1:$PORT/metrics" >/dev/null 2>&1 && break
    kill -0 "$TG_PID" 2>/dev/null || die "tollgate serve exited; see $RAWOUT/serve.log"
    sleep 0.2
done
curl -sf "http://127.0.0.1:$PORT/metrics" >/dev/null 2>&1 || die "tollgate serve did not answer within 60 s"

log "simulating: seed $SEED, at most $DURATION s and $MAX_REQUESTS requests, $CONNECTIONS connections, mix $MIX_FILE"
SIM_ARGS=(--target "127.0.0.1:$PORT" --seed "$SEED" --platform "$DATA/generated" --keys "$RAWOUT/keys.json"
    --duration "$DURATION" --max-requests "$MAX_REQUESTS" --connections "$CONNECTIONS"
    --mix-file "$MIX_FILE" --json "$BENCH_DIR/guard-sim.json" --evidence "$BENCH_DIR/guard-sim-evidence.json")
"$SIM" "${SIM_ARGS[@]}" | tee "$RAWOUT/table.txt"
log "$GUARD_NOTE"
log "report: $BENCH_DIR/guard-sim.json; evidence: $BENCH_DIR/guard-sim-evidence.json"
