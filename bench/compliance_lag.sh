#!/usr/bin/env bash
# The lag from a change (a post deleted through the internal API) to its
# notice on the compliance stream of an app that received the post, at p50
# and p99, against a release build on a small demo platform
# (bench/compliance_lag.py says what the lag includes).
#
# Usage: bench/compliance_lag.sh
# Environment: COUNT (300 deletions), RATE (20 a second). Loopback only.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cargo build --release -q -p tollgate-cli
scripts/setup-python >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); commit $(git rev-parse --short HEAD)"
TOLLGATE_BIN=$PWD/target/release/tollgate .venv/bin/python bench/compliance_lag.py "$work"
