#!/bin/sh
# The README's first command: install what is missing, build wtc, start a
# private Redis and MariaDB (loopback and unix sockets, in a temporary
# directory, stopped by pid at the end), create the table, load
# examples/users.ndjson, and show the records in Redis and in MySQL.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

.ci/install-deps
[ -x configure ] || ./autogen.sh
[ -f Makefile ] || ./configure --quiet
make -j2 >/dev/null

TOP_SRCDIR=$top TOP_BUILDDIR=$top WTC=$top/wtc
export TOP_SRCDIR TOP_BUILDDIR WTC
. "$top/tests/lib.sh"
TEST_NAME=quickstart

echo "== starting private redis-server and mariadbd in $T"
start_servers

echo "== wtc init"
"$WTC" init

echo "== wtc put -f examples/users.ndjson"
"$WTC" put -f examples/users.ndjson

echo "== waiting for the background drainer (wtc status exits 0 when the spool is empty)"
i=0
until "$WTC" status -q; do
	i=$((i + 1))
	[ $i -lt 300 ] || { "$WTC" status; fail "the spool did not drain"; }
	sleep 0.1
done
"$WTC" status

echo "== in Redis: HGETALL users:1"
rcli HGETALL users:1 | paste - -
echo "== in Redis: $(rcli --scan --pattern 'users:*' | wc -l) keys users:*"

echo "== in MySQL: SELECT COUNT(*), then the first 5 rows"
sql "SELECT COUNT(*) FROM users"
sql "SELECT id, name, age, occupation FROM users ORDER BY id LIMIT 5"

echo "== wtc verify"
"$WTC" verify 2>&1 || true
echo "== done; stopping the servers"
