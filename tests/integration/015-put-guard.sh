# The version guard of put in Redis, on both of cache_put's paths: a
# transaction of plain HSETs for a chunk of new keys (16 or more records with
# different keys), the put script otherwise.  A newer record replaces the
# whole hash, an older one is left out, a non-hash fails with WRONGTYPE and
# a key repeated in a chunk sees its first record.
. "$TOP_SRCDIR/tests/lib.sh"
start_servers
expect_status 0 "$WTC" init

# ids N..M as NDJSON; occupation NULL for even ids when $3 is "nulls".
gen() {
	awk -v a="$1" -v b="$2" -v how="${3:-}" 'BEGIN {
		for (i = a; i <= b; i++) {
			occ = (how == "nulls" && i % 2 == 0) ? "null" : "\"Job " i "\""
			printf "{\"id\": %d, \"name\": \"N%d\", \"age\": %d, \"occupation\": %s}\n", i, i, i % 90, occ
		}
	}'
}
# hset_state KEY: the hash as sorted "field=value" words, version left out.
hash_state() { rcli HGETALL "$1" | paste - - | grep -v '^_wtc_version' | tr '\t' '=' | sort | tr '\n' ' '; }

for path in tx script; do
	rcli FLUSHALL >/dev/null
	if [ $path = tx ]; then n=40; else n=10; fi

	# A bulk load of new keys.
	gen 1 $n nulls >"$T/a.ndjson"
	expect_status 0 "$WTC" put --no-drain -f "$T/a.ndjson"
	assert_eq "$(rcli DBSIZE)" "$((n + 1))" "$path: keys and the id counter"
	assert_eq "$(hash_state users:3)" "age=3 id=3 name=N3 occupation=Job 3 " "$path: hash"
	assert_eq "$(rcli HEXISTS users:2 occupation)" "0" "$path: NULL not stored"

	# Set up the keys the next load meets.
	rcli HSET users:1 _wtc_version 1 extra old >/dev/null			# older, extra field
	rcli HSET users:3 _wtc_version 99999999999999999999 extra keep >/dev/null	# newer
	rcli DEL users:4 >/dev/null; rcli HSET users:4 foreign yes >/dev/null	# no version
	rcli DEL users:5 >/dev/null						# gone
	v6=$(rcli HGET users:6 _wtc_version)

	# The same ids again, now without NULLs: differing fields for the script.
	gen 1 $n >"$T/b.ndjson"
	expect_status 0 "$WTC" put --no-drain -f "$T/b.ndjson"
	assert_eq "$(hash_state users:1)" "age=1 id=1 name=N1 occupation=Job 1 " "$path: older replaced whole"
	assert_eq "$(rcli HGET users:3 _wtc_version)" "99999999999999999999" "$path: newer kept"
	assert_eq "$(hash_state users:3)" "age=3 extra=keep id=3 name=N3 occupation=Job 3 " "$path: newer untouched"
	assert_eq "$(hash_state users:4)" "age=4 foreign=yes id=4 name=N4 occupation=Job 4 " "$path: unversioned hash added to"
	assert_eq "$(hash_state users:5)" "age=5 id=5 name=N5 occupation=Job 5 " "$path: absent written"
	[ "$(rcli HGET users:6 _wtc_version)" -gt "$v6" ] || fail "$path: version did not grow"
	assert_eq "$(hash_state users:6)" "age=6 id=6 name=N6 occupation=Job 6 " "$path: NULL now set"
	assert_eq "$(rcli --scan --pattern 'wtc:put-old*' | wc -l | tr -d ' ')" "0" "$path: no scratch keys left"

	# A non-hash: its record fails with WRONGTYPE, the ones before it go in
	# (the script stops there; a transaction writes the ones after it too).
	rcli SET users:7 plain >/dev/null
	v6=$(rcli HGET users:6 _wtc_version)
	expect_status 69 "$WTC" put --no-drain -f "$T/b.ndjson"
	expect_grep "WRONGTYPE" "$T/err"
	assert_eq "$(rcli GET users:7)" "plain" "$path: non-hash untouched"
	[ "$(rcli HGET users:6 _wtc_version)" -gt "$v6" ] || fail "$path: others not written"
	assert_eq "$(rcli --scan --pattern 'wtc:put-old*' | wc -l | tr -d ' ')" "0" "$path: no scratch keys left"
	rcli DEL users:7 >/dev/null
done

# A key twice in one chunk (so the script, not a transaction): the second
# record replaces the first whole.
rcli FLUSHALL >/dev/null
{ gen 1 20; echo '{"id": 3, "name": "Again"}'; } >"$T/c.ndjson"
expect_status 0 "$WTC" put --no-drain -f "$T/c.ndjson"
assert_eq "$(hash_state users:3)" "id=3 name=Again " "repeated key"
exit 0
