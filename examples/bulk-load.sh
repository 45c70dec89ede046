#!/bin/sh
# Bulk-load a file of NDJSON records through wtc and wait until MySQL has
# them all.  Uses your configuration (WTC_* variables or
# ~/.config/wtc/config); WTC is the wtc binary (default: the one in PATH).
#
#	examples/bulk-load.sh [FILE]
set -eu
WTC=${WTC:-wtc}
file=${1:-$(dirname "$0")/users.ndjson}

"$WTC" init
# Bad records are reported as FILE:LINE and skipped (exit 65); everything
# else is in Redis and the spool when put returns.
status=0
"$WTC" put -f "$file" || status=$?
[ $status -eq 0 ] || [ $status -eq 65 ] || exit $status

# put started a background drainer; 'wtc status' exits 0 once the spool is
# empty, that is, once every record is in MySQL.
tries=0
until "$WTC" status -q; do
	tries=$((tries + 1))
	if [ $tries -ge 600 ]; then
		"$WTC" status
		echo "bulk-load: the spool is not drained after 60 s" >&2
		exit 1
	fi
	sleep 0.1
done
"$WTC" status
"$WTC" verify
exit $status
