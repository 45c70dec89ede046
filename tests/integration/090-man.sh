# wtc(1) documents every command, every option of each command's help, and
# every exit status the cli defines; groff finds nothing to warn about.
# No servers needed.
. "$TOP_SRCDIR/tests/lib.sh"
MAN="$TOP_SRCDIR/man/wtc.1"
[ -f "$MAN" ] || fail "no man page at $MAN"

# groff: no warnings at all, and it renders.
groff -man -ww -z "$MAN" >"$T/groff.out" 2>&1 || fail "groff failed: $(cat "$T/groff.out")"
[ ! -s "$T/groff.out" ] || { cat "$T/groff.out" >&2; fail "groff warnings"; }
groff -man -Tutf8 -P-cbou "$MAN" >"$T/rendered" 2>&1 || fail "groff cannot render"
expect_grep "EXIT STATUS" "$T/rendered"
if command -v man >/dev/null 2>&1; then
	MANWIDTH=80 man "$MAN" >"$T/man.out" 2>&1 || fail "man cannot render: $(head "$T/man.out")"
fi

# The source with groff's escapes taken out: \- is -, fonts go.
sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\(oq//g; s/\\(cq//g' "$MAN" >"$T/man.txt"

# section NAME: the lines of the ".SS" section whose title starts with it.
section() {
	awk -v want="$1" '
		/^\.S[SH] / { on = index($0, want) == 5 }
		on { print }' "$T/man.txt"
}
section '"OPTIONS"' >"$T/common"
awk '/^\.SH OPTIONS/ { on = 1; next } /^\.SH / { on = 0 } on' "$T/man.txt" >"$T/common"
[ -s "$T/common" ] || fail "no OPTIONS section"

# Every command of "wtc --help".
expect_status 0 "$WTC" --help
sed -n '/^Commands:/,/^$/p' "$T/out" | awk 'NR > 1 && NF > 0 { print $1 }' >"$T/commands"
[ "$(wc -l <"$T/commands")" -ge 4 ] || fail "too few commands in wtc --help"
missing=
while read -r cmd; do
	[ "$cmd" = help ] && continue
	section "\"wtc $cmd " >"$T/sec"
	if [ ! -s "$T/sec" ]; then
		missing="$missing command:$cmd"
		continue
	fi
	grep -q "^\.B wtc $cmd\$" "$T/man.txt" || missing="$missing synopsis:$cmd"
	"$WTC" help "$cmd" >"$T/help" || fail "wtc help $cmd failed"
	for opt in $(grep -o -- '--[a-z][a-z-]*' "$T/help" | sort -u); do
		# Whole words: --sample must not be satisfied by --samples.
		re="(^|[^a-z-])$opt([^a-z-]|\$)"
		grep -qE -- "$re" "$T/sec" || grep -qE -- "$re" "$T/common" ||
		    missing="$missing $cmd:$opt"
	done
done <"$T/commands"
[ -z "$missing" ] || fail "not in wtc(1):$missing"

# Every exit status the cli defines, in the EXIT STATUS section.
awk '/^\.SH "EXIT STATUS"/ { on = 1; next } /^\.SH / { on = 0 } on' "$T/man.txt" >"$T/exit"
codes=$(sed -n 's/^#define EXIT_[A-Z_]*[[:space:]]*\([0-9][0-9]*\).*/\1/p' "$TOP_SRCDIR/cli/cmd.h")
[ -n "$codes" ] || fail "no EXIT_ codes found in cli/cmd.h"
for c in 0 $codes; do
	grep -q "^\.B $c\$" "$T/exit" || missing="$missing exit:$c"
done
[ -z "$missing" ] || fail "not in wtc(1):$missing"

# The environment variables the config reads.
for v in WTC_REDIS_URL WTC_MYSQL_URL WTC_SPOOL WTC_TABLE WTC_PREFIX WTC_CONFIG \
    WTC_REDIS_PASSWORD WTC_MYSQL_PASSWORD WTC_MYSQL_OPTION_FILE; do
	grep -qF "$v" "$T/man.txt" || fail "not in wtc(1): $v"
done
exit 0
