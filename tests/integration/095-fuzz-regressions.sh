# The fuzz targets' corpus and saved crash inputs, replayed through the same
# entry points built without libFuzzer (tests/fuzz/replay.c): a crash, a
# sanitizer report (in the --enable-sanitizers build) or a broken property
# fails.  tests/fuzz/run does the fuzzing itself.
set -eu

: "${TOP_SRCDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${TOP_BUILDDIR:=$TOP_SRCDIR}"

for t in record spool input http; do
	bin=$TOP_BUILDDIR/tests/fuzz/fuzz-$t
	[ -x "$bin" ] || { echo "095-fuzz-regressions: no '$bin' (make check builds it)" >&2; exit 1; }
	set -- "$TOP_SRCDIR/tests/fuzz/corpus/$t"
	[ -d "$TOP_SRCDIR/tests/fuzz/regressions/$t" ] &&
	    set -- "$@" "$TOP_SRCDIR/tests/fuzz/regressions/$t"
	printf '%s: ' "$t"
	"$bin" "$@" || { echo "095-fuzz-regressions: $t failed" >&2; exit 1; }
done
