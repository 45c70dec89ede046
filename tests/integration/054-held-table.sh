# A table that cannot take records does not stop the others: the drainer
# holds its records, versions and all, in SPOOL/held-TABLE, lands the rest,
# and lands the held ones by itself once the table is back.  A trigger that
# fails with "unknown column" is MySQL rejecting the data: dead letters, not
# a retry for ever.
. "$TOP_SRCDIR/tests/lib.sh"
start_servers
DL="$WTC_SPOOL/dead-letter.ndjson"
HELD="$WTC_SPOOL/held-pets"

expect_status 0 "$WTC" init
expect_status 0 "$WTC" --table pets init

# One spool, two tables; pets is dropped before the drain.
expect_status 0 "$WTC" put --no-drain '{"id": 1, "name": "Ann"}' '{"id": 2, "name": "Bob"}'
expect_status 0 "$WTC" put --no-drain --table pets '{"id": 1, "name": "Rex"}' \
    '{"id": 2, "name": "Tom"}'
expect_status 0 "$WTC" put --no-drain --table pets '{"id": 1, "name": "Rex II"}'
expect_status 0 "$WTC" put --no-drain '{"id": 3, "name": "Cy"}'
sql "DROP TABLE pets"

# drain --once lands users and gives up on pets only: exit 75, held, named.
expect_status 75 "$WTC" drain --once
expect_grep "table 'wtc.pets' does not exist; run 'wtc init'" "$T/err"
expect_grep "3 held, 3 left" "$T/err"
assert_eq "$(sql 'SELECT id FROM users ORDER BY id' | tr '\n' ' ')" "1 2 3 " \
    "users landed while pets is gone"
[ -d "$HELD" ] || fail "no held spool for pets"
[ ! -s "$DL" ] || fail "held records were dead-lettered: $(cat "$DL")"

expect_status 1 "$WTC" status
expect_grep "held:         3 of them for a table that cannot take them yet" "$T/out"
expect_status 1 "$WTC" status --json
python3 -c 'import json,sys; s=json.load(sys.stdin); assert s["held"] == 3 and s["records"] == 3, s' \
    <"$T/out" || fail "status --json: $(cat "$T/out")"

# More users while pets is still gone: they land; the held ones stay.
expect_status 0 "$WTC" put --no-drain '{"id": 4, "name": "Di"}'
expect_status 75 "$WTC" drain --once
assert_eq "$(sql 'SELECT COUNT(*) FROM users')" "4" "users go on"

# pets is back: the held records land with the versions Redis holds.
expect_status 0 "$WTC" --table pets init
expect_status 0 "$WTC" drain --once
assert_eq "$(sql 'SELECT id, name FROM pets ORDER BY id' | tr '\t\n' ': ')" \
    "1:Rex II 2:Tom " "held records landed"
assert_eq "$(sql 'SELECT _wtc_version FROM pets WHERE id = 1')" \
    "$(rcli HGET pets:1 _wtc_version)" "held record kept its version"
[ ! -e "$HELD" ] || fail "held spool left behind: $(ls -la "$HELD")"
expect_status 0 "$WTC" status
expect_status 0 "$WTC" verify
expect_status 0 "$WTC" --table pets verify

# A running drainer: pets goes while it runs; users keep landing; pets'
# records land by themselves once the table is back, held dir removed.
"$WTC" drain >"$T/drain.log" 2>&1 &
dpid=$!
EXTRA_PIDS="$EXTRA_PIDS $dpid"
kill -STOP $dpid
expect_status 0 "$WTC" put --no-drain --table pets '{"id": 3, "name": "Max"}'
expect_status 0 "$WTC" put --no-drain '{"id": 5, "name": "Ed"}'
sql "DROP TABLE pets"
kill -CONT $dpid
users_landed() { [ "$(sql 'SELECT COUNT(*) FROM users')" = 5 ]; }
wait_until 30 users_landed || { cat "$T/drain.log" >&2; fail "users blocked by the missing pets"; }
held_there() { [ -d "$HELD" ]; }
wait_until 10 held_there || fail "pets' record was not held"
expect_grep "held-pets' until it can take them; the other tables go on" "$T/drain.log"
expect_status 0 "$WTC" --table pets init
pets_landed() { [ "$(sql 'SELECT COUNT(*) FROM pets')" = 1 ] && [ ! -e "$HELD" ]; }
wait_until 60 pets_landed || { cat "$T/drain.log" >&2; fail "held record not landed once pets was back"; }
expect_grep "table 'pets' can take records again: landing the ones held" "$T/drain.log"
kill -TERM $dpid
wait $dpid || fail "drainer exit status"

# A drainer that stops with records held finds them when it starts again.
expect_status 0 "$WTC" put --no-drain --table pets '{"id": 4, "name": "Gus"}'
sql "DROP TABLE pets"
expect_status 75 "$WTC" drain --once
[ -d "$HELD" ] || fail "no held spool"
expect_status 0 "$WTC" --table pets init
expect_status 0 "$WTC" drain --once
assert_eq "$(sql 'SELECT name FROM pets WHERE id = 4')" "Gus" "held across drainer runs"
[ ! -e "$HELD" ] || fail "held spool left behind"

# A trigger naming a column that is not there fails every insert with
# "unknown column": dead letters with MySQL's reason, the other table lands.
sql "CREATE TABLE audit (a INT)"
sql "CREATE TRIGGER pets_bi BEFORE INSERT ON pets FOR EACH ROW INSERT INTO audit (nope) VALUES (1)"
expect_status 0 "$WTC" put --no-drain --table pets '{"id": 5, "name": "Flo"}'
expect_status 0 "$WTC" put --no-drain '{"id": 6, "name": "Fay"}'
expect_status 0 timeout 60 "$WTC" drain --once
assert_eq "$(wc -l <"$DL" | tr -d ' ')" "1" "dead letters"
expect_grep "Unknown column 'nope'" "$DL"
expect_grep '"id":5' "$DL"
assert_eq "$(sql 'SELECT name FROM users WHERE id = 6')" "Fay" "users landed"

# Held records meet the same trigger once pets is back: dead-lettered too,
# not retried for ever.  A leftover tmp-seg-* (a writer killed while it
# created a segment) does not keep the held directory.
sql "DROP TRIGGER pets_bi"
expect_status 0 "$WTC" put --no-drain --table pets '{"id": 7, "name": "Ike"}'
sql "DROP TABLE pets"
expect_status 75 "$WTC" drain --once
: >"$HELD/tmp-seg-0000000000000000-1-00000000.wtc"
expect_status 0 "$WTC" --table pets init
sql "CREATE TRIGGER pets_bi BEFORE INSERT ON pets FOR EACH ROW INSERT INTO audit (nope) VALUES (1)"
expect_status 0 timeout 60 "$WTC" drain --once
assert_eq "$(wc -l <"$DL" | tr -d ' ')" "2" "dead letters"
expect_grep '"id":7' "$DL"
[ ! -e "$HELD" ] || fail "held spool left behind: $(ls -a "$HELD")"

# A trigger writing to a table that does not exist: MySQL rejects the data
# (its own message kept); pets itself is there, so nothing is held.
sql "DROP TRIGGER pets_bi"
sql "CREATE TRIGGER pets_bi BEFORE INSERT ON pets FOR EACH ROW INSERT INTO nosuch (a) VALUES (1)"
expect_status 0 "$WTC" put --no-drain --table pets '{"id": 8, "name": "Jo"}'
expect_status 0 timeout 60 "$WTC" drain --once
assert_eq "$(wc -l <"$DL" | tr -d ' ')" "3" "dead letters"
expect_grep "Table 'wtc.nosuch' doesn't exist" "$DL"
[ ! -e "$HELD" ] || fail "pets held although it exists"
sql "DROP TRIGGER pets_bi"

# A table made again without wtc init (no _wtc_version) cannot take the
# records: they are held, and the other tables go on.
expect_status 0 "$WTC" put --no-drain --table pets '{"id": 9, "name": "Kit"}'
expect_status 0 "$WTC" put --no-drain '{"id": 9, "name": "Kay"}'
sql "DROP TABLE pets"
sql "CREATE TABLE pets (id BIGINT PRIMARY KEY, name VARCHAR(255))"
expect_status 75 "$WTC" drain --once
expect_grep "table 'pets' has no _wtc_version column; run 'wtc init'" "$T/err"
assert_eq "$(sql 'SELECT name FROM users WHERE id = 9')" "Kay" "users went on"
expect_status 0 "$WTC" --table pets init
expect_status 0 "$WTC" drain --once
assert_eq "$(sql 'SELECT name FROM pets WHERE id = 9')" "Kit" "held record after init"

# A transient failure of another table's part: the batch is read again,
# and what it holds is written once, not once per attempt.
sql "CREATE TABLE flaky (a INT)"
sql "INSERT INTO flaky VALUES (1)"
MYSQL_PWD="$DB_PASSWORD" mariadb --no-defaults -S "$MARIADB_SOCK" -uwtc -N -B wtc \
    --delimiter='//' -e "CREATE TRIGGER users_flaky BEFORE INSERT ON users FOR EACH ROW
    IF (SELECT COUNT(*) FROM flaky) > 0 THEN
        SIGNAL SQLSTATE '40001' SET MYSQL_ERRNO = 1213, MESSAGE_TEXT = 'test deadlock';
    END IF //"
expect_status 0 "$WTC" put --no-drain --table pets '{"id": 10, "name": "Lu"}' '{"id": 11, "name": "Mo"}'
expect_status 0 "$WTC" put --no-drain '{"id": 10, "name": "Lee"}'
sql "DROP TABLE pets"
expect_status 75 "$WTC" drain --once --retry-for 2
expect_grep "test deadlock" "$T/err"
sql "DELETE FROM flaky"
expect_status 75 "$WTC" drain --once
expect_grep "2 held, 2 left" "$T/err"
expect_status 0 "$WTC" --table pets init
expect_status 0 "$WTC" drain --once
expect_grep "landed 2 records" "$T/err"
sql "DROP TRIGGER users_flaky"

# A column added while a drainer runs: put knows it at once; the drainer
# reads the table again instead of dead-lettering the record.
"$WTC" drain >"$T/drain2.log" 2>&1 &
dpid=$!
EXTRA_PIDS="$EXTRA_PIDS $dpid"
expect_status 0 "$WTC" put --no-drain '{"id": 12, "name": "Ned"}'
ned_landed() { [ "$(sql 'SELECT COUNT(*) FROM users WHERE id = 12')" = 1 ]; }
wait_until 30 ned_landed || fail "the running drainer landed nothing"
sql "ALTER TABLE users ADD COLUMN nick VARCHAR(20)"
expect_status 0 "$WTC" put --no-drain '{"id": 13, "name": "Ola", "nick": "O"}'
nick_landed() { [ "$(sql 'SELECT nick FROM users WHERE id = 13')" = O ]; }
wait_until 30 nick_landed || { cat "$T/drain2.log" >&2; fail "record with the new column not landed"; }
# A second column right after the first: the layout was read less than a
# second ago, and the drainer waits the rest of it out rather than call
# the record bad (it was a dead letter, "column 'mood' is not in table").
sql "ALTER TABLE users ADD COLUMN mood VARCHAR(20)"
expect_status 0 "$WTC" put --no-drain '{"id": 14, "name": "Pia", "mood": "up"}'
mood_landed() { [ "$(sql 'SELECT mood FROM users WHERE id = 14')" = up ]; }
wait_until 30 mood_landed || { cat "$T/drain2.log" >&2; fail "record with the second new column not landed"; }
kill -TERM $dpid
wait $dpid || fail "drainer exit status"
assert_eq "$(wc -l <"$DL" | tr -d ' ')" "3" "dead letters"
