# The examples in examples/ run as documented against private servers.
. "$TOP_SRCDIR/tests/lib.sh"
start_servers
export WTC

expect_status 0 sh "$TOP_SRCDIR/examples/bulk-load.sh" "$TOP_SRCDIR/examples/users.ndjson"
expect_grep "verified 3000 keys: 0 differ" "$T/out"
assert_eq "$(sql 'SELECT COUNT(*) FROM users')" "3000" "bulk-load rows"

port=$(( 30000 + $$ % 20000 ))
expect_status 0 sh "$TOP_SRCDIR/examples/serve-curl.sh" "$port"
expect_grep '"message": "Data write successful!"' "$T/out"
expect_grep '"accepted": 1' "$T/out"
expect_grep "must be an integer" "$T/out"
expect_grep '"status"' "$T/out"

expect_status 0 sh "$TOP_SRCDIR/examples/crash-recover.sh" 20000
expect_grep "20000 records acknowledged" "$T/out"
expect_grep "0 differ" "$T/out"
assert_eq "$(sql 'SELECT COUNT(*), COUNT(DISTINCT id) FROM users WHERE id > 500000')" \
    "$(printf '20000\t20000')" "crash-recover rows"
exit 0
