#!/usr/bin/env bash
# Fuzzing on stable Rust: runs each target of crates/fuzz (the search query
# parser, the pagination token decoder, the importers of Tollgate's JSON lines
# and of twarc2 pages, the ledger entry decoder) for a bounded time, with the
# dev build of `tollgate-fuzz`: its overflow checks and debug assertions turn
# arithmetic slips into failures, and the dependencies are optimized even in
# that profile (Cargo.toml). Not part of scripts/test: the inputs it
# ever found failing are, once fixed, kept in crates/fuzz/corpus/TARGET/ and
# run by `cargo nextest run -p tollgate-fuzz` on every test run.
#
# Usage: bench/fuzz.sh [TARGET...]        (default: every target)
# Environment: FUZZ_SECONDS (per target; 60), FUZZ_SEED (a number: the same
# seed repeats a run; default: a new seed per run, printed), FUZZ_HANG_SECONDS
# (an input running longer is a hang; 10), FUZZ_OUT (where failing inputs are
# saved, one directory per target; bench/out/fuzz).
#
# A failing input is saved as FUZZ_OUT/TARGET/crash-HASH (hang-HASH for a
# hang) and the run goes on to the next target; the exit status is 1 if any
# target failed. Reproduce one with
#   target/debug/tollgate-fuzz check TARGET FILE
# and, once fixed, keep it: copy it to crates/fuzz/corpus/TARGET/.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SECONDS_EACH=${FUZZ_SECONDS:-60}
HANG=${FUZZ_HANG_SECONDS:-10}
OUT=${FUZZ_OUT:-$ROOT/bench/out/fuzz}
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/debug/tollgate-fuzz

cd "$ROOT"
cargo build -p tollgate-fuzz
if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <("$BIN" list)
fi

failed=()
for target in "${targets[@]}"; do
    args=(run "$target" --seconds "$SECONDS_EACH" --hang-seconds "$HANG" --crashes "$OUT/$target")
    if [ -n "${FUZZ_SEED:-}" ]; then
        args+=(--seed "$FUZZ_SEED")
    fi
    if ! "$BIN" "${args[@]}"; then
        failed+=("$target")
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    printf '\nbench/fuzz.sh: failing inputs found for: %s (saved under %s)\n' "${failed[*]}" "$OUT" >&2
    exit 1
fi
printf '\nbench/fuzz.sh: no failure in %s target(s), %s s each\n' "${#targets[@]}" "$SECONDS_EACH"
