# The command line itself: help, version, usage errors.  No servers needed.
. "$TOP_SRCDIR/tests/lib.sh"

expect_status 0 "$WTC" --version
grep -Eq '^wtc [0-9]+\.[0-9]+' "$T/out" || fail "--version prints 'wtc X.Y'"

expect_status 0 "$WTC" --help
for c in put drain init help; do
	expect_grep "  $c " "$T/out"
done

expect_status 0 "$WTC" help put
expect_grep "usage: wtc put" "$T/out"
expect_grep "--on-error" "$T/out"
expect_status 0 "$WTC" put --help
expect_grep "usage: wtc put" "$T/out"

# No command: overview on stderr, usage status.
expect_status 64 "$WTC"
expect_grep "usage: wtc" "$T/err"

expect_status 64 "$WTC" frobnicate
expect_grep "wtc: no such command 'frobnicate'" "$T/err"
expect_status 64 "$WTC" help frobnicate
expect_grep "no such command 'frobnicate'" "$T/err"

expect_status 64 "$WTC" --bogus put
expect_grep "unknown option '--bogus'" "$T/err"
expect_status 64 "$WTC" put --bogus '{}'
expect_grep "wtc put: unknown option '--bogus'" "$T/err"
expect_grep "Try 'wtc help put'." "$T/err"
expect_status 64 "$WTC" put --on-error=sometimes '{}'
expect_grep "--on-error must be 'skip' or 'abort', not 'sometimes'" "$T/err"
expect_status 64 "$WTC" put --batch 0 '{}'
expect_grep "invalid value '0' for --batch" "$T/err"
expect_status 64 "$WTC" put --spool
expect_grep "option '--spool' needs a value" "$T/err"
# An unknown option last on the line is unknown, not short of a value; a
# value given to a flag is named as such (both were "needs a value").
expect_status 64 "$WTC" status -x
expect_grep "wtc status: unknown option '-x'" "$T/err"
expect_status 64 "$WTC" put -f
expect_grep "option '-f' needs a value" "$T/err"
expect_status 64 "$WTC" --quiet=yes status
expect_grep "option '--quiet' takes no value" "$T/err"
expect_status 64 "$WTC" get -1
expect_grep "unknown option '-1' (put '--' before a negative id)" "$T/err"
expect_status 64 "$WTC" drain --batch
expect_grep "option '--batch' needs a value" "$T/err"
# --version is one of the options every command takes, before or after it.
expect_status 0 "$WTC" status --version
grep -Eq '^wtc [0-9]+\.[0-9]+' "$T/out" || fail "status --version"
expect_status 0 "$WTC" help help
expect_grep "usage: wtc" "$T/out"
expect_status 64 "$WTC" help get put
expect_grep "unexpected argument 'put'" "$T/err"

# Passwords never on the command line (they would show in ps).
expect_status 64 "$WTC" --mysql 'mysql://u:secret@h/db' init
expect_grep "would be visible to every user in ps" "$T/err"
expect_no_grep "secret" "$T/err"
expect_status 64 "$WTC" put --redis 'redis://:secret@h' '{}'
expect_no_grep "secret" "$T/err"
expect_grep "use WTC_REDIS_PASSWORD or the config file" "$T/err"

# A config file with an unknown setting names file and line.
printf 'table = users\nflavour = mint\n' >"$T/bad.conf"
expect_status 64 "$WTC" --config "$T/bad.conf" init --dry-run
expect_grep "bad.conf:2: unknown setting 'flavour'" "$T/err"

# init --dry-run with MySQL unreachable says so.
expect_status 69 "$WTC" --mysql "mysql://wtc@localhost/wtc?socket=$T/nosuch.sock" init
expect_grep "cannot connect to mysql '$T/nosuch.sock'" "$T/err"

# A spool directory that cannot be created: 73, as wtc(1) says (it was 74).
: >"$T/file"
expect_status 73 "$WTC" --spool "$T/file/spool" put --no-drain '{"name": "x"}'
expect_grep "cannot create spool directory" "$T/err"
# Bash completion: commands, and options taken from wtc help.
cat >"$T/comp.bash" <<EOC
. "$TOP_SRCDIR/cli/wtc.bash-completion"
COMP_WORDS=("$WTC" pu); COMP_CWORD=1; _wtc; echo "\${COMPREPLY[*]}"
COMP_WORDS=("$WTC" put --on); COMP_CWORD=2; _wtc; echo "\${COMPREPLY[*]}"
COMP_WORDS=("$WTC" dead-letter re); COMP_CWORD=2; _wtc; echo "\${COMPREPLY[*]}"
COMP_WORDS=("$WTC" drain --wait --on); COMP_CWORD=3; _wtc; echo "\${COMPREPLY[*]}"
COMPREPLY=(); COMP_WORDS=("$WTC" dead-letter --wait --); COMP_CWORD=3; _wtc; echo "\${COMPREPLY[*]}"
EOC
bash "$T/comp.bash" >"$T/comp.out"
assert_eq "$(sed -n 1p "$T/comp.out")" "put" "complete a command"
assert_eq "$(sed -n 2p "$T/comp.out")" "--on-error" "complete an option"
assert_eq "$(sed -n 3p "$T/comp.out")" "retry" "complete a dead-letter action"
# drain --wait is a flag (options follow it); dead-letter --wait takes seconds.
assert_eq "$(sed -n 4p "$T/comp.out")" "--once" "complete after drain --wait"
assert_eq "$(sed -n 5p "$T/comp.out")" "" "no option as dead-letter --wait's value"

# A URL that cannot be used is named without its password (it came from
# the environment or the config file, and was printed whole).
WTC_MYSQL_URL='mysql://app:s3cret@db.example:99999/wtc' expect_status 64 "$WTC" init -n
expect_grep "invalid mysql url 'mysql://app:***@db.example:99999/wtc'" "$T/err"
WTC_MYSQL_URL='mysql://app:s3cret@db.example' expect_status 64 "$WTC" init -n
expect_grep "names no database" "$T/err"
WTC_REDIS_URL='unix:///run/redis.sock?password=s3cret&db=x' expect_status 64 "$WTC" get 1
expect_grep "password=***&db=x" "$T/err"
expect_status 64 "$WTC" --mysql 'mysql://app:s3/cret@db.example/wtc' init -n
for f in "$T/err" "$T/out"; do
	! grep -q 's3/\{0,1\}cret' "$f" || fail "a password in a message: $(cat "$f")"
done
# An unknown URL parameter (a typo) is refused, not ignored, and so is an
# option file that is not there (it was skipped: "Access denied").
expect_status 64 "$WTC" --redis 'unix:///run/redis.sock?bd=3' get 1
expect_grep "redis url: unknown parameter 'bd' (known: db, user, password)" "$T/err"
expect_status 64 "$WTC" --mysql 'mysql://u@localhost/wtc?socket=/x&net_timeout=5' get 1
expect_grep "mysql url: unknown parameter 'net_timeout'" "$T/err"
WTC_MYSQL_OPTION_FILE=/no/such.cnf expect_status 64 "$WTC" get 1
expect_grep "cannot read mysql option file '/no/such.cnf': No such file or directory" "$T/err"
# A relative socket or option file in the URL would name another file in
# put's background drainer, which runs in '/'.
expect_status 64 "$WTC" --mysql 'mysql://u@localhost/wtc?socket=run/my.sock' get 1
expect_grep "socket and option-file must be absolute paths" "$T/err"
# An abbreviation of several options is named as such (it was "unknown").
expect_status 64 "$WTC" put --re x
expect_grep "option '--re' is ambiguous: --redis, --remote, --retry-for" "$T/err"
# A ':' in a table name would share another table's Redis keys
# (t's eu:5 and t:eu's 5 are both t:eu:5).
expect_status 64 "$WTC" --table 't:eu' init -n
expect_grep "table name 't:eu' has a ':', which would mix its Redis keys with those of table 't'" "$T/err"
exit 0
