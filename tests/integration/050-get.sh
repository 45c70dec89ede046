# wtc get: read-through from Redis, else MySQL (filling Redis back);
# text and --json output; missing ids, bad ids and bad options.
. "$TOP_SRCDIR/tests/lib.sh"
start_servers

expect_status 0 "$WTC" init
expect_status 0 "$WTC" put --no-drain \
    '{"id": 1, "name": "Ann Lee", "age": 30, "occupation": "Engineer"}' \
    '{"id": 2, "name": "Bob Roe", "age": null}' \
    '{"id": 3, "name": "Cy: colon", "age": 41}'
expect_status 0 "$WTC" drain --once

# Text: field lines, a blank line between records, NULL fields left out.
expect_status 0 "$WTC" get 1 2
cat >"$T/want" <<'EOR'
id: 1
name: Ann Lee
age: 30
occupation: Engineer

id: 2
name: Bob Roe
EOR
cmp -s "$T/want" "$T/out" || { diff "$T/want" "$T/out" >&2; fail "get text output"; }

# --json: one object per line, typed.
expect_status 0 "$WTC" get --json 1 3
assert_eq "$(sed -n 1p "$T/out")" '{"id":1,"name":"Ann Lee","age":30,"occupation":"Engineer"}' "json 1"
assert_eq "$(sed -n 2p "$T/out")" '{"id":3,"name":"Cy: colon","age":41}' "json 3"
python3 -c 'import json,sys; [json.loads(l) for l in sys.stdin]' <"$T/out" ||
    fail "get --json is not JSON lines"

# A key gone from Redis is read from MySQL and filled back, version and all.
assert_eq "$(rcli DEL users:1)" "1" "del"
expect_status 0 "$WTC" get --json 1
assert_eq "$(cat "$T/out")" '{"id":1,"name":"Ann Lee","age":30,"occupation":"Engineer"}' "json from mysql"
assert_eq "$(rcli HGET users:1 name)" "Ann Lee" "filled name"
assert_eq "$(rcli HGET users:1 _wtc_version)" "$(sql "SELECT _wtc_version FROM users WHERE id = 1")" "filled version"
assert_eq "$(rcli HEXISTS users:1 age)" "1" "filled age"
assert_eq "$(rcli TTL users:1)" "-1" "filled for good: the spool is empty"

# With a newer record still in the spool, MySQL's older row is filled for
# a while only: filled for good, it outlived the record's landing and Redis
# kept the older version (verify differed for ever).
expect_status 0 "$WTC" put --no-drain '{"id": 1, "name": "Ann Newer", "age": 31, "occupation": "Engineer"}'
rcli DEL users:1 >/dev/null
expect_status 0 "$WTC" get --json 1
expect_grep '"name":"Ann Lee"' "$T/out"
ttl=$(rcli TTL users:1)
[ "$ttl" -gt 0 ] && [ "$ttl" -le 30 ] || fail "a fill behind the spool: TTL $ttl"
# A write of the key makes it lasting again.
expect_status 0 "$WTC" put --no-drain '{"id": 1, "name": "Ann Lee", "age": 30, "occupation": "Engineer"}'
assert_eq "$(rcli TTL users:1)" "-1" "written again"
expect_status 0 "$WTC" drain --once

# Redis is read first: a value only Redis holds (not drained) is what get shows.
expect_status 0 "$WTC" put --no-drain '{"id": 2, "name": "Bob Roe", "age": 52}'
expect_status 0 "$WTC" get --json 2
expect_grep '"age":52' "$T/out"

# Missing ids: named, the others still printed, exit 1.
expect_status 1 "$WTC" get 1 42
expect_grep "wtc get: no record with id 42 in 'users'" "$T/err"
expect_grep "name: Ann Lee" "$T/out"

# Bad input: an id that is not an integer for an integer key.
expect_status 65 "$WTC" get abc
expect_grep "'abc' for column 'id' is not an integer" "$T/err"
expect_status 65 "$WTC" get 123456789012345678901
expect_grep "'123456789012345678901' for column 'id' is not an integer of 1 to 20 digits" "$T/err"

# Usage errors.
expect_status 64 "$WTC" get
expect_grep "wtc get: no ids given" "$T/err"
expect_status 64 "$WTC" get --bogus 1
expect_grep "wtc get: unknown option '--bogus'" "$T/err"
expect_grep "Try 'wtc help get'." "$T/err"
expect_status 0 "$WTC" help get
expect_grep "usage: wtc get" "$T/out"

# A prefix: keys live under it.
expect_status 0 "$WTC" --prefix app: put --no-drain '{"id": 7, "name": "Pre Fix"}'
assert_eq "$(rcli HGET app:users:7 name)" "Pre Fix" "prefixed key"
expect_status 0 "$WTC" --prefix app: get 7
expect_grep "name: Pre Fix" "$T/out"

# A composite key whose values hold ':' and '%': each record its own Redis
# key (':' and '%' escaped as %3A and %25), found again by get and verify.
sql "CREATE TABLE pairs (a VARCHAR(20) NOT NULL, b VARCHAR(20) NOT NULL,
    v INT, PRIMARY KEY (a, b))"
expect_status 0 "$WTC" --table pairs init
expect_status 0 "$WTC" --table pairs put --no-drain \
    '{"a": "x:y", "b": "z", "v": 1}' '{"a": "x", "b": "y:z", "v": 2}' \
    '{"a": "5%", "b": "%3A", "v": 3}'
assert_eq "$(rcli HGET 'pairs:x%3Ay:z' v)" 1 "first composite key"
assert_eq "$(rcli HGET 'pairs:x:y%3Az' v)" 2 "second composite key"
assert_eq "$(rcli HGET 'pairs:5%25:%253A' v)" 3 "escaped percent signs"
expect_status 0 "$WTC" --table pairs drain --once
assert_eq "$(sql 'SELECT COUNT(*) FROM pairs')" 3 "composite rows"
expect_status 0 "$WTC" --table pairs verify
rcli DEL 'pairs:x%3Ay:z' >/dev/null
expect_status 0 "$WTC" --table pairs get 'x%3ay:z'	# escapes in any case
expect_grep "v: 1" "$T/out"
assert_eq "$(rcli HGET 'pairs:x%3Ay:z' v)" 1 "filled back under its key"
expect_status 0 "$WTC" --table pairs get --json 'x:y%3Az' '5%25:%253A'
assert_eq "$(sed -n 1p "$T/out")" '{"a":"x","b":"y:z","v":2}' "second by get"
assert_eq "$(sed -n 2p "$T/out")" '{"a":"5%","b":"%3A","v":3}' "third by get"
expect_status 0 "$WTC" --table pairs verify --ids 'x:y%3Az,5%25:%253A'
expect_status 65 "$WTC" --table pairs get 'x:y:z'
expect_grep "id 'x:y:z' has more than 2 values joined by ':' for table 'pairs'" "$T/err"
expect_status 65 "$WTC" --table pairs get 'x%zz:z'
expect_grep "not followed by two hex digits" "$T/err"
# One row, one key: a DOUBLE key by its value (1 and 1.0), a BINARY(N)
# padded with NULs, a SET's members in the column's order.  Each pair was
# two keys for one row, and get served the older.
sql "CREATE TABLE kd (k DOUBLE PRIMARY KEY, v INT);
    CREATE TABLE kb (k BINARY(4) PRIMARY KEY, v INT);
    CREATE TABLE ks (k SET('a','b') PRIMARY KEY, v INT)"
for t in kd kb ks; do expect_status 0 "$WTC" --table $t init; done
expect_status 0 "$WTC" --table kd put --no-drain '{"k": 1, "v": 1}'
expect_status 0 "$WTC" --table kd put --no-drain '{"k": 1.0, "v": 2}' '{"k": -0.0, "v": 3}' '{"k": 0.1, "v": 4}'
expect_status 0 "$WTC" --table kb put --no-drain '{"k": "ab", "v": 1}'
expect_status 0 "$WTC" --table kb put --no-drain '{"k": "ab\u0000\u0000", "v": 2}'
expect_status 0 "$WTC" --table ks put --no-drain '{"k": "a,b", "v": 1}'
expect_status 0 "$WTC" --table ks put --no-drain '{"k": "b,a", "v": 2}'
for t in kd kb ks; do expect_status 0 "$WTC" --table $t drain --once; done
assert_eq "$(rcli --scan --pattern 'kd:*' | sort | tr '\n' ' ')" "kd:0 kd:0.1 kd:1 " "double keys"
assert_eq "$(rcli --scan --pattern 'ks:*' | tr '\n' ' ')" "ks:a,b " "set keys"
assert_eq "$(rcli --scan --pattern 'kb:*' | wc -l)" 1 "binary keys"
expect_status 0 "$WTC" --table kd get --json 1e0
expect_grep '"v":2' "$T/out"
expect_status 0 "$WTC" --table ks get --json b,a
expect_grep '"v":2' "$T/out"
for t in kd kb ks; do expect_status 0 "$WTC" --table $t verify; done

# Redis down: read from MySQL with a warning.
# ZEROFILL numbers come back from MySQL as 00042: read through, they are
# plain JSON numbers under the key wtc writes (they were 00042, invalid
# JSON, under a second key), and verify finds the table as written.
sql "CREATE TABLE zf (id INT(5) UNSIGNED ZEROFILL PRIMARY KEY, n INT(6) ZEROFILL,
    d DECIMAL(6,2) ZEROFILL, _wtc_version BIGINT UNSIGNED NOT NULL DEFAULT 0)"
expect_status 0 "$WTC" --table zf put --no-drain '{"id": 42, "n": 7, "d": 1.5}'
expect_status 0 "$WTC" drain --once
expect_status 0 "$WTC" --table zf verify
rcli DEL zf:42 >/dev/null
expect_status 0 "$WTC" --table zf get --json 42
assert_eq "$(cat "$T/out")" '{"id":42,"n":7,"d":1.50}' "zerofill read through"
assert_eq "$(rcli HGET zf:42 n)" 7 "zerofill in redis"
assert_eq "$(rcli EXISTS zf:00042)" 0 "no zero-padded key"

stop_redis
expect_status 0 "$WTC" get 3
expect_grep "name: Cy: colon" "$T/out"
expect_grep "warning: cannot connect to redis" "$T/err"
# Both down: unavailable.
stop_mariadb
expect_status 69 "$WTC" get 3
exit 0
