#!/usr/bin/env bash
# Where a serving Tollgate's CPU goes, by thread: runs wrk against one
# endpoint and reads each thread's user+system time from /proc before and
# after. The `ledger-writer` thread's share is the ledger's CPU cost (entry
# encoding, hashing, the index, the SQLite append and its fsync); the
# `tokio-rt-worker` threads do everything else (parsing, store reads, the
# policy, rendering).
#
# Usage: bench/threads.sh PID URL TOKEN [SECONDS]
set -euo pipefail
pid=$1 url=$2 token=$3 secs=${4:-15}
hz=$(getconf CLK_TCK)

snapshot() {
    for t in /proc/"$pid"/task/*; do
        # The name may hold spaces: drop everything up to its closing
        # parenthesis; utime and stime (fields 14 and 15) are then at 11, 12.
        rest=$(sed 's/^.*) //' "$t/stat")
        read -r -a r <<<"$rest"
        echo "$(cat "$t/comm") $((r[11] + r[12]))"
    done | awk '{a[$1] += $2} END {for (k in a) print k, a[k]}' | sort
}

before=$(snapshot)
wrk -t1 -c32 -d"${secs}s" -H "Authorization: Bearer $token" "$url" | grep -E 'Requests/sec'
after=$(snapshot)
join <(echo "$before") <(echo "$after") | awk -v hz="$hz" -v s="$secs" '
    { d[$1] = ($3 - $2) / hz; total += d[$1] }
    END { for (k in d) if (d[k] > 0) printf "%-16s %6.2f CPU s  %5.1f %%\n", k, d[k], 100 * d[k] / total }'
