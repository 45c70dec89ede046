# wtc verify: Redis and MySQL agree after a drain; a row changed, deleted
# or a key dropped behind wtc's back is named, with the field.
. "$TOP_SRCDIR/tests/lib.sh"
start_servers

expect_status 0 "$WTC" init
head -n 200 "$TOP_SRCDIR/examples/users.ndjson" >"$T/users.ndjson"
expect_status 0 "$WTC" put --no-drain -f "$T/users.ndjson"
expect_status 0 "$WTC" put --no-drain '{"id": 3, "name": "Cy Doe", "age": 30}' \
    '{"id": 5, "name": "Eve Moe", "age": 25, "occupation": "Pilot"}' \
    '{"id": 7, "name": "Gus Poe"}'

# Not drained yet: MySQL lags, verify says so and finds the differences.
expect_status 1 "$WTC" verify
expect_grep "still waiting to be drained; run 'wtc drain --once' first" "$T/err"
expect_grep "missing in mysql: users:3" "$T/out"

expect_status 0 "$WTC" drain --once
expect_status 0 "$WTC" verify
expect_no_grep "still waiting" "$T/err"
n=$(sql 'SELECT COUNT(*) FROM users')
expect_grep "verified $n keys: 0 differ" "$T/out"

# A row changed in MySQL behind wtc's back.
sql "UPDATE users SET age=99 WHERE id=3"
expect_status 1 "$WTC" verify
expect_grep "differs: users:3 (age: redis '30', mysql '99')" "$T/out"
expect_grep "verified $n keys: 1 differ" "$T/out"
# --ids checks just those keys; -q prints nothing.
expect_status 1 "$WTC" verify --ids 3,5
expect_grep "differs: users:3" "$T/out"
expect_grep "verified 2 keys: 1 differ" "$T/out"
expect_status 0 "$WTC" verify --ids 5
expect_status 1 "$WTC" verify -q
assert_eq "$(cat "$T/out")" "" "quiet output"
# A sample as big as the table must catch it too.
expect_status 1 "$WTC" verify --sample 100000
expect_grep "differs: users:3 (age: redis '30', mysql '99')" "$T/out"
# --sample N checks N keys (a key both sides hold was drawn twice, and a
# sample of the whole table checked about two thirds of it).
expect_status 1 "$WTC" verify --sample "$n"
expect_grep "verified $n keys: 1 differ" "$T/out"
# A key of the table that is not a hash is a difference, and the others
# are still checked (verify stopped there with exit 69).
rcli SET users:999999 stray >/dev/null
expect_status 1 "$WTC" verify
expect_grep "not a hash in redis: users:999999" "$T/out"
expect_grep "verified $((n + 1)) keys: 2 differ" "$T/out"
rcli DEL users:999999 >/dev/null

# Set it back through wtc: equal again (a put, drained).
expect_status 0 "$WTC" put --no-drain '{"id": 3, "name": "Cy Doe", "age": 30}'
expect_status 0 "$WTC" drain --once
expect_status 0 "$WTC" verify

# A key dropped from Redis; a row deleted from MySQL; NULL set behind wtc.
rcli DEL users:5 >/dev/null
sql "DELETE FROM users WHERE id = 7"
sql "UPDATE users SET occupation = NULL WHERE id = 1 AND occupation IS NOT NULL"
sql "UPDATE users SET occupation = 'Spy' WHERE id = 3"
expect_status 1 "$WTC" verify
expect_grep "missing in redis: users:5" "$T/out"
expect_grep "missing in mysql: users:7" "$T/out"
expect_grep "differs: users:3 (occupation: redis (none), mysql 'Spy')" "$T/out"
expect_grep "verified $n keys: 4 differ" "$T/out"

# With a key prefix.
expect_status 0 "$WTC" --prefix p: put --no-drain '{"id": 1, "name": "Pre"}'
expect_status 0 "$WTC" --prefix p: drain --once
expect_status 1 "$WTC" --prefix p: verify --ids 1,2
expect_grep "missing in redis: p:users:2" "$T/out"

# Bad input: an id that cannot be a key of the table.
expect_status 65 "$WTC" verify --ids 5x
expect_grep "'5x' is not an integer as wtc writes it for column 'id'" "$T/err"

# Usage errors.
expect_status 64 "$WTC" verify --sample 0
expect_grep "invalid value '0' for --sample" "$T/err"
expect_status 64 "$WTC" verify --sample ten
expect_status 64 "$WTC" verify --ids ,
expect_status 64 "$WTC" verify --ids 1 --sample 3
expect_grep "--ids and --sample do not go together" "$T/err"
expect_status 64 "$WTC" verify extra
expect_status 64 "$WTC" verify --bogus
expect_grep "Try 'wtc help verify'." "$T/err"

# Columns MySQL fills in from their defaults, nullable ones too, are not
# differences (a nullable DEFAULT 'new' and a TIMESTAMP DEFAULT
# CURRENT_TIMESTAMP were reported on a table exactly as written); a value
# that really differs still is.
sql "CREATE TABLE acct (id INT PRIMARY KEY, email VARCHAR(50) NOT NULL,
    status VARCHAR(10) DEFAULT 'new', created TIMESTAMP NULL DEFAULT CURRENT_TIMESTAMP,
    _wtc_version BIGINT UNSIGNED NOT NULL DEFAULT 0)"
expect_status 0 "$WTC" --table acct put --no-drain '{"id": 1, "email": "a@x.org"}'
expect_status 0 "$WTC" drain --once
expect_status 0 "$WTC" --table acct verify
expect_grep "verified 1 key: 0 differ" "$T/out"
rcli HSET acct:1 status old >/dev/null
expect_status 1 "$WTC" --table acct verify
expect_grep "status: redis 'old', mysql 'new'" "$T/out"

# A FLOAT is stored as the record gave it, and MySQL shows 6 digits of it:
# not a difference (1.000004, 1234567 and 0.1234567 were).
sql "CREATE TABLE fl (id INT PRIMARY KEY, f FLOAT)"
expect_status 0 "$WTC" --table fl init
expect_status 0 "$WTC" --table fl put --no-drain '{"id": 1, "f": 1.000004}' \
    '{"id": 2, "f": 1234567}' '{"id": 3, "f": 0.1234567}'
expect_status 0 "$WTC" --table fl drain --once
expect_status 0 "$WTC" --table fl verify

# A server down: 69.
stop_redis
expect_status 69 "$WTC" verify
expect_grep "cannot connect to redis" "$T/err"
start_redis
stop_mariadb
expect_status 69 "$WTC" verify
expect_grep "cannot connect to mysql" "$T/err"
exit 0
