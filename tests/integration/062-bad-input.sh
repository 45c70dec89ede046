# Bad input, through 'wtc put' and 'wtc serve': the corpus in tests/data/bad
# (malformed JSON, bad UTF-8, NUL bytes, huge numbers, wrong types...), deep
# nesting and a 100 MB line made here, an oversized body, a slow client, and
# strings built to break SQL or the Redis protocol, which must round-trip
# byte for byte.  Each bad input gets its documented error, nothing crashes
# or hangs, and nothing partial is written.
. "$TOP_SRCDIR/tests/lib.sh"
command -v curl >/dev/null || fail "curl not found"
BAD="$TOP_SRCDIR/tests/data/bad"
[ -f "$BAD/truncated.json" ] || fail "no corpus in $BAD"

start_servers
expect_status 0 "$WTC" init
SSPOOL="$T/sspool"

# Bugs are collected and reported together at the end, so that one bug does
# not hide the checks after it.
BUGS=
bug() { log "BUG: $*"; BUGS="$BUGS
  $*"; }

nkeys() { rcli --scan --pattern 'users:*' | wc -l | tr -d ' '; }
spool_bytes() { find "$WTC_SPOOL" "$SSPOOL" -name 'seg-*' -printf '%s\n' 2>/dev/null | awk '{ s += $1 } END { print s + 0 }'; }
state() { echo "keys $(nkeys) spool $(spool_bytes)"; }

# run_put STATUS CMD...: like expect_status, but a wrong status (other than a
# crash or a hang) is a bug to report, not the end of the test.
run_put() {
	_want=$1
	shift
	set +e
	timeout 60 "$@" >"$T/out" 2>"$T/err"
	_got=$?
	set -e
	[ $_got != 124 ] || fail "hung (killed after 60 s): $*"
	[ $_got -lt 128 ] || { cat "$T/err" >&2; fail "crashed (status $_got): $*"; }
	if [ $_got != "$_want" ]; then
		bug "exit status $_got, expected $_want: $* ($(head -c 300 "$T/err" | tr '\n' ' '))"
		return 1
	fi
	return 0
}

bad_input_serve() {
	start_serve serve --spool "$SSPOOL" --no-drainer --listen 127.0.0.1:0 \
	    --timeout 2 --max-body 1048576 --access-log "$T/access.log"
	SERVE_PID=$serve_PID
	PORT=${URL##*:}
}
# post FILE [CONTENT-TYPE]: HTTP status on stdout, body in $T/b.
post() {
	curl -s --max-time 30 -o "$T/b" -w '%{http_code}' -X POST \
	    -H "Content-Type: ${2:-application/json}" --data-binary @"$1" \
	    "$URL/write-through" || true
}
serve_alive() { kill -0 "$SERVE_PID" 2>/dev/null || fail "wtc serve died: $(tail -n 5 "$T/serve.err")"; }

bad_input_serve

# --- the corpus: FILE | put's status | the message (a fixed string) ---------
while IFS='|' read -r f want msg; do
	[ -n "$f" ] || continue
	before=$(state)
	if run_put "$want" "$WTC" put --no-drain -f "$BAD/$f"; then
		grep -qF -- "$msg" "$T/err" ||
		    bug "$f: message '$msg' not found in: $(cat "$T/err")"
		grep -qF -- "$BAD/$f:1: " "$T/err" ||
		    bug "$f: the error does not name the file and line: $(cat "$T/err")"
		grep -qF "0 accepted" "$T/err" || bug "$f: something was accepted: $(cat "$T/err")"
	fi
	assert_eq "$(state)" "$before" "$f: keys and spool after put"
	# The same through serve: a 4xx with an error, nothing written.
	code=$(post "$BAD/$f")
	case $code in
	400|422) grep -q '"error"' "$T/b" || bug "$f: serve's $code has no error: $(cat "$T/b")" ;;
	*) bug "$f: serve answered $code, expected 400 or 422: $(head -c 300 "$T/b")" ;;
	esac
	assert_eq "$(state)" "$before" "$f: keys and spool after serve"
	serve_alive
done <<'EOF'
truncated.json|65|unexpected end of JSON
trailing-garbage.json|65|trailing characters after the JSON object
trailing-comma.json|65|invalid JSON
not-json.json|65|invalid JSON
dup-keys.json|65|duplicate field 'name'
huge-float.json|65|field 'age' must be an integer, not 1e400
huge-int.json|65|field 'age' is out of range for int
int-out-of-range.json|65|field 'age' is out of range for int (-2147483648..2147483647)
fraction.json|65|field 'age' must be an integer, not a number with a fraction
invalid-utf8.json|65|invalid UTF-8 in string
overlong-utf8.json|65|invalid UTF-8 in string
lone-surrogate.json|65|lone surrogate
nul-raw.json|65|control character in string (must be escaped)
nul-escaped.json|65|field 'name' contains a NUL character
wrong-type-name.json|65|field 'name' must be a string, not a number
wrong-type-age.json|65|field 'age' must be an integer, not a string
wrong-type-bool.json|65|field 'age' must be an integer, not a boolean
array-of-scalars.json|65|record must be a JSON object, not a string
unknown-field.json|65|unknown field 'nickname'
missing-name.json|65|missing required field 'name'
null-not-null.json|65|name
too-long-varchar.json|65|name
negative-id.json|65|id
EOF

# A BOM at the start is skipped: the record goes in, without it.
expect_status 0 timeout 60 "$WTC" put --no-drain -f "$BAD/bom.json"
assert_eq "$(rcli HGET users:70002 name | od -An -tx1 | tr -d ' \n')" "626f6d0a" "name after a BOM"

# --- a top-level array that is never closed: the good element before the
# damage may go in, but the status is "bad data" (65) with the file and
# line, not an I/O error.
run_put 65 "$WTC" put --no-drain -f "$BAD/truncated-array.jsonl" || true
grep -qF "JSON array is not closed" "$T/err" || bug "truncated array: no clear message: $(cat "$T/err")"
grep -qF "$BAD/truncated-array.jsonl:" "$T/err" ||
    bug "truncated array: the error does not name the file: $(cat "$T/err")"

# --- deep nesting: 100000 '[' as the whole input, and inside a field ------
awk 'BEGIN { for (i = 0; i < 100000; i++) printf "["; print "" }' >"$T/deep-array.json"
awk 'BEGIN { printf "{\"name\": "; for (i = 0; i < 100000; i++) printf "["; for (i = 0; i < 100000; i++) printf "]"; print "}" }' >"$T/deep-field.json"
before=$(state)
run_put 65 "$WTC" put --no-drain -f "$T/deep-array.json" &&
    { grep -qF "nested more than" "$T/err" || bug "deep array: message: $(cat "$T/err")"; }
run_put 65 "$WTC" put --no-drain -f "$T/deep-field.json" &&
    { grep -qF "deep-field.json:1: " "$T/err" || bug "deep field: message: $(cat "$T/err")"; }
log "deep field: $(head -n 1 "$T/err")"
for f in deep-array deep-field; do
	code=$(post "$T/$f.json")
	case $code in 400|422) ;; *) bug "$f: serve answered $code" ;; esac
	serve_alive
done
assert_eq "$(state)" "$before" "keys and spool after deep nesting"

# --- a 100 MB line: reported and skipped without being held in memory ----
{ printf '{"id": 70010, "name": "before"}\n{"name": "'
  head -c 100000000 /dev/zero | tr '\0' a
  printf '"}\n{"id": 70011, "name": "after"}\n'; } >"$T/huge.ndjson"
before_keys=$(nkeys)
# A sanitizer build's own memory (shadow, quarantine) hides the figure.
if [ -x /usr/bin/time ] && ! grep -q __asan_init "$WTC" 2>/dev/null; then
	run_put 65 /usr/bin/time -f 'maxrss %M' -o "$T/rss" "$WTC" put --no-drain -f "$T/huge.ndjson" || true
	rss=$(sed -n 's/^maxrss //p' "$T/rss")
	log "put of a 100 MB line: peak RSS ${rss} KiB"
	[ "$rss" -lt 51200 ] || bug "put held the 100 MB line in memory: peak RSS $rss KiB"
else
	log "no /usr/bin/time, or a sanitizer build: peak RSS not checked"
	run_put 65 "$WTC" put --no-drain -f "$T/huge.ndjson" || true
fi
grep -qF "huge.ndjson:2: line is longer than the" "$T/err" || bug "100 MB line: message: $(cat "$T/err")"
grep -qF "2 accepted, 1 rejected" "$T/err" || bug "100 MB line: the lines around it: $(cat "$T/err")"
assert_eq "$(nkeys)" $((before_keys + 2)) "keys after the 100 MB line"
assert_eq "$(rcli HGET users:70011 name)" "after" "the record after the 100 MB line"
rm -f "$T/huge.ndjson"

# --- serve: an oversized body is 413, and nothing is written --------------
before=$(state)
awk 'BEGIN { for (i = 0; i < 40000; i++) printf "{\"name\": \"over%d\", \"age\": 1}\n", i }' >"$T/big.ndjson"
[ "$(stat -c %s "$T/big.ndjson")" -gt 1048576 ] || fail "test bug: body not big enough"
assert_eq "$(post "$T/big.ndjson" application/x-ndjson)" 413 "oversized body"
expect_grep "the body is larger than 1048576 bytes (--max-body)" "$T/b"
assert_eq "$(state)" "$before" "keys and spool after 413"
serve_alive

# --- serve: a client that sends headers and stalls is timed out (--timeout
# 2) while others are served.
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
printf 'POST /write-through HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"name": ' >&3
t0=$(date +%s)
printf '{"id": 70020, "name": "while-stalled"}' >"$T/one.json"
assert_eq "$(post "$T/one.json")" 200 "a write while another client stalls"
# The server must close the stalled connection: reading it ends (EOF).
if ! timeout 20 cat <&3 >"$T/stalled.out"; then
	bug "serve did not close a stalled connection within 20 s (--timeout 2)"
fi
t1=$(date +%s)
exec 3<&- 3>&-
log "stalled connection closed after $((t1 - t0)) s: $(head -c 100 "$T/stalled.out" | tr '\r\n' '  ')"
[ $((t1 - t0)) -le 10 ] || bug "stalled connection closed after $((t1 - t0)) s, --timeout 2"
assert_eq "$(rcli EXISTS users:70020)" 1 "the other client's write"
assert_eq "$(rcli --scan --pattern 'users:*' | wc -l | tr -d ' ')" "$(nkeys)" "keys"
serve_alive
assert_eq "$(curl -s -o /dev/null -w '%{http_code}' "$URL/healthz")" 200 "healthz after the stall"

# --- injection attempts round-trip byte for byte, through put and serve ----
expect_status 0 timeout 60 "$WTC" put --no-drain -f "$BAD/injection.jsonl"
expect_grep "7 accepted, 0 rejected" "$T/err"
# The same strings under other ids, through serve.
sed 's/"id": 8/"id": 9/' "$BAD/injection.jsonl" >"$T/inj-serve.jsonl"
assert_eq "$(post "$T/inj-serve.jsonl" application/x-ndjson)" 200 "injection strings through serve"
expect_status 0 timeout 60 "$WTC" drain --once
expect_status 0 timeout 60 "$WTC" drain --once --spool "$SSPOOL"
assert_eq "$(sql 'SELECT COUNT(*) FROM users')" "$(nkeys)" "rows and keys after the drain"
# The expected bytes, decoded from the JSON by python, in hex.
python3 -c '
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    for base in (0, 10000):
        print(r["id"] + base, r["name"].encode().hex().upper(), r["occupation"].encode().hex().upper())
' "$BAD/injection.jsonl" >"$T/inj.expected"
while read -r id name occ; do
	for field in name occupation; do
		[ $field = name ] && want=$name || want=$occ
		m=$(sql "SELECT HEX($field) FROM users WHERE id = $id")
		# redis-cli prints raw bytes and one newline when not on a terminal.
		r=$(rcli HGET users:$id $field | od -An -tx1 | tr -d ' \n' | tr a-f A-F)
		r=${r%0A}
		[ "$m" = "$want" ] || bug "users:$id $field in mysql: $m, expected $want"
		[ "$r" = "$want" ] || bug "users:$id $field in redis: $r, expected $want"
	done
done <"$T/inj.expected"
assert_eq "$(sql 'SELECT COUNT(*) FROM users WHERE id BETWEEN 80001 AND 90007')" 14 "injection rows"
# Nothing was executed: Redis still has every key, MySQL still has its table.
assert_eq "$(rcli EXISTS users:80001)" 1 "redis key users:80001"

# --- wtc still works after all that --------------------------------------
expect_status 0 timeout 60 "$WTC" put --no-drain '{"id": 70030, "name": "still fine"}'
serve_alive
kill -TERM "$SERVE_PID"
wait "$SERVE_PID" || fail "serve did not exit 0 after SIGTERM"

# A FLOAT or DOUBLE out of its range, or so close to zero that MySQL would
# store 0, is refused at put: it was acknowledged, then dead-lettered
# (1264) or stored as 0 while Redis kept the number.
sql "CREATE TABLE fr (id INT PRIMARY KEY, f FLOAT, d DOUBLE, u FLOAT UNSIGNED)"
expect_status 0 "$WTC" --table fr init
expect_status 65 "$WTC" --table fr put --no-drain '{"id": 1, "d": 1e309}' \
    '{"id": 2, "d": 1e-400}' '{"id": 3, "f": 1e-46}' '{"id": 4, "f": 3.5e38}' \
    '{"id": 5, "u": -1}' '{"id": 6, "f": 3.4e38, "d": 1e308}' '{"id": 7, "f": 0.0, "d": 0e5}'
expect_grep "field 'd' is out of range for double" "$T/err"
expect_grep "field 'd' is too close to zero for double" "$T/err"
expect_grep "field 'f' is too close to zero for float" "$T/err"
expect_grep "field 'f' is out of range for float" "$T/err"
expect_grep "field 'u' is out of range for float unsigned" "$T/err"
expect_grep "2 accepted, 5 rejected" "$T/err"

if [ -n "$BUGS" ]; then
	fail "bad input mishandled:$BUGS"
fi
exit 0
