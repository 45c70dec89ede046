# The crash matrix: concurrent 'wtc put' processes and a 'wtc serve' taking
# POSTs, with kill -9 at random moments of puts, of the drainers (put's
# background drainer and serve's drainer child) and of serve itself.  After
# each round everything is recovered (serve restarted, 'wtc drain --once')
# and checked: every acknowledged record (put exit 0: all its records; an
# HTTP 200: all records of that request) is in Redis and in MySQL with the
# newest acknowledged value, and no row is corrupt or unexpected.
#
# Knobs: WTC_CRASH_ROUNDS (default 5), WTC_CRASH_N (records per put, default
# 4000), WTC_CRASH_SEED (bash RANDOM seed, to replay a run).
. "$TOP_SRCDIR/tests/lib.sh"

command -v curl >/dev/null || fail "curl not found"

ROUNDS=${WTC_CRASH_ROUNDS:-5}
N=${WTC_CRASH_N:-4000}
[ "$N" -ge 10 ] && [ "$N" -le 9999 ] || fail "WTC_CRASH_N must be 10 to 9999"
[ "$ROUNDS" -le 999 ] || fail "WTC_CRASH_ROUNDS must be at most 999"
NPUT=3
HOT=10		# ids each put rewrites 5 times (age 1..5) in its own file
SHARED=10	# ids every put writes (occupation p<P>)
SEED=${WTC_CRASH_SEED:-$$}
RANDOM=$SEED
log "seed $SEED, $ROUNDS rounds, $NPUT puts of about $N records each"

start_servers
expect_status 0 "$WTC" init
SSPOOL="$T/sspool"	# serve's own spool: two drainers land at once

# Id layout per round R (no range overlaps another):
#   put P unique:    100000000 + R*100000 + P*10000 + I  (name u<id>, age id%100)
#   serve unique:    200000000 + R*100000 + J*10    + M  (name u<id>, age id%100)
#   serve hot:       300000000 + R                      (age J, increasing)
#   put P hot:       400000000 + R*1000   + P*100   + K  (age 1..5, last wins)
#   shared by puts:  500000000 + R*100    + K            (occupation p<P>)
# so R < 1000, I < 10000, J < 10000.
gen_put() {	# R P > NDJSON
	awk -v r="$1" -v p="$2" -v n="$N" -v hot="$HOT" -v shared="$SHARED" 'BEGIN {
		step = int(n / 5)
		for (i = 1; i <= n; i++) {
			id = 100000000 + r * 100000 + p * 10000 + i
			printf "{\"id\": %d, \"name\": \"u%d\", \"age\": %d, \"occupation\": \"put\"}\n", id, id, id % 100
			if (i % step == 0 && i / step <= 5)
				for (k = 1; k <= hot; k++) {
					h = 400000000 + r * 1000 + p * 100 + k
					printf "{\"id\": %d, \"name\": \"h%d\", \"age\": %d, \"occupation\": \"hot\"}\n", h, h, i / step
				}
		}
		for (k = 1; k <= shared; k++) {
			s = 500000000 + r * 100 + k
			printf "{\"id\": %d, \"name\": \"s%d\", \"age\": %d, \"occupation\": \"p%d\"}\n", s, s, p, p
		}
	}'
}

# serve_load R: POST NDJSON bodies of 9 unique records plus the hot id, one
# request at a time; log "J" for every 200.  Stops after 3 failures in a row.
serve_load() {
	_r=$1
	_fails=0
	_j=1
	while [ $_j -le 400 ] && [ $_fails -lt 3 ]; do
		awk -v r="$_r" -v j="$_j" 'BEGIN {
			for (m = 0; m < 9; m++) {
				id = 200000000 + r * 100000 + j * 10 + m
				printf "{\"id\": %d, \"name\": \"u%d\", \"age\": %d, \"occupation\": \"serve\"}\n", id, id, id % 100
			}
			printf "{\"id\": %d, \"name\": \"sh\", \"age\": %d, \"occupation\": \"servehot\"}\n", 300000000 + r, j
		}' >"$T/body.$_r"
		_code=$(curl -s -o "$T/resp.$_r" -w '%{http_code}' --max-time 20 \
		    -X POST -H 'Content-Type: application/x-ndjson' \
		    --data-binary @"$T/body.$_r" "$URL/write-through" || true)
		if [ "$_code" = 200 ]; then
			grep -q '"accepted": 10, "rejected": 0' "$T/resp.$_r" ||
			    echo "BADRESP $_j $(cat "$T/resp.$_r")"
			echo "$_j"
			_fails=0
		else
			_fails=$((_fails + 1))
		fi
		_j=$((_j + 1))
	done
}

SERVE_PID=
crash_serve() {
	: >"$T/serve.err"
	"$WTC" serve --spool "$SSPOOL" --listen 127.0.0.1:0 --no-access-log \
	    --threads 2 --workers 4 2>>"$T/serve.err" &
	SERVE_PID=$!
	EXTRA_PIDS="$EXTRA_PIDS $SERVE_PID"
	wait_until 20 grep -q "listening on" "$T/serve.err" ||
	    { cat "$T/serve.err" >&2; fail "wtc serve did not start"; }
	URL=$(sed -n 's/.*listening on \([^ ]*\) .*/\1/p' "$T/serve.err" | tail -n 1)
}

# Random sleep of 0 to $1 hundredths of a second.
rsleep() { sleep "$(awk -v c=$((RANDOM % ($1 + 1))) 'BEGIN { printf "%.2f", c / 100 }')"; }

killpid() {	# kill -9 a live pid, counting it
	if [ -n "$1" ] && kill -0 "$1" 2>/dev/null; then
		kill -KILL "$1" 2>/dev/null && KILLS=$((KILLS + 1)) &&
		    log "round $r: kill -9 $2 (pid $1)"
	fi
	return 0
}
drainer_of() { cat "$1/drain.pid" 2>/dev/null || true; }
serve_child() { ps -o pid= --ppid "$SERVE_PID" 2>/dev/null | tr -d ' ' | head -n 1; }

# Stop every drainer of both spools (they may be orphans of a killed serve).
stop_all_drainers() {
	for _s in "$WTC_SPOOL" "$SSPOOL"; do
		_p=$(drainer_of "$_s")
		[ -n "$_p" ] && kill_wait "$_p"
	done
	return 0
}

KILLS=0
ACKED=0
LOST=0
: >"$T/acked.tsv"	# id name age: acknowledged, exact value expected
: >"$T/atleast.tsv"	# id age: acknowledged hot writes, age at least this

crash_serve
r=1
while [ $r -le $ROUNDS ]; do
	for p in $(seq 1 $NPUT); do gen_put $r $p >"$T/put.$r.$p"; done

	serve_load $r >"$T/serve-acked.$r" 2>/dev/null &
	LOADPID=$!
	EXTRA_PIDS="$EXTRA_PIDS $LOADPID"
	pids=
	for p in $(seq 1 $NPUT); do
		"$WTC" put -q --batch $((50 + RANDOM % 200)) -f "$T/put.$r.$p" \
		    2>"$T/put.$r.$p.err" &
		eval "PUT_$p=$!"
		pids="$pids $!"
		EXTRA_PIDS="$EXTRA_PIDS $!"
	done

	# The victims this round: each put with probability 2/3, the drainers
	# of both spools, and serve in two rounds out of three.
	rsleep 20
	killpid "$(serve_child)" "serve's drainer"
	for p in $(seq 1 $NPUT); do
		if [ $((RANDOM % 3)) != 0 ]; then
			rsleep 15
			eval "killpid \$PUT_$p 'put $p'"
		fi
	done
	rsleep 30
	killpid "$(drainer_of "$WTC_SPOOL")" "put's drainer"
	if [ $((RANDOM % 3)) != 0 ]; then
		rsleep 50
		killpid "$SERVE_PID" "serve"
		killpid "$(drainer_of "$SSPOOL")" "serve's orphaned drainer"
	fi

	# Collect the outcome of every put.
	for p in $(seq 1 $NPUT); do
		eval "pp=\$PUT_$p"
		set +e
		wait "$pp"
		rc=$?
		set -e
		if [ $rc = 0 ]; then
			gen_put $r $p | awk -v r=$r -v p=$p -F'[:,]' '
			    { id = $2 + 0; name = $4; gsub(/[" ]/, "", name); age = $6 + 0
			      if (id >= 500000000) next	# shared: checked below
			      v[id] = name "\t" age }
			    END { for (id in v) print id "\t" v[id] }' >>"$T/acked.tsv"
			echo "put $r $p ok" >>"$T/puts.log"
		elif [ $rc -lt 128 ]; then
			cat "$T/put.$r.$p.err" >&2
			fail "round $r: put $p exited $rc (not killed)"
		else
			echo "put $r $p killed" >>"$T/puts.log"
		fi
	done
	# Serve: stop the load (serve may still be up), then collect the 200s.
	if kill -0 "$SERVE_PID" 2>/dev/null; then
		wait_until 30 sh -c "[ \$(wc -l <'$T/serve-acked.$r') -ge 30 ]" || true
		kill -TERM "$SERVE_PID"
		set +e; wait "$SERVE_PID"; src=$?; set -e
		[ $src = 0 ] || fail "round $r: serve exited $src after SIGTERM"
	else
		wait "$SERVE_PID" 2>/dev/null || true
	fi
	wait "$LOADPID" 2>/dev/null || true
	if grep -q BADRESP "$T/serve-acked.$r"; then
		grep BADRESP "$T/serve-acked.$r" >&2
		fail "round $r: a 200 that did not accept every record"
	fi
	awk -v r=$r '{ for (m = 0; m < 9; m++) { id = 200000000 + r * 100000 + $1 * 10 + m
	    print id "\tu" id "\t" id % 100 } }' "$T/serve-acked.$r" >>"$T/acked.tsv"
	last=$(sort -n "$T/serve-acked.$r" | tail -n 1)
	[ -z "$last" ] || echo "$((300000000 + r))	$last" >>"$T/atleast.tsv"
	log "round $r: serve acknowledged $(wc -l <"$T/serve-acked.$r") requests"

	# Recover: no drainer left over, land both spools, restart serve.  A
	# put killed just after it forked its drainer leaves one that may take
	# the spool's lock only now (exit 75 here): stop it too, and again.
	for s in "$WTC_SPOOL" "$SSPOOL"; do
		_try=1
		while :; do
			stop_all_drainers
			set +e
			"$WTC" drain --once --spool "$s" >"$T/recover.out" 2>&1
			rc=$?
			set -e
			[ $rc = 0 ] && break
			if [ $rc != 75 ] || [ $_try -ge 10 ]; then
				cat "$T/recover.out" >&2
				fail "round $r: drain --once of $s exited $rc"
			fi
			log "round $r: $(tail -n 1 "$T/recover.out"); again"
			_try=$((_try + 1))
			sleep 0.5
		done
	done
	crash_serve
	r=$((r + 1))
done

# --- verify ------------------------------------------------------------------
# Hot ids of acknowledged puts must hold their last value (age 5).
for line in $(grep ' ok$' "$T/puts.log" | tr ' ' ':'); do
	rr=$(echo "$line" | cut -d: -f2)
	pp=$(echo "$line" | cut -d: -f3)
	for k in $(seq 1 $HOT); do
		h=$((400000000 + rr * 1000 + pp * 100 + k))
		printf '%s\th%s\t5\n' $h $h >>"$T/acked.tsv"
	done
done
sort -n -u "$T/acked.tsv" >"$T/acked.sorted"
ACKED=$(wc -l <"$T/acked.sorted")
[ "$ACKED" -gt 0 ] || fail "nothing was acknowledged: the test tested nothing"
# An id acknowledged with two different values would be a bug in this test.
dups=$(cut -f1 "$T/acked.sorted" | uniq -d | head -n 3)
[ -z "$dups" ] || fail "test bug: ids with two expected values: $dups"

sql "SELECT id, name, IFNULL(age, 'NULL'), IFNULL(occupation, 'NULL'), _wtc_version FROM users ORDER BY id" >"$T/mysql.tsv"

# MySQL: every acknowledged record, with its value.
awk -F'\t' 'NR == FNR { m[$1] = $2 "\t" $3; next }
    { if (!($1 in m)) { print "missing in mysql: " $1; next }
      if (m[$1] != $2 "\t" $3) print "wrong in mysql: " $1 " has " m[$1] ", expected " $2 "\t" $3 }' \
    "$T/mysql.tsv" "$T/acked.sorted" >"$T/lost.mysql"

# Redis: every acknowledged record; its version equal to MySQL's.
cut -f1 "$T/acked.sorted" | awk '{ print "HMGET users:" $1 " name age _wtc_version" }' |
    rcli | paste - - - >"$T/redis.vals"
cut -f1 "$T/acked.sorted" | paste - "$T/redis.vals" >"$T/redis.tsv"
awk -F'\t' 'NR == FNR { e[$1] = $2 "\t" $3; next }
    FILENAME == ARGV[2] { v[$1] = $5; next }
    { if ($2 == "") { print "missing in redis: " $1; next }
      if ($2 "\t" $3 != e[$1]) print "wrong in redis: " $1 " has " $2 "\t" $3
      else if ($4 != v[$1]) print "version differs: " $1 " redis " $4 " mysql " v[$1] }' \
    "$T/acked.sorted" "$T/mysql.tsv" "$T/redis.tsv" >"$T/lost.redis"

# Serve's hot id: at least the last acknowledged age, in both.
while read -r id age; do
	m=$(awk -F'\t' -v id=$id '$1 == id { print $3 }' "$T/mysql.tsv")
	h=$(rcli HGET users:$id age)
	{ [ -n "$m" ] && [ "$m" -ge "$age" ]; } || echo "serve hot $id: mysql age '$m' < acknowledged $age" >>"$T/lost.mysql"
	{ [ -n "$h" ] && [ "$h" -ge "$age" ]; } || echo "serve hot $id: redis age '$h' < acknowledged $age" >>"$T/lost.redis"
done <"$T/atleast.tsv"

# Shared ids: written by several puts; MySQL must hold the newest version
# Redis saw (a killed put may have spooled a newer one Redis never got).
awk -F'\t' '$1 >= 500000000 { print $1 }' "$T/mysql.tsv" |
    awk '{ print "HMGET users:" $1 " occupation _wtc_version" }' | rcli | paste - - >"$T/shared.redis"
awk -F'\t' '$1 >= 500000000' "$T/mysql.tsv" | paste - "$T/shared.redis" |
    awk -F'\t' '$6 != "" && $7 > $5 { print "shared " $1 ": mysql version " $5 " older than redis " $7 }' >>"$T/lost.mysql"

# No corrupt or unexpected rows, acknowledged or not.
awk -F'\t' '
    ($1 >= 100000000 && $1 < 300000000) { if ($2 != "u" $1 || $3 != $1 % 100) print "corrupt row: " $0; next }
    ($1 >= 300000000 && $1 < 400000000) { if ($2 != "sh" || $4 != "servehot") print "corrupt row: " $0; next }
    ($1 >= 400000000 && $1 < 500000000) { if ($2 != "h" $1 || $3 < 1 || $3 > 5) print "corrupt row: " $0; next }
    ($1 >= 500000000 && $1 < 600000000) { if ($2 != "s" $1 || $4 != "p" $3) print "corrupt row: " $0; next }
    { print "unexpected row: " $0 }' "$T/mysql.tsv" >"$T/corrupt"

LOST=$(cat "$T/lost.mysql" "$T/lost.redis" | wc -l)
log "rounds $ROUNDS, kills $KILLS, acknowledged $ACKED, lost $LOST"
echo "rounds $ROUNDS, kills $KILLS, acknowledged $ACKED, lost $LOST"
if [ "$LOST" -gt 0 ]; then
	head -n 20 "$T/lost.mysql" "$T/lost.redis" >&2
	fail "$LOST acknowledged records lost or wrong (seed $SEED)"
fi
if [ -s "$T/corrupt" ]; then
	head -n 20 "$T/corrupt" >&2
	fail "corrupt or unexpected rows in mysql (seed $SEED)"
fi
[ "$KILLS" -gt 0 ] || log "warning: no process was killed (all had finished)"
exit 0
