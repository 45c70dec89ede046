#!/bin/sh
# Run integration tests with $WTC pointing at a wrapper that runs the built
# wtc under valgrind (memcheck): invalid reads and writes, uses of
# uninitialised values, bad frees and definite leaks fail the run.  Every
# wtc the tests start goes through the wrapper (put, drain, init, serve,
# ...); children are not traced.
#
# The drainers that put and serve start are exec'd by the path
# readlink("/proc/self/exe") gives, so they run (untraced) as the real wtc.
#
#   tests/valgrind.sh [TEST...]   default: 001-cli.sh 010-put.sh
#
# TEST is a file name under tests/integration/ or a path.  Environment:
# TOP_BUILDDIR (where the built wtc is; default the source tree),
# VALGRIND_FLAGS (more valgrind options), WTC_VALGRIND_KEEP=1 to keep the
# valgrind logs.  Exit status 0 when every test passed with no valgrind
# error, 1 otherwise.
set -eu

: "${TOP_SRCDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${TOP_BUILDDIR:=$TOP_SRCDIR}"
: "${VALGRIND:=valgrind}"
: "${VALGRIND_FLAGS:=}"
export TOP_SRCDIR TOP_BUILDDIR
real=$TOP_BUILDDIR/wtc

command -v "$VALGRIND" >/dev/null 2>&1 ||
    { echo "valgrind.sh: valgrind not found (Debian: valgrind)" >&2; exit 1; }
[ -x "$real" ] || { echo "valgrind.sh: no built wtc at '$real'" >&2; exit 1; }
# A libtool wrapper script would put valgrind on /bin/sh, not on wtc.
case $(head -c 4 "$real" | od -An -c | tr -d ' ') in
*ELF*) ;;
*) echo "valgrind.sh: '$real' is not an ELF binary (libtool wrapper?)" >&2
   exit 1;;
esac

[ $# -gt 0 ] || set -- 001-cli.sh 010-put.sh

vg=$(mktemp -d "${TMPDIR:-/tmp}/wtc-valgrind.XXXXXX")
mkdir "$vg/logs"
cat >"$vg/wtc" <<WRAP
#!/bin/sh
exec "$VALGRIND" --error-exitcode=99 --leak-check=full \\
    --errors-for-leak-kinds=definite --track-fds=no --trace-children=no -q \\
    --log-file="$vg/logs/%p.log" $VALGRIND_FLAGS "$real" "\$@"
WRAP
chmod +x "$vg/wtc"

failed=
for t in "$@"; do
	case $t in
	*/*) path=$t;;
	*) path=$TOP_SRCDIR/tests/integration/$t;;
	esac
	name=$(basename "$t" .sh)
	echo "valgrind.sh: $name" >&2
	rc=0
	WTC=$vg/wtc sh "$path" >"$vg/$name.log" 2>&1 || rc=$?
	if [ $rc -ne 0 ]; then
		echo "valgrind.sh: $name failed (exit $rc); its log:" >&2
		tail -n 30 "$vg/$name.log" >&2
		failed="$failed $name"
	fi
	# Name each non-empty valgrind log after the test that made it.
	runs=0
	for l in "$vg"/logs/*.log; do
		[ -f "$l" ] || continue
		runs=$((runs + 1))
		if [ -s "$l" ]; then
			mv "$l" "$vg/$name-$(basename "$l")"
		else
			rm -f "$l"
		fi
	done
	echo "valgrind.sh: $name: $runs wtc process(es) ran under valgrind" >&2
done

errors=0
for l in "$vg"/*-[0-9]*.log; do
	[ -f "$l" ] || continue
	errors=$((errors + 1))
	echo "valgrind.sh: --- $(basename "$l")" >&2
	cat "$l" >&2
done

if [ -n "$failed" ] || [ $errors -gt 0 ]; then
	echo "valgrind.sh: FAILED:${failed:+ tests$failed;} $errors valgrind log(s) with errors; kept $vg" >&2
	exit 1
fi
echo "valgrind.sh: $# test(s) passed under valgrind with no errors" >&2
[ "${WTC_VALGRIND_KEEP:-}" = 1 ] || rm -rf "$vg"
exit 0
