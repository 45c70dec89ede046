# wtc put end to end: records from arguments, files and stdin land in Redis
# at once and, after the drain, in MySQL; bad records are named by file and
# line; --on-error=abort writes nothing.
. "$TOP_SRCDIR/tests/lib.sh"
start_servers

expect_status 0 "$WTC" init
expect_grep "created table 'wtc.users'" "$T/err"
expect_status 0 "$WTC" init
expect_grep "nothing to do" "$T/err"

# One record from an argument: the original service's record.
expect_status 0 "$WTC" put --no-drain '{"name": "John Doe", "age": 30, "occupation": "Engineer"}'
expect_grep "1 accepted, 0 rejected" "$T/err"
assert_eq "$(rcli HGET users:1 name)" "John Doe" "redis name"
assert_eq "$(rcli HGET users:1 age)" "30" "redis age"
v1=$(rcli HGET users:1 _wtc_version)
[ -n "$v1" ] || fail "no version in redis"

# Not in MySQL until drained.
assert_eq "$(sql 'SELECT COUNT(*) FROM users')" "0" "rows before drain"
expect_status 0 "$WTC" drain --once
assert_eq "$(sql 'SELECT name, age, occupation, _wtc_version FROM users WHERE id = 1')" \
    "$(printf 'John Doe\t30\tEngineer\t%s' "$v1")" "row after drain"

# The example file through stdin; the same file through -f with explicit ids.
expect_status 0 "$WTC" put --no-drain <"$TOP_SRCDIR/examples/users.ndjson"
expect_grep "3000 accepted, 0 rejected" "$T/err"
expect_status 0 "$WTC" drain --once
assert_eq "$(sql 'SELECT COUNT(*) FROM users')" "3001" "rows after bulk"
assert_eq "$(rcli --scan --pattern 'users:*' | wc -l | tr -d ' ')" "3001" "keys after bulk"

# Every row equals its hash.
sql "SELECT id, name, IFNULL(age,''), IFNULL(occupation,''), _wtc_version FROM users ORDER BY id" >"$T/mysql.tsv"
awk '{print "HMGET users:" $1 " name age occupation _wtc_version"}' "$T/mysql.tsv" |
    rcli | paste - - - - >"$T/redis.vals"
awk '{print $1}' "$T/mysql.tsv" | paste - "$T/redis.vals" >"$T/redis.tsv"
cmp -s "$T/mysql.tsv" "$T/redis.tsv" || { diff "$T/mysql.tsv" "$T/redis.tsv" | head >&2; fail "redis and mysql differ"; }

# An update by id replaces the record, with a newer version, in both.
expect_status 0 "$WTC" put --no-drain '{"id": 1, "name": "John Doe", "age": 31}'
v2=$(rcli HGET users:1 _wtc_version)
[ "$v2" -gt "$v1" ] || fail "version did not grow: $v1 -> $v2"
assert_eq "$(rcli HEXISTS users:1 occupation)" "0" "occupation dropped in redis"
expect_status 0 "$WTC" drain --once
assert_eq "$(sql 'SELECT age, IFNULL(occupation, "NULL"), _wtc_version FROM users WHERE id = 1')" \
    "$(printf '31\tNULL\t%s' "$v2")" "row after update"

# Bad records: named by source and line, the others go in, exit 65.
cat >"$T/mixed.ndjson" <<'EOR'
{"name": "Good One", "age": 40}

{"name": "Bad Age", "age": "40"}
{"name": "Fraction", "age": 30.5}
{"nam": "Typo"}
{"name": "Truncated", "age":
{"age": 5}
{"name": "Good Two", "age": 41, "occupation": "Pilot"}
EOR
expect_status 65 "$WTC" put --no-drain -f "$T/mixed.ndjson"
expect_grep "mixed.ndjson:3: field 'age' must be an integer, not a string" "$T/err"
expect_grep "mixed.ndjson:4: field 'age' must be an integer" "$T/err"
expect_grep "mixed.ndjson:5: unknown field 'nam'" "$T/err"
expect_grep "mixed.ndjson:6: " "$T/err"
expect_grep "mixed.ndjson:7: missing required field 'name'" "$T/err"
expect_grep "2 accepted, 5 rejected" "$T/err"
assert_eq "$(rcli --scan --pattern 'users:*' | wc -l | tr -d ' ')" "3003" "keys after mixed"

# All or nothing.
expect_status 65 "$WTC" put --no-drain --on-error=abort -f "$T/mixed.ndjson"
expect_grep "nothing was written" "$T/err"
assert_eq "$(rcli --scan --pattern 'users:*' | wc -l | tr -d ' ')" "3003" "keys after abort"
expect_status 65 "$WTC" put --no-drain --on-error=abort <"$T/mixed.ndjson"
expect_grep "nothing was written" "$T/err"
sed -n '1p;8p' "$T/mixed.ndjson" | expect_status 0 "$WTC" put --no-drain --on-error=abort
expect_status 0 "$WTC" put --no-drain --on-error=abort -f - <"$TOP_SRCDIR/examples/users.ndjson"
# A FIFO is read twice too, from a copy (a second open hung, and a pipe
# read empty: checked, never written, exit 0).
mkfifo "$T/fifo"
printf '{"id": 990001, "name": "Fifo One"}\n{"id": 990002, "name": "Fifo Two"}\n' >"$T/fifo" &
expect_status 0 timeout 30 "$WTC" put --no-drain --on-error=abort -f "$T/fifo"
expect_grep "2 accepted, 0 rejected" "$T/err"
assert_eq "$(rcli HGET users:990002 name)" "Fifo Two" "a record from a FIFO"
printf '{"id": 990003, "name": "Fifo Three"}\n{"id": "x"}\n' >"$T/fifo" &
expect_status 65 timeout 30 "$WTC" put --no-drain --on-error=abort -f "$T/fifo"
expect_grep "$T/fifo:2: " "$T/err"
assert_eq "$(rcli EXISTS users:990003)" 0 "nothing from a FIFO with a bad record"
# A regular file is read twice up to the size it had at the start: lines
# appended while put writes are not written unchecked (a bad one was found
# after the rest had been written: exit 65).
awk 'BEGIN { for (i = 1; i <= 150000; i++) printf "{\"id\": %d, \"name\": \"g%d\"}\n", 1000000 + i, i }' >"$T/grows.ndjson"
"$WTC" put --no-drain --on-error=abort -f "$T/grows.ndjson" >"$T/grows.out" 2>&1 &
gpid=$!
EXTRA_PIDS="$EXTRA_PIDS $gpid"
until [ "$(rcli EXISTS users:1000001)" = 1 ] || ! kill -0 "$gpid" 2>/dev/null; do sleep 0.01; done
printf '{"id": 1999999, "name": 5}\n{"id": 1999998, "name": "appended"}\n' >>"$T/grows.ndjson"
grc=0
wait "$gpid" || grc=$?
[ "$grc" = 0 ] || { cat "$T/grows.out" >&2; fail "put of a growing file: exit $grc"; }
grep -q "150000 accepted, 0 rejected" "$T/grows.out" || fail "growing file: $(cat "$T/grows.out")"
assert_eq "$(rcli EXISTS users:1999998)" 0 "a line appended after the start"

# A JSON array argument, gzip'd input, --json summary.
expect_status 0 "$WTC" put --no-drain --json '[{"name":"A1"},{"name":"A2","age":null}]'
expect_grep '"accepted":2,"rejected":0' "$T/out"
# Redis unreachable: the --json summary all the same (put --remote gives it).
expect_status 69 "$WTC" --redis unix:///nonexistent put --no-drain --json '{"name": "A3"}'
expect_grep '"accepted":0,"rejected":0,' "$T/out"
expect_grep '"status":69}' "$T/out"
head -n 100 "$TOP_SRCDIR/examples/users.ndjson" | gzip >"$T/u.ndjson.gz"
expect_status 0 "$WTC" put --no-drain -f "$T/u.ndjson.gz"
expect_grep "100 accepted" "$T/err"

# Missing file: 66, and nothing else harmed.
expect_status 66 "$WTC" put --no-drain -f "$T/nonexistent.ndjson"
expect_grep "cannot open '$T/nonexistent.ndjson'" "$T/err"

# Everything drains; MySQL and Redis agree on the count.
expect_status 0 "$WTC" drain --once
assert_eq "$(sql 'SELECT COUNT(*) FROM users')" \
    "$(rcli --scan --pattern 'users:*' | wc -l | tr -d ' ')" "final count"

# Strings that look like SQL or the Redis protocol round-trip byte for byte.
nasty='Robert'"'"'); DROP TABLE users;-- \\ "q" *3\r\n$3\r\nDEL'
expect_status 0 "$WTC" put --no-drain "{\"id\": 90001, \"name\": \"Robert'); DROP TABLE users;-- \\\\ \\\"q\\\" *3\\r\\n\$3\\r\\nDEL\"}"
expect_status 0 "$WTC" drain --once
m=$(sql "SELECT HEX(name) FROM users WHERE id = 90001")
h=$(rcli HGET users:90001 name | od -An -tx1 | tr -d ' \n' | tr a-f A-F)
assert_eq "${h%0A}" "$m" "nasty string bytes (redis vs mysql)"

# Records with and without ids in one input: an id handed out never equals
# one a record brought, in the same batch or an earlier one (it could: one
# of the two records silently replaced the other).  The id counter is set
# back so that the ids handed out fall among the ones given.
expect_status 0 "$WTC" drain --once
top=$(sql 'SELECT MAX(id) FROM users')
rcli SET wtc:next-id:users "$top" >/dev/null
printf '%s\n' '{"name": "auto-1"}' "{\"id\": $((top + 3)), \"name\": \"given-b\"}" \
    '{"name": "auto-2"}' '{"name": "auto-3"}' \
    "{\"id\": $((top + 2)), \"name\": \"given-a\"}" \
    "{\"id\": $((top + 7)), \"name\": \"given-c\"}" '{"name": "auto-4"}' >"$T/ids1"
expect_status 0 "$WTC" put --no-drain --batch 1 -f "$T/ids1"
rcli SET wtc:next-id:users "$((top + 19))" >/dev/null
printf '%s\n' '{"name": "auto-5"}' "{\"id\": $((top + 21)), \"name\": \"given-d\"}" \
    '{"name": "auto-6"}' >"$T/ids2"
expect_status 0 "$WTC" put --no-drain -f "$T/ids2"
expect_status 0 "$WTC" drain --once
assert_eq "$(sql "SELECT COUNT(*) FROM users WHERE id > $top")" 10 "rows of the mixed-id puts"
assert_eq "$(sql "SELECT COUNT(DISTINCT name) FROM users WHERE id > $top")" 10 "names of the mixed-id puts"
for n in a:2 b:3 c:7 d:21; do
	assert_eq "$(sql "SELECT name FROM users WHERE id = $((top + ${n#*:}))")" "given-${n%:*}" "given-${n%:*}"
done

# A version column that cannot hold versions is refused by init and put
# (init called such a table "ready"; the drain then dead-lettered it all).
sql 'CREATE TABLE badver (id BIGINT PRIMARY KEY, name VARCHAR(20), _wtc_version VARCHAR(10))'
expect_status 69 "$WTC" --table badver init
expect_grep "column '_wtc_version' of table 'badver' is varchar(10) NULL; wtc needs BIGINT UNSIGNED NOT NULL DEFAULT 0" "$T/err"
expect_status 69 "$WTC" --table badver put --no-drain '{"id": 1, "name": "x"}'
expect_grep "column '_wtc_version' of table 'badver'" "$T/err"

# A process starts above the versions the processes before it handed out
# (SPOOL/versions), so a clock stepped back does not make its writes lose
# to older ones.  An earlier process whose clock ran an hour ahead is
# played by hand: its version in Redis and in the file.
expect_status 0 "$WTC" put --no-drain '{"id": 4242, "name": "v1"}'
ahead=$(( ($(date +%s) + 3600) * 1000000 * 4096 ))
rcli HSET users:4242 _wtc_version "$ahead" >/dev/null
printf '%020d\n' "$ahead" >"$WTC_SPOOL/versions"
expect_status 0 "$WTC" put --no-drain '{"id": 4242, "name": "v2"}'
assert_eq "$(rcli HGET users:4242 name)" "v2" "a write after the clock went back"
[ "$(cat "$WTC_SPOOL/versions")" -gt "$ahead" ] || fail "versions not raised: $(cat "$WTC_SPOOL/versions")"

# Ids past the range of Redis counters (signed 64-bit) do not move the id
# counter: wtc never hands them out.  They once made every id-less write
# fail, in this process and (once landed) in every later one.
big=18446744073709551615
expect_status 0 "$WTC" put --no-drain "{\"id\": $big, \"name\": \"huge\"}" \
    '{"name": "after huge"}'
expect_status 0 "$WTC" drain --once
expect_status 0 "$WTC" put --no-drain '{"name": "after huge, later"}'
expect_status 0 "$WTC" drain --once
assert_eq "$(sql "SELECT COUNT(*) FROM users WHERE name LIKE 'after huge%' AND id < 1000000000")" \
    "2" "id-less records after a huge id"
assert_eq "$(sql "SELECT name FROM users WHERE id = $big")" "huge" "the huge id"

# An id at the end of the counter uses it up, as with AUTO_INCREMENT:
# id-less records then fail with a message that says so (not "redis is
# unavailable"), and nothing of theirs is written.
expect_status 0 "$WTC" put --no-drain '{"id": 9223372036854775807, "name": "last"}'
expect_status 69 "$WTC" put --no-drain '{"name": "no id left"}'
expect_grep "the id counter 'wtc:next-id:users' is used up" "$T/err"
expect_status 0 "$WTC" drain --once
assert_eq "$(sql "SELECT COUNT(*) FROM users WHERE name = 'no id left'")" "0" "used-up counter"

# Binary keys with NUL bytes are keys of their own in Redis: cut at the
# first NUL, these two were one key, and one record was lost from Redis.
# One put of each size takes the single-record path, the script and the
# transaction (CACHE_TX_MIN).
sql "CREATE TABLE bk (k BINARY(3) PRIMARY KEY, v INT,
    _wtc_version BIGINT UNSIGNED NOT NULL DEFAULT 0)"
expect_status 0 "$WTC" --table bk put --no-drain '{"k": "\u0000a\u0000", "v": 1}'
expect_status 0 "$WTC" --table bk put --no-drain '{"k": "\u0000b\u0000", "v": 2}' \
    '{"k": "\u0000b\u0001", "v": 3}'
awk 'BEGIN { for (i = 0; i < 40; i++) printf "{\"k\": \"\\u0000c\\u%04x\", \"v\": %d}\n", i, 10 + i }' >"$T/bk.ndjson"
expect_status 0 "$WTC" --table bk put --no-drain -f "$T/bk.ndjson"
assert_eq "$(rcli EVAL "return #redis.call('KEYS', 'bk:*')" 0)" 43 "binary keys in redis"
expect_status 0 "$WTC" drain --once
assert_eq "$(sql 'SELECT COUNT(*) FROM bk')" 43 "binary keys in mysql"
# verify reads each row's key whole (it found every one missing in Redis).
expect_status 0 "$WTC" --table bk verify
expect_grep "verified 43 keys: 0 differ" "$T/out"
# So does --sample, and a key only Redis holds is found and reported,
# control bytes shown as '?' (both checked keys cut at the NUL, which
# matched nothing, and said nothing).
expect_status 0 "$WTC" --table bk verify --sample 100
expect_grep "verified 43 keys: 0 differ" "$T/out"
expect_status 0 "$WTC" --table bk put --no-drain '{"k": "\u0000q\u0000", "v": 99}'
expect_status 1 "$WTC" --table bk verify
expect_grep "missing in mysql: bk:?q?" "$T/out"
expect_grep "verified 44 keys: 1 differ" "$T/out"
expect_status 1 "$WTC" --table bk verify --sample 100
expect_grep "missing in mysql: bk:?q?" "$T/out"
expect_status 0 "$WTC" drain --once
expect_status 0 "$WTC" --table bk verify
expect_grep "verified 44 keys: 0 differ" "$T/out"

# Options after the records, as before them (they were records: written
# to users, and --table and its value reported as bad JSON).
sql "CREATE TABLE opt_after (id INT PRIMARY KEY, name VARCHAR(20))"
expect_status 0 "$WTC" --table opt_after init
expect_status 0 "$WTC" put '{"id": 1, "name": "after"}' --table opt_after --no-drain
assert_eq "$(rcli HGET opt_after:1 name)" after "written to the table named after it"
expect_status 0 "$WTC" get 1 --table opt_after --json
expect_grep '"name":"after"' "$T/out"

# Flags win over the environment, which wins over the config file, for a
# password or an option file inside a URL too (the file's won); and a
# relative option file still works for put's background drainer, which
# runs in '/' (it could not log in, and retried for ever).
printf '[client]\npassword=%s\n' "$DB_PASSWORD" >"$T/good.cnf"
printf '[client]\npassword=wrong\n' >"$T/bad.cnf"
chmod 600 "$T/good.cnf" "$T/bad.cnf"
printf 'mysql-option-file = %s\nmysql-password = wrong\n' "$T/bad.cnf" >"$T/prec.conf"
(
	unset WTC_MYSQL_PASSWORD
	url=$WTC_MYSQL_URL
	expect_status 0 env -u WTC_MYSQL_URL "$WTC" --config "$T/prec.conf" \
	    --mysql "$url&option-file=$T/good.cnf" get 1
	WTC_MYSQL_URL="mysql://wtc:$DB_PASSWORD@localhost/wtc?socket=$MARIADB_SOCK" \
	    expect_status 0 "$WTC" --config "$T/prec.conf" get 1
	cd "$T"
	WTC_MYSQL_OPTION_FILE=good.cnf expect_status 0 "$WTC" put '{"id": 4100, "name": "relative"}'
	landed4100() { [ "$(sql 'SELECT COUNT(*) FROM users WHERE id = 4100')" = 1 ]; }
	wait_until 30 landed4100 || fail "a relative option file: the background drainer landed nothing"
)

# A summary after an input that cannot be copied gives the time put took
# (it gave the machine's uptime: the clock started after the copy).
expect_status 74 "$WTC" put --no-drain --on-error=abort --json -f "$T"
python3 -c 'import json,sys; s = json.loads(sys.stdin.readline()); assert s["seconds"] < 60, s' <"$T/out" ||
    fail "summary time: $(cat "$T/out")"

# A Redis ACL user named in the URL authenticates as that user (the user
# was dropped, and AUTH went to the default user).  Last: the default user
# gets a password here.
rcli ACL SETUSER alice on '>alice-pw' '~*' '&*' '+@all' >/dev/null
rcli ACL SETUSER default resetpass '>default-pw' >/dev/null
WTC_REDIS_URL="unix://$REDIS_SOCK?user=alice" WTC_REDIS_PASSWORD=alice-pw \
    expect_status 0 "$WTC" put --no-drain '{"id": 4242, "name": "acl"}'
assert_eq "$(redis-cli -s "$REDIS_SOCK" --user alice --pass alice-pw --no-auth-warning \
    HGET users:4242 name)" acl "written as alice"
WTC_REDIS_URL="unix://$REDIS_SOCK?user=alice" WTC_REDIS_PASSWORD=wrong \
    expect_status 69 "$WTC" put --no-drain '{"id": 4243, "name": "acl"}'
expect_grep "cannot authenticate to redis" "$T/err"
exit 0
