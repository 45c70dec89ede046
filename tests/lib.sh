# Shared harness for the integration tests: private redis-server and
# mariadbd instances in a temporary directory, helpers to talk to them, and
# an EXIT trap that stops everything this script started, by pid.
#
# Usage in a test script:
#	. "$TOP_SRCDIR/tests/lib.sh"
#	start_servers		# redis + mariadb, wtc configured through WTC_*
#	...
# Set WTC_TEST_KEEP=1 to keep the temporary directory for a post mortem.
# Exit status 77 would mean "skipped" to automake; this harness never
# skips: a missing server binary is a failure.

set -eu

: "${TOP_SRCDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${TOP_BUILDDIR:=$TOP_SRCDIR}"
: "${WTC:=$TOP_BUILDDIR/wtc}"
: "${REDIS_SERVER:=$(command -v redis-server || true)}"
: "${MARIADBD:=$(command -v mariadbd || echo /usr/sbin/mariadbd)}"

T=$(mktemp -d "${TMPDIR:-/tmp}/wtc-test.XXXXXX")
chmod 700 "$T"
TEST_NAME=$(basename "$0" .sh)
# For the one rerun after a mariadbd crash (see cleanup).
TEST_SCRIPT=$0
TEST_CWD=$(pwd)
REDIS_PID=
MARIADB_PID=
EXTRA_PIDS=
DB_PASSWORD="wtc-test-pw-$$"

# Isolate wtc from the user's own configuration.
export HOME="$T/home"
mkdir -p "$HOME"
export XDG_CONFIG_HOME="$HOME/.config" XDG_STATE_HOME="$HOME/.local/state"
unset WTC_CONFIG WTC_REDIS_URL WTC_MYSQL_URL WTC_SPOOL WTC_TABLE WTC_PREFIX \
    WTC_REDIS_PASSWORD WTC_MYSQL_PASSWORD WTC_MYSQL_OPTION_FILE || true

log() { printf '%s: %s\n' "$TEST_NAME" "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }

# kill_wait PID: TERM, wait up to 10 s, then KILL.
kill_wait() {
	_p=$1
	kill -0 "$_p" 2>/dev/null || return 0
	kill -TERM "$_p" 2>/dev/null || true
	_i=0
	while kill -0 "$_p" 2>/dev/null && [ $_i -lt 100 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	kill -KILL "$_p" 2>/dev/null || true
	wait "$_p" 2>/dev/null || true
}

# Every drainer wtc started for this test leaves its pid in its spool.
stop_drainers() {
	for _f in $(find "$T" -name drain.pid 2>/dev/null); do
		_p=$(cat "$_f" 2>/dev/null || true)
		[ -n "$_p" ] && kill_wait "$_p"
	done
	return 0
}

cleanup() {
	_rc=$?
	set +e
	for _p in $EXTRA_PIDS; do kill_wait "$_p"; done
	stop_drainers
	[ -n "$MARIADB_PID" ] && kill_wait "$MARIADB_PID"
	[ -n "$REDIS_PID" ] && kill_wait "$REDIS_PID"
	_crashed=0
	if [ $_rc -ne 0 ]; then
		# A crashed mariadbd's report: the query and the backtrace come
		# before the tail below shows (seen once or twice a day in CI).
		if grep -q "got signal" "$T/mariadb.err" 2>/dev/null; then
			_crashed=1
			log "--- mariadbd crashed: $T/mariadb.err"
			sed -n '/got signal/,/^Resource Limits/p' "$T/mariadb.err" |
			    head -n 80 >&2
		fi
		for _f in "$T"/mariadb.err "$T"/redis.log; do
			[ -f "$_f" ] && { log "--- tail of $_f"; tail -n 15 "$_f" >&2; }
		done
		for _f in $(find "$T" -name drain.log 2>/dev/null); do
			log "--- tail of $_f"; tail -n 20 "$_f" >&2
		done
	fi
	if [ "${WTC_TEST_KEEP:-}" = 1 ]; then
		log "kept $T"
	else
		rm -rf "$T"
	fi
	# MariaDB 10.11 sometimes dies of SIGSEGV in its own cleanup of the
	# temporary table behind an information_schema query (free_tmp_table,
	# ha_maria::drop_table), which no client can cause or avoid.  A test
	# that failed because of that runs once more, from the start, with new
	# servers; a second failure of any kind stands.
	if [ $_crashed = 1 ] && [ -z "${WTC_TEST_RERUN:-}" ]; then
		case $TEST_SCRIPT in
		*tests/integration/*.sh)
			log "mariadbd crashed (MariaDB's bug, above): running $TEST_NAME once more"
			cd "$TEST_CWD" || exit $_rc
			WTC_TEST_RERUN=1 "${BASH:-/bin/sh}" "$TEST_SCRIPT"
			exit $?
			;;
		esac
	fi
	exit $_rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_until SECONDS COMMAND...: poll until COMMAND succeeds.
wait_until() {
	_limit=$(( $1 * 10 ))
	shift
	_i=0
	until "$@" >/dev/null 2>&1; do
		_i=$((_i + 1))
		[ $_i -ge $_limit ] && return 1
		sleep 0.1
	done
	return 0
}

# --- Redis -----------------------------------------------------------------

REDIS_SOCK="$T/redis.sock"

start_redis() {
	[ -x "$REDIS_SERVER" ] || fail "redis-server not found (install redis-server)"
	"$REDIS_SERVER" --port 0 --unixsocket "$REDIS_SOCK" --unixsocketperm 700 \
	    --save "" --appendonly no --dir "$T" --logfile "$T/redis.log" \
	    --daemonize no >/dev/null 2>&1 &
	REDIS_PID=$!
	wait_until 10 redis-cli -s "$REDIS_SOCK" ping ||
	    fail "redis-server did not start"
	export WTC_REDIS_URL="unix://$REDIS_SOCK"
}

stop_redis() {
	[ -n "$REDIS_PID" ] && kill_wait "$REDIS_PID"
	REDIS_PID=
}

rcli() { redis-cli -s "$REDIS_SOCK" "$@"; }

# --- MariaDB ---------------------------------------------------------------

MARIADB_SOCK="$T/mariadb.sock"
MARIADB_DATA="$T/mariadb"

# A datadir with the test user and database, made once per build tree
# and copied by every test (mariadb-install-db takes seconds).
mariadb_template() {
	_cache="$TOP_BUILDDIR/tests/.cache"
	_tpl="$_cache/mariadb-template"
	mkdir -p "$_cache"
	(
		flock 9
		[ -f "$_tpl/.ready" ] && exit 0
		rm -rf "$_tpl" "$_tpl.tmp"
		mariadb-install-db --no-defaults --datadir="$_tpl.tmp" \
		    --user="$(id -un)" --auth-root-authentication-method=normal \
		    --skip-test-db >"$_cache/install.log" 2>&1 ||
		    { cat "$_cache/install.log" >&2; exit 1; }
		_sock="$_cache/tpl.sock"
		"$MARIADBD" --no-defaults --user="$(id -un)" --datadir="$_tpl.tmp" \
		    --socket="$_sock" --skip-networking \
		    --pid-file="$_cache/tpl.pid" --log-error="$_cache/tpl.err" &
		_pid=$!
		_i=0
		until mariadb --no-defaults -S "$_sock" -uroot -e 'select 1' \
		    >/dev/null 2>&1; do
			_i=$((_i + 1))
			[ $_i -ge 300 ] && { kill -KILL $_pid; cat "$_cache/tpl.err" >&2; exit 1; }
			sleep 0.1
		done
		mariadb --no-defaults -S "$_sock" -uroot <<-'EOF'
			CREATE USER 'wtc'@'localhost' IDENTIFIED BY 'PLACEHOLDER';
			CREATE USER 'wtc'@'127.0.0.1' IDENTIFIED BY 'PLACEHOLDER';
			GRANT ALL ON *.* TO 'wtc'@'localhost';
			GRANT ALL ON *.* TO 'wtc'@'127.0.0.1';
		EOF
		kill -TERM $_pid
		wait $_pid || true
		mv "$_tpl.tmp" "$_tpl"
		touch "$_tpl/.ready"
	) 9>"$_cache/.lock" || fail "cannot prepare the mariadb template datadir"
	echo "$_tpl"
}

# Unix socket only: a TCP port picked at random could be taken (seen in
# CI: another test's client connection held it as its ephemeral port).
start_mariadb() {
	[ -x "$MARIADBD" ] || fail "mariadbd not found (install mariadb-server)"
	if [ ! -d "$MARIADB_DATA" ]; then
		_tpl=$(mariadb_template)
		cp -a "$_tpl" "$MARIADB_DATA"
		_fresh=1
	else
		_fresh=0
	fi
	# Its own tmpdir: information_schema queries make Aria files there.
	mkdir -p "$T/mariadb-tmp"
	"$MARIADBD" --no-defaults --user="$(id -un)" --datadir="$MARIADB_DATA" \
	    --tmpdir="$T/mariadb-tmp" \
	    --socket="$MARIADB_SOCK" --skip-networking --pid-file="$T/mariadb.pid" \
	    --log-error="$T/mariadb.err" --innodb-buffer-pool-size=128M \
	    --max-connections="${MARIADB_MAX_CONNECTIONS:-100}" \
	    --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
	    ${MARIADB_EXTRA_ARGS:-} 2>>"$T/mariadb.err" &
	MARIADB_PID=$!
	wait_until 60 mariadb --no-defaults -S "$MARIADB_SOCK" -uroot \
	    -e 'select 1' || fail "mariadbd did not start"
	if [ $_fresh = 1 ]; then
		sql_root "ALTER USER 'wtc'@'localhost' IDENTIFIED BY '$DB_PASSWORD';
		    ALTER USER 'wtc'@'127.0.0.1' IDENTIFIED BY '$DB_PASSWORD';"
	fi
	export WTC_MYSQL_URL="mysql://wtc@localhost/wtc?socket=$MARIADB_SOCK"
	export WTC_MYSQL_PASSWORD="$DB_PASSWORD"
}

stop_mariadb() {
	[ -n "$MARIADB_PID" ] && kill_wait "$MARIADB_PID"
	MARIADB_PID=
}

# sql "QUERY": run as the test user in database wtc; tab-separated, no headers.
sql() {
	MYSQL_PWD="$DB_PASSWORD" mariadb --no-defaults -S "$MARIADB_SOCK" -uwtc \
	    -N -B wtc -e "$1"
}
sql_root() {
	mariadb --no-defaults -S "$MARIADB_SOCK" -uroot -N -B -e "$1"
}

start_servers() {
	start_redis
	start_mariadb
	export WTC_SPOOL="$T/spool"
}

# --- assertions ------------------------------------------------------------

# expect_status N COMMAND...: run COMMAND, which must exit N; output in $T/out, $T/err.
# start_serve NAME ARGS...: start wtc serve in the background, wait for its
# "listening on" line, set URL (and keep the pid in EXTRA_PIDS and $NAME_PID);
# its standard error goes to $T/NAME.err.
start_serve() {
	_name=$1
	shift
	"$WTC" serve "$@" 2>"$T/$_name.err" &
	_pid=$!
	EXTRA_PIDS="$EXTRA_PIDS $_pid"
	eval "${_name}_PID=$_pid"
	wait_until 15 grep -q "listening on" "$T/$_name.err" ||
	    { cat "$T/$_name.err" >&2; fail "wtc serve did not start"; }
	URL=$(sed -n 's/.*listening on \([^ ]*\) .*/\1/p' "$T/$_name.err")
}

expect_status() {
	_want=$1
	shift
	set +e
	"$@" >"$T/out" 2>"$T/err"
	_got=$?
	set -e
	if [ "$_got" != "$_want" ]; then
		log "command: $*"
		log "stdout:"; cat "$T/out" >&2
		log "stderr:"; cat "$T/err" >&2
		fail "exit status $_got, expected $_want"
	fi
}

# expect_grep PATTERN FILE: FILE must contain PATTERN (fixed string).
expect_grep() {
	grep -qF -- "$1" "$2" || { log "--- $2:"; cat "$2" >&2; fail "'$1' not found in $2"; }
}
expect_no_grep() {
	if grep -qF -- "$1" "$2"; then
		log "--- $2:"; cat "$2" >&2; fail "'$1' unexpectedly found in $2"
	fi
}

assert_eq() {
	[ "$1" = "$2" ] || fail "${3:-values differ}: got '$1', expected '$2'"
}
