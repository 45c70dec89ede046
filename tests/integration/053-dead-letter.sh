# wtc dead-letter: a record that wtc's validation accepts but MySQL rejects
# (a CHECK constraint) is dead-lettered with MySQL's reason while the others
# land; list, show, retry once the cause is fixed, purge.
. "$TOP_SRCDIR/tests/lib.sh"
start_servers
DL="$WTC_SPOOL/dead-letter.ndjson"

expect_status 0 "$WTC" init
# (A UNIQUE key would not do: the upsert's ON DUPLICATE KEY UPDATE turns a
# clash on it into an update of the other row.)
sql "ALTER TABLE users ADD CONSTRAINT age_ok CHECK (age < 150)"

# Nothing yet.
expect_status 0 "$WTC" dead-letter list
assert_eq "$(cat "$T/out")" "" "empty list"

expect_status 0 "$WTC" put --no-drain '{"id": 1, "name": "Ann", "age": 30}' \
    '{"id": 2, "name": "Old Ann", "age": 151}' '{"id": 3, "name": "Bob"}'
expect_status 0 "$WTC" drain --once
assert_eq "$(sql 'SELECT id FROM users ORDER BY id' | tr '\n' ' ')" "1 3 " "rows landed"
assert_eq "$(wc -l <"$DL" | tr -d ' ')" "1" "dead letters"
expect_grep "CONSTRAINT \`age_ok\` failed" "$DL"
expect_grep '"record":{"id":2,"name":"Old Ann","age":151}' "$DL"
python3 -c 'import json,sys; [json.loads(l) for l in sys.stdin]' <"$DL" ||
    fail "the dead letter file is not JSON lines"

expect_status 0 "$WTC" status
expect_grep "dead letters: 1 (see 'wtc dead-letter list')" "$T/out"

expect_status 0 "$WTC" dead-letter list
grep -Eq "^1  [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z  users  .*CONSTRAINT .age_ok. failed.*  \{\"id\":2," "$T/out" ||
    { cat "$T/out" >&2; fail "list line"; }
expect_status 0 "$WTC" dead-letter show 1
expect_grep '  "table": "users",' "$T/out"
expect_grep '    "id": 2,' "$T/out"
expect_grep "age_ok" "$T/out"
python3 -c 'import json,sys; json.load(sys.stdin)' <"$T/out" || fail "show is not JSON"

# Retried while the cause is still there: re-queued, rejected again.
expect_status 0 "$WTC" dead-letter retry --no-drain
expect_grep "1 of 1 dead letter retried" "$T/err"
[ ! -s "$DL" ] || fail "retried dead letter still in the file"
expect_status 0 "$WTC" drain --once
assert_eq "$(wc -l <"$DL" | tr -d ' ')" "1" "rejected again"

# Fixed: retry lands it, with the version it was written with, and
# empties the file.  A key written again since keeps its newer record: the
# retry gave the old record a new version, and it replaced the newer write
# in Redis and in MySQL.
v=$(rcli HGET users:2 _wtc_version)
expect_status 0 "$WTC" put --no-drain '{"id": 4, "name": "Typo", "age": 300}'
expect_status 0 "$WTC" drain --once
assert_eq "$(wc -l <"$DL" | tr -d ' ')" "2" "dead letters before the fix"
expect_status 0 "$WTC" put --no-drain '{"id": 4, "name": "Fixed", "age": 40}'
expect_status 0 "$WTC" drain --once
sql "ALTER TABLE users DROP CONSTRAINT age_ok"
expect_status 0 "$WTC" dead-letter retry --no-drain
[ ! -s "$DL" ] || fail "dead letter file not empty after retry"
assert_eq "$(rcli HGET users:2 _wtc_version)" "$v" "retried record's version"
expect_status 0 "$WTC" drain --once
assert_eq "$(sql 'SELECT name, age FROM users WHERE id = 2')" "$(printf 'Old Ann\t151')" "row after retry"
assert_eq "$(sql 'SELECT name, age FROM users WHERE id = 4')" "$(printf 'Fixed\t40')" "newer row after retry"
assert_eq "$(rcli HGET users:4 name)" "Fixed" "newer record in redis after retry"
expect_status 0 "$WTC" status
expect_grep "dead letters: 0" "$T/out"

# Bad input: a record that no longer passes validation stays, and so does
# an undecodable frame; the good one goes; exit 65.
cat >"$DL" <<'EOR'
{"time":"2026-01-01T00:00:00Z","table":"users","version":5,"error":"x","record":{"id":8,"name":"Old","age":"old"}}
{"time":"2026-01-01T00:00:01Z","error":"cannot decode record","raw":"00ff"}
{"time":"2026-01-01T00:00:02Z","table":"users","version":6,"error":"y","record":{"id":9,"name":"Nine"}}
{"time":"2026-01-01T00:00:03Z","version":7,"error":"z","record":{"id":10,"name":"No table"}}
EOR
expect_status 0 "$WTC" dead-letter list
expect_grep "(raw frame)" "$T/out"
expect_status 65 "$WTC" dead-letter retry --no-drain
expect_grep "dead letter 1: field 'age' must be an integer" "$T/err"
expect_grep "dead letter 2: an undecodable spool frame cannot be retried (kept)" "$T/err"
# An entry without a table (edited by hand) is kept: retry crashed on it.
expect_grep "dead letter 4: no table in it (kept)" "$T/err"
assert_eq "$(wc -l <"$DL" | tr -d ' ')" "3" "kept dead letters"
grep -q '"No table"' "$DL" || fail "the entry without a table was not kept"
sed -i '/"No table"/d' "$DL"
expect_no_grep '"id":9' "$DL"
assert_eq "$(rcli HGET users:9 name)" "Nine" "retried record in redis"

# Redis down: nothing can be retried, everything stays.
stop_redis
expect_status 69 "$WTC" dead-letter retry --no-drain 1
expect_grep "(its 1 dead letter kept)" "$T/err"
assert_eq "$(wc -l <"$DL" | tr -d ' ')" "2" "kept with redis down"
start_redis

# Usage errors.
expect_status 64 "$WTC" dead-letter
expect_grep "give list, show, retry or purge" "$T/err"
expect_status 64 "$WTC" dead-letter frob
expect_grep "unknown action 'frob'" "$T/err"
expect_status 64 "$WTC" dead-letter show
expect_status 64 "$WTC" dead-letter show 3
expect_grep "no dead letter 3 (there are 2)" "$T/err"
expect_status 64 "$WTC" dead-letter show x1
expect_grep "'x1' is not a dead letter number" "$T/err"
expect_status 64 "$WTC" dead-letter retry 0
expect_status 64 "$WTC" dead-letter list --bogus
expect_grep "Try 'wtc help dead-letter'." "$T/err"
expect_status 64 "$WTC" dead-letter retry --wait soon

# No rewrite while a drainer runs (it appends to the file).
"$WTC" drain >"$T/drain.out" 2>&1 &
DPID=$!
EXTRA_PIDS="$EXTRA_PIDS $DPID"
wait_until 10 test -f "$WTC_SPOOL/drain.pid" || fail "no drain.pid"
expect_status 75 "$WTC" dead-letter purge --yes --wait 0
expect_grep "a drainer is running" "$T/err"
kill_wait "$DPID"

# Purge: refused without --yes when nobody can be asked, then done.
expect_status 64 "$WTC" dead-letter purge </dev/null
expect_grep "give --yes" "$T/err"
assert_eq "$(wc -l <"$DL" | tr -d ' ')" "2" "nothing purged"
expect_status 0 "$WTC" dead-letter purge --yes 2
assert_eq "$(wc -l <"$DL" | tr -d ' ')" "1" "one purged"
expect_status 0 "$WTC" dead-letter purge --yes
[ -f "$DL" ] && [ ! -s "$DL" ] || fail "dead letter file not emptied"
expect_status 0 "$WTC" dead-letter list
assert_eq "$(cat "$T/out")" "" "list after purge"

# A second unique key: a record that collides on it with another row must
# not update that row (ON DUPLICATE KEY UPDATE fires on any unique key);
# it is dead-lettered with the reason, and the other row keeps its data.
sql "DELETE FROM users; ALTER TABLE users ADD UNIQUE KEY uname (name)"
expect_status 0 "$WTC" put --no-drain '{"id": 501, "name": "Uniq", "age": 30}'
expect_status 0 "$WTC" drain --once
expect_status 0 "$WTC" put --no-drain '{"id": 502, "name": "Uniq", "age": 31}' \
    '{"id": 503, "name": "Other", "age": 32}'
expect_status 0 "$WTC" drain --once
assert_eq "$(sql 'SELECT id, age FROM users WHERE name = "Uniq"')" \
    "$(printf '501\t30')" "row 501 untouched"
assert_eq "$(sql 'SELECT COUNT(*) FROM users WHERE id = 503')" "1" "503 landed"
expect_grep "collides with another row on a unique key" "$DL"
expect_grep '"id":502' "$DL"

# A string key that the column's collation holds equal to another row's
# ('abc' and 'ABC', 'x' and 'x ') is a different key in Redis: it is
# dead-lettered, not made to overwrite that row (it was, silently).  A
# record that updates its own row still lands.
sql "CREATE TABLE codes (code VARCHAR(32) PRIMARY KEY, v INT,
    _wtc_version BIGINT UNSIGNED NOT NULL DEFAULT 0)"
expect_status 0 "$WTC" --table codes put --no-drain '{"code": "abc", "v": 1}' \
    '{"code": "ABC", "v": 2}' '{"code": "x", "v": 3}' '{"code": "x ", "v": 4}' \
    '{"code": "abc", "v": 5}'
expect_status 0 "$WTC" drain --once
assert_eq "$(sql 'SELECT CONCAT(code, "|"), v FROM codes ORDER BY v')" \
    "$(printf 'x|\t3\nabc|\t5')" "rows under a case-insensitive key"
expect_grep '"code":"ABC","v":2' "$DL"
expect_grep '"code":"x ","v":4' "$DL"
expect_grep "that the column's collation holds equal" "$DL"
# A CHAR drops trailing spaces in MySQL, and in Redis too: one key, one row.
sql "CREATE TABLE kc (k CHAR(5) PRIMARY KEY, v INT,
    _wtc_version BIGINT UNSIGNED NOT NULL DEFAULT 0)"
expect_status 0 "$WTC" --table kc put --no-drain '{"k": "x", "v": 1}' '{"k": "x ", "v": 2}'
expect_status 0 "$WTC" drain --once
assert_eq "$(rcli EVAL "return #redis.call('KEYS', 'kc:*')" 0)" 1 "one CHAR key in redis"
assert_eq "$(sql 'SELECT CONCAT(k, "|"), v FROM kc')" "$(printf 'x|\t2')" "one CHAR row"

# Keys of MariaDB's UUID and INET6 types land (the guard's IF mixed their
# type with an integer: every record was dead-lettered, error 4078).
sql "CREATE TABLE uu (u UUID PRIMARY KEY, ip INET6, _wtc_version BIGINT UNSIGNED NOT NULL DEFAULT 0);
    CREATE TABLE ip6 (ip INET6 PRIMARY KEY, n INT, _wtc_version BIGINT UNSIGNED NOT NULL DEFAULT 0)"
expect_status 0 "$WTC" --table uu put --no-drain \
    '{"u": "123e4567-e89b-12d3-a456-426614174000", "ip": "::1"}'
expect_status 0 "$WTC" --table ip6 put --no-drain '{"ip": "2001:db8::1", "n": 1}' \
    '{"ip": "2001:db8::1", "n": 2}'
expect_status 0 "$WTC" drain --once
assert_eq "$(sql 'SELECT u, ip FROM uu')" \
    "$(printf '123e4567-e89b-12d3-a456-426614174000\t::1')" "uuid key"
assert_eq "$(sql 'SELECT ip, n FROM ip6')" "$(printf '2001:db8::1\t2')" "inet6 key"
expect_no_grep 'Illegal parameter data types' "$DL"
# A UUID in upper case is the row MariaDB gives back in lower case: one
# key, and verify agrees.
expect_status 0 "$WTC" --table uu put --no-drain \
    '{"u": "123E4567-E89B-12D3-A456-426614174000", "ip": "::2"}'
assert_eq "$(rcli EVAL "return #redis.call('KEYS', 'uu:*')" 0)" 1 "one uuid key"
expect_status 0 "$WTC" drain --once
assert_eq "$(sql 'SELECT u, ip FROM uu')" \
    "$(printf '123e4567-e89b-12d3-a456-426614174000\t::2')" "uuid updated"
expect_status 0 "$WTC" --table uu verify
# An id in upper case finds that key too; read through, it fills that key,
# not one of its own that later writes would leave stale.
rcli DEL uu:123e4567-e89b-12d3-a456-426614174000 >/dev/null
expect_status 0 "$WTC" --table uu get 123E4567-E89B-12D3-A456-426614174000
assert_eq "$(rcli EVAL "return #redis.call('KEYS', 'uu:*')" 0)" 1 "no upper-case key"
# An INET6 key or value is compared as MariaDB writes it back: one key
# for 2001:DB8::1 and 2001:db8:0::1, and '0:0::3' is no difference.
expect_status 0 "$WTC" --table ip6 put --no-drain '{"ip": "2001:DB8:0::1", "n": 3}'
expect_status 0 "$WTC" --table uu put --no-drain \
    '{"u": "123e4567-e89b-12d3-a456-426614174000", "ip": "0:0::3"}'
expect_status 65 "$WTC" --table ip6 put --no-drain '{"ip": "1.2.3.4", "n": 4}'
expect_grep "field 'ip' must be an IPv6 address" "$T/err"
assert_eq "$(rcli EVAL "return #redis.call('KEYS', 'ip6:*')" 0)" 1 "one inet6 key"
expect_status 0 "$WTC" drain --once
assert_eq "$(sql 'SELECT ip, n FROM ip6')" "$(printf '2001:db8::1\t3')" "inet6 key updated"
expect_status 0 "$WTC" --table ip6 verify
expect_status 0 "$WTC" --table uu verify

# A key's newest version rejected leaves the key to the newest older one
# in the same batch, as a batch of its own would have (it was lost with
# the newer one).
sql 'ALTER TABLE users ADD CONSTRAINT age_ok CHECK (age < 150)'
expect_status 0 "$WTC" put --no-drain '{"id": 601, "name": "V1", "age": 1}'
expect_status 0 "$WTC" put --no-drain '{"id": 601, "name": "V2", "age": 200}'
expect_status 0 "$WTC" put --no-drain '{"id": 602, "name": "W1", "age": 1}'
expect_status 0 "$WTC" put --no-drain '{"id": 602, "name": "W2", "age": 300}' \
    '{"id": 602, "name": "W3", "age": 400}'
expect_status 0 "$WTC" drain --once
assert_eq "$(sql 'SELECT id, name FROM users WHERE id IN (601, 602) ORDER BY id')" \
    "$(printf '601\tV1\n602\tW1')" "older versions of rejected records"
for n in V2 W2 W3; do expect_grep "\"name\":\"$n\"" "$DL"; done
sql 'ALTER TABLE users DROP CONSTRAINT age_ok'

# A record larger than max_allowed_packet is dead-lettered, and the rest
# of its batch lands (sent in one bulk execution, the server dropped the
# connection, and the drain retried the whole batch for ever).
sql 'CREATE TABLE bigrec (id BIGINT UNSIGNED PRIMARY KEY, body LONGTEXT,
    _wtc_version BIGINT UNSIGNED NOT NULL DEFAULT 0)'
awk 'BEGIN { for (i = 1; i <= 200; i++) { s = sprintf("%*s", i == 100 ? 100000 : 1000, ""); gsub(/ /, "b", s); printf "{\"id\": %d, \"body\": \"%s\"}\n", i, s } }' >"$T/big.ndjson"
expect_status 0 "$WTC" --table bigrec put --no-drain -f "$T/big.ndjson"
sql_root 'SET GLOBAL max_allowed_packet = 65536'
expect_status 0 "$WTC" drain --once --retry-for 10
sql_root 'SET GLOBAL max_allowed_packet = 16777216'
assert_eq "$(sql 'SELECT COUNT(*) FROM bigrec')" 199 "the batch of an oversized record"
expect_grep 'is larger than max_allowed_packet (65536)' "$DL"

# Records well under max_allowed_packet whose sum is over it: the bulk
# packet stops before the row that would take it over (it took one row
# more, the server dropped the connection, and the batch was retried for
# ever, holding up the users record behind it).
awk 'BEGIN { s = sprintf("%*s", 700000, ""); gsub(/ /, "c", s); for (i = 1; i <= 6; i++) printf "{\"id\": %d, \"body\": \"%s\"}\n", 1000 + i, s }' >"$T/big6.ndjson"
expect_status 0 "$WTC" --table bigrec put --no-drain -f "$T/big6.ndjson"
expect_status 0 "$WTC" put --no-drain '{"id": 990, "name": "behind", "age": 1}'
sql_root 'SET GLOBAL max_allowed_packet = 4194304'
expect_status 0 "$WTC" drain --once --retry-for 10
sql_root 'SET GLOBAL max_allowed_packet = 16777216'
assert_eq "$(sql 'SELECT COUNT(*), MIN(LENGTH(body)) FROM bigrec WHERE id > 1000')" \
    "$(printf '6\t700000')" "700 kB records under a 4 MiB max_allowed_packet"
assert_eq "$(sql 'SELECT name FROM users WHERE id = 990')" behind "the record behind them"

# Foreign keys: a record whose referenced row lands later in the same batch
# is tried again after the rest, not dead-lettered.  Across tables: the
# drainer met 'child' first (a child of a parent already in MySQL), so it
# landed the child of parent 2 before parent 2.  Within one: the dedupe put
# node 2's newest version (parent 3) ahead of node 3, and the older one
# (parent 1) landed instead.  A child whose parent never comes is still a
# dead letter, with MySQL's reason.
sql "CREATE TABLE parent (id INT PRIMARY KEY, _wtc_version BIGINT UNSIGNED NOT NULL DEFAULT 0);
    CREATE TABLE child (id INT PRIMARY KEY, pid INT NOT NULL, FOREIGN KEY (pid) REFERENCES parent (id),
        _wtc_version BIGINT UNSIGNED NOT NULL DEFAULT 0);
    CREATE TABLE node (id INT PRIMARY KEY, up INT NULL, FOREIGN KEY (up) REFERENCES node (id),
        _wtc_version BIGINT UNSIGNED NOT NULL DEFAULT 0);
    INSERT INTO parent (id) VALUES (1)"
dl0=$(wc -l <"$DL")
expect_status 0 "$WTC" --table child put --no-drain '{"id": 10, "pid": 1}'
expect_status 0 "$WTC" --table parent put --no-drain '{"id": 2}'
expect_status 0 "$WTC" --table child put --no-drain '{"id": 20, "pid": 2}'
expect_status 0 "$WTC" --table node put --no-drain '{"id": 1}' '{"id": 2, "up": 1}' '{"id": 3}' '{"id": 2, "up": 3}'
expect_status 0 "$WTC" --table child put --no-drain '{"id": 30, "pid": 3}'
expect_status 0 "$WTC" drain --once
assert_eq "$(sql 'SELECT GROUP_CONCAT(id ORDER BY id) FROM child')" "10,20" "children landed"
assert_eq "$(sql 'SELECT up FROM node WHERE id = 2')" 3 "node 2's newest parent"
assert_eq "$(( $(wc -l <"$DL") - dl0 ))" 1 "dead letters for foreign keys"
expect_grep "a foreign key constraint fails" "$DL"
expect_status 0 "$WTC" --table node verify
# A key whose newest version names a parent that never comes: its older,
# valid version lands instead, as for any other refusal (the older one was
# dropped and the row never reached MySQL).
dl0=$(wc -l <"$DL")
expect_status 0 "$WTC" --table child put --no-drain '{"id": 40, "pid": 1}'
expect_status 0 "$WTC" --table child put --no-drain '{"id": 40, "pid": 99}'
expect_status 0 "$WTC" drain --once
assert_eq "$(sql 'SELECT pid FROM child WHERE id = 40')" 1 "child 40's older version"
assert_eq "$(( $(wc -l <"$DL") - dl0 ))" 1 "dead letters for child 40"
exit 0
