# wtc status: the spool backlog, the drainer and the dead letters, from the
# spool directory alone (so it answers with both servers down).
. "$TOP_SRCDIR/tests/lib.sh"
start_servers

# No spool yet: nothing waiting.
expect_status 0 "$WTC" status
expect_grep "nothing waiting" "$T/out"
expect_grep "dead letters: 0" "$T/out"

expect_status 0 "$WTC" init
expect_status 0 "$WTC" put --no-drain '{"name": "A"}' '{"name": "B"}' '{"name": "C"}'

# A backlog: exit 1, the count shown, no drainer.
expect_status 1 "$WTC" status
expect_grep "backlog:      3 records (" "$T/out"
expect_grep "waiting for mysql, oldest" "$T/out"
expect_grep "drainer:      not running" "$T/out"
expect_status 1 "$WTC" status -q
assert_eq "$(cat "$T/out")" "" "quiet output"
expect_status 1 "$WTC" status --json
python3 -c '
import json, sys
s = json.load(sys.stdin)
assert s["records"] == 3, s
assert s["bytes"] > 0, s
assert s["oldest_age_s"] is not None and s["oldest_age_s"] >= 0, s
assert s["drainer"]["running"] is False, s
assert s["dead_letters"] == 0, s
' <"$T/out" || fail "status --json with a backlog: $(cat "$T/out")"

# It works with Redis and MySQL down: it reads only the spool.
stop_redis
stop_mariadb
expect_status 1 "$WTC" status
expect_grep "3 records" "$T/out"
start_redis
start_mariadb

# Drained: exit 0, and the drainer's last state is reported.
expect_status 0 "$WTC" drain --once
expect_status 0 "$WTC" status
expect_grep "nothing waiting" "$T/out"
expect_no_grep "last error" "$T/out"
expect_status 0 "$WTC" status --json
python3 -c '
import json, sys
s = json.load(sys.stdin)
assert s["records"] == 0 and s["oldest_age_s"] is None, s
assert s["drainer"]["landed"] == 3, s
assert s["drainer"]["state"] == "stopped", s
assert s["last_error"] is None, s
' <"$T/out" || fail "status --json after the drain: $(cat "$T/out")"

# The scripted wait: a background drainer empties the spool.
expect_status 0 "$WTC" put '{"name": "D"}'
i=0
until "$WTC" status -q; do
	i=$((i + 1))
	[ $i -lt 100 ] || fail "the background drainer did not empty the spool"
	sleep 0.1
done
assert_eq "$(sql 'SELECT COUNT(*) FROM users')" "4" "rows after the wait"
# That drainer leaves when idle (it removes its pid file).
wait_until 20 sh -c "! test -f '$WTC_SPOOL/drain.pid'" ||
    fail "the background drainer did not exit"

# A running drainer is shown with its pid.
"$WTC" drain >"$T/drain.out" 2>&1 &
DPID=$!
EXTRA_PIDS="$EXTRA_PIDS $DPID"
wait_until 10 test -f "$WTC_SPOOL/drain.pid" || fail "no drain.pid"
expect_status 0 "$WTC" status
expect_grep "drainer:      running (pid $DPID" "$T/out"
expect_status 0 "$WTC" status --json
expect_grep "\"running\":true,\"pid\":$DPID" "$T/out"
kill_wait "$DPID"

# A stale pid file is not a running drainer.
echo 999999 >"$WTC_SPOOL/drain.pid"
expect_status 0 "$WTC" status
expect_grep "not running (stale pid file: 999999)" "$T/out"
rm -f "$WTC_SPOOL/drain.pid"

# Usage errors.
expect_status 64 "$WTC" status --bogus
expect_grep "wtc status: unknown option '--bogus'" "$T/err"
expect_status 64 "$WTC" status extra
expect_grep "unexpected argument 'extra'" "$T/err"

# The age is the oldest waiting record's, not its segment's: serve keeps
# one segment open, and a record written a moment ago read as old as the
# segment (and grew with it).
start_serve aged --listen 127.0.0.1:0 --no-drainer --no-access-log
wpost() { curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -d "$1" "$URL/write-through"; }
assert_eq "$(wpost '{"name": "early"}')" 200 "first write"
expect_status 0 "$WTC" drain --once
sleep 3
assert_eq "$(wpost '{"name": "late"}')" 200 "second write"
expect_status 1 "$WTC" status --json
python3 -c 'import json,sys; s = json.load(sys.stdin); assert s["records"] == 1 and s["oldest_age_s"] <= 1, s' <"$T/out" ||
    fail "age of a record just written: $(cat "$T/out")"
kill_wait "$aged_PID"
expect_status 0 "$WTC" drain --once

# Bad input: a spool path that is not a directory.
: >"$T/notadir"
expect_status 74 "$WTC" --spool "$T/notadir" status
expect_grep "cannot open spool directory" "$T/err"
exit 0
