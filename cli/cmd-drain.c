/*
 * wtc drain: land the spool in MySQL, in the foreground (until stopped, or
 * once), or as the background drainer that put starts (--background).
 */
#include <sys/time.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "drain.h"

static const char drain_usage[] =
"usage: wtc drain [options]\n"
"\n"
"Land the records waiting in the spool in MySQL, in batches of multi-row\n"
"upserts guarded by each row's version, moving the spool's checkpoint only\n"
"after MySQL committed them.  Records MySQL rejects go to\n"
"SPOOL/dead-letter.ndjson with MySQL's reason; those of a table that cannot\n"
"take them (dropped, say) wait in SPOOL/held-TABLE while the others go on,\n"
"and land once it can.  Without --once it keeps draining until SIGTERM or\n"
"SIGINT.  Only one drainer runs per spool.\n"
"\n"
"Options:\n"
"      --once            drain what is there, then exit (1: records still waiting)\n"
"      --batch N         records per batch (default 10000)\n"
"      --batch-ms MS     longest wait to fill a batch (default 10)\n"
"      --idle-exit SECONDS  exit when idle that long and no writer is left\n"
"      --retry-for SECONDS  with --once, give up when MySQL fails that long (default 10)\n"
"      --wait            wait for another running drainer instead of exiting 75\n"
"      --background      log to SPOOL/drain.log, input and output from /dev/null\n"
"\n"
"Exit status: 0 done; 1 records still waiting after --once; 64 usage;\n"
"73 cannot create the spool directory; 74 spool I/O error; 75 another\n"
"drainer runs, or MySQL stayed unavailable for --retry-for, or a table\n"
"could not take its records (--once).\n";

enum {
	OPT_ONCE = OPT_FIRST_LOCAL,
	OPT_BATCH,
	OPT_BATCH_MS,
	OPT_IDLE_EXIT,
	OPT_RETRY_FOR,
	OPT_WAIT,
	OPT_BACKGROUND
};

static volatile sig_atomic_t drain_stop;

static void
drain_on_signal(int sig)
{
	(void)sig;
	drain_stop = 1;
}

/* Log lines: UTC time with milliseconds, then the message. */
static void
drain_log_line(void *arg, const char *msg)
{
	struct timeval	 tv;
	struct tm	 tm;
	time_t		 t;
	char		 when[32];

	(void)arg;
	gettimeofday(&tv, NULL);
	t = tv.tv_sec;
	gmtime_r(&t, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ wtc drain[%ld]: %s\n", when,
	    (long)(tv.tv_usec / 1000), (long)getpid(), msg);
	fflush(stderr);
}

static int
drain_number(struct cli *cli, const char *opt, const char *arg,
    unsigned long long min, unsigned long long max, unsigned long long *out)
{
	unsigned long long	 v;
	char			*end;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0' || *arg == '-' ||
	    v < min || v > max)
		return (cli_usage_error(cli, "invalid value '%s' for --%s", arg,
		    opt));
	*out = v;
	return (0);
}

/* Point stdin and stdout at /dev/null and stderr at SPOOL/drain.log. */
static int
drain_detach(struct cli *cli)
{
	char	*path;
	int	 fd, rc = EXIT_CANTCREAT;

	path = xasprintf("%s/%s", cli->cfg.spool_dir, DRAIN_LOG_FILE);
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0600)) == -1) {
		cli_error(cli, "cannot open log file '%s': %s", path,
		    strerror(errno));
		goto out;
	}
	if (dup2(fd, STDERR_FILENO) == -1) {
		cli_error(cli, "cannot redirect to '%s': %s", path,
		    strerror(errno));
		close(fd);
		goto out;
	}
	close(fd);
	if ((fd = open("/dev/null", O_RDWR | O_CLOEXEC)) != -1) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		close(fd);
	}
	rc = 0;
out:
	free(path);
	return (rc);
}

/* The pid in SPOOL/drain.pid, or 0. */
static long
drain_other_pid(struct cli *cli)
{
	char	*path, line[32];
	long	 pid = 0;
	FILE	*f;

	path = xasprintf("%s/%s", cli->cfg.spool_dir, DRAIN_PID_FILE);
	if ((f = fopen(path, "re")) != NULL) {
		if (fgets(line, sizeof line, f) != NULL)
			pid = strtol(line, NULL, 10);
		fclose(f);
	}
	free(path);
	return (pid);
}

static int
drain_main(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_COMMON_OPTIONS,
		{ "once", no_argument, NULL, OPT_ONCE },
		{ "batch", required_argument, NULL, OPT_BATCH },
		{ "batch-ms", required_argument, NULL, OPT_BATCH_MS },
		{ "idle-exit", required_argument, NULL, OPT_IDLE_EXIT },
		{ "retry-for", required_argument, NULL, OPT_RETRY_FOR },
		{ "wait", no_argument, NULL, OPT_WAIT },
		{ "background", no_argument, NULL, OPT_BACKGROUND },
		{ NULL, 0, NULL, 0 }
	};
	extern const struct cmd	 cmd_drain;
	struct drain_opts	 opts;
	struct drain_stats	 st;
	struct mysql_addr	 addr;
	struct sigaction	 sa;
	unsigned long long	 v, retry_for = 10;
	uint64_t		 start, ms;
	char			*err = NULL;
	int			 ch, rc, wait = 0, background = 0, waiting = 0;

	memset(&opts, 0, sizeof opts);
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:qv", longopts, NULL)) != -1) {
		switch (ch) {
		case OPT_ONCE:
			opts.once = 1;
			break;
		case OPT_BATCH:
			if ((rc = drain_number(cli, "batch", optarg, 1, 1000000,
			    &v)) != 0)
				return (rc);
			opts.batch_max = (unsigned)v;
			break;
		case OPT_BATCH_MS:
			if ((rc = drain_number(cli, "batch-ms", optarg, 1, 60000,
			    &v)) != 0)
				return (rc);
			opts.batch_ms = (unsigned)v;
			break;
		case OPT_IDLE_EXIT:
			if ((rc = drain_number(cli, "idle-exit", optarg, 1,
			    86400 * 365, &v)) != 0)
				return (rc);
			opts.idle_exit_ms = v * 1000;
			break;
		case OPT_RETRY_FOR:
			if ((rc = drain_number(cli, "retry-for", optarg, 0,
			    86400 * 365, &retry_for)) != 0)
				return (rc);
			break;
		case OPT_WAIT:
			wait = 1;
			break;
		case OPT_BACKGROUND:
			background = 1;
			break;
		case '?':
		case ':':
			return (cli_bad_option(cli, argv, ch, longopts));
		default:
			if ((rc = cli_common_option(cli, &cmd_drain, ch,
			    optarg)) > 1)
				return (rc);
		}
	}
	if (optind != argc)
		return (cli_usage_error(cli, "unexpected argument '%s'",
		    argv[optind]));
	if ((rc = cli_resolve(cli)) != 0)
		return (rc);
	if (config_mysql_addr(&cli->cfg, &addr, &err) != 0) {
		cli_error(cli, "%s", err);
		free(err);
		return (EXIT_USAGE);
	}
	config_mysql_addr_release(&addr);
	if (mkdir_p(cli->cfg.spool_dir, 0700) != 0) {
		cli_error(cli, "cannot create spool directory '%s': %s",
		    cli->cfg.spool_dir, strerror(errno));
		return (EXIT_CANTCREAT);
	}
	if (background && (rc = drain_detach(cli)) != 0)
		return (rc);

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = drain_on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;	/* no SA_RESTART: sleeps wake up */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	/* 0 is "try once", as put's --retry-for (0 is "for ever" to drain_run). */
	opts.retry_for_ms = retry_for > 0 ? retry_for * 1000 : 1;
	opts.log = drain_log_line;
	opts.log_arg = cli;
	start = now_ms();
	while ((rc = drain_run(&cli->cfg, &opts, &drain_stop, &st, &err)) == 1) {
		if (background)
			return (0);	/* put raced another put: fine */
		if (!wait) {
			cli_error(cli, "another drainer is running (pid %ld)",
			    drain_other_pid(cli));
			return (EXIT_TEMPFAIL);
		}
		if (!waiting++)
			cli_info(cli, "waiting for the other drainer (pid %ld)",
			    drain_other_pid(cli));
		if (drain_stop)
			return (EXIT_TEMPFAIL);
		usleep(200000);
		start = now_ms();
	}
	if (rc == -1) {
		cli_error(cli, "%s", err);
		free(err);
		return (EXIT_IOERR);
	}
	if (background)
		drain_log_line(NULL, "stopped");

	ms = now_ms() - start;
	if (!cli->quiet) {
		fprintf(stderr, "wtc drain: landed %llu records in %llu batches "
		    "(%.0f records/s), %llu dead letters, ",
		    (unsigned long long)st.landed,
		    (unsigned long long)st.batches,
		    ms > 0 ? (double)st.landed * 1000.0 / (double)ms : 0.0,
		    (unsigned long long)st.dead);
		if (st.held > 0)
			fprintf(stderr, "%llu held, ",
			    (unsigned long long)st.held);
		fprintf(stderr, "%llu left\n", (unsigned long long)st.left);
	}
	if (!opts.once || st.left == 0)
		return (0);
	if (st.last_error[0] != '\0') {
		cli_error(cli, "gave up with %llu records waiting: %s",
		    (unsigned long long)st.left, st.last_error);
		return (EXIT_TEMPFAIL);
	}
	return (EXIT_DIFFERENT);
}

const struct cmd cmd_drain = {
	"drain",
	"land the spool in MySQL (normally run in the background by put)",
	drain_usage,
	drain_main
};
