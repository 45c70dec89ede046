#!/bin/sh
# Crash and recover: kill -9 a drainer in the middle of landing a load,
# and see that nothing acknowledged is lost and nothing lands twice.
# Uses your configuration (WTC_* variables or ~/.config/wtc/config).
#
#	examples/crash-recover.sh [RECORDS]
set -eu
WTC=${WTC:-wtc}
n=${1:-20000}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$WTC" init
# Wait for a background drainer (started by an earlier put) to finish.
"$WTC" drain --once --wait
# Records with explicit ids, so a duplicate would show.
awk -v n="$n" 'BEGIN { for (i = 1; i <= n; i++)
    printf "{\"id\": %d, \"name\": \"crash test %d\", \"age\": %d}\n", 500000 + i, i, i % 90 }' \
    >"$tmp/load.ndjson"
"$WTC" put --no-drain -f "$tmp/load.ndjson"
echo "crash-recover: $n records acknowledged (in Redis and fsync'd in the spool)"

# Start a drainer and kill it hard while it works.
"$WTC" drain --batch 1000 >"$tmp/drain.log" 2>&1 &
pid=$!
sleep 0.3
kill -9 $pid 2>/dev/null || true
wait $pid 2>/dev/null || true
echo "crash-recover: drainer killed with SIGKILL"
"$WTC" status || true

# Recovery is just draining again: the checkpoint says where to resume,
# and the versioned upserts make the replayed batch harmless.
"$WTC" drain --once --wait
"$WTC" status
"$WTC" verify
