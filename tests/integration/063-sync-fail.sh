# A spool fdatasync that fails (EIO) after Redis took the records, through
# a preloaded fdatasync (failsync.c).  Once: the write goes to a new
# segment, is acknowledged with a warning, and lands.  Twice: the write
# fails, and Redis is given back what it held before, so that it does not
# keep records MySQL will never get; also when Redis failed partway.
. "$TOP_SRCDIR/tests/lib.sh"
start_servers
expect_status 0 "$WTC" init

${CC:-cc} -shared -fPIC -o "$T/failsync.so" \
    "$TOP_SRCDIR/tests/integration/failsync.c" -ldl ||
    fail "cannot build the fdatasync shim"
# An ASan build wants its runtime first among the libraries.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
export ASAN_OPTIONS
# failing LIST COMMAND...: COMMAND with the fdatasyncs in LIST failing.
failing() {
	_list=$1
	shift
	LD_PRELOAD="$T/failsync.so" WTC_FAIL_FDATASYNC=$_list "$@"
}

# shim_serve ERRFILE VAR=VALUE...: start serve with the shim and those
# settings in the background (SPID, URL).  Not through failing: a function
# in the background is a subshell's pid.
shim_serve() {
	_err=$1
	shift
	env LD_PRELOAD="$T/failsync.so" "$@" \
	    "$WTC" serve --listen 127.0.0.1:0 $SERVE_ARGS 2>"$_err" &
	SPID=$!
	EXTRA_PIDS="$EXTRA_PIDS $SPID"
	wait_until 15 grep -q "listening on" "$_err" ||
	    { cat "$_err" >&2; fail "wtc serve did not start"; }
	URL=$(sed -n 's/.*listening on \([^ ]*\) .*/\1/p' "$_err")
}

# The shim works: the first fdatasync of a plain put fails, and without the
# retry that would fail the put.
printf '{"id": 1, "name": "old", "age": 1, "occupation": "x"}\n' >"$T/one"
expect_status 0 "$WTC" put --no-drain -f "$T/one"
expect_status 0 "$WTC" drain --once
assert_eq "$(sql 'SELECT name FROM users WHERE id = 1')" old "row 1"

# --- 1. One failed sync: written again, acknowledged, landed -----------------
printf '%s\n' '{"id": 1, "name": "new", "age": 2, "occupation": "y"}' \
    '{"id": 2, "name": "two", "age": 2, "occupation": "y"}' \
    '{"name": "fresh", "age": 3, "occupation": "z"}' >"$T/three"
expect_status 0 failing 1 "$WTC" put --no-drain -f "$T/three"
expect_grep "warning: cannot sync spool segment" "$T/err"
expect_grep "Input/output error; the write's 3 records went to a new segment and synced there" "$T/err"
expect_grep "3 accepted, 0 rejected" "$T/err"
log "one failed sync: $(grep -m1 'warning' "$T/err")"
assert_eq "$(rcli HGET users:1 name)" new "redis users:1 after a recovered sync"
expect_status 0 "$WTC" drain --once
assert_eq "$(sql 'SELECT name FROM users WHERE id = 1')" new "row 1"
assert_eq "$(sql 'SELECT name FROM users WHERE id = 2')" two "row 2"
assert_eq "$(sql "SELECT COUNT(*) FROM users WHERE name = 'fresh'")" 1 "fresh row"
expect_status 0 "$WTC" verify

# --- 2. Two failed syncs: not acknowledged, taken back out of Redis ----------
printf '%s\n' '{"id": 1, "name": "newer", "age": 4, "occupation": "w"}' \
    '{"id": 30, "name": "thirty", "age": 4, "occupation": "w"}' >"$T/two"
expect_status 74 failing 1,2 "$WTC" put --no-drain -f "$T/two"
expect_grep "cannot sync spool segment" "$T/err"
expect_grep "and again in a new segment" "$T/err"
expect_grep "the records were taken back out of redis" "$T/err"
expect_grep "0 accepted, 0 rejected" "$T/err"
assert_eq "$(rcli EXISTS users:1)" 0 "users:1 taken back out of redis"
assert_eq "$(rcli EXISTS users:30)" 0 "users:30 taken back out of redis"
# Nothing of the failed write lands; MySQL and Redis agree after read-through.
expect_status 0 "$WTC" drain --once
assert_eq "$(sql 'SELECT name FROM users WHERE id = 1')" new "row 1 after the failed write"
assert_eq "$(sql 'SELECT COUNT(*) FROM users WHERE id = 30')" 0 "row 30"
expect_status 0 "$WTC" get 1
expect_grep "name: new" "$T/out"
assert_eq "$(rcli HGET users:1 name)" new "redis users:1 filled from mysql"

# --- 2a. ... and a drainer running meanwhile does not land it either --------
# The failing syncs take 2 s each; the drainer reads the live segment only
# up to its last good sync (it landed the unsynced record before, so MySQL
# held a write that put reported failed and Redis did not hold).
"$WTC" drain --batch-ms 1 2>"$T/drain2a.err" &
d2a=$!
EXTRA_PIDS="$EXTRA_PIDS $d2a"
printf '%s\n' '{"id": 31, "name": "failed", "age": 5, "occupation": "v"}' >"$T/one31"
WTC_FAIL_FDATASYNC_DELAY_MS=2000 expect_status 74 failing 1,2 "$WTC" put --no-drain -f "$T/one31"
expect_grep "the records were taken back out of redis" "$T/err"
expect_status 0 "$WTC" put --no-drain '{"id": 32, "name": "after", "age": 5}'
landed32() { [ "$(sql 'SELECT COUNT(*) FROM users WHERE id = 32')" = 1 ]; }
wait_until 20 landed32 || { cat "$T/drain2a.err" >&2; fail "the running drainer landed nothing"; }
kill_wait "$d2a"
assert_eq "$(sql 'SELECT COUNT(*) FROM users WHERE id = 31')" 0 "row 31 of the failed write"
assert_eq "$(rcli EXISTS users:31)" 0 "users:31 in redis"

# --- 2b. Taking back spares a newer write of the same key --------------------
# The first failed sync takes 3 s; meanwhile another put replaces id 40.
# Then the retry fails too, and the undo must leave that newer write alone.
printf '{"id": 40, "name": "doomed", "age": 4, "occupation": "w"}\n' >"$T/doomed"
LD_PRELOAD="$T/failsync.so" WTC_FAIL_FDATASYNC=1,2 \
    WTC_FAIL_FDATASYNC_DELAY_MS=3000 \
    "$WTC" put --no-drain -f "$T/doomed" >"$T/slow.out" 2>"$T/slow.err" &
SLOW=$!
EXTRA_PIDS="$EXTRA_PIDS $SLOW"
wait_until 10 sh -c "[ \"\$(redis-cli -s $REDIS_SOCK HGET users:40 name)\" = doomed ]" ||
    fail "the slow put did not reach redis"
expect_status 0 "$WTC" put --no-drain \
    '{"id": 40, "name": "newer", "age": 5, "occupation": "v"}'
st=0
wait "$SLOW" || st=$?
assert_eq "$st" 74 "exit status of the put whose syncs failed"
expect_grep "the records were taken back out of redis" "$T/slow.err"
assert_eq "$(rcli HGET users:40 name)" newer "redis users:40 after the undo"
expect_status 0 "$WTC" drain --once
assert_eq "$(sql 'SELECT name FROM users WHERE id = 40')" newer "row 40"

# --- 2c. Redis fails partway and the sync fails: what Redis took goes back ---
# users:51 is not a hash, so the script that writes 50 and 51 stops with an
# error after writing 50; the spool sync fails as well.
rcli SET users:51 not-a-hash >/dev/null
printf '%s\n' '{"id": 50, "name": "half", "age": 5, "occupation": "h"}' \
    '{"id": 51, "name": "other", "age": 5, "occupation": "h"}' >"$T/half"
expect_status 74 failing 1 "$WTC" put --no-drain -f "$T/half"
expect_grep "cannot sync spool segment" "$T/err"
expect_grep "redis failed too: redis refused a write of 2 records (the first is 'users:50'): WRONGTYPE" "$T/err"
expect_grep "the records were taken back out of redis" "$T/err"
log "redis and spool failed: $(grep -m1 'redis failed too' "$T/err")"
assert_eq "$(rcli EXISTS users:50)" 0 "users:50 taken back out of redis"
assert_eq "$(rcli GET users:51)" not-a-hash "users:51 left alone"
expect_status 0 "$WTC" drain --once
assert_eq "$(sql 'SELECT COUNT(*) FROM users WHERE id IN (50, 51)')" 0 "rows 50 and 51"
rcli DEL users:51 >/dev/null

# --- 3. serve: one failed sync still answers 200, and the record lands --------
SERVE_ARGS=--no-drainer
shim_serve "$T/serve.err" WTC_FAIL_FDATASYNC=1
code=$(curl -s -o "$T/body" -w '%{http_code}' -X POST "$URL/write-through" \
    -H 'Content-Type: application/json' \
    -d '{"id": 5, "name": "five", "age": 6, "occupation": "u"}')
assert_eq "$code" 200 "status of a write whose first sync failed"
expect_grep '"message": "Data write successful!"' "$T/body"
kill -TERM "$SPID"
wait "$SPID" || fail "serve exited $? on SIGTERM"
expect_grep "warning: cannot sync spool segment" "$T/serve.err"
expect_status 0 "$WTC" drain --once
assert_eq "$(sql 'SELECT name FROM users WHERE id = 5')" five "row 5"

# --- 4. A full disk: a batch is written all or nothing -----------------------
# Batches of 3000 records of about 550 bytes (1.7 MB: more than the 1 MiB
# that was written as soon as it was buffered); the segment takes 2.9 MB,
# so the second batch fails after its first MiB.  None of it may land: it
# was not acknowledged, and a put run again would write its id-less records
# twice.
python3 -c '
for i in range(9000):
    print("{\"id\": %d, \"name\": \"%s\", \"occupation\": \"%s\"}" %
          (10001 + i, "n" * 250, "o" * 250))
' >"$T/full.ndjson"
expect_status 74 env LD_PRELOAD="$T/failsync.so" WTC_FAIL_SEGMENT_BYTES=2900000 \
    "$WTC" put --no-drain --batch 3000 -f "$T/full.ndjson"
expect_grep "No space left on device" "$T/err"
expect_grep "3000 accepted" "$T/err"
expect_status 0 "$WTC" drain --once
assert_eq "$(sql 'SELECT COUNT(*), MIN(id), MAX(id) FROM users WHERE id > 10000')" \
    "$(printf '3000\t10001\t13000')" "rows of a put that filled the disk"
assert_eq "$(rcli EXISTS users:13001)" 0 "a record of the failed batch in redis"

# The same with a drainer running: it must not read the start of the
# failed write in the moment before it is cut off (the shim waits 2 s
# after the part that fits, as a slow disk would), and land it.
sql 'DELETE FROM users WHERE id > 10000'
rcli FLUSHALL >/dev/null
"$WTC" drain >"$T/race-drain.log" 2>&1 &
RPID=$!
EXTRA_PIDS="$EXTRA_PIDS $RPID"
expect_status 74 env LD_PRELOAD="$T/failsync.so" WTC_FAIL_SEGMENT_BYTES=2900000 \
    WTC_FAIL_SEGMENT_DELAY_MS=2000 "$WTC" put --no-drain --batch 3000 -f "$T/full.ndjson"
expect_grep "3000 accepted" "$T/err"
wait_until 30 "$WTC" status -q || fail "the drainer did not catch up"
kill -TERM "$RPID"
wait "$RPID" || fail "drainer exit status"
assert_eq "$(sql 'SELECT COUNT(*), MIN(id), MAX(id) FROM users WHERE id > 10000')" \
    "$(printf '3000\t10001\t13000')" "rows of a failed write read by a running drainer"

# --- 5. The checkpoint cannot be written (a full disk): the drain goes on ---
# It used to land the same batch again and again, never removing a segment,
# so a spool that had filled the disk never gave any space back.
sql 'DELETE FROM users WHERE id > 10000'
for i in 1 2 3; do
	python3 -c '
import sys
b = int(sys.argv[1]) * 100000
for i in range(4000):
    print("{\"id\": %d, \"name\": \"c%d\"}" % (b + i, i))
' "$i" >"$T/ck$i.ndjson"
	expect_status 0 "$WTC" put --no-drain -f "$T/ck$i.ndjson"
done
touch "$T/disk-full"
segs() { find "$WTC_SPOOL" -maxdepth 1 -name 'seg-*' | wc -l; }
[ "$(segs)" -ge 3 ] || fail "expected three sealed segments, found $(segs)"
expect_status 0 env LD_PRELOAD="$T/failsync.so" WTC_FAIL_CHECKPOINT="$T/disk-full" \
    "$WTC" drain --once --batch 1000
expect_grep "cannot write spool checkpoint" "$T/err"
expect_grep "No space left on device; carrying on, the checkpoint is written once it can be" "$T/err"
expect_grep "landed 12000 records" "$T/err"
assert_eq "$(segs)" 0 "segments left after a drain that could not checkpoint"
assert_eq "$(sql 'SELECT COUNT(*) FROM users WHERE id >= 100000 AND id < 500000')" 12000 "rows"

# A running drainer writes the checkpoint once the disk has room again.
python3 -c '
for i in range(100):
    print("{\"id\": %d, \"name\": \"late\"}" % (500000 + i))' >"$T/ck4.ndjson"
LD_PRELOAD="$T/failsync.so" WTC_FAIL_CHECKPOINT="$T/disk-full" \
    "$WTC" drain >"$T/ckdrain.log" 2>&1 &
CKPID=$!
EXTRA_PIDS="$EXTRA_PIDS $CKPID"
expect_status 0 "$WTC" put --no-drain -f "$T/ck4.ndjson"
late_landed() { [ "$(sql 'SELECT COUNT(*) FROM users WHERE id >= 500000')" = 100 ]; }
wait_until 30 late_landed || { cat "$T/ckdrain.log" >&2; fail "records not landed with the checkpoint failing"; }
wait_until 10 grep -q "carrying on" "$T/ckdrain.log" || fail "no warning about the checkpoint"
rm -f "$T/disk-full"
wait_until 10 grep -q "spool checkpoint written again" "$T/ckdrain.log" ||
    { cat "$T/ckdrain.log" >&2; fail "checkpoint not written once the disk had room"; }
kill -TERM "$CKPID"
wait "$CKPID" || fail "drainer exit status"
expect_status 0 "$WTC" status

# --- 6. A dead-letter append cut short by a full disk is cut back off -------
# It used to stay, torn, and the next append was glued to it: a line that
# is not JSON, holding a dead letter that list, show and retry cannot reach.
DL="$WTC_SPOOL/dead-letter.ndjson"
sql "ALTER TABLE users ADD CONSTRAINT age_ok CHECK (age < 150)"
# A torn line left by a crash gets its line end before the next append.
printf '{"torn by a crash' >"$DL"
before=$(wc -c <"$DL")
expect_status 0 "$WTC" put --no-drain '{"id": 600001, "name": "old", "age": 151}' \
    '{"id": 600002, "name": "ok", "age": 1}' '{"id": 600003, "name": "older", "age": 152}'
touch "$T/dl-full"
expect_status 75 env LD_PRELOAD="$T/failsync.so" WTC_FAIL_DEAD_LETTER="$T/dl-full" \
    "$WTC" drain --once --retry-for 1
expect_grep "cannot write dead letter file" "$T/err"
assert_eq "$(wc -c <"$DL")" "$before" "dead-letter file after a failed append"
rm -f "$T/dl-full"
expect_status 0 "$WTC" drain --once
assert_eq "$(sed -n 1p "$DL")" '{"torn by a crash' "the torn line"
assert_eq "$(sed -n '2,$p' "$DL" | python3 -c '
import json, sys
print(" ".join(str(json.loads(l)["record"]["id"]) for l in sys.stdin))')" \
    "600001 600003" "dead letters after the disk had room"
assert_eq "$(sql 'SELECT name FROM users WHERE id = 600002')" ok "the good record"
sql "ALTER TABLE users DROP CONSTRAINT age_ok"

# --- 7. serve starts on a full disk, and its drainer with it ----------------
# It used to exit 74 at once (the schema cache and a segment header), so a
# serve restarted while the disk was full ran no drainer to give space back.
SERVE_ARGS=
shim_serve "$T/full-serve.err" WTC_FAIL_SEGMENT_BYTES=0 WTC_FAIL_WRITE_PATH=/schema-
expect_grep "warning: cannot write schema cache" "$T/full-serve.err"
code=$(curl -s -o "$T/body" -w '%{http_code}' -X POST "$URL/write-through" \
    -H 'Content-Type: application/json' -d '{"id": 700001, "name": "full"}')
assert_eq "$code" 503 "a write on a full disk"
expect_grep "No space left on device" "$T/body"
curl -s "$URL/healthz" >"$T/health"
expect_grep '"drainer": "running"' "$T/health"
kill -TERM "$SPID"
wait "$SPID" || fail "serve exited $? on SIGTERM"
assert_eq "$(rcli EXISTS users:700001)" 0 "the refused record in redis"

# --- 8. A bulk body that fails after its first chunk of 4096 records: 500 ---
# Those records were written: a 503 (send it again) would land them twice.
SERVE_ARGS=--no-drainer
shim_serve "$T/bulk-serve.err" WTC_FAIL_SEGMENT_BYTES=400000
python3 -c '
for i in range(10000):
    print("{\"id\": %d, \"name\": \"bulk %d\"}" % (800000 + i, i))' >"$T/bulk.ndjson"
code=$(curl -s -D "$T/bulk.hdr" -o "$T/body" -w '%{http_code}' -X POST "$URL/write-through" \
    -H 'Content-Type: application/x-ndjson' --data-binary @"$T/bulk.ndjson")
assert_eq "$code" 500 "status of a bulk body that failed after its first chunk"
expect_grep "the 4096 records before the failed chunk were written" "$T/body"
expect_no_grep "Retry-After" "$T/bulk.hdr"
kill -TERM "$SPID"
wait "$SPID" || fail "serve exited $? on SIGTERM"
expect_status 0 "$WTC" drain --once
assert_eq "$(sql 'SELECT COUNT(*) FROM users WHERE id >= 800000')" 4096 "rows of the bulk body"

# --- 9. The spool's reserve: dead letters on a full disk -------------------
# With the spool filling the disk, a batch whose dead letters could not be
# written was read again for ever, and no segment was removed.  The drainer
# gives up SPOOL/reserve (which put and serve set aside) to write them.
# (The shim fails the dead-letter writes while the reserve exists, as a
# full disk would.)
sql "ALTER TABLE users ADD CONSTRAINT age_ok CHECK (age < 150)"
: >"$DL"
expect_status 0 "$WTC" put --no-drain '{"id": 900001, "name": "bad", "age": 200}' \
    '{"id": 900002, "name": "good", "age": 2}'
head -c 100000 /dev/zero >"$WTC_SPOOL/reserve"
expect_status 0 env LD_PRELOAD="$T/failsync.so" WTC_FAIL_DEAD_LETTER="$WTC_SPOOL/reserve" \
    "$WTC" drain --once --retry-for 2
expect_grep "gave up the spool's reserve (reserve) to write it" "$T/err"
assert_eq "$(wc -l <"$DL" | tr -d ' ')" 1 "dead letters"
expect_grep '"id":900001' "$DL"
assert_eq "$(sql 'SELECT name FROM users WHERE id = 900002')" good "the good record"
sql "ALTER TABLE users DROP CONSTRAINT age_ok"
