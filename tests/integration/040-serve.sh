# wtc serve: the HTTP front end against private redis and mariadb servers,
# driven with curl.  Write-through (single, array, NDJSON), every error
# status, read-through, health, metrics, concurrency, bearer tokens, a unix
# socket, Redis going away, and a clean SIGTERM that loses nothing.
. "$TOP_SRCDIR/tests/lib.sh"

command -v curl >/dev/null || fail "curl not found"

# --- usage errors need no servers -----------------------------------------
expect_status 64 "$WTC" serve --listen nonsense:port
expect_grep "listen address 'nonsense:port' is not ADDR:PORT" "$T/err"
expect_status 64 "$WTC" serve --listen 127.0.0.1:70000
expect_status 64 "$WTC" serve --threads 0
expect_grep "invalid value '0' for --threads" "$T/err"
expect_status 64 "$WTC" serve --bogus
expect_grep "wtc serve: unknown option '--bogus'" "$T/err"
expect_status 0 "$WTC" help serve
expect_grep "usage: wtc serve" "$T/out"

start_servers
expect_status 0 "$WTC" init

# A token file others can read is refused before anything starts.
printf 's3cret-token-%s\n' $$ >"$T/token"
chmod 644 "$T/token"
expect_status 64 "$WTC" serve --token-file "$T/token" --listen 127.0.0.1:0
expect_grep "is readable or writable by every user" "$T/err"
expect_no_grep "s3cret" "$T/err"
chmod 600 "$T/token"
# A directory is no token file: 66, as for one that cannot be opened (it
# was 74, an I/O error).
mkdir -m 700 "$T/tokdir"
expect_status 66 "$WTC" serve --token-file "$T/tokdir" --listen 127.0.0.1:0
expect_grep "cannot open token file '$T/tokdir': Is a directory" "$T/err"
expect_status 66 "$WTC" serve --token-file "$T/missing-token" --listen 127.0.0.1:0
TOKEN=$(cat "$T/token")

# req METHOD PATH [CURL ARGS...]: status code on stdout; headers in $T/h, body in $T/b.
req() {
	_m=$1
	_p=$2
	shift 2
	curl -s -X "$_m" -o "$T/b" -D "$T/h" -w '%{http_code}' "$@" "$URL$_p"
}
post() {
	req POST /write-through -H "Content-Type: ${2:-application/json}" \
	    --data-binary "$1"
}

start_serve main --listen 127.0.0.1:0 --access-log "$T/access.log" \
    --max-body 65536 --threads 2
case $URL in http://127.0.0.1:[0-9]*) ;; *) fail "odd url '$URL'";; esac
PORT=${URL##*:}
expect_grep "(spool $WTC_SPOOL, table users)" "$T/main.err"
wait_until 10 curl -sf "$URL/healthz" || fail "/healthz does not answer"

# --- the original example, verbatim but for the port --------------------
curl -s -X POST http://localhost:$PORT/write-through -H "Content-Type: application/json" -d '{"name": "John Doe", "age": 30, "occupation": "Engineer"}' >"$T/b"
expect_grep '"message": "Data write successful!"' "$T/b"
ID=$(sed -n 's/.*"id": \([0-9]*\).*/\1/p' "$T/b")
[ -n "$ID" ] || fail "no id in $(cat "$T/b")"
assert_eq "$(rcli hget "users:$ID" name)" "John Doe" "name in redis"
assert_eq "$(rcli hget "users:$ID" age)" "30" "age in redis"
# The supervised drainer lands it in MySQL.
wait_until 15 sh -c "[ \"\$(MYSQL_PWD=$DB_PASSWORD mariadb --no-defaults -S $MARIADB_SOCK -uwtc -N -B wtc -e 'select occupation from users where id=$ID')\" = Engineer ]" ||
    fail "record $ID did not reach mysql"

# charset parameters are fine
assert_eq "$(post '{"name": "Ann", "age": 41, "occupation": "Pilot"}' 'application/json; charset=utf-8')" 200 "json with charset"

# --- bulk ------------------------------------------------------------------
assert_eq "$(post '[{"name": "A1", "age": 1, "occupation": "x"}, {"name": "A2", "age": "old"}, {"name": "A3", "age": 3, "occupation": "z"}]')" 200 "array"
expect_grep '"accepted": 2, "rejected": 1' "$T/b"
expect_grep "{\"error\": \"field 'age' must be an integer, not a string\", \"index\": 1}" "$T/b"
[ "$(grep -o '"id": [0-9]*' "$T/b" | wc -l)" = 2 ] || fail "two ids expected: $(cat "$T/b")"
printf '{"name": "N1", "age": 5, "occupation": "a"}\n\n{"name": "N2", "age": 6, "occupation": "b", "colour": "red"}\n{"name": "N3", "age": 7, "occupation": "c"}\n' >"$T/bulk.ndjson"
assert_eq "$(post @"$T/bulk.ndjson" application/x-ndjson)" 200 "ndjson"
expect_grep '"accepted": 2, "rejected": 1' "$T/b"
expect_grep "unknown field 'colour'" "$T/b"
expect_grep '"index": 1, "line": 3}' "$T/b"
# A BOM before an array, as wtc put takes it (it was 400 "not an array").
printf '\357\273\277[{"name": "BOM1", "age": 1}, {"name": "BOM2", "age": 2}]' >"$T/bom.json"
assert_eq "$(post @"$T/bom.json")" 200 "array after a BOM"
expect_grep '"accepted": 2, "rejected": 0' "$T/b"
assert_eq "$(req POST /validate -H 'Content-Type: application/json' --data-binary @"$T/bom.json")" 200 "validate an array after a BOM"
assert_eq "$(post '[{"age": "x"}, 7]')" 422 "all rejected"
expect_grep '"accepted": 0, "rejected": 2' "$T/b"
# All or nothing (?on-error=abort): one bad record and none is written.
keys=$(rcli DBSIZE)
assert_eq "$(req POST '/write-through?on-error=abort' -H 'Content-Type: application/x-ndjson' --data-binary @"$T/bulk.ndjson")" 422 "abort, one bad"
expect_grep '"message": "No records were written: 1 is bad (on-error=abort)", "accepted": 0, "rejected": 1, "results": [{}, {"error": "unknown field' "$T/b"
expect_grep '"index": 1, "line": 3}' "$T/b"
assert_eq "$(rcli DBSIZE)" "$keys" "keys after a refused all-or-nothing body"
assert_eq "$(req POST '/write-through?on-error=abort' -H 'Content-Type: application/json' -d '[{"name": "AB1", "age": 1}, {"name": "AB2", "age": 2}]')" 200 "abort, all good"
expect_grep '"accepted": 2, "rejected": 0' "$T/b"
assert_eq "$(req POST '/write-through?on-error=sometimes' -H 'Content-Type: application/json' -d '[{"name": "AB3"}]')" 400 "bad on-error"
expect_grep '"error": "on-error must be skip or abort"' "$T/b"
assert_eq "$(req POST '/write-through?on-error' -H 'Content-Type: application/json' -d '[{"name": "AB3"}]')" 400 "on-error without a value"
expect_grep '"error": "on-error must be skip or abort"' "$T/b"
assert_eq "$(req POST '/write-through?on-error=skip&on-error=abort' -H 'Content-Type: application/json' -d '[{"name": "AB3"}]')" 400 "on-error twice"
expect_grep '"error": "on-error is given more than once"' "$T/b"
# An empty body: no records (it was once read past its end).
assert_eq "$(req POST /write-through -H 'Content-Type: application/x-ndjson' --data-binary '')" 400 "empty ndjson body"
expect_grep '"error": "the body holds no records"' "$T/b"
assert_eq "$(req POST /validate -H 'Content-Type: application/x-ndjson' --data-binary '')" 400 "empty ndjson body to validate"
expect_grep '"error": "the body holds no records"' "$T/b"
# POST /validate checks as a write would, and writes nothing.
keys=$(rcli DBSIZE)
assert_eq "$(req POST /validate -H 'Content-Type: application/x-ndjson' --data-binary @"$T/bulk.ndjson")" 422 "validate, one bad"
expect_grep '"message": "Some records are not valid; none was written", "valid": 2, "rejected": 1, "results": [{}, {"error": "unknown field' "$T/b"
assert_eq "$(req POST /validate -H 'Content-Type: application/json' -d '{"name": "V1", "age": 3}')" 200 "validate, one good object"
expect_grep '"valid": 1, "rejected": 0, "results": [{}]' "$T/b"
assert_eq "$(req POST /validate -H 'Content-Type: application/json' -d '{"name": "V2",
  "age": "three"}')" 422 "validate, one bad object over two lines"
expect_grep "field 'age' must be an integer, not a string" "$T/b"
assert_eq "$(req POST /validate -H 'Content-Type: application/json' -d '[{"name": "V3"}, 3')" 400 "validate, an array cut short"
assert_eq "$(req GET /validate)" 405 "validate wants POST"
assert_eq "$(rcli DBSIZE)" "$keys" "keys after /validate"

# --- errors ----------------------------------------------------------------
assert_eq "$(post '{"name": "Bad", "age": ')" 400 "malformed json"
expect_grep '"error": "unexpected end of JSON' "$T/b"
assert_eq "$(post '{"name": "Bad", "age": "thirty", "occupation": "x"}')" 422 "schema violation"
expect_grep "field 'age' must be an integer, not a string" "$T/b"
head -c 70000 /dev/zero | tr '\0' 'x' >"$T/big"
assert_eq "$(post @"$T/big")" 413 "too large (Content-Length)"
expect_grep "larger than 65536 bytes" "$T/b"
assert_eq "$(req POST /write-through -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' --data-binary @"$T/big")" 413 "too large (chunked)"
# Bodies whose end is in doubt (libmicrohttpd took the first of two
# Content-Lengths, and waited for a body it could not delimit until the
# timeout): raw requests, as curl would mend them.  Prints the status.
raw() {
	python3 - "$PORT" "$1" <<'EOPY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(10)
s.sendall(sys.argv[2].replace("|", "\r\n").encode())
print(s.recv(4096).decode().split(" ")[1])
EOPY
}
head='POST /write-through HTTP/1.1|Host: x|Content-Type: application/json|'
body='{"name": "F"}'
assert_eq "$(raw "${head}Transfer-Encoding: gzip|Content-Length: 13||$body")" 501 "Transfer-Encoding gzip"
assert_eq "$(raw "${head}Transfer-Encoding: gzip, chunked||d|$body|0||")" 501 "Transfer-Encoding gzip, chunked"
assert_eq "$(raw "${head}Content-Length: 13|Content-Length: 3||$body")" 400 "two Content-Lengths"
assert_eq "$(raw "${head}Content-Length: 13|Content-Length: 13||$body")" 200 "the same Content-Length twice"
assert_eq "$(raw "${head}Transfer-Encoding: Chunked||d|$body|0||")" 200 "chunked"
# Chunked with a Content-Length too: refused, and the connection closed, so
# that what a proxy took for the rest of the body is not served as a
# request of its own (it was: 200, then the 'GET /metrics' after it).
python3 - "$PORT" "${head}Transfer-Encoding: chunked|Content-Length: 57||d|$body|0||GET /metrics HTTP/1.1|Host: x||" >"$T/smuggle" <<'EOPY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(5)
s.sendall(sys.argv[2].replace("|", "\r\n").encode())
out, left = b"", ""
while True:
    try:
        d = s.recv(65536)
    except socket.timeout:
        left = " (left open)"
        break
    if not d:
        break
    out += d
print(" ".join(l.split(b" ")[1].decode() for l in out.split(b"\r\n") if l.startswith(b"HTTP/1.1 ")) + left)
EOPY
assert_eq "$(cat "$T/smuggle")" 400 "statuses for chunked with a Content-Length, then a request"
# A request target in absolute form is taken as its path (it got 404).
assert_eq "$(raw "GET http://x/healthz HTTP/1.1|Host: x|Connection: close||")" 200 "absolute form"
assert_eq "$(req GET /write-through)" 405 "GET /write-through"
grep -qi '^Allow: POST' "$T/h" || fail "no Allow header: $(cat "$T/h")"
assert_eq "$(req DELETE /users/1)" 405 "DELETE /users/1"
grep -qi '^Allow: GET, HEAD' "$T/h" || fail "no Allow header: $(cat "$T/h")"
assert_eq "$(req GET /nowhere)" 404 "unknown path"
expect_grep '"error": "not found"' "$T/b"
assert_eq "$(req POST /write-through -d 'name=x')" 415 "form content type"
assert_eq "$(req POST /write-through -H 'Content-Type: text/plain' -d '{}')" 415 "text/plain"
# Request heads up to about 15 KiB are read, longer ones refused.
pad=$(head -c 12000 /dev/zero | tr '\0' 'p')
assert_eq "$(req POST /write-through -H 'Content-Type: application/json' -H "X-Pad: $pad" -d '{"name": "Hdr", "age": 2, "occupation": "x"}')" 200 "a 12 KB header"
pad=$(head -c 20000 /dev/zero | tr '\0' 'p')
assert_eq "$(req POST /write-through -H 'Content-Type: application/json' -H "X-Pad: $pad" -d '{"name": "Hdr", "age": 2, "occupation": "x"}')" 431 "a 20 KB header"

# --- read-through ----------------------------------------------------------
sql "INSERT INTO users (id, name, age, occupation, _wtc_version) VALUES (900001, 'Direct', 50, 'DBA', 1)"
assert_eq "$(req GET /users/900001)" 200 "read from mysql"
grep -qi '^X-Cache: miss' "$T/h" || fail "expected X-Cache: miss: $(cat "$T/h")"
expect_grep '"name":"Direct"' "$T/b"
expect_grep '"age":50' "$T/b"
assert_eq "$(rcli hget users:900001 name)" "Direct" "filled into redis"
assert_eq "$(req GET /users/900001)" 200 "read from redis"
grep -qi '^X-Cache: hit' "$T/h" || fail "expected X-Cache: hit: $(cat "$T/h")"
assert_eq "$(req GET /users/$ID)" 200 "read a write"
expect_grep '"name":"John Doe"' "$T/b"
assert_eq "$(req GET /users/777777)" 404 "missing id"
expect_grep '"error": "not found"' "$T/b"
assert_eq "$(req GET /users/abc)" 404 "non-numeric id"
# An id spelt with leading zeros is the same row, under the same key: it
# once cached a second copy at users:0900001 that no write ever updated.
rcli DEL users:900001 >/dev/null
assert_eq "$(req GET /users/0900001)" 200 "leading zeros"
expect_grep '"id":900001' "$T/b"
assert_eq "$(rcli EXISTS users:0900001)" "0" "no key spelt with zeros"
assert_eq "$(rcli hget users:900001 name)" "Direct" "filled under its key"
assert_eq "$(req GET /users/-07)" 404 "negative id with zeros"
assert_eq "$(req GET /nosuchtable/1)" 404 "missing table"
# A composite key: /TABLE/V1/V2, or V1:V2 as wtc get and the Redis key
# spell it (that was 404), with a ':' in a value as %3A.
sql "CREATE TABLE orders (region VARCHAR(8), n INT, what VARCHAR(20),
    _wtc_version BIGINT UNSIGNED NOT NULL DEFAULT 0, PRIMARY KEY (region, n))"
expect_status 0 "$WTC" --table orders put --no-drain '{"region": "eu", "n": 42, "what": "tea"}' \
    '{"region": "a:b", "n": 1, "what": "cup"}'
rcli DEL orders:eu:42 orders:a%3Ab:1 >/dev/null	# read through from MySQL
i=0
until [ "$(sql 'SELECT COUNT(*) FROM orders')" = 2 ]; do
	[ $i -lt 200 ] || fail "the serve's drainer did not land the orders"
	i=$((i + 1)); sleep 0.1
done
assert_eq "$(req GET /orders/eu/42)" 200 "composite key with /"
expect_grep '"what":"tea"' "$T/b"
assert_eq "$(req GET /orders/eu:42)" 200 "composite key with :"
expect_grep '"what":"tea"' "$T/b"
assert_eq "$(req GET /orders/a%253Ab:1)" 200 "composite key with an escaped :"
expect_grep '"what":"cup"' "$T/b"
assert_eq "$(req GET /orders/eu:42:7)" 404 "too many key values"
# A '/' in a value as %2F: the path splits on the '/' it spells, not on
# this one (that was 404, and no URL could read such a record); a NUL is
# no value (it once cut the path short: /users/1%00junk read id 1).
expect_status 0 "$WTC" --table orders put --no-drain '{"region": "x/y", "n": 5, "what": "jar"}'
assert_eq "$(req GET /orders/x%2Fy/5)" 200 "composite key with an escaped /"
expect_grep '"what":"jar"' "$T/b"
assert_eq "$(req GET /orders/x%2fy:5)" 200 "escaped / with :"
assert_eq "$(req GET /orders/x%252Fy/5)" 404 "a literal %2F is not a /"
assert_eq "$(req GET /users/900001%00junk)" 404 "NUL in an id"
# A table wtc cannot use is not "try again later" (it was 503).
sql 'CREATE TABLE nopk (a INT)'
assert_eq "$(req GET /nopk/1)" 404 "table without a primary key"
expect_grep "table 'nopk' has no primary key" "$T/b"
! grep -qi '^Retry-After' "$T/h" || fail "Retry-After for a table without a primary key"

# --- health and metrics ----------------------------------------------------
assert_eq "$(req GET /healthz)" 200 "healthz"
expect_grep '"status": "ok", "redis": "ok", "mysql": "ok", "spool": "ok", "drainer": "running"' "$T/b"
assert_eq "$(req GET /metrics)" 200 "metrics"
grep -qi '^Content-Type: text/plain; version=0.0.4' "$T/h" || fail "metrics content type"
expect_grep '# TYPE wtc_http_requests_total counter' "$T/b"
expect_grep 'wtc_http_requests_total{code="413"} 2' "$T/b"
expect_grep 'wtc_http_requests_total{code="422"}' "$T/b"
for m in wtc_records_rejected_total wtc_spool_syncs_total wtc_spool_backlog_records \
    wtc_spool_backlog_bytes wtc_spool_oldest_age_seconds wtc_drain_landed_total \
    wtc_drain_rate wtc_drain_lag_seconds wtc_dead_letters_total \
    wtc_drain_retries_total; do
	expect_grep "# TYPE $m " "$T/b"
	grep -q "^$m [0-9]" "$T/b" || fail "no value for $m"
done
grep -q '^wtc_records_accepted_total 13$' "$T/b" || fail "13 records accepted so far: $(grep accepted "$T/b")"
# The fdatasync histogram: buckets cumulative, ending in +Inf = _count = the
# sync counter, with a sum.
expect_grep '# TYPE wtc_spool_sync_seconds histogram' "$T/b"
syncs=$(sed -n 's/^wtc_spool_syncs_total //p' "$T/b")
[ "$syncs" -gt 0 ] || fail "no spool syncs after 9 writes"
sed -n 's/^wtc_spool_sync_seconds_bucket{le="\([^"]*\)"} \([0-9]*\)$/\1 \2/p' "$T/b" >"$T/hist"
assert_eq "$(wc -l <"$T/hist")" 12 "sync histogram buckets"
awk -v n="$syncs" 'p != "" && $2 < p { bad = 1 } { p = $2; le = $1 }
    END { exit !(!bad && le == "+Inf" && p == n) }' "$T/hist" ||
    fail "sync histogram not cumulative to $syncs: $(cat "$T/hist")"
grep -q "^wtc_spool_sync_seconds_count $syncs\$" "$T/b" || fail "sync histogram count"
grep -Eq '^wtc_spool_sync_seconds_sum [0-9]+\.[0-9]+$' "$T/b" || fail "sync histogram sum"

# Access log: one line per request, in the documented shape.
grep -Eq '^127\.0\.0\.1 - \[[0-9T:-]+Z\] "POST /write-through" 200 [0-9]+ [0-9.]+ms$' "$T/access.log" ||
    { cat "$T/access.log" >&2; fail "access log line shape"; }
expect_grep '"GET /users/777777" 404' "$T/access.log"

# SIGHUP reopens the access log (logrotate).
mv "$T/access.log" "$T/access.log.1"
kill -HUP "$main_PID"
wait_until 5 sh -c "curl -s '$URL/healthz' >/dev/null; [ -s '$T/access.log' ]" ||
    fail "access log not reopened on SIGHUP"

# --- the drainer is supervised: killed, it comes back --------------------
DPID=$(ps -o pid= --ppid "$main_PID" | tr -d ' ' | head -n 1)
[ -n "$DPID" ] || fail "no drainer child"
kill -KILL "$DPID"
wait_until 10 sh -c "ps -o pid= --ppid $main_PID | grep -qv '^ *$DPID\$'" ||
    fail "the drainer was not restarted"
expect_grep "the drainer was killed by signal 9; restarting it in 1 s" "$T/main.err"
wait_until 5 sh -c "curl -s '$URL/healthz' | grep -q '\"drainer\": \"running\"'" ||
    fail "healthz does not report the drainer running again"

# --- many concurrent writers: every acknowledged record lands --------------
# load_conf TAG N: a curl config for N writes (one curl process, --parallel).
load_conf() {
	_i=1
	while [ $_i -le $2 ]; do
		[ $_i = 1 ] || echo next
		printf 'url = "%s/write-through"\nrequest = "POST"\nheader = "Content-Type: application/json"\ndata = "{\\"name\\": \\"%s%d\\", \\"age\\": %d, \\"occupation\\": \\"%s\\"}"\nwrite-out = "\\n"\n' \
		    "$URL" "$1" $_i $_i "$1"
		_i=$((_i + 1))
	done
}
# spool_syncs: the server's wtc_spool_syncs_total.
spool_syncs() {
	curl -s "$URL/metrics" | sed -n 's/^wtc_spool_syncs_total //p'
}
load_conf load 300 >"$T/load.conf"
s0=$(spool_syncs)
curl -s --parallel --parallel-max 30 -K "$T/load.conf" >"$T/conc.out" 2>&1
s1=$(spool_syncs)
n=$(grep -o '"id": [0-9]*' "$T/conc.out" | wc -l)
assert_eq "$n" 300 "acknowledged concurrent writes"
# Group commit: concurrent requests share fdatasyncs.
[ "$s1" -gt "$s0" ] && [ $((s1 - s0)) -lt 300 ] ||
    fail "300 concurrent writes took $((s1 - s0)) spool syncs ($s0 -> $s1)"
log "300 concurrent writes: $((s1 - s0)) spool syncs"
wait_until 20 sh -c "[ \"\$(MYSQL_PWD=$DB_PASSWORD mariadb --no-defaults -S $MARIADB_SOCK -uwtc -N -B wtc -e \"select count(*) from users where occupation='load'\")\" = 300 ]" ||
    fail "not all 300 concurrent records reached mysql"

# --- a second server: bearer token, unix socket, no drainer ----------------
URL_MAIN=$URL
start_serve tok --listen "unix:$T/wtc.sock" --token-file "$T/token" \
    --no-drainer --access-log "$T/tok.access"
assert_eq "$URL" "unix:$T/wtc.sock" "unix url"
ureq() {
	_m=$1
	_p=$2
	shift 2
	curl -s --unix-socket "$T/wtc.sock" -X "$_m" -o "$T/b" -D "$T/h" \
	    -w '%{http_code}' "$@" "http://localhost$_p"
}
assert_eq "$(ureq POST /write-through -H 'Content-Type: application/json' -d '{"name": "T", "age": 1, "occupation": "t"}')" 401 "no token"
grep -qi '^WWW-Authenticate: Bearer' "$T/h" || fail "no WWW-Authenticate: $(cat "$T/h")"
assert_eq "$(ureq POST /write-through -H 'Authorization: Bearer wrong' -H 'Content-Type: application/json' -d '{"name": "T", "age": 1, "occupation": "t"}')" 401 "wrong token"
assert_eq "$(ureq GET /users/$ID -H "Authorization: Bearer ${TOKEN}x")" 401 "token with extra byte"
assert_eq "$(ureq POST /write-through -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"name": "T", "age": 1, "occupation": "t"}')" 200 "right token"
assert_eq "$(ureq GET /users/$ID -H "Authorization: Bearer $TOKEN")" 200 "read with token"
# A bulk body larger than one chunk (4096 records) is written in chunks.
awk 'BEGIN { for (i = 1; i <= 5000; i++) printf "{\"name\": \"K%d\", \"age\": %d, \"occupation\": \"bulk\"}\n", i, i % 100 }' >"$T/big.ndjson"
assert_eq "$(ureq POST /write-through -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/x-ndjson' --data-binary @"$T/big.ndjson")" 200 "5000 records"
expect_grep '"accepted": 5000, "rejected": 0' "$T/b"
assert_eq "$(grep -o '"id": [0-9]*' "$T/b" | sort -u | wc -l)" 5000 "5000 distinct ids"
# An array malformed past its first chunk is refused whole: a 400 wrote
# nothing (the first 4096 records once were).
bulk() {
	ureq POST /write-through -H "Authorization: Bearer $TOKEN" \
	    -H "Content-Type: $1" --data-binary @"$2"
}
awk 'BEGIN { printf "["; for (i = 1; i <= 5000; i++) printf "%s{\"name\": \"Z%d\"}", (i > 1 ? "," : ""), i; print "] oops" }' >"$T/bad-tail.json"
head -c 100000 "$T/bad-tail.json" >"$T/cut.json"
keys=$(rcli DBSIZE)
assert_eq "$(bulk application/json "$T/bad-tail.json")" 400 "text after a big array"
expect_grep 'trailing characters after the JSON array' "$T/b"
assert_eq "$(bulk application/json "$T/cut.json")" 400 "a big array cut short"
assert_eq "$(rcli DBSIZE)" "$keys" "nothing of a refused array"
# A body of bad records is read no further than 10000 of them: its answer
# once grew to 50 times the body (769 MB for 16 MiB).
{ awk 'BEGIN { for (i = 1; i <= 10002; i++) print i }'; echo '{"name": "Unread"}'; } >"$T/nums.ndjson"
assert_eq "$(bulk application/x-ndjson "$T/nums.ndjson")" 422 "10000 bad records"
expect_grep '"error": "10000 records were rejected: the body was not read past the last of them (index 9999)"' "$T/b"
assert_eq "$(grep -o '"index": ' "$T/b" | wc -l)" 10000 "results of the records read"
assert_eq "$(ureq GET /healthz)" 200 "healthz needs no token"
expect_grep '"drainer": "' "$T/b"
grep -q '^unix - \[.*"GET /healthz" 200' "$T/tok.access" ||
    { cat "$T/tok.access" >&2; fail "unix client in access log"; }
expect_no_grep "$TOKEN" "$T/tok.access"
expect_no_grep "$TOKEN" "$T/tok.err"
kill -TERM "$tok_PID"
wait "$tok_PID" || fail "token server did not exit 0"
[ ! -e "$T/wtc.sock" ] || fail "unix socket left behind"

# --- port in use ----------------------------------------------------------
expect_status 69 "$WTC" serve --listen "127.0.0.1:$PORT" --no-drainer
expect_grep "cannot listen on 127.0.0.1:$PORT: Address already in use" "$T/err"

# --- SIGTERM under load loses nothing -------------------------------------
URL=$URL_MAIN
load_conf term 3000 >"$T/term.conf"
curl -s --parallel --parallel-max 20 -K "$T/term.conf" >"$T/term.out" 2>&1 &
LOAD=$!
answered() { [ "$(grep -o '"id"' "$T/term.out" | wc -l)" -ge 100 ]; }
wait_until 20 answered || fail "writes under load are not answered"
kill -TERM "$main_PID"
set +e
wait "$main_PID"
rc=$?
set -e
assert_eq "$rc" 0 "serve exit status after SIGTERM"
wait "$LOAD" || true
expect_grep "stopped" "$T/main.err"
acked=$(grep -o '"id": [0-9]*' "$T/term.out" | sed 's/.*: //' | sort)
[ -n "$acked" ] || fail "no write acknowledged before SIGTERM"
# The drainer child is gone with serve; land the rest by hand.
expect_status 0 "$WTC" drain --once
echo "$acked" >"$T/acked"
sql "select id from users where occupation='term'" | sort >"$T/landed"
missing=$(sort "$T/acked" | comm -23 - "$T/landed" | head -n 5)
[ -z "$missing" ] || fail "acknowledged records not in mysql: $missing"
log "$(echo "$acked" | wc -l) of 3000 writes acknowledged before SIGTERM, all in mysql"

# --- no such table: unavailable at start --------------------------------
expect_status 69 "$WTC" serve --table nosuchtable --listen 127.0.0.1:0 --no-drainer
expect_grep "table 'nosuchtable' does not exist" "$T/err"

# --- --max-backlog: writes wait while the spool is too far behind --------
start_serve bl --listen 127.0.0.1:0 --no-drainer --no-access-log --max-backlog 2
for i in 1 2 3; do
	assert_eq "$(post '{"name": "B", "age": 1, "occupation": "b"}')" 200 "write $i under the backlog limit"
done
# No drainer, so the spool holds records MySQL does not have: a row read
# from MySQL now may be older than one of them, and is filled for a while.
stop_drainers
sql "INSERT INTO users (id, name, age, occupation, _wtc_version) VALUES (2000000000, 'Behind', 5, 'x', 1)"
assert_eq "$(req GET /users/2000000000)" 200 "read from mysql behind the spool"
ttl=$(rcli TTL users:2000000000)
[ "$ttl" -gt 0 ] && [ "$ttl" -le 30 ] || fail "a fill behind the spool: TTL $ttl"
# At once, not once the spool's count is refreshed (every second): 20
# writes in that second all got 200.  A bulk write, and a batch of
# concurrent single writes, are held to the limit as well.
assert_eq "$(post '{"name": "B", "age": 1, "occupation": "b"}')" 503 "over --max-backlog"
expect_grep "more than --max-backlog 2" "$T/b"
grep -qi '^Retry-After: 1' "$T/h" || fail "no Retry-After: $(cat "$T/h")"
assert_eq "$(post '[{"name": "B", "age": 1}]')" 503 "bulk over --max-backlog"
kill -TERM "$bl_PID"
wait "$bl_PID" || fail "serve did not exit 0"
expect_status 0 "$WTC" drain --once
start_serve bl --listen 127.0.0.1:0 --no-drainer --no-access-log --max-backlog 5
load_conf bl 20 >"$T/bl.conf"
curl -s --parallel --parallel-max 20 -K "$T/bl.conf" >"$T/bl.out" 2>&1
n=$(grep -o '"id":' "$T/bl.out" | wc -l)
[ "$n" -ge 1 ] && [ "$n" -le 6 ] ||
    fail "$n of 20 concurrent writes taken with --max-backlog 5"
assert_eq "$(grep -o 'more than --max-backlog 5' "$T/bl.out" | wc -l)" $((20 - n)) "the others refused"
kill -TERM "$bl_PID"
wait "$bl_PID" || fail "serve did not exit 0"
expect_status 0 "$WTC" drain --once
# A burst of bulk bodies: each counts what the others being written will
# add (16 bodies of 500 records all got 200 under a limit of 100).  A body
# larger than the limit is still taken into an empty spool.
start_serve bl --listen 127.0.0.1:0 --no-drainer --no-access-log --max-backlog 100 --workers 16
awk 'BEGIN { for (i = 1; i <= 500; i++) printf "{\"name\": \"BB%d\", \"age\": 1}\n", i }' >"$T/bl.ndjson"
for i in $(seq 16); do
	curl -s -o /dev/null -w '%{http_code}\n' -H 'Content-Type: application/x-ndjson' \
	    --data-binary @"$T/bl.ndjson" "$URL/write-through" &
done >"$T/bl.codes"
wait_until 30 sh -c "[ \$(wc -l <'$T/bl.codes') = 16 ]" || fail "the bulk burst did not finish"
assert_eq "$(grep -c '^200$' "$T/bl.codes")" 1 "bulk bodies of 500 taken under --max-backlog 100"
assert_eq "$(grep -c '^503$' "$T/bl.codes")" 15 "bulk bodies refused"
kill -TERM "$bl_PID"
wait "$bl_PID" || fail "serve did not exit 0"
expect_status 0 "$WTC" drain --once
# A bulk body let through while the spool cannot be counted is still
# counted while written: its release took the count below zero, and every
# write after it got 503 ("the spool holds 18446744073709551566 records").
start_serve bl --listen 127.0.0.1:0 --no-drainer --no-access-log --max-backlog 1000
[ ! -e "$WTC_SPOOL/checkpoint" ] || mv "$WTC_SPOOL/checkpoint" "$T/checkpoint.kept"
mkdir "$WTC_SPOOL/checkpoint"
sleep 1.2
post '[{"name": "BC1", "age": 1}, {"name": "BC2", "age": 2}]' >/dev/null
rmdir "$WTC_SPOOL/checkpoint"
[ ! -e "$T/checkpoint.kept" ] || mv "$T/checkpoint.kept" "$WTC_SPOOL/checkpoint"
expect_status 0 "$WTC" drain --once
sleep 1.2
assert_eq "$(post '{"name": "BC3", "age": 3}')" 200 "a write after a bulk body the spool could not count"
kill -TERM "$bl_PID"
wait "$bl_PID" || fail "serve did not exit 0"
expect_status 0 "$WTC" drain --once

# --- --max-connections: the limit holds across I/O threads ---------------
# Two uploads that never end hold both connections (four threads are asked
# for; a thread needs a connection of its own, so two run, one each).  A
# third client waits in the listen queue until one of them goes.
start_serve lim --listen 127.0.0.1:0 --no-drainer --no-access-log \
    --max-connections 2 --threads 4
holders=
for i in 1 2; do
	sleep 20 | curl -s -o /dev/null -X POST -T - -H 'Content-Type: application/json' \
	    "$URL/write-through" &
	holders="$holders $!"
	EXTRA_PIDS="$EXTRA_PIDS $!"
done
# Established connections whose local port is serve's (/proc/net/tcp: hex).
held() {
	[ "$(awk -v p="$(printf ':%04X' "${URL##*:}")" \
	    'substr($2, length($2) - 4) == p && $4 == "01"' /proc/net/tcp |
	    wc -l)" -ge 2 ]
}
wait_until 10 held || fail "the two holders did not connect"
set +e
curl -s -m 2 -o /dev/null "$URL/healthz"
rc=$?
set -e
assert_eq "$rc" 28 "a third connection over --max-connections 2 waits"
set -- $holders
kill "$1" 2>/dev/null || true
assert_eq "$(curl -s -m 10 -o /dev/null -w '%{http_code}' "$URL/healthz")" 200 "served once a holder went"
# Stopping, serve waits for the upload still in flight, and refuses new
# connections at once (they waited in the listen queue, then were reset).
kill -TERM "$lim_PID"
refused() {
	set +e
	curl -s -m 1 -o /dev/null "$URL/healthz"
	_rc=$?
	set -e
	[ $_rc = 7 ]
}
wait_until 10 refused || fail "a new connection to a stopping server was not refused"
kill -0 "$lim_PID" || fail "serve did not wait for the upload in flight"
for p in $holders; do kill "$p" 2>/dev/null || true; done
wait "$lim_PID" || fail "serve did not exit 0 after the holders went"
# Clients gone before their request was whole, their FIN in the same
# segment as their last bytes: the slots come free at once (they were held
# until --timeout, and a few such clients locked everyone out).
start_serve gone --listen 127.0.0.1:0 --no-drainer --no-access-log \
    --max-connections 4 --threads 2 --timeout 30
python3 - "${URL##*:}" <<'EOPY'
import socket, sys
for head in (b"POST /write-through HTTP/1.1\r\nHost: x\r\nContent-Type: "
             b"application/json\r\nContent-Length: 100\r\n\r\n{\"na",
             b"GET /healthz HTTP/1.1\r\nHo") * 2:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    s.sendall(head)
    s.close()
EOPY
assert_eq "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$URL/healthz")" 200 "served after four clients left mid-request"
kill -TERM "$gone_PID"
wait "$gone_PID" || fail "serve did not exit 0"

# --- --timeout bounds a request head sent a line at a time ----------------
# libmicrohttpd's own timeout counts idle time: a header line a second held
# the connection for ever (and all of them, at --max-connections).
start_serve slow --listen 127.0.0.1:0 --no-drainer --no-access-log --timeout 2
assert_eq "$(python3 - "${URL##*:}" <<'EOPY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(0.5)
s.sendall(b"POST /write-through HTTP/1.1\r\nHost: x\r\n")
start = time.time()
try:
    while time.time() - start < 10:
        s.sendall(b"X-Slow: yes\r\n")
        try:
            if s.recv(100) == b"":
                break
        except socket.timeout:
            pass
        time.sleep(0.5)
except OSError:
    pass
print("closed" if time.time() - start < 8 else "open")
EOPY
)" closed "a head sent a line at a time"
assert_eq "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$URL/healthz")" 200 "served after it"
kill -TERM "$slow_PID"
wait "$slow_PID" || fail "serve did not exit 0"

# --- MySQL down: degraded but writing; then Redis down: 503 ---------------
start_serve down --listen 127.0.0.1:0 --no-drainer --no-access-log
stop_mariadb
assert_eq "$(req GET /healthz)" 200 "healthz with mysql down"
expect_grep '"status": "degraded"' "$T/b"
expect_grep '"mysql": "down: ' "$T/b"
assert_eq "$(post '{"name": "M", "age": 2, "occupation": "m"}')" 200 "write with mysql down"
assert_eq "$(req GET /users/$ID)" 200 "read from redis with mysql down"
start_mariadb
stop_redis
assert_eq "$(post '{"name": "R", "age": 2, "occupation": "r"}')" 503 "redis down"
grep -qi '^Retry-After: 1' "$T/h" || fail "no Retry-After: $(cat "$T/h")"
expect_grep 'redis' "$T/b"
# The pooled connection is found gone before the spool takes the record:
# "nothing was written" is true (checked after the drain below).
expect_grep 'nothing was written' "$T/b"
assert_eq "$(req GET /healthz)" 503 "healthz with redis down"
expect_grep '"redis": "down: ' "$T/b"
# Reads still work from MySQL.
assert_eq "$(req GET /users/900001)" 200 "read with redis down"
kill -TERM "$down_PID"
wait "$down_PID" || fail "serve did not exit 0 with redis down"

# Redis down at start: unavailable.
expect_status 69 "$WTC" serve --listen 127.0.0.1:0 --no-drainer
# --- Redis restarted without its data: no id is handed out twice ----------
# The id counter is gone with Redis; the next block must still start past
# every id this server gave before.
start_redis
start_serve ids --listen 127.0.0.1:0 --no-drainer --no-access-log
for i in 1 2 3; do
	assert_eq "$(post '{"name": "Before", "age": 1, "occupation": "ids"}')" 200 "write $i before the restart"
	grep -o '"id": [0-9]*' "$T/b" | sed 's/.*: //' >>"$T/ids.before"
done
stop_redis
start_redis
awk 'BEGIN { for (i = 1; i <= 3000; i++) printf "{\"name\": \"After\", \"age\": 2, \"occupation\": \"ids\"}\n" }' >"$T/ids.ndjson"
# The pooled connections Redis closed are found so and replaced: the first
# write after the restart succeeds.
assert_eq "$(req POST /write-through -H 'Content-Type: application/x-ndjson' \
    --data-binary @"$T/ids.ndjson")" 200 "bulk write after the redis restart"
grep -o '"id": [0-9]*' "$T/b" | sed 's/.*: //' >"$T/ids.after"
assert_eq "$(wc -l <"$T/ids.after" | tr -d ' ')" 3000 "ids after the restart"
dup=$(sort "$T/ids.before" "$T/ids.after" | uniq -d | head -n 3)
[ -z "$dup" ] || fail "ids handed out twice across a redis restart: $dup"
# Redis times out (5 s) after the spool took a record: not 503 (a client
# would send it again, and it would land twice), and the answer says it
# will reach MySQL, as it does.
assert_eq "$(post '{"name": "Block", "age": 3, "occupation": "ids"}')" 200 "ids reserved"
rcli CLIENT PAUSE 7000 WRITE >/dev/null
assert_eq "$(post '{"name": "Late", "age": 3, "occupation": "ids"}')" 500 "redis timed out"
expect_grep 'will reach mysql but redis may not hold them' "$T/b"
! grep -qi '^Retry-After' "$T/h" || fail "Retry-After on a late failure: $(cat "$T/h")"
rcli CLIENT UNPAUSE >/dev/null
kill -TERM "$ids_PID"
wait "$ids_PID" || fail "serve did not exit 0"
expect_status 0 "$WTC" drain --once
assert_eq "$(sql "SELECT COUNT(*) FROM users WHERE name = 'Late'")" 1 "the late record landed"
assert_eq "$(sql "SELECT COUNT(*) FROM users WHERE name = 'R' OR (name = 'After' AND age = 2)")" \
    3000 "nothing written of the writes answered 503"

# --- Redis restarted without its data, records waiting in the spool -------
# MySQL is down, so its largest id does not count the spool's records; a
# server keeps handing out its block; another put and a new server must
# start past both (a new server once gave ids 1, 2, 3 again).
start_serve lost --listen 127.0.0.1:0 --no-drainer --no-access-log
stop_mariadb
: >"$T/lost.ids"
lost_post() {
	assert_eq "$(post "{\"name\": \"Lost $1\", \"age\": 4, \"occupation\": \"ids\"}")" 200 "write $1"
	grep -o '"id": [0-9]*' "$T/b" | sed 's/.*: //' >>"$T/lost.ids"
}
for i in 1 2 3; do lost_post "a$i"; done
stop_redis
start_redis
expect_status 0 "$WTC" put --no-drain '{"name": "Lost p1", "age": 4}' '{"name": "Lost p2", "age": 4}'
for i in 4 5 6; do lost_post "a$i"; done
kill -TERM "$lost_PID"
wait "$lost_PID" || fail "serve did not exit 0"
stop_redis
start_redis
start_serve lost2 --listen 127.0.0.1:0 --no-drainer --no-access-log
for i in 1 2 3; do lost_post "b$i"; done
kill -TERM "$lost2_PID"
wait "$lost2_PID" || fail "serve did not exit 0"
start_mariadb
expect_status 0 "$WTC" drain --once
dup=$(sort "$T/lost.ids" | uniq -d | head -n 3)
[ -z "$dup" ] || fail "ids handed out twice after redis lost its counter: $dup"
assert_eq "$(sql "SELECT COUNT(*) FROM users WHERE name LIKE 'Lost %'")" 11 "every record of the lost counter"
[ -z "$(ls "$WTC_SPOOL" | grep '^ids-')" ] || fail "ids notes left: $(ls "$WTC_SPOOL")"

exit 0
