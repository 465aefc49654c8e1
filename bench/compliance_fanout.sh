#!/usr/bin/env bash
# The compliance streams' fan-out: CLIENTS stream clients over loopback
# (CLIENTS / 4 apps, each on its four partitions), a burst of BURST notices
# opened at once, then RATE notices a second for SECS seconds; reports the
# events delivered a second in total, the lag from a notice's opening to its
# line's arrival, and the baseline measured in the same run: all the notices
# read straight from the store by one reader. The harness is
# crates/api/examples/compliance_fanout.rs; the server is the API's router in
# the harness's process, on a fresh data directory under the system's
# temporary directory, removed after.
#
# Usage: bench/compliance_fanout.sh
# Environment: CLIENTS (1000), BURST (500000), RATE (5000), SECS (10);
# RECORD=0 prints without recording in BENCHMARKS.md.
#
# Built in the dev profile (whose dependencies are optimized, see Cargo.toml)
# with the four crates on the delivery path optimized too, so that no cold
# release build of the whole workspace is needed.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

export CLIENTS=${CLIENTS:-1000} BURST=${BURST:-500000} RATE=${RATE:-5000} SECS=${SECS:-10}
# Bounded: the clients, the notices and the time.
(( CLIENTS <= 4000 && BURST + RATE * SECS <= 5000000 && SECS <= 60 )) || die "CLIENTS <= 4000, BURST + RATE * SECS <= 5000000 and SECS <= 60"
check_recordable
# Each client is a file descriptor, and so is its server side.
ulimit -n "$(( CLIENTS * 2 + 256 ))" 2>/dev/null || ulimit -n "$(ulimit -Hn)"

log "building the harness"
OPT=()
for crate in tollgate-api tollgate-store tollgate-store-sqlite tollgate-domain; do
    OPT+=(--config "profile.dev.package.$crate.opt-level=3")
done
(cd "$ROOT" && cargo build --quiet -p tollgate-api --example compliance_fanout "${OPT[@]}")

OUT=$BENCH_DIR/compliance-fanout-$(date -u +%Y%m%dT%H%M%S).log
MACHINE=$(machine_rows)
log "running: $CLIENTS clients, a burst of $BURST notices, then $RATE/s for $SECS s"
timeout 600 "$ROOT/target/debug/examples/compliance_fanout" | tee "$OUT"

value() { sed -n "s/^.*$1=\([0-9.]*\).*$/\1/p" "$OUT" | head -1; }
FRAGMENT=$BENCH_DIR/compliance-fanout.md
{
    echo
    echo "| | |"
    echo "|---|---|"
    echo "$MACHINE"
    echo "| Command | \`CLIENTS=$CLIENTS BURST=$BURST RATE=$RATE SECS=$SECS bench/compliance_fanout.sh\` |"
    echo
    echo "| measure | value |"
    echo "|---|---:|"
    echo "| burst: events delivered per second, all clients | $(value burst_fanout_events_per_s) |"
    echo "| steady ($RATE/s): lag p50, ms | $(value steady_lag_ms_p50) |"
    echo "| steady ($RATE/s): lag p99, ms | $(value steady_lag_ms_p99) |"
    echo "| steady ($RATE/s): lag max, ms | $(value steady_lag_ms_max) |"
    echo "| baseline: one reader straight from the store, events per second | $(value baseline_store_read_events_per_s) |"
    echo "| ratio: fan-out / baseline | $(value ratio_fanout_to_baseline) |"
    echo
} >"$FRAGMENT"
cat "$FRAGMENT"
if recording; then
    record_results compliance-fanout "$FRAGMENT"
fi
