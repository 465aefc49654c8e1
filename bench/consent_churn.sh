#!/usr/bin/env bash
# Preference changes under partner load: the consent-churn check of the
# end-to-end suite (tests/e2e/test_consent_churn.py) run longer and harder
# against a release build. Changers flip authors' AI preferences, statuses and
# `no_ai` flags and delete posts through the internal API while readers fetch
# the same authors' posts as a partner app for `train-genai`; every delivered
# post is then checked against the state in force when its request started.
# The figure that matters is `delivered_against_consent` (target 0), with the
# read and change rates it held under.
#
# Usage: bench/consent_churn.sh
# Environment: READERS (8), READS_EACH (2000), CHANGES_EACH (1000).
# Loopback only; bounded by the counts.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cargo build --release -q -p tollgate-cli
scripts/setup-python >/dev/null
report=$(mktemp)
trap 'rm -f "$report"' EXIT
TOLLGATE_BIN=$PWD/target/release/tollgate \
    TOLLGATE_CHURN_READERS=${READERS:-8} \
    TOLLGATE_CHURN_READS_EACH=${READS_EACH:-2000} \
    TOLLGATE_CHURN_CHANGES_EACH=${CHANGES_EACH:-1000} \
    TOLLGATE_CHURN_REPORT=$report \
    .venv/bin/python -m pytest tests/e2e/test_consent_churn.py -q -p no:cacheprovider
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; commit $(git rev-parse --short HEAD)"
cat "$report"
echo
