/*
 * wtc status: what is waiting in the spool, whether a drainer is working
 * on it, and how many records MySQL rejected.  Reads only the spool
 * directory, so it answers with Redis and MySQL down.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "deadletter.h"
#include "drain.h"
#include "record.h"
#include "spool.h"

static const char status_usage[] =
"usage: wtc status [options]\n"
"\n"
"Show the spool's backlog (records not yet in MySQL, their size and the age\n"
"of the oldest), whether a drainer is running and what it last did, its\n"
"last error, and the number of dead letters.  Only the spool directory is\n"
"read: it works with Redis and MySQL down.  To wait for the drain:\n"
"    until wtc status -q; do sleep 1; done\n"
"\n"
"Options:\n"
"      --json            print one JSON object instead\n"
"\n"
"Exit status: 0 nothing is waiting; 1 records are waiting; 64 usage;\n"
"74 the spool cannot be read.\n";

enum { OPT_JSON = OPT_FIRST_LOCAL };

/* What the drainer said about itself in DIR/drain.state and DIR/drain.pid. */
struct status_drainer {
	long		 pid;		/* from drain.pid, 0 if none */
	int		 running;	/* that pid is alive */
	char		*text;		/* drain.state, or NULL */
	size_t		 len;
	char		*state;		/* "idle", "draining", "retrying", "stopped" */
	char		*last_error;
};

/* Read a small file whole; NULL when it cannot be read. */
static char *
status_slurp(const char *dir, const char *name, size_t *len)
{
	struct buf	 b = BUF_INIT;
	char		*path, chunk[4096];
	ssize_t		 n;
	int		 fd;

	path = xasprintf("%s/%s", dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (fd == -1)
		return (NULL);
	while ((n = read(fd, chunk, sizeof chunk)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			break;
		buf_add(&b, chunk, (size_t)n);
	}
	close(fd);
	if (n != 0 || b.len == 0) {
		buf_release(&b);
		return (NULL);
	}
	return (buf_detach(&b, len));
}

static void
status_read_drainer(const char *dir, struct status_drainer *d)
{
	const char	*v;
	size_t		 vlen, len;
	char		*pid, *end;

	memset(d, 0, sizeof d[0]);
	if ((pid = status_slurp(dir, DRAIN_PID_FILE, &len)) != NULL) {
		d->pid = strtol(pid, &end, 10);
		if (end == pid || d->pid <= 0)
			d->pid = 0;
		free(pid);
	}
	if (d->pid > 0 && (kill((pid_t)d->pid, 0) == 0 || errno == EPERM))
		d->running = 1;
	if ((d->text = status_slurp(dir, DRAIN_STATE_FILE, &d->len)) == NULL)
		return;
	if (deadletter_field(d->text, d->len, "state", &v, &vlen) == 1)
		d->state = deadletter_string(v, vlen);
	if (deadletter_field(d->text, d->len, "last_error", &v, &vlen) == 1)
		d->last_error = deadletter_string(v, vlen);
}

static void
status_release_drainer(struct status_drainer *d)
{
	free(d->text);
	free(d->state);
	free(d->last_error);
}

/* A numeric field of drain.state as text ("null" when absent or odd). */
static void
status_number(struct buf *b, const struct status_drainer *d, const char *key)
{
	const char	*v;
	size_t		 vlen;

	if (d->text != NULL &&
	    deadletter_field(d->text, d->len, key, &v, &vlen) == 1 &&
	    vlen > 0 && strspn(v, "0123456789.-+eE") >= vlen)
		buf_add(b, v, vlen);
	else
		buf_adds(b, "null");
}

static void
status_json(struct buf *b, const char *dir, const struct spool_stats *st,
    uint64_t age_s, const struct status_drainer *d, uint64_t dead)
{
	static const char *const nums[] = {
		"started", "updated", "landed", "batches", "dead", "retries",
		"damaged", "rate", "lag_ms"
	};
	size_t	i;

	buf_adds(b, "{\"spool\":");
	json_quote(b, dir, strlen(dir));
	buf_printf(b, ",\"records\":%llu,\"bytes\":%llu,\"segments\":%llu,"
	    "\"held\":%llu,\"damaged\":%llu,\"oldest_age_s\":",
	    (unsigned long long)st->records, (unsigned long long)st->bytes,
	    (unsigned long long)st->segments, (unsigned long long)st->held,
	    (unsigned long long)st->damaged);
	if (st->records > 0 && st->oldest_us != 0)
		buf_printf(b, "%llu", (unsigned long long)age_s);
	else
		buf_adds(b, "null");
	buf_printf(b, ",\"drainer\":{\"running\":%s,\"pid\":",
	    d->running ? "true" : "false");
	if (d->running)
		buf_printf(b, "%ld", d->pid);
	else
		buf_adds(b, "null");
	buf_adds(b, ",\"state\":");
	if (d->state != NULL)
		json_quote(b, d->state, strlen(d->state));
	else
		buf_adds(b, "null");
	for (i = 0; i < sizeof nums / sizeof nums[0]; i++) {
		buf_printf(b, ",\"%s\":", nums[i]);
		status_number(b, d, nums[i]);
	}
	buf_adds(b, "},\"last_error\":");
	if (d->last_error != NULL && *d->last_error != '\0')
		json_quote(b, d->last_error, strlen(d->last_error));
	else
		buf_adds(b, "null");
	buf_printf(b, ",\"dead_letters\":%llu}\n", (unsigned long long)dead);
}

static void
status_age(struct buf *b, uint64_t s)
{
	if (s < 120)
		buf_printf(b, "%llu s", (unsigned long long)s);
	else if (s < 7200)
		buf_printf(b, "%llu min", (unsigned long long)(s / 60));
	else if (s < 172800)
		buf_printf(b, "%llu h", (unsigned long long)(s / 3600));
	else
		buf_printf(b, "%llu days", (unsigned long long)(s / 86400));
}

static void
status_text(struct buf *b, const char *dir, const struct spool_stats *st,
    uint64_t age_s, const struct status_drainer *d, uint64_t dead)
{
	buf_printf(b, "%-14s%s\n", "spool:", dir);
	if (st->records == 0)
		buf_printf(b, "%-14snothing waiting\n", "backlog:");
	else {
		buf_printf(b, "%-14s%llu record%s (%llu bytes) waiting for mysql",
		    "backlog:", (unsigned long long)st->records,
		    st->records == 1 ? "" : "s", (unsigned long long)st->bytes);
		if (st->oldest_us != 0) {
			buf_adds(b, ", oldest ");
			status_age(b, age_s);
			buf_adds(b, " old");
		}
		buf_addc(b, '\n');
	}
	if (st->held > 0)
		buf_printf(b, "%-14s%llu of them for a table that cannot take "
		    "them yet (see last error)\n", "held:",
		    (unsigned long long)st->held);
	if (st->damaged > 0)
		buf_printf(b, "%-14s%llu damaged region%s skipped\n", "damage:",
		    (unsigned long long)st->damaged, st->damaged == 1 ? "" : "s");
	buf_printf(b, "%-14s", "drainer:");
	if (d->running) {
		buf_printf(b, "running (pid %ld", d->pid);
		if (d->state != NULL)
			buf_printf(b, ", %s", d->state);
		buf_adds(b, ")");
		if (d->text != NULL) {
			buf_adds(b, ": ");
			status_number(b, d, "landed");
			buf_adds(b, " landed, ");
			status_number(b, d, "rate");
			buf_adds(b, " records/s");
		}
		buf_addc(b, '\n');
	} else if (d->pid > 0)
		buf_printf(b, "not running (stale pid file: %ld)\n", d->pid);
	else
		buf_adds(b, st->records > 0 ? "not running (start one with "
		    "'wtc drain')\n" : "not running\n");
	if (d->last_error != NULL && *d->last_error != '\0')
		buf_printf(b, "%-14s%s\n", "last error:", d->last_error);
	buf_printf(b, "%-14s%llu", "dead letters:", (unsigned long long)dead);
	if (dead > 0)
		buf_adds(b, " (see 'wtc dead-letter list')");
	buf_addc(b, '\n');
}

static int
status_run(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_COMMON_OPTIONS,
		{ "json", no_argument, NULL, OPT_JSON },
		{ NULL, 0, NULL, 0 }
	};
	extern const struct cmd	 cmd_status;
	struct spool_stats	 st;
	struct status_drainer	 d;
	struct buf		 out = BUF_INIT;
	const char		*dir;
	char			*err = NULL, *path;
	uint64_t		 dead = 0, now, age_s = 0;
	int			 ch, rc, json = 0;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:qv", longopts, NULL)) != -1) {
		switch (ch) {
		case OPT_JSON:
			json = 1;
			break;
		case '?':
		case ':':
			return (cli_bad_option(cli, argv, ch, longopts));
		default:
			if ((rc = cli_common_option(cli, &cmd_status, ch, optarg)) > 1)
				return (rc);
		}
	}
	if (optind != argc)
		return (cli_usage_error(cli, "unexpected argument '%s'",
		    argv[optind]));
	if ((rc = cli_resolve(cli)) != 0)
		return (rc);
	dir = cli->cfg.spool_dir;

	if (spool_stat(dir, &st, record_written_us, &err) != 0) {
		cli_error(cli, "%s", err);
		free(err);
		return (EXIT_IOERR);
	}
	path = xasprintf("%s/%s", dir, DRAIN_DEAD_LETTER_FILE);
	if (deadletter_count(path, &dead, &err) != 0) {
		cli_error(cli, "warning: %s", err);
		free(err);
		err = NULL;
	}
	free(path);
	status_read_drainer(dir, &d);
	now = now_us_real();
	if (st.oldest_us != 0 && st.oldest_us < now)
		age_s = (now - st.oldest_us) / 1000000;

	if (json)
		status_json(&out, dir, &st, age_s, &d, dead);
	else if (!cli->quiet)
		status_text(&out, dir, &st, age_s, &d, dead);
	rc = st.records > 0 ? EXIT_DIFFERENT : 0;
	if (out.len > 0 && (fwrite(out.data, 1, out.len, stdout) != out.len ||
	    fflush(stdout) != 0)) {
		cli_error(cli, "cannot write to standard output");
		rc = EXIT_IOERR;
	}
	buf_release(&out);
	status_release_drainer(&d);
	return (rc);
}

const struct cmd cmd_status = {
	"status",
	"show the spool backlog, the drainer and the dead letters",
	status_usage,
	status_run
};
