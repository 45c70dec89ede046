# The drainer's ordering and stopping promises: out-of-order drains keep the
# newest version, replays change nothing, SIGTERM leaves a consistent
# checkpoint, and the background drainer started by put lands everything.
. "$TOP_SRCDIR/tests/lib.sh"
start_servers
expect_status 0 "$WTC" init

# Two spools write the same id; the newer write is drained first.
A="$T/spool-a"
B="$T/spool-b"
expect_status 0 "$WTC" put --no-drain --spool "$A" '{"id": 7, "name": "Old", "age": 1}'
expect_status 0 "$WTC" put --no-drain --spool "$B" '{"id": 7, "name": "New", "age": 2}'
assert_eq "$(rcli HGET users:7 name)" "New" "redis holds the newer write"
expect_status 0 "$WTC" drain --once --spool "$B"
expect_status 0 "$WTC" drain --once --spool "$A"
assert_eq "$(sql 'SELECT name, age FROM users WHERE id = 7')" "$(printf 'New\t2')" \
    "older write drained last must not win"
assert_eq "$(sql 'SELECT _wtc_version FROM users WHERE id = 7')" \
    "$(rcli HGET users:7 _wtc_version)" "versions agree"

# Redis and MySQL agree.
expect_status 0 "$WTC" verify
expect_grep "0 differ" "$T/out"

# SIGTERM in the middle of a big drain: exit 0, then the rest lands, and
# the table holds each record exactly once.
seq 1 60000 | awk '{printf "{\"id\": %d, \"name\": \"user %d\", \"age\": %d}\n", 1000 + $1, $1, $1 % 90}' \
    >"$T/big.ndjson"
expect_status 0 "$WTC" put --no-drain -f "$T/big.ndjson"
"$WTC" drain --batch 2000 >"$T/drain.out" 2>&1 &
dpid=$!
EXTRA_PIDS="$EXTRA_PIDS $dpid"
landed_some() { [ "$(sql 'SELECT COUNT(*) FROM users WHERE id > 1000')" -gt 0 ]; }
wait_until 30 landed_some ||
    fail "the drainer landed nothing"
kill -TERM $dpid
set +e
wait $dpid
rc=$?
set -e
assert_eq "$rc" "0" "drain exit status after SIGTERM"
expect_status 0 "$WTC" drain --once
assert_eq "$(sql 'SELECT COUNT(*), COUNT(DISTINCT id), SUM(age) FROM users WHERE id > 1000')" \
    "$(awk -F'"age": ' '{s += $2 + 0} END {printf "60000\t60000\t%d", s}' "$T/big.ndjson")" \
    "rows after SIGTERM and resume"

# A replayed spool (the checkpoint lost) lands nothing twice and changes nothing.
before=$(sql 'SELECT COUNT(*), SUM(_wtc_version) FROM users')
rm -f "$WTC_SPOOL/checkpoint"
expect_status 0 "$WTC" drain --once
assert_eq "$(sql 'SELECT COUNT(*), SUM(_wtc_version) FROM users')" "$before" "replay"

# The background drainer that put starts lands a load by itself and exits.
seq 1 5000 | awk '{printf "{\"name\": \"bg %d\", \"age\": 20}\n", $1}' >"$T/bg.ndjson"
expect_status 0 "$WTC" put -f "$T/bg.ndjson"
wait_until 60 "$WTC" status -q || { "$WTC" status >&2; fail "background drain did not finish"; }
assert_eq "$(sql "SELECT COUNT(*) FROM users WHERE name LIKE 'bg %'")" "5000" "background drain"
wait_until 30 sh -c "[ ! -f '$WTC_SPOOL/drain.pid' ]" || fail "background drainer did not exit when idle"

# Id 0 is a row like any other: MySQL must not take it for "the next
# AUTO_INCREMENT value", which an id-less record gets later.
expect_status 0 "$WTC" put --no-drain '{"id": 0, "name": "zero", "age": 1}'
expect_status 0 "$WTC" drain --once
expect_status 0 "$WTC" put --no-drain '{"name": "after zero", "age": 2}'
expect_status 0 "$WTC" drain --once
assert_eq "$(sql 'SELECT name FROM users WHERE id = 0')" "zero" "row 0"
assert_eq "$(sql "SELECT COUNT(*) FROM users WHERE name IN ('zero', 'after zero')")" \
    "2" "row 0 and the record after it"
expect_status 0 "$WTC" verify -q

# YEAR 0 lands as 0000: bound as the string '0' it was the year 2000.
sql "CREATE TABLE ty (id INT PRIMARY KEY, y YEAR NULL,
    _wtc_version BIGINT UNSIGNED NOT NULL DEFAULT 0)"
expect_status 0 "$WTC" --table ty put --no-drain '{"id": 1, "y": 0}' \
    '{"id": 2, "y": "0000"}' '{"id": 3, "y": 1999}'
expect_status 0 "$WTC" drain --once
assert_eq "$(sql 'SELECT id, y FROM ty ORDER BY id' | tr '\t\n' ' ')" \
    "1 0000 2 0000 3 1999 " "year 0"

# Fractions of a second past the column's precision are refused, not cut
# off by MySQL while Redis keeps them.
sql "CREATE TABLE tf (id INT PRIMARY KEY, at DATETIME(3), d DATETIME,
    _wtc_version BIGINT UNSIGNED NOT NULL DEFAULT 0)"
printf '%s\n' '{"id": 1, "at": "2024-01-01 10:00:00.123", "d": "2024-01-01 10:00:00"}' \
    '{"id": 2, "at": "2024-01-01 10:00:00.1234"}' \
    '{"id": 3, "d": "2024-01-01 10:00:00.5"}' >"$T/tf.ndjson"
expect_status 65 "$WTC" --table tf put --no-drain -f "$T/tf.ndjson"
expect_grep "tf.ndjson:2: field 'at' has 4 digits of a second, more than column type datetime(3) keeps (3)" "$T/err"
expect_grep "tf.ndjson:3: field 'd' has a fraction of a second, which column type datetime does not keep" "$T/err"
expect_status 0 "$WTC" drain --once
assert_eq "$(sql 'SELECT id, at FROM tf')" "$(printf '1\t2024-01-01 10:00:00.123')" "datetime(3)"

# Generated columns: MySQL computes them and refuses any value for them,
# DEFAULT too in ON DUPLICATE KEY UPDATE (every update of a row was
# dead-lettered, 1906).  The upsert leaves them out; a record that gives
# one is refused at put.
sql "CREATE TABLE gen (id INT PRIMARY KEY, email VARCHAR(50) NOT NULL,
    domain VARCHAR(50) AS (SUBSTRING_INDEX(email, '@', -1)) VIRTUAL,
    up VARCHAR(50) AS (UPPER(email)) STORED,
    _wtc_version BIGINT UNSIGNED NOT NULL DEFAULT 0)"
expect_status 0 "$WTC" --table gen put --no-drain '{"id": 1, "email": "a@x.org"}'
expect_status 0 "$WTC" drain --once
printf '%s\n' '{"id": 1, "email": "b@y.org"}' '{"id": 2, "email": "c@z.org", "domain": "q"}' >"$T/gen.ndjson"
expect_status 65 "$WTC" --table gen put --no-drain -f "$T/gen.ndjson"
expect_grep "gen.ndjson:2: field 'domain' is a generated column" "$T/err"
expect_status 0 "$WTC" drain --once
assert_eq "$(sql 'SELECT id, email, domain, up FROM gen')" \
    "$(printf '1\tb@y.org\ty.org\tB@Y.ORG')" "a row with generated columns updated"
expect_status 0 "$WTC" --table gen verify
# A record that gave a generated column anyway (validated, MySQL down,
# against a schema cache from before wtc knew them: here, the cache with
# its "generated" line cut) is dead-lettered by the drainer, not landed
# with the value silently dropped.
sed -i '/^generated /d' "$WTC_SPOOL/schema-gen.cache"
stop_mariadb
expect_status 0 "$WTC" --table gen put --no-drain '{"id": 3, "email": "d@w.org", "domain": "bogus"}'
start_mariadb
expect_status 0 "$WTC" drain --once
expect_grep "column 'domain' of table 'gen' is generated" "$WTC_SPOOL/dead-letter.ndjson"
assert_eq "$(sql 'SELECT COUNT(*) FROM gen WHERE id = 3')" 0 "no row for the record dead-lettered"

# An AUTO_INCREMENT column other than the key: MySQL numbers a new row
# that does not give it and keeps an old row's number (it was 0 for every
# row, and the second row collided on its unique key); one given is kept.
sql "CREATE TABLE tai (sku VARCHAR(10) PRIMARY KEY,
    seq BIGINT NOT NULL AUTO_INCREMENT, UNIQUE KEY (seq), qty INT,
    _wtc_version BIGINT UNSIGNED NOT NULL DEFAULT 0)"
expect_status 0 "$WTC" --table tai put --no-drain '{"sku": "a", "qty": 1}' \
    '{"sku": "b", "qty": 2}'
expect_status 0 "$WTC" drain --once
expect_status 0 "$WTC" --table tai put --no-drain '{"sku": "a", "qty": 10}' \
    '{"sku": "d", "seq": 100, "qty": 4}' '{"sku": "e", "qty": 5}' \
    '{"sku": "b", "seq": 50, "qty": 20}'
expect_status 0 "$WTC" drain --once
assert_eq "$(sql 'SELECT sku, seq, qty FROM tai ORDER BY sku' | tr '\t\n' ' ')" \
    "a 1 10 b 50 20 d 100 4 e 101 5 " "non-key auto_increment"
expect_status 0 "$WTC" --table tai verify

# DECIMAL and DATETIME keys are spelt in Redis as MySQL hands them back,
# so one row has one key: 1.5 and 1.50 were two keys for one row (one
# record lost to Redis), and verify found a lone 2.5 missing in Redis.
sql "CREATE TABLE dk (price DECIMAL(6,2), at DATETIME(3), note VARCHAR(10),
    _wtc_version BIGINT UNSIGNED NOT NULL DEFAULT 0, PRIMARY KEY (price, at))"
expect_status 0 "$WTC" --table dk put --no-drain \
    '{"price": 1.5, "at": "2024-01-01 10:00:00", "note": "a"}' \
    '{"price": "1.50", "at": "2024-01-01T10:00:00.0", "note": "b"}' \
    '{"price": -0, "at": "2024-01-01 10:00:00.5", "note": "c"}'
assert_eq "$(rcli EVAL "return #redis.call('KEYS', 'dk:*')" 0)" 2 "decimal and datetime keys"
assert_eq "$(rcli HGET 'dk:1.50:2024-01-01 10%3A00%3A00.000' note)" b "the newest under the canonical key"
expect_status 0 "$WTC" drain --once
expect_status 0 "$WTC" --table dk verify
expect_grep "verified 2 keys: 0 differ" "$T/out"
# An id given as 1.5 finds the key of 1.50, in get, verify and serve.
expect_status 0 "$WTC" --table dk verify --ids '1.5:2024-01-01 10%3A00%3A00'
expect_grep "verified 1 key: 0 differ" "$T/out"

# BIT columns: BIT(1) takes true and false, BIT(M) a number of M bits,
# sent to MySQL as bits (as text, 5 went in as the byte '5', 53; true was
# refused and 1 dead-lettered as too long) and read back as numbers.
sql "CREATE TABLE bt (id INT PRIMARY KEY, f BIT(1), b BIT(12) DEFAULT b'101',
    w BIT(64), _wtc_version BIGINT UNSIGNED NOT NULL DEFAULT 0)"
printf '%s\n' '{"id": 1, "f": true, "b": 5, "w": 18446744073709551615}' \
    '{"id": 2, "f": 1, "b": 4095}' '{"id": 3, "f": false}' '{"id": 4, "b": 4096}' >"$T/bt.ndjson"
expect_status 65 "$WTC" --table bt put --no-drain -f "$T/bt.ndjson"
expect_grep "bt.ndjson:4: field 'b' is out of range for bit(12) (0..4095)" "$T/err"
expect_status 0 "$WTC" drain --once
assert_eq "$(sql 'SELECT id, f+0, b+0, w+0 FROM bt' | tr '\t\n' ' ')" \
    "1 1 5 18446744073709551615 2 1 4095 NULL 3 0 5 NULL " "bit values"
rcli DEL bt:1 >/dev/null
expect_status 0 "$WTC" --table bt get --json 1
assert_eq "$(cat "$T/out")" '{"id":1,"f":true,"b":5,"w":18446744073709551615}' "bit read through"
expect_status 0 "$WTC" --table bt verify

# Keys of BIT and TIME, and ids given for them: a BIT id is compared as a
# number (against a BIT, '5' is the byte 53: get and verify --ids missed the
# row), a TIME hour has two digits (1:00:00.5 and 01:00:00.5 were two keys).
sql "CREATE TABLE bk8 (k BIT(8), t TIME(2), v INT,
    _wtc_version BIGINT UNSIGNED NOT NULL DEFAULT 0, PRIMARY KEY (k, t))"
expect_status 0 "$WTC" --table bk8 put --no-drain '{"k": 5, "t": "1:00:00.5", "v": 1}' \
    '{"k": 5, "t": "01:00:00.5", "v": 2}'
assert_eq "$(rcli EVAL "return #redis.call('KEYS', 'bk8:*')" 0)" 1 "one BIT and TIME key"
expect_status 0 "$WTC" drain --once
expect_status 0 "$WTC" --table bk8 verify --ids '5:1%3A00%3A00.5'
expect_grep "verified 1 key: 0 differ" "$T/out"
rcli DEL 'bk8:5:01%3A00%3A00.50' >/dev/null
expect_status 0 "$WTC" --table bk8 get --json '5:1%3A00%3A00.5'
expect_grep '"v":2' "$T/out"
# A TIME hour spelt 001 or -0 is MySQL's 01 and 00: one key each.  An id
# that MySQL finds by another spelling (no seconds, a BIT(1) id that is no
# number) fills the key put writes, not one of its own, or is not found.
expect_status 0 "$WTC" --table bk8 put --no-drain '{"k": 5, "t": "001:00:00.5", "v": 3}' \
    '{"k": 6, "t": "-0:00:00", "v": 4}' '{"k": 6, "t": "00:00:00", "v": 5}'
assert_eq "$(rcli EVAL "return #redis.call('KEYS', 'bk8:*')" 0)" 2 "TIME hours"
expect_status 0 "$WTC" drain --once
expect_status 0 "$WTC" --table bk8 verify
rcli DEL 'bk8:6:00%3A00%3A00.00' >/dev/null
expect_status 0 "$WTC" --table bk8 get --json '6:0%3A00'
expect_grep '"v":5' "$T/out"
assert_eq "$(rcli EVAL "return #redis.call('KEYS', 'bk8:*')" 0)" 2 "filled under put's key"
sql "CREATE TABLE b1 (k BIT(1) PRIMARY KEY, v INT, _wtc_version BIGINT UNSIGNED NOT NULL DEFAULT 0)"
expect_status 0 "$WTC" --table b1 put --no-drain '{"k": true, "v": 1}'
expect_status 0 "$WTC" drain --once
for id in - 1- 1e 2; do
	expect_status 65 "$WTC" --table b1 get -- "$id"
	expect_grep "is not 0, 1, true or false" "$T/err"
done
expect_status 0 "$WTC" --table b1 get 1
expect_status 0 "$WTC" --table b1 get true
expect_status 1 "$WTC" --table b1 get false

# A server whose sessions start with autocommit off: a batch of one
# statement is still committed (it was rolled back at disconnect, after
# the checkpoint had moved: the records were gone from the spool).
sql_root "SET GLOBAL autocommit = 0"
expect_status 0 "$WTC" put --no-drain '{"id": 880001, "name": "Ac1"}' '{"id": 880002, "name": "Ac2"}'
expect_status 0 "$WTC" drain --once
sql_root "SET GLOBAL autocommit = 1"
assert_eq "$(sql 'SELECT COUNT(*) FROM users WHERE id IN (880001, 880002)')" 2 "rows drained under autocommit=0"

# Conditions that pass are retried, never dead-lettered, and not called a
# refusal: transactions read-only by default (1792), an UPDATE grant short
# of a column, which the upsert needs for new rows too (1143).
dl_before=$(cat "$WTC_SPOOL/dead-letter.ndjson" 2>/dev/null | wc -l)
sql_root "SET GLOBAL tx_read_only = 1"
expect_status 0 "$WTC" put --no-drain '{"id": 880003, "name": "Ro"}'
expect_status 75 "$WTC" drain --once --retry-for 1
expect_grep "mysql cannot take batch for table 'users' now: Cannot execute statement in a READ ONLY transaction (1792)" "$T/err"
sql_root "SET GLOBAL tx_read_only = 0"
sql_root "REVOKE ALL PRIVILEGES ON *.* FROM 'wtc'@'localhost';
    GRANT SELECT, INSERT ON wtc.* TO 'wtc'@'localhost';
    GRANT UPDATE (name) ON wtc.users TO 'wtc'@'localhost'"
expect_status 75 "$WTC" drain --once --retry-for 1
expect_grep "(1143)" "$T/err"
sql_root "GRANT ALL ON *.* TO 'wtc'@'localhost'"
expect_status 0 "$WTC" drain --once
assert_eq "$(sql 'SELECT name FROM users WHERE id = 880003')" Ro "row drained once the condition passed"
assert_eq "$(cat "$WTC_SPOOL/dead-letter.ndjson" 2>/dev/null | wc -l)" "$dl_before" "dead letters"

# --idle-exit counts from when the spool was empty with no writer: a
# drainer beside an idle serve stays that long after serve leaves (it left
# at once, the spool having been empty for long enough already).
start_serve idle --listen 127.0.0.1:0 --no-drainer --no-access-log
"$WTC" drain --idle-exit 3 2>"$T/idle-drain.err" &
idpid=$!
EXTRA_PIDS="$EXTRA_PIDS $idpid"
sleep 4
kill -0 "$idpid" 2>/dev/null || fail "the drainer left while serve was open"
kill_wait "$idle_PID"
sleep 1
kill -0 "$idpid" 2>/dev/null || fail "the drainer left at once when serve did"
gone() { ! kill -0 "$idpid" 2>/dev/null; }
wait_until 10 gone || fail "the drainer did not leave 3 s after serve did"

# Usage errors.
# Seconds past 2^32 ms are not cut short (about 50 days was 0.7 s), and
# --retry-for 0 is "try once", as for put (it was "for ever").
bad="mysql://wtc@localhost/wtc?socket=$T/nosuch.sock"
expect_status 0 "$WTC" put --no-drain '{"name": "waits"}'
expect_status 75 timeout 20 "$WTC" --mysql "$bad" drain --once --retry-for 0
timeout 3 "$WTC" --mysql "$bad" drain --once --retry-for 4294968 2>/dev/null && fail "--retry-for 4294968 gave up at once"
[ $? = 124 ] || fail "--retry-for 4294968 gave up within 3 s"
expect_status 0 "$WTC" drain --once
expect_status 64 "$WTC" drain --batch 0
expect_status 64 "$WTC" drain --bogus
expect_status 64 "$WTC" drain extra-arg
exit 0
