#!/bin/sh
# A walk-through of wtc serve with curl: the original service's request,
# a bulk request, a read-through GET, health and metrics, and a clean stop.
# Uses your configuration (WTC_* variables or ~/.config/wtc/config).
#
#	examples/serve-curl.sh [PORT]
set -eu
WTC=${WTC:-wtc}
port=${1:-8080}
url=http://127.0.0.1:$port

"$WTC" init
"$WTC" serve --listen "127.0.0.1:$port" 2>"${TMPDIR:-/tmp}/wtc-serve-$$.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
tries=0
until curl -fsS "$url/healthz" >/dev/null 2>&1; do
	tries=$((tries + 1))
	[ $tries -lt 100 ] || { cat "${TMPDIR:-/tmp}/wtc-serve-$$.log" >&2; exit 1; }
	sleep 0.1
done

echo "# the original service's request, unchanged"
curl -sS -X POST "$url/write-through" -H "Content-Type: application/json" \
    -d '{"name": "John Doe", "age": 30, "occupation": "Engineer"}'
echo

echo "# several records in one request (NDJSON), one of them bad"
printf '%s\n' '{"name": "Ann Lee", "age": 41}' '{"name": "Bo", "age": "old"}' |
    curl -sS -X POST "$url/write-through" -H "Content-Type: application/x-ndjson" \
    --data-binary @-
echo

echo "# read-through"
curl -sS "$url/users/1"
echo

echo "# health and a few metrics"
curl -sS "$url/healthz"
echo
curl -sS "$url/metrics" | grep -E '^wtc_(records_accepted|spool_backlog_records)' || true

echo "# SIGTERM: in-flight requests finish, the spool is synced, exit 0"
kill -TERM $pid
wait $pid
trap - EXIT
rm -f "${TMPDIR:-/tmp}/wtc-serve-$$.log"
