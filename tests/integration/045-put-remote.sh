# wtc put --remote: the same inputs sent to a "wtc serve" over HTTP.  The
# example file lands in Redis and MySQL; bad records are reported exactly
# as a local put reports them, with the same summary and exit status; a
# server too strict on body size gets smaller requests; tokens, a unix
# socket, an unreachable server, and Redis going away (503, retried).
. "$TOP_SRCDIR/tests/lib.sh"

USERS="$TOP_SRCDIR/examples/users.ndjson"

# Summary lines without the timing, which differs from run to run.
untimed() { sed 's/ in [0-9.]* s ([0-9]* records\/s)$//' "$1"; }

# --- usage errors and an unreachable server need no servers -----------------
expect_status 64 "$WTC" put --remote ftp://127.0.0.1:8080 '{"name": "x"}'
expect_grep "remote URL 'ftp://127.0.0.1:8080' must start with http://, https:// or unix:/" "$T/err"
expect_status 64 "$WTC" put --remote 'http://[::1' '{"name": "x"}'
expect_grep "invalid remote URL" "$T/err"
expect_status 64 "$WTC" put --remote http://127.0.0.1:1 --on-error=never '{"name": "x"}'
expect_grep "--on-error must be 'skip' or 'abort', not 'never'" "$T/err"
expect_status 64 "$WTC" put --remote http://127.0.0.1:1 --retry-for soon '{"name": "x"}'
expect_grep "invalid value 'soon' for --retry-for" "$T/err"
# A password in the URL (any user can read it with ps) is refused, and not
# echoed; curl would have sent it as Basic auth.
expect_status 64 "$WTC" put --remote 'http://ann:pw-in-url@127.0.0.1:1' '{"name": "x"}'
expect_grep "the remote URL must not carry a user or password" "$T/err"
expect_no_grep "pw-in-url" "$T/err"
expect_status 64 "$WTC" put --token-file /dev/null '{"name": "x"}'
expect_grep "--token-file needs --remote" "$T/err"
expect_status 0 "$WTC" help put
expect_grep "--retry-for SECONDS" "$T/out"
expect_grep "writes records without one twice" "$T/out"

# Nothing listens on port 1: refused, retried for --retry-for, then 69.
start=$(date +%s%N)
expect_status 69 "$WTC" put --remote http://127.0.0.1:1 --retry-for 2 -v '{"name": "x"}'
elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
expect_grep "cannot write to 'http://127.0.0.1:1': " "$T/err"
expect_grep "gave up after 2 s" "$T/err"
expect_grep "trying again in" "$T/err"
expect_grep "0 records before this batch of 1 were written" "$T/err"
[ "$elapsed" -ge 1900 ] && [ "$elapsed" -le 6000 ] || fail "gave up after $elapsed ms, not about 2 s"
expect_status 69 "$WTC" put --remote http://127.0.0.1:1 --retry-for 0 -f "$USERS"

start_servers
expect_status 0 "$WTC" init

start_serve main --listen 127.0.0.1:0 --access-log "$T/access.log" --threads 2
URL_MAIN=$URL

# --- the example file: same summary as a local put; in Redis, then MySQL ----
expect_status 0 "$WTC" put --remote "$URL" -f "$USERS"
untimed "$T/err" >"$T/remote.summary"
assert_eq "$(cat "$T/remote.summary")" "wtc put: 3000 accepted, 0 rejected" "remote summary"
grep -Eq '^wtc put: 3000 accepted, 0 rejected in [0-9]+\.[0-9]{2} s \([0-9]+ records/s\)$' "$T/err" ||
    fail "summary line shape: $(cat "$T/err")"
assert_eq "$(rcli --scan --pattern 'users:*' | wc -l | tr -d ' ')" 3000 "keys in redis"
wait_until 30 sh -c "[ \"\$(MYSQL_PWD=$DB_PASSWORD mariadb --no-defaults -S $MARIADB_SOCK -uwtc -N -B wtc -e 'select count(*) from users')\" = 3000 ]" ||
    fail "not all 3000 records reached mysql: $(sql 'select count(*) from users')"
# One request (3000 <= 4096 records, < 4 MiB), as NDJSON.
assert_eq "$(grep -c '"POST /write-through" 200' "$T/access.log")" 1 "requests for 3000 records"
# The same names as in the file.
sql 'select name from users order by id' >"$T/names.db"
sed 's/^{"name": "\([^"]*\)".*/\1/' "$USERS" >"$T/names.file"
cmp -s "$T/names.db" "$T/names.file" || fail "names in mysql differ from the file (or their order)"

# A local put of the same file (its own spool) says the same.
expect_status 0 env WTC_SPOOL="$T/spool-local" "$WTC" put --no-drain -f "$USERS"
assert_eq "$(untimed "$T/err")" "$(cat "$T/remote.summary")" "local and remote summaries"

# The endpoint's own URL works as the base URL does (it once posted to
# /write-through/write-through: 404).
: >"$T/access.log"
expect_status 0 "$WTC" put --remote "$URL/write-through/" '{"name": "Endpoint URL"}'
assert_eq "$(grep -c '"POST /write-through" 200' "$T/access.log")" 1 "posted to the endpoint"

# --json, --quiet and standard input.
expect_status 0 "$WTC" put --remote "$URL" --json --quiet <"$USERS"
grep -Eq '^\{"accepted":3000,"rejected":0,"seconds":[0-9.]+,"rate":[0-9]+,"status":0\}$' "$T/out" ||
    fail "json summary: $(cat "$T/out")"
[ ! -s "$T/err" ] || fail "--quiet printed: $(cat "$T/err")"

# More than 4096 records: two requests; --batch makes them smaller.
awk 'BEGIN { for (i = 1; i <= 5000; i++) printf "{\"name\": \"K%d\", \"age\": %d}\n", i, i % 100 }' >"$T/big.ndjson"
: >"$T/access.log"
expect_status 0 "$WTC" put --remote "$URL" -f "$T/big.ndjson"
expect_grep "5000 accepted, 0 rejected" "$T/err"
assert_eq "$(grep -c '"POST /write-through" 200' "$T/access.log")" 2 "requests for 5000 records"
: >"$T/access.log"
expect_status 0 "$WTC" put --remote "$URL" --batch 1000 -f "$T/big.ndjson"
assert_eq "$(grep -c '"POST /write-through" 200' "$T/access.log")" 5 "requests with --batch 1000"

# --- bad records: the same messages, in the same order, as a local put ------
cat >"$T/mixed.ndjson" <<'EOR'
  {"name": "Leading blanks, bad", "age": 4x}
{"name": "Good One", "age": 40}

{"name": "Bad Age", "age": "40"}
{"name": "Fraction", "age": 30.5}
{"nam": "Typo"}
{"name": "Truncated", "age":
{"age": 5}
[1, 2]
"just a string"
{"name": "Good Two", "age": 41, "occupation": "Pilot"}
{"name": "Too long for --max-line 200 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}
{"name": "Trailing", "age": 1} x
{"name": "Good Three", "age": 42}
EOR
# Lines starting with '[' (after blanks): with --batch 1 or 2 below, whole
# requests of them, none of which can be the first line of a body.
# A bad line led by blanks (not the first of its file, whose blanks the
# input skips): the server, too, skips them at the start of a body.
printf '{"name": "A0"}\n \t {"name": "A1", "age": 4x}\n [1]\n[{"name": "in an array"}]\n{"name": "A4"\n' >"$T/arrays.ndjson"
# A pretty-printed array, CRLF line ends, line breaks inside a bad string.
printf '[\r\n  {"name": "P1",\r\n   "age": 1},\r\n  {"name": "P2\r\nbroken", "age": 2},\r\n  {"name": "P3", "age": "three"},\r\n  {"name": "P4"}\r\n]\r\n' >"$T/pretty.json"
# A record led by the gzip magic (the server once inflated a body that
# started with it: 69 for the whole run), BOMs after blanks or after a
# BOM (the server skipped both at the start of a body and took the record),
# and a line of blanks and a BOM.
printf '{"name": "B0"}\n\037\213\010 junk\n  \357\273\277{"name": "B2"}\n\357\273\277\357\273\277{"name": "B3"}\n \357\273\277\n{"name": "B5"}\n' >"$T/lead.ndjson"
# gzip'd, with a NUL byte inside a string and one outside.
printf '{"name": "G1"}\n{"name": "G\0"}\n{"name": "G3"}\0\n{"name": "G4", "age": -1}\n' | gzip >"$T/mixed.ndjson.gz"

run_mixed() {
	"$@" --max-line 200 -f "$T/mixed.ndjson" -f "$T/arrays.ndjson" \
	    -f "$T/pretty.json" -f "$T/mixed.ndjson.gz" -f "$T/lead.ndjson" \
	    '{"name": "Arg"}' '[{"name": "Arg2"}, {"name": 2}]'
}
expect_status 65 run_mixed env WTC_SPOOL="$T/spool-local" "$WTC" put --no-drain
untimed "$T/err" >"$T/mixed.local"
for batch in 4096 1 2 3; do
	expect_status 65 run_mixed "$WTC" put --remote "$URL" --batch $batch
	untimed "$T/err" >"$T/mixed.remote"
	if ! cmp -s "$T/mixed.local" "$T/mixed.remote"; then
		diff "$T/mixed.local" "$T/mixed.remote" >&2 || true
		fail "remote put (--batch $batch) reports bad records differently from a local put"
	fi
done
# The comparison means something: it covers what was meant to be covered.
expect_grep "mixed.ndjson:1: invalid JSON at byte 40: expected ',' or '}' after a value" "$T/mixed.remote"
expect_grep "mixed.ndjson:4: field 'age' must be an integer, not a string" "$T/mixed.remote"
expect_grep "mixed.ndjson:9: record must be a JSON object, not an array" "$T/mixed.remote"
expect_grep "mixed.ndjson:12: line is longer than the 200-byte limit" "$T/mixed.remote"
expect_grep "mixed.ndjson:13: trailing characters" "$T/mixed.remote"
expect_grep "arrays.ndjson:2: invalid JSON at byte 26: expected ',' or '}' after a value" "$T/mixed.remote"
expect_grep "arrays.ndjson:3: record must be a JSON object, not an array" "$T/mixed.remote"
expect_grep "arrays.ndjson:4: record must be a JSON object, not an array" "$T/mixed.remote"
expect_grep "pretty.json:4: invalid JSON at byte 12: control character in string" "$T/mixed.remote"
expect_grep "pretty.json:6: field 'age' must be an integer, not a string" "$T/mixed.remote"
expect_grep "mixed.ndjson.gz:2: invalid JSON at byte 11: control character in string" "$T/mixed.remote"
expect_grep "lead.ndjson:2: invalid JSON at byte 0: expected '{'" "$T/mixed.remote"
expect_grep "lead.ndjson:3: invalid JSON at byte 2: expected '{'" "$T/mixed.remote"
expect_grep "lead.ndjson:4: invalid JSON at byte 3: expected '{'" "$T/mixed.remote"
expect_grep "lead.ndjson:5: invalid JSON at byte 1: expected '{'" "$T/mixed.remote"
expect_grep "<argument 2>:1: " "$T/mixed.remote"
grep -q "^wtc put: [0-9]* accepted, [0-9]* rejected$" "$T/mixed.remote" ||
    fail "no summary: $(cat "$T/mixed.remote")"

# --on-error=abort: the server checks every record first (POST /validate),
# and with one bad nothing is written; the messages are a local put's.
keys=$(rcli DBSIZE)
expect_status 65 run_mixed env WTC_SPOOL="$T/spool-local" "$WTC" put --no-drain --on-error=abort
untimed "$T/err" >"$T/abort.local"
expect_grep "records are bad; nothing was written (--on-error=abort)" "$T/abort.local"
for batch in 4096 1 3; do
	expect_status 65 run_mixed "$WTC" put --remote "$URL" --batch $batch --on-error=abort
	untimed "$T/err" >"$T/abort.remote"
	if ! cmp -s "$T/abort.local" "$T/abort.remote"; then
		diff "$T/abort.local" "$T/abort.remote" >&2 || true
		fail "remote put --on-error=abort (--batch $batch) differs from a local one"
	fi
done
assert_eq "$(rcli DBSIZE)" "$keys" "redis keys after refused --on-error=abort puts"
# From standard input, which is read twice.
expect_status 65 env WTC_SPOOL="$T/spool-local" "$WTC" put --no-drain --on-error=abort <"$T/mixed.ndjson"
untimed "$T/err" >"$T/abort.local"
expect_status 65 "$WTC" put --remote "$URL" --on-error=abort <"$T/mixed.ndjson"
untimed "$T/err" >"$T/abort.remote"
cmp -s "$T/abort.local" "$T/abort.remote" ||
    { diff "$T/abort.local" "$T/abort.remote" >&2; fail "remote put --on-error=abort from stdin differs"; }
expect_grep "<stdin>:4: field 'age' must be an integer, not a string" "$T/abort.remote"
# A FIFO is read twice too, from a copy (checked, then read empty).
mkfifo "$T/fifo"
printf '{"name": "Fifo One", "age": 1}\n{"name": "Fifo Two", "age": 2}\n' >"$T/fifo" &
expect_status 0 timeout 30 "$WTC" put --remote "$URL" --on-error=abort -f "$T/fifo"
expect_grep "2 accepted, 0 rejected" "$T/err"
keys=$((keys + 2))
assert_eq "$(rcli DBSIZE)" "$keys" "redis keys after a refused --on-error=abort put from stdin"
# A bad record, then an input that cannot be opened: the same report.
expect_status 66 env WTC_SPOOL="$T/spool-local" "$WTC" put --no-drain --on-error=abort -f "$T/mixed.ndjson" -f "$T/no-such-file"
untimed "$T/err" >"$T/abort.local"
expect_grep "records are bad; nothing was written (--on-error=abort)" "$T/abort.local"
expect_status 66 "$WTC" put --remote "$URL" --on-error=abort -f "$T/mixed.ndjson" -f "$T/no-such-file"
untimed "$T/err" >"$T/abort.remote"
cmp -s "$T/abort.local" "$T/abort.remote" ||
    { diff "$T/abort.local" "$T/abort.remote" >&2; fail "remote put --on-error=abort before a missing file differs"; }
# All good: checked, then written, each request all or nothing.
: >"$T/access.log"
head -n 1000 "$USERS" >"$T/1000.ndjson"
expect_status 0 "$WTC" put --remote "$URL" --on-error=abort --batch 300 <"$T/1000.ndjson"
expect_grep "1000 accepted, 0 rejected" "$T/err"
assert_eq "$(grep -c '"POST /validate" 200' "$T/access.log")" 4 "checking requests"
assert_eq "$(grep -c '"POST /write-through" 200' "$T/access.log")" 4 "writing requests"
assert_eq "$(rcli DBSIZE)" "$((keys + 1000))" "redis keys after an --on-error=abort put"

# Every record refused: still 65, nothing written.
expect_status 65 "$WTC" put --remote "$URL" '{"age": "x"}' '[1]'
expect_grep "<argument 1>:1: field 'age' must be an integer, not a string" "$T/err"
expect_grep "<argument 2>:1: record must be a JSON object, not a number" "$T/err"
expect_grep "0 accepted, 2 rejected" "$T/err"

# A record of exactly --max-line bytes (16 MiB, the server's --max-body) is
# judged as a local put judges it: the body once had one LF too many.
python3 -c 'p = "{\"name\": \""; s = "\"}"; open("'"$T/max.ndjson"'", "w").write(p + "a" * (16777216 - len(p) - len(s)) + s + "\n")'
expect_status 65 "$WTC" put --remote "$URL" -f "$T/max.ndjson"
expect_grep "max.ndjson:1: field 'name' is longer than 255 characters" "$T/err"

# An input that fails half way: 74 after what came before, like a local put.
gzip -c "$T/big.ndjson" | head -c 2000 >"$T/cut.gz"
expect_status 74 "$WTC" put --remote "$URL" -f "$T/cut.gz"
expect_grep "cut.gz" "$T/err"
expect_status 66 "$WTC" put --remote "$URL" -f "$T/no-such-file"
expect_grep "cannot open '$T/no-such-file'" "$T/err"
# What was read before an input that fails goes, locally as remotely and
# whatever --batch, with the same messages in the same order (a local put
# once dropped its last batch, a remote one said "cannot open" first).
printf '{"name": "F1"}\n{"name": "F2", "age": "x"}\n{"name": "F3"}\n' >"$T/before.ndjson"
for batch in 4096 1; do
	expect_status 66 env WTC_SPOOL="$T/spool-local" "$WTC" put --no-drain \
	    --batch $batch -f "$T/before.ndjson" -f "$T/no-such-file"
	untimed "$T/err" >"$T/nf.local"
	expect_status 66 "$WTC" put --remote "$URL" --batch $batch \
	    -f "$T/before.ndjson" -f "$T/no-such-file"
	untimed "$T/err" >"$T/nf.remote"
	if ! cmp -s "$T/nf.local" "$T/nf.remote"; then
		diff "$T/nf.local" "$T/nf.remote" >&2 || true
		fail "remote put (--batch $batch) differs before a missing input"
	fi
	expect_grep "2 accepted, 1 rejected" "$T/nf.local"
done

# --- a server with a small --max-body: requests are split -----------------
start_serve small --listen 127.0.0.1:0 --max-body 65536 --no-drainer --no-access-log
{
	head -n 1500 "$USERS"
	printf '{"name": "%s"}\n' "$(head -c 70000 /dev/zero | tr '\0' y)"
	sed -n 1501,3000p "$USERS"
} >"$T/huge.ndjson"
expect_status 65 "$WTC" put --remote "$URL" -f "$T/huge.ndjson"
expect_grep "huge.ndjson:1501: the body is larger than 65536 bytes (--max-body)" "$T/err"
expect_grep "3000 accepted, 1 rejected" "$T/err"
kill -TERM "$small_PID"
wait "$small_PID" || fail "small server did not exit 0"

# --- bearer token, over a unix socket --------------------------------------
# Blanks around the token are not part of it (the server trims them off
# the header: such a token once never matched).
printf ' s3cret-token-%s \t\n' $$ >"$T/token"
chmod 600 "$T/token"
printf 'wrong-token-%s\n' $$ >"$T/wrong"
chmod 600 "$T/wrong"
start_serve tok --listen "unix:$T/wtc.sock" --token-file "$T/token" --no-drainer
expect_status 0 "$WTC" put --remote "unix:$T/wtc.sock" --token-file "$T/token" -f "$USERS"
expect_grep "3000 accepted, 0 rejected" "$T/err"
expect_status 69 "$WTC" put --remote "unix:$T/wtc.sock" --token-file "$T/wrong" -f "$USERS"
expect_grep "server refused the token" "$T/err"
expect_no_grep "wrong-token" "$T/err"
expect_no_grep "wrong-token" "$T/out"
expect_status 69 "$WTC" put --remote "unix:$T/wtc.sock" -v -f "$USERS"
expect_grep "the server requires a bearer token (give --token-file)" "$T/err"
chmod 644 "$T/wrong"
expect_status 64 "$WTC" put --remote "unix:$T/wtc.sock" --token-file "$T/wrong" -f "$USERS"
expect_grep "is readable or writable by every user" "$T/err"
expect_no_grep "wrong-token" "$T/err"
expect_no_grep "s3cret" "$T/tok.err"
kill -TERM "$tok_PID"
wait "$tok_PID" || fail "token server did not exit 0"

# fake_server NAME: run the Python handler class H read from standard input
# as an HTTP server on a free port; sets NAME_PID and FAKE_URL.
fake_server() {
	{
		echo 'import http.server, json, sys'
		cat <<'EOF2'
def reply(h, status, obj, ctype="application/json"):
    out = json.dumps(obj).encode() if ctype == "application/json" else obj
    h.send_response(status)
    h.send_header("Content-Type", ctype)
    h.send_header("Content-Length", str(len(out)))
    h.end_headers()
    h.wfile.write(out)
EOF2
		cat
		cat <<'EOF2'
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write(str(s.server_address[1]))
s.serve_forever()
EOF2
	} >"$T/$1.py"
	python3 "$T/$1.py" "$T/$1.port" &
	eval "$1_PID=$!"
	EXTRA_PIDS="$EXTRA_PIDS $!"
	wait_until 10 test -s "$T/$1.port" || fail "the fake server $1 did not start"
	FAKE_URL="http://127.0.0.1:$(cat "$T/$1.port")"
}

# --- Not a wtc serve: a 200 that is not results is a failed request: 69 ----
fake_server notwtc <<'EOF2'
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/validate":    # a wtc serve from before it
            reply(self, 404, {"error": "not found"})
            return
        reply(self, 200, b"OK", "text/html")
    def log_message(self, *a):
        pass
EOF2
expect_status 69 "$WTC" put --remote "$FAKE_URL" '{"name": "Nobody"}'
expect_grep "is not the results of 1 records: is this a 'wtc serve'?" "$T/err"
expect_status 69 "$WTC" put --remote "$FAKE_URL" --on-error=abort \
    '{"name": "Nobody"}'
expect_grep "the server has no /validate (it is older than --on-error=abort with --remote)" "$T/err"
expect_grep "nothing was written (--on-error=abort checks every record first)" "$T/err"
kill "$notwtc_PID"
wait "$notwtc_PID" 2>/dev/null || true

# --- All or nothing, but a write refuses what /validate passed (the table
# changed between the passes): what went before stays, the rest is not sent.
fake_server flip <<'EOF2'
writes = 0
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        global writes
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        n = len(body.split(b"\n"))
        status, results = 200, [{}] * n
        if self.path == "/write-through?on-error=abort":
            writes += 1
            open(sys.argv[1] + ".writes", "w").write(str(writes))
            if writes == 1:
                results = [{"id": i + 1} for i in range(n)]
            else:
                status = 422
                results = [{}] * n
                results[1] = {"error": "unknown field 'age'", "index": 1}
        reply(self, status, {"results": results})
    def log_message(self, *a):
        pass
EOF2
head -n 6 "$USERS" >"$T/six.ndjson"
expect_status 65 "$WTC" put --remote "$FAKE_URL" --on-error=abort --batch 2 \
    -f "$T/six.ndjson"
expect_grep "six.ndjson:3: not written: another record of its request was refused (on-error=abort)" "$T/err"
expect_grep "six.ndjson:4: unknown field 'age'" "$T/err"
expect_grep "the server refused records it had checked as good; 2 records before them were written, the rest were not sent (--on-error=abort)" "$T/err"
expect_grep "2 accepted, 2 rejected" "$T/err"
assert_eq "$(cat "$T/flip.port.writes")" 2 "write requests after a refused one"
kill "$flip_PID"
wait "$flip_PID" 2>/dev/null || true

# --- A keep-alive connection closed after the server read the whole
# request, with no answer: it may have been written, and is not sent again
# (libcurl would send it again on a new connection by itself, and records
# without ids would be written twice).
fake_server drop <<'EOF2'
writes = 0
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    served = 0
    def setup(self):
        super().setup()
        self.served = 0
    def do_POST(self):
        global writes
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        writes += 1
        open(sys.argv[1] + ".writes", "w").write(str(writes))
        self.served += 1
        if self.served > 1:
            self.close_connection = True
            return
        n = len(body.split(b"\n"))
        reply(self, 200, {"results": [{"id": i + 1} for i in range(n)]})
    def log_message(self, *a):
        pass
EOF2
head -n 4 "$USERS" | sed 's/"id": *[0-9]*, *//' >"$T/noid.ndjson"
expect_status 69 "$WTC" put --remote "$FAKE_URL" --batch 2 -f "$T/noid.ndjson"
expect_grep "the connection was closed without an answer (after the whole request was sent: its records may have been written; not sending it again)" "$T/err"
assert_eq "$(cat "$T/drop.port.writes")" 2 "requests the server received"
kill "$drop_PID"
wait "$drop_PID" 2>/dev/null || true

# --- Redis down: 503, retried for --retry-for, then 69 -----------------------
URL=$URL_MAIN
stop_redis
start=$(date +%s%N)
expect_status 69 "$WTC" put --remote "$URL" --retry-for 3 -v -f "$USERS"
elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
expect_grep "redis is unavailable" "$T/err"
expect_grep "trying again in 1.0 s" "$T/err"
expect_grep "gave up after 3 s" "$T/err"
expect_grep "0 records before this batch of 3000 were written" "$T/err"
expect_grep "0 accepted, 0 rejected" "$T/err"
[ "$elapsed" -ge 2900 ] && [ "$elapsed" -le 8000 ] || fail "gave up after $elapsed ms, not about 3 s"

# Redis back while put waits: the same batch goes through.
"$WTC" put --remote "$URL" --retry-for 30 -f "$T/big.ndjson" >"$T/late.out" 2>"$T/late.err" &
LATE=$!
sleep 2
start_redis
set +e
wait "$LATE"
rc=$?
set -e
[ "$rc" = 0 ] || { cat "$T/late.err" >&2; fail "put after redis came back: exit $rc"; }
expect_grep "5000 accepted, 0 rejected" "$T/late.err"

kill -TERM "$main_PID"
wait "$main_PID" || fail "serve did not exit 0"
exit 0
